"""The lexical analyzer: word stems for BM25 (`index.bm25`), tolerant of misspellings and variants.

Questions and these sources often spell things differently: the machine-translated article writes
"Indopazacifik", "the Haag" and "Die Haag" where readers write "Indo-Pacific" and "The Hague", and
readers misspell names ("albanesse"). Three layers close the gap:
1. `normalise`: lower case, accents folded, hyphenated words also joined, irregular forms to their
   lemma ("sent" -> "send", `index.irregular`), Snowball stemming.
2. `VARIANTS`: spelling variants of the same name or word, mapped to one form.
3. Fuzzy expansion (`index.bm25`): a query term that is not in the corpus vocabulary matches the
   vocabulary terms closest to it in spelling (difflib ratio >= `FUZZY_CUTOFF`), weighted by that
   similarity.
4. Places (`index.bm25`): a country named in the query also matches its capital and big cities, at
   `PLACE_WEIGHT` ("Netherlands" -> "Hague", "South Korea" -> "Seoul"; see `index.places`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import snowballstemmer

from index.irregular import irregular_forms
from index.places import demonym_country

_CODE_WITH_NUMBER = re.compile(r"\b([A-Z]{1,5}) (\d{1,2})\b")  # "IP 4" is "IP4", as "IP-4" is
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)

# Spelling variants of one name or word (regex on a lower-cased word -> canonical form).
VARIANTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), canonical)
    for pattern, canonical in (
        (r"^indo-?pa[cz]\w*$", "indopacific"),  # Indo-Pacific, Indopazacifik, Indopazific, indopacifik
        (r"^(haag|hague|haye)$", "hague"),  # The Hague, Den Haag, Die Haag, La Haye
        (r"^(defence|defense)$", "defense"),
        (r"^(programme|program)$", "program"),
        (r"^(labour|labor|laboratory)$", "labor"),  # machine translation rendered "Labor" as "laboratory"
        (r"^(usa|us|america|americans?)$", "america"),
        (r"^europe(an|ans)?$", "europe"),  # "European" is not a "Europea" (see the demonym rule in `stem`)
    )
)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell say said says know give den""".split()
)

