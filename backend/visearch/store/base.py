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

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Payload fields every indexed image has and that filters may use.
SYSTEM_FIELDS: frozenset[str] = frozenset(
    {"image_id", "filename", "source", "format", "width", "height", "bytes", "indexed_at", "label"}
)
RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
_METADATA_KEY = re.compile(r"^metadata\.[A-Za-z0-9_\-]{1,64}$")
_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-4f5e-9a8b-7c6d5e4f3a2b")

Scalar = str | int | float | bool
Filter = dict[str, Any]


class StoreError(RuntimeError):
    """Base class for store failures."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened (server down, path locked by another process)."""


class CollectionMismatchError(StoreError):
    """The collection was created for another model or dimension; vectors must never mix."""


class FilterError(ValueError):
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
            raise FilterError(f"unknown filter field {key!r}; use one of {allowed} or metadata.<key>")
        if isinstance(cond, dict):
            if not cond or set(cond) - RANGE_OPS:
                raise FilterError(f"range on {key!r} takes only {sorted(RANGE_OPS)}")
            for op, bound in cond.items():
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    raise FilterError(f"range bound {key}.{op} must be a number")
        elif isinstance(cond, list):
            if not cond or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in cond):
                raise FilterError(f"match-any on {key!r} needs a non-empty list of strings or ints")
        elif not isinstance(cond, str | int | float | bool):
            raise FilterError(f"condition on {key!r} must be a value, a list or a range object")
    return flt


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
