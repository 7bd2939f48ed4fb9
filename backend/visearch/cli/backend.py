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

    status: Literal["indexed", "duplicate", "failed"]
    filename: str | None
    image_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Query:
    """A search from the command line: text, an example image, or both."""

    text: str | None = None
    image: bytes | None = None
    image_name: str = "query"
    top_k: int = 10
    threshold: float | None = None
    filter: dict[str, Any] | None = None


@dataclass(frozen=True)
class Hit:
    image_id: str
    score: float
    filename: str | None
    label: str | None


@dataclass(frozen=True)
class Hits:
    results: list[Hit]
    search_time_ms: float


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
