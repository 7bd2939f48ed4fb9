"""Image files and vectors stay in step: a failed write leaves no files, a failed delete
leaves the image whole (never files served for a deleted image), and the start-up sweep
clears what a crash left in between. Failures are real: the store's free-space reserve
refuses its writes while the image folder (no reserve) still takes files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.conftest import jpeg
from visearch.disk import StorageFullError
from visearch.ingest.decode import decode_image
from visearch.runtime import Runtime
from visearch.services.indexing import IndexItem

NEVER_ENOUGH = 2**62  # bytes of free space a write needs: no disk has that


def files_on_disk(runtime: Runtime) -> list[str]:
    return sorted(p.name for p in runtime.files.root.rglob("*") if p.is_file())


def test_a_failed_upsert_leaves_no_files(runtime: Runtime) -> None:
    keep = runtime.indexer.index_items([IndexItem(data=jpeg((1, 2, 3)), image_id="kept")])
    assert keep[0].status == "indexed"
    before = files_on_disk(runtime)
    runtime.store.min_free_bytes = NEVER_ENOUGH  # type: ignore[attr-defined]
    batch = [IndexItem(data=jpeg((i, 50, 50)), image_id=f"new-{i}") for i in range(3)]
    with pytest.raises(StorageFullError):
        runtime.indexer.index_items(batch)
    assert files_on_disk(runtime) == before  # the files written for the batch are gone
    assert runtime.store.count() == 1
    runtime.store.min_free_bytes = 0  # type: ignore[attr-defined]
    assert [r.status for r in runtime.indexer.index_items(batch)] == ["indexed"] * 3
    assert all(runtime.files.original(f"new-{i}") for i in range(3))


def test_a_failed_delete_keeps_the_image_whole(runtime: Runtime) -> None:
    runtime.indexer.index_items([IndexItem(data=jpeg((9, 9, 9)), image_id="img")])
    runtime.store.min_free_bytes = NEVER_ENOUGH  # type: ignore[attr-defined]
    with pytest.raises(StorageFullError):
        runtime.indexer.delete("img")
    assert runtime.store.get(["img"]) and runtime.files.original("img") is not None
    assert runtime.files.thumbnail("img") is not None  # served again, not left hidden
    runtime.store.min_free_bytes = 0  # type: ignore[attr-defined]
    assert runtime.indexer.delete("img")
    assert runtime.store.get(["img"]) == [] and runtime.files.original("img") is None
    assert files_on_disk(runtime) == []


def test_start_up_sweep_removes_orphan_files(
    runtime: Runtime, settings: object, tiny_embedder: object
) -> None:
    """Files written for an image whose vector never came (a crash in between)."""
    runtime.indexer.index_items([IndexItem(data=jpeg((5, 5, 5)), image_id="img")])
    data = jpeg((200, 0, 0))
    runtime.files.save("orphan", data, decode_image(data, max_bytes=10**6, max_pixels=10**6))
    runtime.close()
    again = Runtime.build(settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    try:
        assert again.files.original("orphan") is None and again.files.thumbnail("orphan") is None
        assert again.files.original("img") is not None and again.files.thumbnail("img")
    finally:
        again.close()


def test_start_up_sweep_finishes_interrupted_deletes(
    runtime: Runtime, settings: object, tiny_embedder: object
) -> None:
    indexer, files = runtime.indexer, runtime.files
    indexer.index_items([IndexItem(data=jpeg((c, 0, 0)), image_id=f"img-{c}") for c in (1, 2, 3)])
    files.hide("img-1")  # a delete interrupted before its vector went: undone
    files.hide("img-2")  # ... and one interrupted after: finished
    runtime.store.delete(["img-2"])
    runtime.close()

    again = Runtime.build(settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    try:
        assert again.files.original("img-1") is not None and again.files.thumbnail("img-1")
        assert again.files.original("img-2") is None
        assert again.files.original("img-3") is not None
        names = {p.name.split(".", 1)[0] for p in again.files.root.rglob("*") if p.is_file()}
        assert names == {again.files._key("img-1"), again.files._key("img-3")}
        assert not [p for p in again.files.root.rglob("*.deleting")]
    finally:
        again.close()


def test_the_sweep_leaves_files_of_other_collections_alone(
    runtime: Runtime, settings: object, tiny_embedder: object
) -> None:
    """Another model's collection in the same data dir owns files this store cannot see."""
    data = jpeg((7, 7, 7))
    runtime.files.save("other-model-img", data,
                       decode_image(data, max_bytes=10**6, max_pixels=10**6))
    runtime.close()
    (Path(runtime.settings.data_dir) / "collections" / "another-model-512").mkdir()
    again = Runtime.build(settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    try:
        assert again.files.original("other-model-img") is not None
    finally:
        again.close()
