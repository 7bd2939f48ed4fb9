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
* A failed update (one that fails half-way, not one refused up front) leaves the shard
  refusing every later write ("Not recovered from previous error") until it is loaded again,
  which re-applies the failed operation from the WAL: ``_write`` reloads it once and retries.
* A Rust panic inside the binding surfaces as ``PanicException``, a ``BaseException``: it
  is caught like any engine error (``_call``).
* Payloads nested ~127 levels deep are written but can never be read back; such points are
  found, given a readable stub payload and reported (``unreadable``), and a shard whose log
  holds one is rebuilt when it is opened: see ``store/edge_repair.py``. New payloads cannot
  get there (``prepare_points`` checks them).
* The WAL and segments are memory-mapped: a page that cannot be allocated on a full disk
  kills the process (SIGBUS) instead of raising, so writes are refused up front while less
  than ``min_free_bytes`` is free (``visearch.disk``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import qdrant_edge as qe
import structlog

from visearch import disk
from visearch.errors import VisearchError
from visearch.store import edge_query as eq
from visearch.store.base import (
    FACET_SLACK,
    SYSTEM_INDEXES,
    CollectionMismatchError,
    Filter,
    Point,
    ScoredPoint,
    StoreError,
    StoreQuery,
    StoreUnavailableError,
    VectorStore,
    check_page,
    check_vector,
    collection_name,
    facet_counts,
    point_uuid,
    points_in_order,
    prepare_points,
    records_to_points,
    unique_ids,
)
from visearch.store.edge_index import (
    ShardParams,
    copy_shard,
    drop_old,
    recover,
    start_build,
    swap_in,
)
from visearch.store.edge_repair import (
    SHARD_DIR,
    find_unreadable,
    is_engine_error,
    is_log_unreadable,
    is_payload_unreadable,
    load_unreadable,
    needs_rebuild,
    read_payloads,
    rebuild_shard,
    save_unreadable,
    stub_payload,
)

log = structlog.get_logger(__name__)

META_FILE = "collection.json"
LOCK_FILE = ".lock"
FORMAT_VERSION = 1

T = TypeVar("T")


def to_edge_filter(
    flt: Filter | None, exclude_ids: Sequence[str] = (), exclude_points: Sequence[str] = ()
) -> qe.Filter | None:
    """Translate the store filter language (validated here) into a qdrant-edge Filter;
    ``exclude_points`` are point ids (not image ids) to leave out."""
    excluded = [point_uuid(i) for i in exclude_ids] + list(exclude_points)
    return eq.edge_filter(flt, exclude=excluded)


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
        min_free_bytes: int = 0,
        quantization: str = "none",
        vectors_on_disk: bool = False,
        hnsw_ef: int | None = None,
        oversampling: float | None = None,
        build_threshold: int = 0,
        payload_indexes: dict[str, str] | None = None,
    ) -> None:
        """Open or create the collection for ``model_id`` under ``data_dir/collections``.

        ``indexing_threshold_kb``: segments with more vector data than this get HNSW when
        ``optimize()`` runs and are searched through it (default: qdrant's 10 MB).
        ``quantization`` ("int8" or "none"), ``vectors_on_disk``: see ``ShardParams``;
        ``hnsw_ef``: search beam width; ``oversampling``: with quantization, how many times
        ``limit`` candidates are rescored on the original vectors. ``build_threshold``: once
        this many points are not under HNSW, upserts start ``build_index_async`` (0: never).
        ``min_free_bytes``: writes (and opening, which writes) are refused with
        ``StorageFullError`` while no more than this is free on the data dir's disk.
        """
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model_id = model_id
        self.dim = dim
        self.name = name or collection_name(model_id, dim)
        self.path = Path(data_dir) / "collections" / self.name
        self.min_free_bytes = min_free_bytes
        self._lock = threading.Lock()
        self._shard: qe.EdgeShard | None = None
        self._params = ShardParams(dim, hnsw_m, hnsw_ef_construct, indexing_threshold_kb,
                                   quantization, vectors_on_disk)
        self._search_params = qe.SearchParams(
            hnsw_ef=hnsw_ef,
            quantization=qe.QuantizationSearchParams(rescore=True, oversampling=oversampling)
            if quantization != "none" else None,
        )
        #: Writers take it (before ``_lock``); a background build holds it while it copies.
        self._write_gate = threading.Lock()
        #: Writes made while a background build runs, replayed into the built shard.
        self._journal: list[qe.UpdateOperation] | None = None
        self._build: threading.Thread | None = None
        self._build_process: subprocess.Popen[bytes] | None = None
        self._closing = False
        self.build_threshold = build_threshold
        #: System payload indexes plus the declared ``metadata.<key>`` ones.
        self.index_types = {**SYSTEM_INDEXES, **(payload_indexes or {})}
        self._since_build_check = 0
        #: Timings of the last background build (copy, build, the reads' pause at the swap).
        self.last_build: dict[str, float] = {}
        #: Point id -> reason, for points whose stored payload could not be decoded.
        self._unreadable: dict[str, str] = {}
        self._lock_file: IO[str] | None = self._acquire_dir_lock()
        try:
            disk.ensure_free(self.path, min_free_bytes, f"the vector store's disk ({self.path})")
            self._check_meta()
            self._config = self._params.config()
            if (recovered := recover(self.path)) is not None:
                log.warning("edge_index_build_recovered", path=str(self.path), action=recovered)
            self._shard = self._open_shard()
            self._unreadable = load_unreadable(self.path)
            if self._unreadable:
                log.error("edge_store_unreadable_points", count=len(self._unreadable),
                          points=sorted(self._unreadable)[:10],
                          hint="their payloads could not be decoded and were replaced by a "
                               "stub; re-index or delete these images")
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
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):  # closing flushes what could not be written
                fh.close()
            raise disk.as_storage_error(exc, f"cannot open vector store {self.path}") or \
                StoreUnavailableError(f"cannot open vector store {self.path}: {exc}") from None
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

    def _open_shard(self) -> qe.EdgeShard:
        shard_path = self.path / SHARD_DIR
        try:
            if needs_rebuild(self.path):  # a rebuild was interrupted: finish it first
                rebuild_shard(self.path, self._config, "resuming an interrupted rebuild")
            if (shard_path / "edge_config.json").exists():
                try:
                    return qe.EdgeShard.load(str(shard_path), self._config)
                except Exception as exc:
                    if not is_log_unreadable(exc):
                        raise
                    log.error("edge_shard_log_unreadable", path=str(shard_path), error=str(exc),
                              action="rebuilding the shard from its segments")
                    rebuild_shard(self.path, self._config, str(exc))
                    return qe.EdgeShard.load(str(shard_path), self._config)
            return qe.EdgeShard.create(str(shard_path), self._config)
        except Exception as exc:
            if (fault := disk.as_storage_error(exc, f"cannot open edge shard at {shard_path}")):
                raise fault from None
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
            for field_name, kind in self.index_types.items():
                if field_name not in existing:
                    shard.update(qe.UpdateOperation.create_field_index(
                        field_name, eq.schema_type(kind)))
            shard.flush()

        self._call(run)

    # -- calls -----------------------------------------------------------------------------

    def _call(self, fn: Callable[[qe.EdgeShard], T], write: bool = False) -> T:
        """Run one shard call under the lock, with library errors as StoreError.

        The binding holds the GIL for each call anyway, so the lock costs no parallelism; it
        keeps ``close`` from racing with calls and each write + flush together. A call that
        met an undecodable payload is retried once after those points were repaired; a write
        that found the shard stuck after an earlier failed write, once after reloading it.
        """
        with self._lock:
            if self._shard is None:
                raise StoreUnavailableError(f"vector store {self.name!r} is closed")
            if write:
                disk.ensure_free(self.path, self.min_free_bytes, "the vector store's disk")
            try:
                return fn(self._shard)
            except BaseException as exc:
                if not is_engine_error(exc):
                    raise
                if is_payload_unreadable(exc) and self._repair_unreadable(self._shard):
                    return self._retry(fn)
                if write and "Not recovered from previous error" in str(exc):
                    self._reload()
                    return self._retry(fn)
                raise self._error(exc) from exc

    def _retry(self, fn: Callable[[qe.EdgeShard], T]) -> T:
        assert self._shard is not None
        try:
            return fn(self._shard)
        except BaseException as exc:
            if not is_engine_error(exc):
                raise
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> VisearchError:
        return disk.as_storage_error(exc, f"edge store {self.name!r}") or StoreError(
            f"edge store {self.name!r}: {exc}"
        )

    def _reload(self) -> None:
        """Load the shard again (the WAL re-applies a write that failed half-way)."""
        assert self._shard is not None
        log.warning("edge_shard_reload", path=str(self.path), reason="an earlier write failed")
        try:
            self._shard.close()
        except Exception as exc:  # it is being replaced; the reload says whether data is fine
            log.warning("edge_shard_close_failed", error=str(exc))
        self._shard = None
        self._shard = self._open_shard()

    def _repair_unreadable(self, shard: qe.EdgeShard) -> bool:
        """Give every point whose payload cannot be decoded a readable stub; True if any."""
        return self._repair_points(shard, find_unreadable(shard))

    def _repair_points(self, shard: qe.EdgeShard, found: dict[str, str]) -> bool:
        """Overwrite these points' undecodable payloads with a stub (an overwrite does not
        read the old payload), record and report them; True if there were any."""
        if not found:
            return False
        for point_id, reason in found.items():
            shard.update(qe.UpdateOperation.overwrite_payload([point_id], stub_payload(reason)))
        shard.flush()
        self._unreadable.update(found)
        save_unreadable(self.path, self._unreadable)
        log.error("edge_store_unreadable_points", count=len(found), points=sorted(found)[:10],
                  hint="their payloads could not be decoded and were replaced by a stub; "
                       "re-index or delete these images")
        return True

    def _forget_unreadable(self, point_ids: Sequence[str]) -> None:
        """Points rewritten or deleted are no longer unreadable."""
        gone = [p for p in point_ids if p in self._unreadable]
        if gone:
            for p in gone:
                del self._unreadable[p]
            save_unreadable(self.path, self._unreadable)

    def _write(self, op: qe.UpdateOperation) -> None:
        def run(shard: qe.EdgeShard) -> None:
            shard.update(op)
            shard.flush()  # fsync: durable beyond a process crash
            if self._journal is not None:  # a background build copies the shard: replay later
                self._journal.append(op)

        with self._write_gate:
            self._call(run, write=True)

    @property
    def unreadable(self) -> dict[str, str]:
        """Point id -> reason, for points whose stored payload could not be decoded (each now
        holds a stub payload; re-index or delete the image)."""
        return dict(self._unreadable)

    # -- VectorStore -------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        prepared = prepare_points(points, self.dim)
        if not prepared:
            return
        # Lists convert faster than numpy arrays in this binding (measured: ~2x).
        edge_points = [qe.Point(point_uuid(i), vec.tolist(), payload)
                       for i, vec, payload in prepared]
        self._write(qe.UpdateOperation.upsert_points(edge_points))
        self._forget_unreadable([point_uuid(i) for i, _, _ in prepared])
        self._maybe_build(len(prepared))

    def delete(self, ids: Sequence[str]) -> None:
        wanted = unique_ids(ids)
        if not wanted:
            return
        point_ids = [point_uuid(i) for i in wanted]
        # Read first: a delete meeting an undecodable payload would fail half-way and stop
        # every later write; such points get a readable stub first.
        self._call(lambda s: self._repair_points(s, read_payloads(s, point_ids)[1]))
        self._write(qe.UpdateOperation.delete_points(list[Any](point_ids)))
        self._forget_unreadable(point_ids)

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
            filter=to_edge_filter(flt, unique_ids(exclude_ids), list(self._unreadable)),
            score_threshold=score_threshold,
            params=qe.SearchParams(exact=True) if exact else self._search_params,
            with_payload=True,
            with_vector=False,
        )
        hits = self._call(lambda s: s.query(request))
        return [p for p in map(_scored, hits) if p is not None]

    def count(self, flt: Filter | None = None) -> int:
        request = qe.CountRequest(exact=True, filter=to_edge_filter(flt))
        return int(self._call(lambda s: s.count(request)))

    # -- the query API (store/query.py; translation in store/edge_query.py) ------------------

    def _excluded(self, exclude_ids: Sequence[str]) -> list[str]:
        return [point_uuid(i) for i in unique_ids(exclude_ids)] + list(self._unreadable)

    def _params_for(self, exact: bool) -> qe.SearchParams | None:
        return qe.SearchParams(exact=True) if exact else self._search_params

    def _query(self, q: StoreQuery) -> list[ScoredPoint]:
        flt = eq.edge_filter(q.flt, exclude=self._excluded(q.exclude_ids))
        request = eq.query_request(q, flt, self._params_for(q.exact))
        hits = self._call(lambda s: s.query(request))
        return [p for p in map(_scored, hits) if p is not None]

    def _order(self, pool: StoreQuery, key: str, descending: bool, ids: Sequence[str]) -> list[str]:
        flt = eq.edge_filter(pool.flt, exclude=self._excluded(pool.exclude_ids))
        only = eq.edge_filter(None, only=[point_uuid(i) for i in ids])
        request = eq.order_request(pool, key, descending, flt, only, self._params_for(pool.exact))
        hits = self._call(lambda s: s.query(request))
        return [str((h.payload or {}).get("image_id")) for h in hits]

    def facet(self, key: str, flt: Filter | None = None, limit: int = 50) -> list[tuple[Any, int]]:
        self.check_facet(key, limit)
        request = eq.facet_request(key, eq.edge_filter(flt, exclude=list(self._unreadable)),
                                   limit + FACET_SLACK)
        hits = self._call(lambda s: s.facet(request))
        return facet_counts([(h.value, h.count) for h in hits], limit)

    def _scroll(self, key: str, descending: bool, start: Any, limit: int, flt: Filter | None,
                lacking: str | None, with_vectors: bool) -> list[Point]:
        request = eq.scroll_request(
            key, descending, start, limit,
            eq.edge_filter(flt, exclude=list(self._unreadable), lacking=lacking), with_vectors)
        records, _ = self._call(lambda s: s.scroll(request))
        return records_to_points(records, with_vectors)

    def ping(self) -> bool:
        try:
            self._call(lambda s: s.info())
        except VisearchError:
            return False
        return True

    def optimize(self) -> bool:
        """Build HNSW for large segments, merge small ones, vacuum deletes; blocks (and holds
        the GIL) until done, then flushes. A background build is waited for first (its swap
        would replace what this builds)."""
        self.wait_for_index()

        def run(shard: qe.EdgeShard) -> bool:
            changed = bool(shard.optimize())
            shard.flush()
            return changed

        return self._call(run)

    # -- HNSW in the background (see store/edge_index.py) -----------------------------------

    @property
    def index_building(self) -> bool:
        """True while a background index build runs."""
        return self._build is not None and self._build.is_alive()

    def build_index_async(self) -> bool:
        """Start building HNSW on a copy of the shard in another process, swapped in when
        done; False (nothing started) while one runs. ``wait_for_index`` waits for it."""
        with self._write_gate:
            if self.index_building or self._closing or self._shard is None:
                return False
            self._build = threading.Thread(target=self._build_in_background,
                                           name="edge-index-build", daemon=True)
            self._build.start()
            return True

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for a background build to finish; True when none is running any more."""
        build = self._build
        if build is not None:
            build.join(timeout)
        return not self.index_building

    def _maybe_build(self, written: int) -> None:
        """After upserts: start a build once ``build_threshold`` points lack the index."""
        if not self.build_threshold:
            return
        self._since_build_check += written
        if self._since_build_check < self.build_threshold or self.index_building:
            return
        self._since_build_check = 0
        stats = self.stats()
        if stats["points"] - stats["indexed_vectors"] >= self.build_threshold:
            log.info("edge_index_build_started", points=stats["points"],
                     unindexed=stats["points"] - stats["indexed_vectors"])
            self.build_index_async()

    def _build_in_background(self) -> None:
        started = time.perf_counter()
        try:
            with self._write_gate:  # reads go on; writes wait for the copy
                self._call(lambda s: s.flush())
                copy = copy_shard(self.path)
                self._journal = []
            copied_s = time.perf_counter() - started
            process = self._build_process = start_build(copy, self._params)
            _, stderr = process.communicate()
            if process.returncode != 0:
                raise StoreError(f"the index build exited with {process.returncode}: "
                                 f"{stderr.decode(errors='replace').strip()[-500:]}")
            built_s = time.perf_counter() - started
            with self._write_gate:
                if self._closing or self._shard is None:
                    raise StoreUnavailableError("the store closed during the index build")
                journal, self._journal = self._journal or [], None
                paused = time.perf_counter()
                with self._lock:
                    self._swap_in_built(journal)
                paused = time.perf_counter() - paused
                drop_old(self.path)
            self.last_build = {"copy_s": round(copied_s, 2),
                               "build_s": round(built_s - copied_s, 2),
                               "journaled_writes": len(journal),
                               "reads_paused_s": round(paused, 3)}
            log.info("edge_index_build_done", **self.last_build)
        except BaseException as exc:
            log.warning("edge_index_build_failed", error=str(exc))
            with self._write_gate:
                self._journal = None
                recover(self.path)  # drops the copy; the live shard was never touched
        finally:
            self._build_process = None

    def _swap_in_built(self, journal: list[qe.UpdateOperation]) -> None:
        """Close the live shard, open the built one in its place and apply the writes made
        during the build (holding both locks: reads pause for one shard load, which holds
        the GIL, see docs/performance.md). The caller drops ``shard.old`` afterwards."""
        assert self._shard is not None
        self._shard.flush()
        self._shard.close()
        self._shard = None
        swap_in(self.path)
        try:
            shard = qe.EdgeShard.load(str(self.path / SHARD_DIR), self._config)
            for op in journal:
                shard.update(op)
            shard.flush()
            self._shard = shard
        except BaseException:
            recover(self.path)  # back to the old shard, which has every write
            self._shard = self._open_shard()
            raise

    def stats(self) -> dict[str, int]:
        """Points, vectors under HNSW and segments (for /stats and the benchmark)."""
        info = self._call(lambda s: s.info())
        return {"points": info.points_count, "indexed_vectors": info.indexed_vectors_count,
                "segments": info.segments_count}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "path": str(self.path)}

    def unreadable_points(self) -> int:
        return len(self._unreadable)

    def image_ids(self) -> Iterator[str]:
        offset: Any = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=1024, with_vector=False,
                                       with_payload=qe.PayloadSelector.Include(["image_id"]))
            records, offset = self._call(partial(qe.EdgeShard.scroll, scroll=request))
            for record in records:
                image_id = (record.payload or {}).get("image_id")
                if isinstance(image_id, str):
                    yield image_id
            if offset is None or not records:
                return

    def close(self) -> None:
        """Flush and close the shard, then release the directory lock; safe to call twice.
        A background index build is stopped (its copy is dropped)."""
        self._closing = True
        process = self._build_process
        if process is not None and process.poll() is None:
            process.kill()
        if self._build is not None:
            self._build.join()
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


def _scored(hit: Any) -> ScoredPoint | None:
    payload = dict(hit.payload or {})
    image_id = payload.get("image_id")
    if not isinstance(image_id, str):  # a stub of an unreadable payload; excluded, normally
        log.warning("edge_point_without_image_id", point=str(hit.id))
        return None
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
