"""Walk the sources directory and yield `Document`s with their hand-written metadata."""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from index.errors import SourceUnreadable
from index.loaders import SUPPORTED_SUFFIXES, load_text, size_limit
from index.models import Document
from index.stamps import RACY_NS, load_cache, save_cache

log = logging.getLogger(__name__)

METADATA_SUFFIX = ".meta.toml"
METADATA_FIELDS = ("title", "publisher", "author", "date", "url", "language")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Skipped:
    """A source file the build could not use, and why."""

    path: str
    reason: str


def discover(sources_dir: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """The source files under `sources_dir` as (document id, path), in a stable order (hidden files
    left out), and the files refused: links (a link can point anywhere on the host, and whatever is
    indexed is quoted to every user) and names that are not valid UTF-8. One `scandir` per folder:
    a newsroom's archive of 40,000 files is listed in a fraction of a second."""
    if not sources_dir.is_dir():
        return [], []
    found, refused = [], []
    for parts, entry in _entries(str(sources_dir), ()):
        linked = entry.is_symlink()
        if os.path.splitext(entry.name)[1].lower() not in SUPPORTED_SUFFIXES and not linked:
            continue  # a linked folder is reported (it is not followed); other files are not sources
        reason = _refusal("/".join(parts), linked)
        if reason:
            refused.append(Skipped(ascii("/".join(parts))[1:-1], reason))
        elif entry.is_file():
            found.append(parts)
    found.sort()  # by path parts, folder by folder
    sources = [("/".join(parts), sources_dir.joinpath(*parts)) for parts in found]
    return sources, sorted(refused, key=lambda s: s.path)


def _entries(folder: str, parts: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], os.DirEntry]]:
    """Every entry under `folder` that is not hidden, with its path parts; folders are entered
    unless they are links."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except PermissionError:
        return  # a folder nobody may read holds no sources
    for entry in entries:
        if entry.name.startswith("."):
            continue
        here = (*parts, entry.name)
        yield here, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(entry.path, here)


def _refusal(relative: str, linked: bool) -> str | None:
    """Why a file found under the sources folder must not be read, or None. Its folders are not
    links: `_entries` does not enter those."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it"
    if linked:
        return "a symbolic link; only regular files inside the sources folder are read"
    return None


def load_documents(sources_dir: Path) -> tuple[list[Document], list[Skipped]]:
    """Load every source; unreadable ones are logged as warnings and returned as `Skipped`."""
    sources, skipped = discover(sources_dir)
    for refused in skipped:
        log.warning("skipped source %s: %s", refused.path, refused.reason)
    documents = []
    for doc_id, path in sources:
        try:
            documents.append(load_document(path, doc_id))
        except SourceUnreadable as exc:
            log.warning("skipped source %s: %s", doc_id, exc)
            skipped.append(Skipped(doc_id, str(exc)))
        except Exception as exc:  # a hostile file (a PDF nesting 50,000 arrays) must not stop the build
            log.warning("skipped source %s: the loader failed (%s)", doc_id, exc.__class__.__name__)
            skipped.append(Skipped(doc_id, f"could not be read ({exc.__class__.__name__})"))
    return documents, skipped


def load_document(path: Path, doc_id: str) -> Document:
    """Read one source file and the metadata file beside it, each once: the hash recorded is the
    hash of the bytes indexed, so a file saved during a build is seen as changed by the next one."""
    data, metadata_bytes = _read_source(path)
    text, found_title = load_text(path, data)
    metadata = _parse_metadata(path.name + METADATA_SUFFIX, metadata_bytes)
    found = metadata.pop("title", "") or found_title or _first_line(text) or path.stem
    title = _CONTROL.sub("", found)  # a title is shown in terminals and chats: no escape sequences
    sha = _hash(data, metadata_bytes)
    return Document(id=doc_id, text=text, sha256=sha, title=title, **metadata)


def _read_source(path: Path) -> tuple[bytes, bytes | None]:
    metadata_path = path.with_name(path.name + METADATA_SUFFIX)
    try:  # the file may have been deleted or moved since the folder was listed
        size = path.stat().st_size
        limit = size_limit(path)
        if size > limit:
            kind = path.suffix.lower().lstrip(".") or "source"
            raise SourceUnreadable(
                f"{size / 2**20:.1f} MB is over the {limit // 2**20} MB limit per {kind} file"
            )
        if metadata_path.is_symlink():
            raise SourceUnreadable("its metadata file is a symbolic link; only regular files are read")
        data = path.read_bytes()
        metadata = metadata_path.read_bytes() if metadata_path.exists() else None
    except OSError as exc:
        raise SourceUnreadable(f"cannot read file: {exc.strerror}") from exc
    return data, metadata


