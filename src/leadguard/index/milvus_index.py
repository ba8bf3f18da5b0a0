"""Exact search in Milvus (pymilvus): one collection per embedding space, FLAT index, metric IP.

The engine for galleries beyond one machine (docs/scale.md); in tests and on one machine the
URI is a milvus-lite file. Milvus scores in fp32, so each search fetches the top vectors and
re-scores them exactly (``exact_scores``) and widens the fetch until every vector it did not
return is provably below the k-th exact score: results equal the reference ``ExactIndex``,
ties broken by id. Removals are deleted from the collection and compacted (expungement).
A JSON record beside the workspace's other indexes keeps the collection's fingerprint
(count, sum and max of ids), updated incrementally, for comparison with the database;
opening the index checks only the server's row count against it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import IndexError_
from leadguard.index.base import IdArray, ScoreArray, as_matrix, exact_scores, search_rows

log = logging.getLogger(__name__)

MAX_LIMIT = 16384  # Milvus's largest top-k and query page
_FP32_SLACK = 1e-5  # Milvus's fp32 score of a unit-norm pair is within ~1e-6 of the exact one
_INSERT_BATCH = 5000
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def client(uri: str) -> Any:
    """One MilvusClient per URI (milvus-lite starts one local server per file)."""
    with _LOCK:
        if uri not in _CLIENTS:
            from pymilvus import MilvusClient

            if "://" not in uri:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            _CLIENTS[uri] = MilvusClient(uri)
        return _CLIENTS[uri]


def collection_name(space_key: str) -> str:
    return "lg_" + re.sub(r"[^0-9A-Za-z_]", "_", space_key)


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class MilvusIndex:
    def __init__(
        self,
        space_key: str,
        dim: int,
        uri: str,
        fresh: bool = False,
        summary: tuple[int, int, int] | None = None,
    ) -> None:
        self.space_key = space_key
        self.dim = dim
        self.uri = uri
        self.collection = collection_name(space_key)
        self._client = client(uri)
        if fresh and self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)
        if not self._client.has_collection(self.collection):
            self._create()
        self._count, self._id_sum, self._id_max = summary or self._summary()

    def stored_count(self) -> int:
        """Rows in the collection, counted by the server."""
        rows = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self._client.prepare_index_params()
        params.add_index(field_name="vec", index_type="FLAT", metric_type="IP")
        self._client.create_collection(
            self.collection, schema=schema, index_params=params, consistency_level="Strong"
        )

    def _summary(self) -> tuple[int, int, int]:
        ids = self.ids()
        return int(ids.size), int(ids.sum()), int(ids.max()) if ids.size else 0

    def __len__(self) -> int:
        return self._count

    def add(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        mat = as_matrix(vectors, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size != mat.shape[0]:
            raise ValueError("ids and vectors differ in length")
        for s in range(0, ids.size, _INSERT_BATCH):
            rows = [
                {"id": int(i), "vec": v.tolist()}
                for i, v in zip(ids[s : s + _INSERT_BATCH], mat[s : s + _INSERT_BATCH], strict=True)
            ]
            self._client.insert(self.collection, rows)
        if ids.size:
            self._count += int(ids.size)
            self._id_sum += int(ids.sum())
            self._id_max = max(self._id_max, int(ids.max()))

    def _present(self, ids: IdArray) -> IdArray:
        found: list[int] = []
        for s in range(0, ids.size, MAX_LIMIT):
            chunk = [int(i) for i in ids[s : s + MAX_LIMIT]]
            rows = self._client.query(
                self.collection,
                filter=f"id in {chunk}",
                output_fields=["id"],
                limit=MAX_LIMIT,
                consistency_level="Strong",
            )
            found += [int(r["id"]) for r in rows]
        return np.asarray(found, dtype=np.int64)

    def remove(self, ids: IdArray) -> int:
        ids = np.unique(np.ascontiguousarray(ids, dtype=np.int64))
        present = self._present(ids) if ids.size else np.empty(0, dtype=np.int64)
        if not present.size:
            return 0
        self._client.delete(self.collection, ids=[int(i) for i in present])
        try:  # physically drop deleted rows (expungement), where the server supports it
            self._client.compact(self.collection)
        except Exception as exc:  # milvus-lite has no compaction: deletes are already final
            log.debug("milvus compaction not available: %s", exc)
        self._count -= int(present.size)
        self._id_sum -= int(present.sum())
        if self._id_max in set(present.tolist()):
            self._count, self._id_sum, self._id_max = self._summary()
        return int(present.size)

    def ids(self) -> IdArray:
        it = self._client.query_iterator(
            self.collection,
            batch_size=MAX_LIMIT // 2,
            output_fields=["id"],
            consistency_level="Strong",
        )
        out: list[int] = []
        try:
            while batch := it.next():
                out += [int(r["id"]) for r in batch]
        finally:
            it.close()
        return np.asarray(out, dtype=np.int64)

    def stored(self, chunk: int = 8192) -> Iterator[tuple[IdArray, npt.NDArray[np.float32]]]:
        """(ids, vectors) as held in the collection, batch by batch (for a thorough check)."""
        it = self._client.query_iterator(
            self.collection,
            batch_size=min(chunk, MAX_LIMIT // 2),
            output_fields=["id", "vec"],
            consistency_level="Strong",
        )
        try:
            while batch := it.next():
                ids = np.asarray([int(r["id"]) for r in batch], dtype=np.int64)
                vecs = np.asarray([r["vec"] for r in batch], dtype=np.float32)
                yield ids, vecs.reshape(-1, self.dim)
        finally:
            it.close()

    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[ScoreArray, IdArray]:
        return search_rows(query, self.dim, k, self._search_one)

    def _search_one(
        self, q: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float64], IdArray]:
        if self._count == 0:
            return np.empty(0), np.empty(0, dtype=np.int64)
        qnorm = float(np.linalg.norm(q))
        limit = min(k + 16, MAX_LIMIT)
        while True:
            hits = self._client.search(
                self.collection,
                data=[q.tolist()],
                limit=limit,
                output_fields=["vec"],
                search_params={"metric_type": "IP"},
                consistency_level="Strong",
            )[0]
            ids = np.asarray([int(h["id"]) for h in hits], dtype=np.int64)
            vecs = np.asarray([h["entity"]["vec"] for h in hits], dtype=np.float32)
            scores = exact_scores(vecs.reshape(-1, self.dim), q)
            order = np.lexsort((ids, -scores))[:k]
            if ids.size < limit or order.size < k:
                break  # every vector of the collection came back
            lowest = min(float(h["distance"]) for h in hits)
            kth = float(scores[order[-1]])
            vmax = float(np.linalg.norm(vecs, axis=1).max())
            if lowest < kth - _FP32_SLACK * max(1.0, qnorm * vmax):
                break  # anything not returned scores below the k-th exact score
            if limit == MAX_LIMIT:
                raise IndexError_(
                    f"more than {MAX_LIMIT} templates tie for the top {k} in Milvus collection "
                    f"{self.collection}; search with fewer candidates"
                )
            limit = min(limit * 4, MAX_LIMIT)
        return scores[order], ids[order]

    # --- persistence: the collection lives in Milvus; the record keeps its fingerprint ---
    def save(self, path: Path) -> None:
        self._client.flush(self.collection)
        meta = {
            "space_key": self.space_key,
            "dim": self.dim,
            "collection": self.collection,
            "count": self._count,
            "id_sum": self._id_sum,
            "id_max": self._id_max if self._count else 0,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, space_key: str, dim: int, uri: str) -> MilvusIndex:
        meta = read_meta(path)
        if meta is None or meta.get("space_key") != space_key or meta.get("dim") != dim:
            raise IndexError_(
                f"Milvus index record {path} is missing or belongs to another space; "
                "run: leadguard index rebuild"
            )
        summary = (int(meta["count"]), int(meta["id_sum"]), int(meta["id_max"]))
        try:
            obj = cls(space_key, dim, uri, summary=summary)
            stored = obj.stored_count()
        except Exception as exc:
            raise IndexError_(f"Milvus at {uri} cannot be reached ({exc})") from exc
        if stored != summary[0]:
            raise IndexError_(
                f"Milvus collection {obj.collection} holds {stored} templates, its record "
                f"{path} says {summary[0]}; run: leadguard index rebuild"
            )
        return obj
