"""The query API on both backends against a numpy oracle: recommend (three strategies),
naive relevance feedback, MMR, score thresholds, ordering by a payload field over the scored
candidates, the filter grammar (in, ranges, datetime ranges, not), facets and browsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from tests.store.conftest import DataSet, Opener, matches
from tests.store.test_congruence import ids, queries
from visearch.store.base import FilterError, ScoredPoint, VectorStore
from visearch.store.query import (
    Diversify,
    Feedback,
    OrderBy,
    Recommend,
    RecommendStrategy,
    StoreQuery,
)

DECLARED = {"metadata.author": "keyword", "metadata.n": "integer"}


@pytest.fixture
def store(open_store: Opener, data: DataSet) -> VectorStore:
    s = open_store(payload_indexes=DECLARED)
    s.upsert(data.points)
    return s


# -- the oracle -------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(x), (np.sign(x) + 1) / 2, 0.5 * (x / (1.0 + np.abs(x)) + 1.0))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def oracle_scores(data: DataSet, scoring: Any) -> np.ndarray:
    """Qdrant's scoring formulas (cosine: examples and targets are normalised first)."""
    m = data.matrix.astype(np.float64)
    sims = lambda vs: np.array([m @ _unit(v) for v in vs])  # noqa: E731
    if isinstance(scoring, Recommend):
        if scoring.strategy == "average_vector":
            return m @ _unit(scoring.average_vector())
        pos = sims(scoring.positives) if scoring.positives else None
        neg = sims(scoring.negatives) if scoring.negatives else None
        if scoring.strategy == "sum_scores":
            return ((pos.sum(0) if pos is not None else 0.0)
                    - (neg.sum(0) if neg is not None else 0.0))
        best_pos = pos.max(0) if pos is not None else np.full(len(m), -np.inf)
        best_neg = neg.max(0) if neg is not None else np.full(len(m), -np.inf)
        return np.where(best_pos > best_neg, _sigmoid(best_pos), -_sigmoid(best_neg))
    if isinstance(scoring, Feedback):
        score = scoring.a * (m @ _unit(scoring.target))
        for vp, sp in scoring.examples:
            for vn, sn in scoring.examples:
                if sp - sn > 0:
                    score += (sp - sn) ** scoring.b * scoring.c * (m @ _unit(vp) - m @ _unit(vn))
        return score
    return m @ _unit(scoring)


def oracle_candidates(data: DataSet, scoring: Any, flt: Any = None, exclude: Any = (),
                      threshold: float | None = None) -> list[tuple[int, float]]:
    scores = oracle_scores(data, scoring)
    order = np.argsort(-scores, kind="stable")
    return [(int(i), float(scores[i])) for i in order
            if matches(data.points[i].payload, flt) and data.points[i].id not in exclude
            and (threshold is None or scores[i] >= threshold)]


def oracle_mmr(data: DataSet, cands: list[tuple[int, float]], d: Diversify,
               limit: int) -> list[int]:
    """Greedy maximal marginal relevance: relevance to ``d.vector``, penalty the highest
    similarity to what was already picked."""
    pool = [i for i, _ in cands[: d.candidates]]
    m = data.matrix.astype(np.float64)
    rel = {i: float(m[i] @ _unit(d.vector)) for i in pool}
    lam = 1.0 - d.diversity
    picked = [max(pool, key=lambda i: rel[i])]
    rest = [i for i in pool if i != picked[0]]
    while rest and len(picked) < limit:
        best = max(rest, key=lambda i: lam * rel[i] - (1 - lam) * max(m[i] @ m[j] for j in picked))
        picked.append(best)
        rest.remove(best)
    return picked


def check(got: list[ScoredPoint], data: DataSet, expected: list[tuple[int, float]]) -> None:
    assert ids(got) == [data.points[i].id for i, _ in expected]
    np.testing.assert_allclose([p.score for p in got], [s for _, s in expected], atol=1e-4)


