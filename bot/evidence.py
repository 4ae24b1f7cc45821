"""Decide whether retrieved passages answer a question, and which sentences do.

A cosine threshold alone cannot tell answerable from unanswerable questions here: "What share of
GDP does Japan spend on defence?" is closer to the sources (0.58) than the answerable "why did
albanesse not go to den haag" (0.33). So every candidate sentence is judged on three signals:

1. Entities: every name, place, acronym or number in the question must appear in the sentence's
   context (its section under the same heading, and the document title). A name that appears
   nowhere in the sources ("Zelensky", "2026") means the sources cannot answer; so does a noun the
   question asks about ("the population", "how many troops") that the sources never use.
   Misspellings match by spelling similarity (see `index.lexical`). A long name ("NATO–South Korea
   Defense Industry Consultative Group") needs half of its words, not just "NATO".
2. Answer type: "how many/how much/what share" needs a number in the sentence (a date such as
   "October 2024" is not one), "how long" a span of time ("since 2024"), "when/what year" a date,
   "who" a person's name; the words naming the kind ("what year") are not content the sentence
   must share. "Japan" + a percentage never occur in one sentence, so the question about Japan's
   GDP share is not answered with South Korea's 2.3%. "How many X" needs a number that counts X:
   "won 17 additional seats" counts seats, "in the past two years" does not count drones (a word
   after the number with the same stem, or a word vector within `COUNTED_SIMILARITY`: "200 cargo
   ships" counts vessels). Questions other than "why" also need the sentence grounded in the
   question's words: `MIN_TERM_COVERAGE` of its content words, or a similarity of
   `STRONG_SIMILARITY`, or two of its named entities in the sentence itself, or one of them and a
   similarity of `ENTITY_SIMILARITY`. A sentence naming the role asked about without its qualifier
   does not answer: "Who is Australia's foreign minister?" is not answered with its "Defense
   Minister".
   At least half of the entities (IDF-weighted) must also stand in the sentence itself, the text
   before it in its paragraph, or its heading: a sentence elsewhere in the section is about
   something else. "According to X" names a source, not an entity, and is left out.
3. Support: `SIM_WEIGHT * cosine(question, sentence) + COVERAGE_WEIGHT * term coverage +
   CONTEXT_WEIGHT * chunk term coverage + ENTITY_WEIGHT * entity share near the sentence`, plus
   `REASON_BONUS` for a causal connective in answer to "why", and `OPINION_BONUS` for a reported
   view ("he suspects", "experts estimate") when the question asks "according to analysts"; where
   coverage is the IDF-weighted share of the question's other content words found in the
   sentence (or its chunk). It must reach `ANSWER_THRESHOLD`.

A sentence passing all three is evidence. No evidence: the answer abstains.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import numpy as np

from index.lexical import STOPWORDS, normalise, stem, term_set
from index.models import Chunk, Hit, Span
from index.places import cities_of, countries_of_capital, is_place
from index.retriever import Retriever

SIM_WEIGHT = 0.5
COVERAGE_WEIGHT = 0.2
CONTEXT_WEIGHT = 0.1
ENTITY_WEIGHT = 0.2
ANSWER_THRESHOLD = 0.3
ANSWER_BONUS = 0.2  # in `rank_passages`, for a passage whose sentence answers
MIN_ENTITY_SHARE = 0.5  # IDF-weighted share of the entities near the sentence
NO_ENTITY_SHARE = 0.5  # questions naming nothing are neither helped nor hurt
WINDOW_CHARS = 600
MIN_TERM_COVERAGE = 0.15
STRONG_SIMILARITY = 0.54
ENTITY_SIMILARITY = 0.48  # enough for a sentence that itself names one of the question's entities
REASON_BONUS = 0.15
OPINION_BONUS = 0.15  # for a sentence reporting a view, when the question asks "according to analysts"
_REASON_CUE = re.compile(
    r"\b(because|due to|as a result|in order to|reasons?|therefore|"
    r"so that|so as to|became clear|instead|concentrat\w*|priorit\w*|"
    r"led to|result(ed)? (in|from)|owing to|thanks to|caused by|given that|"
    r"in view of|on account of|motivat\w*)\b",
    re.I,
)
COUNTED_SIMILARITY = 0.5  # "vessels" ~ "ships" (0.6+), "drones" vs "years" (lower)
_WORD_VECTORS: dict[str, np.ndarray] = {}
LONG_NAME = 5  # stems; a name this long is found when half of them are
NAME_SIMILARITY = 0.85  # a lower-case word this close in spelling to a name is taken as that name

_DURATION_Q = re.compile(r"\bhow long\b", re.I)
_NUMBER_Q = re.compile(
    r"\b(how (many|much|large|big|high|far|fast)|what (share|percentage|"
    r"percent|portion|proportion|amount|number)|by how much|how much)\b",
    re.I,
)
_DATE_Q = re.compile(r"\b(when|what year|which year|since when|by what year|what date)\b", re.I)
_PERSON_Q = re.compile(
    r"^\s*(who|whom)\b|\bwhich (minister|leader|official|person|politician|president|expert|analyst)\b", re.I
)
_REASON_Q = re.compile(r"\b(why|what made|what caused|how come|reason)\b", re.I)
_NUMBER_WORDS_COUNTING = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand|million|billion|dozen"
)
_NUMBER_WORDS = _NUMBER_WORDS_COUNTING + "|half|twice|double|percent"
_ELLIPTICAL = re.compile(r"\s+(?:\w+ed|were|was|are|have|had)\b")
_ROLES = (
    r"minister|secretary|president|advis[eo]r|ambassador|general|governor|"
    r"chancellor|director|spokes(?:person|man|woman)|chief|commander|"
    r"chairman|mayor"
)
_QUALIFIED_ROLE = re.compile(rf"(?<![\w'’])(?P<qualifier>[A-Za-z-]+)\s+(?P<role>{_ROLES})\b", re.I)
# Qualifiers of when, not of which role: "the first president" may be called "president" in the answer.
_WHEN_QUALIFIERS = {
    "first",
    "second",
    "third",
    "last",
    "current",
    "former",
    "new",
    "next",
    "previous",
    "late",
    "future",
    "incumbent",
    "sitting",
    "longtime",
    "then",
}
_HOW_MANY = re.compile(r"\bhow many\b", re.I)
_COUNT = re.compile(
    rf"(?:\d[\d.,]*|\b(?:{_NUMBER_WORDS_COUNTING})\b)(?:[\s-]+(?:{_NUMBER_WORDS_COUNTING})\b)*(?P<after>(?:[\s().-]+[^\W\d_]+){{0,4}})",
    re.I,
)
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_TIME_UNITS = r"(days?|weeks?|months?|years?|decades?|centuries|century)"
# A span of time: "since October 2024", "for three years", "from 2010 to 2019"; not a date alone.
_HAS_DURATION = re.compile(
    rf"(?i:\b(since|until|till)\b|\bfrom (\d|{_MONTHS})[^.]{{0,20}}\b(to|"
    rf"until) (\d|{_MONTHS})|\b(\d[\d.,]*|{_NUMBER_WORDS_COUNTING}|several|"
    rf"many|few)(\s+\w+)?\s+{_TIME_UNITS}\b)"
)
# A date, or a time relative to one: "in the next four to seven years", "three days before the summit"
# ("in the past two decades" is a span, not a point in time).
_HAS_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d|{_MONTHS})\b|(?i:\b(days?|weeks?|months?|"
    rf"years?|decades?) (before|after|ago|later|earlier)\b|\b(in|within) the (next|"
    rf"coming) ([\w-]+ ){{0,3}}(days|weeks|months|years|decades)\b)"
)
# A date ("June 24th and 25th June 2025", "since 2022") is not the quantity a "how many" asks for.
_DATE_EXPRESSION = re.compile(
    rf"\b(\d{{1,2}}(st|nd|rd|th)?\s+)?({_MONTHS})(\s+\d{{1,2}}(st|nd|"
    rf"rd|th)?\b)?|\b\d{{1,2}}(st|nd|rd|th)\b|\b(1[89]|20)\d\d\b"
)
_TITLE = (
    r"(?:President|Minister|Secretary|Chancellor|Dr\.|Mr\.|Ms\.|Mrs\.|"
    r"Prof\.|advisor|adviser|General|Chairman|Director|Fellow|spokesperson|"
    r"Ambassador)"
)
_NAME = r"[A-Z][a-z]+(?:[- ][A-Z][\w-]+)+"
# A person's name: after a title ("Defense Minister Richard Marles"), or introduced as one
# ("Christopher Johnstone from ...", "Lee Jae-Myung, who ..."); "South Korea, Japan" is not one, and
# neither is a country or city ("New Zealand of the four partners").
_HAS_PERSON = re.compile(
    rf"{_TITLE}\s+{_NAME}|\b(?P<introduced>{_NAME})(?:,? (?:who|from|of the)\b|, (?:a|an|the) )"
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*|\b\d[\d.,%]*")
_QUESTION_WORDS = {
    "why",
    "what",
    "who",
    "whom",
    "when",
    "where",
    "which",
    "how",
    "did",
    "does",
    "do",
    "is",
    "are",
    "i",
    "was",
    "were",
    "can",
    "could",
    "according",
    "tell",
    "explain",
    "please",
}
_ACCORDING_TO_PEOPLE = re.compile(
    r"\baccording to (?:the )?(?:[\w-]+ )?(?:analysts?|experts?|observers?|"
    r"critics?|commentators?|officials?|researchers?|scholars?|diplomats?)\b|"
    r"\bwhat do (?:the )?(?:analysts|experts|observers|critics) (?:say|"
    r"think)\b",
    re.I,
)
# Someone's view or estimate is reported: "He suspects that ...", "Experts estimate that ...".
_ATTRIBUTED = re.compile(
    r"\b(says?|said|suspects?|believes?|sees|saw|argues?|argued|thinks?|"
    r"thought|estimates?|estimated|warns?|warned|expects?|notes?|noted|"
    r"according to|in (?:his|her|their) view|declared|expressed)\b",
    re.I,
)
_ACCORDING_TO = re.compile(r",?\s*according to\b[^,?]*|\bin the (?:article|brief|release|sources?)\b", re.I)
_DETERMINERS = {"the", "a", "an", "many", "much", "his", "her", "its", "their", "whose"}
_GENERIC = frozenset(
    stem(word)
    for word in """much many according kind type happen main reason cause make made think mean
    source article brief say describe exactly actually really""".split()
)


@dataclass(frozen=True)
class QuestionProfile:
    """What the question asks for: answer type, required entities, other content terms."""

    answer_type: str  # "number" | "duration" | "date" | "person" | "reason" | "other"
    entities: tuple[tuple[str, ...], ...]  # each entity: its stems, any of which may match
    terms: tuple[str, ...]
    unknown: tuple[str, ...] = ()  # words of asked-about nouns the sources never use
    counted: str | None = None  # the noun a "how many" counts: "seats" in "how many seats did ..."
    role: tuple[str, str] | None = None  # a role and its qualifier: ("foreign", "minister")
    wants_opinion: bool = False  # "according to analysts": someone's view is asked for

    def continuing(self, topic: QuestionProfile) -> QuestionProfile:
        """This profile with the content words of the question a follow-up continues."""
        named = {s for e in self.entities for s in e}
        added = tuple(t for t in topic.terms if t not in self.terms and t not in named)
        return replace(self, terms=self.terms + added)


@dataclass(frozen=True)
class Evidence:
    """A sentence judged against the question."""

    chunk: Chunk
    span: Span
    rank: int
    similarity: float
    coverage: float
    entities_found: bool
    entity_share: float
    type_found: bool
    support: float

    @property
    def answers(self) -> bool:
        return self.entities_found and self.type_found and self.support >= ANSWER_THRESHOLD


def profile_question(question: str, retriever: Retriever) -> QuestionProfile:
    """Find the answer type, the entities and the remaining content terms of a question."""
    wants_opinion = bool(_ACCORDING_TO_PEOPLE.search(question))
    question = _ACCORDING_TO.sub("", question)  # names a source, not something the answer must mention
    entities: list[tuple[str, ...]] = []
    for match in _CAPITALISED.finditer(question):
        words = match.group().split()
        if match.start() == 0 and words[0].lower() in _QUESTION_WORDS | STOPWORDS:
            words = words[1:]
        stems = tuple(normalise(" ".join(words)))
        if stems:
            entities.append(stems)
    entity_stems = {s for e in entities for s in e}
    all_lower_case = not entities
    answer_type = answer_kind(question)
    terms = []
    for term in normalise(_without_answer_kind(question, answer_type)):
        if term in entity_stems or term in _GENERIC:
            continue
        if all_lower_case and _looks_like_name(term, retriever):
            entities.append((term,))  # "why did albanesse not go to den haag"
        else:
            terms.append(term)
    unknown = tuple(
        stems[0]
        for stems in _asked_nouns(question)
        if not any(m in retriever.bm25.postings for stem in stems for m, _ in retriever.bm25.expand(stem))
    )
    return QuestionProfile(
        answer_type,
        tuple(dict.fromkeys(entities)),
        tuple(dict.fromkeys(terms)),
        unknown,
        counted_noun(question),
        qualified_role(question),
        wants_opinion,
    )


def qualified_role(question: str) -> tuple[str, str] | None:
    """The qualified role a question asks about: "Australia's foreign minister" -> (foreign, minister).
    A capitalised qualifier ("the Costa Rican President") is a name, checked as an entity."""
    for match in _QUALIFIED_ROLE.finditer(question):
        qualifier = match["qualifier"]
        if (
            qualifier.islower()
            and qualifier not in STOPWORDS
            and qualifier not in _DETERMINERS
            and qualifier not in _WHEN_QUALIFIERS
        ):
            return stem(qualifier), stem(match["role"].lower())
    return None


def names_other_role(role: tuple[str, str] | None, terms: frozenset[str]) -> bool:
    """Whether the sentence names the role but not its qualifier: a "Defense Minister" is not the
    "foreign minister" asked about."""
    return role is not None and role[1] in terms and role[0] not in terms


def counted_noun(question: str) -> str | None:
    """What a "how many" counts: the first plural among the next words ("how many cargo vessels
    would", "how many of Warsaw's inhabitants"), else the first content word ("how many people")."""
    after = _HOW_MANY.search(question)
    if not after:
        return None
    words = [w for w in re.findall(r"[\w'’-]+", question[after.end() :])[:4] if w.lower() not in STOPWORDS]
    plural = next((w for w in words if re.fullmatch(r"[^\W\d_]+[^s']s", w.lower())), None)
    return (plural or (words[0] if words else "")).lower() or None


def _without_answer_kind(question: str, answer_type: str) -> str:
    """The question without the words naming the kind of answer: the "year" of "by what year" or the
    "share" of "what share" is what the answer is, not a word the answer sentence must repeat."""
    pattern = {"number": _NUMBER_Q, "duration": _DURATION_Q, "date": _DATE_Q}.get(answer_type)
    return pattern.sub(" ", question) if pattern else question


def _asked_nouns(question: str) -> list[tuple[str, ...]]:
    """Stems of lone nouns after a determiner: "the population of", "many troops", "his speech"."""
    words = re.findall(r"[\w'-]+|[?.!,]", question) + ["."]
    heads = []
    for before, word, after in zip(words, words[1:], words[2:]):
        lone = after.lower() in STOPWORDS or not after[0].isalnum()
        noun = word.islower() and word not in STOPWORDS and not word.endswith("ing")
        if before.lower() in _DETERMINERS and noun and lone:
            heads.append(tuple(normalise(word)))
    return [stems for stems in heads if stems]


def _looks_like_name(term: str, retriever: Retriever) -> bool:
    return any(
        m in retriever.proper_terms and similarity >= NAME_SIMILARITY
        for m, similarity in retriever.bm25.expand(term)
    )


def answer_kind(question: str) -> str:
    for kind, pattern in (
        ("number", _NUMBER_Q),
        ("duration", _DURATION_Q),
        ("date", _DATE_Q),
        ("person", _PERSON_Q),
        ("reason", _REASON_Q),
    ):
        if pattern.search(question):
            return kind
    return "other"


def judge_sentences(
    profile: QuestionProfile, hits: list[Hit], vector: np.ndarray, retriever: Retriever
) -> list[Evidence]:
    """Every sentence of the hits, judged; best supported first."""
    snapshot = retriever.snapshot
    judged = []
    for rank, hit in enumerate(hits):
        chunk = hit.chunk
        document = snapshot.documents[chunk.doc_id]
        context = term_set(f"{document.title}\n{chunk.heading}\n{chunk.text}")
        context_coverage = _coverage(profile.terms, context, retriever)
        section = retriever.section_terms[(chunk.doc_id, chunk.heading)] | term_set(document.title)
        for span in chunk.sentences:
            sentence = document.text[span.start : span.end]
            row = snapshot.sentence_rows[(chunk.doc_id, span.start, span.end)]
            similarity = float(snapshot.sentence_vectors[row] @ vector)
            coverage = _coverage(profile.terms, term_set(f"{chunk.heading}\n{sentence}"), retriever)
            near = term_set(f"{document.title}\n{chunk.heading}\n{_window(document.text, span)}")
            entity_share = _share(profile.entities, near, retriever)
            support = (
                SIM_WEIGHT * similarity
                + COVERAGE_WEIGHT * coverage
                + CONTEXT_WEIGHT * context_coverage
                + ENTITY_WEIGHT * entity_share
                + (REASON_BONUS if profile.answer_type == "reason" and _REASON_CUE.search(sentence) else 0.0)
                + (OPINION_BONUS if profile.wants_opinion and _ATTRIBUTED.search(sentence) else 0.0)
            )
            sentence_terms = term_set(sentence)
            named_here = _entities_in(profile, sentence_terms, retriever)
            grounded = (
                profile.answer_type == "reason"
                or not profile.terms
                or coverage >= MIN_TERM_COVERAGE
                or similarity >= STRONG_SIMILARITY
                or named_here >= 2
                or (similarity >= ENTITY_SIMILARITY and named_here >= 1)
            )
            judged.append(
                Evidence(
                    chunk=chunk,
                    span=span,
                    rank=rank,
                    similarity=similarity,
                    coverage=coverage,
                    entities_found=not profile.unknown
                    and all(_found(e, section, retriever) for e in profile.entities)
                    and entity_share >= MIN_ENTITY_SHARE,
                    entity_share=entity_share,
                    type_found=has_answer_kind(profile.answer_type, sentence)
                    and grounded
                    and _counts(profile.counted, sentence, retriever)
                    and not names_other_role(profile.role, sentence_terms),
                    support=support,
                )
            )
    return sorted(judged, key=lambda e: -e.support)


def rank_passages(hits: list[Hit], judged: list[Evidence]) -> list[tuple[Hit, float]]:
    """The hits reordered by retrieval score plus their best sentence's support (`ANSWER_BONUS`
    more when it answers): a passage holding the answer rises above one that only shares words."""
    best: dict[str, float] = {}
    for item in judged:
        score = item.support + (ANSWER_BONUS if item.answers else 0.0)
        best[item.chunk.id] = max(best.get(item.chunk.id, 0.0), score)
    scored = [(hit, hit.score + best.get(hit.chunk.id, 0.0)) for hit in hits]
    return sorted(scored, key=lambda pair: -pair[1])


def _entities_in(profile: QuestionProfile, terms: frozenset[str], retriever: Retriever) -> int:
    return sum(_found(e, terms, retriever) for e in profile.entities)


def _window(text: str, span: Span) -> str:
    """The sentence and what precedes it in its paragraph (where its pronouns point)."""
    paragraph_start = text.rfind("\n", 0, span.start) + 1
    return text[max(paragraph_start, span.start - WINDOW_CHARS) : span.end]


def _share(entities: tuple[tuple[str, ...], ...], context: AbstractSet[str], retriever: Retriever) -> float:
    if not entities:
        return NO_ENTITY_SHARE
    weights = [
        max(retriever.bm25.idf(m) for stem in e for m, _ in retriever.bm25.expand(stem) or [(stem, 1)])
        for e in entities
    ]
    found = sum(w for e, w in zip(entities, weights) if _found(e, context, retriever))
    return found / sum(weights)


def _found(alternatives: tuple[str, ...], context: AbstractSet[str], retriever: Retriever) -> bool:
    """Any stem of the entity (or its closest spelling) in `context`; for a country, one of its
    cities; for a capital, its country (see `index.places`)."""
    present = [any(m in context for m, _ in retriever.bm25.expand(stem)) for stem in alternatives]
    if (
        len(alternatives) >= LONG_NAME
    ):  # "NATO–South Korea Defense Industry Consultative Group": not just "NATO"
        return 2 * sum(present) >= len(alternatives)
    return (
        any(present)
        or bool(cities_of(alternatives) & context)
        or any(set(country) <= context for country in countries_of_capital(alternatives))
    )


def _coverage(terms: tuple[str, ...], context: AbstractSet[str], retriever: Retriever) -> float:
    if not terms:
        return 1.0
    weights = {
        t: retriever.bm25.idf(t) if t in retriever.bm25.postings else retriever.bm25.idf("") for t in terms
    }
    found = sum(w for t, w in weights.items() if _found((t,), context, retriever))
    return found / sum(weights.values())


def _counts(noun: str | None, sentence: str, retriever: Retriever) -> bool:
    """Whether a number in the sentence counts `noun` ("17 additional seats" counts seats, "two
    years" does not count drones): one of the few words after it is the noun, by stem or by a
    word-embedding similarity of `COUNTED_SIMILARITY` ("200 cargo ships" counts vessels)."""
    if noun is None:
        return True
    numbers = list(_COUNT.finditer(_DATE_EXPRESSION.sub(" ", sentence).replace("%", " percent")))
    if any(
        not m["after"] or _ELLIPTICAL.match(m["after"]) for m in numbers
    ):  # "Four thousand emigrated", "number 30,000."
        return True
    after_numbers = [w for m in numbers for w in re.findall(r"[^\W\d_]+", m["after"])]
    if not after_numbers:
        return False
    if any(stem(w.lower()) == stem(noun) for w in after_numbers):
        return True
    vectors = _word_vectors(retriever.embedder, (noun, *[w.lower() for w in after_numbers]))
    return bool((vectors[1:] @ vectors[0]).max() >= COUNTED_SIMILARITY)


def _word_vectors(embedder, words: tuple[str, ...]) -> np.ndarray:
    """Vectors of single words, cached across questions (safe to share between threads)."""
    known = {w: _WORD_VECTORS[w] for w in dict.fromkeys(words) if w in _WORD_VECTORS}
    missing = [w for w in dict.fromkeys(words) if w not in known]
    if missing:
        known.update(zip(missing, embedder.embed(missing)))
        if len(_WORD_VECTORS) > 50_000:
            _WORD_VECTORS.clear()
        _WORD_VECTORS.update((w, known[w]) for w in missing)
    return np.stack([known[w] for w in words])


def has_answer_kind(answer_type: str, sentence: str) -> bool:
    if answer_type == "number":
        return bool(_HAS_NUMBER.search(_DATE_EXPRESSION.sub(" ", sentence)))
    if answer_type == "duration":
        return bool(_HAS_DURATION.search(sentence))
    if answer_type == "person":
        return any(
            not m["introduced"] or not is_place(tuple(normalise(m["introduced"])))
            for m in _HAS_PERSON.finditer(sentence)
        )
    pattern = {"date": _HAS_DATE}.get(answer_type)
    return pattern is None or bool(pattern.search(sentence))
