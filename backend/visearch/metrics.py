"""Prometheus metrics of the service, one registry per application so several apps can live in
one process (tests). Names follow Prometheus conventions (base units, ``_total`` counters).

What is observed where: HTTP latency in the app's middleware, embedding time and batch size in
``TimedEmbedder`` (every model call of the indexer and the searcher), search time in the search
router, images indexed and index failures by the indexer's callbacks, and the points of the
collection read from the store when Prometheus scrapes (so the number is always current).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
import structlog
from PIL import Image
from prometheus_client import CollectorRegistry, Counter, Histogram
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
        self._store_points = _StorePoints()
        r.register(self._store_points)

    def observe_embedding(self, modality: str, n: int, seconds: float) -> None:
        self.embedding_latency.labels(modality, batch_size_label(n)).observe(seconds)
        self.embedding_batch_size.labels(modality).observe(n)

    def count_failure(self, code: str) -> None:
        self.index_failures.labels(code).inc()

    def track_store(self, store: VectorStore) -> None:
        """Report ``visearch_store_points{collection}`` of ``store``, counted at scrape time."""
        self._store_points.store = store


class _StorePoints(Collector):
    """Points in the collection, read at scrape time; nothing when the store cannot answer."""

    name = "visearch_store_points"
    doc = "Points in the collection (counted at scrape time)"

    def __init__(self) -> None:
        self.store: VectorStore | None = None

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.doc, labels=["collection"])]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.doc, labels=["collection"])
        store = self.store
        if store is not None:
            try:
                family.add_metric([store.name], store.count())
            except StoreError as exc:  # a scrape must not fail because the store is down
                log.warning("store_points_unavailable", error=exc.message)
        return [family]


class TimedEmbedder(Embedder):
    """An embedder whose every call is observed in ``Metrics`` (per modality, batch size)."""

    def __init__(self, inner: Embedder, metrics: Metrics) -> None:
        self.inner = inner
        self.model_id, self.dim, self.device = inner.model_id, inner.dim, inner.device
        self.is_fallback, self.requested_model_id = inner.is_fallback, inner.requested_model_id
        self._metrics = metrics

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._timed("text", len(texts), lambda: self.inner.embed_texts(texts))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._timed("image", len(images), lambda: self.inner.embed_images(images))

    def describe(self) -> dict[str, object]:
        return self.inner.describe()

    def _timed(self, modality: str, n: int, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        out = call()
        self._metrics.observe_embedding(modality, n, time.perf_counter() - started)
        return out
