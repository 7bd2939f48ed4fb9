"""Indexer: batches, duplicates, per-item failures, durability order, cache invalidation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.services.conftest import items, jpeg
from visearch.errors import VisearchError
from visearch.ingest.files import ImageFiles
from visearch.ingest.ids import content_id
from visearch.metrics import Metrics, TimedEmbedder
from visearch.runtime import Runtime
from visearch.services.indexing import Indexer, IndexItem
from visearch.store.base import Point, StoreUnavailableError
from visearch.store.edge import EdgeStore


def test_batches_keep_order_and_call_the_model_once_per_batch(
    runtime: Runtime, photos: list[Path]
) -> None:
    metrics = Metrics()
    indexer = Indexer(runtime.settings.model_copy(update={"batch_size": 8}),
                      TimedEmbedder(runtime.embedder, metrics), runtime.store, runtime.files,
                      runtime.cache, on_indexed=metrics.images_indexed.inc)
    paths = photos[:20]
    batches: list[int] = []
    results = indexer.index_items(items(paths), progress=batches.append)
    assert batches == [8, 8, 4]
    assert [r.filename for r in results] == [p.name for p in paths]
    assert [r.status for r in results] == ["indexed"] * 20
    assert [r.image_id for r in results] == [content_id(p.read_bytes()) for p in paths]
    sample = metrics.registry.get_sample_value
    assert sample("visearch_embedding_batch_size_count", {"modality": "image"}) == 3
    assert sample("visearch_images_indexed_total") == 20
    assert runtime.store.count() == 20


def test_duplicates_in_a_batch_and_across_calls(runtime: Runtime, photos: list[Path]) -> None:
    data, other = photos[0].read_bytes(), photos[1].read_bytes()
    first = runtime.indexer.index_items([IndexItem(data=data), IndexItem(data=data)])
    assert [r.status for r in first] == ["indexed", "duplicate"]
    assert first[0].image_id == first[1].image_id == content_id(data)
    assert runtime.indexer.index_items([IndexItem(data=data)])[0].status == "duplicate"

    # A caller's id: the same content again is a duplicate, new content replaces the image.
    named = [runtime.indexer.index_items([IndexItem(data=d, image_id="sku:1")])[0].status
             for d in (data, data, other)]
    assert named == ["indexed", "duplicate", "indexed"]
    [stored] = runtime.store.get(["sku:1"])
    assert stored.payload["sha256"] == content_id(other)
    assert runtime.store.count() == 2


def test_each_failure_is_reported_and_stops_nothing(
    runtime: Runtime, photos: list[Path], tmp_path: Path
) -> None:
    failed: list[str] = []
    indexer = Indexer(runtime.settings.model_copy(update={"max_upload_bytes": 4096}),
                      runtime.embedder, runtime.store, runtime.files, runtime.cache,
                      on_failed=failed.append)
    small = jpeg()
    assert photos[0].stat().st_size > 4096
    cases = [
        (IndexItem(data=b"plain text " * 10), "unsupported_format", 415),
        (IndexItem(data=small[:100]), "corrupt", 422),
        (IndexItem(path=photos[0]), "too_large", 413),  # a file over the upload limit
        (IndexItem(path=tmp_path / "missing.jpg"), "unreadable", 400),
        (IndexItem(data=small, image_id="../escape"), "invalid_id", 422),
        (IndexItem(url="http://example.com/a.jpg"), "fetch_disabled", 400),  # no fetcher
        (IndexItem(), "empty", 400),
    ]
    results = indexer.index_items([item for item, _, _ in cases] + [IndexItem(data=small)])
    for result, (_, code, status) in zip(results, cases, strict=False):
        assert result.status == "failed" and isinstance(result.error, VisearchError)
        assert (result.error.code, result.error.status) == (code, status), result.error
        assert result.error.message
    assert results[-1].status == "indexed" and results[-1].error is None
    assert failed == [code for _, code, _ in cases]
    assert runtime.store.count() == 1


class _WatchedStore(EdgeStore):
    """The real edge store, noting whether each point's files existed when its upsert began;
    it can be told to fail the upsert (as a Qdrant server that went away would)."""

    def __init__(self, files: ImageFiles, data_dir: Path, model_id: str, dim: int) -> None:
        super().__init__(data_dir, model_id, dim)
        self.files = files
        self.files_at_upsert: list[bool] = []
        self.fail = False

    def upsert(self, points: Sequence[Point]) -> None:
        self.files_at_upsert += [self.files.exists(p.id) and self.files.thumbnail(p.id) is not None
                                 for p in points]
        if self.fail:
            raise StoreUnavailableError("the store went away")
        super().upsert(points)


def test_files_are_written_before_the_upsert_and_nothing_is_reported_early(
    runtime: Runtime, photos: list[Path], tmp_path: Path
) -> None:
    emb = runtime.embedder
    store = _WatchedStore(runtime.files, tmp_path / "watched", emb.model_id, emb.dim)
    try:
        indexer = Indexer(runtime.settings, emb, store, runtime.files, runtime.cache)
        done = indexer.index_items(items(photos[:3]))
        assert [r.status for r in done] == ["indexed"] * 3
        assert store.files_at_upsert == [True] * 3

        # The upsert fails: no result says "indexed", the cache keeps its version, and the
        # files already written are simply rewritten by the retry.
        version = runtime.cache.version()
        store.fail = True
        with pytest.raises(StoreUnavailableError):
            indexer.index_items(items(photos[3:5]))
        assert store.files_at_upsert[3:] == [True, True]
        assert runtime.cache.version() == version and store.count() == 3
        store.fail = False
        retried = indexer.index_items(items(photos[3:5]))
        assert [r.status for r in retried] == ["indexed"] * 2 and store.count() == 5
    finally:
        store.close()


def test_writes_and_deletes_invalidate_cached_pages(runtime: Runtime, photos: list[Path]) -> None:
    version = runtime.cache.version()
    [result] = runtime.indexer.index_items(items(photos[:1]))
    assert runtime.cache.version() > version
    version = runtime.cache.version()
    runtime.indexer.index_items(items(photos[:1]))  # a duplicate writes nothing
    assert runtime.cache.version() == version
    assert result.image_id is not None and runtime.indexer.delete(result.image_id)
    assert runtime.cache.version() > version
    assert not runtime.files.exists(result.image_id) and runtime.store.count() == 0
    assert runtime.indexer.delete(result.image_id) is False
