"""Resolve a follow-up ("and Ishiba?", "what about Australia?") against the previous question.

Two kinds of follow-up are recognised:
- a short "and X?" / "what about X?": X takes the place of the previous question's main subject
  ("Why did Albanese stay away?" + "and Ishiba?" -> "Why did Ishiba stay away?");
- a question that leans on a pronoun and names no subject of its own ("and what is expected of it
  now?"): the pronoun is replaced by the previous question's subject.
Anything else is a new question and is searched as it is.
"""

from __future__ import annotations

import re

_LEAD = re.compile(r"^(?:and|but|also|so)?\s*(?:what|how)\s+about\s+|^(?:and|but|also|so)\s+", re.IGNORECASE)
_WH = re.compile(r"^(who|whom|what|when|where|why|which|how|did|does|do|is|are|was|were|can|could)\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(he|she|they|him|her|them|it|his|hers|their|its)\b", re.IGNORECASE)
_NAME = re.compile(r"\b(?:[A-Z][\w'’-]*\s?)+")
_SKIP_NAMES = {"Why", "What", "Who", "Whom", "When", "Where", "Which", "How", "Did", "Does", "Do", "Is", "Are", "I",
               "The", "And", "But", "What about", "How about"}
MAX_FOLLOWUP_WORDS = 10


def main_subject(question: str) -> str | None:
    """The first run of capitalised words that is not a question word: "Albanese", "New Zealand"."""
    for match in _NAME.finditer(question):
        words = [w for w in match.group().split() if w not in _SKIP_NAMES]
        if words:
            return " ".join(words).rstrip("?'’s")
    return None


def resolve_followup(question: str, previous: str | None) -> str:
    """The question to search for, given the previous (already resolved) question, if any."""
    if not previous or len(question.split()) > MAX_FOLLOWUP_WORDS:
        return question
    subject = main_subject(previous)
    lead = _LEAD.match(question)
    rest = question[lead.end():].strip(" ,?!.") if lead else ""
    if lead and rest and not _WH.match(rest):
        if subject and subject in previous:
            return previous.replace(subject, rest, 1)
        return f"{previous.rstrip('?')} {rest}?"
    body = rest or question
    if subject and _PRONOUN.search(body) and not main_subject(body[0].lower() + body[1:]):
        return _PRONOUN.sub(subject, body, count=1).rstrip("?") + "?"
    return question
