"""The index in Milvus: the same snapshots as the folder store, kept in Milvus collections.

`RAGBOT_STORE=milvus` and `RAGBOT_MILVUS_URI` (a Milvus Lite server, or a standalone or distributed
cluster: pymilvus speaks to all of them the same way). Collections, named `<collection>_<kind>`:

    _chunks_<dim>        a row per chunk: the chunk (JSON), its stems, its vector (exact inner product)
    _sentences_<dim>     a row per unique sentence: its span and vector
    _sentences_xl        the same sentences by the multilingual encoder (when it is on)
    _blobs               documents with their entity spans, manifests, and the row "CURRENT"

Every row carries an `owner`: the key of its document at one content and one build configuration
(`document_keys`). A build upserts only the rows of keys the served manifest lacks (new or changed
documents, or all of them after a change of model or chunking), then points "CURRENT" at its
manifest (one row: the atomic switch), then deletes the rows no manifest names any more. A build
killed halfway leaves the served manifest whole: its rows are all still there, and readers ignore
rows it does not name. Several bot processes, on any hosts, poll "CURRENT" and reload when it moves.

Dense search runs in Milvus (`MilvusDense`). The lexical side is `index.bm25` over the stems kept
with each chunk: our analyzer's stems, variants and spelling expansion, and one corpus-wide idf
(Milvus Lite's own BM25 computes idf per segment, and knows nothing of our stems).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index import bm25
from index.ann import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_NEIGHBOURS
from index.errors import REBUILD_HINT, IndexCorrupt, IndexNotBuilt, IndexStoreError, IndexWriteFailed
from index.lock import build_lock
from index.models import Chunk, Document

log = logging.getLogger(__name__)

PIECE_CHARS = 15_000  # a VARCHAR holds 65,535 bytes: 15,000 characters of up to 4 bytes each
MAX_VARCHAR = 65_535
WRITE_BATCH = 500
READ_BATCH = 2_000
DELETE_BATCH = 500
MAX_TOP_K = 16_384  # Milvus's limit on the rows of one search or query
OWNERS_PER_QUERY = 100
POINTER = "CURRENT"
_NOT_LOADED = re.compile(r"released|not loaded|load\(\)", re.IGNORECASE)
_UNREACHABLE = re.compile(r"connect|unavailable|deadline|auth|token|denied", re.IGNORECASE)
NO_VECTOR = [0.0, 0.0]  # Milvus wants a vector field in every collection; the blobs have this one


@dataclass(frozen=True)
class MilvusTarget:
    """Which Milvus, and which collections in it. The token never appears in `repr` or messages."""

    uri: str
    collection: str = "ragbot"
    token: str | None = field(default=None, repr=False)

    def beside(self, name: str) -> MilvusTarget:
        """Another set of collections on the same Milvus, for another corpus."""
        suffix = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "other"
        return MilvusTarget(self.uri, f"{self.collection}_{suffix}", self.token)

    @property
    def shown_uri(self) -> str:
        """The URI without any user:password part."""
        return re.sub(r"//[^/@]*@", "//", self.uri)


def document_keys(manifest) -> dict[str, str]:
    """Each document's id -> its key under this manifest's configuration, in the manifest's order
    (the order of chunk rows)."""
    configuration = configuration_of(manifest)
    return {doc_id: document_key(doc_id, sha, configuration) for doc_id, sha in manifest.documents.items()}


def document_key(doc_id: str, sha256: str, configuration: str) -> str:
    """Hex key of one document's content under one build configuration (safe inside filters)."""
    return hashlib.sha256(f"{doc_id}\n{sha256}\n{configuration}".encode()).hexdigest()[:32]


def configuration_of(manifest: Any) -> str:
    """What, besides a document's text, decides its rows: a change makes every key new."""
    m = manifest
    decisive = [m.model, m.chunk_size, m.chunk_overlap, m.chunker, m.embedding_text, m.analyzer]
    decisive += [m.multilingual, m.annotator, m.index_type]  # another index type: another collection
    return "|".join(map(str, decisive))


