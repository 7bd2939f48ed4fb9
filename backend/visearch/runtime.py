"""Everything the service needs, built once from Settings and closed on shutdown.

The API app, the CLI's local mode, the job workers and evaluation all build one ``Runtime``;
nothing else holds state. The indexer and the searcher get the embedder wrapped in
``TimedEmbedder`` (their model calls are metrics); the searcher's is also a
``BatchingEmbedder`` (concurrent queries share model calls); ``embedder`` itself is the loaded
model. The model is warmed up before ``build`` returns, so a server is ready only after it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from visearch.cache import build_cache
from visearch.cache.base import SearchCache
from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.ingest.decode import ImageDecoder
from visearch.ingest.fetch import UrlFetcher
from visearch.ingest.files import ImageFiles
from visearch.metrics import Metrics, TimedEmbedder
from visearch.models.base import Embedder
from visearch.models.batching import BatchingEmbedder
from visearch.models.loader import load_embedder
from visearch.services.cutoff import Cutoff
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
    #: Decodes uploads with the configured limits and the shared memory budget.
    decoder: ImageDecoder
    #: The searcher's model: concurrent queries share model calls (closed with the runtime).
    query_embedder: BatchingEmbedder
    #: Work that never waits for the model (cache lookups, searches by stored id, counts), so
    #: a cached answer is not queued behind inference on ``executor``.
    fast_executor: ThreadPoolExecutor
    #: Seconds the model's warm-up took (part of the start-up before /ready).
    warmup_s: float = 0.0
    started_at: float = field(default_factory=time.time)
    #: Readiness checks only (``/ready``), so a replica busy with searches is not marked down.
    probe_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe"))

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
        hour, so a write in progress on another replica is never touched), and brings the
        image files in line with the store (``Indexer.sweep_files``).
        """
        embedder = embedder or load_embedder(settings)
        store = open_store(settings, embedder.model_id, embedder.dim)
        metrics = metrics or Metrics()
        metrics.track_store(store, read_only=settings.read_only)
        metrics.set_model(embedder)
        cache = cache or build_cache(settings, metrics.registry)
        files = ImageFiles.from_settings(settings)
        stale = files.remove_stale_temp_files()
        fetcher = UrlFetcher.from_settings(settings)
        timed = TimedEmbedder(embedder, metrics)
        decoder = ImageDecoder.from_settings(settings)
        indexer = Indexer(
            settings, timed, store, files, cache, fetcher,
            on_indexed=metrics.images_indexed.inc, on_failed=metrics.count_failure,
            decoder=decoder,
        )
        try:
            indexer.sweep_files()
        except (OSError, VisearchError) as exc:  # a read-only disk: serve anyway, say so
            log.warning("file_sweep_failed", error=str(exc))
        started = time.perf_counter()
        timed.warm_up()
        warmup_s = round(time.perf_counter() - started, 3)
        query_embedder = BatchingEmbedder(
            timed, max_batch=settings.query_batch_max,
            max_wait_s=settings.query_batch_wait_ms / 1000,
        )
        searcher = Searcher(
            query_embedder, store, cache, decoder=decoder, fetcher=fetcher,
            cutoff=Cutoff.from_settings(settings, embedder.model_id),
            pool=settings.search_pool, ensemble=settings.prompt_ensemble,
        )
        # Threads mostly wait (for the batching thread, the store, Redis), and each waiting
        # search is one more query the next model call can take along.
        executor = ThreadPoolExecutor(
            max_workers=max(32, settings.inference_threads * 4), thread_name_prefix="inference"
        )
        fast_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fast")
        log.info("runtime_ready", model=query_embedder.describe(), store=store.describe(),
                 stale_temp_files_removed=stale, warmup_s=warmup_s)
        return cls(settings, embedder, store, files, cache, fetcher, indexer, searcher, metrics,
                   executor, decoder, query_embedder=query_embedder,
                   fast_executor=fast_executor, warmup_s=warmup_s)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.fast_executor.shutdown(wait=True, cancel_futures=True)
        self.probe_executor.shutdown(wait=True, cancel_futures=True)
        self.query_embedder.close()
        self.fetcher.close()
        self.cache.close()
        self.store.close()
