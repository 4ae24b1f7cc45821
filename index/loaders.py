"""Turn one source file into text: plain text and Markdown as they are, HTML and PDF extracted.

For .txt and .md the text is the file itself, so quotes are spans of the file. For .html and .pdf
it is the extracted main text, and quotes are spans of that text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from index.errors import SourceUnreadable

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
# A news article is well under 1 MB; a 50 MB one-line file once needed 6 GB to build.
MAX_SOURCE_BYTES = 20 * 2**20
# HTML extraction time grows faster than the page (trafilatura 2.3, one core): 1 MB of nested markup
# took 8 s, 4 MB 27 s, 20 MB over 200 s. A real news page is well under this limit.
MAX_HTML_BYTES = 3 * 2**20


def size_limit(path: Path) -> int:
    """The largest file of this type the build reads, in bytes."""
    return MAX_HTML_BYTES if path.suffix.lower() in (".html", ".htm") else MAX_SOURCE_BYTES


# pypdf and trafilatura log every malformed object they meet; one warning per file is ours to give.
for _noisy in ("pypdf", "trafilatura", "htmldate", "courlan"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


def load_text(path: Path, data: bytes) -> tuple[str, str]:
    """Turn the bytes of a source file into text; `path` names its type.

    Returns:
        (text, title found in the file or "").
    Raises:
        SourceUnreadable: binary, empty, not UTF-8, or a broken PDF/HTML file.
    """
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text, title = _pdf_text(data)
    elif suffix in (".html", ".htm"):
        text, title = _html_text(_decode(data))
    else:
        text, title = _decode(data), ""
    if not text.strip():
        raise SourceUnreadable("no text in file")
    return text, title


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SourceUnreadable("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceUnreadable(f"not UTF-8 text (bad byte at offset {exc.start})") from exc


def _html_text(html: str) -> tuple[str, str]:
    import trafilatura  # heavy import, only needed when there is HTML

    found = trafilatura.bare_extraction(  # one parse for the text and the title
        html, include_comments=False, include_tables=True, favor_precision=True, with_metadata=True
    )
    if found is None or isinstance(found, dict):  # None: nothing that looks like an article
        return "", ""
    return found.text or "", found.title or ""


def _pdf_text(data: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SourceUnreadable(f"broken PDF ({exc.__class__.__name__})") from exc
    return "\n\n".join(page.strip() for page in pages), str(title)
