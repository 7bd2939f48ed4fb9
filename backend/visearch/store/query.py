"""What a store query asks for, the same for every backend (``VectorStore.query``).

A query has stages, each one Qdrant's query API runs natively on both backends:

1. **scoring**: nearest to a vector, or a recommendation from positive and negative examples
   (``average_vector``, ``best_score``, ``sum_scores``), or naive relevance feedback around a
   target. Its ``score_threshold`` drops weak candidates here (a ``Prefetch`` when later stages
   follow). Only ``average_vector`` on the edge store is emulated: the average is taken here,
   then a nearest search runs (qdrant-edge-py 0.9 has no such strategy).
2. **diversify** (optional): maximal marginal relevance over the scored candidates (``Mmr``).
3. **order_by** (optional): the candidates ordered by a payload field (``OrderBy`` over a
   ``Prefetch`` of the stages above); candidates without the field follow, in score order.

Scores are those of stage 1, except after MMR, which answers with the cosine similarity of
each point to its own vector (the same as stage 1's when that is a nearest search to it).
Ordering keeps the scores it was given.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from visearch.store.filters import Filter, FilterError

RecommendStrategy = Literal["average_vector", "best_score", "sum_scores"]
RECOMMEND_STRATEGIES: tuple[RecommendStrategy, ...] = ("average_vector", "best_score", "sum_scores")

#: Payload fields every store indexes, by Qdrant schema type. ``taken_at`` and the camera
#: fields exist only for images with EXIF data; ``duplicate_of`` only for linked near-copies.
SYSTEM_INDEXES: dict[str, str] = {
    "image_id": "keyword",
    "label": "keyword",
    "source": "keyword",
    "format": "keyword",
    "width": "integer",
    "height": "integer",
    "bytes": "integer",
    "indexed_at": "datetime",
    "taken_at": "datetime",
    "camera": "keyword",
    "camera_make": "keyword",
    "camera_model": "keyword",
    "duplicate_of": "keyword",
    "gps": "geo",
}
INDEX_TYPES: frozenset[str] = frozenset({"keyword", "integer", "float", "bool", "datetime"})
#: Index types facets can count (Qdrant needs a keyword, integer or bool index).
FACET_TYPES: frozenset[str] = frozenset({"keyword", "integer", "bool"})
#: Index types ``order_by`` can sort on (a range index).
ORDER_TYPES: frozenset[str] = frozenset({"integer", "float", "datetime"})
#: The field ``browse`` orders points lacking its sort field by.
FALLBACK_ORDER = "indexed_at"


@dataclass(frozen=True)
class Recommend:
    """Recommendation from examples (Qdrant ``recommend``): ``average_vector`` searches
    near ``2 * mean(positives) - mean(negatives)``; ``best_score`` and ``sum_scores`` score
    every candidate against every example."""

    positives: tuple[np.ndarray, ...]
    negatives: tuple[np.ndarray, ...] = ()
    strategy: RecommendStrategy = "average_vector"

    def average_vector(self) -> np.ndarray:
        """Qdrant's average_vector query (what the edge store searches with)."""
        mean_pos = np.mean(np.stack(self.positives), axis=0)
        if not self.negatives:
            return mean_pos
        return mean_pos + mean_pos - np.mean(np.stack(self.negatives), axis=0)


@dataclass(frozen=True)
class Feedback:
    """Naive relevance feedback (Qdrant ``relevance_feedback`` / ``FeedbackNaive``): score =
    a * sim(target, x) + sum over pairs (p, n) with score(p) > score(n) of
    (score(p) - score(n))^b * c * (sim(p, x) - sim(n, x))."""

    target: np.ndarray
    examples: tuple[tuple[np.ndarray, float], ...]
    a: float = 1.0
    b: float = 1.0
    c: float = 1.0


@dataclass(frozen=True)
class Diversify:
    """MMR over the scored candidates: ``diversity`` 0 is pure relevance (to ``vector``),
    1 pure novelty; ``candidates`` are re-ranked."""

    vector: np.ndarray
    diversity: float
    candidates: int


@dataclass(frozen=True)
class OrderBy:
    key: str
    descending: bool = True


Scoring = np.ndarray | Recommend | Feedback


