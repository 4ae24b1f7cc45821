"""Judging sentences for a question asked in another language than the sources'.

The English judge reads the question's words, names and parse; none of that carries across
languages (a Korean question shares no word with the English sentence that answers it, and would be
refused by every lexical check). Here the evidence is what does carry:

- the multilingual encoder's similarity of question and sentence, how far the sentence stands out
  from the other candidates (an unanswerable question finds many sentences about equally near) and
  how far it leads the runner-up;
- the kind of answer asked for, from the question word of its language (a small table: "누구",
  "誰", "wer", "qui" -> who; "몇 퍼센트", "wie viel Prozent" -> what percentage), through the
  answer-type table fitted on SQuAD, against the entities the sentence holds;
- the rank of its passage.

A logistic regression on these features, fitted on `evals/multilingual-fit.jsonl` by
`python -m evals fit-crosslingual`, gives each sentence its probability; the threshold was chosen
on that set too, and the figures on `evals/multilingual.jsonl` (never fitted on) are the report.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.judge.answer_types import NONE, AnswerTypes
from bot.judge.candidates import Candidate, candidates
from bot.judge.decision import NOTHING_ASKED, OFF_TOPIC, WRONG_KIND, Judgement
from bot.judge.features import candidate_similarities, type_match
from bot.judge.question import QuestionAnalysis
from index.models import Hit
from index.retriever import Retriever

MODEL_FILE = Path(__file__).with_name("crosslingual_model.json")
FEATURES = ("similarity", "standout", "lead", "type_match", "answer_not_entity", "passage_rank")
KEEP_WITHIN = 0.15  # further sentences must score this close to the best
STANDOUT_OF = 10  # a sentence's similarity is compared with the mean of the best this many

# The question words of each language, most specific first, each with the English wh-word it asks
# and, after a "/", the noun asked about when the words name one: a share is asked for as "what
# percentage" (the answer-type table: a percentage), not as "how much" (as likely money).
_QUESTION_WORDS = {
    "ko": (
        "몇 퍼센트=what/percentage | 몇 년=what/year | 몇=how many | 얼마=how much | 누구=who | 누가=who | "
        "왜=why | 언제=when | 어디=where | 어느=which | 어떤=which | 무엇=what | 무슨=what | 뭐=what"
    ),
    "ja": (
        "何パーセント=what/percentage | 割合=what/percentage | 何人=how many | 何年=what/year | "
        "いくつ=how many | いくら=how much | どれくらい=how much | どれだけ=how much | 誰=who | だれ=who | "
        "なぜ=why | どうして=why | いつ=when | どこ=where | どの=which | どちら=which | 何=what | なに=what"
    ),
    "de": (
        "wie viel prozent=what/percentage | welcher anteil=what/share | wie viele=how many | "
        "wie viel=how much | wer=who | wen=who | wem=who | warum=why | wieso=why | weshalb=why | "
        "wann=when | welchem jahr=what/year | wo=where | welche=which | welcher=which | "
        "welches=which | was=what | wie=how"
    ),
    "fr": (
        "quel pourcentage=what/percentage | quelle part=what/share | combien=how many | qui=who | "
        "pourquoi=why | quand=when | quelle année=what/year | où=where | quel=which | quelle=which | "
        "quels=which | quelles=which | qu'=what | que=what | quoi=what | comment=how"
    ),
    "es": (
        "qué porcentaje=what/percentage | qué parte=what/share | en qué año=what/year | cuántos=how many | "
        "cuántas=how many | cuánto=how much | quién=who | por qué=why | cuándo=when | dónde=where | "
        "cuál=which | qué=what"
    ),
    "it": (
        "quale percentuale=what/percentage | quale quota=what/share | quale parte=what/share | "
        "in quale anno=what/year | entro quale anno=what/year | quanti=how many | quante=how many | "
        "quanto=how much | chi=who | perché=why | quando=when | dove=where | quale=which | quali=which | "
        "che cosa=what | cosa=what | che=what | come=how"
    ),
    "pt": (
        "que percentagem=what/percentage | qual percentagem=what/percentage | que parte=what/share | "
        "em que ano=what/year | até que ano=what/year | quantos=how many | quantas=how many | "
        "quanto=how much | quem=who | por que=why | porque=why | quando=when | onde=where | qual=which | "
        "quais=which | o que=what | que=what | como=how"
    ),
    "nl": (
        "welk percentage=what/percentage | hoeveel procent=what/percentage | welk deel=what/share | "
        "in welk jaar=what/year | tegen welk jaar=what/year | hoeveel=how many | wie=who | waarom=why | "
        "wanneer=when | waar=where | welke=which | welk=which | wat=what | hoe=how"
    ),
}


def _entries(words: str) -> tuple[tuple[str, str, str], ...]:
    """("몇 퍼센트", "what", "percentage") from "몇 퍼센트=what/percentage"; focus "" when none."""
    entries = []
    for entry in words.split(" | "):
        pattern, asked = entry.split("=")
        wh, _, focus = asked.partition("/")
        entries.append((pattern, wh, focus))
    return tuple(entries)


QUESTION_WORDS = {lang: _entries(words) for lang, words in _QUESTION_WORDS.items()}


def question_word(question: str, language: str) -> tuple[str, str]:
    """The English wh-word the question's own question word stands for ("" when none), and the noun
    asked about when the question word names one ("what percentage"), else ""."""
    lowered = question.lower()
    for pattern, wh, focus in QUESTION_WORDS.get(language, ()):
        if _contains_word(lowered, pattern, spaced=language not in ("ko", "ja")):
            return wh, focus
    return "", ""


def _contains_word(text: str, pattern: str, spaced: bool) -> bool:
    if not spaced:  # Korean particles attach to words, Japanese has no spaces: a substring will do
        return pattern in text
    tail = "" if pattern.endswith("'") else r"(?!\w)"  # "qu'" is followed by its verb: "qu'a"
    return re.search(rf"(?<!\w){re.escape(pattern)}{tail}", text.replace("’", "'")) is not None


@dataclass(frozen=True)
class CrossLingualModel:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    about: dict = field(default_factory=dict)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        standard = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(standard @ np.asarray(self.weights) + self.bias)))


@lru_cache(maxsize=1)
def load_crosslingual_model(path: Path = MODEL_FILE) -> CrossLingualModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path} was fitted on other features; run `python -m evals fit-crosslingual`")
    return CrossLingualModel(
        tuple(data["weights"]),
        data["bias"],
        tuple(data["mean"]),
        tuple(data["scale"]),
        data["threshold"],
        data.get("about", {}),
    )


def answer_kinds(question: str, language: str, types: AnswerTypes, embed) -> dict[str, float]:
    """P(answer label) from the question word alone (no focus noun: the parse is English-only)."""
    analysis = QuestionAnalysis(*question_word(question, language), ())
    return dict(zip(types.labels, map(float, types.distribution(analysis, embed))))


def feature_rows(
    question: str, found: list[Candidate], vector: np.ndarray, retriever: Retriever, kinds: dict[str, float]
) -> np.ndarray:
    """One row of `FEATURES` per candidate sentence."""
    similarity = candidate_similarities(found, vector, retriever.sentence_similarities_across_languages)
    best = np.sort(similarity)[::-1][:STANDOUT_OF]
    standout = similarity - (best.mean() if len(best) else 0.0)
    # How far the sentence stands above the runner-up (the best one's margin; the others' shortfall):
    # a question the sources answer tends to have one sentence clearly nearest.
    lead = similarity - (best[1] if len(best) > 1 else similarity)
    lowered = question.lower()
    rows = []
    for i, c in enumerate(found):
        text = retriever.document(c.hit.chunk.doc_id).text
        # An entity written in the question itself (a name in a German question) is not its answer.
        labels = [label for s, e, label in c.entities if text[s:e].lower() not in lowered]
        rows.append(
            [
                similarity[i],
                standout[i],
                lead[i],
                type_match(kinds, labels),
                kinds.get(NONE, 0.0),
                c.rank / 10,
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(found), len(FEATURES))


def judge_across_languages(
    question: str,
    language: str,
    hits: list[Hit],
    vector: np.ndarray,
    retriever: Retriever,
    types: AnswerTypes,
    embed,
    model: CrossLingualModel,
) -> Judgement:
    """Every sentence of `hits` with its probability of answering, and the decision."""
    found = candidates(hits, retriever)
    if not found:
        return Judgement([], [], 0.0, Counter({NOTHING_ASKED: 1}))
    rows = feature_rows(question, found, vector, retriever, answer_kinds(question, language, types, embed))
    probabilities = model.probabilities(rows)
    order = np.argsort(-probabilities, kind="stable")
    ranked = [(found[i], float(probabilities[i])) for i in order]
    best = float(probabilities[order[0]])
    if best < model.threshold:
        return Judgement(ranked, [], best, Counter({_refusal_reason(rows[order[0]]): 1}))
    evidence = [found[i] for i in order if probabilities[i] >= max(model.threshold, best - KEEP_WITHIN)]
    probable = [found[i] for i in order if probabilities[i] >= model.threshold]
    return Judgement(ranked, evidence, best, probable=probable)


def _refusal_reason(row: np.ndarray) -> str:
    wants_entity = 1.0 - row[FEATURES.index("answer_not_entity")]
    if wants_entity >= 0.5 and row[FEATURES.index("type_match")] < 0.5 * wants_entity:
        return WRONG_KIND
    return OFF_TOPIC
