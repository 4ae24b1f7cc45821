"""The answering core: question in, cited `Answer` out. No Telegram, no printing, no settings.

Steps: clean the question, resolve a follow-up, retrieve passages, judge their sentences
(`bot.judge`), then compose a short answer from the best evidence, one citation per sentence,
or abstain, with the reasons, when no sentence answers.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from bot.errors import BadQuestion
from bot.followup import Resolved, resolve_followup
from bot.generative import (
    SYSTEM_PROMPT,
    ChatClient,
    GenerationFailed,
    best_supporting_span,
    build_prompt,
    check_sentences,
)
from bot.judge import Candidate, Judge, Judgement
from bot.language import ENGLISH, detect
from bot.messages import say
from bot.models import Answer, Citation, Passage
from bot.questions import clean_question
from index.lexical import term_set
from index.models import Hit
from index.retriever import LiveIndex, Retriever

log = logging.getLogger(__name__)

MAX_SENTENCES = 3
MAX_PASSAGES = 4
ENUMERATION_GAP = 2  # sentences allowed between "First, ..." and "Second, ..."
MAX_LIST_SENTENCES = 4
DUPLICATE_OVERLAP = 0.7
RELATED_SIMILARITY = 0.25  # a hit this close is named as related when abstaining
_ANNOUNCES_LIST = re.compile(r"\b(two|three|four|five|several|following)\b[^.]*[:.]$", re.I)
_ENUMERATED = re.compile(r"^(First|Second|Third|Fourth|Fifth|Finally|Lastly)\b")


DEFAULT_TOP_K = 10  # passages retrieved and judged per question
DEFAULT_MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class AnswerOptions:
    top_k: int = DEFAULT_TOP_K
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    judge: str = "rules"  # the decision policy, see `bot.judge.decision`


class Answerer:
    """Answers questions from the index that `live_index` serves.

    With a `generator` (an OpenAI-compatible chat client), answerable questions get a generated
    answer whose every sentence passed `bot.generative.check_sentences`; otherwise, and whenever
    generation fails, the extractive answer.
    """

    def __init__(
        self,
        live_index: LiveIndex,
        options: AnswerOptions = AnswerOptions(),
        generator: ChatClient | None = None,
    ) -> None:
        self.live_index = live_index
        self.options = options
        self.generator = generator
        self.judge = Judge(live_index.embedder, options.judge)

    def answer(self, question: str, previous: str | None = None) -> Answer:
        """Answer `question`; `previous` is the last resolved question of the conversation, if any.

        Bad questions do not raise: the answer carries the problem as its text.
        """
        started = time.perf_counter()
        language = detect(question[: self.options.max_question_chars])
        try:
            cleaned = clean_question(question, self.options.max_question_chars, language)
            resolved = resolve_followup(cleaned, previous)
            retriever = self.live_index.retriever()  # one snapshot for the whole question
            if language != ENGLISH and not retriever.multilingual:
                raise BadQuestion(say("english_only", language))
        except BadQuestion as problem:
            return Answer(
                question=question,
                resolved_question="",
                answer=str(problem),
                abstained=True,
                problem=str(problem),
                language=language,
            )
        answer = self._answer_from(retriever, question, resolved, language)
        return answer.model_copy(update={"seconds": round(time.perf_counter() - started, 4)})

    def _judged(self, retriever: Retriever, followup: Resolved, language: str) -> tuple[list[Hit], Judgement]:
        """The passages found and the judgement of their sentences, in the question's language."""
        k = self.options.top_k
        if language != ENGLISH:
            vector = retriever.embed_query_across_languages(followup.question)
            hits = retriever.search_across_languages(vector, k=k)
            return hits, self.judge.judge_across_languages(
                followup.question, language, hits, vector, retriever
            )
        vector = retriever.embed_query(followup.search_text)
        hits = retriever.search(followup.search_text, k=k, vector=vector)
        question = self.judge.read(followup.question, retriever, followup.topic)
        return hits, self.judge.judge(question, hits, vector, retriever)

    def _answer_from(self, retriever: Retriever, question: str, followup: Resolved, language: str) -> Answer:
        resolved = followup.question
        hits, judgement = self._judged(retriever, followup, language)
        passages = [
            Passage(source=hit.chunk.doc_id, start=hit.chunk.start, end=hit.chunk.end, score=round(score, 4))
            for hit, score in rank_passages(hits, judgement)
        ]
        base = dict(
            question=question,
            resolved_question=resolved,
            topic=followup.topic,
            index_version=retriever.version,
            confidence=round(judgement.confidence, 4),
            passages=passages,
            language=language,
        )
        if not judgement.answers:
            related = _related_titles(retriever, hits)
            closest = say("closest", language, titles="; ".join(related)) if related else ""
            text = f"{say('abstain', language)} {closest}".strip()
            reasons = dict(judgement.reasons)
            return Answer(
                **base, answer=text, abstained=True, related_sources=related, abstain_reasons=reasons
            )
        evidence = judgement.evidence
        chosen = select_sentences(evidence, is_list=_asks_for_list(resolved))
        spans = [(c.hit.chunk.doc_id, c.span.start, c.span.end) for c in chosen]
        spans = _with_enumerations(spans, retriever)[:MAX_LIST_SENTENCES]
        extractive = _compose(spans, retriever, base)
        if self.generator is None:
            return extractive
        return self._generate(retriever, resolved, evidence, extractive, base)

    def _generate(
        self, retriever: Retriever, resolved: str, evidence: list[Candidate], extractive: Answer, base: dict
    ) -> Answer:
        """A generated answer that passed the check, or the extractive one (with why, in the log)."""
        assert self.generator is not None  # only called when there is one
        chunks = list({e.hit.chunk.id: e.hit.chunk for e in evidence}.values())[:MAX_PASSAGES]
        try:
            text = self.generator.complete(SYSTEM_PROMPT, build_prompt(resolved, [c.text for c in chunks]))
        except GenerationFailed as exc:
            log.warning("generative answer failed (%s); answering extractively", exc)
            return extractive
        embed = retriever.embedder.embed
        checked = check_sentences(text, [c.text for c in chunks], embed)
        dropped = dict(dropped_sentences=sum(checked.dropped.values()), drop_reasons=dict(checked.dropped))
        if not checked.kept:
            return extractive.model_copy(update=dropped)
        citations: list[Citation] = []
        parts: list[str] = []
        for sentence in checked.kept:
            markers = []
            for number in sentence.passages:
                chunk = chunks[number - 1]
                document = retriever.document(chunk.doc_id)
                start, end = best_supporting_span(sentence.text, chunk, document.text, embed)
                existing = next((c for c in citations if (c.source, c.start) == (chunk.doc_id, start)), None)
                if existing is None:
                    existing = _citation(len(citations) + 1, chunk.doc_id, start, end, retriever)
                    citations.append(existing)
                markers.append(f"[{existing.n}]")
            parts.append(f"{sentence.text} {''.join(markers)}")
        return Answer(
            **base,
            answer=" ".join(parts),
            abstained=False,
            citations=citations,
            composer="generative",
            **dropped,
        )


