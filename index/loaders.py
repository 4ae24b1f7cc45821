"""Turn one source file into text: plain text and Markdown as they are, HTML and PDF extracted.

For .txt and .md the text is the file itself, so quotes are spans of the file. For .html and .pdf
it is the extracted main text, and quotes are spans of that text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from index.errors import SourceUnreadable

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")

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

    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=True)
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata and metadata.title else "") or ""
    return text or "", title


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
