"""The signals the answer judge's features are made of: what a question names and asks about, and
how much of it a sentence and its context hold.

- Entities: every name, place, acronym or number in the question should appear in the sentence's
  context (its section and the document title); a name the sources never use means they cannot
  answer; so does a noun the question asks about ("the population") that they never use.
  Misspellings match by spelling similarity (see `index.lexical`); a long name needs half of its
  words; a country matches its cities and a capital its country (`index.places`).
- Coverage: the IDF-weighted share of the question's other content words found in a text.
- Counting: "how many X" needs a number that counts X ("17 additional seats" counts seats, "two
  years" does not count drones).
- Roles: "Who is Australia's foreign minister?" is not answered by its "Defense Minister".

None of these decides alone: `bot.judge.features` turns them into numbers and the fitted model
weighs them.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import numpy as np

from index.lexical import STOPWORDS, normalise, stem, term_pairs, term_set
from index.models import Span
from index.places import cities_of, countries_of_capital, is_place
from index.retriever import Retriever

MIN_ENTITY_SHARE = 0.5  # IDF-weighted share of the entities near the sentence
NO_ENTITY_SHARE = 0.5  # questions naming nothing are neither helped nor hurt
# A name written in about one passage in seven or more (BM25 idf below 2: "US" and "American" in
# American news) is the sources' background: it counts where the passage writes it, and not against
# one that leaves it unsaid. Set on RealTime QA dev's misses (2.5 gave the same figures); SQuAD's
# names are all rarer, and on the seed sets one passage moved from first to second place.
BACKGROUND_RARITY = 2.0
WINDOW_CHARS = 600
REASON_CUE = re.compile(
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
NUMBER_WORDS_COUNTING = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand|million|billion|dozen"
)
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
    rf"(?:\d[\d.,]*|\b(?:{NUMBER_WORDS_COUNTING})\b)(?:[\s-]+(?:{NUMBER_WORDS_COUNTING})\b)*(?P<after>(?:[\s().-]+[^\W\d_]+){{0,4}})",
    re.I,
)
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# A date ("June 24th and 25th June 2025", "since 2022") is not the quantity a "how many" asks for.
DATE_EXPRESSION = re.compile(
    rf"\b(\d{{1,2}}(st|nd|rd|th)?\s+)?({MONTHS})(\s+\d{{1,2}}(st|nd|"
    rf"rd|th)?\b)?|\b\d{{1,2}}(st|nd|rd|th)\b|\b(1[89]|20)\d\d\b"
)
# Titles news writes out in full that questions abbreviate: "the PM" is found as "Prime Minister".
ABBREVIATIONS = {
    "pm": "prime minister",
    "fm": "foreign minister",
    "mp": "member of parliament",
    "ceo": "chief executive",
    "un": "united nations",
    "eu": "european union",
    "uk": "united kingdom",
}
_ANSWER_NOUN = re.compile(r"\s*(?:who|what)\s+(?:is|are|was|were)\s+(?:the|a|an)\s+[a-z][\w-]*", re.I)
_AFTER_A_NAME = re.compile(r"\b[A-Z][\w'’-]*,\s+$")
_WHICH_BEFORE = re.compile(r"\bwhich\s+$", re.IGNORECASE)
_LOWER_CASE_WORD = re.compile(r"\s+[a-z]")
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
ATTRIBUTED = re.compile(
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
    # Names made of words the sources write in lower case ("World Series", "Federal Reserve"): near a
    # sentence (`entity_share`) they count only as the phrase, not as its words apart ("world" in one
    # sentence, "series" in the next).
    phrases: frozenset[tuple[str, ...]] = frozenset()

    def continuing(self, topic: QuestionProfile) -> QuestionProfile:
        """This profile with the content words of the question a follow-up continues."""
        named = {s for e in self.entities for s in e}
        added = tuple(t for t in topic.terms if t not in self.terms and t not in named)
        return replace(self, terms=self.terms + added)


def profile_question(question: str, retriever: Retriever) -> QuestionProfile:
    """Find the answer type, the entities and the remaining content terms of a question."""
    wants_opinion = bool(_ACCORDING_TO_PEOPLE.search(question))
    question = _ACCORDING_TO.sub("", question)  # names a source, not something the answer must mention
    entities: list[tuple[str, ...]] = []
    phrases: list[tuple[str, ...]] = []
    qualifiers: list[str] = []
    for match in _CAPITALISED.finditer(question):
        words = match.group().split()
        opens_with_which = words[0].lower() == "which"
        if match.start() == 0 and words[0].lower() in _QUESTION_WORDS | STOPWORDS:
            words = words[1:]
        name = " ".join(words)
        stems = tuple(normalise(name)) + tuple(normalise(ABBREVIATIONS.get(name.lower(), "")))
        qualifies = _qualifies_the_noun_asked(question, match, opens_with_which)
        if stems and (qualifies or _places_the_name_before(question, match)):
            qualifiers.extend(normalise(name))
        elif stems:
            entities.append(stems)
            if len(words) > 1 and not any(retriever.is_name(s) for s in stems):
                phrases.append(stems)
    entity_stems = {s for e in entities for s in e}
    all_lower_case = not entities and not qualifiers
    answer_type = answer_kind(question)
    terms = []
    for term in normalise(_without_answer_kind(question, answer_type)):
        if term in entity_stems or term in _GENERIC:
            continue
        if term in qualifiers:  # a word of the question, never taken for a name
            terms.append(term)
            continue
        if all_lower_case and _looks_like_name(term, retriever):
            entities.append((term,))  # "why did albanesse not go to den haag"
        else:
            terms.append(term)
    unknown = tuple(
        stems[0]
        for stems in _asked_nouns(question)
        if not any(retriever.knows(m) for stem in stems for m, _ in retriever.variants(stem))
    )
    return QuestionProfile(
        answer_type,
        tuple(dict.fromkeys(entities)),
        tuple(dict.fromkeys(terms)),
        unknown,
        counted_noun(question),
        qualified_role(question),
        wants_opinion,
        frozenset(phrases),
    )


def _qualifies_the_noun_asked(question: str, match: re.Match, opens_with_which: bool) -> bool:
    """Whether a name stands between "which" and the noun asked about: "Which US state ...?", "over
    which Ukrainian region?". It narrows the kind of answer; the text that answers often leaves it
    unsaid ("New York announced plans ..."), so it is weighed as a word of the question, not
    required as a name."""
    after_which = opens_with_which or _WHICH_BEFORE.search(question[: match.start()]) is not None
    return after_which and _LOWER_CASE_WORD.match(question[match.end() :]) is not None


def _places_the_name_before(question: str, match: re.Match) -> bool:
    """Whether the name is the country of the name just before it: "Augusta, Georgia", "Kyiv,
    Ukraine". News from there writes the first and leaves the second unsaid."""
    after_a_name = _AFTER_A_NAME.search(question[: match.start()]) is not None
    return after_a_name and is_place(tuple(normalise(match.group())))


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
    """Stems of lone nouns after a determiner: "the population of", "many troops", "his speech".
    Not the noun that names the answer itself ("Who is the author of ...?"): the sentence that
    answers may put it otherwise ("Dr. Kim has published ...")."""
    words = re.findall(r"[\w'-]+|[?.!,]", question) + ["."]
    answer_noun = _ANSWER_NOUN.match(question)
    answer_at = len(answer_noun.group(0).split()) - 1 if answer_noun else -1
    heads = []
    for at, (before, word, after) in enumerate(zip(words, words[1:], words[2:]), start=1):
        if at == answer_at:
            continue
        lone = after.lower() in STOPWORDS or not after[0].isalnum()
        noun = word.islower() and word not in STOPWORDS and not word.endswith("ing")
        if before.lower() in _DETERMINERS and noun and lone:
            heads.append(tuple(normalise(word)))
    return [stems for stems in heads if stems]


