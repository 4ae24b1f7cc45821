"""SQuAD 2.0 (dev half) through the same core, beside a dense-only and a BM25-only baseline.

Every paragraph becomes a source file; the index is built (incrementally, so reruns are quick)
under `<out>/squad/`. For each question we report gold-paragraph hit@1/hit@5/MRR, whether the
cited sentence contains a gold answer, and abstention precision/recall on the unanswerable ones.
"ours" ranks passages as the answerer does (hybrid search, then reordered by their evidence, see
`bot.evidence.rank_passages`). The baselines take the top passage of one retriever (the hybrid
search alone, dense or BM25) and always answer with its sentence closest to the question (hybrid
and dense: cosine; BM25: shared terms).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.answering import Answerer
from bot.wiring import AppSettings, make_embedder
from evals import metrics
from index.build import open_store, rebuild
from index.lexical import normalise
from index.retriever import LiveIndex, Retriever

DATA_FILE = Path("squad2-dev") / "dev-v2.0-half.json"  # under RAGBOT_BENCHMARKS_DIR
DEPTH = 10


@dataclass(frozen=True)
class SquadQuestion:
    question: str
    paragraph: str  # source file name
    answers: tuple[str, ...]
    impossible: bool


def load_squad(path: Path, sources_dir: Path) -> list[SquadQuestion]:
    """Write each paragraph as a source file (if changed) and return the questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    sources_dir.mkdir(parents=True, exist_ok=True)
    questions = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            name = f"{a:02d}-{p:03d}.txt"
            _write_if_changed(sources_dir / name, paragraph["context"])
            _write_if_changed(
                sources_dir / f"{name}.meta.toml",
                f"title = {json.dumps(article['title'].replace('_', ' '))}\n",
            )
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(x["text"] for x in qa["answers"]))
                questions.append(SquadQuestion(qa["question"], name, answers, bool(qa.get("is_impossible"))))
    return questions


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def run_benchmark(
    data: Path, out: Path, settings: AppSettings, limit: int | None = None, held_out: bool = False
) -> int:
    root = out / "squad"
    questions = load_squad(data, root / "sources")
    if held_out:  # the test articles of `evals.fit_judge`, never fitted or calibrated on
        questions = [q for q in questions if int(q.paragraph.split("-")[0]) % 4 == 3]
    if limit:
        questions = random.Random(0).sample(questions, min(limit, len(questions)))
    embedder = make_embedder(settings.index)
    started = time.perf_counter()
    settings_here = settings.index.build_settings().relocated(root / "sources", root / "index", "squad")
    build = rebuild(settings_here, embedder)
    print(
        f"index: {build.documents} paragraphs, {build.chunks} chunks, embedded {build.embedded_chunks} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    answerer = Answerer(LiveIndex(open_store(settings_here), embedder), settings.answer.options())
    retriever = answerer.live_index.retriever()
    rows: dict[str, list[dict]] = {"ours": [], "hybrid-only": [], "dense-only": [], "bm25-only": []}
    for q in questions:
        for system, row in _judge(q, answerer, retriever).items():
            rows[system].append(row)
    results: dict[str, Any] = {system: _summary(rows_, questions) for system, rows_ in rows.items()}
    results["questions"] = len(questions)
    (out / "squad.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    _print_table(results)
    return 0


def _judge(q: SquadQuestion, answerer: Answerer, retriever: Retriever) -> dict[str, dict]:
    vector = retriever.embed_query(q.question)
    answer = answerer.answer(q.question)
    hybrid = retriever.search(q.question, k=DEPTH, vector=vector)
    dense = [h.chunk for h in retriever.search(q.question, k=DEPTH, vector=vector, mode="dense")]
    lexical = [h.chunk for h in retriever.search(q.question, k=DEPTH, mode="lexical")]
    quotes = [c.quote for c in answer.citations]
    return {
        "ours": _row(q, [p.source for p in answer.passages], quotes, answer.abstained),
        "hybrid-only": _row(
            q,
            [h.chunk.doc_id for h in hybrid],
            [_closest_sentence(hybrid[0].chunk, retriever, vector)],
            False,
        ),
        "dense-only": _row(
            q, [c.doc_id for c in dense], [_closest_sentence(dense[0], retriever, vector)], False
        ),
        "bm25-only": _row(
            q, [c.doc_id for c in lexical], [_overlapping_sentence(lexical[0], retriever, q.question)], False
        ),
    }


def _row(q: SquadQuestion, ranked_docs: list[str], quotes: list[str], abstained: bool) -> dict:
    rank = metrics.first_relevant_rank([d == q.paragraph for d in ranked_docs])
    contains = any(a.lower() in quote.lower() for a in q.answers for quote in quotes)
    return {
        "impossible": q.impossible,
        "rank": rank,
        "contains_answer": contains and not abstained,
        "abstained": abstained,
    }


def _sentences(chunk, retriever: Retriever) -> list[str]:
    text = retriever.document(chunk.doc_id).text
    return [text[s.start : s.end] for s in chunk.sentences]


def _closest_sentence(chunk, retriever: Retriever, vector: np.ndarray) -> str:
    best = int(np.argmax(retriever.sentence_similarities(chunk.doc_id, list(chunk.sentences), vector)))
    return _sentences(chunk, retriever)[best]


def _overlapping_sentence(chunk, retriever: Retriever, question: str) -> str:
    terms = set(normalise(question))
    return max(_sentences(chunk, retriever), key=lambda s: len(terms & set(normalise(s))))


def _summary(rows: list[dict], questions: list[SquadQuestion]) -> dict:
    answerable = [r for r in rows if not r["impossible"]]
    impossible = [r for r in rows if r["impossible"]]
    abstained = [r for r in rows if r["abstained"]]
    return {
        "hit@1": metrics.mean(metrics.hit_at(r["rank"], 1) for r in answerable),
        "hit@5": metrics.mean(metrics.hit_at(r["rank"], 5) for r in answerable),
        "mrr@10": metrics.mean(metrics.reciprocal_rank(r["rank"]) for r in answerable),
        "cited_sentence_has_answer": metrics.share(r["contains_answer"] for r in answerable),
        "abstention_precision": metrics.share(r["impossible"] for r in abstained),
        "abstention_recall": metrics.share(r["abstained"] for r in impossible),
        "false_abstention_rate": metrics.share(r["abstained"] for r in answerable),
    }


def _print_table(results: dict) -> None:
    systems = ["ours", "hybrid-only", "dense-only", "bm25-only"]
    names = list(results["ours"])
    print(f"SQuAD 2.0 dev-half, {results['questions']} questions")
    print("| metric | " + " | ".join(systems) + " |")
    print("| --- |" + " --- |" * len(systems))
    for name in names:
        cells = [("—" if results[s][name] is None else f"{results[s][name]:.3f}") for s in systems]
        print(f"| {name} | " + " | ".join(cells) + " |")
