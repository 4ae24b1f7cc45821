"""The composition root: every package's settings, and the objects they configure.

Only entry points import this module (`python -m bot`, `python -m evals`); the core classes take
plain arguments, so tests build them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from functools import partial

from bot.answer_processes import AnswerProcesses
from bot.answering import Answerer
from bot.errors import BotError
from bot.generative import ChatClient
from bot.settings import AnswerSettings, LlmSettings, TelegramSettings
from index.build import BuildSettings, open_store, rebuild
from index.embedding import Embedder, SentenceTransformerEmbedder, cached_embedder
from index.errors import IndexStoreError, IndexWriteFailed
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
    update_index(settings.index.build_settings(), make_embedder(settings.index), announce)
    return open_answerer(settings.index, settings.answer, settings.llm)


def open_answerer(index: IndexSettings, answer: AnswerSettings, llm: LlmSettings) -> Answerer:
    """An `Answerer` over the index as it stands (nothing is built)."""
    live = LiveIndex(open_store(index.build_settings()), make_embedder(index))
    return Answerer(live, answer.options(), generator=make_generator(llm))


def make_answer_processes(settings: AppSettings) -> AnswerProcesses | None:
    """The bot's answering processes, started and ready; None when it answers in its own process."""
    if settings.telegram.answer_processes == 0:
        return None
    processes = AnswerProcesses(
        partial(open_answerer, settings.index, settings.answer, settings.llm),
        settings.telegram.answer_processes,
    )
    try:
        processes.wait_ready()
    except (BrokenExecutor, TimeoutError):
        processes.close()
        raise BotError(
            "the answering processes could not start (their error is above); "
            "RAGBOT_ANSWER_PROCESSES=0 answers in the bot's own process"
        ) from None
    return processes


def update_index(build: BuildSettings, embedder: Embedder, announce: Callable[[str], None]) -> None:
    """Rebuild the index when its sources changed. A build that fails for lack of room or rights
    leaves the previous index answering, with a warning; with no previous index it is an error."""
    status = index_status(build)
    if not status.stale:
        return
    first = status.version is None
    announce("Building the index (first use)..." if first else "Sources changed; updating the index...")
    try:
        report = rebuild(build, embedder)
    except (OSError, IndexWriteFailed) as exc:
        if isinstance(exc, IndexWriteFailed):
            problem = exc.problem
        else:
            problem = f"could not update the index in {open_store(build).location} ({exc.strerror})"
        if first:
            raise IndexStoreError(problem) from None
        announce(f"warning: {problem}; answering from the previous one")
        return
    for skipped in report.skipped:
        announce(f"skipped {skipped['path']}: {skipped['reason']}")


def make_generator(settings: LlmSettings) -> ChatClient | None:
    """The language-model client when `RAGBOT_LLM_BASE_URL` and `RAGBOT_LLM_MODEL` are set."""
    if not (settings.base_url and settings.model):
        return None
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return ChatClient(settings.base_url, settings.model, key, settings.timeout)
