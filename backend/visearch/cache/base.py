"""What the search service needs from a cache.

Keys are built by the caller; result keys must include ``version()`` so that a write
(which calls ``bump_version()``) makes every older result unreachable on every replica.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class SearchCache(Protocol):
    def get_embedding(self, key: str) -> np.ndarray | None: ...

    def set_embedding(self, key: str, vector: np.ndarray) -> None: ...

    def get_results(self, key: str) -> dict[str, Any] | None: ...

    def set_results(self, key: str, value: dict[str, Any]) -> None: ...

    def version(self) -> int: ...

    def bump_version(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class NullCache:
    """No caching: every lookup misses (used when caching is disabled)."""

    def get_embedding(self, key: str) -> np.ndarray | None:
        return None

    def set_embedding(self, key: str, vector: np.ndarray) -> None:
        return None

    def get_results(self, key: str) -> dict[str, Any] | None:
        return None

    def set_results(self, key: str, value: dict[str, Any]) -> None:
        return None

    def version(self) -> int:
        return 0

    def bump_version(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"enabled": False}

    def close(self) -> None:
        return None
