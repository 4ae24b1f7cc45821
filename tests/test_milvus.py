"""The Milvus store against a real Milvus Lite server on 127.0.0.1: the same index as the folder's,
built incrementally, switched atomically, shared by processes, and the eval gate passing on it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.answering import Answerer
from evals.fake_botapi import FakeBotAPI, running_bot
from index.build import BuildSettings, open_store, rebuild
from index.errors import IndexStoreError
from index.milvus_store import MilvusStore, MilvusTarget, document_keys
from index.retriever import LiveIndex, Retriever

PROJECT = Path(__file__).resolve().parent.parent
SEED_SOURCES = PROJECT / "sources"
QUESTIONS = (
    "Why did Albanese skip the NATO summit?",
    "Who went to The Hague for Australia?",
    "What does the Asan Institute recommend for South Korea?",
)
NEW_SOURCE = (
    "Frigate plan\n\nAustralia will buy twelve new frigates for its navy over the next decade, "
    "the defence minister said in Canberra.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_milvus(data: Path, port: int) -> subprocess.Popen:
    """A Milvus Lite server on the loopback address only, once it accepts connections."""
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data), "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "exited"
            time.sleep(0.1)
    raise AssertionError("Milvus Lite did not start in 60 s")


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="session")
def milvus(tmp_path_factory):
    """A Milvus Lite server for the session."""
    port = _free_port()
    server = _start_milvus(tmp_path_factory.mktemp("milvus"), port)
    yield f"http://127.0.0.1:{port}"
    _stop(server)


def _settings(root: Path, uri: str, collection: str) -> BuildSettings:
    return BuildSettings(root / "sources", root / "index", milvus=MilvusTarget(uri, collection))


@pytest.fixture(scope="session")
def milvus_seed(tmp_path_factory, milvus, embedder) -> BuildSettings:
    root = tmp_path_factory.mktemp("milvus-seed")
    shutil.copytree(SEED_SOURCES, root / "sources")
    settings = _settings(root, milvus, "seeds")
    rebuild(settings, embedder)
    return settings


@pytest.fixture
def milvus_fresh(tmp_path, milvus) -> BuildSettings:
    shutil.copytree(SEED_SOURCES, tmp_path / "sources")
    return _settings(tmp_path, milvus, f"fresh_{tmp_path.name.replace('-', '_')}")


def _environment(settings: BuildSettings, index_dir: Path | None = None) -> dict[str, str]:
    """The environment for a command on these settings' Milvus (another host: another lock folder)."""
    assert settings.milvus is not None
    return {
        **os.environ,
        "RAGBOT_STORE": "milvus",
        "RAGBOT_MILVUS_URI": settings.milvus.uri,
        "RAGBOT_MILVUS_COLLECTION": settings.milvus.collection,
        "RAGBOT_SOURCES_DIR": str(settings.sources_dir),
        "RAGBOT_INDEX_DIR": str(index_dir or settings.index_dir),
    }


def _rows(settings: BuildSettings, kind: str) -> int:
    store = open_store(settings)
    assert isinstance(store, MilvusStore)
    return len(store._rows(kind, ["owner"]))


@pytest.mark.integration
def test_the_milvus_index_is_the_folder_index(milvus_seed, seed_build, embedder):
    ours = Retriever(open_store(milvus_seed).load(), embedder)
    folder = Retriever(open_store(seed_build).load(), embedder)
    a, b = ours.snapshot, folder.snapshot
    assert [c.id for c in a.chunks] == [c.id for c in b.chunks] and a.documents == b.documents
    assert a.sentence_rows == b.sentence_rows and a.entities == b.entities
    assert a.proper_terms == b.proper_terms and a.manifest.documents == b.manifest.documents
    assert np.allclose(a.chunk_vectors, b.chunk_vectors) and np.allclose(
        a.sentence_vectors, b.sentence_vectors
    )
    assert a.sentence_vectors_xl is not None and b.sentence_vectors_xl is not None
    assert np.allclose(a.sentence_vectors_xl, b.sentence_vectors_xl)
    for question in QUESTIONS:
        assert np.allclose(a.lexical.scores(question), b.lexical.scores(question))  # type: ignore[union-attr]
        for mode in ("dense", "hybrid"):  # dense search runs in Milvus
            mine, theirs = ours.search(question, k=5, mode=mode), folder.search(question, k=5, mode=mode)
            assert [h.chunk.id for h in mine] == [h.chunk.id for h in theirs], (question, mode)
            assert np.allclose([h.score for h in mine], [h.score for h in theirs], atol=1e-5)


@pytest.mark.integration
def test_an_hnsw_index_in_milvus_finds_what_the_exact_one_does(milvus, milvus_seed, embedder, tmp_path):
    shutil.copytree(SEED_SOURCES, tmp_path / "sources")
    settings = replace(_settings(tmp_path, milvus, "hnsw"), index_type="hnsw")
    rebuild(settings, embedder)
    graph, exact = (Retriever(open_store(s).load(), embedder) for s in (settings, milvus_seed))
    assert graph.snapshot.manifest.index_type == "hnsw" and exact.snapshot.manifest.index_type == "flat"
    for question in QUESTIONS:  # 47 chunks: the graph search is exhaustive
        found = [h.chunk.id for h in graph.search(question, k=5, mode="dense")]
        assert found == [h.chunk.id for h in exact.search(question, k=5, mode="dense")], question
    assert _rows(settings, f"chunks_{graph.snapshot.manifest.dimension}_hnsw") == len(graph.snapshot.chunks)