def examples(data: DataSet, *rows: int) -> tuple[np.ndarray, ...]:
    return tuple(data.matrix[r] for r in rows)


# -- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
@pytest.mark.parametrize("negatives", [(), (7, 8)], ids=["likes", "likes+dislikes"])
def test_recommend(store: VectorStore, data: DataSet, strategy: RecommendStrategy,
                   negatives: tuple[int, ...]) -> None:
    target = queries(1, seed=21)[0]
    rec = Recommend((target, *examples(data, 3, 4, 5)), examples(data, *negatives), strategy)
    flt = {"label": ["dress", "skirt", "shirt"]}
    exclude = ["img-0003", "img-0004", "img-0005", "img-0007", "img-0008"]
    got = store.query(StoreQuery(rec, limit=12, offset=2, flt=flt, exclude_ids=exclude))
    check(got, data, oracle_candidates(data, rec, flt, exclude)[2:14])


def test_recommend_from_dislikes_alone(store: VectorStore, data: DataSet) -> None:
    for strategy in ("best_score", "sum_scores"):
        rec = Recommend((), examples(data, 1, 2), strategy)  # type: ignore[arg-type]
        check(store.query(StoreQuery(rec, limit=8)), data, oracle_candidates(data, rec)[:8])
    with pytest.raises(ValueError, match="positive"):
        store.query(StoreQuery(Recommend((), examples(data, 1)), limit=3))


def test_naive_feedback(store: VectorStore, data: DataSet) -> None:
    target = queries(1, seed=22)[0]
    fb = Feedback(target, ((data.matrix[10], 1.0), (data.matrix[11], 1.0),
                           (data.matrix[12], 0.0)), a=1.0, b=1.0, c=0.25)
    got = store.query(StoreQuery(fb, limit=10, flt={"not": {"label": "dress"}}))
    check(got, data, oracle_candidates(data, fb, {"not": {"label": "dress"}})[:10])


def test_score_threshold_on_every_scoring(store: VectorStore, data: DataSet) -> None:
    target = queries(1, seed=23)[0]
    for scoring in (target, Recommend((target, data.matrix[0]), (), "sum_scores")):
        cands = oracle_candidates(data, scoring)
        cut = (cands[8][1] + cands[9][1]) / 2
        got = store.query(StoreQuery(scoring, limit=30, score_threshold=cut))
        check(got, data, cands[:9])


# -- diversity (MMR) ------------------------------------------------------------------------


@pytest.mark.parametrize("diversity", [0.0, 0.5, 0.9])
def test_mmr(store: VectorStore, data: DataSet, diversity: float) -> None:
    q = queries(1, seed=24)[0]
    d = Diversify(q, diversity, candidates=40)
    got = store.query(StoreQuery(q, limit=10, diversify=d, flt={"width": {"gte": 300}}))
    cands = oracle_candidates(data, q, {"width": {"gte": 300}})
    picked = oracle_mmr(data, cands, d, 10)
    score = dict(cands)
    check(got, data, [(i, score[i]) for i in picked])
    if diversity == 0.0:
        check(got, data, cands[:10])


def test_mmr_pages_and_thresholds(store: VectorStore, data: DataSet) -> None:
    q = queries(1, seed=25)[0]
    d = Diversify(q, 0.6, candidates=30)
    cands = oracle_candidates(data, q)
    picked = oracle_mmr(data, cands, d, 12)
    page2 = store.query(StoreQuery(q, limit=6, offset=6, diversify=d))
    assert ids(page2) == [data.points[i].id for i in picked[6:12]]
    cut = (cands[14][1] + cands[15][1]) / 2
    kept = store.query(StoreQuery(q, limit=20, diversify=d, score_threshold=cut))
    assert {p.id for p in kept} == {data.points[i].id for i in
                                   oracle_mmr(data, cands[:15], d, 20)}


