"""The hand-written answer rules the project began with, kept as two features of the fitted model
(`rule_support`, `rule_answers`), not as the decision: on the seed documents they encode what the
eval sets taught (a number that is not a date, a span of time for "how long", a person's name after a
title); elsewhere the model weighs them against everything else.

The support score: `SIM_WEIGHT * cosine + COVERAGE_WEIGHT * term coverage + CONTEXT_WEIGHT * passage
coverage + ENTITY_WEIGHT * entity share`, plus `REASON_BONUS` for a causal connective in answer to
"why" and `OPINION_BONUS` for a reported view when "according to analysts" is asked. A sentence
passes when the question's names are found, it holds the kind of answer asked for, it is grounded in
the question's words, it is no question itself, and its support reaches `ANSWER_THRESHOLD`.
"""

from __future__ import annotations

import re

from bot.judge.signals import DATE_EXPRESSION, MONTHS, NUMBER_WORDS_COUNTING, QuestionProfile
from index.lexical import normalise
from index.places import is_place

SIM_WEIGHT = 0.5
COVERAGE_WEIGHT = 0.2
CONTEXT_WEIGHT = 0.1
ENTITY_WEIGHT = 0.2
ANSWER_THRESHOLD = 0.3
MIN_TERM_COVERAGE = 0.15
STRONG_SIMILARITY = 0.54
ENTITY_SIMILARITY = 0.48  # enough for a sentence that itself names one of the question's entities
REASON_BONUS = 0.15
OPINION_BONUS = 0.15
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = NUMBER_WORDS_COUNTING + "|half|twice|double|percent"
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I)
_TIME_UNITS = r"(days?|weeks?|months?|years?|decades?|centuries|century)"
# A span of time: "since October 2024", "for three years", "from 2010 to 2019"; not a date alone.
_HAS_DURATION = re.compile(
    rf"(?i:\b(since|until|till)\b|\bfrom (\d|{MONTHS})[^.]{{0,20}}\b(to|"
    rf"until) (\d|{MONTHS})|\b(\d[\d.,]*|{NUMBER_WORDS_COUNTING}|several|"
    rf"many|few)(\s+\w+)?\s+{_TIME_UNITS}\b)"
)
# A date, or a time relative to one: "in the next four to seven years", "three days before the summit",
# "on Wednesday", "last month" (news dates events by the day it was written; `bot.timeline.relative`
# resolves them). "In the past two decades" is a span, not a point in time.
_HAS_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d|{MONTHS}|{WEEKDAYS})\b|(?i:\b(yesterday|tomorrow|(last|next) (week|month|year))\b)"
    rf"|(?i:\b(days?|weeks?|months?|"
    rf"years?|decades?) (before|after|ago|later|earlier)\b|\b(in|within) the (next|"
    rf"coming) ([\w-]+ ){{0,3}}(days|weeks|months|years|decades)\b)"
)
_TITLE = (
    r"(?:President|Minister|Secretary|Chancellor|Dr\.|Mr\.|Ms\.|Mrs\.|"
    r"Prof\.|advisor|adviser|General|Chairman|Director|Fellow|spokesperson|"
    r"Ambassador)"
)
QUESTION_NOUNS = ("question", "query")
_CLOSERS = " \t\n\"'”’)]»"
_NAME = r"[A-Z][a-z]+(?:[- ][A-Z][\w-]+)+"
# A person's name: after a title ("Defense Minister Richard Marles"), or introduced as one
# ("Christopher Johnstone from ...", "Lee Jae-Myung, who ..."); "South Korea, Japan" is not one, and
# neither is a country or city ("New Zealand of the four partners").
_HAS_PERSON = re.compile(
    rf"{_TITLE}\s+{_NAME}|\b(?P<introduced>{_NAME})(?:,? (?:who|from|of the)\b|, (?:a|an|the) )"
)


def rule_support(
    similarity: float,
    coverage: float,
    context_coverage: float,
    entity_share: float,
    reason: bool,
    opinion: bool,
) -> float:
    return (
        SIM_WEIGHT * similarity
        + COVERAGE_WEIGHT * coverage
        + CONTEXT_WEIGHT * context_coverage
        + ENTITY_WEIGHT * entity_share
        + (REASON_BONUS if reason else 0.0)
        + (OPINION_BONUS if opinion else 0.0)
    )


def grounded(profile: QuestionProfile, coverage: float, similarity: float, names_here: int) -> bool:
    """Questions other than "why" need the sentence grounded in the question's words."""
    return (
        profile.answer_type == "reason"
        or not profile.terms
        or coverage >= MIN_TERM_COVERAGE
        or similarity >= STRONG_SIMILARITY
        or names_here >= 2
        or (similarity >= ENTITY_SIMILARITY and names_here >= 1)
    )


def asserts(sentence: str, focus: str) -> bool:
    """Whether the sentence may answer a question about `focus`: one that is itself a question ("What
    is the boycott about?", a news article's subheading) asserts nothing, so it answers only a
    question about a question ("What central question do they face?")."""
    return not sentence.rstrip(_CLOSERS).endswith("?") or focus in QUESTION_NOUNS


def has_answer_kind(answer_type: str, sentence: str) -> bool:
    if answer_type == "number":
        return bool(_HAS_NUMBER.search(DATE_EXPRESSION.sub(" ", sentence)))
    if answer_type == "duration":
        return bool(_HAS_DURATION.search(sentence))
    if answer_type == "person":
        return bool(person_names(sentence))
    pattern = {"date": _HAS_DATE}.get(answer_type)
    return pattern is None or bool(pattern.search(sentence))


def person_names(sentence: str) -> list[str]:
    """The names the sentence gives as people's: after a title, or introduced ("Lee Jae-Myung, who")."""
    names = []
    for match in _HAS_PERSON.finditer(sentence):
        if not match["introduced"]:
            names.append(re.sub(rf"^{_TITLE}\s+", "", match.group(0)))
        elif not is_place(tuple(normalise(match["introduced"]))):
            names.append(match["introduced"])
    return names
