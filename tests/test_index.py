"""The index: sources, cleaning, chunking, incremental builds, atomic snapshots, retrieval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import onnx
import pytest

from index import entities
from index.ann import live_entries
from index.bm25 import BM25
from index.build import BuildSettings, carried_runs, embedding_texts, rebuild
from index.chunking import chunk_document
from index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder, is_exported, resolve_model_path
from index.errors import IndexCorrupt
from index.lexical import NameCounts, normalise, proper_terms, stem
from index.models import Document
from index.places import CITIES_FILE, cities_of, city_table
from index.retriever import LiveIndex, Retriever
from index.sources import load_documents, source_hashes
from index.store import current_version, load_snapshot, save_array
from index.tables import mapped_array, mapped_file
from index.vector_files import SCRATCH_PREFIX, VectorFile
from tests.conftest import PROJECT, SEED_SOURCES

NEW_SOURCE = """Canberra update

Australia's defence minister Richard Marles told reporters in Canberra that the government would
publish a new naval shipbuilding plan in September. The plan covers twelve new frigates.
"""


@pytest.mark.unit
def test_seed_sources_load_verbatim_with_metadata():
    documents, skipped = load_documents(SEED_SOURCES)
    assert skipped == []
    by_id = {d.id: d for d in documents}
    xpert = by_id["xpert-nato-summit-asian-partners-stay-away.txt"]
    assert xpert.text == (SEED_SOURCES / xpert.id).read_text(encoding="utf-8")
    assert (xpert.publisher, xpert.author, xpert.date) == (
        "Xpert.digital",
        "Konrad Wolfenstein",
        "2025-06-25",
    )
    assert by_id["asan-managing-decline-nato-2025.txt"].date == "2025-06-30"


@pytest.mark.unit
def test_page_furniture_never_becomes_a_passage():
    documents, _ = load_documents(SEED_SOURCES)
    text = " ".join(c.text for d in documents for c in chunk_document(d))
    for furniture in (
        "Language selection",
        "Suitable for",
        "hub for security and defense offers",
        "contact me",
        "+49 89",
        "I would be happy to serve",
        "Image: Xpert.digital",
        "s.kim@asaninst.org",
    ):
        assert furniture not in text
    assert "Richard Marles" in text


NEWS_PAGE = """Washington CNN —

Updated Sept. 19, 2025, 5:33 p.m. ET

By Jane Doe and John Roe, USA TODAY

The council voted on Wednesday to close the old bridge to traffic for two years.

More: City budget hearings begin next week

Engineers found cracks in two of its piers last month.

Inspectors walk along the old bridge on Tuesday. Mark Lee/City Press

• • •

Repairs

The repairs will cost $40 million, the mayor said.

By the numbers

Two piers, forty million dollars, two years.
"""


@pytest.mark.unit
def test_news_chrome_is_dropped_without_its_section():
    """Datelines, time stamps, bylines, links to other stories, captions and separators are never
    indexed, and unlike other furniture they do not take the section after them along."""
    chunks = chunk_document(Document(id="news.txt", text=NEWS_PAGE, sha256="", title="Bridge"))
    text = "\n".join(c.text for c in chunks)
    for chrome in ("CNN —", "Updated Sept.", "Jane Doe", "City budget", "Inspectors walk", "• • •"):
        assert chrome not in text and all(chrome not in c.heading for c in chunks)
    for content in ("The council voted", "Engineers found cracks", "The repairs will cost", "Two piers"):
        assert content in text
    assert [c.heading for c in chunks if "Two piers" in c.text] == [
        "By the numbers"
    ]  # a heading, not a byline
    assert [c.heading for c in chunks if "Engineers" in c.text] == [""]


AUTHOR_AND_WINNERS = """Jane Doe

jdoe@example.com

The ceremony crowned a musical as the year's best comedy, and a period drama swept television.

Best comedy or musical

WINNER: "Emilia Perez"

"Anora"

Best drama series

WINNER: "Shogun"

"The Day of the Jackal"

Best drama

WINNER: "The Brutalist"

"Anora"
"""


@pytest.mark.unit
def test_a_contact_line_and_a_repeated_line_do_not_take_the_article_with_them():
    """An author's email above a news article is dropped alone, and lines that occur twice (a
    nominee in two categories) are the list's entries, under their category."""
    doc = Document(id="awards.txt", text=AUTHOR_AND_WINNERS, sha256="", title="Winners")
    chunks = chunk_document(doc)
    text = "\n".join(c.text for c in chunks)
    assert "jdoe@example.com" not in text
    assert "The ceremony crowned a musical" in text
    assert [c.heading for c in chunks if '"Emilia Perez"' in c.text] == ["Best comedy or musical"]
    assert [c.heading for c in chunks if "The Brutalist" in c.text] == ["Best drama"]
    assert sum(c.text.count('"Anora"') for c in chunks) == 2


@pytest.mark.unit
def test_chunks_quote_their_document_and_keep_stable_ids():
    documents, _ = load_documents(SEED_SOURCES)
    for doc in documents:
        first, second = chunk_document(doc), chunk_document(doc)
        assert [c.id for c in first] == [c.id for c in second]
        assert len({c.id for c in first}) == len(first)
        for chunk in first:
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert all(chunk.start <= s.start < s.end <= chunk.end for s in chunk.sentences)


@pytest.mark.unit
def test_torch_is_refused_only_to_the_thread_loading_spacy():
    blocker = entities._NoTorchInThisThread()
    with pytest.raises(ModuleNotFoundError):
        blocker.find_spec("torch.utils.dlpack")
    assert blocker.find_spec("numpy") is None
    elsewhere: list = []
    thread = threading.Thread(target=lambda: elsewhere.append(blocker.find_spec("torch")))
    thread.start()
    thread.join()
    assert elsewhere == [None]  # a build in another thread imports torch as usual


