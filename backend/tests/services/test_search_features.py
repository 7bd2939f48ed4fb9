"""The query model of the searcher on real parts (tiny CLIP, edge store): weighted and negative
terms, likes and dislikes with every strategy, the relevance cutoff, sorting by the EXIF date,
near-duplicate collapsing, prompt ensembling, and the errors of each.

The tiny model's weights are random, so these tests check the arithmetic (the vector the
service searches with, what it leaves out, what it cuts and how it orders) against numpy on
the stored vectors, not whether results look right.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.services.conftest import items
from tests.support.photos import exif_jpeg
from visearch.ingest.ids import content_id
from visearch.runtime import Runtime
from visearch.services.cutoff import Calibration, Cutoff
from visearch.services.search import QueryError, SearchQuery, Term
from visearch.store.base import FilterError


@pytest.fixture
def indexed(runtime: Runtime, photos: list[Path]) -> list[str]:
    """The 24 photos indexed (labelled by class); their ids in photo order."""
    for cls in ("dress", "hat", "shoes"):
        runtime.indexer.index_items(items([p for p in photos if p.parent.name == cls], label=cls))
    return [content_id(p.read_bytes()) for p in photos]


def stored(runtime: Runtime) -> dict[str, np.ndarray]:
    points, _ = runtime.store.browse(1000, with_vectors=True)
    return {p.id: np.asarray(p.vector, np.float64) for p in points}


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def text_vec(runtime: Runtime, text: str) -> np.ndarray:
    return np.asarray(runtime.embedder.embed_texts([text])[0], np.float64)


def expect_nearest(runtime: Runtime, query: np.ndarray, exclude: set[str] = frozenset(),
                   k: int = 8) -> list[tuple[str, float]]:
    vectors = stored(runtime)
    scores = {i: float(v @ unit(query)) for i, v in vectors.items() if i not in exclude}
    return sorted(scores.items(), key=lambda kv: -kv[1])[:k]


def check(got: list, expected: list[tuple[str, float]]) -> None:  # type: ignore[type-arg]
    assert [p.id for p in got] == [i for i, _ in expected]
    np.testing.assert_allclose([p.score for p in got], [s for _, s in expected], atol=2e-4)


def test_weighted_and_negative_terms(runtime: Runtime, indexed: list[str]) -> None:
    """"a dress" + -1 x "a hat": the normalised weighted sum of the unit vectors."""
    q = SearchQuery(text="a dress", terms=(Term(text="a hat", weight=-1.0),), top_k=8)
    expected = unit(unit(text_vec(runtime, "a dress")) - unit(text_vec(runtime, "a hat")))
    check(runtime.searcher.search(q).results, expect_nearest(runtime, expected))
    # Terms alone, with an indexed image (left out of its own results) at weight 2.
    q = SearchQuery(terms=(Term(text="shoes", weight=0.5), Term(image_id=indexed[3], weight=2)))
    vec = stored(runtime)[indexed[3]]
    mixed = 0.5 * unit(text_vec(runtime, "shoes")) + 2 * vec
    check(runtime.searcher.search(replace(q, top_k=8)).results,
          expect_nearest(runtime, mixed, {indexed[3]}))
    with pytest.raises(QueryError) as err:  # the same text at +1 and -1 cancels out
        runtime.searcher.search(SearchQuery(text="a hat", terms=(Term(text="a hat", weight=-1),)))
    assert err.value.code == "invalid_query"


def test_likes_and_dislikes(runtime: Runtime, indexed: list[str]) -> None:
    vectors = stored(runtime)
    likes, dislikes = (indexed[0], indexed[1]), (indexed[9],)
    judged = set(likes) | set(dislikes)
    base = SearchQuery(text="a red dress", positive_ids=likes, negative_ids=dislikes, top_k=6)
    target = unit(text_vec(runtime, "a red dress"))
    # average_vector: 2 * mean(target, likes) - mean(dislikes) (Qdrant's formula)
    mean_pos = np.mean([target, *(vectors[i] for i in likes)], axis=0)
    avg = 2 * mean_pos - np.mean([vectors[i] for i in dislikes], axis=0)
    out = runtime.searcher.search(base)
    check(out.results, expect_nearest(runtime, avg, judged, 6))
    # sum_scores: sum of similarities to the positives minus those to the negatives
    got = runtime.searcher.search(replace(base, strategy="sum_scores")).results
    scores = {i: sum(float(v @ unit(p)) for p in [target, *(vectors[j] for j in likes)])
              - float(v @ vectors[dislikes[0]]) for i, v in vectors.items() if i not in judged}
    check(got, sorted(scores.items(), key=lambda kv: -kv[1])[:6])
    for strategy in ("best_score", "relevance_feedback"):
        res = runtime.searcher.search(replace(base, strategy=strategy)).results  # type: ignore[arg-type]
        assert len(res) == 6 and not judged & {p.id for p in res}
    # Likes alone: no model call is needed, and nothing liked comes back.
    alone = SearchQuery(positive_ids=likes, top_k=5)
    assert not runtime.searcher.needs_model(alone)
    check(runtime.searcher.search(alone).results,
          expect_nearest(runtime, np.mean([vectors[i] for i in likes], axis=0), set(likes), 5))
    # Dislikes alone work with best_score, not with average_vector.
    assert runtime.searcher.search(SearchQuery(negative_ids=dislikes, strategy="best_score")).results
    with pytest.raises(QueryError, match="average_vector"):
        runtime.searcher.search(SearchQuery(negative_ids=dislikes))
    with pytest.raises(QueryError) as err:
        runtime.searcher.search(SearchQuery(positive_ids=likes, strategy="relevance_feedback"))
    assert (err.value.code, err.value.status) == ("invalid_query", 422)
    with pytest.raises(QueryError) as err:
        runtime.searcher.search(SearchQuery(text="x", positive_ids=("no-such-image",)))
    assert (err.value.code, err.value.status) == ("not_found", 404)


def test_diversity_reranks_the_candidates(runtime: Runtime, indexed: list[str]) -> None:
    plain = runtime.searcher.search(SearchQuery(text="clothes", top_k=8)).results
    same = runtime.searcher.search(SearchQuery(text="clothes", top_k=8, diversity=0.0)).results
    diverse = runtime.searcher.search(SearchQuery(text="clothes", top_k=8, diversity=0.9)).results
    assert [p.id for p in same] == [p.id for p in plain]
    assert diverse[0].id == plain[0].id and [p.id for p in diverse] != [p.id for p in plain]
    vectors = stored(runtime)

    def spread(points: list) -> float:  # type: ignore[type-arg]
        v = np.stack([vectors[p.id] for p in points])
        return float((v @ v.T)[np.triu_indices(len(points), 1)].mean())

    assert spread(diverse) < spread(plain)
    with pytest.raises(QueryError):
        runtime.searcher.search(SearchQuery(text="x", diversity=1.5))


def test_cutoff(runtime: Runtime, indexed: list[str]) -> None:
    searcher = runtime.searcher
    full = searcher.search(SearchQuery(text="a hat", top_k=20)).results
    assert searcher.search(SearchQuery(text="a hat", top_k=20)).cutoff.method == "off"
    # Relative: within delta of the top hit.
    delta = (full[0].score - full[6].score + full[0].score - full[7].score) / 2
    searcher.cutoff = Cutoff(relative_delta=delta)
    out = searcher.search(SearchQuery(text="a hat", top_k=20, cutoff="auto"))
    assert [p.id for p in out.results] == [p.id for p in full[:7]]
    assert (out.cutoff.method, out.cutoff.kept, out.cutoff.cut) == ("relative", 7, 13)
    assert out.cutoff.score == pytest.approx(full[0].score - delta)
    assert out.has_more is False
    # Calibrated for text queries: an absolute score; image queries stay relative.
    cal = (full[2].score + full[3].score) / 2
    searcher.cutoff = Cutoff(Calibration(runtime.embedder.model_id, {"text": cal}), delta)
    out = searcher.search(SearchQuery(text="a hat", top_k=20, cutoff="auto"))
    assert (out.cutoff.method, out.cutoff.kept, len(out.results)) == ("calibrated", 3, 3)
    page2 = searcher.search(SearchQuery(text="a hat", top_k=2, offset=2, cutoff="auto"))
    assert [p.id for p in page2.results] == [full[2].id] and page2.cutoff.cut == 1
    image = searcher.search(SearchQuery(image_id=indexed[0], top_k=10, cutoff="auto"))
    assert image.cutoff.method == "relative"
    mixed = searcher.search(SearchQuery(text="a hat", terms=(Term(text="red", weight=-0.5),),
                                        cutoff="auto"))
    assert mixed.cutoff.method == "relative"
    scored = searcher.search(SearchQuery(text="a hat", positive_ids=(indexed[1],),
                                         strategy="best_score", cutoff="auto"))
    assert scored.cutoff.method == "not_applicable" and scored.cutoff.cut == 0


def test_sort_by_date_after_the_cutoff(runtime: Runtime, photos: list[Path]) -> None:
    from visearch.services.indexing import IndexItem

    dates = {i: f"20{10 + i:02d}:0{1 + i % 9}:15 12:00:00" for i in range(0, 16, 2)}
    batch = [IndexItem(data=exif_jpeg(p, dates.get(i), ("Canon", "Canon EOS R5") if i % 4 == 0
                                      else None), filename=p.name, label=p.parent.name)
             for i, p in enumerate(photos[:16])]
    results = runtime.indexer.index_items(batch)
    ids = [r.image_id for r in results]
    [point] = runtime.store.get([ids[4]])
    assert point.payload["taken_at"] == "2014-05-15T12:00:00+00:00"
    assert point.payload["camera"] == "Canon EOS R5"
    searcher = runtime.searcher
    by_score = searcher.search(SearchQuery(text="a photo", top_k=16)).results
    for order in ("desc", "asc"):
        out = searcher.search(SearchQuery(text="a photo", top_k=16, sort="taken_at",
                                          order=order))  # type: ignore[arg-type]
        taken = [p.payload.get("taken_at") for p in out.results]
        dated = [t for t in taken if t]
        assert dated == sorted(dated, reverse=order == "desc") and len(dated) == 8
        assert taken[8:] == [None] * 8  # undated photos last, by relevance
        score = {p.id: p.score for p in by_score}
        assert [p.id for p in out.results[8:]] == [p.id for p in by_score if p.id in
                                                   {q.id for q in out.results[8:]}]
        assert all(p.score == pytest.approx(score[p.id], abs=1e-5) for p in out.results)
    # The cutoff first, then the date order of what is left; a page of it.
    cal = (by_score[4].score + by_score[5].score) / 2
    searcher.cutoff = Cutoff(Calibration(runtime.embedder.model_id, {"text": cal}))
    out = searcher.search(SearchQuery(text="a photo", top_k=3, offset=1, sort="indexed_at",
                                      cutoff="auto"))
    assert {p.id for p in out.results} <= {p.id for p in by_score[:5]}
    assert (out.cutoff.kept, out.cutoff.cut, len(out.results)) == (5, 11, 3)
    assert out.has_more is True
    # A date range filter on the EXIF date.
    in_range = searcher.search(SearchQuery(text="a photo", top_k=16, flt={
        "taken_at": {"gte": "2012-01-01", "lt": "2018-01-01"}})).results
    assert sorted(p.payload["taken_at"][:4] for p in in_range) == ["2012", "2014", "2016"]
    with pytest.raises(FilterError):
        searcher.search(SearchQuery(text="a photo", flt={"taken_at": {"gte": "last week"}}))


def test_collapse_near_duplicates(runtime: Runtime, photos: list[Path]) -> None:
    """Copies linked to their original (``duplicate_of``) collapse to the best-ranked one."""
    from visearch.services.indexing import IndexItem

    runtime.indexer.index_items(items(photos[:6]))
    copies = []
    for p in photos[:3]:
        with Image.open(p) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=80)
        copies.append(IndexItem(data=buf.getvalue(), filename=f"copy-{p.name}"))
    # The tiny random model embeds all photos alike; re-encodes are closer still.
    runtime.indexer.settings = runtime.indexer.settings.model_copy(
        update={"near_duplicate_distance": 0.0003})
    linked = runtime.indexer.index_items(copies)
    assert [r.status for r in linked] == ["near_duplicate"] * 3
    originals = {content_id(p.read_bytes()) for p in photos[:3]}
    assert {r.duplicate_of for r in linked} == originals
    full = runtime.searcher.search(SearchQuery(text="a photo", top_k=9)).results
    assert len(full) == 9
    collapsed = runtime.searcher.search(SearchQuery(text="a photo", top_k=9,
                                                    collapse_duplicates=True)).results
    groups = [p.payload.get("duplicate_of") or p.id for p in collapsed]
    assert len(collapsed) == 6 and len(set(groups)) == 6
    first_of_group: dict[str, str] = {}
    for p in full:
        first_of_group.setdefault(p.payload.get("duplicate_of") or p.id, p.id)
    assert [p.id for p in collapsed] == list(first_of_group.values())


def test_prompt_ensembling(runtime: Runtime, indexed: list[str]) -> None:
    from visearch.services.prompts import ensemble_prompts

    prompts = ensemble_prompts("a dress")
    assert prompts[0] == "a photo of a dress." and len(prompts) > 4
    mean = np.mean([unit(text_vec(runtime, t)) for t in prompts], axis=0)
    out = runtime.searcher.search(SearchQuery(text="a dress", ensemble=True, top_k=5))
    check(out.results, expect_nearest(runtime, mean, k=5))
    plain = runtime.searcher.search(SearchQuery(text="a dress", top_k=5))  # off by default
    check(plain.results, expect_nearest(runtime, text_vec(runtime, "a dress"), k=5))
    long_text = "a long red summer dress with flowers on a wooden hanger"
    same = runtime.searcher.search(SearchQuery(text=long_text, ensemble=True, top_k=5))
    check(same.results, expect_nearest(runtime, text_vec(runtime, long_text), k=5))


def test_query_errors(runtime: Runtime, indexed: list[str]) -> None:
    searcher = runtime.searcher
    cases = [
        (SearchQuery(), "empty_query"),
        (SearchQuery(terms=(Term(text=" "),)), "empty_query"),
        (SearchQuery(terms=(Term(text="x", image_id=indexed[0]),)), "invalid_query"),
        (SearchQuery(text="x", sort="width"), "invalid_query"),  # type: ignore[arg-type]
        (SearchQuery(text="x", strategy="magic"), "invalid_query"),  # type: ignore[arg-type]
    ]
    for query, code in cases:
        with pytest.raises(QueryError) as err:
            searcher.search(query)
        assert err.value.code == code
    with pytest.raises(Exception) as bad:  # image bytes are decoded by the service
        searcher.search(SearchQuery(image=b"not an image"))
    assert getattr(bad.value, "code", None) in {"unsupported_format", "corrupt"}
