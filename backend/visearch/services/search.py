"""Searching: one query model, from weighted terms and liked/disliked examples to a page of
results, the same for the API, the CLI and evaluation.

A ``SearchQuery`` is a list of weighted ``Term``s (texts, images as bytes or a URL, indexed
image ids; a negative weight pushes away) plus options: relevance feedback (liked and
disliked image ids with a strategy), diversity (MMR), a relevance cutoff, a sort by date, near-
duplicate collapsing and a filter. The service owns everything after the transport: it fetches
URLs, decodes and checks images, embeds, and runs the store's query API (``store/query.py``).

Text embeddings and whole result pages are cached; result keys include the collection
version, which every write bumps, so a cached page never outlives the data it was computed on.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
from PIL import Image

from visearch.cache.base import SearchCache
from visearch.errors import VisearchError
from visearch.ingest.decode import ImageDecoder, ImageError
from visearch.ingest.fetch import UrlFetcher
from visearch.models.base import Embedder
from visearch.services.cutoff import Cutoff, CutoffMethod, QueryKind
from visearch.services.prompts import ensemble_prompts, is_short
from visearch.store.base import Filter, ScoredPoint, VectorStore, validate_filter
from visearch.store.query import Diversify, Feedback, OrderBy, Recommend, Scoring, StoreQuery

Strategy = Literal["average_vector", "best_score", "sum_scores", "relevance_feedback"]
STRATEGIES: tuple[Strategy, ...] = ("average_vector", "best_score", "sum_scores",
                                    "relevance_feedback")
SortField = Literal["relevance", "taken_at", "indexed_at"]
SORT_FIELDS: tuple[SortField, ...] = ("relevance", "taken_at", "indexed_at")
#: Relevance feedback (naive): the weight of the liked-minus-disliked similarity, shared out
#: over the (liked, disliked) pairs; the target's similarity has weight 1.
FEEDBACK_WEIGHT = 1.0
#: MMR re-ranks this many candidates per result wanted (at most ``pool``).
MMR_CANDIDATES_PER_RESULT = 5
#: Default limits for a Searcher built without settings (tests, scripts).
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 64_000_000
#: The result-cache entry that carries a page's cutoff and has_more (ids are never empty).
_META_ID = ""


class QueryError(VisearchError, ValueError):
    """The query itself is unusable (no input, unknown example id, no direction)."""

    statuses = {"empty_query": 400, "not_found": 404, "invalid_query": 422}


@dataclass(frozen=True)
class Term:
    """One part of a query: exactly one source, and a weight (negative: push away)."""

    text: str | None = None
    #: Image bytes (an upload, base64 from JSON, a stored query image).
    image: bytes | None = None
    image_url: str | None = None
    image_id: str | None = None
    weight: float = 1.0

    @property
    def kind(self) -> Literal["text", "image"]:
        return "text" if self.text is not None else "image"

    def check(self) -> None:
        sources = [s for s in (self.text, self.image, self.image_url, self.image_id)
                   if s is not None]
        if len(sources) != 1:
            raise QueryError("each term needs exactly one of text, image_data, image_url or "
                             "image_id", code="invalid_query")
        if self.text is not None and not self.text.strip():
            raise QueryError("a text term is empty", code="empty_query")
        if not np.isfinite(self.weight):
            raise QueryError("a term's weight must be a finite number", code="invalid_query")


@dataclass(frozen=True)
class SearchQuery:
    """What to search for and how (see the module docstring and docs/api.md).

    ``text``, ``image``, ``image_url`` and ``image_id`` are the shorthand for one text and
    one image mixed by ``text_weight``; ``terms`` add more, each with its own weight.
    """

    text: str | None = None
    image: bytes | None = None
    image_url: str | None = None
    image_id: str | None = None
    text_weight: float = 0.5
    terms: tuple[Term, ...] = ()
    positive_ids: tuple[str, ...] = ()
    negative_ids: tuple[str, ...] = ()
    strategy: Strategy = "average_vector"
    diversity: float = 0.0
    top_k: int = 10
    offset: int = 0
    threshold: float | None = None
    cutoff: Literal["off", "auto"] = "off"
    sort: SortField = "relevance"
    order: Literal["desc", "asc"] = "desc"
    collapse_duplicates: bool = False
    flt: Filter | None = None
    #: Prompt ensembling for short texts; None: the service's setting.
    ensemble: bool | None = None

    def all_terms(self) -> list[Term]:
        """The shorthand fields as terms, then ``terms``."""
        text = self.text if self.text and self.text.strip() else None
        images = [t for t in (Term(image=self.image), Term(image_url=self.image_url),
                              Term(image_id=self.image_id))
                  if (t.image, t.image_url, t.image_id) != (None, None, None)]
        # text_weight mixes text with an image; a query of one kind counts it fully.
        text_weight = self.text_weight if images else 1.0
        image_weight = 1.0 - text_weight if text else 1.0
        out = [Term(text=text, weight=text_weight)] if text else []
        out += [replace(t, weight=image_weight) for t in images]
        return out + list(self.terms)


@dataclass(frozen=True)
class CutoffInfo:
    """What the relevance cutoff did to the results it considered (see ``Searcher``)."""

    method: CutoffMethod = "off"
    score: float | None = None
    kept: int = 0
    cut: int = 0


@dataclass(frozen=True)
class SearchOutcome:
    query_id: str
    results: list[ScoredPoint]
    search_time_ms: float
    cached: bool
    has_more: bool
    model_id: str
    cutoff: CutoffInfo = field(default_factory=CutoffInfo)


@dataclass
class _Resolved:
    """A query's vectors: the target (weighted terms), the examples, what to leave out."""

    target: np.ndarray | None
    positives: list[np.ndarray]
    negatives: list[np.ndarray]
    exclude: list[str]
    kind: QueryKind