def _compose(spans: list[tuple[str, int, int]], retriever: Retriever, base: dict) -> Answer:
    """The extractive answer: each span quoted with its marker."""
    citations, parts = [], []
    for n, (doc_id, start, end) in enumerate(spans, 1):
        citations.append(_citation(n, doc_id, start, end, retriever))
        parts.append(f"{citations[-1].quote} [{n}]")
    return Answer(**base, answer=" ".join(parts), abstained=False, citations=citations)


def select_sentences(evidence: list[Candidate], is_list: bool = False) -> list[Candidate]:
    """The best sentence first, then the runners-up in reading order, without repeats."""
    limit = MAX_LIST_SENTENCES if is_list else MAX_SENTENCES
    chosen: list[Candidate] = []
    for item in evidence:
        if len(chosen) == limit:
            break
        if not any(_overlap(item.text, c.text) > DUPLICATE_OVERLAP for c in chosen):
            chosen.append(item)
    head, rest = chosen[0], chosen[1:]
    order = {doc_id: i for i, doc_id in enumerate(dict.fromkeys(c.hit.chunk.doc_id for c in chosen))}
    return [head] + sorted(rest, key=lambda c: (order[c.hit.chunk.doc_id], c.span.start))


def rank_passages(hits: list[Hit], judgement: Judgement) -> list[tuple[Hit, float]]:
    """The hits reordered by retrieval score plus the judge's score of their best sentence: a
    passage holding the answer rises above one that only shares words with the question."""
    best: dict[str, float] = {}
    for candidate, score in judgement.ranked:
        best.setdefault(candidate.hit.chunk.id, score)
    scored = [(hit, hit.score + best.get(hit.chunk.id, 0.0)) for hit in hits]
    return sorted(scored, key=lambda pair: -pair[1])


def _overlap(a: str, b: str) -> float:
    first, second = term_set(a), term_set(b)
    return len(first & second) / max(1, min(len(first), len(second)))


def _with_enumerations(spans: list[tuple[str, int, int]], retriever: Retriever) -> list[tuple[str, int, int]]:
    """A sentence announcing "three key considerations" brings the "First, ... Second, ..." after it."""
    result = []
    for span in spans:
        result.append(span)
        text = retriever.document(span[0]).text
        if not _ANNOUNCES_LIST.search(text[span[1] : span[2]]):
            continue
        gap = 0
        for start, end in retriever.sentences_after(span[0], span[2]):
            item = (span[0], start, end)
            enumerated = bool(_ENUMERATED.match(text[item[1] : item[2]]))
            gap = 0 if enumerated else gap + 1
            if gap > ENUMERATION_GAP:
                break
            if enumerated and item not in result:
                result.append(item)
    return list(dict.fromkeys(result))


def _citation(n: int, doc_id: str, start: int, end: int, retriever: Retriever) -> Citation:
    document = retriever.document(doc_id)
    return Citation(
        n=n,
        source=document.id,
        title=document.title,
        publisher=document.publisher,
        date=document.date,
        url=document.url,
        quote=document.text[start:end],
        start=start,
        end=end,
    )


def _related_titles(retriever: Retriever, hits) -> list[str]:
    ids = dict.fromkeys(h.chunk.doc_id for h in hits if h.dense >= RELATED_SIMILARITY)
    return [retriever.document(i).title for i in list(ids)[:2]]


def _asks_for_list(question: str) -> bool:
    lowered = question.lower()
    return any(
        cue in lowered
        for cue in ("which countries", "what are", "list", "which areas", "what kinds", "considerations")
    )
