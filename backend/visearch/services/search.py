"""Searching: turn a query (text, image, stored example, or a mix) into ranked results.

Text embeddings and whole result pages are cached; result keys include the collection
version, which every write bumps, so a cached page never outlives the data it was computed on.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from visearch.cache.base import SearchCache
from visearch.errors import VisearchError
from visearch.models.base import Embedder
from visearch.store.base import Filter, ScoredPoint, VectorStore


class QueryError(VisearchError, ValueError):
    """The query itself is unusable (no input, unknown example id)."""

    statuses = {"empty_query": 400, "not_found": 404}


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    image: Image.Image | None = None
    #: Content hash of the query image, for the result cache.
    image_key: str | None = None
    image_id: str | None = None
    text_weight: float = 0.5
    top_k: int = 10
    threshold: float | None = None
    offset: int = 0
    flt: Filter | None = None


@dataclass(frozen=True)
class SearchOutcome:
    query_id: str
    results: list[ScoredPoint]
    search_time_ms: float
    cached: bool
    has_more: bool
    model_id: str


def normalise_text(text: str) -> str:
    return " ".join(text.split()).lower()


class Searcher:
    def __init__(self, embedder: Embedder, store: VectorStore, cache: SearchCache) -> None:
        self.embedder = embedder
        self.store = store
        self.cache = cache

    # -- embeddings ---------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_texts(list(texts))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.embed_images(list(images))

    def text_vector(self, text: str) -> np.ndarray:
        key = f"emb:{self.embedder.model_id}:{normalise_text(text)}"
        cached = self.cache.get_embedding(key)
        if cached is not None:
            return cached
        vec = self.embedder.embed_texts([text])[0]
        self.cache.set_embedding(key, vec)
        return vec

    # -- search -------------------------------------------------------------------------

    def search(self, q: SearchQuery) -> SearchOutcome:
        started = time.perf_counter()
        text = q.text.strip() if q.text else None
        if not (text or q.image is not None or q.image_id):
            raise QueryError("give text, an image, or an image_id to search by", code="empty_query")
        key = self._result_key(q, text)
        hit = self.cache.get_results(key)
        if hit is not None:
            return self._outcome(q, hit, started, cached=True)

        vectors: list[tuple[float, np.ndarray]] = []
        if text:
            vectors.append((q.text_weight, self.text_vector(text)))
        image_weight = 1.0 - q.text_weight if text else 1.0
        if q.image is not None:
            vectors.append((image_weight, self.embedder.embed_images([q.image])[0]))
        exclude: list[str] = []
        if q.image_id:
            found = self.store.get([q.image_id], with_vectors=True)
            if not found or found[0].vector is None:
                raise QueryError(f"no indexed image with id {q.image_id!r}", code="not_found")
            vectors.append((image_weight, found[0].vector))
            exclude.append(q.image_id)

        combined = np.sum([w * np.asarray(v, np.float32) for w, v in vectors], axis=0)
        query = (combined / max(float(np.linalg.norm(combined)), 1e-12)).astype(np.float32)
        # The store validates the filter (FilterError), the one check every caller passes.
        results = self.store.search(
            query, limit=q.top_k, offset=q.offset, score_threshold=q.threshold, flt=q.flt,
            exclude_ids=exclude,
        )
        self.cache.set_results(key, results)
        return self._outcome(q, results, started, cached=False)

    def search_vectors(
        self,
        vectors: np.ndarray,
        top_k: int,
        exact: bool = False,
        flt: Filter | None = None,
        exclude_ids: Sequence[Sequence[str]] | None = None,
    ) -> list[list[ScoredPoint]]:
        """Batch of raw vector queries (evaluation, benchmarks); no caching."""
        out = []
        for i, vec in enumerate(np.asarray(vectors, np.float32)):
            excl = exclude_ids[i] if exclude_ids is not None else ()
            out.append(self.store.search(vec, limit=top_k, flt=flt, exclude_ids=excl, exact=exact))
        return out

    # -- helpers ------------------------------------------------------------------------

    def _result_key(self, q: SearchQuery, text: str | None) -> str:
        parts = {
            "m": self.embedder.model_id,
            "t": normalise_text(text) if text else None,
            "i": q.image_key if q.image is not None else None,
            "id": q.image_id,
            "w": q.text_weight,
            "k": q.top_k,
            "th": q.threshold,
            "o": q.offset,
            "f": q.flt,
            "v": self.cache.version(),
        }
        if q.image is not None and q.image_key is None:
            parts["i"] = uuid.uuid4().hex  # unknown image content: never reuse
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return "res:" + hashlib.sha256(blob).hexdigest()

    def _outcome(
        self, q: SearchQuery, results: list[ScoredPoint], started: float, cached: bool
    ) -> SearchOutcome:
        return SearchOutcome(
            query_id=uuid.uuid4().hex,
            results=results,
            search_time_ms=round((time.perf_counter() - started) * 1000, 2),
            cached=cached,
            has_more=len(results) == q.top_k,
            model_id=self.embedder.model_id,
        )
