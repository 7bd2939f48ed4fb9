"""One suite, both backends: the embedded edge store and qdrant-client (local mode) must give
the same answers to the same calls, and those answers must equal numpy brute force."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.store.conftest import DIM, MODEL, DataSet, Opener, make_points
from visearch.store.base import (
    CollectionMismatchError,
    Filter,
    FilterError,
    Point,
    ScoredPoint,
    StoreUnavailableError,
    VectorStore,
)
from visearch.store.edge import EdgeStore
from visearch.store.qdrant import QdrantStore

FILTERS: list[Filter] = [
    {"label": "dress"},
    {"label": ["dress", "skirt"]},
    {"width": {"gte": 500, "lt": 1500}},
    {"height": {"gt": 300.5}},
    {"width": 359.0},
    {"metadata.author": "ann"},
    {"metadata.n": [1, 2]},
    {"metadata.ok": True},
    {"format": ["png", 4]},
    {"label": "skirt", "source": "upload", "bytes": {"lte": 2000}},
]


def ids(results: Sequence[Point | ScoredPoint]) -> list[str]:
    return [r.id for r in results]


def queries(n: int, seed: int = 1) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_upsert_get_delete_count(filled: VectorStore, data: DataSet) -> None:
    assert filled.count() == len(data.points)
    got = filled.get(["img-0005", "img-0002", "missing", "img-0005"])
    assert ids(got) == ["img-0005", "img-0002"]  # order asked, each once, unknown skipped
    assert got[0].payload == {**data.points[5].payload, "image_id": "img-0005"}
    assert got[0].vector is None

    with_vec = filled.get(["img-0007"], with_vectors=True)[0]
    assert with_vec.vector is not None and with_vec.vector.dtype == np.float32
    np.testing.assert_allclose(with_vec.vector, data.matrix[7], atol=1e-6)

    filled.delete(["img-0002", "never-stored"])
    assert filled.count() == len(data.points) - 1
    assert filled.get(["img-0002"]) == []
    assert ids(filled.get(["img-0001", "img-0003"])) == ["img-0001", "img-0003"]


def test_upsert_is_idempotent_and_replaces_payload(filled: VectorStore, data: DataSet) -> None:
    filled.upsert(data.points[:50])
    assert filled.count() == len(data.points)
    p = data.points[3]
    filled.upsert([Point(p.id, p.vector, {"label": "coat"})])
    assert filled.count() == len(data.points)
    assert filled.get([p.id])[0].payload == {"label": "coat", "image_id": p.id}  # stored whole


@pytest.mark.parametrize("exact", [False, True])
def test_search_order_matches_bruteforce(filled: VectorStore, data: DataSet, exact: bool) -> None:
    for q in queries(8):
        expected = data.ranking(q)[:10]
        got = filled.search(q, limit=10, exact=exact)
        assert ids(got) == [i for i, _ in expected]
        np.testing.assert_allclose([r.score for r in got], [s for _, s in expected], atol=1e-5)
        assert got[0].payload["image_id"] == got[0].id


@pytest.mark.parametrize("flt", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters(filled: VectorStore, data: DataSet, flt: Filter) -> None:
    expected_all = data.ranking(queries(1)[0], flt)
    assert expected_all, "each filter should match something in the data set"
    assert filled.count(flt) == len(expected_all)
    got = filled.search(queries(1)[0], limit=15, flt=flt)
    assert ids(got) == [i for i, _ in expected_all[:15]]


def test_score_threshold(filled: VectorStore, data: DataSet) -> None:
    q = queries(1, seed=7)[0]
    ranking = data.ranking(q)
    threshold = (ranking[5][1] + ranking[6][1]) / 2  # between the 6th and 7th score
    got = filled.search(q, limit=50, score_threshold=threshold)
    assert ids(got) == [i for i, _ in ranking[:6]]
    assert filled.search(q, limit=5, score_threshold=1.01) == []


def test_offset_pages_continue(filled: VectorStore, data: DataSet) -> None:
    q = queries(1, seed=3)[0]
    page1 = filled.search(q, limit=10)
    page2 = filled.search(q, limit=10, offset=10)
    assert ids(page1) + ids(page2) == ids(filled.search(q, limit=20))
    assert ids(page1 + page2) == [i for i, _ in data.ranking(q)[:20]]
    flt: Filter = {"label": "shirt"}
    fpage2 = filled.search(q, limit=5, offset=5, flt=flt)
    assert ids(fpage2) == [i for i, _ in data.ranking(q, flt)[5:10]]


def test_exclude_ids(filled: VectorStore, data: DataSet) -> None:
    q = queries(1, seed=4)[0]
    top = [i for i, _ in data.ranking(q)[:3]]
    got = filled.search(q, limit=5, exclude_ids=top)
    assert ids(got) == [i for i, _ in data.ranking(q, exclude=set(top))[:5]]
    assert not set(top) & set(ids(got))


def test_search_by_ids(filled: VectorStore, data: DataSet) -> None:
    examples = ["img-0010", "img-0020", "img-0030"]
    mean = data.matrix[[10, 20, 30]].mean(axis=0)
    got = filled.search_by_ids([*examples, "unknown"], limit=8, flt={"label": ["dress", "shirt"]})
    expected = data.ranking(mean, {"label": ["dress", "shirt"]}, exclude=set(examples))[:8]
    assert ids(got) == [i for i, _ in expected]
    with pytest.raises(KeyError):
        filled.search_by_ids(["unknown"], limit=3)


def test_restart_keeps_everything(open_store: Opener, data: DataSet) -> None:
    store = open_store()
    store.upsert(data.points[:100])
    store.delete(["img-0001"])
    q = queries(1, seed=5)[0]
    before = store.search(q, limit=10, flt={"label": "dress"})
    store.close()

    again = open_store()
    assert again.count() == 99
    assert again.get(["img-0001"]) == []
    assert again.get(["img-0004"])[0].payload["metadata"] == data.points[4].payload["metadata"]
    after = again.search(q, limit=10, flt={"label": "dress"})
    assert ids(after) == ids(before)
    np.testing.assert_allclose([r.score for r in after], [r.score for r in before], atol=1e-6)


def test_other_model_is_refused(open_store: Opener, data: DataSet) -> None:
    store = open_store("org/model-a")
    store.upsert(data.points[:5])
    name = store.name
    store.close()
    # A different model id whose collection name is the same slug.
    with pytest.raises(CollectionMismatchError, match="org/model-a"):
        open_store("org/model_a")
    with pytest.raises(CollectionMismatchError):
        open_store("org/model-a", DIM * 2, name=name)
    assert open_store("org/model-a").count() == 5  # still intact


@pytest.mark.parametrize("flt", [
    {"colour": "red"}, {"width": {"between": 1}}, {"width": {}}, {"label": []},
    {"width": {"gte": "10"}}, {"label": {"gte": True}}, {"label": [True]}, {"label": None},
    {"metadata.": "x"}, {"width": float("nan")}, ["label"],
])
def test_filter_validation_errors(filled: VectorStore, flt: object) -> None:
    with pytest.raises(FilterError):
        filled.search(queries(1)[0], limit=3, flt=flt)  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        filled.count(flt)  # type: ignore[arg-type]
    assert filled.count() > 0


def test_bad_input_writes_nothing(filled: VectorStore, data: DataSet) -> None:
    n = filled.count()
    good = Point("new-1", data.matrix[0], {})
    bad_batches = [
        [good, Point("new-2", np.ones(DIM + 1, np.float32), {})],
        [good, Point("new-2", np.full(DIM, np.nan, np.float32), {})],
        [good, Point("new-2", np.zeros(DIM, np.float32), {})],
        [good, Point("new-2", None, {})],
        [good, Point("", data.matrix[1], {})],
        [good, Point("new-2", data.matrix[1], {"x": float("inf")})],
        [good, Point("new-2", data.matrix[1], {"x": np.int64(3)})],
    ]
    for batch in bad_batches:
        with pytest.raises(ValueError):
            filled.upsert(batch)
    assert filled.count() == n and filled.get(["new-1"]) == []
    with pytest.raises(ValueError, match="shape"):
        filled.search(np.ones(DIM - 1, np.float32), limit=3)
    with pytest.raises(ValueError, match="limit"):
        filled.search(data.matrix[0], limit=0)
    with pytest.raises(ValueError, match="offset"):
        filled.search(data.matrix[0], limit=3, offset=-1)
    filled.upsert([])
    filled.delete([])
    assert filled.get([]) == []


def test_closed_store(open_store: Opener) -> None:
    store = open_store()
    assert store.ping()
    store.close()
    store.close()
    assert not store.ping()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.count()


def test_backends_answer_alike(store_dir: Path) -> None:
    """The same calls on both backends, side by side: same ids, same scores."""
    data = make_points(n=150, seed=11)
    with EdgeStore(store_dir / "e", MODEL, DIM) as edge, \
            QdrantStore(MODEL, DIM, path=store_dir / "q") as qdrant:
        assert edge.name == qdrant.name
        for store in (edge, qdrant):
            store.upsert(data.points)
            store.delete(["img-0003"])
        calls = [
            {"limit": 7},
            {"limit": 5, "offset": 4, "flt": {"label": "dress"}},
            {"limit": 9, "score_threshold": 0.1, "flt": {"width": {"lt": 900}}},
            {"limit": 6, "exclude_ids": ["img-0010", "img-0011"], "exact": True},
        ]
        for q in queries(4, seed=9):
            for kw in calls:
                a, b = edge.search(q, **kw), qdrant.search(q, **kw)  # type: ignore[arg-type]
                assert ids(a) == ids(b)
                np.testing.assert_allclose([r.score for r in a], [r.score for r in b], atol=1e-5)
                assert [r.payload for r in a] == [r.payload for r in b]
        for flt in FILTERS:
            assert edge.count(flt) == qdrant.count(flt)
        wanted = ["img-0009", "img-0003", "img-0001"]
        assert edge.get(wanted) == qdrant.get(wanted)
