"""Speed, memory and scale benchmarks, each beside a baseline measured in the same run.

1. build: chunks/s of a full index build vs. raw `encode` of the same texts.
2. incremental: one document added to a corpus of N, and a no-op rebuild.
3. warm latency: question -> Answer p50/p95/p99 vs. bare encode + FAISS search.
4. cold start: a fresh `python -m bot ask` process vs. a bare `import sentence_transformers`; with
   `--corpus`, also on a large real-text corpus beside the seed corpus, and the index load alone
   (start-up should not grow with the corpus).
5. scale: FAISS flat vs. HNSW at 10k/100k/1M vectors: search time for the retriever's 50 candidates,
   recall@10 raw and after the exact re-ranking the retriever does, build time, index memory.
6. bot throughput: 100 chats at once through the local Bot API server.
7. product scale (`--product-scale N`): the seed index copied until it has N chunks (vectors,
   entities and stems copied, not computed: embedding a million chunks takes a day on 2 cores), saved
   by the folder store as a build saves it, then the product's own path on it: a cold `bot ask` (index
   status over every source file, load, BM25, answer) and warm answers, beside the seed index; then
   a build after one document is added: seconds, peak anonymous memory and the build's steps.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer_processes import AnswerProcesses
from bot.settings import TelegramSettings
from bot.wiring import AppSettings, make_embedder, open_answerer
from evals.metrics import percentile
from index.ann import build_faiss_index, choose_index_type
from index.bm25 import BM25
from index.build import BuildSettings, embedding_texts, rebuild
from index.embedding import TorchBackend, resolve_model_path
from index.lexical import NameCounts
from index.retriever import CANDIDATES, LiveIndex
from index.store import FolderStore, Snapshot, new_version

PROJECT = Path(__file__).resolve().parent.parent


def run_bench(
    settings: AppSettings, quick: bool, out: Path, corpus: Path | None = None, product_scale: int = 0
) -> int:
    embedder = make_embedder(settings.index)
    sources_dir = settings.index.sources_dir
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        results["build"] = bench_build(embedder, sources_dir, scratch / "build", copies=2 if quick else 40)
        results["incremental"] = bench_incremental(
            embedder, sources_dir, scratch / "inc", documents=50 if quick else 1000
        )
        results["warm_latency"] = bench_warm(embedder, sources_dir, scratch / "warm")
        results["cold_start"] = bench_cold(scratch / "warm" / "index", scratch / "warm" / "sources")
        if corpus is not None:
            results["cold_start_large"] = bench_cold_large(embedder, corpus, scratch / "warm")
        if product_scale:
            results["product_scale"] = bench_product_scale(
                embedder, scratch / "warm", scratch / "product", product_scale
            )
        results["scale"] = bench_scale([10_000] if quick else [10_000, 100_000, 1_000_000])
        results["bot"] = bench_bot(settings, scratch / "warm", chats=10 if quick else 100)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print_table(results)
    return 0


def synthetic_corpus(seed_dir: Path, target: Path, documents: int) -> None:
    """`documents` one-paragraph files cut from the seed sources, each varied so none repeats."""
    paragraphs = [
        p.strip()
        for f in sorted(seed_dir.glob("*.txt"))
        for p in f.read_text(encoding="utf-8").split("\n")
        if len(p.strip()) > 200
    ]
    target.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for i in range(documents):
        text = rng.choice(paragraphs)
        (target / f"doc-{i:05d}.txt").write_text(
            f"Briefing {i}\n\nIn briefing number {i}, analysts noted: {text}\n", encoding="utf-8"
        )


def bench_build(embedder, seed_dir: Path, root: Path, copies: int) -> dict:
    synthetic_corpus(seed_dir, root / "sources", copies * 20)
    embedder.embed(["warm up"])
    started = time.perf_counter()
    report = rebuild(BuildSettings(root / "sources", root / "index"), embedder)
    pipeline = time.perf_counter() - started
    snapshot = LiveIndex(root / "index", embedder).retriever().snapshot
    texts, sentences = embedding_texts(snapshot.documents, snapshot.chunks)
    raw_model = TorchBackend(resolve_model_path(embedder.name))
    started = time.perf_counter()
    raw_model.model.encode(texts + sentences, batch_size=64, normalize_embeddings=True)
    raw = time.perf_counter() - started
    return {
        "chunks": report.chunks,
        "texts_embedded": report.embedded_chunks + report.embedded_sentences,
        "pipeline_s": pipeline,
        "raw_encode_s": raw,
        "pipeline_chunks_per_s": report.chunks / pipeline,
        "throughput_ratio": raw / pipeline,
        "seconds_per_step": report.phases,
    }


def bench_incremental(embedder, seed_dir: Path, root: Path, documents: int) -> dict:
    synthetic_corpus(seed_dir, root / "sources", documents)
    settings = BuildSettings(root / "sources", root / "index")
    full = rebuild(settings, embedder)
    (root / "sources" / "added.txt").write_text(
        "Added\n\nA new briefing about frigates and maritime security.\n", encoding="utf-8"
    )
    added = rebuild(settings, embedder)
    noop = rebuild(settings, embedder)
    return {
        "documents": documents,
        "full_s": full.seconds,
        "add_one_s": added.seconds,
        "add_one_embedded_chunks": added.embedded_chunks,
        "noop_s": noop.seconds,
        "noop_embedded_chunks": noop.embedded_chunks,
    }


def bench_warm(embedder, seed_dir: Path, root: Path) -> dict:
    from bot.answering import Answerer

    shutil.copytree(seed_dir, root / "sources")
    rebuild(BuildSettings(root / "sources", root / "index"), embedder)
    questions = [json.loads(line)["question"] for line in (PROJECT / "evals" / "questions.jsonl").open()]
    live = LiveIndex(root / "index", embedder)
    answerer, retriever = Answerer(live), live.retriever()
    for question in questions[:5]:
        answerer.answer(question)
    answer_ms, bare_ms = [], []
    for question in questions * 3:
        started = time.perf_counter()
        answerer.answer(question)
        answer_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        retriever.search(question, k=10, mode="dense")
        bare_ms.append((time.perf_counter() - started) * 1000)
    stats = {
        f"{name}_p{q}_ms": percentile(values, q)
        for name, values in (("answer", answer_ms), ("bare", bare_ms))
        for q in (50, 95, 99)
    }
    ratio = (stats["answer_p50_ms"] or 0.0) / (stats["bare_p50_ms"] or 1.0)
    return {**stats, "questions": len(answer_ms), "p50_ratio": ratio}


def _timed_process(
    command: list[str], env: dict, memory: str = "VmHWM", output: Path | None = None
) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of a child process; its stdout goes to `output` if given.

    The peak is the largest value of the child's /proc status field `memory` polled while it runs:
    its own VmHWM (getrusage() would report the benchmark process's memory, which a forked child
    inherits as its starting high-water mark), or "RssAnon", the memory it cannot give back (no
    file-backed pages: a build's vectors are memory-mapped files, see `index.vector_files`).
    """
    started = time.perf_counter()
    with open(output or os.devnull, "wb") as stdout:
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
        peak_kb = 0
        while process.poll() is None:
            peak_kb = max(peak_kb, _status_kb(process.pid, memory))
            time.sleep(0.01)
    return time.perf_counter() - started, peak_kb / 1024


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith(f"{field}:")), f"{field}: 0 kB")
    return int(line.split()[1])


