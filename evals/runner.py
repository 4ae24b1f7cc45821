"""Run the eval set through the same `Answerer` the bot uses and score every case."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from bot.answering import Answerer
from bot.followup import Resolved
from bot.models import Answer
from evals import metrics
from evals.dataset import EvalCase, GoldSpan, gold_spans

RETRIEVAL_DEPTH = 10


class CaseResult(BaseModel):
    """One case: what was asked, what came back, and how it scored."""

    id: str
    question: str
    resolved_question: str
    tags: list[str]
    answerable: bool
    abstained: bool
    answer: str
    citations: list[dict]
    expected: list[str]
    rank: int | None = None
    search_rank: int | None = None
    recall_at_5: float | None = None
    cited_gold: bool | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    facts_ok: bool | None = None
    quotes_valid: float | None = None
    sentences_cited: float | None = None
    confidence: float
    abstain_reasons: dict[str, int] = {}
    seconds: float
    composer: str = "extractive"
    dropped_sentences: int = 0
    drop_reasons: dict[str, int] = {}
    failure: str | None = None


def run_cases(answerer: Answerer, cases: list[EvalCase], sources_dir: Path) -> list[CaseResult]:
    """Answer every case (follow-ups after the case they follow) and score it."""
    resolved: dict[str, str] = {}
    results = []
    for case in cases:
        answer = answerer.answer(case.question, previous=resolved.get(case.follows) if case.follows else None)
        resolved[case.id] = answer.resolved_question
        searched = Resolved(answer.resolved_question, answer.topic).search_text
        hits = answerer.live_index.retriever().search(searched, k=RETRIEVAL_DEPTH)
        search_only = [(h.chunk.doc_id, h.chunk.start, h.chunk.end) for h in hits]
        judged = [(p.source, p.start, p.end) for p in answer.passages]
        results.append(
            score_case(case, answer, judged, search_only, gold_spans(case, sources_dir), sources_dir)
        )
    return results


Span = tuple[str, int, int]  # source, start, end


def score_case(
    case: EvalCase,
    answer: Answer,
    passages: list[Span],
    search_only: list[Span],
    gold: list[GoldSpan],
    sources_dir: Path,
) -> CaseResult:
    """Score one answer against its case.

    Args:
        passages: the answer's passages as the answerer ranked them (hybrid search, then evidence).
        search_only: the same question's hybrid-search ranking alone, for comparison.
    """

    def on_gold(source: str, start: int, end: int) -> bool:
        return any(metrics.overlaps(source, start, end, g.source, g.start, g.end) for g in gold)

    cites = answer.citations
    result = dict(
        id=case.id,
        question=case.question,
        resolved_question=answer.resolved_question,
        tags=case.tags,
        answerable=case.answerable,
        abstained=answer.abstained,
        answer=answer.answer,
        citations=[c.model_dump() for c in cites],
        expected=[e.quote for e in case.evidence] + case.facts,
        confidence=answer.confidence,
        abstain_reasons=answer.abstain_reasons,
        seconds=answer.seconds,
        composer=answer.composer,
        dropped_sentences=answer.dropped_sentences,
        drop_reasons=answer.drop_reasons,
    )
    if cites:
        result["quotes_valid"] = metrics.share(_quote_valid(c, sources_dir) for c in cites)
        result["sentences_cited"] = metrics.sentences_cited(answer.answer)
    if case.answerable:
        result["rank"] = metrics.first_relevant_rank([on_gold(*p) for p in passages])
        result["search_rank"] = metrics.first_relevant_rank([on_gold(*p) for p in search_only])
        result["recall_at_5"] = metrics.share(
            any(metrics.overlaps(*p, g.source, g.start, g.end) for p in passages[:5]) for g in gold
        )
        if not answer.abstained:
            result["cited_gold"] = any(on_gold(c.source, c.start, c.end) for c in cites)
            result["citation_recall"] = metrics.share(
                any(metrics.overlaps(c.source, c.start, c.end, g.source, g.start, g.end) for c in cites)
                for g in gold
            )
            result["citation_precision"] = metrics.share(
                on_gold(c.source, c.start, c.end) or any(metrics.fact_present(f, c.quote) for f in case.facts)
                for c in cites
            )
            result["facts_ok"] = all(metrics.fact_present(f, answer.answer) for f in case.facts)
    result["failure"] = _failure(case, answer, result)
    return CaseResult(**result)


def _quote_valid(citation, sources_dir: Path) -> bool:
    path = sources_dir / citation.source
    if path.suffix.lower() not in (".txt", ".md"):
        return True  # extracted text: checked against the index's copy by the tests
    return path.read_text(encoding="utf-8")[citation.start : citation.end] == citation.quote


def _failure(case: EvalCase, answer: Answer, result: dict) -> str | None:
    if result.get("quotes_valid") is not None and result["quotes_valid"] < 1:
        return "a quote is not verbatim at its offsets"
    if not case.answerable:
        return None if answer.abstained else "answered a question the sources do not answer"
    if answer.abstained:
        return "abstained on an answerable question"
    if not result["cited_gold"]:
        return "no citation overlaps the gold evidence"
    if not result["facts_ok"]:
        return "a key fact is missing from the answer"
    return None


def summarise(results: list[CaseResult]) -> dict[str, float | None]:
    """The headline metrics over all cases."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in answerable if not r.abstained]
    abstentions = [r for r in results if r.abstained]
    latencies = [r.seconds * 1000 for r in results]
    return {
        "cases": len(results),
        "hit@1": metrics.mean(metrics.hit_at(r.rank, 1) for r in answerable),
        "hit@3": metrics.mean(metrics.hit_at(r.rank, 3) for r in answerable),
        "hit@5": metrics.mean(metrics.hit_at(r.rank, 5) for r in answerable),
        "mrr": metrics.mean(metrics.reciprocal_rank(r.rank) for r in answerable),
        "search_only_hit@1": metrics.mean(metrics.hit_at(r.search_rank, 1) for r in answerable),
        "search_only_hit@5": metrics.mean(metrics.hit_at(r.search_rank, 5) for r in answerable),
        "recall@5 (multi-passage)": metrics.mean(r.recall_at_5 for r in answerable if "multi" in r.tags),
        "answered_with_gold": metrics.share(bool(r.cited_gold) for r in answerable),
        "citation_recall": metrics.mean(r.citation_recall for r in answered),
        "citation_precision": metrics.mean(r.citation_precision for r in answered),
        "key_fact_accuracy": metrics.share(bool(r.facts_ok) for r in answered),
        "quote_validity": metrics.mean(r.quotes_valid for r in results if r.quotes_valid is not None),
        "sentences_cited": metrics.mean(r.sentences_cited for r in results if r.sentences_cited is not None),
        "abstention_recall": metrics.share(r.abstained for r in unanswerable),
        "abstention_precision": metrics.share(not r.answerable for r in abstentions),
        "false_abstention_rate": metrics.share(r.abstained for r in answerable),
        "generated_answers": metrics.share(r.composer == "generative" for r in answered),
        "dropped_generated_sentences": sum(r.dropped_sentences for r in results),
        "latency_p50_ms": metrics.percentile(latencies, 50),
        "latency_p95_ms": metrics.percentile(latencies, 95),
    }


def drop_reasons(results: list[CaseResult]) -> dict[str, int]:
    """Why generated sentences were dropped, over all cases."""
    total: dict[str, int] = {}
    for result in results:
        for reason, count in result.drop_reasons.items():
            total[reason] = total.get(reason, 0) + count
    return total


def by_tag(results: list[CaseResult]) -> dict[str, dict[str, float | int | None]]:
    """Pass rate per tag."""
    tags = sorted({t for r in results for t in r.tags})
    return {
        tag: {"cases": len(rs), "passed": metrics.share(r.failure is None for r in rs)}
        for tag in tags
        for rs in [[r for r in results if tag in r.tags]]
    }
