"""The vector-store interface and the filter language shared by every backend.

Image ids are arbitrary strings (a caller's id or a SHA-256 hex digest). Qdrant only
accepts unsigned integers and UUIDs as point ids, so backends use ``point_uuid(image_id)``
as the Qdrant id and keep the image id in the payload under ``image_id``.

Filters are a small JSON language, validated before any backend sees them:

``{"label": "dress"}``                      exact match
``{"label": ["dress", "skirt"]}``            match any
``{"width": {"gte": 100, "lt": 2000}}``      numeric range (gt, gte, lt, lte)
``{"metadata.author": "ann"}``               fields of the caller's metadata

Allowed fields are ``SYSTEM_FIELDS`` and ``metadata.<key>``; anything else is a FilterError.
"""

from __future__ import annotations

import math
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import numpy as np

from visearch import plainjson
from visearch.errors import VisearchError

#: Payload fields every indexed image has and that filters may use.
SYSTEM_FIELDS: frozenset[str] = frozenset(
    {"image_id", "filename", "source", "format", "width", "height", "bytes", "indexed_at", "label"}
)
RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
_METADATA_KEY = re.compile(r"^metadata\.[A-Za-z0-9_\-]{1,64}$")
_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-4f5e-9a8b-7c6d5e4f3a2b")

Scalar = str | int | float | bool
Filter = dict[str, Any]


class StoreError(VisearchError, RuntimeError, code="store_error", status=500):
    """Base class for store failures; a bare one is the server's fault (500)."""


class StoreUnavailableError(StoreError, code="store_unavailable", status=503):
    """The store cannot be reached or opened (server down, path locked by another process)."""


class CollectionMismatchError(StoreError, code="collection_mismatch", status=503):
    """The collection was created for another model or dimension; vectors must never mix."""


class FilterError(VisearchError, ValueError, code="invalid_filter", status=422):
    """A filter is malformed or names an unknown field."""


def point_uuid(image_id: str) -> str:
    """Deterministic Qdrant point id for an image id."""
    return str(uuid.uuid5(_NAMESPACE, image_id))


def collection_name(model_id: str, dim: int) -> str:
    """One collection per model: a readable slug of the model id plus its dimension."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_id).strip("-").lower()[-80:] or "model"
    return f"{slug}-{dim}"


def validate_filter(flt: Filter | None) -> Filter | None:
    """Check a filter against the language above; return it unchanged or raise FilterError."""
    if flt is None:
        return None
    if not isinstance(flt, dict):
        raise FilterError("filter must be an object of field: condition")
    for key, cond in flt.items():
        if key not in SYSTEM_FIELDS and not _METADATA_KEY.match(key):
            allowed = ", ".join(sorted(SYSTEM_FIELDS))
            raise FilterError(
                f"unknown filter field {key!r}; use one of {allowed} or metadata.<key>"
            )
        if isinstance(cond, dict):
            if not cond or set(cond) - RANGE_OPS:
                raise FilterError(f"range on {key!r} takes only {sorted(RANGE_OPS)}")
            for op, bound in cond.items():
                if (isinstance(bound, bool) or not isinstance(bound, int | float)
                        or not _finite_number(bound)):
                    raise FilterError(f"range bound {key}.{op} must be a finite number "
                                      "(integers within 64 bits)")
        elif isinstance(cond, list):
            if not cond or not all(
                isinstance(v, str | int) and not isinstance(v, bool) for v in cond
            ):
                raise FilterError(f"match-any on {key!r} needs a non-empty list of strings or ints")
        elif not isinstance(cond, str | int | float | bool):
            raise FilterError(f"condition on {key!r} must be a value, a list or a range object")
        elif isinstance(cond, float) and not math.isfinite(cond):
            raise FilterError(f"condition on {key!r} must be a finite number")
        # Lone surrogates and integers beyond 64 bits cannot be sent to any backend.
        reason = plainjson.problem(cond, name=f"filter value of {key!r}")
        if reason is not None:
            raise FilterError(reason)
    return flt


def _finite_number(value: int | float) -> bool:
    if isinstance(value, int):
        return plainjson.INT64_MIN <= value <= plainjson.INT64_MAX
    return math.isfinite(value)


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


class VectorStore(ABC):
    """One collection of unit vectors (cosine similarity) for one embedding model.

    Writes are durable when the call returns: a process killed right after ``upsert``
    returned keeps those points. Upserts are idempotent by id.
    """

    backend: str
    name: str
    model_id: str
    dim: int

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