FUZZY_CUTOFF = 0.8
_STEMMER = snowballstemmer.stemmer("english")
_STEMMER_LOCK = threading.Lock()
PLACE_WEIGHT = 0.3  # a city standing for a country the query names (see `index.places`)
ANALYZER_VERSION = 1


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("’", "'")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a folded word, after the spelling variants and demonyms:
    "cooperate" and "cooperation" meet, "Chinese" meets "China"."""
    if any(ch.isdigit() for ch in word):
        return word.replace(",", "")
    for pattern, canonical in VARIANTS:
        if pattern.match(word):
            return canonical
    word = re.sub(r"'s$", "", word)
    country = demonym_country(word)  # Chinese -> china, Germans -> germany (see `index.places`)
    if country:
        word = country
    elif word.endswith(("ian", "ean")) and len(word) > 5:  # of a place with a two-word name: Korean -> korea
        word = word[:-1]
    return snowball(irregular_forms().get(word, word))  # "sent" -> "send" (see `index.irregular`)


def snowball(word: str) -> str:
    with _STEMMER_LOCK:  # a Snowball stemmer keeps its word in itself: one thread at a time
        return _STEMMER.stemWord(word)


def normalise(text: str, keep_stopwords: bool = False) -> list[str]:
    """Text -> list of term stems; a hyphenated word yields its parts and the joined word."""
    terms: list[str] = []
    for match in _WORD.finditer(_CODE_WITH_NUMBER.sub(r"\1\2", text)):
        terms.extend(_word_terms(match.group(), keep_stopwords))
    return terms


@functools.lru_cache(maxsize=200_000)
def _word_terms(word: str, keep_stopwords: bool) -> tuple[str, ...]:
    """The stems one word of text yields. Cached: a corpus repeats its words, and loading an index
    normalises every chunk."""
    folded = re.sub(r"'s$", "", _fold(word))
    parts = [p for p in re.split(r"[-']", folded) if p]
    candidates = parts + (["".join(parts)] if len(parts) > 1 else [])
    return tuple(stem(part) for part in candidates if keep_stopwords or part not in STOPWORDS)


@functools.lru_cache(maxsize=65_536)
def term_set(text: str) -> frozenset[str]:
    """The stems of `text` as a set; cached, because the same passages are judged question after question."""
    return frozenset(normalise(text))


def term_pairs(text: str) -> frozenset[tuple[str, str]]:
    """Each stem of `text` with the one after it (stopwords left out): where a phrase is written."""
    terms = normalise(text)
    return frozenset(zip(terms, terms[1:]))


def analyzer_fingerprint() -> str:
    """What decides the stems of a text: a build reuses stored stems only when this is unchanged.
    Bump `ANALYZER_VERSION` when `normalise` itself changes; the tables are hashed."""
    tables = json.dumps(
        [ANALYZER_VERSION, [(p.pattern, c) for p, c in VARIANTS], sorted(STOPWORDS), irregular_forms()],
        sort_keys=True,
    )
    return hashlib.sha256(tables.encode()).hexdigest()[:16]


def proper_terms(texts: Iterable[str]) -> frozenset[str]:
    """Stems written with a capital letter inside sentences most of the time (`NameCounts`)."""
    return NameCounts.of_texts(texts).proper_terms()


@dataclass(frozen=True)
class NameCounts:
    """How often each stem is written inside a sentence, and how often with a capital letter there:
    kept in the snapshot so that the next build counts only the chunks that changed (counting
    200,000 chunks' words took 10 s)."""

    capitalised: Counter[str]
    everywhere: Counter[str]

    @classmethod
    def of_texts(cls, texts: Iterable[str]) -> NameCounts:
        return cls(Counter(), Counter()).changed(added=texts, removed=())

    def changed(self, added: Iterable[str], removed: Iterable[str]) -> NameCounts:
        """These counts with `added` texts counted in and `removed` ones (counted before) out."""
        capitalised, everywhere = Counter(self.capitalised), Counter(self.everywhere)
        more_capitalised, more_everywhere = _counted(added)
        fewer_capitalised, fewer_everywhere = _counted(removed)
        capitalised.update(more_capitalised)
        capitalised.subtract(fewer_capitalised)
        everywhere.update(more_everywhere)
        everywhere.subtract(fewer_everywhere)
        return NameCounts(+capitalised, +everywhere)  # unary + drops the terms counted down to 0

    def proper_terms(self, share: float = 0.7) -> frozenset[str]:
        """Stems written with a capital letter inside sentences at least `share` of the time: names,
        places, acronyms ("Japan", "NATO"), but not words merely capitalised in titles ("Summit")."""
        return frozenset(t for t, count in self.capitalised.items() if count >= share * self.everywhere[t])

    def to_json(self) -> str:
        counts = {"capitalised": self.capitalised, "everywhere": self.everywhere}
        return json.dumps(counts, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> NameCounts:
        counts = json.loads(text)
        return cls(Counter(counts["capitalised"]), Counter(counts["everywhere"]))


def _counted(texts: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """Stems of the words inside sentences (after a word and a space), and those of them capitalised."""
    capitalised: Counter[str] = Counter()
    everywhere: Counter[str] = Counter()
    known: dict[str, list[str]] = {}  # a corpus repeats its words: normalise each one once
    for text in texts:
        for match in re.finditer(r"(?<=[\w,;:)] )[\w-]+", text):
            word = match.group()
            stems = known.get(word)
            if stems is None:
                stems = known[word] = normalise(word)
            everywhere.update(stems)
            if word[0].isupper():
                capitalised.update(stems)
    return capitalised, everywhere
