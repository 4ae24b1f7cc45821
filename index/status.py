"""What is indexed, and which sources changed since the last build (without loading any model)."""

from __future__ import annotations

from pydantic import BaseModel

from index.build import CURRENT_TEXTS, BuildSettings, open_store, texts_of, wanted_multilingual
from index.entities import ANNOTATION
from index.sources import source_hashes

HASH_CACHE_FILE = "source-hashes.json"  # beside the index: see `index.sources.HashCache`


class IndexStatus(BaseModel):
    """The served snapshot and how the sources differ from it."""

    version: str | None
    model: str | None = None
    index_type: str | None = None
    documents: list[str] = []
    added: list[str] = []
    updated: list[str] = []
    removed: list[str] = []
    multilingual_differs: bool = False  # RAGBOT_MULTILINGUAL changed since the build
    chunker_differs: bool = False  # this version of the project cuts or embeds chunks differently
    annotator_differs: bool = False  # or finds their named entities differently

    @property
    def stale(self) -> bool:
        changed = (
            self.added
            or self.updated
            or self.removed
            or self.multilingual_differs
            or self.chunker_differs
            or self.annotator_differs
        )
        return self.version is None or bool(changed)


def index_status(settings: BuildSettings) -> IndexStatus:
    """Compare the manifest of the served snapshot with the files in the sources directory."""
    now = source_hashes(settings.sources_dir, cache=settings.index_dir / HASH_CACHE_FILE)
    manifest = open_store(settings).manifest()
    if manifest is None:
        return IndexStatus(version=None, added=sorted(now))
    old = manifest.documents
    return IndexStatus(
        version=manifest.version,
        model=manifest.model,
        index_type=manifest.index_type,
        documents=sorted(old),
        added=sorted(set(now) - set(old)),
        updated=sorted(d for d in set(now) & set(old) if now[d] != old[d]),
        removed=sorted(set(old) - set(now)),
        multilingual_differs=manifest.multilingual != wanted_multilingual(settings),
        chunker_differs=texts_of(manifest) != CURRENT_TEXTS,
        annotator_differs=manifest.annotator != ANNOTATION,
    )