@pytest.mark.integration
def test_answers_are_the_same_on_milvus_and_in_the_folder(milvus_seed, answerer, embedder):
    on_milvus = Answerer(LiveIndex(open_store(milvus_seed), embedder))
    volatile = {"index_version", "seconds"}
    for question in QUESTIONS:
        mine, theirs = on_milvus.answer(question), answerer.answer(question)
        assert mine.model_dump(exclude=volatile) == theirs.model_dump(exclude=volatile), question


@pytest.mark.integration
def test_builds_embed_and_delete_only_what_changed(milvus_fresh, embedder):
    first = rebuild(milvus_fresh, embedder)
    assert first.full_rebuild and first.embedded_chunks == first.chunks
    chunk_kind = f"chunks_{open_store(milvus_fresh).load().manifest.dimension}"
    before = _rows(milvus_fresh, chunk_kind)
    assert before == first.chunks
    (milvus_fresh.sources_dir / "frigates.txt").write_text(NEW_SOURCE, encoding="utf-8")
    added = rebuild(milvus_fresh, embedder)
    assert added.added == ["frigates.txt"] and added.embedded_chunks == 1 and added.embedded_sentences == 1
    assert _rows(milvus_fresh, chunk_kind) == before + 1
    (milvus_fresh.sources_dir / "frigates.txt").write_text(
        NEW_SOURCE.replace("twelve", "nine"), encoding="utf-8"
    )
    changed = rebuild(milvus_fresh, embedder)
    assert changed.updated == ["frigates.txt"] and changed.embedded_chunks == 1
    assert _rows(milvus_fresh, chunk_kind) == before + 1  # the old version's rows are gone
    answer = Answerer(LiveIndex(open_store(milvus_fresh), embedder)).answer(
        "How many frigates will Australia buy?"
    )
    assert any("nine new frigates" in c.quote for c in answer.citations)
    (milvus_fresh.sources_dir / "frigates.txt").unlink()
    removed = rebuild(milvus_fresh, embedder)
    assert removed.removed == ["frigates.txt"] and removed.embedded_chunks == 0
    assert _rows(milvus_fresh, chunk_kind) == before
    assert "frigates.txt" not in open_store(milvus_fresh).load().documents


@pytest.mark.integration
def test_a_build_that_died_before_switching_leaves_the_served_index_whole(milvus_fresh, embedder):
    rebuild(milvus_fresh, embedder)
    store = open_store(milvus_fresh)
    assert isinstance(store, MilvusStore)
    served = store.load()
    # What a build killed halfway leaves: rows of a new document written, the switch not made.
    (milvus_fresh.sources_dir / "frigates.txt").write_text(NEW_SOURCE, encoding="utf-8")
    from index.build import Phases, _assemble
    from index.vector_files import scratch_folder

    with scratch_folder(milvus_fresh.index_dir) as scratch:
        documents = _documents(milvus_fresh)
        unfinished, _ = _assemble(milvus_fresh, embedder, documents, served, False, Phases(), scratch)
        store._create_collections(unfinished)
        store._write_documents(unfinished, document_keys(unfinished.manifest), {"frigates.txt"})
    assert store.current_version() == served.manifest.version
    live = Retriever(store.load(), embedder)
    assert "frigates.txt" not in live.snapshot.documents
    hits = live.search("How many frigates will Australia buy?", k=10, mode="dense")
    assert hits and all(h.chunk.doc_id != "frigates.txt" for h in hits)
    report = rebuild(milvus_fresh, embedder)  # the next build finishes the job and clears the leftovers
    assert report.added == ["frigates.txt"]
    assert _rows(milvus_fresh, f"chunks_{served.manifest.dimension}") == report.chunks


def _documents(settings: BuildSettings):
    from index.sources import load_documents

    return load_documents(settings.sources_dir)[0]