@pytest.mark.integration
def test_an_entity_never_runs_from_a_heading_into_the_paragraph_after_it():
    text = "Early returns in Lakeside\n\nGraham Holt, a local businessman, won the mayoral election.\n"
    (found,) = entities.find_entities([text])
    assert all("\n" not in text[start:end] for start, end, _ in found)
    assert (text.index("Graham"), text.index(", a local"), "PERSON") in found  # not "Lakeside Graham Holt"


@pytest.mark.integration
def test_entities_found_in_worker_processes_are_the_same_and_survive_a_killed_worker(monkeypatch, caplog):
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEED_SOURCES.iterdir())] * 3
    serial = entities.find_entities(texts)
    assert sum(map(len, serial)) > 100
    monkeypatch.setattr(entities, "PARALLEL_FROM_CHARS", 2)  # every text now goes to 2 workers
    monkeypatch.setattr(entities, "BATCH_CHARS", 1)  # one text per batch: several batches each
    with entities.EntityJob(texts) as job:
        assert job._pool is not None, "no worker processes started"
        assert job.result() == serial
    with entities.EntityJob(texts) as job:  # a worker dies (as under the out-of-memory killer)
        os.kill(next(iter(job._pool._processes)), signal.SIGKILL)  # type: ignore[union-attr]
        assert job.result() == serial  # found again in this process, nothing lost
    assert "worker processes failed" in caplog.text


@pytest.mark.integration
def test_an_index_whose_entities_were_found_otherwise_is_stale_and_annotated_again_without_embedding(
    fresh_build: BuildSettings, embedder, monkeypatch
):
    from index import build, status

    monkeypatch.setattr(build, "ANNOTATION", "an older way of finding entities")
    rebuild(fresh_build, embedder)
    monkeypatch.undo()
    assert status.index_status(fresh_build).stale
    again = rebuild(fresh_build, embedder)
    assert (again.embedded_chunks, again.embedded_sentences) == (0, 0)
    snapshot = load_snapshot(fresh_build.index_dir)
    assert snapshot.manifest.annotator == entities.ANNOTATION and sum(map(len, snapshot.entities.values()))
    assert not status.index_status(fresh_build).stale


@pytest.mark.integration
def test_incremental_add_change_remove_and_noop(fresh_build: BuildSettings, embedder):
    first = rebuild(fresh_build, embedder)
    assert first.full_rebuild and first.embedded_chunks == first.chunks > 20

    noop = rebuild(fresh_build, embedder)
    assert (noop.embedded_chunks, noop.embedded_sentences, noop.version) == (0, 0, first.version)

    (fresh_build.sources_dir / "canberra.txt").write_text(NEW_SOURCE, encoding="utf-8")
    before = load_snapshot(fresh_build.index_dir).entities
    vectors_before = _vectors_by_text(load_snapshot(fresh_build.index_dir))
    added = rebuild(fresh_build, embedder)
    assert added.added == ["canberra.txt"] and added.embedded_chunks == 1
    assert added.chunks == first.chunks + 1
    entities = load_snapshot(fresh_build.index_dir).entities
    assert {k: v for k, v in entities.items() if k != "canberra.txt"} == before  # kept, not redone
    labels = {NEW_SOURCE[s:e]: label for s, e, label in entities["canberra.txt"]}
    assert labels.get("Canberra") == "GPE"
    _assert_vectors_kept_by_text(load_snapshot(fresh_build.index_dir), vectors_before, new=1)

    vectors_before = _vectors_by_text(load_snapshot(fresh_build.index_dir))
    asan = fresh_build.sources_dir / "asan-managing-decline-nato-2025.txt"
    asan.write_text(
        asan.read_text(encoding="utf-8") + "\nA closing paragraph added by an editor.\n", encoding="utf-8"
    )
    changed = rebuild(fresh_build, embedder)
    assert changed.updated == [asan.name]
    assert 1 <= changed.embedded_chunks <= 2  # only the new paragraph's chunk (and none unchanged)
    snapshot = load_snapshot(fresh_build.index_dir)
    _assert_lexical_index_as_if_built_from_scratch(snapshot)
    _assert_vectors_kept_by_text(snapshot, vectors_before, new=changed.embedded_chunks)
    # Unchanged documents keep their chunks from the last build; the changed one is cut again.
    cut = [
        chunk
        for doc in snapshot.documents.values()
        for chunk in chunk_document(doc, fresh_build.chunk_size, fresh_build.chunk_overlap)
    ]
    assert list(snapshot.chunks) == cut and any("closing paragraph" in c.text for c in cut)

    (fresh_build.sources_dir / "canberra.txt").unlink()
    vectors_before = _vectors_by_text(load_snapshot(fresh_build.index_dir))
    removed = rebuild(fresh_build, embedder)
    assert removed.removed == ["canberra.txt"] and removed.embedded_chunks == 0
    snapshot = load_snapshot(fresh_build.index_dir)
    _assert_vectors_kept_by_text(snapshot, vectors_before, new=0)
    assert not any(c.doc_id == "canberra.txt" for c in snapshot.chunks)
    _assert_lexical_index_as_if_built_from_scratch(snapshot)


