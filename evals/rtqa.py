"""RealTime QA dev asked "as of" each question's quiz date, beside the same questions asked as of
today, scored by the benchmark's own scorer (`rtqa-dev/score.py`), plus the date checks: no answer
cites a source published after its question, the answer text states each cited source's date, and
among answers citing an evidence document, the newest evidence document (published by the question's
date) is the one cited first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from bot.answering import Answerer
from bot.messages import say_date
from evals.errors import EvalError
from evals.metrics import share


def question_date(week: str) -> date:
    return date(int(week[:4]), int(week[4:6]), int(week[6:]))


def require_split(split: Path) -> Path:
    """`split`, if it holds the questions and the corpus; otherwise a clear error before any build."""
    if not (split / "questions.jsonl").exists() or not (split / "corpus").is_dir():
        raise EvalError(f"no RealTime QA split at {split}: set RAGBOT_BENCHMARKS_DIR")
    return split


def run_rtqa_dated(split: Path, answerer: Answerer, out: Path) -> dict:
    """Both runs' scores and the date checks; answers and scores are written under `out`."""
    rows = [json.loads(line) for line in (split / "questions.jsonl").read_text("utf-8").splitlines() if line]
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, as_of in (("as of today", None), ("as of the question's date", "week")):
        answers = [
            answerer.answer(r["question"], as_of=question_date(r["week"]) if as_of else None) for r in rows
        ]
        path = out / f"answers-{'dated' if as_of else 'today'}.jsonl"
        path.write_text("".join(a.model_dump_json() + "\n" for a in answers), encoding="utf-8")
        results[name] = {"score": _score(split, path), **_date_checks(rows, answers, answerer)}
    (out / "rtqa-dated.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def _score(split: Path, answers: Path) -> str:
    """The benchmark scorer's printed table, run as its README says."""
    command = [sys.executable, str(split / "score.py"), str(split / "questions.jsonl"), str(answers)]
    command += ["--corpus", str(split / "corpus")]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _date_checks(rows: list[dict], answers: list, answerer: Answerer) -> dict:
    retriever = answerer.live_index.retriever()
    published = {d.id: d.published for d in retriever.documents()}
    future, stated, newest_first = [], [], []
    for row, answer in zip(rows, answers):
        asked = question_date(row["week"])
        future.append(any((c.published or date.min) > asked for c in answer.citations))
        if answer.abstained:
            continue
        stated.append(all(say_date(c.published) in answer.answer for c in answer.citations))
        evidence = [d for d in row["evidence_docs"] if (published.get(d) or date.min) <= asked]
        cited = [c.source for c in answer.citations if c.source in evidence]
        if cited:
            newest = max(evidence, key=lambda d: published.get(d) or date.min)
            newest_first.append(cited[0] == newest)
    return {
        "answers citing a source published after the question": sum(future),
        "answered: text states each cited source's date": share(stated),
        "citing evidence: the newest evidence document cited first": share(newest_first),
        "citing evidence (questions)": len(newest_first),
    }
