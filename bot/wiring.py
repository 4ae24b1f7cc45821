"""The composition root: every package's settings, and the objects they configure.

Only entry points import this module (`python -m bot`, `python -m evals`); the core classes take
plain arguments, so tests build them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.answering import Answerer
from bot.generative import ChatClient
from bot.settings import AnswerSettings, LlmSettings, TelegramSettings
from index.build import rebuild
from index.embedding import SentenceTransformerEmbedder, cached_embedder
from index.retriever import LiveIndex
from index.settings import IndexSettings
from index.status import index_status


@dataclass(frozen=True)
class AppSettings:
    """The product's settings, one model per package, each read from the environment and `.env`."""

    index: IndexSettings = field(default_factory=IndexSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)


def make_embedder(settings: IndexSettings) -> SentenceTransformerEmbedder:
    return cached_embedder(settings.model, settings.index_dir)


def make_answerer(settings: AppSettings, announce: Callable[[str], None] = print) -> Answerer:
    """Build (or bring up to date) the index if needed, then an `Answerer` over it."""
    embedder = make_embedder(settings.index)
    build = settings.index.build_settings()
    status = index_status(build)
    if status.stale:
        first = status.version is None
        announce("Building the index (first use)..." if first else "Sources changed; updating the index...")
        report = rebuild(build, embedder)
        for skipped in report.skipped:
            announce(f"skipped {skipped['path']}: {skipped['reason']}")
    live = LiveIndex(settings.index.index_dir, embedder)
    return Answerer(live, settings.answer.options(), generator=make_generator(settings.llm))


def make_generator(settings: LlmSettings) -> ChatClient | None:
    """The language-model client when `RAGBOT_LLM_BASE_URL` and `RAGBOT_LLM_MODEL` are set."""
    if not (settings.base_url and settings.model):
        return None
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return ChatClient(settings.base_url, settings.model, key, settings.timeout)
