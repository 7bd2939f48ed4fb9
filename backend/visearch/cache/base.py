"""What the search service needs from a cache.

Keys are built by the caller; result keys must include ``version()`` so that a write
(which calls ``bump_version()``) makes every older result unreachable on every replica.
A result page is cached as the store returned it (``ScoredPoint``s); how a cache keeps it
(JSON for a shared tier) is the cache's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np

from visearch.store.base import ScoredPoint

#: A cache's state as /health reports it, known without any I/O.
CacheHealth = Literal["ok", "degraded", "disabled"]


class SearchCache(Protocol):
    def get_embedding(self, key: str) -> np.ndarray | None: ...

    def set_embedding(self, key: str, vector: np.ndarray) -> None: ...

    def get_results(self, key: str) -> list[ScoredPoint] | None: ...

    def set_results(self, key: str, results: Sequence[ScoredPoint]) -> None: ...

    def version(self) -> int: ...

    def bump_version(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """Details for /stats and /ready (may ping Redis, so that a recovery shows)."""
        ...

    def health(self) -> CacheHealth:
        """The last known state, without any I/O (for /health, the liveness probe)."""
        ...

    def close(self) -> None: ...


class NullCache:
    """No caching: every lookup misses (used when caching is disabled)."""

    def get_embedding(self, key: str) -> np.ndarray | None:
        return None

    def set_embedding(self, key: str, vector: np.ndarray) -> None:
        return None

    def get_results(self, key: str) -> list[ScoredPoint] | None:
        return None

    def set_results(self, key: str, results: Sequence[ScoredPoint]) -> None:
        return None

    def version(self) -> int:
        return 0

    def bump_version(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"enabled": False}

    def health(self) -> CacheHealth:
        return "disabled"

    def close(self) -> None:
        return None
