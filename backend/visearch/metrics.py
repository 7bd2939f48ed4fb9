"""Prometheus metrics of the service, one registry per application so several apps can live in
one process (tests). Names follow Prometheus conventions (base units, ``_total`` counters).

What is observed where: HTTP latency and requests in flight in the app's request middleware
(``api/context.py``), embedding time and batch size in ``TimedEmbedder`` (every model call of
the indexer and the searcher), search time in the search router, images indexed and index
failures by the indexer's callbacks; the model (``visearch_model_info``) is set once at
start-up; the collection's points, vectors under HNSW and store info are read from the store
when Prometheus scrapes (so the numbers are always current).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
import structlog
from PIL import Image
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from visearch.models.base import Embedder
from visearch.store.base import StoreError, VectorStore

log = structlog.get_logger(__name__)
T = TypeVar("T")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Upper bounds of the ``batch_size`` label's ranges (a bounded label, not one per size).
_BATCH_RANGES = ((1, "1"), (8, "2-8"), (32, "9-32"), (128, "33-128"))


def batch_size_label(n: int) -> str:
    """The ``batch_size`` label of a model call on ``n`` inputs: 1, 2-8, 9-32, 33-128, 129+."""
    for top, label in _BATCH_RANGES:
        if n <= top:
            return label
    return "129+"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.request_latency = Histogram(
            "visearch_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.embedding_latency = Histogram(
            "visearch_embedding_duration_seconds",
            "Time of one model call, by modality (text, image) and batch size range",
            ["modality", "batch_size"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.embedding_batch_size = Histogram(
            "visearch_embedding_batch_size", "Inputs per model call, by modality",
            ["modality"], buckets=_BATCH_SIZE_BUCKETS, registry=r,
        )
        self.search_latency = Histogram(
            "visearch_search_duration_seconds", "End-to-end search latency", ["cached"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.images_indexed = Counter(
            "visearch_images_indexed_total", "Images written to the store", registry=r
        )
        self.index_failures = Counter(
            "visearch_index_failures_total", "Images rejected at indexing", ["code"], registry=r
        )
        self.in_flight = Gauge(
            "visearch_http_requests_in_flight", "HTTP requests being handled now", registry=r
        )
        self.model_info = Gauge(
            "visearch_model_info", "The model serving queries (1); fallback=true when the "
            "configured model could not be loaded",
            ["model_id", "requested_model", "device", "dim", "fallback"], registry=r,
        )
        self._store = _StoreCollector()
        r.register(self._store)

    def observe_embedding(self, modality: str, n: int, seconds: float) -> None:
        self.embedding_latency.labels(modality, batch_size_label(n)).observe(seconds)
        self.embedding_batch_size.labels(modality).observe(n)

    def count_failure(self, code: str) -> None:
        self.index_failures.labels(code).inc()

    def set_model(self, embedder: Embedder) -> None:
        """``visearch_model_info`` = 1 for the model that serves (set once, at start-up)."""
        self.model_info.clear()
        self.model_info.labels(
            model_id=embedder.model_id,
            requested_model=embedder.requested_model_id or embedder.model_id,
            device=embedder.device, dim=str(embedder.dim),
            fallback="true" if embedder.is_fallback else "false",
        ).set(1)

    def track_store(self, store: VectorStore, read_only: bool = False) -> None:
        """Report ``store`` at scrape time: its points, its vectors under the HNSW index and
        ``visearch_store_info{backend,collection,mode}``."""
        self._store.store = store
        self._store.mode = "read_only" if read_only else "read_write"


class _StoreCollector(Collector):
    """The collection as the store reports it when Prometheus scrapes; the counts are left
    out of a scrape while the store cannot answer (the info stays)."""

    def __init__(self) -> None:
        self.store: VectorStore | None = None
        self.mode = "read_write"

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("visearch_store_points",
                              "Points in the collection (counted at scrape time)",
                              labels=["collection"]),
            GaugeMetricFamily("visearch_store_indexed_vectors",
                              "Vectors of the collection under its HNSW index (the rest are "
                              "searched by exact scan)", labels=["collection"]),
            GaugeMetricFamily("visearch_store_info", "The vector store this process uses (1)",
                              labels=["backend", "collection", "mode"]),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        points, indexed, info = self._families()
        store = self.store
        if store is None:
            return (points, indexed, info)
        info.add_metric([store.backend, store.name, self.mode], 1)
        try:
            points.add_metric([store.name], store.count())
            stats = store.stats()
        except StoreError as exc:  # a scrape must not fail because the store is down
            log.warning("store_metrics_unavailable", error=exc.message)
            return (points, indexed, info)
        if "indexed_vectors" in stats:
            indexed.add_metric([store.name], stats["indexed_vectors"])
        return (points, indexed, info)


class TimedEmbedder(Embedder):
    """An embedder whose every call is observed in ``Metrics`` (per modality, batch size)."""

    def __init__(self, inner: Embedder, metrics: Metrics) -> None:
        self.inner = inner
        self.model_id, self.dim, self.device = inner.model_id, inner.dim, inner.device
        self.is_fallback, self.requested_model_id = inner.is_fallback, inner.requested_model_id
        self.precision, self.image_transform = inner.precision, inner.image_transform
        self._metrics = metrics

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._timed("text", len(texts), lambda: self.inner.embed_texts(texts))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._timed("image", len(images), lambda: self.inner.embed_images(images))

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._timed("image", len(pixels), lambda: self.inner.embed_pixels(pixels))

    def warm_up(self) -> None:
        self.inner.warm_up()

    def describe(self) -> dict[str, object]:
        return self.inner.describe()

    def _timed(self, modality: str, n: int, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        out = call()
        self._metrics.observe_embedding(modality, n, time.perf_counter() - started)
        return out
