"""The eval set: `evals/questions.jsonl`, one case per line, validated on load.

Each line is a JSON object:

    {"id": "albanese-why",                         unique, stable across edits
     "question": "Why did Albanese skip the NATO summit?",
     "answerable": true,                           false: the sources do not hold the answer
     "tags": ["why", "misspelling"],               free labels; metrics are broken down by tag
     "evidence": [{"source": "xpert-....txt",      file under sources/
                   "quote": "verbatim span ..."}], the passage(s) an answer must rest on
     "facts": ["domestic", "5%|five percent"],     a correct answer contains each ("|" = any of)
     "follows": "fu1-a"}                           optional: asked right after that case

A quote that is not found verbatim in its source, a duplicate id, a follow-up of an unknown case,
or an answerable case without evidence is reported with the file and line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.errors import DatasetError

DEFAULT_PATH = Path(__file__).with_name("questions.jsonl")


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    quote: str = Field(min_length=10)


class EvalCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answerable: bool
    tags: list[str] = []
    evidence: list[Evidence] = []
    facts: list[str] = []
    follows: str | None = None

    @model_validator(mode="after")
    def _answerable_cases_have_evidence(self) -> EvalCase:
        if self.answerable and not self.evidence:
            raise ValueError("an answerable case needs at least one evidence quote")
        if not self.answerable and (self.evidence or self.facts):
            raise ValueError("an unanswerable case has no evidence or facts")
        return self


class GoldSpan(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    start: int
    end: int


def load_cases(path: Path = DEFAULT_PATH, sources_dir: Path = Path("sources")) -> list[EvalCase]:
    """Load and check every case.

    Raises:
        DatasetError: naming the file and line of the first broken case.
    """
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = EvalCase.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "case"
            raise DatasetError(f"{path}:{number}: {where}: {first['msg']}") from exc
        problem = _problem(case, seen, sources_dir)
        if problem:
            raise DatasetError(f"{path}:{number}: case {case.id!r}: {problem}")
        seen.add(case.id)
        cases.append(case)
    return cases


def _problem(case: EvalCase, seen: set[str], sources_dir: Path) -> str | None:
    if case.id in seen:
        return "duplicate id"
    if case.follows and case.follows not in seen:
        return f"follows {case.follows!r}, which is not an earlier case"
    for evidence in case.evidence:
        path = sources_dir / evidence.source
        if not path.exists():
            return f"evidence source {evidence.source} does not exist"
        if evidence.quote not in path.read_text(encoding="utf-8"):
            return f"evidence quote not found verbatim in {evidence.source}: {evidence.quote[:60]!r}"
    return None


def gold_spans(case: EvalCase, sources_dir: Path) -> list[GoldSpan]:
    """Character spans of the case's evidence quotes in their sources."""
    spans = []
    for evidence in case.evidence:
        start = (sources_dir / evidence.source).read_text(encoding="utf-8").find(evidence.quote)
        spans.append(GoldSpan(source=evidence.source, start=start, end=start + len(evidence.quote)))
    return spans
