"""Filters and queries of ``store/filters.py`` and ``store/query.py`` as qdrant-client models.

Every stage is native in ``query_points`` (server and local mode alike): ``RecommendQuery``
with its three strategies, ``RelevanceFeedbackQuery`` (naive), ``NearestQuery`` with ``Mmr``,
``Prefetch`` with ``score_threshold``, ``OrderByQuery``; ``facet`` and ordered ``scroll``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from qdrant_client import models

from visearch.store.filters import Clause, Filter, Match, MatchAny, Not, Range, parse_filter
from visearch.store.query import Feedback, Recommend, StoreQuery


def schema_type(kind: str) -> models.PayloadSchemaType:
    """An index type of ``store/query.py`` ("keyword", "datetime", ...) as qdrant-client's."""
    return models.PayloadSchemaType(kind)


def _vec(v: np.ndarray) -> list[float]:
    return cast(list[float], np.asarray(v, np.float32).tolist())


def condition(clause: Clause) -> models.Condition:
    """One parsed filter clause as a qdrant-client condition."""
    if isinstance(clause, Not):
        return models.Filter(must_not=[models.Filter(must=[condition(c) for c in g])
                                       for g in clause.groups])
    if isinstance(clause, Range):
        bounds = dict(clause.bounds)
        if clause.datetime:
            return models.FieldCondition(key=clause.key,
                                         range=models.DatetimeRange(**cast(Any, bounds)))
        return models.FieldCondition(key=clause.key, range=models.Range(**cast(Any, bounds)))
    if isinstance(clause, MatchAny):
        strs, ints = clause.strings, clause.integers
        if strs and ints:  # MatchAny takes one type: either list may match
            return models.Filter(should=[
                models.FieldCondition(key=clause.key, match=models.MatchAny(any=strs)),
                models.FieldCondition(key=clause.key, match=models.MatchAny(any=ints)),
            ])
        return models.FieldCondition(key=clause.key, match=models.MatchAny(any=strs or ints))
    assert isinstance(clause, Match)
    value = clause.value
    if isinstance(value, float):  # MatchValue has no floats: an exact match is a closed range
        return models.FieldCondition(key=clause.key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=clause.key, match=models.MatchValue(value=value))


def qdrant_filter(flt: Filter | None, exclude: Sequence[str] = (), only: Sequence[str] = (),
                  lacking: str | None = None) -> models.Filter | None:
    """The filter (validated here) with point ids to leave out, point ids to keep only
    (``only``, when given) and a field the points must not have (``lacking``)."""
    must: list[models.Condition] = [condition(c) for c in parse_filter(flt)]
    if only:
        must.append(models.HasIdCondition(has_id=list[Any](only)))
    if lacking is not None:
        must.append(models.IsEmptyCondition(is_empty=models.PayloadField(key=lacking)))
    must_not: list[models.Condition] = (
        [models.HasIdCondition(has_id=list[Any](exclude))] if exclude else []
    )
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def scoring_query(scoring: np.ndarray | Recommend | Feedback) -> models.Query:
    if isinstance(scoring, Recommend):
        return models.RecommendQuery(recommend=models.RecommendInput(
            positive=[_vec(v) for v in scoring.positives] or None,
            negative=[_vec(v) for v in scoring.negatives] or None,
            strategy=models.RecommendStrategy(scoring.strategy),
        ))
    if isinstance(scoring, Feedback):
        return models.RelevanceFeedbackQuery(relevance_feedback=models.RelevanceFeedbackInput(
            target=_vec(scoring.target),
            feedback=[models.FeedbackItem(example=_vec(v), score=float(s))
                      for v, s in scoring.examples],
            strategy=models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(
                a=scoring.a, b=scoring.b, c=scoring.c)),
        ))
    return models.NearestQuery(nearest=_vec(scoring))


def stages(q: StoreQuery, flt: models.Filter | None, params: models.SearchParams | None
           ) -> tuple[models.Query, list[models.Prefetch], float | None]:
    """(query, prefetches, top-level score threshold) of the scoring + MMR stages."""
    first = scoring_query(q.scoring)
    d = q.diversify
    if d is None:
        return first, [], q.score_threshold
    mmr = models.NearestQuery(nearest=_vec(d.vector),
                              mmr=models.Mmr(diversity=d.diversity, candidates_limit=d.candidates))
    if q.mmr_only:
        return mmr, [], q.score_threshold
    prefetch = models.Prefetch(query=first, limit=max(d.candidates, q.limit + q.offset),
                               filter=flt, score_threshold=q.score_threshold, params=params)
    return mmr, [prefetch], None


def order_query(pool: StoreQuery, key: str, descending: bool, flt: models.Filter | None,
                params: models.SearchParams | None) -> tuple[models.Query, models.Prefetch]:
    """``OrderBy`` over a ``Prefetch`` of the scoring (+ MMR) stages of ``pool``."""
    query, prefetches, threshold = stages(pool, flt, params)
    inner = models.Prefetch(query=query, prefetch=prefetches or None, limit=pool.limit,
                            filter=flt, score_threshold=threshold, params=params)
    direction = models.Direction.DESC if descending else models.Direction.ASC
    return models.OrderByQuery(order_by=models.OrderBy(key=key, direction=direction)), inner


def order_by(key: str, descending: bool, start: Any) -> models.OrderBy:
    direction = models.Direction.DESC if descending else models.Direction.ASC
    return models.OrderBy(key=key, direction=direction, start_from=start)
