"""The dated eval: does an answer say when its evidence is from, cite the newest source that answers,
flag sources that disagree, and never use what was published after the question's date?

Cases (`evals/dated.jsonl`, one JSON object per line) are asked "as of" their date over the seed
sources plus `evals/dated-sources/` (short invented articles, marked so in their metadata, with a
role that changes hands, a figure that is updated, two tolls and two winners reported the same day,
and relative dates):

    {"id": "ceo-now", "question": "...", "as_of": "2025-06-01",
     "newest": "porthaven-ceo-2025.txt",   the newest source that answers: must be cited ...
     "lead": true,                         ... and cited first (the question asks about now)
     "conflict": true, "cites": [...],     the sources disagree: say so and cite each of these
     "text_has": "Wednesday = 12 March 2025",  a relative date resolved in the answer text
     "abstain": true}                      every answering source is dated after `as_of`

Metrics: `cites_newest` (cases with `newest`), `states_date` (answered cases: the text carries
each cited source's date, and `text_has`), `flags_conflict` (cases with `conflict`),
`false_conflicts` (other answered cases flagged), `no_future_citation` (all cases), `abstained`
(cases with `abstain`).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot.answering import Answerer
from bot.messages import say_date
from bot.models import Answer
from evals.metrics import share

CASES = Path(__file__).with_name("dated.jsonl")
FIXTURES = Path(__file__).with_name("dated-sources")
GATE = {"cites_newest": 0.9, "states_date": 0.9, "flags_conflict": 0.9, "no_future_citation": 1.0}


class DatedCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    question: str
    as_of: date
    newest: str | None = None
    lead: bool = False
    conflict: bool = False
    cites: list[str] = []
    text_has: str = ""
    abstain: bool = False


def load_dated_cases(path: Path = CASES) -> list[DatedCase]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [DatedCase.model_validate_json(line) for line in lines if line.strip()]


def dated_corpus(seeds: Path, folder: Path) -> Path:
    """The seed sources and the invented dated articles in one folder (copied only when changed, so
    the index build after it is incremental)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for source in (seeds, FIXTURES) for p in sorted(source.iterdir()) if p.is_file()}
    for stale in set(p.name for p in folder.iterdir()) - set(wanted):
        (folder / stale).unlink()
    for name, path in wanted.items():
        target = folder / name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
    return folder


def check_case(case: DatedCase, answer: Answer) -> dict:
    """The case's outcome on each metric that applies to it (None where one does not)."""
    cited = [c.source for c in answer.citations]
    answered = not answer.abstained
    dates_stated = answered and all(
        say_date(c.published, answer.language) in answer.answer for c in answer.citations
    )
    return {
        "id": case.id,
        "cites_newest": None if case.newest is None else _cites_newest(case, cited),
        "states_date": (dates_stated and case.text_has in answer.answer) if answered else None,
        "flags_conflict": (answer.conflict and set(case.cites) <= set(cited)) if case.conflict else None,
        "false_conflicts": answer.conflict if answered and not case.conflict else None,
        "no_future_citation": all(c.published is None or c.published <= case.as_of for c in answer.citations),
        "abstained": answer.abstained if case.abstain else None,
        "answer": answer.answer,
        "cited": cited,
    }


def _cites_newest(case: DatedCase, cited: list[str]) -> bool:
    return bool(cited) and (cited[0] == case.newest if case.lead else case.newest in cited)


def run_dated(answerer: Answerer, cases: list[DatedCase]) -> tuple[dict, list[dict]]:
    rows = [check_case(case, answerer.answer(case.question, as_of=case.as_of)) for case in cases]
    metrics = (
        "cites_newest",
        "states_date",
        "flags_conflict",
        "false_conflicts",
        "no_future_citation",
        "abstained",
    )
    summary = {m: _rounded(share(r[m] for r in rows if r[m] is not None)) for m in metrics}
    return summary, rows


def gate_failures(summary: dict) -> list[str]:
    return [
        f"{metric} {summary[metric]} < {bound}"
        for metric, bound in GATE.items()
        if summary[metric] is None or summary[metric] < bound
    ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def write_report(out: Path, summary: dict, rows: list[dict]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "dated.json"
    path.write_text(json.dumps({"summary": summary, "cases": rows}, indent=1, ensure_ascii=False), "utf-8")
    return path
