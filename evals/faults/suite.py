"""Run every part of the fault suite in turn within a time budget and report the figures."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

from evals.errors import EvalError
from evals.faults.concurrent import concurrent_builds
from evals.faults.disk import disk_faults
from evals.faults.fuzz import fuzz_questions, fuzz_sources
from evals.faults.kills import kill_builds
from evals.faults.workspace import Part, Workspace
from index.embedding import SentenceTransformerEmbedder

# Shares of the budget for the parts that run until their time is spent.
KILL_SHARE, QUESTION_SHARE, SOURCE_SHARE = 0.35, 0.2, 0.2
CONCURRENT_ROUNDS = 2


def run_suite(
    work_dir: Path,
    seed_sources: Path,
    cases_file: Path,
    embedder: SentenceTransformerEmbedder,
    seed: int,
    budget: float,
) -> list[Part]:
    """Every part on one workspace, one after the other; each draws from its own seeded generator."""
    work = Workspace(work_dir, seed_sources, embedder)
    work.prepare(cases_file)
    if not work.probes:
        raise EvalError("no eval case is answered correctly on the seed sources: nothing to probe")
    return [
        kill_builds(work, random.Random(seed), KILL_SHARE * budget),
        concurrent_builds(work, CONCURRENT_ROUNDS),
        disk_faults(work),
        fuzz_questions(work, random.Random(seed + 1), QUESTION_SHARE * budget),
        fuzz_sources(work, random.Random(seed + 2), SOURCE_SHARE * budget),
    ]


def report(parts: list[Part], out: Path, seed: int, seconds: float) -> str:
    """Write `faults.json` in `out` and return the table for the terminal."""
    out.mkdir(parents=True, exist_ok=True)
    total = {
        key: sum(getattr(p, key) for p in parts)
        for key in ("inputs", "faults", "answers_lost", "secrets_leaked")
    }
    payload = {
        "seed": seed,
        "seconds": round(seconds, 1),
        "total": total,
        "parts": [asdict(p) for p in parts],
    }
    (out / "faults.json").write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    lines = [
        "| part | inputs tried | faults injected | answers lost | secrets leaked | problems | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in parts:
        problems = f"skipped: {p.skipped}" if p.skipped else str(len(p.problems))
        lines.append(
            f"| {p.name} | {p.inputs} | {p.faults} | {p.answers_lost} | {p.secrets_leaked} | {problems} "
            f"| {p.seconds} |"
        )
    lines.append(
        f"| all | {total['inputs']} | {total['faults']} | {total['answers_lost']} | "
        f"{total['secrets_leaked']} | {sum(len(p.problems) for p in parts)} | {seconds:.0f} |"
    )
    lines += [f"- {p.name}: {problem}" for p in parts for problem in p.problems[:10]]
    return "\n".join(lines)
