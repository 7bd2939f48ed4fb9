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

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Payload indexes for the system fields that filters use most (server only: local mode
#: scans payloads and warns that indexes have no effect).
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType] = {
    "image_id": models.PayloadSchemaType.KEYWORD,
    "label": models.PayloadSchemaType.KEYWORD,
    "source": models.PayloadSchemaType.KEYWORD,
    "format": models.PayloadSchemaType.KEYWORD,
    "width": models.PayloadSchemaType.INTEGER,
    "height": models.PayloadSchemaType.INTEGER,
    "bytes": models.PayloadSchemaType.INTEGER,
}


def _condition(key: str, cond: Any) -> models.Condition:
    """One validated filter entry as a qdrant-client condition."""
    if isinstance(cond, dict):
        return models.FieldCondition(
            key=key, range=models.Range(**{k: float(v) for k, v in cond.items()})
        )
    if isinstance(cond, list):
        strs = [v for v in cond if isinstance(v, str)]
        ints = [v for v in cond if not isinstance(v, str)]
        if strs and ints:  # MatchAny takes one type: either list may match
            return models.Filter(should=[
                models.FieldCondition(key=key, match=models.MatchAny(any=strs)),
                models.FieldCondition(key=key, match=models.MatchAny(any=ints)),
            ])
        return models.FieldCondition(key=key, match=models.MatchAny(any=strs or ints))
    if isinstance(cond, float):  # MatchValue has no floats: an exact match is a closed range
        return models.FieldCondition(key=key, range=models.Range(gte=cond, lte=cond))
    return models.FieldCondition(key=key, match=models.MatchValue(value=cond))


def to_qdrant_filter(flt: Filter | None, exclude_ids: Sequence[str] = ()) -> models.Filter | None:
    """Translate the store filter language (validated here) into a qdrant-client Filter."""
    validate_filter(flt)
    must = [_condition(key, cond) for key, cond in (flt or {}).items()]
    must_not: list[models.Condition] = (
        [models.HasIdCondition(has_id=[point_uuid(i) for i in exclude_ids])] if exclude_ids
        else []
    )
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


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
    ) -> None:
        """Connect to ``url`` (server) or open ``path`` (local mode; ``":memory:"`` too)."""
        if (url is None) == (path is None):
            raise ValueError("give exactly one of url (Qdrant server) or path (local mode)")
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model_id = model_id
        self.dim = dim
        self.name = name or collection_name(model_id, dim)
        self.local = url is None
        self._where = url or str(path)
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
            missing = {f: s for f, s in PAYLOAD_INDEXES.items()
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

    # -- VectorStore -------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        prepared = prepare_points(points, self.dim)
        if not prepared:
            return
        structs = [
            models.PointStruct(id=point_uuid(i), vector=vec.tolist(), payload=payload)
            for i, vec, payload in prepared
        ]
        self._call(lambda c: c.upsert(self.name, points=structs, wait=True))

    def delete(self, ids: Sequence[str]) -> None:
        wanted = unique_ids(ids)
        if wanted:
            selector = models.PointIdsList(points=[point_uuid(i) for i in wanted])
            self._call(lambda c: c.delete(self.name, points_selector=selector, wait=True))

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        wanted = unique_ids(ids)
        if not wanted:
            return []
        records = self._call(lambda c: c.retrieve(
            self.name, ids=[point_uuid(i) for i in wanted], with_payload=True,
            with_vectors=with_vectors,
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
            with_payload=True, with_vectors=False,
        ))
        return [_scored(p) for p in response.points]

    def count(self, flt: Filter | None = None) -> int:
        qfilter = to_qdrant_filter(flt)
        return int(self._call(lambda c: c.count(self.name, count_filter=qfilter,
                                                 exact=True)).count)

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
