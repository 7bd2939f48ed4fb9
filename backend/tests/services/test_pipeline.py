"""The indexing pipeline: reduced-size JPEG decoding that keeps stored files and payload right,
duplicates across pipelined batches, decoding in a process pool, the store failing mid-run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.services.conftest import items
from visearch.ingest.decode import ImageDecoder
from visearch.ingest.files import ImageFiles
from visearch.ingest.ids import content_id
from visearch.runtime import Runtime
from visearch.services.indexing import Indexer, IndexItem
from visearch.services.pipeline import ImagePrep, decode_processes
from visearch.store.base import StoreUnavailableError


def camera_jpeg(path: Path, size: tuple[int, int] = (1800, 1200)) -> bytes:
    """A photo upscaled to camera size (still within the stored side, so kept as is)."""
    with Image.open(path) as im:
        big = im.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def indexer_with(runtime: Runtime, **settings: object) -> Indexer:
    return Indexer(runtime.settings.model_copy(update=settings), runtime.embedder,
                   runtime.store, runtime.files, runtime.cache, decoder=runtime.decoder)


def test_large_jpegs_decode_small_but_store_everything_right(
    runtime: Runtime, photos: list[Path]
) -> None:
    data = camera_jpeg(photos[0])
    prep = runtime.indexer.prep
    side = prep.decode_side(data)
    assert side is not None and side < 1800  # decoded at a reduced scale
    [result] = runtime.indexer.index_items([IndexItem(data=data, filename="big.jpg")])
    assert result.status == "indexed"
    [point] = runtime.store.get([result.image_id or ""], with_vectors=True)
    assert (point.payload["width"], point.payload["height"]) == (1800, 1200)
    original = runtime.files.original(result.image_id or "")
    assert original is not None and original[0].read_bytes() == data  # the bytes, unchanged
    for path, longest in ((runtime.files.thumbnail(result.image_id or ""), 256),
                          (runtime.files.large_thumbnail(result.image_id or ""), 512)):
        assert path is not None
        with Image.open(path) as thumb:
            assert max(thumb.size) == longest
    # The model saw nearly what a full decode gives.
    full = ImagePrep(ImageDecoder(runtime.settings.max_upload_bytes, runtime.settings.max_pixels),
                     runtime.files, None)(data)
    assert full.image is not None and full.image.size == (1800, 1200)
    exact = runtime.embedder.embed_images([full.image])[0]
    assert float(np.dot(exact, point.vector)) >= 0.99


def test_small_and_non_jpeg_images_are_decoded_as_they_are(
    runtime: Runtime, photos: list[Path]
) -> None:
    prep = runtime.indexer.prep
    assert prep.decode_side(photos[0].read_bytes()) is None  # 224 px: nothing to gain
    buf = io.BytesIO()
    Image.new("RGB", (1800, 1200), (1, 2, 3)).save(buf, "PNG")
    assert prep.decode_side(buf.getvalue()) is None  # only JPEG has a reduced-size decode
    huge = camera_jpeg(photos[0], (3000, 2000))  # stored as a bounded copy: full side
    assert prep.decode_side(huge) is None


def test_duplicates_across_pipelined_batches(runtime: Runtime, photos: list[Path]) -> None:
    indexer = indexer_with(runtime, batch_size=2)
    data = photos[0].read_bytes()
    batch = [IndexItem(data=data), IndexItem(data=photos[1].read_bytes()), IndexItem(data=data),
             IndexItem(data=photos[2].read_bytes()), IndexItem(data=data)]
    statuses = [r.status for r in indexer.index_items(batch)]
    assert statuses == ["indexed", "indexed", "duplicate", "indexed", "duplicate"]
    assert runtime.store.count() == 3


def test_process_pool_gives_the_same_vectors(runtime: Runtime, photos: list[Path]) -> None:
    assert decode_processes(-1, cores=2) == 0 and decode_processes(-1, cores=8) == 4
    assert decode_processes(3, cores=2) == 3
    threaded = indexer_with(runtime, batch_size=4, decode_workers=0)
    pooled = indexer_with(runtime, batch_size=4, decode_workers=2)
    assert pooled.decode_processes == 2
    paths = photos[:9]
    first = threaded.index_items(items(paths))
    ids = [r.image_id or "" for r in first]
    vectors = {p.id: p.vector for p in runtime.store.get(ids, with_vectors=True)}
    runtime.store.delete(ids)
    for image_id in ids:
        runtime.files.delete(image_id)
    second = pooled.index_items(items(paths))
    assert [r.status for r in second] == ["indexed"] * 9
    for p in runtime.store.get(ids, with_vectors=True):
        np.testing.assert_allclose(p.vector, vectors[p.id], atol=1e-6)


def test_a_store_failure_mid_run_stops_it_without_orphans(
    runtime: Runtime, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    indexer = indexer_with(runtime, batch_size=3)
    upsert = runtime.store.upsert
    calls = []

    def failing_upsert(points: object) -> None:
        calls.append(points)
        if len(calls) == 2:
            raise StoreUnavailableError("the store went away")
        upsert(points)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.store, "upsert", failing_upsert)
    progress: list[int] = []
    with pytest.raises(StoreUnavailableError):
        indexer.index_items(items(photos[:9]), progress=progress.append)
    assert progress == [3] and len(calls) == 2  # the third batch is never written
    assert runtime.store.count() == 3
    files = ImageFiles(runtime.files.root)
    kept = [p for p in photos[:9] if files.exists(content_id(p.read_bytes()))]
    assert kept == photos[:3]  # the failed batch's files were removed again