def _hash(data: bytes, metadata: bytes | None) -> str:
    digest = hashlib.sha256(data)
    if metadata is not None:
        digest.update(metadata)
    return digest.hexdigest()


def source_hash(path: Path) -> str:
    """Hash of a source file and its metadata file: what decides whether it must be re-indexed."""
    return _hash(*_read_source(path))


def source_hashes(sources_dir: Path, cache: Path | None = None) -> dict[str, str]:
    """Document id -> hash for every source file, without extracting any text.

    Args:
        cache: a file of earlier hashes by file size and modification time (see `HashCache`): only
            files that changed since are read. None: read every file.
    """
    known = HashCache(cache)
    hashes = {}
    for doc_id, path in discover(sources_dir)[0]:
        try:
            hashes[doc_id] = known.hash_of(path, doc_id)
        except SourceUnreadable:
            continue  # unreadable: the build reports it
    known.save(keep=set(hashes))
    return hashes


class HashCache:
    """Source hashes by the size and modification time of the file and of its metadata file, as git's
    index keeps them: a status check on a large archive then reads only what changed (hashing 8,500
    files took 2.2 s of each fresh `bot ask`). A file modified within `RACY_NS` of the cache's
    writing is hashed again (see `index.stamps`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        self.written_ns = 0
        self.changed = False
        data: Any = load_cache(path) if path is not None else None
        try:
            self.entries, self.written_ns = dict(data["entries"]), int(data["written_ns"])
        except (KeyError, TypeError, ValueError):
            pass  # no cache yet, or a damaged one: hash everything, write a new one

    def hash_of(self, path: Path, doc_id: str) -> str:
        stamp = _stamp(path)
        entry = self.entries.get(doc_id)
        if entry is not None and entry[0] == stamp and max(stamp[1], stamp[3]) < self.written_ns - RACY_NS:
            return entry[1]
        digest = source_hash(path)
        self.entries[doc_id] = [stamp, digest]
        self.changed = True
        return digest

    def save(self, keep: set[str]) -> None:
        if self.path is None or not (self.changed or set(self.entries) - keep):
            return
        entries = {doc_id: entry for doc_id, entry in self.entries.items() if doc_id in keep}
        save_cache(self.path, {"written_ns": time.time_ns(), "entries": entries})


def _stamp(path: Path) -> list[int]:
    """Size and modification time of a source file and of its metadata file (0, 0 when none)."""
    try:
        stat = os.stat(path)
        try:
            meta_stat: os.stat_result | None = os.stat(f"{path}{METADATA_SUFFIX}")
        except FileNotFoundError:
            meta_stat = None
    except OSError as exc:
        raise SourceUnreadable(f"cannot read file: {exc.strerror}") from exc
    meta_part = [meta_stat.st_size, meta_stat.st_mtime_ns] if meta_stat else [0, 0]
    return [stat.st_size, stat.st_mtime_ns, *meta_part]


def _parse_metadata(name: str, data: bytes | None) -> dict[str, str]:
    if data is None:
        return {}
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceUnreadable(f"metadata file {name} is not valid TOML: {exc}") from exc
    metadata = {}
    for key in METADATA_FIELDS:
        value = clean_metadata_value(key, raw.get(key))
        if value is None and raw.get(key) not in (None, ""):
            log.warning("%s: %s = %r is not a valid %s; left out", name, key, raw.get(key), key)
        elif value:
            metadata[key] = value
    return metadata


def clean_metadata_value(key: str, value: object) -> str | None:
    """A metadata value as shown to users, or None if it is not valid: text without control
    characters (no terminal escapes), a real calendar date, a web link (no `javascript:`)."""
    if key == "date" and isinstance(value, datetime.date):
        value = value.isoformat()[:10]
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub("", value).strip()
    if key == "date" and text:
        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    if key == "url" and text and urlsplit(text).scheme.lower() not in ("http", "https"):
        return None
    return text


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