def bench_cold(index_dir: Path, sources_dir: Path) -> dict:
    ask_s, ask_mb = _cold_ask(index_dir, sources_dir)
    env = _env(index_dir, sources_dir)
    import_s, import_mb = _timed_process([sys.executable, "-c", "import sentence_transformers"], env)
    return {
        "ask_s": ask_s,
        "ask_peak_mb": ask_mb,
        "import_sentence_transformers_s": import_s,
        "import_peak_mb": import_mb,
        "ask_vs_import_ratio": ask_s / import_s,
    }


def _env(index_dir: Path, sources_dir: Path) -> dict:
    """The environment of a `bot ask` on this index, with its multilingual setting as it was built
    (another would make `ask` rebuild the index first)."""
    manifest = FolderStore(index_dir).manifest()
    multilingual = "true" if manifest is None or manifest.multilingual else "false"
    return {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(index_dir),
        "RAGBOT_SOURCES_DIR": str(sources_dir),
        "RAGBOT_MULTILINGUAL": multilingual,
    }


def _cold_ask(index_dir: Path, sources_dir: Path, runs: int = 1) -> tuple[float, float]:
    """The fastest of `runs` fresh `bot ask` processes: seconds and peak MB."""
    ask = [sys.executable, "-m", "bot", "ask", "Why did Albanese skip the summit?"]
    env = _env(index_dir, sources_dir)
    _timed_process(ask, env)  # first use after a build exports the ONNX query encoder
    return min(_timed_process(ask, env) for _ in range(runs))


