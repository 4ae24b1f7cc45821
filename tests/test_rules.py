"""The answering core's pure rules, each in milliseconds: question cleaning, follow-ups, score
fusion, and the answer-judging rules. No model, no index."""

from __future__ import annotations

import numpy as np
import pytest

from bot.errors import BadQuestion
from bot.evidence import answer_kind, counted_noun, has_answer_kind, names_other_role, qualified_role
from bot.followup import main_subject, resolve_followup
from bot.questions import clean_question
from index.lexical import term_set
from index.retriever import LEXICAL_WEIGHT, fuse

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Why did   Albanese skip\nthe summit? ", "Why did Albanese skip the summit?"),
        ("<b>Who</b> went?", "Who went?"),
        ("<script>alert(1)</script>Who went?", "Who went?"),
        ("**Who** _went_?", "Who went?"),
        ("Who &amp; why?", "Who & why?"),
    ],
)
def test_questions_are_cleaned_to_plain_text(raw, expected):
    assert clean_question(raw, max_chars=1000) == expected


@pytest.mark.parametrize(
    "raw, says",
    [
        ("", "in words"),
        ("   ", "in words"),
        ("<br>", "in words"),
        ("🙂 ?!", "emoji"),
        ("x" * 1001, "1,001 characters"),
        ("Почему Албанезе не приехал?", "English"),
    ],
)
def test_bad_questions_are_refused_with_a_reason(raw, says):
    with pytest.raises(BadQuestion, match=says):
        clean_question(raw, max_chars=1000)


@pytest.mark.parametrize(
    "question, previous, resolved, topic",
    [
        ("and Ishiba?", "Why did Albanese stay away?", "Why did Ishiba stay away?", None),
        ("what about Australia?", "Who represented New Zealand?", "Who represented Australia?", None),
        (
            "and what is expected of it now?",
            "How much does South Korea spend on defence?",
            "what is expected of South Korea now?",
            "How much does South Korea spend on defence?",
        ),
        ("Who is Mark Rutte?", "Why did Albanese stay away?", "Who is Mark Rutte?", None),
        ("and Ishiba?", None, "and Ishiba?", None),
    ],
)
def test_follow_ups_are_resolved_against_the_previous_question(question, previous, resolved, topic):
    result = resolve_followup(question, previous)
    assert (result.question, result.topic) == (resolved, topic)


def test_the_subject_is_the_name_after_the_auxiliary():
    assert main_subject("What share of GDP does South Korea spend on defence?") == "South Korea"
    assert main_subject("Why did Japan's Ishiba stay away?") == "Japan's Ishiba"
    assert main_subject("why did they go?") is None


def test_fusion_adds_scaled_bm25_to_the_dense_score():
    dense, lexical = np.array([0.5, 0.3, 0.1]), np.array([0.0, 8.0, 4.0])
    fused = fuse(dense, lexical, top_lexical=8.0)
    assert np.allclose(fused, [0.5, 0.3 + LEXICAL_WEIGHT, 0.1 + LEXICAL_WEIGHT / 2])
    assert np.allclose(fuse(dense, np.zeros(3), top_lexical=0.0), dense)  # no lexical match: dense alone


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many frigates will Australia buy?", "number"),
        ("What share of GDP does Seoul spend?", "number"),
        ("How long has he been in office?", "duration"),
        ("When was the group set up?", "date"),
        ("By what year should allies spend 5%?", "date"),
        ("Who represented New Zealand?", "person"),
        ("Why did Albanese skip the summit?", "reason"),
        ("What did the summit decide?", "other"),
    ],
)
def test_questions_are_typed_by_the_answer_they_ask_for(question, kind):
    assert answer_kind(question) == kind


@pytest.mark.parametrize(
    "kind, sentence, answers",
    [
        ("number", "Seoul allocates around 2.3% of GDP to defence.", True),
        ("number", "The summit took place on 24 June 2025.", False),  # a date is not a quantity
        ("duration", "He has led the party since October 2024.", True),
        ("duration", "He was elected in October 2024.", False),
        ("date", "The group was set up in 2023.", True),
        ("date", "The group meets regularly.", False),
        ("person", "He instead sent Defense Minister Richard Marles.", True),
        ("person", "New Zealand of the four partners attended.", False),  # a country is not a person
        ("reason", "Anything at all.", True),  # reasons are judged by support, not by form
    ],
)
def test_a_sentence_must_hold_the_kind_of_answer_asked_for(kind, sentence, answers):
    assert has_answer_kind(kind, sentence) is answers


def test_how_many_counts_the_thing_asked_about():
    assert counted_noun("How many cargo vessels would China need?") == "vessels"
    assert counted_noun("How many people live there?") == "people"
    assert counted_noun("Why did Albanese stay away?") is None


def test_a_role_without_its_qualifier_is_another_role():
    role = qualified_role("Who is Australia's foreign minister?")
    assert role is not None
    assert names_other_role(role, term_set("Australia sent Defense Minister Richard Marles."))
    assert not names_other_role(role, term_set("Foreign Minister Penny Wong met her counterparts."))
    assert qualified_role("Who is the first president?") is None  # a 'when' qualifier is not a role


def test_a_flooding_user_is_told_to_slow_down_once_a_minute():
    from bot.limits import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert [limiter.allow(1) for _ in range(5)] == [True, True, False, False, False]
    assert [limiter.should_warn(1) for _ in range(3)] == [True, False, False]
    now[0] = 61.0
    assert limiter.allow(1) and limiter.should_warn(1)


def test_a_huge_question_is_refused_before_any_pattern_runs():
    import time

    started = time.perf_counter()
    with pytest.raises(BadQuestion, match="characters long"):
        clean_question("<script>" + "a<" * 500_000, max_chars=1000)
    assert time.perf_counter() - started < 0.1
