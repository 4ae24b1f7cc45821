"""Retrieval beside a peer: this project and txtai (dense, and hybrid BM25 + dense) with the same
bundled MiniLM model, on the same corpora and questions, in one run.

    pip install -e '.[bench]'       # txtai: a benchmark-only dependency
    python -m evals peers [--squad-questions 1000]

Corpora: SQuAD 2.0 dev half (each paragraph a document; its answerable questions, a seeded
sample) and RealTime QA dev (`rtqa-dev/`: news articles; its answerable questions). txtai gets
each document cut at line breaks into passages of about `PEER_PASSAGE_CHARS` characters, the
usual way to feed it; this project gets the source files and builds its own index. For each
system: the evidence document ranked first and in the top 5, a gold answer string inside the top 5
passages (matched by the RealTime QA scorer's rules), build seconds and query p50. This project's
ranking is the answerer's (`Answer.passages`), as a user sees it.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.answering import Answerer
from bot.wiring import AppSettings, make_embedder
from evals.errors import EvalError
from evals.squad import load_squad
from index.build import open_store, rebuild
from index.embedding import DEFAULT_MODEL, resolve_model_path
from index.retriever import LiveIndex
from index.sources import load_documents

PEER_PASSAGE_CHARS = 800
SEED = 0


@dataclass(frozen=True)
class Question:
    text: str
    evidence: frozenset[str]  # document ids that hold the answer
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Corpus:
    name: str
    sources: Path
    questions: list[Question]


Ranker = Callable[[str], list[tuple[str, str]]]  # question -> top (document id, passage text)


def run_peers(benchmarks: Path, out: Path, settings: AppSettings, squad_questions: int) -> dict:
    scorer = _rtqa_scorer(benchmarks / "rtqa-dev" / "score.py")
    corpora = [_squad(benchmarks, out / "squad" / "sources", squad_questions), _rtqa(benchmarks)]
    results: dict[str, dict] = {}
    for corpus in corpora:
        systems = {
            "this project": lambda c=corpus: _ours(c, out / "ours-index" / c.name, settings),
            "txtai dense": lambda c=corpus: _txtai(c, hybrid=False),
            "txtai hybrid": lambda c=corpus: _txtai(c, hybrid=True),
        }
        results[corpus.name] = {name: _measure(build, corpus, scorer) for name, build in systems.items()}
        print(table(corpus.name, len(corpus.questions), results[corpus.name]), flush=True)
    (out / "peers.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def _measure(build: Callable[[], Ranker], corpus: Corpus, scorer) -> dict:
    started = time.perf_counter()
    rank = build()
    build_seconds = time.perf_counter() - started
    first, top5, gold, latencies = 0, 0, 0, []
    for q in corpus.questions:
        started = time.perf_counter()
        ranked = rank(q.text)[:5]
        latencies.append(time.perf_counter() - started)
        first += bool(ranked) and ranked[0][0] in q.evidence
        top5 += any(doc in q.evidence for doc, _ in ranked)
        gold += any(scorer.contains_gold(text, list(q.answers)) for _, text in ranked)
    n = max(1, len(corpus.questions))
    return {
        "evidence_first": round(first / n, 3),
        "evidence_top5": round(top5 / n, 3),
        "gold_in_top5_passages": round(gold / n, 3),
        "build_s": round(build_seconds, 1),
        "query_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
    }


def table(name: str, questions: int, rows: dict[str, dict]) -> str:
    metrics = list(next(iter(rows.values())))
    lines = [f"{name} ({questions} answerable questions)", "| system | " + " | ".join(metrics) + " |"]
    lines.append("| --- |" + " --- |" * len(metrics))
    lines += [
        "| " + system + " | " + " | ".join(str(r[m]) for m in metrics) + " |" for system, r in rows.items()
    ]
    return "\n".join(lines) + "\n"


def _ours(corpus: Corpus, index_dir: Path, settings: AppSettings) -> Ranker:
    shutil.rmtree(index_dir, ignore_errors=True)  # a full build, timed like the peer's
    embedder = make_embedder(settings.index)
    # The corpus and index folders are the benchmark's; everything else as the user set it.
    build = settings.index.build_settings().relocated(corpus.sources, index_dir, f"peers_{corpus.name}")
    rebuild(build, embedder, full=True)
    answerer = Answerer(LiveIndex(open_store(build), embedder), settings.answer.options())
    documents = {d.id: d.text for d in load_documents(corpus.sources)[0]}

    def rank(question: str) -> list[tuple[str, str]]:
        passages = answerer.answer(question).passages
        return [(p.source, documents[p.source][p.start : p.end]) for p in passages]

    return rank


def _txtai(corpus: Corpus, hybrid: bool) -> Ranker:
    try:
        from txtai import Embeddings
    except ImportError as exc:
        raise EvalError("txtai is not installed: pip install -e '.[bench]'") from exc
    passages = [
        (doc.id, passage)
        for doc in load_documents(corpus.sources)[0]
        for passage in peer_passages(doc.text, PEER_PASSAGE_CHARS)
    ]
    embeddings = Embeddings(path=str(resolve_model_path(DEFAULT_MODEL)), content=True, hybrid=hybrid)
    embeddings.index((i, text, None) for i, (_, text) in enumerate(passages))

    def rank(question: str) -> list[tuple[str, str]]:
        return [passages[int(hit["id"])] for hit in embeddings.search(question, 5)]

    return rank


def peer_passages(text: str, size: int) -> list[str]:
    """`text` cut at line breaks into passages of about `size` characters (a longer line alone)."""
    passages, current = [], ""
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if current and len(current) + len(line) + 1 > size:
            passages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return passages + ([current] if current else [])


def _squad(benchmarks: Path, sources: Path, limit: int) -> Corpus:
    data = benchmarks / "squad2-dev" / "dev-v2.0-half.json"
    if not data.exists():
        raise EvalError(f"no SQuAD data at {data}: set RAGBOT_BENCHMARKS_DIR")
    answerable = [q for q in load_squad(data, sources) if not q.impossible]
    sample = random.Random(SEED).sample(answerable, min(limit, len(answerable)))
    questions = [Question(q.question, frozenset([q.paragraph]), q.answers) for q in sample]
    return Corpus("SQuAD 2.0 dev half", sources, questions)


def _rtqa(benchmarks: Path) -> Corpus:
    folder = benchmarks / "rtqa-dev"
    rows = [
        json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    questions = [
        Question(r["question"], frozenset(r["evidence_docs"]), tuple(r["answers"]))
        for r in rows
        if r["answerable"]
    ]
    return Corpus("RealTime QA dev", folder / "corpus", questions)


def _rtqa_scorer(path: Path):
    """The RealTime QA scorer's own answer matching, loaded from beside its data."""
    if not path.exists():
        raise EvalError(f"no RealTime QA scorer at {path}: set RAGBOT_BENCHMARKS_DIR")
    spec = importlib.util.spec_from_file_location("rtqa_score", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
