"""Micro-batching: concurrent small model calls gathered into one forward.

A batch of 16 short texts costs the CLIP text tower 3.6x (the offline model 4.4x) less per
text than 16 single calls, but each search request embeds one query. ``BatchingEmbedder``
queues small calls per modality; one thread per modality takes what is queued, waits at most
``max_wait_s`` after the oldest request for more (bounded wait), up to ``max_batch`` inputs
(bounded batch), runs one model call and hands each caller its rows. While a forward runs,
new requests queue up and go together in the next one, so under load batches form without
any waiting. Calls with ``max_batch`` inputs or more (bulk indexing) go straight through.

Tokenisation happens inside the model call, on the batching thread: never on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image

from visearch.models.base import Embedder

T = TypeVar("T")


@dataclass
class _Request(Generic[T]):
    items: list[T]
    future: Future[np.ndarray] = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class _Batcher(Generic[T]):
    """One queue and one thread that serves it; started on first use."""

    def __init__(
        self, fn: Callable[[list[T]], np.ndarray], name: str, max_batch: int, max_wait_s: float
    ) -> None:
        self._fn = fn
        self._name = name
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: deque[_Request[T]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Model calls made and inputs they held (for tests and the benchmark).
        self.calls = 0
        self.inputs = 0

    def submit(self, items: list[T]) -> np.ndarray:
        request: _Request[T] = _Request(items)
        with self._cond:
            if self._closed:
                return self._fn(items)
            self._queue.append(request)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name=f"batch-{self._name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return request.future.result()

    def close(self) -> None:
        """Serve what is queued, then stop the thread; later calls run directly."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[_Request[T]] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + self.max_wait_s
            while not self._closed and self._queued() < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [self._queue.popleft()]
            size = len(batch[0].items)
            while self._queue and size + len(self._queue[0].items) <= self.max_batch:
                size += len(self._queue[0].items)
                batch.append(self._queue.popleft())
            return batch

    def _queued(self) -> int:
        return sum(len(r.items) for r in self._queue)

    def _run(self, batch: list[_Request[T]]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            vectors = self._fn(items)
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for request in batch:  # one bad input must fail only its own request
                self._run([request])
            return
        self.calls += 1
        self.inputs += len(items)
        start = 0
        for request in batch:
            end = start + len(request.items)
            request.future.set_result(vectors[start:end])
            start = end


class BatchingEmbedder(Embedder):
    """``inner`` with concurrent ``embed_texts`` / ``embed_images`` calls batched together.

    ``max_batch``: most inputs per gathered model call (and calls this large bypass the
    queue); ``max_wait_s``: how long the oldest queued request may wait for company.
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 32, max_wait_s: float = 0.002) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self.inner = inner
        self.model_id, self.dim, self.device = inner.model_id, inner.dim, inner.device
        self.is_fallback, self.requested_model_id = inner.is_fallback, inner.requested_model_id
        self.precision, self.image_transform = inner.precision, inner.image_transform
        self.texts: _Batcher[str] = _Batcher(inner.embed_texts, "text", max_batch, max_wait_s)
        self.images: _Batcher[Image.Image] = _Batcher(
            inner.embed_images, "image", max_batch, max_wait_s
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a sequence of strings, not a single string")
        items = list(texts)
        if not items or len(items) >= self.texts.max_batch:
            return self.inner.embed_texts(items)
        return self.texts.submit(items)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        items = list(images)
        if not items or len(items) >= self.images.max_batch:
            return self.inner.embed_images(items)
        return self.images.submit(items)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.inner.embed_pixels(pixels)

    def warm_up(self) -> None:
        self.inner.warm_up()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "query_batching": {
            "max_batch": self.texts.max_batch, "max_wait_ms": self.texts.max_wait_s * 1000}}

    def close(self) -> None:
        self.texts.close()
        self.images.close()
