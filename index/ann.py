"""FAISS index construction: exact search for small corpora, HNSW for large ones.

Vectors are normalised, so inner product is cosine similarity. A search returns chunk rows: the
flat index holds the vectors in row order; the HNSW graph maps its entries to rows (`IndexIDMap`),
so that the next build can add a new document's vectors to it (`extended_faiss_index`) instead of
building the graph again (about 11 s of a 36 s build adding one document to 200,000 chunks, by py-spy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

INDEX_TYPES = ("auto", "flat", "hnsw")
AUTO_HNSW_FROM = 100_000  # below this, exact search is fast enough and needs no training
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
MAX_LEFT_SHARE = 0.2  # a graph whose entries are this share of rows that left is built anew


def choose_index_type(index_type: str, rows: int) -> str:
    """Resolve "auto" by corpus size."""
    if index_type not in INDEX_TYPES:
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, not {index_type!r}")
    if index_type == "auto":
        return "hnsw" if rows >= AUTO_HNSW_FROM else "flat"
    return index_type


def build_faiss_index(vectors: np.ndarray, index_type: str) -> Any:
    """A FAISS index over `vectors` (float32, normalised), of the resolved `index_type`."""
    import faiss

    dimension = vectors.shape[1]
    index: Any  # faiss's own stubs disagree with its SWIG bindings (QT_8bit is an int there)
    if index_type == "flat":
        index = faiss.IndexFlatIP(dimension)
    else:
        # 8-bit scalar quantisation keeps 1M 384-d vectors at ~0.4 GB instead of 1.5 GB.
        eight_bit: Any = faiss.ScalarQuantizer.QT_8bit
        graph = faiss.IndexHNSWSQ(dimension, eight_bit, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.train(vectors)
        index = faiss.IndexIDMap(graph)
        index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
        set_search_depth(index)
        return index
    index.add(vectors)
    return index


def extended_faiss_index(path: Path, rows_now: np.ndarray, vectors: np.ndarray) -> Any | None:
    """The HNSW graph saved at `path` with its entries moved to their rows in the new snapshot and
    the new rows' vectors added; None when a new graph should be built instead.

    Args:
        path: a previous snapshot's `index.faiss`.
        rows_now: per row of that snapshot, its row now, or -1 when it left (its document was removed
            or changed). Its entry stays in the graph and is never returned (a graph cannot remove
            entries), until they are `MAX_LEFT_SHARE` of it and the graph is built anew.
        vectors: the new snapshot's chunk vectors.
    """
    import faiss

    index = faiss.read_index(str(path))
    if not isinstance(index, faiss.IndexIDMap) or not isinstance(
        faiss.downcast_index(index.index), faiss.IndexHNSW
    ):
        return None  # an exact index, or a graph saved before entries were mapped
    entries = faiss.vector_to_array(index.id_map)
    live = entries >= 0
    if len(rows_now) != live.sum() or entries[live].max(initial=-1) >= len(rows_now):
        return None  # not the snapshot it was saved with
    moved = np.full(len(entries), -1, dtype=np.int64)
    moved[live] = rows_now[entries[live]]
    if (moved < 0).sum() > MAX_LEFT_SHARE * len(moved):
        return None
    added = np.setdiff1d(np.arange(len(vectors)), moved[moved >= 0])
    faiss.copy_array_to_vector(moved, index.id_map)
    if len(added):
        index.add_with_ids(np.ascontiguousarray(vectors[added]), added)
    set_search_depth(index)
    return index


def live_entries(index: Any) -> int:
    """How many chunk rows the index returns (a graph also holds the entries of rows that left)."""
    import faiss

    if isinstance(index, faiss.IndexIDMap):
        return int((faiss.vector_to_array(index.id_map) >= 0).sum())
    return int(index.ntotal)


def set_search_depth(index) -> None:
    """HNSW's efSearch is not saved with the index; set it after every build or load."""
    import faiss

    if isinstance(index, faiss.IndexIDMap):
        index = faiss.downcast_index(index.index)
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = HNSW_EF_SEARCH
