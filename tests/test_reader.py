"""The reader: its training pairs, its shipped adapters, and the exported cross-encoder's scores."""

from __future__ import annotations

import json
import logging
import random
from datetime import date

import numpy as np
import pytest

from bot.answering import Answerer, AnswerOptions
from bot.judge.reader import READER_FILE, load_reader, reader_folder
from evals.fit_reader import _question_pairs, _sentences
from index.retriever import LiveIndex

CONTEXT = (
    "The summit was held in The Hague in June. Australia's prime minister did not attend. "
    "Instead the government sent Defence Minister Richard Marles, who met allied ministers there. "
    "Marles said the alliance mattered."
)
QUESTION = {"question": "Who did Australia send to the summit?", "answers": [{"text": "Richard Marles",
            "answer_start": CONTEXT.index("Richard Marles")}]}  # fmt: skip


@pytest.mark.unit
def test_the_sentence_holding_the_answer_is_the_one_positive():
    sentences = [_sentences(CONTEXT), _sentences("Other paragraph. The summit ended on a Friday.")]
    pairs = _question_pairs(0, 0, sentences, QUESTION, random.Random(0))
    positives = [p.sentence for p in pairs if p.label == 1.0]
    assert positives == [
        "Instead the government sent Defence Minister Richard Marles, who met allied ministers there."
    ]
    negatives = [p.sentence for p in pairs if p.label == 0.0]
    assert "Marles said the alliance mattered." in negatives  # names Marles, but not the answer span
    assert "The summit ended on a Friday." in negatives  # the other paragraph's most overlapping one
    assert all("Richard Marles" not in n for n in negatives)


@pytest.mark.unit
def test_the_shipped_reader_is_small_and_says_how_it_was_fitted():
    assert READER_FILE.stat().st_size < 3_000_000
    about = json.loads(np.load(READER_FILE)["about"].tobytes())
    held_out = about["held_out"]
    # Fitted on other articles than it is measured on, and better there than the bi-encoder's cosine.
    assert held_out["reader"]["answer_first"] > held_out["cosine"]["answer_first"]


@pytest.fixture(scope="module")
def reader_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("reader")


@pytest.fixture(scope="module")
def reader(reader_dir):
    return load_reader(reader_dir)


@pytest.mark.integration
def test_the_reader_prefers_the_sentence_that_answers_over_ones_on_the_topic(reader):
    scores = reader.scores(
        "Who did Australia send to the NATO summit instead of the prime minister?",
        [
            "Australia's prime minister did not attend the NATO summit in The Hague.",
            "Australia sent Defence Minister Richard Marles to the summit in place of the prime minister.",
            "The NATO summit agreed to raise defence spending to 5% of GDP.",
        ],
    )
    assert scores.shape == (3,)
    assert int(np.argmax(scores)) == 1


@pytest.mark.integration
def test_the_export_is_made_once_and_named_by_the_weights(reader, tmp_path):
    folder = reader_folder(tmp_path)
    assert folder.name.startswith("reader-") and not folder.exists()
    load_reader(tmp_path)
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    again = load_reader(tmp_path)  # exported already: only opened
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp
    np.testing.assert_allclose(
        again.scores("Who won?", ["The Lakers won the final."]),
        reader.scores("Who won?", ["The Lakers won the final."]),
        rtol=1e-5,
    )


@pytest.mark.integration
def test_the_int8_export_keeps_the_fitted_models_scores(reader):
    from evals.fit_reader import Pair, load_fitted, scores, tokenizer_for
    from index.embedding import DEFAULT_MODEL, resolve_model_path

    question = "Which automaker overtook Tesla in electric car sales?"
    sentences = [
        "BYD overtook Tesla as the world's largest seller of electric cars last quarter.",
        "Tesla's shares fell 5% on Tuesday.",
        "The Tesla Semi was unveiled in 2017.",
        "Electric car sales grew in Europe and China.",
    ]
    pairs = [Pair(question, s, 0.0, 0) for s in sentences]
    full = scores(load_fitted(), tokenizer_for(resolve_model_path(DEFAULT_MODEL)), pairs)
    exported = reader.scores(question, sentences)
    assert np.corrcoef(full, exported)[0, 1] > 0.98
    assert int(np.argmax(exported)) == int(np.argmax(full)) == 0


@pytest.mark.integration
def test_the_reader_policy_answers_from_the_seed_index(seed_build, embedder, reader, reader_dir):
    answerer = Answerer(
        LiveIndex(seed_build.index_dir, embedder), AnswerOptions(judge="reader", reader_dir=reader_dir)
    )
    answer = answerer.answer("Why did Albanese skip the NATO summit?", as_of=date(2025, 7, 1))
    assert not answer.abstained and answer.citations
    source = (seed_build.sources_dir / answer.citations[0].source).read_text(encoding="utf-8")
    assert answer.citations[0].quote in source


@pytest.mark.integration
def test_without_a_reader_the_judge_decides_by_the_rules_and_says_so(seed_build, embedder, tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the reader's folder should be")
    live = LiveIndex(seed_build.index_dir, embedder)
    by_reader = Answerer(live, AnswerOptions(judge="reader", reader_dir=blocked))
    by_rules = Answerer(live, AnswerOptions(judge="rules"))
    question = "Who did Australia send to the NATO summit?"
    with caplog.at_level(logging.WARNING):
        answer = by_reader.answer(question, as_of=date(2025, 7, 1))
    assert "the reader is unavailable" in caplog.text
    assert answer.answer == by_rules.answer(question, as_of=date(2025, 7, 1)).answer
