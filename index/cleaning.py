"""Find the content of a document: headings and paragraphs, without page furniture.

The source text stays verbatim; this module only decides which lines are worth citing. Web pages
carry navigation ("Language selection", "Suitable for:" link lists), bylines, image captions,
adverts and contact lines. None of that should ever be quoted as evidence.

Rules, in order:
1. A line matching a furniture pattern (navigation, byline, caption, advert) is dropped; one that
   looks like a heading takes its whole section with it (an advert block). A contact line (an email
   address, a phone number) is dropped alone: on news pages it stands under the author's name, above
   the article (RealTime QA dev lost whole articles to it).
2. News chrome is dropped too, but alone, never with the section after it: a dateline ("Washington
   CNN —"), a time stamp ("Updated Sept. 19, 2017, 5:33 p.m. ET"), a byline ("By ...", "Jane Doe,
   USA TODAY"), a link to another story ("More: ..."), a separator ("• • •"), a photo caption that
   ends in its credit ("... toward the asteroid. John Hopkins APL").
3. Link-list lines right after a navigation lead ("Suitable for:") are dropped.
4. What remains is a heading (short, no closing punctuation, or Markdown `#`) or a paragraph.

A line is not dropped for occurring twice in a document: in news that is mostly a list's entries
(on RealTime QA dev, 79 of 84 such lines were award categories, nominees, winners and songs, such
as "Best drama" or 'WINNER: "Emilia Pérez"'; the other 5 were credits, captions and a video title,
such as "CNN Weather").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FURNITURE = re.compile(
    r"""
    ^(language\ selection|suitable\ for:?|related(\ articles)?:?|read\ more|share\ (this|on)\b|
      skip\ to\ (main\ )?content|menu|inquiries:?|contact:?|published\ on:|advertisement)(?!\w)
    | \bpre-release\b | \bimage:\ | \bphoto:\ | \bcookies?\b
    | \b(contact|call|write\ to|email)\ me\b
    | \bpersonal\ advisor\b | \bbusiness\ development\b | \bworking\ group$
    | \badvice\ and\ information\b | \badvice\ -\ planning\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NAV_LEAD = re.compile(r"^(suitable for|related( articles)?|see also|read more)\b.*:?$", re.IGNORECASE)
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+\d[\d ()-]{6,}")
_LINKISH = re.compile(r"^([-•*]\s|.{3,}:\s.{3,}[^.!?]$)")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_STAMP = rf"{_MONTH}\s\d{{1,2}},\s\d{{4}}[,\s]*(at\s)?(\d{{1,2}}:\d{{2}}\s?[ap]\.?m\.?(\s[a-z]{{2,4}})?)?"
_LINK_LEAD = r"(more|read\ more|related|see\ also|also\ read|watch|listen|opinion|analysis)"
_NEWS_CHROME = re.compile(
    rf"""
    ^[^.!?]{{0,60}}\s[—–]$                                             # a dateline: "Washington CNN —"
    | ^((updated|published|posted)[:\s]*)?({_STAMP}[\s|·]*(updated[:\s]*)?)+$   # a time stamp
    | ^{_LINK_LEAD}\s?:\s?\S.*[^.!?"”]$                                # a link: "More: Another story"
    | ^[\W_]+$                                                         # a separator: "• • •"
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NAME = r"[A-Z][\w.'’-]+"
_BYLINE = re.compile(  # "By Jane Doe", "Jane Doe, USA TODAY"
    rf"^By\s{_NAME}(\s(and\s)?{_NAME}){{1,4}}(,\s.{{0,40}})?$"
    rf"|^{_NAME}(\s{_NAME}){{1,3}},\s[A-Z][A-Z\s]{{1,30}}$"
)
_CREDIT_WORD = r"([A-Z][\w.'’&/-]*|of|and|the|for)"
_CAPTION = re.compile(  # a sentence of five words or more, then its credit, with no full stop after it
    rf"""^(?=.*[^.!?:;"”’)]$)(\S+\s+){{4,}}\S*[a-z0-9)]{{3}}[.!?]["”’)]?"""
    rf"(\s+{_CREDIT_WORD}){{1,6}}$"
)
_MD_HEADING = re.compile(r"^(#{1,6})\s+")
_CLOSING = tuple('.!?;:"”’)')
MAX_HEADING_CHARS = 120
MAX_CHROME_CHARS = 150


@dataclass(frozen=True)
class Block:
    """A heading or paragraph at [start, end) of the text; `run` changes where content is broken."""

    start: int
    end: int
    kind: str  # "heading" | "paragraph"
    run: int


def _lines(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        left = len(body) - len(body.lstrip())
        if body.strip():
            spans.append((pos + left, pos + len(body.rstrip())))
        pos += len(line)
    return spans


def _is_heading(line: str) -> bool:
    return bool(_MD_HEADING.match(line)) or (
        len(line) <= MAX_HEADING_CHARS and not line.endswith(_CLOSING) and len(line.split()) <= 16
    )


def _is_contact(line: str) -> bool:
    return len(line) <= MAX_CHROME_CHARS and bool(_CONTACT.search(line))


def _is_news_chrome(line: str) -> bool:
    return any(pattern.search(line) for pattern in (_NEWS_CHROME, _BYLINE, _CAPTION))


def content_blocks(text: str) -> list[Block]:
    """Split `text` into the headings and paragraphs worth indexing, in order."""
    blocks: list[Block] = []
    run, dropping_section, after_nav = 0, False, False
    for start, end in _lines(text):
        line = text[start:end]
        heading = _is_heading(line)
        if _is_news_chrome(line):  # dropped alone: the section goes on
            run += 1
            continue
        if _FURNITURE.search(line) or (after_nav and _LINKISH.match(line)):
            run += 1
            dropping_section = dropping_section or heading
            after_nav = after_nav or bool(_NAV_LEAD.match(line))
            continue
        if _is_contact(line):  # dropped alone too
            run += 1
            continue
        after_nav = False
        if heading:
            dropping_section = False
            run += 1
            marker = _MD_HEADING.match(line)
            blocks.append(Block(start + (marker.end() if marker else 0), end, "heading", run))
        elif not dropping_section:
            blocks.append(Block(start, end, "paragraph", run))
    return blocks
