"""The vector-store interface and the filter language shared by every backend.

Image ids are arbitrary strings (a caller's id or a SHA-256 hex digest). Qdrant only
accepts unsigned integers and UUIDs as point ids, so backends use ``point_uuid(image_id)``
as the Qdrant id and keep the image id in the payload under ``image_id``.

The filter language (validated once, before any backend sees it) is ``store/filters.py``;
what a query may ask beyond a nearest search is ``store/query.py``.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

import numpy as np

from visearch import plainjson
from visearch.errors import VisearchError
from visearch.store.filters import (  # noqa: F401 - the filter language, re-exported
    RANGE_OPS,
    SYSTEM_FIELDS,
    Filter,
    FilterError,
    Scalar,
    validate_filter,
)
from visearch.store.query import (
    FACET_TYPES,
    FALLBACK_ORDER,
    ORDER_TYPES,
    SYSTEM_INDEXES,
    BrowseCursor,
    StoreQuery,
)

_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-4f5e-9a8b-7c6d5e4f3a2b")



class StoreError(VisearchError, RuntimeError, code="store_error", status=500):
    """Base class for store failures; a bare one is the server's fault (500)."""


class StoreUnavailableError(StoreError, code="store_unavailable", status=503):
    """The store cannot be reached or opened (server down, path locked by another process)."""


class CollectionMismatchError(StoreError, code="collection_mismatch", status=503):
    """The collection was created for another model or dimension; vectors must never mix."""


def point_uuid(image_id: str) -> str:
    """Deterministic Qdrant point id for an image id."""
    return str(uuid.uuid5(_NAMESPACE, image_id))


def collection_name(model_id: str, dim: int) -> str:
    """One collection per model: a readable slug of the model id plus its dimension."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_id).strip("-").lower()[-80:] or "model"
    return f"{slug}-{dim}"


def check_vector(vector: object, dim: int, what: str = "query vector") -> np.ndarray:
    """A finite, non-zero float32 vector of length ``dim``, or a ValueError saying what is wrong."""
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not a numeric vector: {exc}") from None
    if arr.shape != (dim,):
        raise ValueError(f"{what} has shape {arr.shape}; this collection stores ({dim},) vectors")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinity")
    if not np.any(arr):
        raise ValueError(f"{what} is all zeros; cosine similarity needs a direction")
    return arr


def check_page(limit: int, offset: int) -> None:
    """Reject page arguments no backend can honour."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")


def unique_ids(ids: Sequence[str]) -> list[str]:
    """Ids in first-seen order without repeats (``get`` returns each point once)."""
    if isinstance(ids, str):
        raise TypeError("ids must be a sequence of image ids, not one string")
    for image_id in ids:
        if not isinstance(image_id, str) or not image_id:
            raise ValueError(f"image ids must be non-empty strings, got {image_id!r}")
    return list(dict.fromkeys(ids))


def prepare_points(
    points: Sequence[Point], dim: int
) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """Validate a whole batch before anything is written: (image_id, vector, payload) each.

    The payload is stored whole plus ``image_id``; it must be plain JSON (no NaN, no numpy
    scalars) so both backends store and return exactly the same values.
    """
    out = []
    for p in points:
        if not isinstance(p.id, str) or not p.id:
            raise ValueError(f"point ids must be non-empty strings, got {p.id!r}")
        if p.vector is None:
            raise ValueError(f"point {p.id!r} has no vector")
        vec = check_vector(p.vector, dim, what=f"vector of {p.id!r}")
        payload = {**p.payload, "image_id": p.id}
        # One level for the payload itself: metadata may use all of plainjson.MAX_DEPTH.
        reason = plainjson.problem(payload, max_depth=plainjson.MAX_DEPTH + 1, name="payload")
        if reason is not None:
            raise ValueError(f"payload of {p.id!r} is not plain JSON: {reason}")
        out.append((p.id, vec, payload))
    return out


@dataclass(frozen=True)
class Point:
    """A stored image: its id, vector (may be omitted on reads) and payload."""

    id: str
    vector: np.ndarray | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredPoint:
    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


def points_in_order(wanted: Sequence[str], records: Iterable[Any], with_vectors: bool) -> list[Point]:
    """Backend records (``.id``, ``.vector``, ``.payload``) as Points in the order asked for."""
    by_id = {str(r.id): r for r in records}
    out = []
    for image_id in wanted:
        rec = by_id.get(point_uuid(image_id))
        if rec is None:
            continue
        vector = np.asarray(rec.vector, dtype=np.float32) if with_vectors else None
        out.append(Point(image_id, vector, dict(rec.payload or {})))
    return out


