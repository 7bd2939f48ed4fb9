"""The CLI on the local data dir: the model and store opened in this process (the ``Runtime``).

Imported only by commands that work locally: it pulls in torch through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from visearch.api.schemas import StatsResponse
from visearch.cli.backend import CliError, Hit, Hits, IndexedFile, Labeller, Query
from visearch.config import ConfigError, Settings, load_settings
from visearch.errors import VisearchError
from visearch.ingest.decode import decode_image
from visearch.logs import configure_logging
from visearch.models.base import ModelLoadError
from visearch.runtime import Runtime
from visearch.services.search import SearchQuery
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


class LocalBackend:
    """``Backend`` on a ``Runtime`` of this process (which it closes)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.index_chunk = runtime.settings.batch_size * 4

    @classmethod
    def open(cls, settings: Settings | None = None) -> LocalBackend:
        return cls(open_runtime(settings or cli_settings()))

    def index(self, files: Sequence[Path], metadata: dict[str, Any], label: Labeller | None,
              advance: Callable[[int], None]) -> list[IndexedFile]:
        results = self.runtime.indexer.index_files(files, metadata=lambda _: metadata,
                                                   label=label, progress=advance)
        return [IndexedFile(r.status, r.filename, r.image_id,
                            r.error.message if r.error else None) for r in results]

    def finish_index(self, describe: Callable[[str], None]) -> None:
        """Build the HNSW graph once, after the bulk load. It blocks the process, which is
        fine here and the reason the server never does it mid-traffic."""
        describe("building index")
        self.runtime.store.optimize()

    def search(self, query: Query) -> Hits:
        settings = self.runtime.settings
        try:
            image = None
            if query.image is not None:
                image = decode_image(query.image, max_bytes=settings.max_upload_bytes,
                                     max_pixels=settings.max_pixels).image
            outcome = self.runtime.searcher.search(SearchQuery(
                text=query.text, image=image, top_k=query.top_k, threshold=query.threshold,
                flt=query.filter))
        except VisearchError as exc:  # a bad image, query or filter
            raise CliError(exc.message) from None
        return Hits([Hit(p.id, p.score, p.payload.get("filename"), p.payload.get("label"))
                     for p in outcome.results], outcome.search_time_ms)

    def stats(self) -> dict[str, Any]:
        return StatsResponse.of(self.runtime, self.runtime.store.count()).model_dump(mode="json")

    def close(self) -> None:
        self.runtime.close()
