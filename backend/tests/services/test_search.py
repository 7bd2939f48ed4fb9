"""Searcher: text, image, mixed and by-id queries, threshold, offset, filter, the result cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.services.conftest import items
from visearch.cache.base import NullCache
from visearch.ingest.decode import decode_image
from visearch.ingest.ids import content_id
from visearch.runtime import Runtime
from visearch.services.search import QueryError, Searcher, SearchQuery
from visearch.store.base import FilterError

LIMITS = {"max_bytes": 25 * 1024 * 1024, "max_pixels": 64_000_000}


@pytest.fixture
def indexed(runtime: Runtime, photos: list[Path]) -> list[Path]:
    """The 24 photos indexed, labelled by class."""
    for cls in ("dress", "hat", "shoes"):
        paths = [p for p in photos if p.parent.name == cls]
        runtime.indexer.index_items(items(paths, label=cls))
    assert runtime.store.count() == len(photos)
    return photos


def _image(path: Path) -> bytes:
    """A query image as the service gets it: bytes (it decodes them)."""
    return path.read_bytes()


def _decoded(path: Path) -> Image.Image:
    return decode_image(path.read_bytes(), **LIMITS).image


def _ids(searcher: Searcher, **query: object) -> list[str]:
    return [p.id for p in searcher.search(SearchQuery(**query)).results]  # type: ignore[arg-type]


def test_text_query_ranks_by_score(runtime: Runtime, indexed: list[Path]) -> None:
    out = runtime.searcher.search(SearchQuery(text="a red dress", top_k=7))
    scores = [p.score for p in out.results]
    assert len(scores) == 7 and scores == sorted(scores, reverse=True)
    assert out.has_more is True and out.cached is False
    assert out.model_id == runtime.embedder.model_id and out.query_id
    # The score is the cosine with the text's unit vector.
    text = runtime.embedder.embed_texts(["a red dress"])[0]
    [best] = runtime.store.get([out.results[0].id], with_vectors=True)
    assert best.vector is not None
    assert out.results[0].score == pytest.approx(float(text @ best.vector), abs=1e-4)


def test_image_and_by_id_queries(runtime: Runtime, indexed: list[Path]) -> None:
    path = indexed[9]
    own_id = content_id(path.read_bytes())
    by_image = runtime.searcher.search(SearchQuery(image=_image(path), top_k=6)).results
    assert by_image[0].id == own_id and by_image[0].score == pytest.approx(1.0, abs=1e-3)
    # More like this: the stored vector, without the example itself.
    assert _ids(runtime.searcher, image_id=own_id, top_k=5) == [p.id for p in by_image[1:]]
    with pytest.raises(QueryError) as err:
        runtime.searcher.search(SearchQuery(image_id="unknown"))
    assert (err.value.code, err.value.status) == ("not_found", 404)
    with pytest.raises(QueryError) as err:
        runtime.searcher.search(SearchQuery(text="   "))
    assert (err.value.code, err.value.status) == ("empty_query", 400)


def test_mixed_query_is_the_weighted_sum_of_unit_vectors(runtime: Runtime,
                                                         indexed: list[Path]) -> None:
    image = _image(indexed[3])
    searcher, k = runtime.searcher, 24
    only_text = _ids(searcher, text="a hat", top_k=k)
    only_image = _ids(searcher, image=image, top_k=k)
    assert _ids(searcher, text="a hat", image=image, text_weight=1.0, top_k=k) == only_text
    assert _ids(searcher, text="a hat", image=image, text_weight=0.0, top_k=k) == only_image

    mixed = searcher.search(SearchQuery(text="a hat", image=image, text_weight=0.3, top_k=k))
    t = runtime.embedder.embed_texts(["a hat"])[0]
    i = runtime.embedder.embed_images([_decoded(indexed[3])])[0]
    q = 0.3 * t + 0.7 * i
    q /= np.linalg.norm(q)
    vectors = {p.id: p.vector for p in runtime.store.get([r.id for r in mixed.results],
                                                         with_vectors=True)}
    for hit in mixed.results:
        assert hit.score == pytest.approx(float(q @ vectors[hit.id]), abs=1e-4)


def test_threshold_offset_and_filter(runtime: Runtime, indexed: list[Path]) -> None:
    searcher = runtime.searcher
    full = searcher.search(SearchQuery(text="clothes", top_k=24)).results
    page2 = _ids(searcher, text="clothes", top_k=8, offset=8)
    assert page2 == [p.id for p in full[8:16]]

    cut = full[5].score - 1e-5  # just below the 6th score (stored vectors are float32)
    above = searcher.search(SearchQuery(text="clothes", top_k=24, threshold=cut)).results
    assert 6 <= len(above) < 24 and all(p.score >= cut for p in above)
    assert [p.id for p in above] == [p.id for p in full[: len(above)]]

    hats = searcher.search(SearchQuery(text="clothes", top_k=24, flt={"label": "hat"})).results
    assert len(hats) == 8 and {p.payload["label"] for p in hats} == {"hat"}
    with pytest.raises(FilterError) as err:  # checked once, by the store
        searcher.search(SearchQuery(text="clothes", flt={"colour": "red"}))
    assert (err.value.code, err.value.status) == ("invalid_filter", 422)


def test_result_pages_are_cached_until_a_write(runtime: Runtime, indexed: list[Path]) -> None:
    searcher = runtime.searcher
    query = SearchQuery(text="a shoe", top_k=5)
    first = searcher.search(query)
    again = searcher.search(SearchQuery(text="  A   SHOE ", top_k=5))  # same normalised text
    assert (first.cached, again.cached) == (False, True)
    assert again.results == first.results
    assert searcher.search(SearchQuery(text="a shoe", top_k=6)).cached is False  # another page

    # An image query is cached by its content hash (the bytes, whoever sent them).
    image = _image(indexed[0])
    assert searcher.search(SearchQuery(image=image)).cached is False
    assert searcher.search(SearchQuery(image=bytes(image))).cached is True
    assert searcher.search(SearchQuery(image=_image(indexed[1]))).cached is False

    # A delete and an index invalidate; a duplicate (nothing written) does not.
    gone = first.results[0].id
    gone_path = next(p for p in indexed if content_id(p.read_bytes()) == gone)
    assert runtime.indexer.delete(gone)
    after = searcher.search(query)
    assert after.cached is False and gone not in [p.id for p in after.results]
    kept = next(p for p in indexed if p != gone_path)
    assert runtime.indexer.index_items(items([kept]))[0].status == "duplicate"
    assert searcher.search(query).cached is True
    assert runtime.indexer.index_items(items([gone_path]))[0].status == "indexed"
    back = searcher.search(query)
    assert back.cached is False and gone in [p.id for p in back.results]


def test_no_cache_never_reports_a_hit(runtime: Runtime, indexed: list[Path]) -> None:
    searcher = Searcher(runtime.embedder, runtime.store, NullCache())
    query = SearchQuery(text="a dress", top_k=3)
    assert [searcher.search(query).cached for _ in range(2)] == [False, False]


def test_text_weight_only_mixes_text_with_an_image(runtime: Runtime, indexed: list[Path]) -> None:
    """A text-only query counts its text fully, whatever ``text_weight`` says (0 used to give
    an all-zero query vector and a 500)."""
    searcher = runtime.searcher
    for weight in (0.0, 0.3, 1.0):
        assert _ids(searcher, text="a hat", text_weight=weight, top_k=5) == \
            _ids(searcher, text="a hat", top_k=5)
    own = content_id(indexed[2].read_bytes())
    # With an image, weight 0 means the image alone.
    assert _ids(searcher, text="a hat", image_id=own, text_weight=0.0, top_k=5) == \
        _ids(searcher, image_id=own, top_k=5)


def test_a_query_without_direction_is_a_clear_error(runtime: Runtime, indexed: list[Path]) -> None:
    """Text and image that cancel out exactly leave no direction to search in."""
    own = content_id(indexed[4].read_bytes())
    [stored] = runtime.store.get([own], with_vectors=True)
    assert stored.vector is not None
    opposite = (-stored.vector).astype(np.float32)
    searcher = Searcher(_Fixed(runtime.embedder, opposite), runtime.store, NullCache())
    with pytest.raises(QueryError) as err:
        searcher.search(SearchQuery(text="anything", image_id=own, text_weight=0.5))
    assert err.value.code == "invalid_query" and err.value.status == 422


class _Fixed:
    """An embedder whose text vector is given (the real one for everything else)."""

    def __init__(self, real: object, text_vector: np.ndarray) -> None:
        self._real, self._text = real, text_vector

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._text for _ in texts])

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)
