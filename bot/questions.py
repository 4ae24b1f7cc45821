"""Check a question before it reaches retrieval: empty, too long, markup, no words."""

from __future__ import annotations

import html
import re

from bot.errors import BadQuestion
from bot.language import ENGLISH
from bot.messages import say

_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]{0,200}>")
_MARKDOWN = re.compile(r"[*_`~#>|\[\]]+|\]\([^)]*\)")
_SPACE = re.compile(r"\s+")
# Control characters and lone surrogates (from undecodable command-line bytes or a hostile client):
# they are not text, and the tokenizer raises on a surrogate.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[?.!,;:])")


def clean_question(raw: str, max_chars: int, language: str = ENGLISH) -> str:
    """The question as plain text, ready to search for.

    Raises:
        BadQuestion: with a short message, in the question's `language`, saying what to do instead.
    """
    if len(raw or "") > max_chars:  # before any pattern runs: a megabyte question costs nothing
        raise BadQuestion(say("too_long", language, length=len(raw), limit=max_chars))
    unescaped = _NOT_TEXT.sub(" ", html.unescape(raw or ""))
    plain = _MARKDOWN.sub(" ", _TAG.sub(" ", _SCRIPT.sub(" ", unescaped)))
    text = _SPACE_BEFORE_PUNCTUATION.sub("", _SPACE.sub(" ", plain)).strip()
    if not text:
        raise BadQuestion(say("no_words", language))
    if not any(ch.isalpha() for ch in text):
        raise BadQuestion(say("only_symbols", language))
    return text
