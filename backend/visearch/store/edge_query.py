"""Filters and queries of ``store/filters.py`` and ``store/query.py`` as qdrant-edge-py objects.

qdrant-edge-py 0.9 has every stage natively (``Query.Nearest``, ``RecommendBestScore``,
``RecommendSumScores``, ``FeedbackNaive``, ``Mmr``, ``Prefetch`` with ``score_threshold``,
``OrderBy``, ``facet``) except the ``average_vector`` recommend strategy, which is emulated:
Qdrant's own average is computed here and searched with ``Nearest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import qdrant_edge as qe

from visearch.store.filters import Clause, Filter, Match, MatchAny, Not, Range, parse_filter
from visearch.store.query import Diversify, Feedback, Recommend, StoreQuery


def schema_type(kind: str) -> qe.PayloadSchemaType:
    """An index type of ``store/query.py`` ("keyword", "datetime", ...) as qdrant-edge's."""
    return cast(qe.PayloadSchemaType, getattr(qe.PayloadSchemaType, kind.capitalize()))


def _vec(v: np.ndarray) -> list[float]:
    return cast(list[float], np.asarray(v, np.float32).tolist())


def condition(clause: Clause) -> Any:
    """One parsed filter clause as a qdrant-edge condition."""
    if isinstance(clause, Not):
        return qe.Filter(must_not=[qe.Filter(must=[condition(c) for c in g])
                                   for g in clause.groups])
    if isinstance(clause, Range):
        bounds = dict(clause.bounds)
        if clause.datetime:
            return qe.FieldCondition(clause.key, range=qe.RangeDateTime(**cast(Any, bounds)))
        return qe.FieldCondition(clause.key, range=qe.RangeFloat(**cast(Any, bounds)))
    if isinstance(clause, MatchAny):
        strs, ints = clause.strings, clause.integers
        if strs and ints:  # MatchAny takes one type: either list may match
            return qe.Filter(should=[qe.FieldCondition(clause.key, match=qe.MatchAny(strs)),
                                     qe.FieldCondition(clause.key, match=qe.MatchAny(ints))])
        return qe.FieldCondition(clause.key, match=qe.MatchAny(strs or ints))
    assert isinstance(clause, Match)
    value = clause.value
    if isinstance(value, float):  # MatchValue has no floats: an exact match is a closed range
        return qe.FieldCondition(clause.key, range=qe.RangeFloat(gte=value, lte=value))
    if isinstance(value, bool):
        # qdrant-edge-py 0.9 reads a Python bool as the integer 1/0, which never matches a
        # stored boolean; numpy's bool is read as a real boolean.
        return qe.FieldCondition(clause.key, match=qe.MatchValue(cast(Any, np.bool_(value))))
    return qe.FieldCondition(clause.key, match=qe.MatchValue(value))


def edge_filter(flt: Filter | None, exclude: Sequence[str] = (), only: Sequence[str] = (),
                lacking: str | None = None) -> qe.Filter | None:
    """The filter (validated here) with point ids to leave out, point ids to keep only
    (``only``, when given) and a field the points must not have (``lacking``)."""
    must: list[Any] = [condition(c) for c in parse_filter(flt)]
    if only:
        must.append(qe.HasIdCondition(set[Any](only)))
    if lacking is not None:
        must.append(qe.IsEmptyCondition(lacking))
    must_not: list[Any] = [qe.HasIdCondition(set[Any](exclude))] if exclude else []
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def scoring_query(scoring: np.ndarray | Recommend | Feedback) -> Any:
    """Stage 1 as a qdrant-edge query (average_vector emulated by its average)."""
    if isinstance(scoring, Recommend):
        if scoring.strategy == "average_vector":
            return qe.Query.Nearest(_vec(scoring.average_vector()))
        rq = qe.RecommendQuery([_vec(v) for v in scoring.positives],
                               [_vec(v) for v in scoring.negatives])
        if scoring.strategy == "best_score":
            return qe.Query.RecommendBestScore(rq)
        return qe.Query.RecommendSumScores(rq)
    if isinstance(scoring, Feedback):
        items = [qe.FeedbackItem(_vec(v), float(s)) for v, s in scoring.examples]
        return qe.Query.FeedbackNaive(qe.FeedbackNaiveQuery(
            _vec(scoring.target), items, qe.NaiveFeedbackStrategy(scoring.a, scoring.b, scoring.c)
        ))
    return qe.Query.Nearest(_vec(scoring))


def _mmr(d: Diversify) -> qe.Mmr:
    # qdrant-edge's lambda_ weighs relevance: 1 - diversity (qdrant-client's ``diversity``).
    return qe.Mmr(_vec(d.vector), 1.0 - d.diversity, d.candidates)


def stages(q: StoreQuery, flt: qe.Filter | None, params: qe.SearchParams | None
           ) -> tuple[Any, list[qe.Prefetch], float | None]:
    """(query, prefetches, top-level score threshold) of the scoring + MMR stages."""
    first = scoring_query(q.scoring)
    if q.diversify is None:
        return first, [], q.score_threshold
    if q.mmr_only:
        return _mmr(q.diversify), [], q.score_threshold
    prefetch = qe.Prefetch(limit=max(q.diversify.candidates, q.limit + q.offset), query=first,
                           filter=flt, score_threshold=q.score_threshold, params=params)
    return _mmr(q.diversify), [prefetch], None


def query_request(q: StoreQuery, flt: qe.Filter | None, params: qe.SearchParams | None
                  ) -> qe.QueryRequest:
    query, prefetches, threshold = stages(q, flt, params)
    return qe.QueryRequest(
        limit=q.limit, offset=q.offset or None, query=query, prefetches=prefetches or None,
        filter=flt, score_threshold=threshold, params=params, with_payload=True,
        with_vector=False,
    )


def order_request(pool: StoreQuery, key: str, descending: bool, flt: qe.Filter | None,
                  only: qe.Filter | None, params: qe.SearchParams | None) -> qe.QueryRequest:
    """``OrderBy`` over a ``Prefetch`` of the scoring (+ MMR) stages of ``pool``."""
    query, prefetches, threshold = stages(pool, flt, params)
    inner = qe.Prefetch(limit=pool.limit, query=query, prefetches=prefetches or None,
                        filter=flt, score_threshold=threshold, params=params)
    direction = qe.Direction.Desc if descending else qe.Direction.Asc
    return qe.QueryRequest(limit=pool.limit, query=qe.OrderBy(key, direction), prefetches=[inner],
                           filter=only, with_payload=["image_id"], with_vector=False)


def scroll_request(key: str, descending: bool, start: Any, limit: int, flt: qe.Filter | None,
                   with_vectors: bool) -> qe.ScrollRequest:
    direction = qe.Direction.Desc if descending else qe.Direction.Asc
    return qe.ScrollRequest(limit=limit, filter=flt, with_payload=True, with_vector=with_vectors,
                            order_by=qe.OrderBy(key, direction, start))


def facet_request(key: str, flt: qe.Filter | None, limit: int) -> qe.FacetRequest:
    return qe.FacetRequest(key, limit=limit, exact=True, filter=flt)
