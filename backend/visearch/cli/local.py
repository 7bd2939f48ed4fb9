"""The CLI on the local data dir: the model and store opened in this process (the ``Runtime``).

Imported only by commands that work locally: it pulls in torch through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from visearch.api import API_PREFIX
from visearch.api.schemas import (
    DuplicateGroupsResponse,
    SearchRequest,
    SearchResponse,
    StatsResponse,
)
from visearch.cli.backend import (
    FALLBACK_DISTANCE,
    CliError,
    Hits,
    IndexedFile,
    Labeller,
    Query,
    hits_from_body,
    validation_message,
)
from visearch.config import ConfigError, Settings, load_settings
from visearch.errors import VisearchError
from visearch.logs import configure_logging
from visearch.models.base import ModelLoadError
from visearch.runtime import Runtime
from visearch.services import dedup
from visearch.services.search import Term
from visearch.store.base import StoreError


def cli_settings(**overrides: Any) -> Settings:
    """Settings from the environment (overrides that are not None win); logging set up."""
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def open_runtime(settings: Settings) -> Runtime:
    """Load the model and open the store; start-up failures become one clear line."""
    try:
        return Runtime.build(settings)
    except ModelLoadError as exc:
        raise CliError(str(exc)) from None
    except StoreError as exc:
        hint = ""
        if "in use" in str(exc) or "lock" in str(exc):
            hint = " (is `visearch serve` running? then pass --api http://127.0.0.1:8000)"
        raise CliError(f"{exc}{hint}") from None
    except VisearchError as exc:  # e.g. a full disk
        raise CliError(exc.message) from None


class LocalBackend:
    """``Backend`` on a ``Runtime`` of this process (which it closes)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.index_chunk = runtime.settings.batch_size * 4

    @classmethod
    def open(cls, settings: Settings | None = None) -> LocalBackend:
        # A bulk index builds HNSW once, at the end (finish_index), not every 20k points.
        settings = (settings or cli_settings()).model_copy(update={"index_build_threshold": 0})
        return cls(open_runtime(settings))

    def index(self, files: Sequence[Path], metadata: dict[str, Any], label: Labeller | None,
              advance: Callable[[int], None]) -> list[IndexedFile]:
        results = self.runtime.indexer.index_files(files, metadata=lambda _: metadata,
                                                   label=label, progress=advance)
        return [IndexedFile(r.status, r.filename, r.image_id,
                            r.error.message if r.error else None, r.duplicate_of)
                for r in results]

    def finish_index(self, describe: Callable[[str], None]) -> None:
        """Build the HNSW graph once, after the bulk load. It blocks the process, which is
        fine here and the reason the server never does it mid-traffic."""
        describe("building index")
        self.runtime.store.optimize()

    def search(self, query: Query) -> Hits:
        """Validated like an API request, answered by the same service and response model."""
        try:
            body = SearchRequest.model_validate(query.options())
        except ValidationError as exc:
            raise CliError(validation_message(exc)) from None
        terms = [Term(text=t.text, weight=t.weight) for t in body.terms]
        try:
            outcome = self.runtime.searcher.search(body.to_query(query.image, terms))
        except VisearchError as exc:  # a bad image, query or filter
            raise CliError(exc.message) from None
        return hits_from_body(SearchResponse.from_outcome(outcome, API_PREFIX).model_dump())

    def duplicate_groups(self, distance: float | None) -> dict[str, Any]:
        d = distance or self.runtime.settings.near_duplicate_distance or FALLBACK_DISTANCE
        try:
            groups, images = dedup.duplicate_groups(self.runtime.store, d)
        except VisearchError as exc:
            raise CliError(exc.message) from None
        return DuplicateGroupsResponse.of(groups, images, d).model_dump(mode="json")

    def thumbnail(self, image_id: str) -> bytes | None:
        path = self.runtime.files.thumbnail(image_id)
        return path.read_bytes() if path is not None else None

    def stats(self) -> dict[str, Any]:
        return StatsResponse.of(self.runtime, self.runtime.store.count()).model_dump(mode="json")

    def close(self) -> None:
        self.runtime.close()
