"""`Judge`: the question read once, then every retrieved sentence judged (see `bot.judge`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from bot.judge import signals
from bot.judge.answer_types import load_answer_types
from bot.judge.candidates import Candidate, candidates
from bot.judge.crosslingual import judge_across_languages, load_crosslingual_model
from bot.judge.decision import POLICIES, READ_TOP, Judgement, decide, rules_order
from bot.judge.features import Question, feature_matrix
from bot.judge.model import AnswerModel, load_model
from bot.judge.question import analyse
from bot.judge.reader import Reader
from index.models import Hit
from index.retriever import Retriever

log = logging.getLogger(__name__)


class Judge:
    """Reads questions and judges retrieved sentences with the shipped model and answer-type table."""

    def __init__(
        self,
        embedder,
        policy: str = "rules",
        model: AnswerModel | None = None,
        reader: Callable[[], Reader] | None = None,
    ) -> None:
        """`reader`: gives the reader when the "reader" policy first needs it."""
        if policy not in POLICIES:
            raise ValueError(f"the judge policy is {policy!r}; it must be one of {', '.join(POLICIES)}")
        if policy == "reader" and reader is None:
            raise ValueError("the reader policy needs a reader")
        self.embedder = embedder
        self.policy = policy
        self.types = load_answer_types(embedder.name)
        self._model = model
        self._load_reader = reader
        self._reader: Reader | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> AnswerModel:
        if self._model is None:
            self._model = load_model()
        return self._model

    @property
    def reader(self) -> Reader | None:
        """The reader, prepared at its first use; None when it cannot be (the judge then decides by
        the rules, and says so once in the log)."""
        with self._lock:  # concurrent chats: one export, one session
            if self._reader is None and self._load_reader is not None:
                try:
                    self._reader = self._load_reader()
                except (OSError, ImportError, RuntimeError, ValueError) as exc:
                    log.warning("the reader is unavailable (%s); answering by the rules alone", exc)
                    self._load_reader = None
            return self._reader

    def read(self, question: str, retriever: Retriever, topic: str | None = None) -> Question:
        """The question's analysis and profile; `topic` is the question a follow-up continues."""
        profile = signals.profile_question(question, retriever)
        if topic:
            profile = profile.continuing(signals.profile_question(topic, retriever))
        analysis = analyse(question)
        probabilities = self.types.distribution(analysis, self.embedder.embed)
        return Question(analysis, profile, dict(zip(self.types.labels, map(float, probabilities))), question)

    def judge(
        self, question: Question, hits: list[Hit], vector: np.ndarray, retriever: Retriever
    ) -> Judgement:
        """Every sentence of `hits` with the probability that it answers, and the decision."""
        if not question.profile.terms and not question.profile.entities:  # "and ?", "what are they?"
            return decide([], np.zeros((0, 0)), np.zeros(0), self.model.threshold, self.policy)
        found, rows = judged_rows(question, hits, vector, retriever)
        probabilities = self.model.probabilities(rows) if len(rows) else np.zeros(0)
        reads = self.reads(question, found, rows) if self.policy == "reader" else None
        policy = "rules" if self.policy == "reader" and reads is None else self.policy
        model = self.model
        return decide(
            found, rows, probabilities, model.threshold, policy, model.floor, reads, model.kind_floor
        )

    def reads(self, question: Question, found: list[Candidate], rows: np.ndarray) -> np.ndarray | None:
        """The reader's probability that each of the rules' first `READ_TOP` candidates answers the
        question; NaN for the candidates it does not read. None without a reader."""
        reader = self.reader
        if reader is None:
            return None
        reads = np.full(len(found), np.nan)
        if len(found):
            top = rules_order(rows)[:READ_TOP]
            logits = reader.scores(question.text, [found[i].text for i in top])
            reads[top] = 1.0 / (1.0 + np.exp(-logits))
        return reads

    def judge_across_languages(
        self, question: str, language: str, hits: list[Hit], vector: np.ndarray, retriever: Retriever
    ) -> Judgement:
        """`judge` for a question in another language: `vector` is the multilingual encoder's."""
        model = load_crosslingual_model()
        return judge_across_languages(
            question, language, hits, vector, retriever, self.types, self.embedder.embed, model
        )


def judged_rows(question: Question, hits: list[Hit], vector, retriever: Retriever):
    """The candidates and their feature rows (what `evals.fit_judge` fits the model on)."""
    found = candidates(hits, retriever)
    return found, feature_matrix(question, found, vector, retriever)