@pytest.mark.integration
def test_an_hnsw_graph_is_extended_by_the_next_build_and_never_returns_a_row_that_left(
    fresh_build: BuildSettings, embedder
):
    import faiss

    settings = replace(fresh_build, index_type="hnsw", multilingual=False)
    canberra = settings.sources_dir / "canberra.txt"
    canberra.write_text(NEW_SOURCE, encoding="utf-8")
    rebuild(settings, embedder)
    canberra.unlink()
    rebuild(settings, embedder)  # its chunk's entry stays in the graph, mapped to no row
    graph = load_snapshot(settings.index_dir).dense_index
    chunks = len(load_snapshot(settings.index_dir).chunks)
    assert graph.ntotal == chunks + 1 and live_entries(graph) == chunks
    canberra.write_text(NEW_SOURCE.replace("September", "October"), encoding="utf-8")
    rebuild(settings, embedder)
    snapshot = load_snapshot(settings.index_dir)
    assert snapshot.dense_index.ntotal == chunks + 2  # added to the graph, not built again
    retriever = Retriever(snapshot, embedder)
    for row, chunk in enumerate(snapshot.chunks):  # every chunk is found at its own row
        hits = retriever.search(chunk.text, k=3, mode="dense")
        assert len(hits) == 3 and hits[0].chunk == chunk, row
    largest = max(settings.sources_dir.glob("*.txt"), key=lambda path: path.stat().st_size)
    largest.unlink()  # most of the graph's entries leave: it is built anew
    rebuild(settings, embedder)
    snapshot = load_snapshot(settings.index_dir)
    assert snapshot.dense_index.ntotal == len(snapshot.chunks) == live_entries(snapshot.dense_index)
    assert isinstance(snapshot.dense_index, faiss.IndexIDMap)


def _vectors_by_text(snapshot) -> dict[str, np.ndarray]:
    """Each text a snapshot embedded (chunks and sentences, as embedded), with a copy of its vector."""
    chunk_texts, sentence_texts = embedding_texts(snapshot.documents, snapshot.chunks)
    by_text = dict(zip(sentence_texts, np.array(snapshot.sentence_vectors)))
    by_text.update(zip(chunk_texts, np.array(snapshot.chunk_vectors)))
    return by_text


def _assert_vectors_kept_by_text(snapshot, before: dict[str, np.ndarray], new: int) -> None:
    """Every row of `snapshot` whose text the previous snapshot embedded has that vector, exactly
    (a row carried to the wrong place would not), and `new` chunk texts were not there before."""
    chunk_texts, sentence_texts = embedding_texts(snapshot.documents, snapshot.chunks)
    rows = [(t, v) for t, v in zip(chunk_texts, snapshot.chunk_vectors)]
    rows += [(t, v) for t, v in zip(sentence_texts, snapshot.sentence_vectors)]
    assert all(np.array_equal(before[t], v) for t, v in rows if t in before)
    assert sum(t not in before for t in chunk_texts) == new
    assert all(abs(np.linalg.norm(v) - 1) < 1e-3 for _, v in rows)  # none left unwritten


def _assert_lexical_index_as_if_built_from_scratch(snapshot) -> None:
    """Stems reused from earlier builds give the same BM25 and names as normalising every chunk anew."""
    scratch = BM25.of_texts([f"{c.heading}\n{c.text}" for c in snapshot.chunks])
    for query in ("closing paragraph editor", "Why did Albanese skip the summit?", "Marles frigates"):
        assert np.allclose(snapshot.lexical.scores(query), scratch.scores(query))
    assert snapshot.lexical.vocabulary.keys() == scratch.vocabulary.keys()  # a removed text's terms go
    assert snapshot.proper_terms == proper_terms([c.text for c in snapshot.chunks])
    assert snapshot.name_counts() == NameCounts.of_texts(c.text for c in snapshot.chunks)


@pytest.mark.integration
def test_a_new_chunker_re_chunks_every_source_without_re_embedding(fresh_build: BuildSettings, embedder):
    from index.status import index_status

    first = rebuild(fresh_build, embedder)
    manifest_file = fresh_build.index_dir / "versions" / first.version / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["chunker"] -= 1  # as if an older version of the project had cut these chunks
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    assert index_status(fresh_build).stale
    again = rebuild(fresh_build, embedder)
    assert again.version != first.version and (again.embedded_chunks, again.embedded_sentences) == (0, 0)
    assert not index_status(fresh_build).stale


@pytest.mark.integration
def test_texts_embedded_differently_are_embedded_again(fresh_build: BuildSettings, embedder):
    from index.status import index_status

    first = rebuild(fresh_build, embedder)
    manifest_file = fresh_build.index_dir / "versions" / first.version / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["embedding_text"] -= 1  # as if an older version had embedded chunks with other words
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    assert index_status(fresh_build).stale
    again = rebuild(fresh_build, embedder)  # its vectors are not those of today's texts: not reused
    assert (again.embedded_chunks, again.embedded_sentences) == (
        first.embedded_chunks,
        first.embedded_sentences,
    )
    assert not index_status(fresh_build).stale


@pytest.mark.integration
def test_model_change_forces_full_rebuild(fresh_build: BuildSettings, embedder):
    first = rebuild(fresh_build, embedder)
    same_model_other_name = SentenceTransformerEmbedder(resolve_model_path(DEFAULT_MODEL))
    second = rebuild(fresh_build, same_model_other_name)
    assert second.full_rebuild and second.embedded_chunks == first.chunks


