"""A full disk and a read-only index folder, as `python -m bot ask` meets them.

Sources changed, so `bot ask` tries to rebuild first; the build cannot write, and the bot must warn
in one line and answer from the index it has, leaving no half-written snapshot to fill the disk.
Both faults are made in a private mount namespace (`unshare`): a tmpfs just larger than the index,
and a read-only bind mount of the index folder. Where the machine refuses a namespace the part is
skipped with the reason.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time

from bot.models import Answer
from evals.faults.workspace import Part, Workspace, timed

HEADROOM_KB = 200  # free space on the small disk: far less than a new snapshot needs
LISTING = "--- versions:"

FULL_DISK = """
mount -t tmpfs -o size={kb}k tmpfs {mount}
cp -a {index}/. {mount}/
"""
READ_ONLY = """
mount --bind {index} {mount}
mount -o remount,bind,ro {mount}
"""


def disk_faults(work: Workspace) -> Part:
    part, started = Part("disk"), time.perf_counter()
    refused = _namespace_refused()
    if refused:
        part.skipped = f"no private mount namespace here ({refused})"
        return timed(part, started)
    kb = sum(_pages_kb(p.stat().st_size) for p in work.index.rglob("*") if p.is_file()) + HEADROOM_KB
    for name, setup in (("full disk", FULL_DISK), ("read-only folder", READ_ONLY)):
        (work.sources / f"{name.replace(' ', '-')}.txt").write_text(
            f"A note written while the index folder had a {name}.\n\nThe frigates were delayed again.\n",
            encoding="utf-8",
        )
        mount = work.root / "mnt"
        mount.mkdir(exist_ok=True)
        quoted = {"mount": shlex.quote(str(mount)), "index": shlex.quote(str(work.index))}
        _ask_through(work, part, name, setup.format(kb=kb, **quoted))
    return timed(part, started)


def _pages_kb(size: int) -> int:
    """What a file takes on a tmpfs: whole 4 KiB pages."""
    return -(-size // 4096) * 4


def _namespace_refused() -> str | None:
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    return probe.stderr.strip().splitlines()[-1] if probe.returncode else None


def _ask_through(work: Workspace, part: Part, name: str, setup: str) -> None:
    """Run `bot ask` on the probes after `setup` made the fault, in a namespace of its own."""
    mount = work.root / "mnt"
    ask = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bot", "ask", "--json"])
    questions = " ".join(shlex.quote(p.question) for p in work.probes)
    script = (
        "set -e\n" + setup + f"{ask} {questions}\necho {LISTING}\nls -a {shlex.quote(str(mount))}/versions\n"
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", script],
        cwd=work.root,
        env=work.env(index_dir=mount),
        capture_output=True,
        timeout=600,
    )
    part.faults += 1
    part.inputs += len(work.probes)
    output, errors = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    part.secrets_leaked += work.leaks_in(output, errors)
    answers_text, _, listing = output.partition(LISTING)
    answers = [Answer.model_validate_json(line) for line in answers_text.splitlines() if line.strip()]
    by_question = {a.question: a for a in answers}
    part.answers_lost += sum(
        p.question not in by_question or not p.answered_by(by_question[p.question]) for p in work.probes
    )
    if "answering from the previous one" not in errors:
        part.problems.append(f"{name}: no warning that the index could not be updated: {errors[-300:]}")
    if ".staging-" in listing:
        part.problems.append(f"{name}: a half-written snapshot was left behind")
