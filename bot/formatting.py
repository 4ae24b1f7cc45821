"""Turn an `Answer` into Telegram messages: HTML with escaped text, or plain text as a fallback.

Each answer sentence travels with its footnote: a long answer is split between sentences, never
inside one, and every message holds the sources its [n] markers point to. Quotes go in expandable
blockquotes so that a phone shows the answer first.
"""

from __future__ import annotations

import html

from bot.messages import say
from bot.models import Answer, Citation

TELEGRAM_LIMIT = 4096
SAFE_LIMIT = 3900  # head-room under Telegram's limit for the header and tags
MAX_QUOTE_CHARS = 900


def _html_footnote(c: Citation) -> str:
    meta = ", ".join(html.escape(part) for part in (c.publisher, c.date) if part)
    title = html.escape(c.title)
    link = f'<a href="{html.escape(c.url, quote=True)}">{title}</a>' if c.url else f"<b>{title}</b>"
    quote = html.escape(_shorten(c.quote), quote=False)
    return f"[{c.n}] {link}{f' ({meta})' if meta else ''}\n<blockquote expandable>{quote}</blockquote>"


def _plain_footnote(c: Citation) -> str:
    meta = ", ".join(part for part in (c.publisher, c.date, c.url) if part)
    return f"[{c.n}] {c.title}{f' ({meta})' if meta else ''}\n“{_shorten(c.quote)}”"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"


def _pieces(answer: Answer) -> list[tuple[str, Citation]]:
    """The answer's sentences, each with the citation its marker names."""
    by_n = {c.n: c for c in answer.citations}
    pieces, rest = [], answer.answer
    for n in sorted(by_n):
        marker = f" [{n}]"
        head, _, rest = rest.partition(marker)
        pieces.append((_shorten(head.strip()) + marker, by_n[n]))  # a 5,000-char "sentence" fits too
    return pieces


def to_telegram_html(answer: Answer) -> list[str]:
    """HTML messages, each under Telegram's 4,096 characters."""
    if not answer.citations:
        return [html.escape(answer.answer, quote=False)[:SAFE_LIMIT]]
    header = f"{_note(answer)}\n\n<b>{say('sources', answer.language)}</b>\n"
    return _pack(
        [(html.escape(text, quote=False), _html_footnote(c)) for text, c in _pieces(answer)],
        sources_header=header,
    )


def to_plain_text(answer: Answer) -> list[str]:
    """The same messages without markup, for when Telegram rejects the HTML."""
    if not answer.citations:
        return [answer.answer[:SAFE_LIMIT]]
    header = f"{_note(answer)}\n\n{say('sources', answer.language)}\n"
    return _pack([(text, _plain_footnote(c)) for text, c in _pieces(answer)], sources_header=header)


def _note(answer: Answer) -> str:
    """For a question in another language: the quotes are as the sources wrote them (not translated)."""
    note = say("quoted_as_written", answer.language)
    return f" {html.escape(note, quote=False)}" if note else ""


def _pack(pieces: list[tuple[str, str]], sources_header: str) -> list[str]:
    messages: list[str] = []
    texts: list[str] = []
    notes: list[str] = []
    for text, note in pieces:
        candidate = _message(texts + [text], notes + [note], sources_header)
        if texts and len(candidate) > SAFE_LIMIT:
            messages.append(_message(texts, notes, sources_header))
            texts, notes = [], []
        texts.append(text)
        notes.append(note)
    messages.append(_message(texts, notes, sources_header))
    return messages


def _message(texts: list[str], notes: list[str], sources_header: str) -> str:
    return " ".join(texts) + sources_header + "\n".join(notes)