def bench_cold_large(embedder, large: Path, seed: Path) -> dict:
    """Cold `bot ask` and the index load alone on a large real-text corpus (`large/sources`, indexed in
    `large/index`: say, the RealTime QA articles plus SQuAD paragraphs), beside the same on the seed
    corpus, in this run. Each ask is given its own sources: with any other folder, `ask` would first
    bring the index up to date with that folder."""
    result: dict[str, float] = {}
    for name, root in (("large", large), ("seed", seed)):
        started = time.perf_counter()
        retriever = LiveIndex(root / "index", embedder).retriever()
        result[f"{name}_load_s"] = time.perf_counter() - started
        result[f"{name}_chunks"] = len(retriever.snapshot.chunks)
        ask = _cold_ask(root / "index", root / "sources", runs=3)
        result[f"{name}_ask_s"], result[f"{name}_ask_peak_mb"] = ask
    result["ask_ratio"] = result["large_ask_s"] / result["seed_ask_s"]
    return result


def bench_product_scale(embedder, seed: Path, root: Path, chunks: int) -> dict:
    """Cold and warm answers on an index of `chunks` chunks (see 7. above), beside the seed index."""
    from bot.answering import Answerer

    started = time.perf_counter()
    copies = copied_index(FolderStore(seed / "index").load(), seed / "sources", root, chunks)
    made_s = time.perf_counter() - started
    result: dict[str, Any] = {"chunks": copies, "made_s": made_s}
    for name, folder in (("large", root), ("seed", seed)):
        result[f"{name}_ask_s"], result[f"{name}_ask_peak_mb"] = _cold_ask(
            folder / "index", folder / "sources", runs=2
        )
    started = time.perf_counter()
    live = LiveIndex(root / "index", embedder)
    live.retriever()
    result["large_load_s"] = time.perf_counter() - started
    answerer = Answerer(live)
    questions = [json.loads(line)["question"] for line in (PROJECT / "evals" / "questions.jsonl").open()]
    answerer.answer(questions[0])
    latencies = []
    for question in questions[:20]:
        started = time.perf_counter()
        answerer.answer(question)
        latencies.append((time.perf_counter() - started) * 1000)
    result["large_answer_p50_ms"] = percentile(latencies, 50)
    result["large_answer_p95_ms"] = percentile(latencies, 95)
    result["ask_ratio"] = result["large_ask_s"] / result["seed_ask_s"]
    result.update(_add_one_document(root, seed))
    return result


def _add_one_document(root: Path, seed: Path) -> dict:
    """`python -m index build` after one new document: seconds, peak anonymous memory (MB), and the
    build's own seconds per step."""
    document = next(p for p in sorted((seed / "sources").iterdir()) if p.suffix == ".txt")
    shutil.copyfile(document, root / "sources" / f"added-{new_version()}.txt")
    build = [sys.executable, "-m", "index", "build", "--json"]
    report = root / "add_one.json"
    env = _env(root / "index", root / "sources")
    seconds, anonymous_mb = _timed_process(build, env, memory="RssAnon", output=report)
    steps = json.loads(report.read_text(encoding="utf-8")).get("phases", {})
    return {"add_one_s": seconds, "add_one_anonymous_mb": anonymous_mb, "add_one_steps": steps}