@dataclass(frozen=True)
class StoreQuery:
    """One query through the stages above; ``limit``/``offset`` page the final order.

    With ``order_by``, ``candidates`` (default ``limit + offset``) is how many of the scored
    (and diversified) points are ordered.
    """

    scoring: Scoring
    limit: int
    offset: int = 0
    score_threshold: float | None = None
    flt: Filter | None = None
    exclude_ids: Sequence[str] = ()
    diversify: Diversify | None = None
    order_by: OrderBy | None = None
    candidates: int | None = None
    exact: bool = False

    @property
    def mmr_only(self) -> bool:
        """Nearest to the very vector MMR measures relevance against: one ``Mmr`` query
        (no prefetch stage)."""
        s, d = self.scoring, self.diversify
        return (d is not None and isinstance(s, np.ndarray)
                and np.array_equal(np.asarray(s, np.float32), np.asarray(d.vector, np.float32)))

    @property
    def pool(self) -> int:
        """Points the ordering stage works on."""
        return max(self.candidates or 0, self.limit + self.offset)

    def check(self, dim: int, order_fields: set[str]) -> None:
        """Refuse what no backend can run (ValueError), before any backend call."""
        from visearch.store.base import check_page, check_vector

        check_page(self.limit, self.offset)
        s = self.scoring
        if isinstance(s, Recommend):
            if s.strategy not in RECOMMEND_STRATEGIES:
                raise ValueError(f"unknown recommend strategy {s.strategy!r}")
            if not s.positives and (s.strategy == "average_vector" or not s.negatives):
                raise ValueError(f"{s.strategy} needs a positive example"
                                 + ("" if s.strategy == "average_vector" else " or a negative one"))
            for v in (*s.positives, *s.negatives):
                check_vector(v, dim, "example vector")
        elif isinstance(s, Feedback):
            check_vector(s.target, dim, "feedback target")
            for v, _ in s.examples:
                check_vector(v, dim, "feedback example")
        else:
            check_vector(s, dim)
        if self.diversify is not None:
            check_vector(self.diversify.vector, dim, "diversity vector")
            if not 0.0 <= self.diversify.diversity <= 1.0:
                raise ValueError("diversity must be within [0, 1]")
            if self.diversify.candidates < 1:
                raise ValueError("diversity needs at least one candidate")
        if self.order_by is not None and self.order_by.key not in order_fields:
            raise FilterError(f"cannot order by {self.order_by.key!r}; use one of "
                              f"{', '.join(sorted(order_fields))}")


@dataclass
class BrowseCursor:
    """Where a browse left off: the phase (1: points with the sort field, 2: the others by
    ``FALLBACK_ORDER``), the last sort value, and the ids already returned with that value
    (ties at a page boundary are neither lost nor repeated)."""

    phase: int = 1
    value: Any = None
    seen: list[str] = field(default_factory=list)

    def encode(self) -> str:
        blob = json.dumps({"p": self.phase, "v": self.value, "s": self.seen},
                          separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> BrowseCursor:
        if not text:
            return cls()
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            phase, value, seen = raw["p"], raw["v"], raw["s"]
            if phase not in (1, 2) or not isinstance(seen, list):
                raise ValueError("bad cursor")
            if not all(isinstance(s, str) for s in seen):
                raise ValueError("bad cursor")
            if not (value is None or isinstance(value, str | int | float)):
                raise ValueError("bad cursor")
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise FilterError("cursor is not one this server gave out; start again without "
                              "it", code="invalid_cursor") from None
        return cls(phase, value, list(seen))


def parse_index_spec(spec: Sequence[str]) -> dict[str, str]:
    """``["metadata.author:keyword", "metadata.year:integer"]`` as field -> type (the
    ``VISEARCH_PAYLOAD_INDEXES`` setting); ValueError names a bad entry."""
    from visearch.store.filters import METADATA_KEY

    out: dict[str, str] = {}
    for entry in spec:
        name, _, kind = entry.partition(":")
        name, kind = name.strip(), (kind.strip().lower() or "keyword")
        if not METADATA_KEY.match(name):
            raise ValueError(f"{entry!r}: only metadata.<key> fields can be declared")
        if kind not in INDEX_TYPES:
            raise ValueError(f"{entry!r}: type must be one of {', '.join(sorted(INDEX_TYPES))}")
        out[name] = kind
    return out
