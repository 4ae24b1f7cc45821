"""Milvus's own BM25 beside ours, lexical side alone, on RealTime QA dev: why the Milvus store keeps ours.

Both score the same tokens: each chunk's stems from our analyzer (Milvus's standard tokenizer splits
them as we do), with the same k1 and b. What differs is the rest: our BM25 has one corpus-wide idf,
expands misspellings and adds a country's cities; Milvus Lite computes idf per segment. Prints, for
each, how often the evidence document comes first and in the top 5, and the time per query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.lexical import normalise
from index.milvus_store import MilvusStore, MilvusTarget
from index.store import Snapshot

COLLECTION = "ragbot_lexical_probe"


def compare(snapshot: Snapshot, questions: Path, target: MilvusTarget) -> dict[str, dict[str, float]]:
    """{"ours" | "milvus": {"evidence_first", "evidence_top5", "ms_per_query"}}."""
    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = [(r["question"], set(r["evidence_docs"])) for r in rows if r["answerable"]]
    lexical = snapshot.lexical
    assert lexical is not None, "a loaded snapshot has its lexical index"
    docs = [c.doc_id for c in snapshot.chunks]

    def ours(question: str) -> list[str]:
        scores = lexical.scores(question)
        return [docs[i] for i in np.argsort(-scores)[:5] if scores[i] > 0]

    store = MilvusStore(target, Path("."))
    _load_probe(store, [" ".join(lexical.terms_of(row)) for row in range(len(docs))])

    def milvus(question: str) -> list[str]:
        found = store.call(
            "search", COLLECTION, data=[" ".join(normalise(question))], anns_field="sparse", limit=5,
            search_params={"metric_type": "BM25"},
        )  # fmt: skip
        return [docs[hit["id"]] for hit in found[0]]

    try:
        return {"ours": _score(ours, asked), "milvus": _score(milvus, asked)}
    finally:
        store.call("drop_collection", COLLECTION)


def _load_probe(store: MilvusStore, stems: list[str]) -> None:
    from pymilvus import DataType, Function, FunctionType

    if store.call("has_collection", COLLECTION):
        store.call("drop_collection", COLLECTION)
    schema = store.call("create_schema", auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    analyzer = {"tokenizer": "standard"}
    schema.add_field(
        "stems", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params=analyzer
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a dense field in every collection
    schema.add_function(
        Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["stems"],
                 output_field_names=["sparse"])
    )  # fmt: skip
    index = store.call("prepare_index_params")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": 1.2, "bm25_b": 0.75})  # fmt: skip
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    store.call("create_collection", COLLECTION, schema=schema, index_params=index, consistency_level="Strong")
    rows = [{"id": i, "stems": text, "vector": [0.0, 0.0]} for i, text in enumerate(stems)]
    for start in range(0, len(rows), 500):
        store.call("insert", COLLECTION, rows[start : start + 500])


def _score(rank: Callable[[str], list[str]], asked: list[tuple[str, set[str]]]) -> dict[str, float]:
    first = top5 = 0
    started = time.perf_counter()
    for question, evidence in asked:
        found = rank(question)
        first += bool(found) and found[0] in evidence
        top5 += any(doc in evidence for doc in found)
    seconds = time.perf_counter() - started
    return {
        "evidence_first": round(first / len(asked), 3),
        "evidence_top5": round(top5 / len(asked), 3),
        "ms_per_query": round(1000 * seconds / len(asked), 1),
    }
