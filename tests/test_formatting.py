"""Formatting answers for Telegram: escaping, footnotes, and splitting under 4,096 characters."""

from __future__ import annotations

import re

import pytest

from bot.formatting import TELEGRAM_LIMIT, to_plain_text, to_telegram_html
from bot.models import Answer, Citation

pytestmark = pytest.mark.unit


def make_answer(sentences: int, quote_chars: int = 700) -> Answer:
    citations = [
        Citation(
            n=n,
            source="s.txt",
            title=f"Title <{n}> & co",
            publisher="P",
            date="2025-06-30",
            url="https://example.org/a?b=1&c=2" if n == 1 else "",
            quote=f"Quote {n} " + "x" * quote_chars,
            start=0,
            end=5,
        )
        for n in range(1, sentences + 1)
    ]
    text = " ".join(f"Sentence {n} says <b>{n}</b>. [{n}]" for n in range(1, sentences + 1))
    return Answer(question="q", resolved_question="q", answer=text, abstained=False, citations=citations)


def test_html_is_escaped_and_footnotes_quote_their_source():
    [message] = to_telegram_html(make_answer(2, quote_chars=20))
    assert "Sentence 1 says &lt;b&gt;1&lt;/b&gt;. [1]" in message
    assert '<a href="https://example.org/a?b=1&amp;c=2">Title &lt;1&gt; &amp; co</a>' in message
    assert message.count("<blockquote expandable>") == 2


def test_long_answers_split_with_each_citation_beside_its_footnote():
    answer = make_answer(12, quote_chars=850)
    for messages in (to_telegram_html(answer), to_plain_text(answer)):
        assert len(messages) > 1 and all(len(m) < TELEGRAM_LIMIT for m in messages)
        for message in messages:
            body, _, sources = message.partition("Sources")
            markers = set(re.findall(r"\[(\d+)\]", body))
            footnotes = set(re.findall(r"^\[(\d+)\]", sources, flags=re.MULTILINE))
            assert markers and markers == footnotes
        assert sum(m.count("Sentence ") for m in messages) == 12


def test_abstention_is_plain_escaped_text():
    answer = Answer(
        question="<x>", resolved_question="<x>", answer="The sources don't say <x>.", abstained=True
    )
    assert to_telegram_html(answer) == ["The sources don't say &lt;x&gt;."]


def test_an_answer_built_on_a_giant_sentence_still_fits_a_message():
    giant = "word " * 1200
    citation = Citation(n=1, source="s.txt", title="T", quote=giant, start=0, end=len(giant))
    answer = Answer(
        question="q",
        resolved_question="q",
        answer=f"{giant.strip()} [1]",
        abstained=False,
        citations=[citation],
    )
    for messages in (to_telegram_html(answer), to_plain_text(answer)):
        assert messages and all(len(m) <= TELEGRAM_LIMIT for m in messages)
        assert "[1]" in messages[0]


def test_votes_older_than_the_retention_are_forgotten_and_the_file_stays_private(tmp_path):
    import json

    from bot.feedback import FeedbackStore
    from bot.models import Answer

    path = tmp_path / "feedback.jsonl"
    old = {"time": "2020-01-01T00:00:00Z", "vote": "down", "user_id": 7, "question": "old"}
    path.write_text(json.dumps(old) + "\n" + '{"time": "2020-01-0', encoding="utf-8")  # and a torn line
    store = FeedbackStore(path, retention_days=30)
    key = store.remember(Answer(question="new", resolved_question="new", answer="x", abstained=True), 1)
    assert store.record(key, "up", user_id=8)
    votes = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [v["question"] for v in votes] == ["new"]
    assert path.stat().st_mode & 0o777 == 0o600
