"""``QdrantStore``: a collection on a Qdrant server or cluster, through ``qdrant-client``.

The same class runs on qdrant-client's local mode (``path=...`` or ``":memory:"``), which the
tests use to check that both backends answer identically. The model id and dimension are
kept in the collection's metadata; the vector size is checked as well, so a collection of
another dimension is refused even where metadata is missing.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import structlog
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from visearch.store import qdrant_query as qq
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

log = structlog.get_logger(__name__)

T = TypeVar("T")

def to_qdrant_filter(flt: Filter | None, exclude_ids: Sequence[str] = ()) -> models.Filter | None:
    """Translate the store filter language (validated here) into a qdrant-client Filter."""
    return qq.qdrant_filter(flt, exclude=[point_uuid(i) for i in exclude_ids])


def read_consistency_of(value: int | str | None) -> models.ReadConsistency | None:
    """``VISEARCH_READ_CONSISTENCY`` as qdrant-client takes it: a number of replicas, or
    majority / quorum / all; None for Qdrant's default."""
    if value is None:
        return None
    if isinstance(value, int) or value.isdigit():
        return int(value)
    return models.ReadConsistencyType(value)


class QdrantStore(VectorStore):
    """One collection on a Qdrant server/cluster (or qdrant-client local mode)."""

    backend = "qdrant"

    def __init__(
        self,
        model_id: str,
        dim: int,
        *,
        url: str | None = None,
        path: Path | str | None = None,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        name: str | None = None,
        shard_number: int = 1,
        replication_factor: int = 1,
        write_consistency_factor: int = 1,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        payload_indexes: dict[str, str] | None = None,
        read_consistency: int | str | None = None,
        write_ordering: str | None = None,
    ) -> None:
        """Connect to ``url`` (server) or open ``path`` (local mode; ``":memory:"`` too).

        ``read_consistency`` (a number of replicas, or majority/quorum/all) and
        ``write_ordering`` (weak/medium/strong) go with every read and write on a cluster
        (``_reads``/``_writes``); None keeps Qdrant's defaults."""
        if (url is None) == (path is None):
            raise ValueError("give exactly one of url (Qdrant server) or path (local mode)")
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model_id = model_id
        self.dim = dim
        self.name = name or collection_name(model_id, dim)
        self.local = url is None
        #: System payload indexes plus the declared ``metadata.<key>`` ones.
        self.index_types = {**SYSTEM_INDEXES, **(payload_indexes or {})}
        self._where = url or str(path)
        self._read_args: dict[str, Any] = {"consistency": read_consistency_of(read_consistency)}
        self._write_args: dict[str, Any] = {
            "ordering": models.WriteOrdering(write_ordering) if write_ordering else None}
        # Local mode is one sqlite-backed object: serialise calls into it. HTTP is thread-safe.
        self._local_lock = threading.Lock() if self.local else None
        self._client: QdrantClient | None = self._connect(url, path, api_key, timeout_s)
        try:
            self._ensure_collection(shard_number, replication_factor, write_consistency_factor,
                                    hnsw_m, hnsw_ef_construct)
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------

    def _connect(
        self, url: str | None, path: Path | str | None, api_key: str | None, timeout_s: float
    ) -> QdrantClient:
        try:
            if url is not None:
                return QdrantClient(url=url, api_key=api_key, timeout=math.ceil(timeout_s),
                                    check_compatibility=False)
            if str(path) == ":memory:":
                return QdrantClient(location=":memory:", force_disable_check_same_thread=True)
            Path(str(path)).mkdir(parents=True, exist_ok=True)
            return QdrantClient(path=str(path), force_disable_check_same_thread=True)
        except RuntimeError as exc:  # local mode: the folder is locked by another client
            raise StoreUnavailableError(f"Qdrant local storage {path}: {exc}") from None

    def _ensure_collection(
        self, shard_number: int, replication_factor: int, write_consistency_factor: int,
        hnsw_m: int, hnsw_ef_construct: int,
    ) -> None:
        meta = {"model_id": self.model_id, "dim": self.dim, "distance": "cosine"}
        if not self._call(lambda c: c.collection_exists(self.name)):
            try:
                self._call(lambda c: c.create_collection(
                    self.name,
                    vectors_config=models.VectorParams(size=self.dim,
                                                       distance=models.Distance.COSINE),
                    shard_number=shard_number,
                    replication_factor=replication_factor,
                    write_consistency_factor=write_consistency_factor,
                    hnsw_config=models.HnswConfigDiff(m=hnsw_m, ef_construct=hnsw_ef_construct),
                    metadata=meta,
                ))
                log.info("qdrant_collection_created", collection=self.name, where=self._where)
            except StoreError as exc:  # another replica created it first: check it below
                if not self._call(lambda c: c.collection_exists(self.name)):
                    raise exc
        info = self._call(lambda c: c.get_collection(self.name))
        self._check_collection(info)
        if not self.local:
            missing = {f: qq.schema_type(t) for f, t in self.index_types.items()
                       if f not in (info.payload_schema or {})}

            def create_indexes(client: QdrantClient) -> None:
                for field_name, schema in missing.items():
                    client.create_payload_index(self.name, field_name, field_schema=schema,
                                                wait=True)

            self._call(create_indexes)

    def _check_collection(self, info: models.CollectionInfo) -> None:
        """Refuse a collection made for another model or dimension."""
        vectors = info.config.params.vectors
        where = f"collection {self.name!r} on {self._where}"
        if not isinstance(vectors, models.VectorParams):
            raise CollectionMismatchError(f"{where} uses named vectors; not made by visearch")
        if vectors.size != self.dim:
            raise CollectionMismatchError(
                f"{where} stores {vectors.size}-dim vectors, but model {self.model_id!r} makes "
                f"{self.dim}-dim ones; vectors of different models cannot be mixed"
            )
        if vectors.distance != models.Distance.COSINE:
            raise CollectionMismatchError(f"{where} uses {vectors.distance} distance, not cosine")
        stored = (info.config.metadata or {}).get("model_id")
        if stored is None:
            log.warning("qdrant_collection_without_model", collection=self.name,
                        hint="only the dimension could be checked")
        elif stored != self.model_id:
            raise CollectionMismatchError(
                f"{where} was created for model {stored!r}, not {self.model_id!r}; vectors of "
                "different models cannot be mixed - use another collection or re-index"
            )

    # -- calls -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _serial(self) -> Iterator[None]:
        if self._local_lock is None:
            yield
        else:
            with self._local_lock:
                yield

    def _call(self, fn: Callable[[QdrantClient], T]) -> T:
        """Run one client call with transport failures as StoreUnavailableError."""
        client = getattr(self, "_client", None)
        if client is None:
            raise StoreUnavailableError(f"vector store {self.name!r} is closed")
        try:
            with self._serial():
                return fn(client)
        except (ResponseHandlingException, httpx.TransportError, ConnectionError,
                TimeoutError) as exc:
            raise StoreUnavailableError(f"Qdrant at {self._where} is unreachable: {exc}") from exc
        except UnexpectedResponse as exc:
            status = exc.status_code or 0
            detail = exc.content.decode("utf-8", "replace")[:300]
            if status in (401, 403):
                raise StoreUnavailableError(
                    f"Qdrant at {self._where} refused the credentials ({status}); "
                    "check VISEARCH_QDRANT_API_KEY"
                ) from exc
            if status >= 500 or status in (408, 429):
                raise StoreUnavailableError(
                    f"Qdrant at {self._where} failed ({status}): {detail}"
                ) from exc
            raise StoreError(f"Qdrant at {self._where} answered {status}: {detail}") from exc
        except (ValueError, RuntimeError) as exc:  # local mode reports errors this way
            raise StoreError(f"Qdrant store {self.name!r}: {exc}") from exc

    def _reads(self) -> dict[str, Any]:
        """Keyword arguments for every read (query_points, retrieve, scroll, facet): the read
        consistency on a cluster. Every new read call passes ``**self._reads()``."""
        return self._read_args

    def _writes(self) -> dict[str, Any]:
        """Keyword arguments for every write (upsert, delete, set_payload): the write
        ordering on a cluster. Every new write call passes ``**self._writes()``."""
        return self._write_args

    def stats(self) -> dict[str, int]:
        info = self._call(lambda c: c.get_collection(self.name))
        return {"points": int(info.points_count or 0),
                "indexed_vectors": int(info.indexed_vectors_count or 0)}

    # -- VectorStore -------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        prepared = prepare_points(points, self.dim)
        if not prepared:
            return
        structs = [
            models.PointStruct(id=point_uuid(i), vector=vec.tolist(), payload=payload)
            for i, vec, payload in prepared
        ]
        self._call(lambda c: c.upsert(self.name, points=structs, wait=True,
                                     **self._writes()))

    def delete(self, ids: Sequence[str]) -> None:
        wanted = unique_ids(ids)
        if wanted:
            selector = models.PointIdsList(points=[point_uuid(i) for i in wanted])
            self._call(lambda c: c.delete(self.name, points_selector=selector, wait=True,
                                          **self._writes()))

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        wanted = unique_ids(ids)
        if not wanted:
            return []
        records = self._call(lambda c: c.retrieve(
            self.name, ids=[point_uuid(i) for i in wanted], with_payload=True,
            with_vectors=with_vectors, **self._reads(),
        ))
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
        qfilter = to_qdrant_filter(flt, unique_ids(exclude_ids))
        # Local mode is always exact and warns about search params; a server needs the flag.
        params = models.SearchParams(exact=True) if exact and not self.local else None
        response = self._call(lambda c: c.query_points(
            self.name, query=query.tolist(), query_filter=qfilter, search_params=params,
            limit=limit, offset=offset or None, score_threshold=score_threshold,
            with_payload=True, with_vectors=False, **self._reads(),
        ))
        return [_scored(p) for p in response.points]

    def count(self, flt: Filter | None = None) -> int:
        # qdrant-client's count() takes no read consistency (1.20): it reads as Qdrant defaults.
        qfilter = to_qdrant_filter(flt)
        return int(self._call(lambda c: c.count(self.name, count_filter=qfilter,
                                                 exact=True)).count)

    # -- the query API (store/query.py; translation in store/qdrant_query.py) -----------------

    def _params_for(self, exact: bool) -> models.SearchParams | None:
        # Local mode is always exact and warns about search params; a server needs the flag.
        return models.SearchParams(exact=True) if exact and not self.local else None

    def _query(self, q: StoreQuery) -> list[ScoredPoint]:
        flt = qq.qdrant_filter(q.flt, exclude=[point_uuid(i) for i in unique_ids(q.exclude_ids)])
        params = self._params_for(q.exact)
        query, prefetch, threshold = qq.stages(q, flt, params)
        response = self._call(lambda c: c.query_points(
            self.name, query=query, prefetch=prefetch or None, query_filter=flt,
            search_params=params, limit=q.limit, offset=q.offset or None,
            score_threshold=threshold, with_payload=True, with_vectors=False,
            **self._reads(),
        ))
        return [_scored(p) for p in response.points]

    def _order(self, pool: StoreQuery, key: str, descending: bool, ids: Sequence[str]) -> list[str]:
        flt = qq.qdrant_filter(pool.flt,
                               exclude=[point_uuid(i) for i in unique_ids(pool.exclude_ids)])
        only = qq.qdrant_filter(None, only=[point_uuid(i) for i in ids])
        query, inner = qq.order_query(pool, key, descending, flt, self._params_for(pool.exact))
        response = self._call(lambda c: c.query_points(
            self.name, query=query, prefetch=inner, query_filter=only, limit=pool.limit,
            with_payload=["image_id"], with_vectors=False, **self._reads(),
        ))
        return [str((p.payload or {}).get("image_id")) for p in response.points]

    def facet(self, key: str, flt: Filter | None = None, limit: int = 50) -> list[tuple[Any, int]]:
        self.check_facet(key, limit)
        qfilter = qq.qdrant_filter(flt)
        response = self._call(lambda c: c.facet(self.name, key, facet_filter=qfilter,
                                                limit=limit + FACET_SLACK, exact=True,
                                                **self._reads()))
        return facet_counts([(h.value, h.count) for h in response.hits], limit)

    def _scroll(self, key: str, descending: bool, start: Any, limit: int, flt: Filter | None,
                lacking: str | None, with_vectors: bool) -> list[Point]:
        qfilter = qq.qdrant_filter(flt, lacking=lacking)
        records, _ = self._call(lambda c: c.scroll(
            self.name, scroll_filter=qfilter, limit=limit, with_payload=True,
            with_vectors=with_vectors, order_by=qq.order_by(key, descending, start),
            **self._reads(),
        ))
        return records_to_points(records, with_vectors)

    def ping(self) -> bool:
        try:
            return bool(self._call(lambda c: c.collection_exists(self.name)))
        except StoreError:
            return False

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "where": self._where}

    def close(self) -> None:
        """Close the client (and release local mode's folder lock); safe to call twice."""
        client = getattr(self, "_client", None)
        self._client = None
        if client is not None:
            with self._serial():
                client.close()


def _scored(hit: models.ScoredPoint) -> ScoredPoint:
    payload = dict(hit.payload or {})
    image_id = payload.get("image_id")
    if not isinstance(image_id, str):
        raise StoreError(f"point {hit.id} has no image_id in its payload")
    return ScoredPoint(image_id, float(hit.score), payload)