def records_to_points(records: Iterable[Any], with_vectors: bool) -> list[Point]:
    """Backend records (``.payload`` holding ``image_id``) as Points, in their order; a
    record without an image id (not written by visearch) is left out."""
    out = []
    for rec in records:
        payload = dict(rec.payload or {})
        image_id = payload.get("image_id")
        if not isinstance(image_id, str):
            continue
        vector = np.asarray(rec.vector, dtype=np.float32) if with_vectors else None
        out.append(Point(image_id, vector, payload))
    return out


#: Facet values asked of a backend beyond ``limit``, so that values tied in count at the
#: limit are cut by the same rule (count, then value) on every backend.
FACET_SLACK = 100


def facet_counts(hits: Iterable[tuple[Any, int]], limit: int) -> list[tuple[Any, int]]:
    """(value, count) pairs, most frequent first, ties by type and value; the first ``limit``."""
    ranked = sorted(hits, key=lambda h: (-h[1], type(h[0]).__name__, h[0]))
    return [(v, int(c)) for v, c in ranked[:limit]]


class VectorStore(ABC):
    """One collection of unit vectors (cosine similarity) for one embedding model.

    Writes are durable when the call returns: a process killed right after ``upsert``
    returned keeps those points. Upserts are idempotent by id.
    """

    backend: str
    name: str
    model_id: str
    dim: int
    #: Payload fields under an index, with their type (``SYSTEM_INDEXES`` plus the
    #: ``metadata.<key>`` fields declared with ``VISEARCH_PAYLOAD_INDEXES``).
    index_types: dict[str, str] = SYSTEM_INDEXES

    @abstractmethod
    def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points (vector required, payload stored whole)."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by image id; unknown ids are ignored."""

    @abstractmethod
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        """Points that exist among ``ids``, in the order of ``ids``."""

    @abstractmethod
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
        """Nearest points by cosine similarity, best first."""

    @abstractmethod
    def count(self, flt: Filter | None = None) -> int:
        """Number of points (matching the filter)."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the store answers (for /ready)."""

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and connections."""

    # -- the query API: scoring, diversity, ordering (see store/query.py) ---------------------

    @property
    def order_fields(self) -> set[str]:
        """Fields ``order_by`` and ``browse`` can sort on (they have a range index)."""
        return {f for f, t in self.index_types.items() if t in ORDER_TYPES}

    @property
    def facet_fields(self) -> set[str]:
        """Fields ``facet`` can count (they have a keyword, integer or bool index)."""
        return {f for f, t in self.index_types.items() if t in FACET_TYPES}

    def query(self, q: StoreQuery) -> list[ScoredPoint]:
        """Run ``q``'s stages (scoring, diversity, ordering); a page of scored points.

        Ordering runs natively (``OrderBy`` over a ``Prefetch`` of the scored candidates);
        the candidates' scores come from the same scoring run without it, and candidates
        without the order field follow the ordered ones in score order.
        """
        q.check(self.dim, self.order_fields)
        validate_filter(q.flt)
        if q.order_by is None:
            return self._query(q)
        pool = replace(q, order_by=None, limit=q.pool, offset=0)
        scored = self._query(pool)
        if not scored:
            return []
        ordered = self._order(pool, q.order_by.key, q.order_by.descending,
                              [p.id for p in scored])
        by_id = {p.id: p for p in scored}
        placed = [by_id[i] for i in dict.fromkeys(ordered) if i in by_id]
        taken = {p.id for p in placed}
        rest = [p for p in scored if p.id not in taken]
        return (placed + rest)[q.offset : q.offset + q.limit]

    @abstractmethod
    def _query(self, q: StoreQuery) -> list[ScoredPoint]:
        """Scoring (+ MMR) natively, paged by ``q.limit`` and ``q.offset``; no ordering."""

    @abstractmethod
    def _order(self, pool: StoreQuery, key: str, descending: bool, ids: Sequence[str]) -> list[str]:
        """Image ids of ``pool``'s candidates (restricted to ``ids``) that have ``key``, in
        its order: ``OrderBy`` over a ``Prefetch`` of ``pool``."""

    @abstractmethod
    def facet(self, key: str, flt: Filter | None = None, limit: int = 50) -> list[tuple[Any, int]]:
        """(value, count) of ``key`` over the points matching ``flt``, most frequent first
        (ties by value); exact counts. ``key`` must be in ``facet_fields``."""

    def check_facet(self, key: str, limit: int) -> None:
        if key not in self.facet_fields:
            raise FilterError(
                f"cannot count values of {key!r}; facets work on {', '.join(sorted(self.facet_fields))} "
                "(declare metadata fields with VISEARCH_PAYLOAD_INDEXES=metadata.<key>:keyword)"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")

    def browse(
        self,
        limit: int,
        cursor: str | None = None,
        order_by: str = FALLBACK_ORDER,
        descending: bool = True,
        flt: Filter | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[Point], str | None]:
        """A page of every point matching ``flt``, ordered by ``order_by`` (natively:
        ``OrderBy`` scrolls), and the cursor of the next page (None at the end). Points
        without ``order_by`` come last, ordered by ``FALLBACK_ORDER`` the same way."""
        check_page(limit, 0)
        validate_filter(flt)
        if order_by not in self.order_fields:
            raise FilterError(f"cannot order by {order_by!r}; use one of "
                              f"{', '.join(sorted(self.order_fields))}")
        state = BrowseCursor.decode(cursor)
        out: list[Point] = []
        while True:
            key = order_by if state.phase == 1 else FALLBACK_ORDER
            lacking = order_by if state.phase == 2 else None
            want = limit - len(out)
            if want == 0:  # the page is full: is there anything after it?
                more = self._scroll(key, descending, state.value, len(state.seen) + 1, flt,
                                    lacking=lacking, with_vectors=False)
                if any(p.id not in state.seen for p in more):
                    return out, state.encode()
            else:
                batch = self._scroll(key, descending, state.value, want + len(state.seen), flt,
                                     lacking=lacking, with_vectors=with_vectors)
                fresh = [p for p in batch if p.id not in state.seen][:want]
                out += fresh
                if len(batch) == want + len(state.seen) and fresh:  # the phase goes on
                    last = fresh[-1].payload.get(key)
                    ties = [p.id for p in fresh if p.payload.get(key) == last]
                    kept = state.seen if last == state.value else []
                    return out, BrowseCursor(state.phase, last, kept + ties).encode()
            if state.phase == 2 or order_by == FALLBACK_ORDER:
                return out, None
            state = BrowseCursor(2)

    @abstractmethod
    def _scroll(self, key: str, descending: bool, start: Any, limit: int, flt: Filter | None,
                lacking: str | None, with_vectors: bool) -> list[Point]:
        """Up to ``limit`` points matching ``flt`` ordered by ``key`` from ``start`` (inclusive;
        None: from the first), natively; with ``lacking``, only points without that field."""

    def image_ids(self) -> Iterator[str] | None:
        """Every stored image id (the start-up sweep of orphan files), or None where listing
        the whole collection is not offered."""
        return None

    def unreadable_points(self) -> int:
        """Points whose stored payload could not be decoded (reported by ``/ready``)."""
        return 0

    def stats(self) -> dict[str, int]:
        """``points``, and ``indexed_vectors`` (under the HNSW index) where the backend says;
        read by the metrics at scrape time."""
        return {"points": self.count()}

    def optimize(self) -> bool:
        """Build pending vector indexes now; True if anything was rebuilt.

        A Qdrant server optimizes in the background, so the default does nothing. The
        embedded edge store only builds its HNSW index when this is called.
        """
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def search_by_ids(
        self,
        ids: Sequence[str],
        limit: int,
        offset: int = 0,
        score_threshold: float | None = None,
        flt: Filter | None = None,
    ) -> list[ScoredPoint]:
        """'More like these': search with the mean of stored vectors, excluding the examples."""
        found = [p for p in self.get(ids, with_vectors=True) if p.vector is not None]
        if not found:
            raise KeyError(f"none of the example ids exist: {list(ids)}")
        mean = np.mean(np.stack([p.vector for p in found if p.vector is not None]), axis=0)
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return self.search(
            mean, limit, offset, score_threshold, flt, exclude_ids=[p.id for p in found]
        )

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend, "collection": self.name, "model_id": self.model_id,
                "dim": self.dim}