def copied_index(seed: Snapshot, seed_sources: Path, root: Path, chunks: int) -> int:
    """Copies of the seed documents (files and index rows) until the index holds `chunks` chunks,
    written by the folder store; returns the number of chunks. Each copy's source files are the
    seed's bytes under another name, so `bot ask` finds the index up to date."""
    copies = max(1, -(-chunks // len(seed.chunks)))
    documents, all_chunks, entities, sentence_rows = {}, [], {}, {}
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for copy in range(copies):
        prefix = f"copy{copy:06d}-"
        for doc in seed.documents.values():
            for path in seed_sources.glob(f"{doc.id}*"):  # the text and its metadata file
                shutil.copyfile(path, sources / (prefix + path.name))
            documents[prefix + doc.id] = doc.model_copy(update={"id": prefix + doc.id})
            entities[prefix + doc.id] = seed.entities.get(doc.id, [])
        for chunk in seed.chunks:
            all_chunks.append(
                chunk.model_copy(update={"id": prefix + chunk.id, "doc_id": prefix + chunk.doc_id})
            )
        for (doc_id, start, end), row in seed.sentence_rows.items():
            sentence_rows[(prefix + doc_id, start, end)] = copy * len(seed.sentence_rows) + row
    terms = [seed.lexical.terms_of(row) for row in range(len(seed.chunks))] if seed.lexical else []
    names = NameCounts.of_texts(chunk.text for chunk in seed.chunks)
    tiled = [Counter({t: n * copies for t, n in c.items()}) for c in (names.capitalised, names.everywhere)]
    names = NameCounts(*tiled)  # the counts of `copies` copies
    manifest = seed.manifest.model_copy(
        update={
            "version": new_version(),
            "documents": {d.id: d.sha256 for d in documents.values()},
            "multilingual": "",
            "index_type": choose_index_type("auto", len(all_chunks)),
        }
    )
    snapshot = Snapshot(
        manifest,
        documents,
        all_chunks,  # copy after copy, as the tiled vectors
        np.tile(seed.chunk_vectors, (copies, 1)),
        np.tile(seed.sentence_vectors, (copies, 1)),
        None,
        entities,
        sentence_rows,
        None,
        BM25.of_terms(terms * copies),
        names.proper_terms(),
        name_counts=lambda: names,
    )
    FolderStore(root / "index").save(snapshot, None)
    return len(all_chunks)


def clustered_vectors(count: int, dimension: int = 384, seed: int = 0) -> np.ndarray:
    """Normalised vectors around 1,000 fixed centres (closer to real embeddings than uniform noise);
    `seed` varies the points, not the centres, so queries fall where the data is."""
    centres = np.random.default_rng(12345).standard_normal((1000, dimension)).astype(np.float32)
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, 1000, count)] + 0.6 * rng.standard_normal((count, dimension)).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def bench_scale(sizes: list[int]) -> list[dict]:
    rows = []
    queries = clustered_vectors(200, seed=1)
    for size in sizes:
        vectors = clustered_vectors(size)
        truth: list = []  # the exact (flat) results, measured first
        for index_type in ("flat", "hnsw"):
            before = _rss_mb()
            started = time.perf_counter()
            index = build_faiss_index(vectors, index_type)
            build_s = time.perf_counter() - started
            memory = max(_rss_mb() - before, index_bytes(index) / 2**20)
            times, found, reranked = [], [], []
            for query in queries:
                t = time.perf_counter()
                _, ids = index.search(query.reshape(1, -1), CANDIDATES)
                times.append((time.perf_counter() - t) * 1000)
                found.append(ids[0][:10])
                # As the retriever does: exact cosine for the candidates, from the stored vectors.
                candidates = ids[0][ids[0] >= 0]
                reranked.append(candidates[np.argsort(-(vectors[candidates] @ query))][:10])
            truth = found if index_type == "flat" else truth
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
            recall_reranked = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reranked, truth)])
            rows.append(
                {
                    "vectors": size,
                    "index": index_type,
                    "build_s": build_s,
                    "search_p50_ms": percentile(times, 50),
                    "search_p95_ms": percentile(times, 95),
                    "recall@10": float(recall),
                    "recall@10_reranked": float(recall_reranked),
                    "index_mb": memory,
                    "bytes_per_vector": index_bytes(index) / size,
                }
            )
            del index
    return rows


