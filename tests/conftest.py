"""Shared fixtures: the real bundled model, loaded once, and a real index of the seed sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.answering import Answerer
from index.build import BuildSettings, rebuild
from index.embedding import SentenceTransformerEmbedder
from index.retriever import LiveIndex

PROJECT = Path(__file__).resolve().parent.parent
SEED_SOURCES = PROJECT / "sources"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory, embedder) -> BuildSettings:
    """The seed sources, copied and indexed once for the whole session (treat as read-only)."""
    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED_SOURCES, root / "sources")
    settings = BuildSettings(root / "sources", root / "index")
    rebuild(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def answerer(seed_build, embedder) -> Answerer:
    return Answerer(LiveIndex(seed_build.index_dir, embedder))


@pytest.fixture
def fresh_build(tmp_path) -> BuildSettings:
    """A private copy of the seed sources with no index yet, for tests that change things."""
    shutil.copytree(SEED_SOURCES, tmp_path / "sources")
    return BuildSettings(tmp_path / "sources", tmp_path / "index")
