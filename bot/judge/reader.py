"""The reader: a cross-encoder that reads a question and a sentence together and scores whether the
sentence answers it (fitted by `python -m evals fit-reader`, see `evals.fit_reader`).

What ships is small: low-rank adapters and a linear head (`reader.npz`). The first time a folder
needs the reader, the adapters are merged into the bundled MiniLM's weights and the result is
exported as int8 ONNX into that folder (torch, once, as for the encoder); from then on answering
runs onnxruntime only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from index.embedding import cpu_session, encoder_inputs, mean_pool

log = logging.getLogger(__name__)

READER_FILE = Path(__file__).with_name("reader.npz")
FILES = ("model.onnx", "tokenizer.json", "head.npy", "reader.json")
_LOCK = threading.Lock()
SENTENCE_MARK = " [SEP] "  # in a text read in context, the sentence judged follows this
PREVIOUS_CHARS = 200  # of the sentence before, its end is kept: the reader reads at most 128 tokens


def in_context(title: str, previous: str, sentence: str) -> str:
    """A sentence as a reader fitted with context reads it: after its document's title and the
    sentence before it, which often says who or what "it" or "the government" is."""
    return f"{title}\n{previous[-PREVIOUS_CHARS:]}{SENTENCE_MARK}{sentence}"


class Reader:
    """Scores (question, sentence) pairs with the exported cross-encoder."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        settings = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(settings["max_tokens"]), strategy="only_second")
        self.tokenizer.enable_padding()
        head = np.load(folder / "head.npy")
        self.weights, self.bias = head[:-1].astype(np.float32), float(head[-1])
        self.session = cpu_session(folder / "model.onnx")

    def scores(self, question: str, sentences: list[str]) -> np.ndarray:
        """A logit per sentence: higher means likelier to answer the question."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        inputs = encoder_inputs(self.tokenizer.encode_batch([(question, s) for s in sentences]))
        pooled = mean_pool(self.session.run(None, inputs)[0], inputs["attention_mask"])
        return (pooled @ self.weights + self.bias).astype(np.float32)


def reader_folder(cache_dir: Path, weights: Path = READER_FILE) -> Path:
    """Where the export of these weights lives: a new fit gets a new folder."""
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    return cache_dir / f"reader-{digest}"


def load_reader(cache_dir: Path, weights: Path = READER_FILE) -> Reader:
    """The reader, exported into `cache_dir` first if it is not there yet."""
    folder = reader_folder(cache_dir, weights)
    with _LOCK:
        if not _complete(folder):
            log.info("preparing the reader in %s (once)", folder)
            export_reader(weights, folder)
    return Reader(folder)


def export_reader(weights: Path, folder: Path) -> None:
    """Merge the fitted adapters into the base model and write it as int8 ONNX into `folder`."""
    from transformers import AutoModel, AutoTokenizer

    from index.embedding import DEFAULT_MODEL, export_int8, resolve_model_path

    base = resolve_model_path(DEFAULT_MODEL)
    fitted = np.load(weights)
    about = json.loads(fitted["about"].tobytes())
    encoder = AutoModel.from_pretrained(base)
    merge_adapters(encoder, {k: fitted[k] for k in fitted.files}, about["alpha"] / about["rank"])
    staging = folder.with_name(f"{folder.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    sample = AutoTokenizer.from_pretrained(base)([("a question", "an answer")], return_tensors="pt")
    export_int8(encoder, sample, staging)
    shutil.copyfile(Path(base) / "tokenizer.json", staging / "tokenizer.json")
    head = np.concatenate([fitted["head.weight"].reshape(-1), fitted["head.bias"].reshape(-1)])
    np.save(staging / "head.npy", head.astype(np.float32))
    (staging / "reader.json").write_text(json.dumps({"max_tokens": about["max_tokens"]}), encoding="utf-8")
    try:
        os.rename(staging, folder)
    except OSError:  # another process exported it meanwhile: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
        if not _complete(folder):
            raise


def _complete(folder: Path) -> bool:
    return all((folder / name).exists() for name in FILES)


def merge_adapters(encoder, arrays: dict[str, np.ndarray], scale: float) -> None:
    """W += scale * B A for every adapted projection (`encoder.<module>.lora_a` / `.lora_b`)."""
    import torch

    for name, a in arrays.items():
        if not name.endswith(".lora_a"):
            continue
        module = name.removeprefix("encoder.").removesuffix(".lora_a")
        b = arrays[name.removesuffix("lora_a") + "lora_b"]
        linear = encoder.get_submodule(module)
        delta = torch.from_numpy(b.astype(np.float32) @ a.astype(np.float32)) * scale
        with torch.no_grad():
            linear.weight += delta
