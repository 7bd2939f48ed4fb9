"""What ``index``, ``search`` and ``stats`` need from visearch, whether it runs in this process
(``LocalBackend``: the model and store opened here) or behind a server (``HttpBackend``).

The commands are written once against ``Backend``; ``open_backend`` picks the implementation
from ``--api`` / ``VISEARCH_API_URL``. Both implementations import their heavy dependencies
(torch through the runtime, httpx) only when opened, so ``visearch --help`` starts fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

#: Names an image's label from its path (``--label-from-folder``), or gives None.
Labeller = Callable[[Path], str | None]


class CliError(Exception):
    """A command cannot go on; the message is for the user (printed as ``error: ...``)."""


@dataclass(frozen=True)
class IndexedFile:
    """What became of one file: ``status`` as in the API's ``IndexItemResult``."""

    status: Literal["indexed", "duplicate", "near_duplicate", "failed"]
    filename: str | None
    image_id: str | None = None
    message: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Query:
    """A search from the command line: the API's ``SearchRequest`` with text terms and an
    example image given as bytes (the service decodes it)."""

    text: str | None = None
    image: bytes | None = None
    image_name: str = "query"
    top_k: int = 10
    threshold: float | None = None
    filter: dict[str, Any] | None = None
    #: More text terms as (text, weight); ``--not X`` is (X, -0.5).
    terms: tuple[tuple[str, float], ...] = ()
    like: tuple[str, ...] = ()
    dislike: tuple[str, ...] = ()
    strategy: str = "average_vector"
    diversity: float = 0.0
    cutoff: str = "off"
    sort: str = "relevance"
    order: str = "desc"
    collapse: bool = False

    def options(self) -> dict[str, Any]:
        """Every field but the image, as ``SearchRequest`` names it (both backends send it)."""
        return {
            "text": self.text, "top_k": self.top_k, "threshold": self.threshold,
            "filter": self.filter,
            "terms": [{"text": t, "weight": w} for t, w in self.terms],
            "positive_ids": list(self.like), "negative_ids": list(self.dislike),
            "strategy": self.strategy, "diversity": self.diversity, "cutoff": self.cutoff,
            "sort": self.sort, "order": self.order, "collapse_duplicates": self.collapse,
        }


@dataclass(frozen=True)
class Hit:
    image_id: str
    score: float
    filename: str | None
    label: str | None
    taken_at: str | None = None
    duplicate_of: str | None = None

    @classmethod
    def from_result(cls, r: dict[str, Any]) -> Hit:
        """A result as the API's ``SearchResult`` JSON has it."""
        return cls(r["image_id"], r["score"], r.get("filename"), r.get("label"),
                   r.get("taken_at"), r.get("duplicate_of"))


@dataclass(frozen=True)
class Hits:
    results: list[Hit]
    search_time_ms: float
    #: The API's ``cutoff`` report (method, score, kept, cut).
    cutoff: dict[str, Any] | None = None


#: The distance ``dedup`` uses while index-time detection is off (as the API's).
FALLBACK_DISTANCE = 0.075


def hits_from_body(body: dict[str, Any]) -> Hits:
    """Hits from a ``SearchResponse`` body (as JSON, or its ``model_dump``)."""
    return Hits([Hit.from_result(r) for r in body["results"]], body["search_time_ms"],
                body.get("cutoff"))


def validation_message(exc: Any) -> str:
    """One line from a pydantic ``ValidationError``, worded as the API's 422 message."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


class Backend(Protocol):
    """One visearch to talk to; every method raises ``CliError`` for the user's mistakes."""

    #: Files per ``index`` call: the progress bar moves (and the rate updates) between calls.
    index_chunk: int

    def index(self, files: Sequence[Path], metadata: dict[str, Any], label: Labeller | None,
              advance: Callable[[int], None]) -> list[IndexedFile]:
        """Index local files; ``advance(n)`` as they are done."""
        ...

    def finish_index(self, describe: Callable[[str], None]) -> None:
        """After a bulk load that indexed something: anything the backend does once, named
        through ``describe`` (the local store builds its HNSW graph; a server does nothing)."""
        ...

    def search(self, query: Query) -> Hits: ...

    def duplicate_groups(self, distance: float | None) -> dict[str, Any]:
        """The ``GET /api/v1/duplicates`` body (``DuplicateGroupsResponse``)."""
        ...

    def thumbnail(self, image_id: str) -> bytes | None:
        """An indexed image's thumbnail (JPEG bytes), or None."""
        ...

    def stats(self) -> dict[str, Any]:
        """The ``GET /api/v1/stats`` body (``StatsResponse``), wherever the store lives."""
        ...

    def close(self) -> None: ...


@contextmanager
def open_backend(api: str | None) -> Iterator[Backend]:
    """The server at ``api``, or else the local model and store (closed on exit)."""
    backend: Backend
    if api:
        from visearch.cli.http import HttpBackend

        backend = HttpBackend(api)
    else:
        from visearch.cli.local import LocalBackend

        backend = LocalBackend.open()
    try:
        yield backend
    finally:
        backend.close()
