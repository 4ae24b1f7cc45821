"""The answering core: question in, cited `Answer` out. No Telegram, no printing, no settings.

Steps: clean the question, resolve a follow-up, retrieve passages, judge their sentences
(`bot.judge`), then compose a short answer from the best evidence, one citation per sentence,
or abstain, with the reasons, when no sentence answers.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

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
from bot.judge.candidates import Candidate
from bot.judge.decision import Judgement
from bot.judge.judge import Judge
from bot.judge.reader import load_reader
from bot.language import ENGLISH, detect
from bot.messages import say, say_date
from bot.models import Answer, Citation, Passage
from bot.questions import clean_question
from bot.timeline.arrange import Arranged, arrange
from bot.timeline.question_time import QuestionTime, read_question_time
from bot.timeline.relative import resolve_relative
from bot.timeline.values import answer_values
from index.lexical import term_set
from index.models import Hit
from index.retriever import LiveIndex, Retriever

log = logging.getLogger(__name__)

MAX_SENTENCES = 3
MAX_PASSAGES = 4
ENUMERATION_GAP = 2  # sentences allowed between "First, ..." and "Second, ..."
MAX_LIST_SENTENCES = 4
ASKS_DATE = 0.3  # a question this likely to ask for a DATE gets the relative dates of its quotes resolved
DUPLICATE_OVERLAP = 0.7
RELATED_SIMILARITY = 0.25  # a hit this close is named as related when abstaining
_ANNOUNCES_LIST = re.compile(r"\b(two|three|four|five|several|following)\b[^.]*[:.]$", re.I)
_ENUMERATED = re.compile(r"^(First|Second|Third|Fourth|Fifth|Finally|Lastly)\b")


DEFAULT_TOP_K = 10  # passages retrieved and judged per question
# A passage found is judged and shown with the text around it, up to this many characters: chunks
# are a paragraph or two, and in news the sentence that answers often stands in the paragraph next
# to the one that matched (RealTime QA dev: gold answer in the top-5 passages 0.79 -> 0.85 within
# the section, 0.86 -> 0.88 across headings; see the README). Ranking stays on the smaller chunks,
# whose vectors are sharper.
PASSAGE_CHARS = 800
DEFAULT_MAX_QUESTION_CHARS = 1000
DEFAULT_READER_DIR = Path(".ragbot/reader")  # a cache: the reader's export (see `bot.judge.reader`)


@dataclass(frozen=True)
class AnswerOptions:
    top_k: int = DEFAULT_TOP_K
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    judge: str = "rules"  # the decision policy, see `bot.judge.decision`
    reader_dir: Path = DEFAULT_READER_DIR  # where the reader is exported to, once (`bot.judge.reader`)
    as_of: date | None = None  # the reference date ("now") of every question; None: the day it is asked


class Judged(NamedTuple):
    hits: list[Hit]  # the passages found, published by the reference date
    judgement: Judgement
    when: QuestionTime  # what time the question asks about
    values: Callable[[Candidate], frozenset[str]]  # the answer a sentence gives (`bot.timeline.values`)
    asks_when: bool  # the question asks for a date: relative dates in quotes get resolved


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
        reader_dir = options.reader_dir
        self.judge = Judge(live_index.embedder, options.judge, reader=lambda: load_reader(reader_dir))

    def warm_up(self) -> None:
        """Open the index and load the models now (a bot's start), not on a user's first question."""
        generator, self.generator = self.generator, None  # no call to a language model for this
        try:
            self.answer("What do the sources say?")
        finally:
            self.generator = generator

    def answer(self, question: str, previous: str | None = None, as_of: date | None = None) -> Answer:
        """Answer `question`; `previous` is the last resolved question of the conversation, if any;
        `as_of` the day taken as "now" (sources published after it are not used), by default the
        options' `as_of`, or today.

        Bad questions do not raise: the answer carries the problem as its text.
        """
        started = time.perf_counter()
        reference = as_of or self.options.as_of or date.today()
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
        answer = self._answer_from(retriever, question, resolved, language, reference)
        return answer.model_copy(update={"seconds": round(time.perf_counter() - started, 4)})

    def _judged(self, retriever: Retriever, followup: Resolved, language: str, reference: date) -> Judged:
        """The passages published by the reference date and the judgement of their sentences, in
        the question's language (see `Judged`)."""
        k = self.options.top_k
        if language != ENGLISH:
            when = read_question_time(followup.question, reference)
            vector = retriever.embed_query_across_languages(followup.question)
            hits = retriever.search_across_languages(
                vector, k=k, published_by=reference, fresher=_fresher(when)
            )
            judgement = self.judge.judge_across_languages(
                followup.question, language, hits, vector, retriever
            )
            return Judged(hits, judgement, when, lambda candidate: frozenset(), False)
        # A named past period needs no parse, and the parse (spaCy, in `bot.early`'s worker on a cold
        # start) is waited for only after the search.
        fresher = _fresher(read_question_time(followup.question, reference))
        vector = retriever.embed_query(followup.search_text)
        hits = retriever.search(
            followup.search_text, k=k, vector=vector, published_by=reference, fresher=fresher
        )
        hits = [hit.model_copy(update={"chunk": retriever.widened(hit.chunk, PASSAGE_CHARS)}) for hit in hits]
        question = self.judge.read(followup.question, retriever, followup.topic)
        kinds, analysis = question.type_probabilities, question.analysis
        asks_when = analysis.wh == "when" or kinds.get("DATE", 0.0) >= ASKS_DATE
        when = read_question_time(followup.question, reference, analysis.present_tense)
        judgement = self.judge.judge(question, hits, vector, retriever)
        values = lambda candidate: answer_values(candidate, analysis.entity_texts, kinds)  # noqa: E731
        return Judged(hits, judgement, when, values, asks_when)

    def _answer_from(
        self, retriever: Retriever, question: str, followup: Resolved, language: str, reference: date
    ) -> Answer:
        resolved = followup.question
        hits, judgement, when, values, asks_when = self._judged(retriever, followup, language, reference)
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
            as_of=when.reference.isoformat(),
            question_time=when.kind,
        )
        if not judgement.answers:
            related = _related_titles(retriever, hits)
            closest = say("closest", language, titles="; ".join(related)) if related else ""
            text = f"{say('abstain', language)} {closest}".strip()
            reasons = dict(judgement.reasons)
            return Answer(
                **base, answer=text, abstained=True, related_sources=related, abstain_reasons=reasons
            )
        published = lambda doc_id: retriever.document(doc_id).published  # noqa: E731
        arranged = arrange(judgement.evidence, judgement.probable, when, published, values)
        log.info("dates: %s", arranged.why)
        chosen = _chosen(arranged, is_list=_asks_for_list(resolved))
        spans = [(c.hit.chunk.doc_id, c.span.start, c.span.end) for c in chosen]
        spans = _with_enumerations(spans, retriever)[:MAX_LIST_SENTENCES]
        dated = dict(conflict=bool(arranged.conflicting), superseded=arranged.superseded)
        extractive = _compose(spans, retriever, base | dated, asks_when)
        if self.generator is None or arranged.conflicting:  # two answers side by side: quoted as they are
            return extractive
        return self._generate(retriever, resolved, arranged.evidence, extractive, base | dated)

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
        parts: list[tuple[str, Citation]] = []
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
                last: Citation = existing
            parts.append((f"{sentence.text} {''.join(markers)}", last))  # dated by its last marker
        return Answer(
            **base,
            answer=_dated_text(parts, base["language"], base["conflict"]),
            abstained=False,
            citations=citations,
            composer="generative",
            **dropped,
        )


