"""Check a question before it reaches retrieval: empty, too long, markup, no words."""

from __future__ import annotations

import html
import re
import unicodedata

from bot.errors import BadQuestion

_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]{0,200}>")
_MARKDOWN = re.compile(r"[*_`~#>|\[\]]+|\]\([^)]*\)")
_SPACE = re.compile(r"\s+")
# Control characters and lone surrogates (from undecodable command-line bytes or a hostile client):
# they are not text, and the tokenizer raises on a surrogate.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[?.!,;:])")


def clean_question(raw: str, max_chars: int) -> str:
    """The question as plain text, ready to search for.

    Raises:
        BadQuestion: with a short message saying what to do instead.
    """
    if len(raw or "") > max_chars:  # before any pattern runs: a megabyte question costs nothing
        raise BadQuestion(
            f"That question is {len(raw):,} characters long; please keep it under {max_chars:,} characters "
            "and ask one thing at a time."
        )
    unescaped = _NOT_TEXT.sub(" ", html.unescape(raw or ""))
    plain = _MARKDOWN.sub(" ", _TAG.sub(" ", _SCRIPT.sub(" ", unescaped)))
    text = _SPACE_BEFORE_PUNCTUATION.sub("", _SPACE.sub(" ", plain)).strip()
    if not text:
        raise BadQuestion(
            "Please ask a question in words, for example: Why did Albanese skip the NATO summit?"
        )
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        raise BadQuestion(
            "I need a question in words to search the sources (emoji and symbols alone don't work)."
        )
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if latin / len(letters) < 0.5:
        raise BadQuestion("I can only answer questions in English about the sources; please ask in English.")
    return text
