"""Vector stores behind one interface: embedded Qdrant Edge and a Qdrant server/cluster."""

from visearch.store.base import (
    CollectionMismatchError,
    FilterError,
    Point,
    ScoredPoint,
    StoreError,
    StoreUnavailableError,
    VectorStore,
)

__all__ = [
    "CollectionMismatchError",
    "FilterError",
    "Point",
    "ScoredPoint",
    "StoreError",
    "StoreUnavailableError",
    "VectorStore",
]