def index_bytes(index) -> int:
    import faiss

    return len(faiss.serialize_index(index))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_bot(settings: AppSettings, root: Path, chats: int) -> dict:
    """Questions from `chats` chats at once, answered in the bot's process (the baseline) and by its
    answering processes (as `bot serve` runs by default), one after the other."""
    processes = max(settings.telegram.answer_processes, 1)
    return {
        "in_process": _bot_throughput(settings, root, chats, processes=0),
        "processes": {**_bot_throughput(settings, root, chats, processes), "count": processes},
    }


SEED_QUESTIONS = [
    "Who represented New Zealand at the summit?",
    "Why did Albanese skip the summit?",
    "What share of GDP does South Korea spend on defence?",
    "What is the capital of France?",
]


def _bot_throughput(
    settings: AppSettings, root: Path, chats: int, processes: int, questions: list[str] = SEED_QUESTIONS
) -> dict:
    """Four questions from each of `chats` chats, all sent at once through the fake Bot API (in a
    process of its own, as Telegram's servers are not in the bot's)."""
    from evals.fake_botapi import FakeBotAPIProcess, running_bot

    index = settings.index.model_copy(update={"index_dir": root / "index", "sources_dir": root / "sources"})
    answerer = open_answerer(index, settings.answer, settings.llm)
    answering = (
        AnswerProcesses(partial(open_answerer, index, settings.answer, settings.llm), processes)
        if processes
        else None
    )
    with FakeBotAPIProcess() as api, tempfile.TemporaryDirectory() as tmp:
        telegram = TelegramSettings(
            _env_file=None,
            telegram_bot_token="123456:" + "B" * 35,
            telegram_api_base=api.base_url,
            feedback_path=Path(tmp) / "f.jsonl",
            rate_limit_per_minute=1000,
        )
        if answering:
            answering.wait_ready()
        else:
            answerer.warm_up()
        try:
            with running_bot(telegram, answerer, processes=answering):
                injected = {}
                started = time.perf_counter()
                for round_ in range(4):
                    for chat in range(chats):
                        update = api.message(
                            questions[(chat + round_) % len(questions)],
                            chat_id=10_000 + chat,
                            user_id=10_000 + chat,
                        )
                        api.inject(update)
                        injected[update["message"]["message_id"]] = time.perf_counter()
                api.wait_for(lambda: api.sent_count() >= len(injected), timeout=600)
                elapsed = time.perf_counter() - started
                replies = api.sent()
        finally:
            if answering:
                answering.close()
    latencies = [(r["received_at"] - injected[r["reply_parameters"]["message_id"]]) * 1000 for r in replies]
    return {
        "chats": chats,
        "answers": len(replies),
        "answers_per_s": len(replies) / elapsed,
        "p50_update_to_reply_ms": percentile(latencies, 50),
        "p95_update_to_reply_ms": percentile(latencies, 95),
    }


