"""Shared fixtures: the real bundled model, loaded once, and a real index of the seed sources."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bot.answering import Answerer
from index.build import BuildSettings, rebuild
from index.embedding import SentenceTransformerEmbedder
from index.retriever import LiveIndex

PROJECT = Path(__file__).resolve().parent.parent


def process_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ")[-1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def wait_for_exit(pids: list[int], seconds: float = 20.0) -> None:
    """Wait until none of `pids` is running, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(process_running(pid) for pid in pids):
        time.sleep(0.1)


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


LAYERS = ("unit", "integration", "e2e")
HEAVY_FIXTURES = {
    "embedder",
    "seed_build",
    "answerer",
    "fresh_build",
    "api",
    "llama_server",
    "fake_model",
    "milvus",
    "milvus_seed",
    "milvus_fresh",
}


def pytest_collection_modifyitems(config, items) -> None:
    """Every test names its one layer, and a unit test uses no model, index or server."""
    for item in items:
        layers = {m.name for m in item.iter_markers() if m.name in LAYERS}
        if len(layers) != 1:
            raise pytest.UsageError(
                f"{item.nodeid}: mark it with exactly one of {LAYERS} (has {sorted(layers)})"
            )
        heavy = HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
        if layers == {"unit"} and heavy:
            raise pytest.UsageError(f"{item.nodeid}: a unit test cannot use {sorted(heavy)}")
