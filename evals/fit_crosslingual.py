"""Fit the cross-lingual judge (`bot.judge.crosslingual`) on questions in other languages.

Fitted on `evals/multilingual-fit.jsonl` (Korean, Japanese, German, French, Spanish, Italian,
Portuguese and Dutch questions about the seed sources, written for fitting); reported on
`evals/multilingual.jsonl` and `evals/multilingual-latin.jsonl` (other questions and other evidence,
never fitted on). Each question goes through the product's own multilingual retrieval; a
candidate sentence is labelled 1 when it overlaps the case's evidence (unanswerable: all 0). A
logistic regression on `FEATURES` (scikit-learn, seeded) gives each sentence a probability; the
threshold is the lowest that still refuses `MIN_ABSTENTION` of the unanswerable fitting questions:
the most answers for a stated rate of refusing what the sources cannot answer.

    python -m evals fit-crosslingual
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.judge.candidates import Candidate, candidates
from bot.judge.crosslingual import FEATURES, MODEL_FILE, CrossLingualModel, answer_kinds, feature_rows
from bot.judge.judge import Judge
from bot.language import detect
from evals.dataset import EvalCase, GoldSpan, gold_spans, load_cases
from evals.metrics import overlaps
from index.retriever import Retriever

SEED = 0
TOP_K = 10
FIT_SET = Path(__file__).with_name("multilingual-fit.jsonl")
REPORT_SETS = tuple(
    Path(__file__).with_name(name) for name in ("multilingual.jsonl", "multilingual-latin.jsonl")
)
MIN_ABSTENTION = 0.9  # of unanswerable questions refused: a wrong quote costs more than a refusal


@dataclass
class Question:
    answerable: bool
    rows: np.ndarray
    gold: np.ndarray  # per candidate: overlaps the evidence


def fit_crosslingual(retriever: Retriever, judge: Judge, sources: Path) -> dict:
    """Fit, choose the threshold, write `crosslingual_model.json`; return what it measured."""
    from sklearn.linear_model import LogisticRegression

    def read(path: Path) -> list[Question]:
        return _questions(load_cases(path, sources), retriever, judge, sources)

    fit = read(FIT_SET)
    rows = np.vstack([q.rows for q in fit])
    labels = np.concatenate([q.gold for q in fit]).astype(int)
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    regression = LogisticRegression(C=1.0, class_weight="balanced", random_state=SEED, max_iter=1000)
    regression.fit((rows - mean) / scale, labels)
    model = CrossLingualModel(
        tuple(map(float, regression.coef_[0])),
        float(regression.intercept_[0]),
        tuple(map(float, mean)),
        tuple(map(float, scale)),
        0.5,
    )
    threshold = _best_threshold(model, fit)
    about = {
        "fitted_on": f"{FIT_SET.name}: {len(fit)} questions, {len(labels)} sentences, {labels.sum()} gold",
        "threshold_chosen_on": FIT_SET.name,
        "fit_set": _metrics(model, fit, threshold),
        "report_sets": {path.name: _metrics(model, read(path), threshold) for path in REPORT_SETS},
        "weights": dict(zip(FEATURES, map(lambda w: round(float(w), 4), model.weights))),
    }
    MODEL_FILE.write_text(
        json.dumps(
            {
                "features": FEATURES,
                "weights": model.weights,
                "bias": model.bias,
                "mean": model.mean,
                "scale": model.scale,
                "threshold": threshold,
                "about": about,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return about


def _questions(cases: list[EvalCase], retriever: Retriever, judge: Judge, sources: Path) -> list[Question]:
    found = []
    for case in cases:
        language = detect(case.question)
        vector = retriever.embed_query_across_languages(case.question)
        sentences = candidates(retriever.search_across_languages(vector, k=TOP_K), retriever)
        kinds = answer_kinds(case.question, language, judge.types, judge.embedder.embed)
        rows = feature_rows(case.question, sentences, vector, retriever, kinds)
        spans = gold_spans(case, sources)  # reads the sources once per question
        gold = np.array([_on_gold(c, spans) for c in sentences], dtype=bool)
        found.append(Question(case.answerable, rows, gold))
    return found


def _on_gold(candidate: Candidate, spans: list[GoldSpan]) -> bool:
    doc, span = candidate.hit.chunk.doc_id, candidate.span
    return any(overlaps(doc, span.start, span.end, g.source, g.start, g.end) for g in spans)


def _decisions(model: CrossLingualModel, questions: list[Question]) -> list[tuple[float, bool]]:
    """Per question: the best sentence's probability and whether that sentence is gold."""
    result = []
    for q in questions:
        p = model.probabilities(q.rows)
        best = int(np.argmax(p))
        result.append((float(p[best]), bool(q.gold[best])))
    return result


def _metrics(model: CrossLingualModel, questions: list[Question], threshold: float) -> dict:
    decided = _decisions(model, questions)
    answerable = [d for d, q in zip(decided, questions) if q.answerable]
    unanswerable = [d for d, q in zip(decided, questions) if not q.answerable]
    return {
        "answered_with_gold": round(float(np.mean([p >= threshold and g for p, g in answerable])), 3),
        "unanswerable_abstained": round(float(np.mean([p < threshold for p, _ in unanswerable])), 3),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }


def _best_threshold(model: CrossLingualModel, questions: list[Question]) -> float:
    for threshold in np.round(np.arange(0.05, 0.996, 0.005), 3):
        if _metrics(model, questions, float(threshold))["unanswerable_abstained"] >= MIN_ABSTENTION:
            return float(threshold)
    return 0.995
