"""Optional generative answers from an OpenAI-compatible chat endpoint, checked sentence by sentence.

The core still decides whether the sources answer (the model is never asked otherwise). The model
gets the evidence passages numbered [1]..[n] and must cite them; then every sentence it writes is
checked before anyone sees it:

1. it cites at least one passage that was given (out-of-range numbers are removed first);
2. every number, percentage, year and capitalised name in it appears in a cited passage — a
   changed number is the most common silent error;
3. its content is close to what it cites: at least `MIN_OVERLAP` of its content words occur in the
   cited passages, and its cosine similarity to the best-matching sentence of a cited passage is at
   least `MIN_SIMILARITY` (both: shared words alone let "Australia sent a foreign diplomat" through,
   similarity alone lets a changed detail through).

Failing sentences are dropped and counted by reason. Nothing left, the endpoint down, slow or
talking nonsense: the extractive answer goes out instead. Each citation quotes the verbatim source
sentence that best supports the generated one.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from index.lexical import normalise
from index.models import Chunk

log = logging.getLogger(__name__)

MIN_SIMILARITY = 0.6
MIN_OVERLAP = 0.5
MAX_TOKENS = 200
SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given. Write one to three short "
    "sentences. End every sentence with the number of the passage it comes from, like [1]. "
    "Do not add anything the passages do not say."
)
_MARKER = re.compile(r"\[(\d+)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=\])\s+(?=[A-Z])")
_FACT = re.compile(r"\d+(?:[.,]\d+)*%?|(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:[- ][A-Z][a-z]+)*")


class GenerationFailed(Exception):
    """The endpoint could not give a usable answer (down, slow, garbage)."""


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # without markers
    passages: tuple[int, ...]  # 1-based passage numbers it cites, all valid


@dataclass
class CheckResult:
    kept: list[CheckedSentence] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


class ChatClient:
    """A minimal OpenAI-compatible /v1/chat/completions client (the API key is never logged)."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float) -> None:
        self.url = base_url.rstrip("/") + (
            "/chat/completions" if base_url.rstrip("/").endswith("/v1") else "/v1/chat/completions"
        )
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout

    def complete(self, system: str, user: str) -> str:
        payload = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        import httpx  # here: with its command-line extras it costs a one-shot `bot ask` 0.2 s to import

        try:
            response = httpx.post(self.url, json=payload, headers=self.headers, timeout=self.timeout)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise GenerationFailed(f"{exc.__class__.__name__} from the language model endpoint") from None
        if not isinstance(text, str) or not text.strip():
            raise GenerationFailed("empty answer from the language model endpoint")
        return text


EXAMPLE = (
    "Passages:\n\n[1] The bridge opened in 1932 after six years of work.\n\n"
    "Question: When did the bridge open?\nAnswer: The bridge opened in 1932 [1].\n\n"
)


def build_prompt(question: str, passages: list[str]) -> str:
    """The user message: a worked example (small models copy its citation style), then the task."""
    numbered = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(passages, 1))
    return f"{EXAMPLE}Passages:\n\n{numbered}\n\nQuestion: {question}\nAnswer:"


def check_sentences(generated: str, passages: list[str], embed) -> CheckResult:
    """Keep the generated sentences the passages support; count the rest by reason.

    Args:
        embed: texts -> normalised vectors (the index's embedder).
    """
    result = CheckResult()
    for raw in (s.strip() for s in _SENTENCE.split(generated.strip()) if s.strip()):
        cited = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(raw) if 1 <= int(n) <= len(passages)))
        text = _MARKER.sub("", raw).strip()
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if not re.search(r"\w", text):
            continue
        reason = (
            _unsupported(text, [passages[n - 1] for n in cited], embed) if cited else "cites no given passage"
        )
        if reason:
            result.dropped[reason] += 1
        else:
            result.kept.append(CheckedSentence(text, cited))
    return result


def _unsupported(sentence: str, cited: list[str], embed) -> str | None:
    evidence = " ".join(cited)
    for fact in _FACT.findall(sentence):
        if fact.lower() not in evidence.lower():
            return "a name or number not in the cited passage"
    words = set(normalise(sentence))
    if len(words & set(normalise(evidence))) < MIN_OVERLAP * len(words):
        return "words not in the cited passage"
    # A line break ends a sentence too: a passage can hold a heading, which is no part of the next one.
    passage_sentences = [s for p in cited for s in re.split(r"(?<=[.!?])\s+|\n+", p) if s.strip()]
    vectors = embed([sentence] + passage_sentences)
    if float(np.max(vectors[1:] @ vectors[0])) < MIN_SIMILARITY:
        return "meaning not close to the cited passage"
    return None


def best_supporting_span(sentence: str, chunk: Chunk, document_text: str, embed) -> tuple[int, int]:
    """The verbatim sentence of `chunk` closest to a generated sentence: what its citation quotes."""
    spans = list(chunk.sentences)
    vectors = embed([sentence] + [document_text[s.start : s.end] for s in spans])
    best = spans[int(np.argmax(vectors[1:] @ vectors[0]))]
    return best.start, best.end
