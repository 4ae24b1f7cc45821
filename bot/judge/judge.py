"""`Judge`: the question read once, then every retrieved sentence judged (see `bot.judge`)."""

from __future__ import annotations

import numpy as np

from bot.judge import signals
from bot.judge.answer_types import load_answer_types
from bot.judge.candidates import candidates
from bot.judge.crosslingual import judge_across_languages, load_crosslingual_model
from bot.judge.decision import POLICIES, Judgement, decide
from bot.judge.features import Question, feature_matrix
from bot.judge.model import AnswerModel, load_model
from bot.judge.question import analyse
from index.models import Hit
from index.retriever import Retriever


class Judge:
    """Reads questions and judges retrieved sentences with the shipped model and answer-type table."""

    def __init__(self, embedder, policy: str = "rules", model: AnswerModel | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"the judge policy is {policy!r}; it must be one of {', '.join(POLICIES)}")
        self.embedder = embedder
        self.policy = policy
        self.types = load_answer_types(embedder.name)
        self._model = model

    @property
    def model(self) -> AnswerModel:
        if self._model is None:
            self._model = load_model()
        return self._model

    def read(self, question: str, retriever: Retriever, topic: str | None = None) -> Question:
        """The question's analysis and profile; `topic` is the question a follow-up continues."""
        profile = signals.profile_question(question, retriever)
        if topic:
            profile = profile.continuing(signals.profile_question(topic, retriever))
        analysis = analyse(question)
        probabilities = self.types.distribution(analysis, self.embedder.embed)
        return Question(analysis, profile, dict(zip(self.types.labels, map(float, probabilities))))

    def judge(
        self, question: Question, hits: list[Hit], vector: np.ndarray, retriever: Retriever
    ) -> Judgement:
        """Every sentence of `hits` with the probability that it answers, and the decision."""
        if not question.profile.terms and not question.profile.entities:  # "and ?", "what are they?"
            return decide([], np.zeros((0, 0)), np.zeros(0), self.model.threshold, self.policy)
        found, rows = judged_rows(question, hits, vector, retriever)
        probabilities = self.model.probabilities(rows) if len(rows) else np.zeros(0)
        return decide(found, rows, probabilities, self.model.threshold, self.policy, self.model.floor)

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