def test_mmr_over_recommend(store: VectorStore, data: DataSet) -> None:
    """Diversity after a recommendation: MMR re-ranks the recommended candidates."""
    target = queries(1, seed=26)[0]
    rec = Recommend((target, data.matrix[30]), (data.matrix[31],), "best_score")
    d = Diversify(target, 0.5, candidates=25)
    got = store.query(StoreQuery(rec, limit=8, diversify=d, exclude_ids=["img-0030", "img-0031"]))
    cands = oracle_candidates(data, rec, exclude={"img-0030", "img-0031"})[:25]
    picked = oracle_mmr(data, cands, d, 8)
    # MMR answers with its own relevance: the cosine similarity to its vector.
    check(got, data, [(i, float(data.matrix[i] @ _unit(target))) for i in picked])


# -- ordering -------------------------------------------------------------------------------


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("descending", [True, False])
def test_order_by_over_scored_candidates(store: VectorStore, data: DataSet,
                                         descending: bool) -> None:
    q = queries(1, seed=27)[0]
    cands = oracle_candidates(data, q, {"source": "upload"})[:40]
    cut = (cands[29][1] + cands[30][1]) / 2
    kept = cands[:30]
    dated = [c for c in kept if "taken_at" in data.points[c[0]].payload]
    dated.sort(key=lambda c: _instant(data.points[c[0]].payload["taken_at"]), reverse=descending)
    undated = [c for c in kept if "taken_at" not in data.points[c[0]].payload]
    expected = dated + undated
    assert undated, "some candidates should lack the field"
    got = store.query(StoreQuery(q, limit=12, offset=5, flt={"source": "upload"},
                                 score_threshold=cut, candidates=100,
                                 order_by=OrderBy("taken_at", descending)))
    check(got, data, expected[5:17])
    # The whole ordered pool, and ordering by an integer field.
    whole = store.query(StoreQuery(q, limit=30, candidates=30, flt={"source": "upload"},
                                   order_by=OrderBy("taken_at", descending)))
    check(whole, data, expected)
    by_width = store.query(StoreQuery(q, limit=10, candidates=10, order_by=OrderBy("width")))
    top = oracle_candidates(data, q)[:10]
    check(by_width, data, sorted(top, key=lambda c: -data.points[c[0]].payload["width"]))


def test_order_by_after_mmr(store: VectorStore, data: DataSet) -> None:
    q = queries(1, seed=28)[0]
    d = Diversify(q, 0.5, candidates=30)
    cands = oracle_candidates(data, q)
    picked = oracle_mmr(data, cands, d, 10)
    score = dict(cands)
    got = store.query(StoreQuery(q, limit=10, candidates=10, diversify=d,
                                 order_by=OrderBy("indexed_at", descending=False)))
    assert {p.id for p in got} == {data.points[i].id for i in picked}
    dates = [p.payload["indexed_at"] for p in got]
    assert dates == sorted(dates)
    np.testing.assert_allclose([p.score for p in got],
                               [score[data.ids.index(p.id)] for p in got], atol=1e-4)


def test_unorderable_field_is_refused(store: VectorStore) -> None:
    with pytest.raises(FilterError, match="order by"):
        store.query(StoreQuery(queries(1)[0], limit=3, order_by=OrderBy("label")))


# -- the filter grammar ----------------------------------------------------------------------

GRAMMAR = [
    {"label": {"in": ["dress", "shirt"]}},
    {"taken_at": {"gte": "2023-03-01", "lt": "2023-09-15T12:00:00+02:00"}},
    {"taken_at": {"gt": "2023-06-01T00:00:00Z"}, "camera": "NIKON D750"},
    {"indexed_at": {"lte": "2024-01-10T00:00:00+00:00"}},
    {"not": {"label": "dress"}},
    {"not": [{"label": "dress"}, {"format": "png"}]},
    {"not": {"label": "skirt", "source": "upload"}, "width": {"lt": 1500}},
    {"not": {"not": {"metadata.author": "ann"}}},
    {"metadata.n": {"in": [1, 2]}, "not": {"metadata.ok": True}},
]