def _compose(spans: list[tuple[str, int, int]], retriever: Retriever, base: dict, asks_when: bool) -> Answer:
    """The extractive answer: each span quoted with its marker, under its source's date; for a
    question asking "when", with the relative dates it holds resolved against that date."""
    citations = [_citation(n, *span, retriever) for n, span in enumerate(spans, 1)]
    language = base["language"]
    parts = [(f"{c.quote} [{c.n}]", c) for c in citations]
    resolutions = [_resolutions(c, language) if asks_when else "" for c in citations]
    text = _dated_text(parts, language, base["conflict"], resolutions)
    return Answer(**base, answer=text, abstained=False, citations=citations)


def _dated_text(
    parts: list[tuple[str, Citation]], language: str, conflict: bool, resolutions: list[str] | None = None
) -> str:
    """The answer's sentences (each with the citation of its last marker), each run from one date
    under "(30 June 2025)", so the text says when its evidence is from; "The sources disagree:"
    first when they do."""
    text, last = [say("disagree", language)] if conflict else [], None
    for i, (part, citation) in enumerate(parts):
        label = say_date(citation.published, language) + (resolutions[i] if resolutions else "")
        text.append(part if label == last else f"({label}) {part}")
        last = label
    return " ".join(text)


def _resolutions(citation: Citation, language: str) -> str:
    """ "; Wednesday = 25 June 2025" for each relative date of the quote (none when undated)."""
    if citation.published is None:
        return ""
    found = resolve_relative(citation.quote, citation.published)
    return "".join(f"; {r.expression} = {say_date(r.day, language, r.precision)}" for r in found)


def _chosen(arranged: Arranged, is_list: bool) -> list[Candidate]:
    """The sentences to quote: the lead source's best first, and a conflicting answer always kept."""
    room = (MAX_LIST_SENTENCES if is_list else MAX_SENTENCES) - len(arranged.conflicting)
    return select_sentences(arranged.evidence, is_list)[:room] + arranged.conflicting


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


def _fresher(when: QuestionTime) -> date | None:
    """The day newer sources are preferred by (`index.retriever.age_penalty`): the reference date,
    unless the question names a past period ("in 2019", "former"), where an old source is as good."""
    return None if when.kind == "period" else when.reference


def rank_passages(hits: list[Hit], judgement: Judgement) -> list[tuple[Hit, float]]:
    """The hits reordered by retrieval score plus the judge's score of their best sentence: a
    passage holding the answer rises above one that only shares words with the question."""
    best: dict[str, float] = {}
    for candidate, score in judgement.ranked:
        best.setdefault(candidate.hit.chunk.id, score)
    scored = sorted(
        ((hit, hit.score + best.get(hit.chunk.id, 0.0)) for hit in hits), key=lambda pair: -pair[1]
    )
    return without_repeats(scored)


def without_repeats(ranked: list[tuple[Hit, float]]) -> list[tuple[Hit, float]]:
    """`ranked` without the passages whose text is all listed already, higher up. Neighbouring
    chunks can widen (`PASSAGE_CHARS`) to the same paragraphs: on RealTime QA dev two answers listed
    one passage twice in their first five. A passage that only partly repeats others stays: its
    new part may hold the answer."""
    kept: list[tuple[Hit, float]] = []
    shown: dict[str, set[int]] = {}  # per document, the characters listed so far
    for hit, score in ranked:
        chunk = hit.chunk
        characters = set(range(chunk.start, chunk.end))
        listed = shown.setdefault(chunk.doc_id, set())
        if not characters <= listed:
            kept.append((hit, score))
            listed |= characters
    return kept


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
