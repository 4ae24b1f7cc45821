"""Walk the sources directory and yield `Document`s with their hand-written metadata."""

from __future__ import annotations

import hashlib
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from index.errors import SourceUnreadable
from index.loaders import SUPPORTED_SUFFIXES, load_text
from index.models import Document

log = logging.getLogger(__name__)

METADATA_SUFFIX = ".meta.toml"
METADATA_FIELDS = ("title", "publisher", "author", "date", "url", "language")


@dataclass(frozen=True)
class Skipped:
    """A source file the build could not use, and why."""

    path: str
    reason: str


def discover(sources_dir: Path) -> list[Path]:
    """List the source files under `sources_dir` in a stable order (hidden files left out)."""
    if not sources_dir.is_dir():
        return []
    return sorted(
        path
        for path in sources_dir.rglob("*")
        if path.is_file()
        and path.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(sources_dir).parts)
    )


def load_documents(sources_dir: Path) -> tuple[list[Document], list[Skipped]]:
    """Load every source; unreadable ones are logged as warnings and returned as `Skipped`."""
    documents, skipped = [], []
    for path in discover(sources_dir):
        doc_id = path.relative_to(sources_dir).as_posix()
        try:
            documents.append(load_document(path, doc_id))
        except SourceUnreadable as exc:
            log.warning("skipped source %s: %s", doc_id, exc)
            skipped.append(Skipped(doc_id, str(exc)))
    return documents, skipped


def load_document(path: Path, doc_id: str) -> Document:
    """Read one source file and the metadata file beside it."""
    text, found_title = load_text(path)
    metadata_path = path.with_name(path.name + METADATA_SUFFIX)
    metadata = _read_metadata(metadata_path)
    title = metadata.pop("title", "") or found_title or _first_line(text) or path.stem
    return Document(id=doc_id, text=text, sha256=source_hash(path), title=title, **metadata)


def source_hash(path: Path) -> str:
    """Hash of a source file and its metadata file: what decides whether it must be re-indexed."""
    digest = hashlib.sha256(path.read_bytes())
    metadata_path = path.with_name(path.name + METADATA_SUFFIX)
    if metadata_path.exists():
        digest.update(metadata_path.read_bytes())
    return digest.hexdigest()


def source_hashes(sources_dir: Path) -> dict[str, str]:
    """Document id -> hash for every source file, without extracting any text."""
    hashes = {}
    for path in discover(sources_dir):
        try:
            hashes[path.relative_to(sources_dir).as_posix()] = source_hash(path)
        except OSError:
            continue  # unreadable: the build reports it
    return hashes


def _read_metadata(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceUnreadable(f"metadata file {path.name} is not valid TOML: {exc}") from exc
    return {key: str(raw[key]) for key in METADATA_FIELDS if raw.get(key) not in (None, "")}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