@pytest.mark.parametrize("flt", GRAMMAR, ids=[str(f) for f in GRAMMAR])
def test_filter_grammar(store: VectorStore, data: DataSet, flt: dict[str, Any]) -> None:
    q = queries(1, seed=29)[0]
    expected = oracle_candidates(data, q, flt)
    assert 0 < len(expected) < len(data.points), "each filter should select a part"
    assert store.count(flt) == len(expected)
    check(store.query(StoreQuery(q, limit=15, flt=flt)), data, expected[:15])


@pytest.mark.parametrize("flt", [
    {"taken_at": {"gte": "yesterday"}}, {"taken_at": {"gte": "2024-01-01", "lt": 5}},
    {"label": {"in": []}}, {"label": {"in": "dress"}}, {"not": []}, {"not": {}},
    {"not": "dress"}, {"not": {"not": {"not": {"not": {"not": {"label": "x"}}}}}},
    {"label": {"in": ["a"], "gte": 1}},
])
def test_grammar_errors(store: VectorStore, flt: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        store.count(flt)


# -- facets and browsing ---------------------------------------------------------------------


@pytest.mark.parametrize(("key", "flt"), [
    ("label", None), ("camera", {"width": {"gte": 500}}), ("metadata.author", {"not": {
        "label": "dress"}}), ("metadata.n", {"format": "png"}), ("format", {"label": "none"}),
])
def test_facets(store: VectorStore, data: DataSet, key: str, flt: dict[str, Any] | None) -> None:
    counts: dict[Any, int] = {}
    for p in data.points:
        value = p.payload.get(key) if "." not in key else p.payload["metadata"].get(
            key.split(".", 1)[1])
        if value is not None and matches(p.payload, flt):
            counts[value] = counts.get(value, 0) + 1
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], type(kv[0]).__name__, kv[0]))
    assert store.facet(key, flt) == expected
    assert store.facet(key, flt, limit=1) == expected[:1]


def test_facet_needs_an_index(store: VectorStore) -> None:
    with pytest.raises(FilterError, match="PAYLOAD_INDEXES"):
        store.facet("metadata.ok")
    with pytest.raises(FilterError):
        store.facet("filename")


@pytest.mark.parametrize(("order_by", "descending"), [("taken_at", True), ("indexed_at", True),
                                                      ("taken_at", False)])
def test_browse_pages_through_everything(store: VectorStore, data: DataSet, order_by: str,
                                         descending: bool) -> None:
    flt = {"not": {"label": "shirt"}}
    wanted = [p for p in data.points if matches(p.payload, flt)]
    pages, cursor = [], None
    while True:
        page, cursor = store.browse(7, cursor=cursor, order_by=order_by, descending=descending,
                                    flt=flt)
        pages.append(page)
        if cursor is None:
            break
        assert len(page) == 7
        assert len(pages) < 100
    got = [p for page in pages for p in page]
    assert sorted(p.id for p in got) == sorted(p.id for p in wanted)  # each once
    assert len(got) == len(wanted)
    dated = [p for p in got if order_by in p.payload]
    keys = [_instant(p.payload[order_by]) for p in dated]
    assert keys == sorted(keys, reverse=descending)
    assert got[: len(dated)] == dated  # points without the field come last ...
    rest = [_instant(p.payload["indexed_at"]) for p in got[len(dated):]]
    assert rest == sorted(rest, reverse=descending)  # ... by indexed_at
    assert got[0].vector is None and got[0].payload["image_id"] == got[0].id


def test_browse_errors(store: VectorStore) -> None:
    with pytest.raises(FilterError, match="cursor"):
        store.browse(5, cursor="not-a-cursor")
    with pytest.raises(FilterError, match="order by"):
        store.browse(5, order_by="label")
    page, cursor = store.browse(5, flt={"label": "nothing"})
    assert page == [] and cursor is None