def normalise_text(text: str) -> str:
    return " ".join(text.split()).lower()


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if not norm > 1e-6:  # also NaN: opposite terms that cancel out, a broken model
        raise QueryError(f"the query has no direction ({what} cancel out); change the "
                         "weights", code="invalid_query")
    return (v / norm).astype(np.float32)


class Searcher:
    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        cache: SearchCache,
        *,
        decoder: ImageDecoder | None = None,
        fetcher: UrlFetcher | None = None,
        cutoff: Cutoff | None = None,
        pool: int = 200,
        ensemble: bool = False,
    ) -> None:
        """``pool``: candidates a sorted or collapsed search considers; ``ensemble``: prompt
        ensembling of short texts unless a query says otherwise."""
        self.embedder = embedder
        self.store = store
        self.cache = cache
        self.decoder = decoder or ImageDecoder(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS)
        self.fetcher = fetcher
        self.cutoff = cutoff or Cutoff()
        self.pool = pool
        self.ensemble = ensemble

    # -- embeddings ---------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_texts(list(texts))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.embed_images(list(images))

    def image_vectors(self, images: Sequence[bytes]) -> np.ndarray:
        """Query images as bytes: checked and decoded like uploads, then embedded in one call."""
        decoded = [self.decoder.decode(data).image for data in images]
        return self.embedder.embed_images(decoded)

    def text_vector(self, text: str) -> np.ndarray:
        key = self._embedding_key(text)
        cached = self.cache.get_embedding(key)
        if cached is not None:
            return cached
        vec = self.embedder.embed_texts([text])[0]
        self.cache.set_embedding(key, vec)
        return vec

    def prime_texts(self, texts: Sequence[str], batch: int = 256) -> None:
        """Embed texts not in the embedding cache in batches and cache them (evaluation runs
        thousands of queries; each then finds its text embedded)."""
        missing = list(dict.fromkeys(t for t in texts
                                     if self.cache.get_embedding(self._embedding_key(t)) is None))
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            for text, vec in zip(chunk, self.embedder.embed_texts(chunk), strict=True):
                self.cache.set_embedding(self._embedding_key(text), vec)

    def text_query_vector(self, text: str, ensemble: bool) -> np.ndarray:
        """A text's query vector: its embedding, or with ``ensemble`` (short texts only) the
        mean of its templated prompts' unit embeddings."""
        if not (ensemble and is_short(text)):
            return self.text_vector(text)
        vectors = [self.text_vector(p) for p in ensemble_prompts(text)]
        unit = [v / max(float(np.linalg.norm(v)), 1e-12) for v in vectors]
        return _unit(np.mean(unit, axis=0), "the prompts")

    def _embedding_key(self, text: str) -> str:
        return f"emb:{self.embedder.model_id}:{normalise_text(text)}"

    # -- search -------------------------------------------------------------------------

    @staticmethod
    def needs_model(q: SearchQuery) -> bool:
        """True when answering ``q`` may call the model (it has text or an image)."""
        return any(t.image_id is None for t in q.all_terms())

    def cached(self, q: SearchQuery) -> SearchOutcome | None:
        """The cached answer to ``q``, or None; never calls the model nor fetches, so callers
        can look here on a path where nothing waits behind inference."""
        started = time.perf_counter()
        terms = q.all_terms()
        if any(t.image_url is not None for t in terms):
            return None  # keyed by content: it must be fetched first
        try:
            self._check(q, terms)
        except VisearchError:
            return None
        hit = self.cache.get_results(self._result_key(q, terms))
        return None if hit is None else self._outcome(q, hit, started, cached=True)

    def search(self, q: SearchQuery) -> SearchOutcome:
        started = time.perf_counter()
        terms = self._fetched(q.all_terms())
        self._check(q, terms)
        key = self._result_key(q, terms)
        hit = self.cache.get_results(key)
        if hit is not None:
            return self._outcome(q, hit, started, cached=True)
        resolved = self._resolve(q, terms)
        results, info, has_more = self._run(q, resolved)
        meta = ScoredPoint(_META_ID, 0.0, {"cutoff": asdict(info), "has_more": has_more})
        self.cache.set_results(key, [*results, meta])
        return self._outcome(q, [*results, meta], started, cached=False)

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

    # -- the steps of a search ---------------------------------------------------------------

    def _check(self, q: SearchQuery, terms: list[Term]) -> None:
        """Everything wrong with a query that needs no model, store or network."""
        for t in terms:
            t.check()
        if not terms and not q.positive_ids and not q.negative_ids:
            raise QueryError("give text, an image, an image_id, terms or liked images "
                             "(positive_ids) to search by", code="empty_query")
        if q.strategy not in STRATEGIES:
            raise QueryError(f"strategy must be one of {', '.join(STRATEGIES)}",
                             code="invalid_query")
        if not 0.0 <= q.diversity <= 1.0:
            raise QueryError("diversity must be within 0..1", code="invalid_query")
        if q.sort not in SORT_FIELDS or q.order not in ("desc", "asc"):
            raise QueryError(f"sort must be one of {', '.join(SORT_FIELDS)}, order desc or asc",
                             code="invalid_query")
        validate_filter(q.flt)  # before any model call (the store checks it again)

    def _fetched(self, terms: list[Term]) -> list[Term]:
        """URL terms as image bytes (fetched here, on the caller's thread)."""
        out = []
        for t in terms:
            if t.image_url is not None:
                if self.fetcher is None:
                    raise ImageError("URL fetching is not configured", code="fetch_disabled")
                t = Term(image=self.fetcher.fetch(t.image_url).data, weight=t.weight)
            out.append(t)
        return out

    def _resolve(self, q: SearchQuery, terms: list[Term]) -> _Resolved:
        """The vectors of every term and example (one model call per kind)."""
        ensemble = self.ensemble if q.ensemble is None else q.ensemble
        stored_ids = [t.image_id for t in terms if t.image_id is not None]
        stored = self._stored_vectors([*stored_ids, *q.positive_ids, *q.negative_ids])
        images = [t.image for t in terms if t.image is not None]
        embedded = iter(self.image_vectors(images) if images else [])
        weighted: list[tuple[float, np.ndarray]] = []
        for t in terms:
            if t.text is not None:
                vec = self.text_query_vector(t.text.strip(), ensemble)
            elif t.image is not None:
                vec = next(embedded)
            else:
                assert t.image_id is not None
                vec = stored[t.image_id]
            weighted.append((t.weight, np.asarray(vec, np.float32)))
        target = None
        if weighted:
            combined = np.sum([w * v for w, v in weighted], axis=0)
            target = _unit(combined, "its terms")
        kinds = {t.kind for t in terms if t.weight > 0} | ({"image"} if q.positive_ids else set())
        negative = any(t.weight < 0 for t in terms) or bool(q.negative_ids)
        kind: QueryKind = "mixed"
        if len(kinds) == 1 and not negative:
            kind = "text" if "text" in kinds else "image"
        return _Resolved(
            target=target,
            positives=[stored[i] for i in q.positive_ids],
            negatives=[stored[i] for i in q.negative_ids],
            exclude=list(dict.fromkeys([*stored_ids, *q.positive_ids, *q.negative_ids])),
            kind=kind,
        )

    def _stored_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        found = {p.id: p.vector for p in self.store.get(list(dict.fromkeys(ids)),
                                                         with_vectors=True)
                 if p.vector is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            raise QueryError(f"no indexed image with id {missing[0]!r}", code="not_found")
        return found

    def _scoring(self, q: SearchQuery, r: _Resolved) -> tuple[Scoring, np.ndarray | None]:
        """Stage 1 of the store query, and the vector MMR measures relevance against."""
        target = r.target
        if not r.positives and not r.negatives:
            assert target is not None
            return target, target
        if q.strategy == "relevance_feedback":
            if target is None:
                raise QueryError("relevance_feedback refines query terms: give text, an image "
                                 "or terms as well as the liked and disliked images",
                                 code="invalid_query")
            pairs = max(1, len(r.positives) * len(r.negatives))
            examples = tuple([(v, 1.0) for v in r.positives] + [(v, 0.0) for v in r.negatives])
            return Feedback(target, examples, a=1.0, b=1.0, c=FEEDBACK_WEIGHT / pairs), target
        positives = tuple(([target] if target is not None else []) + r.positives)
        if not positives and q.strategy == "average_vector":
            raise QueryError("average_vector needs a query term or a liked image "
                             "(positive_ids); with dislikes alone use best_score or sum_scores",
                             code="invalid_query")
        rec = Recommend(positives, tuple(r.negatives), q.strategy)
        mmr_vector = target if target is not None else (
            _unit(rec.average_vector(), "the examples") if positives else None)
        return rec, mmr_vector

    def _run(self, q: SearchQuery, r: _Resolved) -> tuple[list[ScoredPoint], CutoffInfo, bool]:
        scoring, mmr_vector = self._scoring(q, r)
        wanted = q.offset + q.top_k
        diversify = None
        if q.diversity > 0:
            if mmr_vector is None:
                raise QueryError("diversity needs query terms or liked images",
                                 code="invalid_query")
            mmr_pool = max(wanted, min(self.pool, MMR_CANDIDATES_PER_RESULT * wanted))
            diversify = Diversify(mmr_vector, q.diversity, mmr_pool)
        cosine = (not isinstance(scoring, Recommend | Feedback) or diversify is not None
                  or (isinstance(scoring, Recommend) and scoring.strategy == "average_vector"))
        pooled = q.sort != "relevance" or q.collapse_duplicates
        base = StoreQuery(scoring, limit=max(self.pool, wanted) if pooled else wanted,
                          score_threshold=q.threshold, flt=q.flt, exclude_ids=r.exclude,
                          diversify=diversify)
        first = self.store.query(base)
        top = first[0].score if first else None
        decision = (self.cutoff.decide(r.kind, cosine, top) if q.cutoff == "auto"
                    else None)
        cut_score = decision.score if decision else None
        method: CutoffMethod = decision.method if decision else "off"

        def above(points: list[ScoredPoint]) -> list[ScoredPoint]:
            return [p for p in points if cut_score is None or p.score >= cut_score]

        if not pooled:  # the page itself: the cutoff removes its weak tail
            considered = first[q.offset :]
            kept = above(considered)
            has_more = len(first) == wanted and len(kept) == len(considered)
            info = CutoffInfo(method, cut_score, len(kept), len(considered) - len(kept))
            return kept, info, has_more
        # The best ``pool`` candidates: cut, collapsed, then sorted and paged.
        candidates = above(first)
        info = CutoffInfo(method, cut_score, len(candidates), len(first) - len(candidates))
        dropped: list[str] = []
        if q.collapse_duplicates:
            candidates, dropped = collapse_duplicates(candidates)
        if q.sort == "relevance":
            page = candidates[q.offset : wanted]
        else:
            threshold = max(t for t in (q.threshold, cut_score, -np.inf) if t is not None)
            page = self.store.query(replace(
                base, limit=q.top_k, offset=q.offset, candidates=len(candidates),
                exclude_ids=[*r.exclude, *dropped],
                score_threshold=None if threshold == -np.inf else float(threshold),
                order_by=OrderBy(q.sort, descending=q.order == "desc"),
            ))
        return page, info, wanted < len(candidates)

    # -- helpers ------------------------------------------------------------------------

    def _result_key(self, q: SearchQuery, terms: list[Term]) -> str:
        def term_key(t: Term) -> list[object]:
            if t.text is not None:
                return ["t", normalise_text(t.text), t.weight]
            if t.image is not None:
                return ["i", hashlib.sha256(t.image).hexdigest(), t.weight]
            return ["id", t.image_id, t.weight]

        examples = bool(q.positive_ids or q.negative_ids)
        parts = {
            "m": self.embedder.model_id,
            "terms": [term_key(t) for t in terms],
            "pos": list(q.positive_ids),
            "neg": list(q.negative_ids),
            "s": q.strategy if examples else None,
            "d": q.diversity,
            "k": q.top_k,
            "th": q.threshold,
            "o": q.offset,
            # how the cutoff decides, too: a new calibration must not meet old pages
            "c": [q.cutoff, self.cutoff.describe()] if q.cutoff != "off" else "off",
            "sort": [q.sort, q.order] if q.sort != "relevance" else None,
            "col": q.collapse_duplicates,
            "f": q.flt,
            "e": self.ensemble if q.ensemble is None else q.ensemble,
            "v": self.cache.version(),
        }
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return "res:" + hashlib.sha256(blob).hexdigest()

    def _outcome(
        self, q: SearchQuery, page: list[ScoredPoint], started: float, cached: bool
    ) -> SearchOutcome:
        results = [p for p in page if p.id != _META_ID]
        meta = next((p.payload for p in page if p.id == _META_ID), None)
        if meta is None:  # a page cached by an older version: no cutoff, has_more guessed
            info, has_more = CutoffInfo(kept=len(results)), len(results) == q.top_k
        else:
            info, has_more = CutoffInfo(**meta["cutoff"]), bool(meta["has_more"])
        return SearchOutcome(
            query_id=uuid.uuid4().hex,
            results=results,
            search_time_ms=round((time.perf_counter() - started) * 1000, 2),
            cached=cached,
            has_more=has_more,
            model_id=self.embedder.model_id,
            cutoff=info,
        )


def collapse_duplicates(points: list[ScoredPoint]) -> tuple[list[ScoredPoint], list[str]]:
    """One point per near-duplicate group (an original and the copies linked to it with
    ``duplicate_of``), the best-ranked one; and the ids left out."""
    seen: set[str] = set()
    kept, dropped = [], []
    for p in points:
        group = p.payload.get("duplicate_of") or p.id
        if group in seen:
            dropped.append(p.id)
        else:
            seen.add(group)
            kept.append(p)
    return kept, dropped