@pytest.mark.integration
def test_unreadable_sources_are_skipped_and_reported(fresh_build: BuildSettings, embedder):
    sources = fresh_build.sources_dir
    (sources / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (sources / "empty.md").write_text("   \n", encoding="utf-8")
    (sources / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (sources / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = rebuild(fresh_build, embedder)
    assert sorted(s["path"] for s in report.skipped) == ["binary.txt", "broken.pdf", "empty.md", "latin1.txt"]
    assert report.documents == 2 and report.chunks > 20


@pytest.mark.integration
def test_html_and_markdown_sources(fresh_build: BuildSettings, embedder):
    sources = fresh_build.sources_dir
    (sources / "page.html").write_text(
        "<html><head><title>Frigate plan</title></head><body><nav>Home | About | Contact</nav>"
        "<article><h1>Frigate plan</h1><p>Australia will buy twelve new frigates for its navy over the next "
        "decade, the defence minister said on Monday in Canberra.</p><p>The first ship is due in 2029, "
        "according to the plan published by the ministry.</p></article><footer>Cookie settings</footer>"
        "</body></html>",
        encoding="utf-8",
    )
    (sources / "notes.md").write_text(
        "# Notes\n\nThe frigates will be built in Adelaide.\n", encoding="utf-8"
    )
    rebuild(fresh_build, embedder)
    snapshot = load_snapshot(fresh_build.index_dir)
    page = snapshot.documents["page.html"]
    assert page.title == "Frigate plan" and "twelve new frigates" in page.text and "Cookie" not in page.text
    notes = [c for c in snapshot.chunks if c.doc_id == "notes.md"]
    assert (
        notes and notes[0].heading == "Notes" and notes[0].text == "The frigates will be built in Adelaide."
    )


@pytest.mark.integration
def test_corrupt_index_is_reported_in_one_sentence(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    faiss_file = fresh_build.index_dir / "versions" / current_version(fresh_build.index_dir) / "index.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(IndexCorrupt, match=r"python -m index build --full"):
        load_snapshot(fresh_build.index_dir)
    result = subprocess.run(
        [sys.executable, "-m", "index", "search", "Albanese"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "RAGBOT_INDEX_DIR": str(fresh_build.index_dir),
            "RAGBOT_SOURCES_DIR": str(fresh_build.sources_dir),
        },
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "damaged" in result.stderr
    repaired = rebuild(fresh_build, embedder)  # a build repairs it without --full
    assert repaired.full_rebuild and load_snapshot(fresh_build.index_dir).chunks


@pytest.mark.e2e
def test_build_killed_halfway_leaves_old_index_serving(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    before = current_version(fresh_build.index_dir)
    sentences = " ".join(
        f"Delegation {i} discussed maritime item {i} at length in session {i}." for i in range(4000)
    )
    (fresh_build.sources_dir / "big.txt").write_text(sentences, encoding="utf-8")
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(fresh_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(fresh_build.sources_dir),
    }
    process = subprocess.Popen([sys.executable, "-m", "index", "build"], cwd=PROJECT, env=env)
    time.sleep(12)  # past start-up, inside embedding 4,000 new sentences
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert current_version(fresh_build.index_dir) == before
    snapshot = load_snapshot(fresh_build.index_dir)
    assert not any(c.doc_id == "big.txt" for c in snapshot.chunks)


@pytest.mark.integration
def test_live_index_moves_to_a_new_snapshot(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    live = LiveIndex(fresh_build.index_dir, embedder, check_every=0)
    old = live.retriever()
    (fresh_build.sources_dir / "canberra.txt").write_text(NEW_SOURCE, encoding="utf-8")
    rebuild(fresh_build, embedder)
    new = live.retriever()
    assert new.version != old.version
    assert new.search("naval shipbuilding plan frigates", k=1)[0].chunk.doc_id == "canberra.txt"
    assert all(h.chunk.doc_id != "canberra.txt" for h in old.search("naval shipbuilding plan frigates", k=3))


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Why did Albanese skip the NATO summit?", "Richard Marles"),
        ("why did albanesse not go to den haag", "Richard Marles"),
        ("What share of GDP does South Korea spend on defence?", "2.3%"),
        ("Which countries belong to the Indo-Pacific four?", "New Zealand and Australia"),
    ],
)
@pytest.mark.integration
def test_hybrid_retrieval_ranks_the_right_passage_first(seed_build, embedder, question, expected):
    retriever = LiveIndex(seed_build.index_dir, embedder).retriever()
    hits = retriever.search(question, k=5)
    assert expected in hits[0].chunk.text


@pytest.mark.integration
def test_a_passage_widens_to_its_neighbours_up_to_its_size(seed_build, embedder):
    retriever = LiveIndex(seed_build.index_dir, embedder).retriever()
    chunks = retriever.snapshot.chunks
    grown, across_headings = 0, 0
    for chunk in chunks:
        wide = retriever.widened(chunk, 800)
        text = retriever.document(chunk.doc_id).text
        assert wide.text == text[wide.start : wide.end] and wide.start <= chunk.start <= chunk.end <= wide.end
        assert set(chunk.sentences) <= set(wide.sentences)
        if wide != chunk:
            grown += 1
            assert wide.end - wide.start <= 800
            same_document = (c for c in chunks if c.doc_id == chunk.doc_id)
            inside = [c for c in same_document if wide.start <= c.start <= c.end <= wide.end]
            across_headings += len({c.heading for c in inside}) > 1
            assert set(wide.sentences) == {s for c in inside for s in c.sentences}  # whole chunks only
    assert grown > len(chunks) // 4 and across_headings > 0


@pytest.mark.integration
def test_dense_and_lexical_modes_are_each_side_alone(seed_build, embedder):
    retriever = LiveIndex(seed_build.index_dir, embedder).retriever()
    question = "Who went to The Hague instead of Albanese?"
    dense = retriever.search(question, k=4, mode="dense")
    lexical = retriever.search(question, k=4, mode="lexical")
    assert len(dense) == len(lexical) == 4
    assert all(h.lexical == 0.0 for h in dense) and all(h.dense == 0.0 for h in lexical)
    assert [h.score for h in dense] == sorted((h.score for h in dense), reverse=True)
    assert [h.lexical for h in lexical] == sorted((h.lexical for h in lexical), reverse=True)
    assert "Albanese" in lexical[0].chunk.text


ORACLE_TEXTS = [
    "The summit in The Hague ended with a pledge on defence spending.",
    "Spending, spending and more spending: the pledge dominated the summit.",
    "Seoul and Tokyo sent ministers; Canberra sent its deputy prime minister.",
    "",
    "A pledge is a promise.",
]


def _okapi(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 from its definition (Lucene's idf), term by term: the reference the index must match."""
    docs = [normalise(t) for t in texts]
    average = sum(map(len, docs)) / len(docs)
    scores = np.zeros(len(docs))
    for term in dict.fromkeys(normalise(query)):
        df = sum(term in d for d in docs)
        idf = np.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for row, d in enumerate(docs):
            tf = d.count(term)
            scores[row] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / average))
    return scores


@pytest.mark.unit
@pytest.mark.parametrize("query", ["summit pledge", "spending", "promise of spending", "nothing matches"])
def test_bm25_matches_its_definition(query):
    assert np.allclose(BM25.of_texts(ORACLE_TEXTS).scores(query), _okapi(ORACLE_TEXTS, query), atol=1e-5)


@pytest.mark.unit
def test_bm25_saved_and_memory_mapped_scores_the_same(tmp_path):
    built = BM25.of_texts(ORACLE_TEXTS)
    built.save(tmp_path)
    loaded = BM25.load(tmp_path)
    for query in ("summit pledge", "spendng", "South Korea"):  # exact, misspelt, a place
        assert np.array_equal(loaded.scores(query), built.scores(query))
    assert [loaded.terms_of(row) for row in range(5)] == [normalise(t) for t in ORACLE_TEXTS]
    pledge = stem("pledge")
    assert loaded.idf(pledge) == built.idf(pledge) < loaded.idf("never-seen")
    (tmp_path / "bm25_params.json").write_text('{"k1": 2.0, "b": 0.75, "method": "lucene"}')
    with pytest.raises(ValueError, match="other parameters"):
        BM25.load(tmp_path)


@pytest.mark.unit
def test_bm25_reusing_another_index_rows_scores_as_if_built_anew():
    previous = BM25.of_texts(ORACLE_TEXTS)
    texts = [ORACLE_TEXTS[4], "Tokyo's pledge, and a new word: frigates.", ORACLE_TEXTS[0], ""]
    reused = BM25.reusing(previous, [4, normalise(texts[1]), 0, []])  # text 2, Seoul's, has left
    for query in ("summit pledge", "frigates", "promise", "Seoul", "Tokyo spending"):
        assert np.allclose(reused.scores(query), _okapi(texts, query), atol=1e-5)
    assert [reused.terms_of(row) for row in range(4)] == [normalise(t) for t in texts]
    assert reused.vocabulary.keys() == BM25.of_texts(texts).vocabulary.keys()
    assert not reused.knows("seoul") and reused.document_frequency(stem("pledge")) == 3


@pytest.mark.unit
def test_name_counts_updated_by_the_changed_texts_are_the_counts_of_the_texts_now():
    before = ["Talks in The Hague.", "Leaders met in The Hague and Seoul.", "The summit ended."]
    now = [before[0], before[2], "A summit in Seoul, said Marles."]
    updated = NameCounts.of_texts(before).changed(added=[now[2]], removed=[before[1]])
    assert updated == NameCounts.of_texts(now)
    assert NameCounts.from_json(updated.to_json()) == updated
    assert updated.proper_terms() == proper_terms(now) == {"hague", "seoul", "marl"}
    assert "summit" not in updated.proper_terms()  # written lower case inside a sentence


@pytest.mark.unit
def test_a_country_in_the_query_also_matches_its_cities():
    bm25 = BM25.of_texts(
        [
            "Seoul is likely to face pressure to spend more.",
            "Tokyo announced a larger budget.",
            "Talks were held in The Hague.",
        ]
    )
    assert np.argmax(bm25.scores("pressure on South Korea")) == 0
    assert np.argmax(bm25.scores("What happened in the Netherlands?")) == 2
    assert bm25.scores("Seoul")[1:].max() == 0  # one direction: a city does not stand for other places
    assert cities_of(("south", "korea")) >= {"seoul"} and "seoul" not in cities_of(("japan",))


@pytest.mark.unit
def test_the_shipped_city_table_is_what_geonames_gives_now():
    """`cities.json` saves questions a second of reading GeoNames; `python -m index cities` rewrites it."""
    assert json.loads(CITIES_FILE.read_text(encoding="utf-8")) == city_table()


@pytest.mark.parametrize(
    "demonym, country",
    [
        ("Chinese", "China"),
        ("Japanese", "Japan"),
        ("Germans", "Germany"),
        ("Korean", "South Korea"),
        ("Dutch", "the Netherlands"),
        ("European", "Europe"),
    ],
)
@pytest.mark.unit
def test_a_demonym_meets_its_country(demonym, country):
    assert normalise(demonym)[0] in normalise(country)


@pytest.mark.unit
def test_stemming_gives_the_same_stems_from_many_threads():
    import random
    import string
    from concurrent.futures import ThreadPoolExecutor

    import snowballstemmer

    rng = random.Random(7)
    words = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))
        + rng.choice(["ations", "ing", "ies", "ness", "s"])
        for _ in range(20_000)
    ]
    expected = snowballstemmer.stemmer("english").stemWords(words)
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(stem, words, chunksize=50)) == expected


@pytest.mark.integration
def test_the_int8_onnx_encoder_keeps_torchs_vectors_and_rankings(tmp_path, embedder):
    texts = [
        "Why did Albanese skip the NATO summit?",
        "Albanese sent Defence Minister Richard Marles to the summit in his place.",
        "South Korea spends about 2.8 percent of its GDP on defence.",
        "The frigates were built in a shipyard in Ulsan.",
        "short",
        "A long passage about defence spending. " * 40,
    ]
    exporting = SentenceTransformerEmbedder(cache_dir=tmp_path)
    first = exporting.embed(texts)  # loads torch once to export, then embeds with the export
    assert type(exporting._backend).__name__ == "OnnxBackend"
    folder = tmp_path / "bundled_all-MiniLM-L6-v2"
    assert is_exported(folder)
    assert (folder / "model.onnx").stat().st_size < 30_000_000  # int8: a quarter of the 90 MB weights
    operators = {node.op_type for node in onnx.load(str(folder / "model.onnx")).graph.node}
    assert "IsNaN" not in operators  # eager attention: no NaN guards over the scores (SDPA's export)

    fast = SentenceTransformerEmbedder(cache_dir=tmp_path)
    vectors = fast.embed(texts)
    assert type(fast._backend).__name__ == "OnnxBackend"
    assert np.allclose(np.sum(vectors * first, axis=1), 1.0, atol=1e-5)  # the same encoder each time
    reference = embedder.embed(texts)  # torch, full precision
    assert np.sum(vectors * reference, axis=1).min() > 0.97
    # What a search sees: the question's scores move by a few hundredths at most (0.023 seen on an AMD
    # EPYC, whose int8 kernels round otherwise than the machine this was first measured on), and its
    # answer stays first.
    scores, full_scores = vectors[1:] @ vectors[0], reference[1:] @ reference[0]
    assert np.abs(scores - full_scores).max() < 0.03
    assert scores.argmax() == full_scores.argmax() == 0


@pytest.mark.integration
@pytest.mark.parametrize("missing", ["weights", "attention"])
def test_an_export_from_before_is_exported_again(tmp_path, missing):
    folder = tmp_path / "bundled_all-MiniLM-L6-v2"
    SentenceTransformerEmbedder(cache_dir=tmp_path).embed(["x"])
    settings = json.loads((folder / "encoder.json").read_text())
    del settings[missing]  # as the full-precision (SDPA-attention) exports of earlier versions were written
    (folder / "encoder.json").write_text(json.dumps(settings))
    assert not is_exported(folder)
    SentenceTransformerEmbedder(cache_dir=tmp_path).embed(["x"])
    assert is_exported(folder)


@pytest.mark.e2e
def test_a_fresh_ask_process_does_not_import_torch(fresh_build: BuildSettings):
    script = (
        "import sys; from bot.wiring import AppSettings, make_answerer\n"
        "answerer = make_answerer(AppSettings(), announce=lambda m: None)\n"
        "answer = answerer.answer('Why did Albanese skip the summit?')\n"
        "print(answer.abstained, 'torch' in sys.modules)"
    )
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(fresh_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(fresh_build.sources_dir),
        "XDG_CACHE_HOME": str(fresh_build.index_dir.parent / "cache"),  # a machine that never exported
    }
    first = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    second = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    assert first.stdout.split() == ["False", "True"], first.stderr  # first use: builds, exports
    assert second.stdout.split() == ["False", "False"], second.stderr


@pytest.mark.unit
def test_links_and_undecodable_names_are_refused_and_nothing_they_point_to_is_read(tmp_path):
    secret = tmp_path / "outside" / "token.txt"
    secret.parent.mkdir()
    secret.write_text("123456:SECRET-TOKEN-LINE\n", encoding="utf-8")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "real.txt").write_text("A real article about frigates.\n", encoding="utf-8")
    (sources / "passwd.txt").symlink_to(secret)
    (sources / "linked-folder").symlink_to(secret.parent, target_is_directory=True)
    (sources / "meta-linked.txt").write_text("Another article.\n", encoding="utf-8")
    (sources / "meta-linked.txt.meta.toml").symlink_to(secret)
    (sources / os.fsdecode(b"caf\xe9.txt")).write_text("Latin-1 name.\n", encoding="utf-8")
    documents, skipped = load_documents(sources)
    assert [d.id for d in documents] == ["real.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert "symbolic link" in reasons["passwd.txt"] and "symbolic link" in reasons["meta-linked.txt"]
    assert "symbolic link" in reasons["linked-folder"]  # reported, and not followed
    assert any("not valid UTF-8" in r for r in reasons.values())
    assert "SECRET" not in " ".join(d.text + d.title for d in documents)


@pytest.mark.unit
def test_sources_are_found_in_nested_folders_in_path_order_and_hidden_ones_are_left_out(tmp_path):
    for name in ("a-c.txt", "a/b.txt", "a/z/deep.md", "b.TXT", ".hidden.txt", ".drafts/x.txt", "a/.y.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"An article filed as {name}.\n", encoding="utf-8")
    (tmp_path / "notes.toml").write_text("x = 1\n", encoding="utf-8")
    documents, skipped = load_documents(tmp_path)
    assert [d.id for d in documents] == ["a/b.txt", "a/z/deep.md", "a-c.txt", "b.TXT"] and not skipped


@pytest.mark.unit
def test_the_hash_recorded_is_the_hash_of_the_bytes_indexed(tmp_path):
    import hashlib

    (tmp_path / "a.txt").write_text("Version one of the article.\n", encoding="utf-8")
    documents, _ = load_documents(tmp_path)
    data = (tmp_path / "a.txt").read_bytes()
    assert documents[0].sha256 == hashlib.sha256(data).hexdigest()
    assert documents[0].text == data.decode("utf-8")


@pytest.mark.integration
def test_concurrent_builds_take_turns_and_leave_a_loadable_index(fresh_build: BuildSettings, embedder):
    import threading

    rebuild(fresh_build, embedder)
    for i in range(4):
        (fresh_build.sources_dir / f"n{i}.txt").write_text(f"Note {i} about frigates.\n", encoding="utf-8")
    reports, errors = [], []

    def build() -> None:
        try:
            reports.append(rebuild(fresh_build, embedder))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []
    # One build embedded the four notes; the others waited for it and found nothing left to do.
    assert sorted(len(r.added) for r in reports) == [0, 0, 0, 4]
    assert {f"n{i}.txt" for i in range(4)} <= set(load_snapshot(fresh_build.index_dir).documents)
    assert not (fresh_build.index_dir / "CURRENT.tmp").exists()


@pytest.mark.unit
def test_a_script_without_a_main_guard_does_not_hang_its_build(tmp_path):
    # Spawned workers run the script again: its build, in each worker, used to wait for the lock its
    # parent held while the parent waited for them. The worker's build is refused instead, at once.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import multiprocessing, os, sys\n"
        "from pathlib import Path\n"
        "from index.lock import build_lock\n"
        f"with build_lock(Path({str(tmp_path / 'index')!r})):\n"
        "    worker = multiprocessing.get_context('spawn').Process(target=os.getpid)\n"
        "    worker.start()\n"
        "    worker.join(60)\n"
        "    print('worker exit code', worker.exitcode)\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(script)], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert "worker exit code 1" in run.stdout
    assert 'put its build under `if __name__ == "__main__":`' in run.stderr
    assert time.monotonic() - started < 30


@pytest.mark.unit
def test_a_damaged_current_pointer_is_one_sentence(tmp_path):
    (tmp_path / "CURRENT").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(IndexCorrupt, match="CURRENT file is damaged"):
        current_version(tmp_path)


@pytest.mark.unit
def test_metadata_is_checked_before_anyone_sees_it(tmp_path):
    (tmp_path / "a.txt").write_text(
        "\x1b[31mRed title\x1b[0m\n\nBody text of the article.\n", encoding="utf-8"
    )
    (tmp_path / "a.txt.meta.toml").write_text(
        'url = "javascript:alert(1)"\ndate = "2025-02-30"\n'
        'publisher = ["not", "text"]\nauthor = "A\\u001b[2J"\n',
        encoding="utf-8",
    )
    (tmp_path / "b.txt").write_text("Another article.\n", encoding="utf-8")
    (tmp_path / "b.txt.meta.toml").write_text(
        'url = "https://example.org/b"\ndate = 2025-06-30\n', encoding="utf-8"
    )
    documents, skipped = load_documents(tmp_path)
    a, b = sorted(documents, key=lambda d: d.id)
    assert skipped == []
    assert (a.url, a.date, a.publisher, a.author) == ("", "", "", "A[2J")
    assert "\x1b" not in a.title and "Red title" in a.title
    assert (b.url, b.date) == ("https://example.org/b", "2025-06-30")


@pytest.mark.integration
def test_a_build_that_cannot_write_leaves_the_old_index_answering(fresh_build: BuildSettings, embedder):
    from bot.wiring import update_index

    rebuild(fresh_build, embedder)
    before = current_version(fresh_build.index_dir)
    (fresh_build.sources_dir / "new.txt").write_text("A new note about frigates.\n", encoding="utf-8")
    (fresh_build.index_dir / ".build.lock").unlink()
    (fresh_build.index_dir / ".build.lock").mkdir()  # the build cannot even take its lock: an OSError
    said: list[str] = []
    update_index(fresh_build, embedder, said.append)
    assert any("answering from the previous one" in line for line in said)
    assert current_version(fresh_build.index_dir) == before
    assert load_snapshot(fresh_build.index_dir).documents  # still loads and serves
    assert not list((fresh_build.index_dir / "versions").glob(".staging-*"))


@pytest.mark.unit
def test_an_oversized_source_is_skipped_unread(tmp_path):
    from index.loaders import MAX_HTML_BYTES, MAX_SOURCE_BYTES

    for name, size in (("huge.txt", MAX_SOURCE_BYTES + 1), ("huge.html", MAX_HTML_BYTES + 1)):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(size)  # sparse: costs no disk
    (tmp_path / "ok.txt").write_text("A normal article.\n", encoding="utf-8")
    documents, skipped = load_documents(tmp_path)
    assert [d.id for d in documents] == ["ok.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert "20 MB limit per txt file" in reasons["huge.txt"]
    assert "3 MB limit per html file" in reasons["huge.html"]


@pytest.mark.integration
def test_an_index_built_by_another_model_is_refused_with_the_fix(seed_build):
    from index.errors import IndexStoreError

    other = SentenceTransformerEmbedder("some-other-model")  # never loaded: refused before any query
    with pytest.raises(IndexStoreError, match="built with the model .* run `python -m index build`"):
        LiveIndex(seed_build.index_dir, other).retriever()


@pytest.mark.unit
def test_a_source_deleted_after_listing_is_a_skipped_file(tmp_path):
    from index.errors import SourceUnreadable
    from index.sources import load_document

    with pytest.raises(SourceUnreadable, match="cannot read file"):
        load_document(tmp_path / "gone.txt", "gone.txt")


@pytest.mark.unit
def test_a_stray_quote_mark_neither_merges_a_text_into_one_sentence_nor_slows_the_split():
    from index.chunking import split_sentences

    text = 'He said "no. ' + " ".join(f"Sentence number {i} ends here." for i in range(20_000))
    started = time.perf_counter()
    spans = split_sentences(text)
    assert time.perf_counter() - started < 2.0
    assert len(spans) > 19_000


@pytest.mark.unit
def test_a_pdf_that_overflows_the_parser_is_a_skipped_file(tmp_path):
    from evals.faults.fuzz import NESTED_ARRAYS_PDF, pdf_file

    (tmp_path / "nested.pdf").write_bytes(NESTED_ARRAYS_PDF)  # pypdf recurses once per array
    (tmp_path / "plain.pdf").write_bytes(pdf_file(b"BT /F1 12 Tf 72 700 Td (The frigate budget grew.) Tj ET"))
    documents, skipped = load_documents(tmp_path)
    assert [d.text for d in documents] == ["The frigate budget grew."]
    assert [(s.path, s.reason) for s in skipped] == [("nested.pdf", "could not be read (RecursionError)")]


@pytest.mark.integration
def test_a_build_clears_what_a_killed_build_left_half_written(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    dead = fresh_build.index_dir / "versions" / ".staging-20250101T000000-1-000001"
    dead.mkdir()
    (dead / "chunk_vectors.npy").write_bytes(b"\0" * 10_000)
    vectors_left = fresh_build.index_dir / f"{SCRATCH_PREFIX}1"  # a killed build's vector files
    vectors_left.mkdir()
    (vectors_left / "sentences.f32").write_bytes(b"\0" * 10_000)
    (fresh_build.sources_dir / "new.txt").write_text("A new note about frigates.\n", encoding="utf-8")
    rebuild(fresh_build, embedder)
    assert not dead.exists() and not vectors_left.exists()
    assert not list(fresh_build.index_dir.glob(SCRATCH_PREFIX + "*"))  # its own are gone too
    assert "new.txt" in load_snapshot(fresh_build.index_dir).documents


@pytest.mark.unit
def test_vectors_written_in_any_order_read_back_in_row_order(tmp_path):
    (tmp_path / "scratch").mkdir()
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4)
    out = VectorFile(tmp_path / "scratch" / "v.f32", rows=5)
    out.write(3, vectors[3:])
    out.write(0, vectors[:2])
    out.write(2, vectors[2:3])
    assert np.array_equal(out.finish(), vectors)
    assert VectorFile(tmp_path / "scratch" / "none.f32", rows=0).finish().shape == (0, 0)


@pytest.mark.unit
def test_rows_copied_from_another_vector_file_by_the_kernel_and_the_file_linked_into_a_snapshot(tmp_path):
    (tmp_path / "scratch").mkdir()
    np.save(tmp_path / "before.npy", np.arange(40, dtype=np.float32).reshape(10, 4))
    before = mapped_array(tmp_path / "before.npy")
    carried = np.array([-1, 4, 5, 6, 7, -1, 0, 1, 9])
    assert carried_runs(carried) == [(1, 4, 4), (6, 0, 2), (8, 9, 1)]
    out = VectorFile(tmp_path / "scratch" / "v.npy", rows=len(carried))
    source = mapped_file(before)
    assert source is not None and mapped_file(before[2:]) is None  # only a whole file is a source
    for row, previous_row, count in carried_runs(carried):
        assert out.copy_rows(source, previous_row, row, count, dimension=4)
    out.write(0, np.full((1, 4), -1, dtype=np.float32))
    out.write(5, np.full((1, 4), -5, dtype=np.float32))
    vectors = out.finish()
    assert np.array_equal(vectors[carried >= 0], before[carried[carried >= 0]])
    assert vectors[0, 0] == -1 and vectors[5, 0] == -5
    save_array(tmp_path / "linked.npy", vectors)  # the store's way: a link to the same file
    assert os.path.samefile(tmp_path / "linked.npy", tmp_path / "scratch" / "v.npy")
    assert np.array_equal(np.load(tmp_path / "linked.npy"), vectors)
    save_array(tmp_path / "copied.npy", vectors[1:])  # part of a file: written out
    assert not os.path.samefile(tmp_path / "copied.npy", tmp_path / "scratch" / "v.npy")
    assert np.array_equal(np.load(tmp_path / "copied.npy"), vectors[1:])


@pytest.mark.unit
def test_a_vector_file_on_a_full_disk_is_a_write_failure_not_a_crash(tmp_path):
    """A file size limit makes `pwrite` fail as a full disk does (EFBIG instead of ENOSPC)."""
    script = f"""
import resource, signal, sys
import numpy as np
from pathlib import Path
from index.errors import IndexWriteFailed
from index.vector_files import VectorFile
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
out = VectorFile(Path({str(tmp_path / "scratch" / "v.f32")!r}), rows=100)
try:
    out.write(0, np.ones((100, 384), dtype=np.float32))
except IndexWriteFailed as exc:
    print(exc)
"""
    (tmp_path / "scratch").mkdir()
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stdout.startswith(f"could not write the index in {tmp_path} (File too large)")


@pytest.mark.unit
@pytest.mark.parametrize("form, lemma", [("sent", "send"), ("went", "go"), ("bought", "buy"), ("men", "man")])
def test_an_irregular_form_meets_its_lemma(form, lemma):
    assert normalise(f"They {form} it") == normalise(f"They {lemma} it")


@pytest.mark.unit
def test_source_hashes_are_reread_only_for_files_that_changed(tmp_path):
    sources, cache = tmp_path / "sources", tmp_path / "index" / "source-hashes.json"
    sources.mkdir()
    (tmp_path / "index").mkdir()
    note = sources / "note.txt"
    note.write_text("The summit was held in The Hague.\n", encoding="utf-8")
    old = time.time_ns() - 60 * 10**9  # written a minute ago: not a "racy" file
    os.utime(note, ns=(old, old))
    first = source_hashes(sources, cache)
    assert cache.exists() and first == source_hashes(sources)  # the same hashes as without a cache

    # Same size, same modification time: the cache is trusted (the file is not read again).
    note.write_text("The summit was held in The Haguf.\n", encoding="utf-8")
    os.utime(note, ns=(old, old))
    assert source_hashes(sources, cache) == first
    # A new modification time: read again.
    os.utime(note, ns=(old + 10**9, old + 10**9))
    assert source_hashes(sources, cache) != first
    # A file changed just now (within the racy window of the cache's writing) is always read.
    (sources / "fresh.txt").write_text("One.\n", encoding="utf-8")
    source_hashes(sources, cache)
    (sources / "fresh.txt").write_text("Two.\n", encoding="utf-8")
    assert source_hashes(sources, cache)["fresh.txt"] == source_hashes(sources)["fresh.txt"]
    # A damaged cache is ignored and replaced.
    cache.write_text("{not json", encoding="utf-8")
    assert source_hashes(sources, cache) == source_hashes(sources)
    assert "entries" in cache.read_text(encoding="utf-8")
