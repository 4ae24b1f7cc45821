"""Numbers the answerability model reads about each (question, candidate sentence) pair.

Pure functions of the question's analysis, its profile (`bot.judge.signals`), the answer-type
distribution and the candidates; `FEATURES` names the columns in order, and the fitted model
(`bot.judge.model`) is tied to that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.judge import rules, signals
from bot.judge.answer_types import NONE
from bot.judge.candidates import Candidate
from bot.judge.question import QuestionAnalysis
from index.lexical import term_set
from index.retriever import Retriever

FEATURES = (
    "similarity",  # cosine of question and sentence
    "similarity_gap",  # how far below the best candidate's cosine
    "passage_dense",  # cosine of question and passage
    "passage_lexical",  # the passage's BM25 score over the best passage's
    "passage_rank",  # 0 for the first passage, 1 for the last
    "coverage",  # share of the question's content words in the sentence (IDF-weighted)
    "context_coverage",  # the same in the whole passage and its title
    "entity_share",  # share of the question's names near the sentence
    "entities_found",  # every name of the question is in the sentence's section
    "names_here",  # names of the question inside the sentence itself (up to 3, over 3)
    "type_match",  # probability mass of answer kinds that the sentence holds a new entity of
    "answer_not_entity",  # the probability that the answer is not a named entity at all
    "new_entities",  # entities in the sentence that the question does not name (up to 3, over 3)
    "unknown_noun",  # the question asks about a noun the sources never use
    "reason_cue",  # a "why" question and a causal connective ("because", "due to")
    "opinion_cue",  # "according to analysts" and a reported view ("he said", "experts estimate")
    "other_role",  # the sentence names the role asked about with another qualifier
    "counts_noun",  # a "how many X" question and a number that counts X
    "sentence_length",  # words, over 50, at most 1
    "rule_support",  # the hand-written rules' support score (`bot.judge.rules`)
    "rule_answers",  # whether those rules took the sentence for an answer
)


@dataclass(frozen=True)
class Question:
    """Everything about the question the features need, computed once per question."""

    analysis: QuestionAnalysis
    profile: signals.QuestionProfile
    type_probabilities: dict[str, float]  # answer label -> probability
    text: str = ""  # the question as asked (the reader reads it)


def feature_matrix(question: Question, found: list[Candidate], vector: np.ndarray, retriever: Retriever):
    """One row of `FEATURES` per candidate."""
    if not found:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    similarities = candidate_similarities(found, vector, retriever.sentence_similarities)
    top_lexical = max(c.hit.lexical for c in found) or 1.0
    last_rank = max(c.rank for c in found) or 1
    rows = []
    passages: dict[str, tuple[float, bool]] = {}  # chunk id -> what depends on the passage alone
    for candidate, similarity in zip(found, similarities):
        rows.append(
            _row(
                question,
                candidate,
                float(similarity),
                float(similarities.max()),
                top_lexical,
                last_rank,
                passages,
                retriever,
            )  # fmt: skip
        )
    return np.asarray(rows, dtype=np.float32)


def _row(question, candidate, similarity, best, top_lexical, last_rank, passages, retriever) -> list:
    profile, chunk = question.profile, candidate.hit.chunk
    document = retriever.document(chunk.doc_id)
    if chunk.id not in passages:
        passages[chunk.id] = _passage_signals(profile, chunk, document, retriever)
    context_coverage, entities_found = passages[chunk.id]
    near = f"{document.title}\n{chunk.heading}\n{signals.window(document.text, candidate.span)}"
    share = signals.entity_share(profile, near, retriever)
    sentence_terms = term_set(candidate.text)
    coverage = signals.coverage(profile.terms, term_set(f"{chunk.heading}\n{candidate.text}"), retriever)
    new = new_entity_labels(candidate, question.analysis, document.text)
    names_here = signals.names_in(profile, sentence_terms, retriever)
    reason = profile.answer_type == "reason" and bool(signals.REASON_CUE.search(candidate.text))
    opinion = profile.wants_opinion and bool(signals.ATTRIBUTED.search(candidate.text))
    other_role = signals.names_other_role(profile.role, sentence_terms)
    counts = signals.counts(profile.counted, candidate.text, retriever)
    support = rules.rule_support(similarity, coverage, context_coverage, share, reason, opinion)
    rule_answers = (
        entities_found
        and share >= signals.MIN_ENTITY_SHARE
        and not profile.unknown
        and rules.has_answer_kind(profile.answer_type, candidate.text)
        and rules.asserts(candidate.text, question.analysis.focus)
        and rules.grounded(profile, coverage, similarity, names_here)
        and counts
        and not other_role
        and support >= rules.ANSWER_THRESHOLD
    )
    return [
        similarity,
        best - similarity,
        candidate.hit.dense,
        candidate.hit.lexical / top_lexical,
        candidate.rank / last_rank,
        coverage,
        context_coverage,
        share,
        float(entities_found),
        min(3, names_here) / 3,
        type_match(question.type_probabilities, new),
        question.type_probabilities.get(NONE, 0.0),
        min(3, len(new)) / 3,
        float(bool(profile.unknown)),
        float(reason),
        float(opinion),
        float(other_role),
        float(profile.counted is not None and counts),
        min(1.0, len(candidate.text.split()) / 50),
        support,
        float(rule_answers),
    ]


def _passage_signals(profile: signals.QuestionProfile, chunk, document, retriever) -> tuple[float, bool]:
    """The coverage of the question's words by the passage and its title, and whether every name
    of the question is in the passage's section: the same for every sentence of the passage."""
    context = term_set(f"{document.title}\n{chunk.heading}\n{chunk.text}")
    section = retriever.section_words(chunk.doc_id, chunk.heading) | term_set(document.title)
    found = all(signals.found(e, section, retriever) for e in profile.entities)
    return signals.coverage(profile.terms, context, retriever), found


def new_entity_labels(candidate: Candidate, analysis: QuestionAnalysis, text: str) -> list[str]:
    """Labels of the sentence's entities that the question does not itself name: "Which automaker
    overtook Tesla?" is not answered by a sentence whose only organisation is Tesla."""
    named = analysis.entity_texts
    labels = []
    for start, end, label in candidate.entities:
        words = text[start:end].lower()
        if not any(words in name or name in words for name in named):
            labels.append(label)
    return labels


def type_match(probabilities: dict[str, float], labels: list[str]) -> float:
    """The probability that the answer is of a kind the sentence holds: P(ORG) + P(GPE) for a
    sentence with a new organisation and a new country."""
    return sum(p for label, p in probabilities.items() if label in set(labels))


def candidate_similarities(found: list[Candidate], vector: np.ndarray, similarity_of) -> np.ndarray:
    """Each candidate's similarity to the query `vector`, asked of the index one document at a time.
    `similarity_of(doc_id, spans, vector)`: a retriever's `sentence_similarities` or its
    `sentence_similarities_across_languages`."""
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(found):
        by_doc.setdefault(c.hit.chunk.doc_id, []).append(i)
    result = np.zeros(len(found), dtype=np.float32)
    for doc_id, indexes in by_doc.items():
        result[indexes] = similarity_of(doc_id, [found[i].span for i in indexes], vector)
    return result