def _looks_like_name(term: str, retriever: Retriever) -> bool:
    return any(
        retriever.is_name(m) and similarity >= NAME_SIMILARITY for m, similarity in retriever.variants(term)
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


def names_in(profile: QuestionProfile, terms: frozenset[str], retriever: Retriever) -> int:
    """The question's names the sentence itself writes. A capital stands for its country ("what
    worried the European Parliament about Washington?": "... the US government ..."), but not for a
    country the question names too: a sentence naming Nepal names one of "Nepal" and "Kathmandu"."""
    direct = [e for e in profile.entities if found(e, terms, retriever, places=False)]
    named = {s for e in direct for s in e}
    through_places = sum(1 for e in profile.entities if e not in direct and (place_words(e, terms) - named))
    return len(direct) + through_places


def window(text: str, span: Span) -> str:
    """The sentence and what precedes it in its paragraph (where its pronouns point)."""
    paragraph_start = text.rfind("\n", 0, span.start) + 1
    return text[max(paragraph_start, span.start - WINDOW_CHARS) : span.end]


def entity_share(profile: QuestionProfile, text: str, retriever: Retriever) -> float:
    """The IDF-weighted share of the question's names written in `text` (a sentence and what leads
    to it), leaving out the background names it does not write (`BACKGROUND_RARITY`)."""
    entities = profile.entities
    if not entities:
        return NO_ENTITY_SHARE
    context = term_set(text)
    pairs = term_pairs(text) if profile.phrases else frozenset()
    weighed = []
    for e in entities:
        weight, present = rarity(e, retriever), _written(e, profile, context, pairs, retriever)
        if present or weight >= BACKGROUND_RARITY:
            weighed.append((weight, present))
    if not weighed:
        return NO_ENTITY_SHARE
    return sum(w for w, present in weighed if present) / sum(w for w, _ in weighed)


def _written(entity, profile: QuestionProfile, context: AbstractSet[str], pairs, retriever) -> bool:
    """Whether the text (its stems `context`, its stem pairs `pairs`) writes the entity: a phrase
    name (`QuestionProfile.phrases`) only with its words side by side."""
    in_order = entity not in profile.phrases or set(zip(entity, entity[1:])) <= pairs
    return in_order and found(entity, context, retriever)


def rarity(entity: tuple[str, ...], retriever: Retriever) -> float:
    """The inverse document frequency of the entity's rarest spelling."""
    return max(retriever.rarity(m) for stem in entity for m, _ in retriever.variants(stem) or [(stem, 1)])


def found(
    alternatives: tuple[str, ...], context: AbstractSet[str], retriever: Retriever, places: bool = True
) -> bool:
    """Any stem of the entity (or its closest spelling) in `context`; with `places`, for a country,
    one of its cities, and for a capital, its country (see `index.places`)."""
    present = [any(m in context for m, _ in retriever.variants(stem)) for stem in alternatives]
    if (
        len(alternatives) >= LONG_NAME
    ):  # "NATO–South Korea Defense Industry Consultative Group": not just "NATO"
        return 2 * sum(present) >= len(alternatives)
    return any(present) or places and bool(place_words(alternatives, context))


def place_words(alternatives: tuple[str, ...], context: AbstractSet[str]) -> set[str]:
    """The words of `context` that stand for the entity as a place: for a country, its cities; for
    a capital, its country (see `index.places`)."""
    words = set(cities_of(alternatives) & context)
    for country in countries_of_capital(alternatives):
        if set(country) <= context:
            words.update(country)
    return words


def coverage(terms: tuple[str, ...], context: AbstractSet[str], retriever: Retriever) -> float:
    if not terms:
        return 1.0
    weights = {t: retriever.rarity(t) for t in terms}
    present = sum(w for t, w in weights.items() if found((t,), context, retriever))
    return present / sum(weights.values())


def counts(noun: str | None, sentence: str, retriever: Retriever) -> bool:
    """Whether a number in the sentence counts `noun` ("17 additional seats" counts seats, "two
    years" does not count drones): one of the few words after it is the noun, by stem or by a
    word-embedding similarity of `COUNTED_SIMILARITY` ("200 cargo ships" counts vessels)."""
    if noun is None:
        return True
    numbers = list(_COUNT.finditer(DATE_EXPRESSION.sub(" ", sentence).replace("%", " percent")))
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