@pytest.mark.e2e
def test_a_bot_sees_a_rebuild_by_another_process_without_a_restart(milvus_fresh, embedder, tmp_path):
    from test_telegram import make_settings, replies_to  # pytest puts tests/ on the path

    rebuild(milvus_fresh, embedder)
    live = Answerer(LiveIndex(open_store(milvus_fresh), embedder, check_every=0))
    question = "How many frigates will Australia buy for its navy?"
    env = _environment(milvus_fresh, index_dir=tmp_path / "other-host")
    with FakeBotAPI() as api:
        first, second = api.message(question), api.message(question)
        with running_bot(make_settings(api, tmp_path), live):
            api.inject(first)
            assert api.wait_for(lambda: replies_to(api, first["message"]["message_id"]))
            (milvus_fresh.sources_dir / "frigates.txt").write_text(NEW_SOURCE, encoding="utf-8")
            build = [sys.executable, "-m", "index", "build"]
            done = subprocess.run(build, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            api.inject(second)
            assert api.wait_for(lambda: replies_to(api, second["message"]["message_id"]))
        assert "don't say" in replies_to(api, first["message"]["message_id"])[0]["text"]
        assert "twelve new frigates" in replies_to(api, second["message"]["message_id"])[0]["text"]


@pytest.mark.e2e
def test_the_first_question_builds_the_index_in_milvus(milvus, tmp_path):
    settings = BuildSettings(SEED_SOURCES, tmp_path / "index", milvus=MilvusTarget(milvus, "first_use"))
    env = _environment(settings) | {"RAGBOT_MULTILINGUAL": "false"}
    command = [sys.executable, "-m", "bot", "ask", QUESTIONS[0]]
    done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "Building the index" in done.stdout + done.stderr and "Richard Marles" in done.stdout
    status = [sys.executable, "-m", "index", "status"]
    again = subprocess.run(status, cwd=PROJECT, capture_output=True, text=True, timeout=300, env=env)
    assert "2 documents" in again.stdout and "Up to date." in again.stdout


@pytest.mark.e2e
def test_the_eval_gate_passes_on_milvus(milvus_fresh, tmp_path):
    # The run builds the index itself, with the encoder it embeds its questions with (see
    # `test_eval_run_passes_its_gate_and_writes_reports`).
    env = _environment(milvus_fresh)
    command = [sys.executable, "-m", "evals", "run", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GATE" not in done.stderr


@pytest.mark.e2e
def test_an_unreachable_milvus_is_one_sentence_without_the_token(tmp_path):
    secret = "root:s3cret-token-value"
    nowhere = MilvusTarget(f"http://127.0.0.1:{_free_port()}")
    env = _environment(BuildSettings(SEED_SOURCES, tmp_path / "index", milvus=nowhere))
    env["RAGBOT_MILVUS_TOKEN"] = secret
    command = [sys.executable, "-m", "index", "status"]
    done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: Milvus at http://127.0.0.1:") and "is it running" in done.stderr
    assert secret not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert MilvusTarget("http://u:pw@h:1", token=secret).shown_uri == "http://h:1"
    assert secret not in repr(MilvusTarget("http://h:1", token=secret))


@pytest.mark.e2e
def test_builds_killed_at_any_moment_leave_an_index_that_answers(milvus_fresh, embedder, tmp_path):
    env = _environment(milvus_fresh, index_dir=tmp_path / "index")
    build = [sys.executable, "-m", "index", "build"]

    def add_round(n: int) -> None:
        (milvus_fresh.sources_dir / f"round-{n}.txt").write_text(
            f"Round {n} notes\n\nThe delegation met for round {n} of talks on the frigate programme.\n",
            encoding="utf-8",
        )

    add_round(0)
    started = time.perf_counter()
    subprocess.run(build, cwd=PROJECT, env=env, capture_output=True, timeout=300, check=True)
    duration = time.perf_counter() - started
    store = open_store(milvus_fresh)
    for n, fraction in enumerate((0.5, 0.7, 0.8, 0.9, 0.95), 1):  # writing to Milvus comes last
        add_round(n)
        process = subprocess.Popen(
            build, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(duration * fraction)
        process.kill()
        process.wait(timeout=60)
        served = Retriever(store.load(), embedder)  # loads, whole, whichever manifest is served
        assert served.search("Why did Albanese skip the NATO summit?", k=3)[0].chunk.doc_id.startswith(
            "xpert"
        )
    report = rebuild(milvus_fresh, embedder)
    assert {f"round-{n}.txt" for n in range(6)} <= set(store.load().documents)
    assert _rows(milvus_fresh, f"chunks_{store.load().manifest.dimension}") == report.chunks


@pytest.mark.e2e
def test_while_milvus_is_down_questions_fail_in_one_sentence_and_answer_again_after(tmp_path, embedder):
    port = _free_port()
    server = _start_milvus(tmp_path / "milvus", port)
    shutil.copytree(SEED_SOURCES, tmp_path / "sources")
    settings = _settings(tmp_path, f"http://127.0.0.1:{port}", "outage")
    try:
        rebuild(settings, embedder)
        answerer = Answerer(LiveIndex(open_store(settings), embedder, check_every=0))
        before = answerer.answer(QUESTIONS[0])
        _stop(server)
        with pytest.raises(IndexStoreError, match=r"^Milvus at http://127\.0\.0\.1:\d+ failed .*running"):
            answerer.answer(QUESTIONS[0])
        server = _start_milvus(tmp_path / "milvus", port)  # the same data: Milvus Lite keeps it on disk
        after = _answer_when_back(answerer, QUESTIONS[0])
        assert after.answer == before.answer and not after.abstained
    finally:
        _stop(server)


def _answer_when_back(answerer: Answerer, question: str, seconds: float = 30):
    """As a user asking again: the first try may meet a server still starting."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return answerer.answer(question)
        except IndexStoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
