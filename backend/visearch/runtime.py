"""Everything the service needs, built once from Settings and closed on shutdown.

The API app, the CLI's local mode, the job workers and evaluation all build one ``Runtime``;
nothing else holds state. The indexer and the searcher get the embedder wrapped in
``TimedEmbedder`` (their model calls are metrics); ``embedder`` itself is the loaded model.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from visearch.cache import build_cache
from visearch.cache.base import SearchCache
from visearch.config import Settings
from visearch.ingest.fetch import UrlFetcher
from visearch.ingest.files import ImageFiles
from visearch.metrics import Metrics, TimedEmbedder
from visearch.models.base import Embedder
from visearch.models.loader import load_embedder
from visearch.services.indexing import Indexer
from visearch.services.search import Searcher
from visearch.store.base import VectorStore
from visearch.store.factory import open_store

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    store: VectorStore
    files: ImageFiles
    cache: SearchCache
    fetcher: UrlFetcher
    indexer: Indexer
    searcher: Searcher
    metrics: Metrics
    #: Runs model calls and other blocking work off the event loop.
    executor: ThreadPoolExecutor
    started_at: float = field(default_factory=time.time)

    @classmethod
    def build(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        cache: SearchCache | None = None,
        metrics: Metrics | None = None,
    ) -> Runtime:
        """Load the model (unless given), open the store for it and wire the services.

        Also removes temporary files that a crash left in the image folder (older than an
        hour, so a write in progress on another replica is never touched).
        """
        embedder = embedder or load_embedder(settings)
        store = open_store(settings, embedder.model_id, embedder.dim)
        metrics = metrics or Metrics()
        metrics.track_store(store)
        cache = cache or build_cache(settings, metrics.registry)
        files = ImageFiles.from_settings(settings)
        stale = files.remove_stale_temp_files()
        fetcher = UrlFetcher.from_settings(settings)
        timed = TimedEmbedder(embedder, metrics)
        indexer = Indexer(
            settings, timed, store, files, cache, fetcher,
            on_indexed=metrics.images_indexed.inc, on_failed=metrics.count_failure,
        )
        searcher = Searcher(timed, store, cache)
        executor = ThreadPoolExecutor(
            max_workers=max(4, settings.inference_threads * 4), thread_name_prefix="inference"
        )
        log.info("runtime_ready", model=embedder.describe(), store=store.describe(),
                 stale_temp_files_removed=stale)
        return cls(settings, embedder, store, files, cache, fetcher, indexer, searcher, metrics,
                   executor)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()
        self.cache.close()
        self.store.close()
