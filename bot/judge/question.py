"""What a question asks for, read from spaCy's parse: its wh-word and the noun it asks about.

"Which automaker has overtaken Tesla?" -> wh "which", focus "automaker"; "How many troops did
South Korea send?" -> "how many", "troop"; "What is the name of the aircraft ...?" -> "what",
"aircraft". `bot.judge.answer_types` turns these into the kinds of entity the answer may be.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import lru_cache

from bot import early
from index.batching import Batcher
from index.entities import load_spacy

WH_WORDS = ("who", "whom", "whose", "what", "which", "when", "where", "why", "how")
HOW_PHRASES = ("many", "much", "long", "old", "far", "big", "large", "often", "high", "tall")
# Nouns that name the form of the answer, not its kind: "the name of the aircraft" asks for an aircraft.
FORM_NOUNS = {"name", "type", "kind", "sort", "one", "title", "term"}
# Words that may stand between a wh-word and its noun: "which sexually transmitted disease",
# "which popular first-person shooter franchise", "which 2025 film".
MODIFIER_POS = ("ADJ", "ADV", "NUM")
MODIFIER_TAGS = ("VBN", "VBG")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class QuestionAnalysis:
    wh: str  # "who", "which", "how many", ... ; "" when the question has no wh-word
    focus: str  # lemma of the noun asked about ("automaker"); "" when there is none
    entity_texts: tuple[str, ...]  # lower-cased names the question itself contains
    present_tense: bool = False  # "Who is ...?", "How many people live ...?": about a present state

    @property
    def key(self) -> str:
        return f"{self.wh}|{self.focus}"


@lru_cache(maxsize=1)
def _parser():
    return load_spacy(exclude=["senter"])  # disabled in this pipeline anyway: not even read from disk


def analyse_many(questions: list[str]) -> list[QuestionAnalysis]:
    """The analysis of each question; those a one-shot `bot ask` started early come from there."""
    found = {q: analysis for q in questions if (analysis := early.take(q)) is not None}
    rest = [q for q in questions if q not in found]
    if rest:
        found.update(zip(rest, parse(rest)))
    return [found[q] for q in questions]


def parse(questions: list[str]) -> list[QuestionAnalysis]:
    """Parse the questions here, now."""
    with _LOCK:
        return [analyse_doc(doc) for doc in _parser().pipe(questions, batch_size=64)]


# A busy bot parses the questions of concurrent chats together: one `pipe` over several questions
# costs about half as much as parsing them one by one (see `index.batching`).
analyse = Batcher(analyse_many)


def analyse_doc(doc) -> QuestionAnalysis:
    """The analysis of a parsed question (a spaCy `Doc`)."""
    present = any(t.tag_ in ("VBZ", "VBP") for t in doc) and not any(t.tag_ == "VBD" for t in doc)
    return replace(_wh_and_focus(doc), present_tense=present)


def _wh_and_focus(doc) -> QuestionAnalysis:
    names = tuple(dict.fromkeys(e.text.lower() for e in doc.ents))
    wh_token = next((t for t in doc if t.lower_ in WH_WORDS), None)
    if wh_token is None:
        return QuestionAnalysis("", "", names)
    wh = wh_token.lower_
    following = doc[wh_token.i + 1] if wh_token.i + 1 < len(doc) else None
    if wh == "how" and following is not None and following.lower_ in HOW_PHRASES:
        wh = f"how {following.lower_}"
        if following.lower_ in ("many", "much") and following.head.pos_ in ("NOUN", "PROPN"):
            return QuestionAnalysis(wh, following.head.lemma_.lower(), names)
        return QuestionAnalysis(wh, "", names)
    if (
        wh in ("what", "which", "whose")
        and wh_token.dep_ in ("det", "poss", "attr")
        and wh_token.head.pos_
        in (
            "NOUN",
            "PROPN",
        )
        and wh_token.head.i != wh_token.i
    ):
        return QuestionAnalysis(wh, _form_of(wh_token.head), names)
    if wh in ("what", "which", "whose") and (noun := _noun_after(wh_token)) is not None:
        return QuestionAnalysis(wh, _form_of(noun), names)
    if wh in ("what", "which"):
        return QuestionAnalysis(wh, _copula_focus(doc, wh_token), names)
    return QuestionAnalysis(wh, "", names)


def _noun_after(wh_token):
    """The noun a wh-word stands before, read from the words alone: "... a deal with which electronics
    giant to make ...?" -> giant. News quizzes ask in place like this, and the small English model
    then parses "which" as the preposition's object, not as the noun's determiner."""
    noun = None
    for token in wh_token.doc[wh_token.i + 1 :]:
        if token.pos_ in ("NOUN", "PROPN"):
            noun = token
        elif not (token.pos_ in MODIFIER_POS or token.tag_ in MODIFIER_TAGS or token.text == "-"):
            break
    return noun


def _copula_focus(doc, wh_token) -> str:
    """ "What is the name of the aircraft ...?" -> aircraft; "What company ...?" was handled above."""
    root = doc[wh_token.i :].root if wh_token.i < len(doc) else doc.root
    for token in root.children:
        if token.dep_ in ("nsubj", "attr", "nsubjpass") and token.pos_ == "NOUN" and token.i != wh_token.i:
            return _form_of(token)
    return ""


def _form_of(noun) -> str:
    """The noun itself, or what it is the name of: "name of the aircraft" -> aircraft."""
    if noun.lemma_.lower() in FORM_NOUNS:
        for prep in (c for c in noun.children if c.dep_ == "prep" and c.lower_ == "of"):
            objects = [c for c in prep.children if c.dep_ == "pobj"]
            if objects:
                return objects[0].lemma_.lower()
    return noun.lemma_.lower()
