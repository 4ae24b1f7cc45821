"""Resolve a follow-up ("and Ishiba?", "what about Australia?") against the previous question.

Two kinds of follow-up are recognised:
- a short "and X?" / "what about X?": X takes the place of the previous question's main subject
  ("Why did Albanese stay away?" + "and Ishiba?" -> "Why did Ishiba stay away?");
- a question that leans on a pronoun and names no subject of its own ("and what is expected of it
  now?"): the pronoun is replaced by the previous question's subject, and the previous question
  stays the conversation's topic: it is searched along with the follow-up ("How much does South
  Korea spend on defence?" + "what is expected of it now?" looks for what is expected of its
  spending), and its words count as the follow-up's own when judging evidence.
Anything else is a new question and is searched as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LEAD = re.compile(r"^(?:and|but|also|so)?\s*(?:what|how)\s+about\s+|^(?:and|but|also|so)\s+", re.IGNORECASE)
_WH = re.compile(
    r"^(who|whom|what|when|where|why|which|how|did|does|do|is|are|was|were|can|could)\b", re.IGNORECASE
)
_PRONOUN = re.compile(r"\b(he|she|they|him|her|them|it|his|hers|their|its)\b", re.IGNORECASE)
_NAME = re.compile(r"\b(?:[A-Z][\w'’-]*\s?)+")
_SKIP_NAMES = {
    "Why",
    "What",
    "Who",
    "Whom",
    "When",
    "Where",
    "Which",
    "How",
    "Did",
    "Does",
    "Do",
    "Is",
    "Are",
    "I",
    "The",
    "And",
    "But",
    "What about",
    "How about",
}
_AUXILIARY_NAME = re.compile(
    r"\b(?:does|did|do|is|are|was|were|has|have|had|will|would|can|could|should)\s+((?:[A-Z][\w'’-]*\s?)+)"
)
MAX_FOLLOWUP_WORDS = 10


def main_subject(question: str) -> str | None:
    """The name right after the auxiliary verb ("What share of GDP does South Korea spend?" ->
    "South Korea"), else the first run of capitalised words that is not a question word."""
    after_auxiliary = _AUXILIARY_NAME.search(question)
    if after_auxiliary:
        return _bare_name(after_auxiliary.group(1))
    for match in _NAME.finditer(question):
        words = [w for w in match.group().split() if w not in _SKIP_NAMES]
        if words:
            return _bare_name(" ".join(words))
    return None


@dataclass(frozen=True)
class Resolved:
    """A question made self-contained, and the earlier question it continues, if any."""

    question: str
    topic: str | None = None

    @property
    def search_text(self) -> str:
        return f"{self.question} {self.topic}" if self.topic else self.question


def _bare_name(words: str) -> str:
    """ "Japan's " -> "Japan"; "Marles" keeps its s."""
    return re.sub(r"['’]s$", "", words.strip().rstrip("?"))


def resolve_followup(question: str, previous: str | None) -> Resolved:
    """The question to search for, given the previous (already resolved) question, if any."""
    if not previous or len(question.split()) > MAX_FOLLOWUP_WORDS:
        return Resolved(question)
    subject = main_subject(previous)
    lead = _LEAD.match(question)
    rest = question[lead.end() :].strip(" ,?!.") if lead else ""
    if lead and rest and not _WH.match(rest):
        if subject and subject in previous:
            return Resolved(previous.replace(subject, rest, 1))
        return Resolved(f"{previous.rstrip('?')} {rest}?")
    body = rest or question
    if subject and _PRONOUN.search(body) and not main_subject(body[0].lower() + body[1:]):
        return Resolved(_PRONOUN.sub(subject, body, count=1).rstrip("?") + "?", topic=previous)
    return Resolved(question)
