"""Fit the reader: a cross-encoder that reads a question and one sentence together and scores
whether the sentence answers it (`python -m evals fit-reader`).

The bi-encoder behind retrieval embeds question and sentence apart, so a sentence on the question's
topic scores as high as the one holding the answer. A cross-encoder attends across both. It is the
bundled MiniLM with low-rank adapters (LoRA, rank `RANK`) on every attention and feed-forward
projection, and a linear head on the mean-pooled output; only the adapters and the head are fitted
and shipped (`bot/judge/reader.npz`, about a megabyte), the base weights come from the embedding
model's package.

Data: SQuAD 1.1 train (`../shared/datasets/squad11-train-explorer`, CC BY-SA 4.0), split by article
(every `HELD_OUT_EVERY`th article held out). Per question, the sentence holding the answer span is
the positive; negatives are other sentences of its paragraph and the sentence of another paragraph
of the same article that shares most words with the question (on the topic, not the answer).
Seeded; prints held-out metrics against the bi-encoder's cosine on the same pairs.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.judge.reader import SENTENCE_MARK, in_context
from index.chunking import split_sentences
from index.embedding import encoder_inputs

RANK = 16
ALPHA = 32
MAX_TOKENS = 128
HELD_OUT_EVERY = 10
SAME_PARAGRAPH_NEGATIVES = 3
SEED = 13
READER_FILE = Path(__file__).resolve().parent.parent / "bot" / "judge" / "reader.npz"
# The projections adapted in each layer of the BERT encoder (their module names in transformers).
ADAPTED = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    label: float
    group: int  # the question it belongs to, for ranking metrics


def read_squad(path: Path) -> dict[int, list[dict]]:
    """Paragraphs by article index."""
    articles: dict[int, list[dict]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            paragraph = json.loads(line)
            articles.setdefault(paragraph["article_index"], []).append(paragraph)
    return articles


def pairs_of(
    articles: dict[int, list[dict]], held_out: bool, questions: int, rng: random.Random, context: bool = False
) -> list[Pair]:
    """Labelled pairs for up to `questions` questions of the training (or held-out) articles; with
    `context`, each sentence is read after its article's title and the sentence before it."""
    chosen = [a for a in sorted(articles) if (a % HELD_OUT_EVERY == 0) == held_out]
    items = []
    for article in chosen:
        title = articles[article][0]["title"].replace("_", " ") if context else None
        sentences = [_sentences(p["context"], title) for p in articles[article]]
        for index, paragraph in enumerate(articles[article]):
            for qa in paragraph["qas"]:
                items.append((article, index, sentences, qa))
    rng.shuffle(items)
    pairs: list[Pair] = []
    for group, (_, index, sentences, qa) in enumerate(items[:questions]):
        pairs.extend(_question_pairs(group, index, sentences, qa, rng))
    return pairs


def _sentences(paragraph: str, title: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, text read) of each sentence; the text read is the sentence itself, or with a
    `title` the sentence in its context (`bot.judge.reader.in_context`)."""
    spans = split_sentences(paragraph)
    texts = [paragraph[s.start : s.end] for s in spans]
    if title is not None:
        texts = [in_context(title, texts[i - 1] if i else "", text) for i, text in enumerate(texts)]
    return [(s.start, s.end, text) for s, text in zip(spans, texts)]


def _question_pairs(group, index, sentences, qa, rng: random.Random) -> list[Pair]:
    question, answer = qa["question"].strip(), qa["answers"][0]
    start, text = answer["answer_start"], answer["text"]
    own = sentences[index]
    positive = [s for s in own if s[0] <= start < s[1]]
    if not positive:
        return []
    negatives = [s[2] for s in own if s is not positive[0] and text.lower() not in _read(s[2]).lower()]
    rng.shuffle(negatives)
    pairs = [Pair(question, positive[0][2], 1.0, group)]
    pairs += [Pair(question, n, 0.0, group) for n in negatives[:SAME_PARAGRAPH_NEGATIVES]]
    others = [s[2] for i, para in enumerate(sentences) if i != index for s in para]
    topical = _most_overlapping(question, [o for o in others if text.lower() not in _read(o).lower()])
    if topical:
        pairs.append(Pair(question, topical, 0.0, group))
    return pairs


def _read(text: str) -> str:
    """The sentence of a text read in context: what must hold the answer."""
    return text.rpartition(SENTENCE_MARK)[2]


def _most_overlapping(question: str, sentences: list[str]) -> str | None:
    words = set(_WORD.findall(question.lower()))
    scored = [(len(words & set(_WORD.findall(s.lower()))), s) for s in sentences]
    return max(scored, key=lambda item: item[0])[1] if scored else None


def build_model(model_path: str):
    """MiniLM with LoRA adapters on `ADAPTED` projections and a scoring head; base weights frozen."""
    import torch
    from transformers import AutoModel

    from evals.reader_torch import LoraLinear, ReaderModel

    torch.manual_seed(SEED)
    encoder = AutoModel.from_pretrained(model_path)
    for parameter in encoder.parameters():
        parameter.requires_grad = False
    for name, module in list(encoder.named_modules()):
        if name.endswith(ADAPTED) and isinstance(module, torch.nn.Linear):
            parent, _, child = name.rpartition(".")
            setattr(encoder.get_submodule(parent), child, LoraLinear(module, RANK, ALPHA))
    return ReaderModel(encoder)


def tokenizer_for(model_path: str):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
    tokenizer.enable_padding()
    return tokenizer


def encode(tokenizer, pairs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    return encoder_inputs(tokenizer.encode_batch(pairs))


def train(model, tokenizer, pairs: list[Pair], batch: int, learning_rate: float, log_every: int = 50) -> None:
    import torch

    rng = random.Random(SEED)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    steps = max(1, len(order) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, learning_rate, total_steps=steps, pct_start=0.06
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        chosen = [pairs[i] for i in order[step * batch : (step + 1) * batch]]
        inputs = {
            k: torch.from_numpy(v)
            for k, v in encode(tokenizer, [(p.question, p.sentence) for p in chosen]).items()
        }
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(**inputs)
        loss = loss_fn(logits.float(), torch.tensor([p.label for p in chosen]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % log_every == 0 or step == steps - 1:
            elapsed = time.perf_counter() - started
            print(f"step {step + 1}/{steps} loss {loss.item():.4f} ({elapsed:.0f} s)", flush=True)


def scores(model, tokenizer, pairs: list[Pair], batch: int = 64) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch):
            chosen = pairs[start : start + batch]
            inputs = encode(tokenizer, [(p.question, p.sentence) for p in chosen])
            out.append(model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def cosine_scores(model_path: str, pairs: list[Pair]) -> np.ndarray:
    """The bi-encoder's cosine for each pair: what the reader has to beat."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    questions = model.encode([p.question for p in pairs], normalize_embeddings=True, batch_size=64)
    sentences = model.encode([_read(p.sentence) for p in pairs], normalize_embeddings=True, batch_size=64)
    return (questions * sentences).sum(axis=1)


