"""Builds killed with SIGKILL: at times spread over a build, and at each stage of it.

After every kill the index must still load, name either the old snapshot or the new one, and give
every probe its answer; a final undisturbed build must take in everything the killed ones missed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from evals.faults.workspace import Part, Workspace, timed
from index.errors import IndexStoreError
from index.store import current_version, load_snapshot

POLL = 0.002  # seconds between looks at the index folder while waiting for a stage

Trigger = Callable[[Path, str | None, float], bool]  # (index folder, version before, seconds) -> kill now


def at_time(seconds: float) -> Trigger:
    return lambda index, before, elapsed: elapsed >= seconds


def when_staging_appears(index: Path, before: str | None, elapsed: float) -> bool:
    """The snapshot is being written."""
    return any((index / "versions").glob(".staging-*"))


def when_published(index: Path, before: str | None, elapsed: float) -> bool:
    """CURRENT names the new snapshot; old ones are being pruned."""
    try:
        return current_version(index) != before
    except IndexStoreError:
        return False


def kill_builds(work: Workspace, rng: random.Random, budget: float) -> Part:
    """Kill builds until `budget` seconds are spent, cycling through the stage triggers and times."""
    part, started = Part("kills"), time.perf_counter()
    _undisturbed_build(work, part, round_number=0)  # the first also exports the ONNX query encoder
    duration = _undisturbed_build(work, part, round_number=1)
    stages: list[tuple[str, Trigger]] = [("staging", when_staging_appears), ("published", when_published)]
    round_number = 2
    while stages or time.perf_counter() - started < budget:  # every stage once, whatever the budget
        if stages and round_number % 2:
            label, trigger = stages.pop(0)
        else:
            moment = rng.uniform(0.0, duration)
            label, trigger = f"t={moment:.1f}s", at_time(moment)
        _kill_once(work, part, round_number, label, trigger)
        round_number += 1
    _undisturbed_build(work, part, round_number)
    indexed = load_snapshot(work.index).documents
    missing = [n for n in range(round_number + 1) if f"round-{n}.txt" not in indexed]
    if missing:
        part.problems.append(f"a clean build after the kills left out rounds {missing}")
    leftovers = list((work.index / "versions").glob(".staging-*"))
    if leftovers:
        part.problems.append(f"{len(leftovers)} staging folder(s) left after a clean build")
    part.secrets_leaked += work.leaks_in_index()
    return timed(part, started)


def _new_source(work: Workspace, round_number: int) -> None:
    (work.sources / f"round-{round_number}.txt").write_text(
        f"Round {round_number} notes\n\nThe delegation met for round {round_number} of talks on the "
        f"frigate programme and agreed to meet again after {round_number + 2} weeks.\n",
        encoding="utf-8",
    )


def _undisturbed_build(work: Workspace, part: Part, round_number: int) -> float:
    _new_source(work, round_number)
    started = time.perf_counter()
    process = work.start("index", "build")
    output, _ = process.communicate(timeout=600)
    part.secrets_leaked += work.leaks_in(output)
    if process.returncode != 0:
        part.problems.append(f"an undisturbed build failed: {output.decode(errors='replace')[-300:]}")
    return time.perf_counter() - started


def _kill_once(work: Workspace, part: Part, round_number: int, label: str, trigger: Trigger) -> None:
    _new_source(work, round_number)
    before = current_version(work.index)
    process = work.start("index", "build")
    started = time.perf_counter()
    while process.poll() is None and not trigger(work.index, before, time.perf_counter() - started):
        time.sleep(POLL)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        part.faults += 1
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output = b""
    part.secrets_leaked += work.leaks_in(output)
    _check_after_kill(work, part, label, before)


def _check_after_kill(work: Workspace, part: Part, label: str, before: str | None) -> None:
    try:
        now = current_version(work.index)
        load_snapshot(work.index)
    except IndexStoreError as exc:
        part.problems.append(f"killed at {label}: the index no longer loads ({exc})")
        part.answers_lost += len(work.probes)
        return
    if now != before and not (work.index / "versions" / str(now)).is_dir():
        part.problems.append(f"killed at {label}: CURRENT names a snapshot that is not there")
    part.inputs += len(work.probes)
    part.answers_lost += work.lost(work.answerer())