class MilvusDense:
    """Nearest chunks by inner product, searched in Milvus; FAISS's `search` and `ntotal`."""

    def __init__(
        self, store: MilvusStore, collection: str, rows: dict[str, int], unserved: int, hnsw: bool
    ) -> None:
        self._store = store
        self._collection = collection
        self._hnsw = hnsw
        self._rows = rows  # Milvus id -> chunk row of the served snapshot
        self._unserved = unserved  # rows in the collection the served snapshot does not name
        self.ntotal = len(rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, rows), each (len(queries), k), padded with 0 and -1 like FAISS."""
        limit = min(k + self._unserved + k, MAX_TOP_K)  # rows a build is adding may come first
        results = self._store.call(
            "search",
            self._collection,
            data=[q.astype(np.float32).tolist() for q in queries],
            anns_field="vector",
            limit=limit,
            search_params={"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, limit)}}
            if self._hnsw
            else {"metric_type": "IP"},
            output_fields=[],
        )
        similarities = np.zeros((len(queries), k), dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q, hits in enumerate(results):
            served = [(h["distance"], self._rows[h["id"]]) for h in hits if h["id"] in self._rows][:k]
            for rank, (similarity, row) in enumerate(served):
                similarities[q, rank], rows[q, rank] = similarity, row
        return similarities, rows


class MilvusStore:
    """Snapshots in Milvus (see the module's docstring); a `SnapshotStore`."""

    def __init__(self, target: MilvusTarget, lock_dir: Path) -> None:
        self.target = target
        self.lock_dir = lock_dir
        self._client: Any = None

    @property
    def location(self) -> str:
        return f"the Milvus collections {self.target.collection}_* at {self.target.shown_uri}"

    def build_lock(self) -> AbstractContextManager[None]:
        # Builds on this host wait for each other; builds from several hosts must take turns.
        return build_lock(self.lock_dir)

    # Reading

    def current_version(self) -> str | None:
        if not self.call("has_collection", self._name("blobs")):
            return None
        rows = self.call("query", self._name("blobs"), ids=[POINTER], output_fields=["text"])
        return rows[0]["text"] if rows else None

    def manifest(self):
        try:
            return self._manifest_and_terms()[0]
        except (IndexNotBuilt, IndexCorrupt):
            return None

    def load(self):
        from index.store import Snapshot

        manifest, proper_terms = self._manifest_and_terms()
        keys = _keys_in_order(manifest)
        documents, entities = self._documents(keys)
        fields = ["id", "owner", "ordinal", "chunk", "stems", "vector"]
        served = self._rows(_chunk_kind(manifest), fields, list(keys))
        served.sort(key=lambda r: (keys[r["owner"]], r["ordinal"]))
        chunks = [Chunk.model_validate_json(r["chunk"]) for r in served]
        snapshot = Snapshot(
            manifest,
            documents,
            chunks,
            _matrix([r["vector"] for r in served], manifest.dimension),
            np.zeros((0, manifest.dimension), dtype=np.float32),
            MilvusDense(
                self,
                self._name(_chunk_kind(manifest)),
                {r["id"]: row for row, r in enumerate(served)},
                self._row_count(_chunk_kind(manifest)) - len(served),
                hnsw=manifest.index_type == "hnsw",
            ),
            entities,
        )
        snapshot.sentence_vectors = self._sentence_vectors(f"sentences_{manifest.dimension}", snapshot, keys)
        if manifest.multilingual:
            snapshot.sentence_vectors_xl = self._sentence_vectors("sentences_xl", snapshot, keys)
        snapshot.lexical = bm25.BM25.of_terms([r["stems"].split(" ") if r["stems"] else [] for r in served])
        snapshot.proper_terms = frozenset(proper_terms)
        return snapshot

    def _manifest_and_terms(self):
        from index.store import Manifest

        version = self.current_version()
        if version is None:
            raise IndexNotBuilt(f"No index in {self.location} yet: run `python -m index build` to build it.")
        text = self._blob(f"manifest:{version}")
        try:
            stored = json.loads(text)
            return Manifest.model_validate(stored["manifest"]), stored["proper_terms"]
        except (ValueError, KeyError, TypeError):
            raise IndexCorrupt(
                f"The manifest {version} in {self.location} is damaged; {REBUILD_HINT}."
            ) from None

    def _documents(self, keys: dict[str, int]) -> tuple[dict[str, Document], dict[str, list]]:
        pieces: dict[str, list[tuple[int, str]]] = {}
        for row in self._rows("blobs", ["owner", "part", "text"], list(keys)):
            pieces.setdefault(row["owner"], []).append((row["part"], row["text"]))
        if set(pieces) != set(keys):
            raise IndexCorrupt(f"{len(set(keys) - set(pieces))} documents are missing from {self.location}")
        documents, entities = {}, {}
        for key in sorted(pieces, key=keys.__getitem__):
            stored = json.loads("".join(text for _, text in sorted(pieces[key])))
            document = Document.model_validate(stored["document"])
            documents[document.id] = document
            entities[document.id] = [(int(s), int(e), str(label)) for s, e, label in stored["entities"]]
        return documents, entities

    def _sentence_vectors(self, kind: str, snapshot, keys: dict[str, int]) -> np.ndarray:
        """Vectors in `snapshot.sentence_rows` order."""
        key_of = document_keys(snapshot.manifest)
        vectors = {
            (r["owner"], r["start"], r["end"]): r["vector"]
            for r in self._rows(kind, ["owner", "start", "end", "vector"], list(keys))
        }
        try:
            wanted = [vectors[(key_of[d], s, e)] for d, s, e in snapshot.sentence_rows]
        except KeyError:
            raise IndexCorrupt(f"sentence vectors are missing from {self.location}") from None
        return _matrix(wanted, snapshot.manifest.dimension)

    def _blob(self, owner: str) -> str:
        rows = self.call(
            "query", self._name("blobs"), filter=f'owner == "{owner}"', output_fields=["part", "text"]
        )
        if not rows:
            raise IndexCorrupt(f"{owner} is missing from {self.location}; {REBUILD_HINT}.")
        return "".join(r["text"] for r in sorted(rows, key=lambda r: r["part"]))

    def _rows(self, kind: str, fields: list[str], owners: list[str] | None = None) -> list[dict]:
        """Rows of a collection: all of them, or those of `owners` (read a hundred owners per query:
        three times faster than Milvus's query iterator on Milvus Lite)."""
        name = self._name(kind)
        if not self.call("has_collection", name):  # an empty corpus has no vector rows
            return []
        if owners is None:
            return self._iterate(name, fields, "")
        rows: list[dict] = []
        for start in range(0, len(owners), OWNERS_PER_QUERY):
            expression = _owned_by(owners[start : start + OWNERS_PER_QUERY])
            batch = self.call("query", name, filter=expression, output_fields=fields, limit=MAX_TOP_K)
            if len(batch) == MAX_TOP_K:  # more rows than one query returns: page through them
                batch = self._iterate(name, fields, expression)
            rows.extend(batch)
        return rows

    def _iterate(self, name: str, fields: list[str], expression: str) -> list[dict]:
        rows: list[dict] = []
        iterator = self.call(
            "query_iterator", name, batch_size=READ_BATCH, filter=expression, output_fields=fields
        )
        while batch := iterator.next():
            rows.extend(batch)
        iterator.close()
        return rows

    def _row_count(self, kind: str) -> int:
        """Rows in a collection, counting any a build is adding or has yet to delete."""
        return int(self.call("get_collection_stats", self._name(kind)).get("row_count", 0))

    # Writing

    def save(self, snapshot, previous) -> None:
        manifest = snapshot.manifest
        keys = document_keys(manifest)
        served = set(_keys_in_order(previous.manifest)) if previous is not None else set()
        new = {doc_id for doc_id, key in keys.items() if key not in served}
        try:
            self._create_collections(snapshot)
            self._write_documents(snapshot, keys, new)
            self._write_manifest(snapshot)
            self._upsert("blobs", [_blob_row(POINTER, "pointer", 0, manifest.version)])
        except IndexStoreError:
            raise
        except Exception as exc:  # pymilvus raises its own exceptions and grpc's
            raise IndexWriteFailed(f"could not write the index to {self.location} ({_why(exc)})") from None
        self._delete_unnamed(set(keys.values()), manifest.version, previous)

    def _create_collections(self, snapshot) -> None:
        from pymilvus import DataType

        manifest = snapshot.manifest

        def create(kind: str, fields: list[tuple[str, Any, dict]], dim: int, hnsw: bool = False) -> None:
            name = self._name(kind)
            if self.call("has_collection", name):
                return
            schema = self.call("create_schema", auto_id=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
            schema.add_field("owner", DataType.VARCHAR, max_length=128)
            for field_name, dtype, options in fields:
                schema.add_field(field_name, dtype, **options)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            index = self.call("prepare_index_params")
            if hnsw:  # the folder's HNSW settings; Milvus keeps full vectors where FAISS keeps 8 bits
                graph = {"M": HNSW_NEIGHBOURS, "efConstruction": HNSW_EF_CONSTRUCTION}
                index.add_index("vector", index_type="HNSW", metric_type="IP", params=graph)
            else:
                index.add_index("vector", index_type="FLAT", metric_type="IP")
            self.call(
                "create_collection", name, schema=schema, index_params=index, consistency_level="Strong"
            )

        text = {"max_length": MAX_VARCHAR}
        span: list[tuple[str, Any, dict]] = [("start", DataType.INT64, {}), ("end", DataType.INT64, {})]
        create("blobs", [("part", DataType.INT64, {}), ("text", DataType.VARCHAR, text)], len(NO_VECTOR))
        if not manifest.dimension:  # an empty corpus: no vectors, so no dimension to give them
            return
        create(
            _chunk_kind(manifest),
            [
                ("ordinal", DataType.INT64, {}),
                ("chunk", DataType.VARCHAR, text),
                ("stems", DataType.VARCHAR, text),
            ],
            manifest.dimension,
            hnsw=manifest.index_type == "hnsw",
        )
        create(f"sentences_{manifest.dimension}", span, manifest.dimension)
        xl = snapshot.sentence_vectors_xl
        if xl is not None and xl.shape[1]:
            create("sentences_xl", span, xl.shape[1])

    def _write_documents(self, snapshot, keys: dict[str, str], new: set[str]) -> None:
        """Rows for the documents in `new`: their text and entities, chunks and sentences."""
        dim = snapshot.manifest.dimension
        blobs = []
        for doc_id in sorted(new):
            stored = {"document": snapshot.documents[doc_id].model_dump(mode="json"),
                      "entities": snapshot.entities.get(doc_id, [])}  # fmt: skip
            blobs.extend(_blob_rows(keys[doc_id], json.dumps(stored, ensure_ascii=False)))
        self._upsert("blobs", blobs)
        ordinals: dict[str, int] = {}
        chunks = []
        for row, chunk in enumerate(snapshot.chunks):
            ordinal = ordinals[chunk.doc_id] = ordinals.get(chunk.doc_id, -1) + 1
            if chunk.doc_id in new:
                key = keys[chunk.doc_id]
                chunks.append({
                    "id": f"{key}-{ordinal}", "owner": key, "ordinal": ordinal,
                    "chunk": chunk.model_dump_json(), "stems": " ".join(snapshot.lexical.terms_of(row)),
                    "vector": snapshot.chunk_vectors[row].tolist(),
                })  # fmt: skip
        self._upsert(_chunk_kind(snapshot.manifest), chunks)
        for kind, vectors in ((f"sentences_{dim}", snapshot.sentence_vectors),
                              ("sentences_xl", snapshot.sentence_vectors_xl)):  # fmt: skip
            if vectors is None or not len(vectors):
                continue
            rows = [
                {"id": f"{keys[d]}-{s}-{e}", "owner": keys[d], "start": s, "end": e,
                 "vector": vectors[row].tolist()}
                for (d, s, e), row in snapshot.sentence_rows.items() if d in new
            ]  # fmt: skip
            self._upsert(kind, rows)

    def _write_manifest(self, snapshot) -> None:
        stored = {
            "manifest": snapshot.manifest.model_dump(mode="json"),
            "proper_terms": sorted(snapshot.proper_terms),
        }
        self._upsert("blobs", _blob_rows(f"manifest:{snapshot.manifest.version}", json.dumps(stored)))

    def _delete_unnamed(self, keys: set[str], version: str, previous) -> None:
        """Drop rows no manifest still served names: replaced or removed documents, rows of builds
        that died, manifests older than the one before this (a reader may still be loading it)."""
        kept = keys | {f"manifest:{version}", "pointer"}
        if previous is not None:
            kept.add(f"manifest:{previous.manifest.version}")
        for kind in self._kinds():
            try:
                owners = {r["owner"] for r in self._rows(kind, ["owner"])}
                stale = sorted(owners - kept)
                for start in range(0, len(stale), DELETE_BATCH):
                    batch = stale[start : start + DELETE_BATCH]
                    self.call("delete", self._name(kind), filter=_owned_by(batch))
            except Exception as exc:  # the new index is served; what is left is deleted next time
                log.warning("could not delete old rows from %s (%s)", self.location, _why(exc))

    def _kinds(self) -> list[str]:
        prefix = f"{self.target.collection}_"
        kinds = [n[len(prefix) :] for n in self.call("list_collections") if n.startswith(prefix)]
        return [k for k in kinds if re.fullmatch(r"blobs|chunks_\d+(_hnsw)?|sentences_(\d+|xl)", k)]

    def _upsert(self, kind: str, rows: list[dict]) -> None:
        for start in range(0, len(rows), WRITE_BATCH):
            self.call("upsert", self._name(kind), rows[start : start + WRITE_BATCH])

    # The connection

    def _name(self, kind: str) -> str:
        return f"{self.target.collection}_{kind}"

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A pymilvus client call; a failure becomes one sentence without the token in it."""
        try:
            try:
                return getattr(self._connected(), method)(*args, **kwargs)
            except Exception as exc:
                if not _NOT_LOADED.search(_why(exc)):
                    raise
                # Milvus Lite forgets which collections were loaded when it restarts: load, once.
                self._connected().load_collection(args[0])
                return getattr(self._connected(), method)(*args, **kwargs)
        except Exception as exc:
            self._forget_client()  # the next call connects anew: Milvus may be back by then
            why = _why(exc)
            hint = ": is it running, and is RAGBOT_MILVUS_TOKEN right?" if _UNREACHABLE.search(why) else ""
            raise IndexStoreError(f"Milvus at {self.target.shown_uri} failed ({why}){hint}") from None

    def _forget_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a connection that already failed may fail too
                log.debug("closing the Milvus client failed", exc_info=True)

    def _connected(self) -> Any:
        if self._client is None:
            from pymilvus import MilvusClient

            # Its query iterator warns on every call that Milvus Lite keeps no MVCC timestamps,
            logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # and logs each failure: `call` does
            # No keep-alive pings while idle (a build embeds for minutes between calls): Milvus Lite's
            # gRPC server answers them with GOAWAY "too_many_pings".
            quiet = {"grpc.keepalive_permit_without_calls": 0, "grpc.keepalive_time_ms": 60_000}
            self._client = MilvusClient(
                uri=self.target.uri, token=self.target.token or "", timeout=10, grpc_options=quiet
            )
        return self._client


def _chunk_kind(manifest) -> str:
    """The chunks' collection: one per dimension and index type (Milvus fixes both at creation)."""
    hnsw = "_hnsw" if manifest.index_type == "hnsw" else ""
    return f"chunks_{manifest.dimension}{hnsw}"


def _keys_in_order(manifest) -> dict[str, int]:
    """Each document's key -> its position in the manifest (the order of chunk rows)."""
    return {key: position for position, key in enumerate(document_keys(manifest).values())}


def _owned_by(owners: list[str]) -> str:
    """A filter for the rows of `owners` (hex keys and manifest names: nothing to escape)."""
    listed = ", ".join(f'"{owner}"' for owner in owners)
    return f"owner in [{listed}]"


def _blob_rows(owner: str, text: str) -> list[dict]:
    pieces = [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)] or [""]
    return [_blob_row(f"{owner}-{part}", owner, part, piece) for part, piece in enumerate(pieces)]


def _blob_row(row_id: str, owner: str, part: int, text: str) -> dict:
    return {"id": row_id, "owner": owner, "part": part, "text": text, "vector": NO_VECTOR}


def _matrix(vectors: list, dimension: int) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.asarray(vectors, dtype=np.float32)


def _why(exc: BaseException) -> str:
    """The error's own words, first line only, cut short: never the whole gRPC dump."""
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return (text[0][:200] if text else exc.__class__.__name__) or exc.__class__.__name__