def ranking_metrics(pairs: list[Pair], score: np.ndarray) -> dict[str, float]:
    """Per question: is the answer sentence ranked first among its candidates; and pairwise AUC."""
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p.group, []).append(i)
    first = [max(rows, key=lambda i: score[i]) for rows in groups.values()]
    labels = np.array([p.label for p in pairs])
    return {
        "answer_first": float(np.mean([labels[i] for i in first])),
        "auc": _auc(labels, score),
    }


def _auc(labels: np.ndarray, score: np.ndarray) -> float:
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def save(model, path: Path, about: dict) -> None:
    """Only the adapters and the head, as float16: the base weights ship in the model's package."""
    arrays = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            arrays[name] = parameter.detach().numpy().astype(np.float16)
    arrays["about"] = np.frombuffer(json.dumps(about).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def load_fitted(path: Path = READER_FILE):
    """The fitted reader as a torch model (base weights plus the saved adapters and head)."""
    import torch

    from index.embedding import DEFAULT_MODEL, resolve_model_path

    model = build_model(resolve_model_path(DEFAULT_MODEL))
    fitted = np.load(path)
    state = {
        name: torch.from_numpy(fitted[name].astype(np.float32)) for name in fitted.files if name != "about"
    }
    missing = set(state) - {name for name, _ in model.named_parameters()}
    assert not missing, f"{path} holds weights this model does not have: {sorted(missing)[:3]}"
    model.load_state_dict(state, strict=False)
    return model.eval()


def fit(
    datasets_dir: Path,
    questions: int,
    held_out_questions: int,
    batch: int,
    learning_rate: float,
    out: Path = READER_FILE,
    context: bool = False,
) -> dict:
    import torch

    from index.embedding import DEFAULT_MODEL, resolve_model_path

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    articles = read_squad(datasets_dir / "squad11-train-explorer" / "squad11_train_paragraphs.jsonl")
    training = pairs_of(articles, False, questions, rng, context)
    held_out = pairs_of(articles, True, held_out_questions, rng, context)
    print(f"pairs: {len(training)} to fit ({questions} questions), {len(held_out)} held out", flush=True)
    model_path = resolve_model_path(DEFAULT_MODEL)
    tokenizer = tokenizer_for(model_path)
    model = build_model(model_path)
    started = time.perf_counter()
    train(model, tokenizer, training, batch, learning_rate)
    seconds = time.perf_counter() - started
    reader = ranking_metrics(held_out, scores(model, tokenizer, held_out))
    cosine = ranking_metrics(held_out, cosine_scores(model_path, held_out))
    about = {
        "data": "SQuAD 1.1 train, every 10th article held out",
        "context": context,
        "questions": questions,
        "pairs": len(training),
        "batch": batch,
        "learning_rate": learning_rate,
        "rank": RANK,
        "alpha": ALPHA,
        "max_tokens": MAX_TOKENS,
        "seed": SEED,
        "fit_seconds": round(seconds),
        "held_out": {"reader": reader, "cosine": cosine},
        "held_out_pairs": len(held_out),
    }
    save(model, out, about)
    print(json.dumps(about["held_out"], indent=1))
    return about
