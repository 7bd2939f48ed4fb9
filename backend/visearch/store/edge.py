"""``EdgeStore``: one embedded Qdrant Edge shard per collection, in this process.

Layout under ``<data_dir>/collections/<name>/``::

    collection.json   model id and dimension; another model is refused
    .lock             exclusive ``flock`` held while open: the shard belongs to one process
    shard/            qdrant-edge files (WAL, segments, edge_config.json)

Facts about qdrant-edge-py 0.9 this module is built on (checked, see tests and the bench):

* ``update`` appends to a memory-mapped WAL before applying, so a write survives the process
  being killed once ``update`` returned; ``flush`` syncs WAL and segments to the disk, so we
  call it after every write to survive a power loss too (a few ms per batch).
* The binding keeps the GIL during every call, ``optimize`` included: building HNSW for
  100k vectors freezes every Python thread of the process for as long as it runs. It is
  therefore never started implicitly; callers run ``optimize()`` when they can afford it
  (after a bulk index). Until then search is an exact scan, which stays correct.
* The WAL directory is locked by the shard, but the error is an opaque ``WouldBlock``; our
  own lock file gives a clear message and also guards ``collection.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import numpy as np
import qdrant_edge as qe

from visearch.store.base import (
    CollectionMismatchError,
    Filter,
    Point,
    ScoredPoint,
    StoreError,
    StoreUnavailableError,
    VectorStore,
    check_page,
    check_vector,
    collection_name,
    point_uuid,
    points_in_order,
    prepare_points,
    unique_ids,
    validate_filter,
)

META_FILE = "collection.json"
LOCK_FILE = ".lock"
SHARD_DIR = "shard"
FORMAT_VERSION = 1
#: Segments smaller than this (KB of vectors) are scanned exactly even when HNSW exists.
FULL_SCAN_THRESHOLD_KB = 10_000

#: Payload indexes for the system fields that filters use most.
PAYLOAD_INDEXES: dict[str, qe.PayloadSchemaType] = {
    "image_id": qe.PayloadSchemaType.Keyword,
    "label": qe.PayloadSchemaType.Keyword,
    "source": qe.PayloadSchemaType.Keyword,
    "format": qe.PayloadSchemaType.Keyword,
    "width": qe.PayloadSchemaType.Integer,
    "height": qe.PayloadSchemaType.Integer,
    "bytes": qe.PayloadSchemaType.Integer,
}

T = TypeVar("T")


def _condition(key: str, cond: Any) -> Any:
    """One validated filter entry as a qdrant-edge condition."""
    if isinstance(cond, dict):
        return qe.FieldCondition(key, range=qe.RangeFloat(**{k: float(v) for k, v in cond.items()}))
    if isinstance(cond, list):
        strs = [v for v in cond if isinstance(v, str)]
        ints = [v for v in cond if not isinstance(v, str)]
        if strs and ints:  # MatchAny takes one type: either list may match
            return qe.Filter(should=[qe.FieldCondition(key, match=qe.MatchAny(strs)),
                                     qe.FieldCondition(key, match=qe.MatchAny(ints))])
        return qe.FieldCondition(key, match=qe.MatchAny(strs or ints))
    if isinstance(cond, float):  # MatchValue has no floats: an exact match is a closed range
        return qe.FieldCondition(key, range=qe.RangeFloat(gte=cond, lte=cond))
    if isinstance(cond, bool):
        # qdrant-edge-py 0.9 reads a Python bool as the integer 1/0, which never matches a
        # stored boolean; numpy's bool is read as a real boolean.
        return qe.FieldCondition(key, match=qe.MatchValue(cast(Any, np.bool_(cond))))
    return qe.FieldCondition(key, match=qe.MatchValue(cond))


def to_edge_filter(flt: Filter | None, exclude_ids: Sequence[str] = ()) -> qe.Filter | None:
    """Translate the store filter language (validated here) into a qdrant-edge Filter."""
    validate_filter(flt)
    must = [_condition(key, cond) for key, cond in (flt or {}).items()]
    must_not: list[Any] = (
        [qe.HasIdCondition({point_uuid(i) for i in exclude_ids})] if exclude_ids else []
    )
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


class EdgeStore(VectorStore):
    """A persistent qdrant-edge shard; thread-safe, one process at a time."""

    backend = "edge"

    def __init__(
        self,
        data_dir: Path,
        model_id: str,
        dim: int,
        *,
        name: str | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        indexing_threshold_kb: int | None = None,
    ) -> None:
        """Open or create the collection for ``model_id`` under ``data_dir/collections``.

        ``indexing_threshold_kb``: segments with more vector data than this get HNSW when
        ``optimize()`` runs and are searched through it (default: qdrant's 10 MB).
        """
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model_id = model_id
        self.dim = dim
        self.name = name or collection_name(model_id, dim)
        self.path = Path(data_dir) / "collections" / self.name
        self._lock = threading.Lock()
        self._shard: qe.EdgeShard | None = None
        self._lock_file: IO[str] | None = self._acquire_dir_lock()
        try:
            self._check_meta()
            self._shard = self._open_shard(hnsw_m, hnsw_ef_construct, indexing_threshold_kb)
            self._ensure_payload_indexes()
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------

    def _acquire_dir_lock(self) -> IO[str]:
        """Take the collection for this process, or say which process has it."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held open until close()
        except OSError as exc:
            raise StoreUnavailableError(f"cannot open vector store {self.path}: {exc}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise StoreUnavailableError(
                f"vector store {self.path} is in use by another process (pid {holder}); "
                "the embedded edge store belongs to one process - stop it, or use "
                "VISEARCH_STORE=qdrant with a Qdrant server for several processes"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        return fh

    def _check_meta(self) -> None:
        """Record the model on first use; refuse any other model or dimension later."""
        meta_path = self.path / META_FILE
        if not meta_path.exists():
            if (self.path / SHARD_DIR).exists():
                raise StoreError(
                    f"{self.path} holds a shard but no {META_FILE}; refusing to guess which "
                    "model wrote it - restore the file or move the directory away"
                )
            meta = {"model_id": self.model_id, "dim": self.dim, "distance": "cosine",
                    "format": FORMAT_VERSION,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            try:
                _write_json_atomic(meta_path, meta)
            except OSError as exc:
                raise StoreError(f"cannot write {meta_path}: {exc}") from None
            return
        try:
            meta = json.loads(meta_path.read_text())
            stored_model, stored_dim = str(meta["model_id"]), int(meta["dim"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"cannot read {meta_path}: {exc}") from None
        if stored_model != self.model_id or stored_dim != self.dim:
            raise CollectionMismatchError(
                f"collection {self.name!r} at {self.path} was created for model "
                f"{stored_model!r} (dim {stored_dim}), not {self.model_id!r} (dim {self.dim}); "
                "vectors of different models cannot be mixed - use another data_dir or "
                "re-index with the original model"
            )

    def _open_shard(self, m: int, ef_construct: int, threshold_kb: int | None) -> qe.EdgeShard:
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=m, ef_construct=ef_construct,
                full_scan_threshold=threshold_kb or FULL_SCAN_THRESHOLD_KB,
            ),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb)
            if threshold_kb else None,
        )
        shard_path = self.path / SHARD_DIR
        try:
            if (shard_path / "edge_config.json").exists():
                return qe.EdgeShard.load(str(shard_path), config)
            return qe.EdgeShard.create(str(shard_path), config)
        except Exception as exc:
            msg = str(exc)
            if "incompatible" in msg:
                raise CollectionMismatchError(
                    f"shard at {shard_path} does not match dim {self.dim}: {msg}"
                ) from None
            if "WouldBlock" in msg:
                raise StoreUnavailableError(
                    f"shard at {shard_path} is locked by another user: {msg}"
                ) from None
            raise StoreError(f"cannot open edge shard at {shard_path}: {msg}") from None

    def _ensure_payload_indexes(self) -> None:
        def run(shard: qe.EdgeShard) -> None:
            existing = set(shard.info().payload_schema)
            for field_name, schema in PAYLOAD_INDEXES.items():
                if field_name not in existing:
                    shard.update(qe.UpdateOperation.create_field_index(field_name, schema))
            shard.flush()

        self._call(run)

    # -- calls -----------------------------------------------------------------------------

    def _call(self, fn: Callable[[qe.EdgeShard], T]) -> T:
        """Run one shard call under the lock, with library errors as StoreError.

        The binding holds the GIL for each call anyway, so the lock costs no parallelism; it
        keeps ``close`` from racing with calls and each write + flush together.
        """
        with self._lock:
            if self._shard is None:
                raise StoreUnavailableError(f"vector store {self.name!r} is closed")
            try:
                return fn(self._shard)
            except Exception as exc:
                raise StoreError(f"edge store {self.name!r}: {exc}") from exc

    def _write(self, op: qe.UpdateOperation) -> None:
        def run(shard: qe.EdgeShard) -> None:
            shard.update(op)
            shard.flush()  # fsync: durable beyond a process crash

        self._call(run)

    # -- VectorStore -------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        prepared = prepare_points(points, self.dim)
        if not prepared:
            return
        # Lists convert faster than numpy arrays in this binding (measured: ~2x).
        edge_points = [qe.Point(point_uuid(i), vec.tolist(), payload)
                       for i, vec, payload in prepared]
        self._write(qe.UpdateOperation.upsert_points(edge_points))

    def delete(self, ids: Sequence[str]) -> None:
        wanted = unique_ids(ids)
        if wanted:
            self._write(qe.UpdateOperation.delete_points([point_uuid(i) for i in wanted]))

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        wanted = unique_ids(ids)
        if not wanted:
            return []
        records = self._call(
            lambda s: s.retrieve([point_uuid(i) for i in wanted], True, with_vectors)
        )
        return points_in_order(wanted, records, with_vectors)

    def search(
        self,
        vector: np.ndarray,
        limit: int,
        offset: int = 0,
        score_threshold: float | None = None,
        flt: Filter | None = None,
        exclude_ids: Sequence[str] = (),
        exact: bool = False,
    ) -> list[ScoredPoint]:
        query = check_vector(vector, self.dim)
        check_page(limit, offset)
        request = qe.QueryRequest(
            limit=limit,
            offset=offset or None,
            query=qe.Query.Nearest(query.tolist()),
            filter=to_edge_filter(flt, unique_ids(exclude_ids)),
            score_threshold=score_threshold,
            params=qe.SearchParams(exact=True) if exact else None,
            with_payload=True,
            with_vector=False,
        )
        hits = self._call(lambda s: s.query(request))
        return [_scored(h) for h in hits]

    def count(self, flt: Filter | None = None) -> int:
        request = qe.CountRequest(exact=True, filter=to_edge_filter(flt))
        return int(self._call(lambda s: s.count(request)))

    def ping(self) -> bool:
        try:
            self._call(lambda s: s.info())
        except StoreError:
            return False
        return True

    def optimize(self) -> bool:
        """Build HNSW for large segments, merge small ones, vacuum deletes; blocks (and holds
        the GIL) until done, then flushes."""

        def run(shard: qe.EdgeShard) -> bool:
            changed = bool(shard.optimize())
            shard.flush()
            return changed

        return self._call(run)

    def stats(self) -> dict[str, int]:
        """Points, vectors under HNSW and segments (for /stats and the benchmark)."""
        info = self._call(lambda s: s.info())
        return {"points": info.points_count, "indexed_vectors": info.indexed_vectors_count,
                "segments": info.segments_count}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "path": str(self.path)}

    def close(self) -> None:
        """Flush and close the shard, then release the directory lock; safe to call twice."""
        with self._lock:
            shard, self._shard = self._shard, None
            try:
                if shard is not None:
                    try:
                        shard.flush()
                    finally:
                        shard.close()
            except Exception as exc:
                raise StoreError(f"closing edge store {self.name!r}: {exc}") from exc
            finally:
                fh, self._lock_file = getattr(self, "_lock_file", None), None
                if fh is not None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                    fh.close()


def _scored(hit: Any) -> ScoredPoint:
    payload = dict(hit.payload or {})
    image_id = payload.get("image_id")
    if not isinstance(image_id, str):
        raise StoreError(f"point {hit.id} has no image_id in its payload")
    return ScoredPoint(image_id, float(hit.score), payload)


def _write_json_atomic(path: Path, data: dict[str, object]) -> None:
    """Write via a temporary file, fsync, rename and fsync the directory: all or nothing."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