def print_table(results: dict) -> None:
    b, i, w, c, bot = (results[k] for k in ("build", "incremental", "warm_latency", "cold_start", "bot"))
    t, tp = bot["in_process"], bot["processes"]
    lines = [
        (
            "build: pipeline chunks/s (ratio vs raw encode)",
            f"{b['pipeline_chunks_per_s']:.1f} ({b['throughput_ratio']:.2f})",
            ">= 0.8 ratio",
        ),
        (
            f"incremental: add 1 doc to {i['documents']} (s, chunks embedded)",
            f"{i['add_one_s']:.2f} s, {i['add_one_embedded_chunks']}",
            "proportional to change",
        ),
        ("incremental: no-op rebuild (s)", f"{i['noop_s']:.3f}", "< 1 s"),
        (
            "warm answer p50/p95/p99 (ms)",
            f"{w['answer_p50_ms']:.1f}/{w['answer_p95_ms']:.1f}/{w['answer_p99_ms']:.1f}",
            "p50 <= 20 ms",
        ),
        ("bare encode+search p50/p95 (ms)", f"{w['bare_p50_ms']:.1f}/{w['bare_p95_ms']:.1f}", "baseline"),
        (
            "cold `bot ask` (s, peak MB) vs bare import (s)",
            f"{c['ask_s']:.2f}, {c['ask_peak_mb']:.0f} vs {c['import_sentence_transformers_s']:.2f}",
            "<= 3 s",
        ),
        (
            f"bot, {t['chats']} chats, answering in its process: answers/s, p95 update->reply ms",
            f"{t['answers_per_s']:.1f}, {t['p95_update_to_reply_ms']:.0f}",
            "baseline",
        ),
        (
            f"bot, {tp['chats']} chats, {tp['count']} answering processes: answers/s, p95 ms (ratio)",
            f"{tp['answers_per_s']:.1f}, {tp['p95_update_to_reply_ms']:.0f} "
            f"({tp['answers_per_s'] / t['answers_per_s']:.2f})",
            ">= 100/s",
        ),
    ]
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in b.get("seconds_per_step", {}).items())
    lines.append(("build: seconds per step", steps, "where the build's time goes"))
    if "product_scale" in results:
        p = results["product_scale"]
        lines.append(
            (
                f"product scale, {p['chunks']:,} chunks: cold ask s (peak MB) vs seed's; load s; "
                "warm p50/p95 ms",
                f"{p['large_ask_s']:.1f} ({p['large_ask_peak_mb']:.0f}) vs {p['seed_ask_s']:.1f}; "
                f"{p['large_load_s']:.1f}; {p['large_answer_p50_ms']:.0f}/{p['large_answer_p95_ms']:.0f}",
                "1M: cold <= 5 s, warm p50 <= 100 ms",
            )
        )
        lines.append(
            (
                f"product scale, {p['chunks']:,} chunks: build after adding 1 doc (s, peak anonymous MB)",
                f"{p['add_one_s']:.1f}, {p['add_one_anonymous_mb']:.0f}",
                "vectors on disk, not in memory",
            )
        )
        steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in p["add_one_steps"].items())
        lines.append(("product scale: that build's seconds per step", steps, "where its time goes"))
    for row in results["scale"]:
        lines.append(
            (
                f"scale {row['vectors']:,} {row['index']}: p50/p95 ms, recall@10 (reranked), MB",
                f"{row['search_p50_ms']:.2f}/{row['search_p95_ms']:.2f}, {row['recall@10']:.3f} "
                f"({row['recall@10_reranked']:.3f}), {row['index_mb']:.0f}",
                "1M: p50 <= 10 ms, recall >= 0.95, <= 1 GB",
            )
        )
    if "cold_start_large" in results:
        g = results["cold_start_large"]
        lines.append(
            (
                f"cold `bot ask` on {g['large_chunks']:.0f} chunks vs {g['seed_chunks']:.0f} (s, ratio); "
                "index load alone (s)",
                f"{g['large_ask_s']:.2f} vs {g['seed_ask_s']:.2f} ({g['ask_ratio']:.2f}); "
                f"{g['large_load_s']:.2f} vs {g['seed_load_s']:.2f}",
                "5,000 chunks: <= 1.5 s",
            )
        )
    print("| measure | result | target |\n| --- | --- | --- |")
    for name, value, target in lines:
        print(f"| {name} | {value} | {target} |")
