"""Several builds at once while the bot keeps answering from the same index folder."""

from __future__ import annotations

import time

from evals.faults.workspace import Part, Workspace, timed
from index.store import load_snapshot

BUILDS = 3


def concurrent_builds(work: Workspace, rounds: int) -> Part:
    """`rounds` times: add a source per build, start the builds together, and answer the probes
    again and again until they have all finished."""
    part, started = Part("concurrent"), time.perf_counter()
    answerer = work.answerer()  # reloads whenever CURRENT moves, as a serving bot does
    for round_number in range(rounds):
        names = [f"together-{round_number}-{n}.txt" for n in range(BUILDS)]
        for name in names:
            (work.sources / name).write_text(
                f"Note {name}\n\nThe committee for {name} reviewed the frigate budget on Monday.\n",
                encoding="utf-8",
            )
        builds = [work.start("index", "build") for _ in names]
        part.faults += len(builds)
        while any(b.poll() is None for b in builds):
            part.inputs += len(work.probes)
            part.answers_lost += work.lost(answerer)
        for build in builds:
            output = build.stdout.read() if build.stdout else b""
            part.secrets_leaked += work.leaks_in(output)
            if build.returncode != 0:
                part.problems.append(f"a concurrent build failed: {output.decode(errors='replace')[-300:]}")
        indexed = load_snapshot(work.index).documents
        if not set(names) <= set(indexed):
            part.problems.append(f"round {round_number}: not every new source was indexed")
    if (work.index / "CURRENT.tmp").exists() or any((work.index / "versions").glob(".staging-*")):
        part.problems.append("concurrent builds left CURRENT.tmp or a staging folder behind")
    return timed(part, started)
