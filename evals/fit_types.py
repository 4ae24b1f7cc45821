"""Fit the answer-type table (`bot.judge.answer_types`) from SQuAD 1.1 train.

For a seeded sample of questions: the question's key (wh-word, focus noun) from
`bot.judge.question`, and the spaCy entity label of its answer span (the entity covering most of
the span, NONE when the answer is not an entity). Counts per key, the focus nouns seen at least
`MIN_FOCUS_COUNT` times with their embedder vectors for unseen nouns' neighbours. Held out: a
tenth of the articles, on which we report how often the answer's label is the table's most likely
one, and the mean probability the table gives the true label (against the wh-word alone).

    python -m evals fit-types [--questions 12000]
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bot.judge.answer_types import NONE, TABLE_FILE, VECTORS_FILE, AnswerTypes, load_answer_types
from bot.judge.question import QuestionAnalysis, analyse_many
from index.embedding import Embedder
from index.entities import find_entities

DATA_FILE = Path("squad11-train-explorer") / "squad11_train_paragraphs.jsonl"  # under datasets/
LABELS = (
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
    "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL", NONE,
)  # fmt: skip
WINDOW = 80  # characters of context either side of the answer, enough for the tagger to see it
MIN_FOCUS_COUNT = 3
HELD_OUT_EVERY = 10  # every tenth article is held out
SEED = 0


def fit_types(datasets_dir: Path, embedder: Embedder, questions: int) -> dict:
    fit, held_out = _sample(datasets_dir / DATA_FILE, questions)
    labelled_fit = _labelled(fit)
    counts: dict[str, Counter] = defaultdict(Counter)
    for analysis, label in labelled_fit:
        counts[analysis.key][label] += 1
        counts[f"{analysis.wh}|"][label] += 1
    keys = [k for k, c in counts.items() if k.endswith("|") or sum(c.values()) >= MIN_FOCUS_COUNT]
    focus_words = [k for k in keys if not k.endswith("|")]
    vectors = embedder.embed([k.split("|", 1)[1] for k in focus_words]).astype(np.float16)
    table = {
        "about": "P(answer entity label | wh-word, focus noun) on SQuAD 1.1 train; see evals/fit_types.py",
        "model": embedder.name,
        "labels": list(LABELS),
        "counts": {k: [counts[k][label] for label in LABELS] for k in keys},
        "focus_words": focus_words,
    }
    TABLE_FILE.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
    np.save(VECTORS_FILE, vectors)
    load_answer_types.cache_clear()
    report = _held_out_report(load_answer_types(embedder.name), held_out, embedder)
    report.update(fit_questions=len(labelled_fit), keys=len(keys))
    return report


def _sample(path: Path, questions: int) -> tuple[list[tuple], list[tuple]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            paragraph = json.loads(line)
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                if len(answer["occurrences"]) == 1:  # the answer's place in the text is certain
                    rows.append((paragraph["article_index"], qa["question"], paragraph["context"], answer))
    random.Random(SEED).shuffle(rows)
    fit = [r for r in rows if r[0] % HELD_OUT_EVERY][:questions]
    held_out = [r for r in rows if not r[0] % HELD_OUT_EVERY][: max(1, questions // 5)]
    return fit, held_out


def _labelled(rows: list[tuple]) -> list[tuple[QuestionAnalysis, str]]:
    """Each question's analysis and the entity label of its answer."""
    analyses = analyse_many([r[1] for r in rows])
    windows = []
    for _, _, context, answer in rows:
        start = max(0, answer["answer_start"] - WINDOW)
        windows.append((context[start : answer["answer_start"] + len(answer["text"]) + WINDOW],
                        answer["answer_start"] - start, len(answer["text"])))  # fmt: skip
    spans = find_entities([w[0] for w in windows])
    return [(a, _answer_label(found, w[1], w[1] + w[2])) for a, found, w in zip(analyses, spans, windows)]


def _answer_label(entities, start: int, end: int) -> str:
    """The label of the entity that covers most of [start, end), if it covers at least half of it
    and is not much longer than it; NONE otherwise."""
    best, label = 0, NONE
    for s, e, name in entities:
        overlap = min(e, end) - max(s, start)
        if overlap > best and 2 * overlap >= end - start and (e - s) <= 2 * (end - start) + 4:
            best, label = overlap, name
    return label


def _held_out_report(types: AnswerTypes, rows: list[tuple], embedder: Embedder) -> dict:
    labelled = _labelled(rows)
    table_p, wh_p, top = [], [], []
    for analysis, label in labelled:
        i = types.labels.index(label)
        p = types.distribution(analysis, embedder.embed)
        prior = types.distribution(QuestionAnalysis(analysis.wh, "", ()), embedder.embed)
        table_p.append(p[i])
        wh_p.append(prior[i])
        top.append(int(np.argmax(p)) == i)
    return {
        "held_out_questions": len(labelled),
        "top_label_accuracy": round(float(np.mean(top)), 3),
        "mean_p_true_label": round(float(np.mean(table_p)), 3),
        "mean_p_true_label_wh_only": round(float(np.mean(wh_p)), 3),
    }
