"""What every part of the fault suite shares: a copy of the seed sources, its index, the probes, the
fake secret, and one `Part` record of what each part tried and what it lost."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.answering import Answer, Answerer
from evals.dataset import load_cases
from evals.metrics import fact_present
from index.build import BuildSettings, rebuild
from index.embedding import SentenceTransformerEmbedder
from index.retriever import LiveIndex

PROBES = 6  # probe questions re-asked after each fault


@dataclass
class Part:
    """What one part of the suite tried and what went wrong."""

    name: str
    inputs: int = 0
    faults: int = 0
    answers_lost: int = 0
    secrets_leaked: int = 0
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not (self.answers_lost or self.secrets_leaked or self.problems)


@dataclass(frozen=True)
class Probe:
    """A question the bot answers correctly before any fault: from `source`, with every fact."""

    question: str
    source: str
    facts: tuple[str, ...]

    def answered_by(self, answer: Answer) -> bool:
        cited = any(c.source == self.source for c in answer.citations)
        return not answer.abstained and cited and all(fact_present(f, answer.answer) for f in self.facts)


@dataclass
class Workspace:
    """A private copy of the seed sources and its index, and what the parts check against."""

    root: Path
    seed_sources: Path
    embedder: SentenceTransformerEmbedder
    secret: str = field(default_factory=lambda: f"{secrets.randbelow(10**9)}:FAULTS-{secrets.token_hex(12)}")
    probes: list[Probe] = field(default_factory=list)

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def build_settings(self) -> BuildSettings:
        return BuildSettings(self.sources, self.index)

    def prepare(self, cases_file: Path) -> None:
        """Copy the seeds, build their index, and keep the eval cases it answers correctly as probes."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(self.seed_sources, self.sources)
        rebuild(self.build_settings, self.embedder)
        answerer = self.answerer()
        for case in load_cases(cases_file, self.sources):
            if not case.answerable or case.follows or len(self.probes) == PROBES:
                continue
            probe = Probe(case.question, case.evidence[0].source, tuple(case.facts))
            if probe.answered_by(answerer.answer(probe.question)):
                self.probes.append(probe)

    def answerer(self, index_dir: Path | None = None) -> Answerer:
        return Answerer(LiveIndex(index_dir or self.index, self.embedder, check_every=0.0))

    def lost(self, answerer: Answerer) -> int:
        """How many probes no longer get their correct answer (an exception counts as lost)."""
        lost = 0
        for probe in self.probes:
            try:
                lost += not probe.answered_by(answerer.answer(probe.question))
            except Exception:  # counted: an answer that never came is an answer lost
                lost += 1
        return lost

    def env(self, index_dir: Path | None = None) -> dict[str, str]:
        """A child's environment: this workspace's folders and the fake token it must never print."""
        return {
            **os.environ,
            "RAGBOT_INDEX_DIR": str(index_dir or self.index),
            "RAGBOT_SOURCES_DIR": str(self.sources),
            "TELEGRAM_BOT_TOKEN": self.secret,
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *args: str, index_dir: Path | None = None) -> subprocess.Popen[bytes]:
        """`python -m <args>` in the workspace folder (so no project `.env` is read)."""
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=self.root,
            env=self.env(index_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def leaks_in(self, *texts: str | bytes) -> int:
        """How many of `texts` contain the secret."""
        needle = self.secret
        return sum(needle in (t.decode("utf-8", "replace") if isinstance(t, bytes) else t) for t in texts)

    def leaks_in_index(self, index_dir: Path | None = None) -> int:
        """How many index files contain the secret (a source that linked to it, indexed)."""
        needle = self.secret.encode()
        files = [p for p in (index_dir or self.index).rglob("*") if p.is_file()]
        return sum(needle in p.read_bytes() for p in files if "encoder" not in p.parts)


def timed(part: Part, started: float) -> Part:
    part.seconds = round(time.perf_counter() - started, 1)
    return part
