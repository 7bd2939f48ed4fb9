"""Prometheus metrics, one registry per application so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.request_latency = Histogram(
            "visearch_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.inference_latency = Histogram(
            "visearch_inference_duration_seconds", "Model call latency", ["kind"],
            buckets=_LATENCY_BUCKETS, registry=r,
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
        self.points = Gauge("visearch_points", "Points in the collection", registry=r)
