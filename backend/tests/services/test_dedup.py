"""Near-duplicates at index time (link, skip, index), within one batch and across batches; the
duplicates of one image; the groups of a collection and their contact sheet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.services.conftest import items
from visearch.ingest.ids import content_id
from visearch.runtime import Runtime
from visearch.services import dedup
from visearch.services.indexing import IndexItem

#: JPEG re-encodes are within this distance for the tiny random model; other photos are not
#: (measured: re-encodes > 0.9996, other photos < 0.9990 cosine).
COPY_DISTANCE = 0.0003


def reencoded(path: Path, quality: int = 80) -> IndexItem:
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert("RGB").save(buf, "JPEG", quality=quality)
    return IndexItem(data=buf.getvalue(), filename=f"copy{quality}-{path.name}")


def with_action(runtime: Runtime, action: str) -> None:
    runtime.indexer.settings = runtime.indexer.settings.model_copy(update={
        "near_duplicate_distance": COPY_DISTANCE, "near_duplicate_action": action})


@pytest.mark.parametrize("action", ["link", "skip", "index"])
def test_actions(runtime: Runtime, photos: list[Path], action: str) -> None:
    with_action(runtime, action)
    originals = runtime.indexer.index_items(items(photos[:4]))
    assert [r.status for r in originals] == ["indexed"] * 4  # other photos are not copies
    # A copy of an indexed photo, and two copies of a new one in the same batch.
    batch = [reencoded(photos[0]), IndexItem(data=photos[5].read_bytes(), filename="new"),
             reencoded(photos[5]), reencoded(photos[5], quality=70)]
    results = runtime.indexer.index_items(batch)
    new_id = content_id(photos[5].read_bytes())
    assert [r.status for r in results] == ["near_duplicate", "indexed", "near_duplicate",
                                           "near_duplicate"]
    assert [r.duplicate_of for r in results] == [originals[0].image_id, None, new_id, new_id]
    stored = {p.id: p.payload for p in runtime.store.get([r.image_id or "" for r in results])}
    copies = [results[0], results[2], results[3]]
    if action == "skip":
        assert set(stored) == {new_id}
        assert runtime.files.thumbnail(results[0].image_id or "") is None
    else:
        assert set(stored) == {r.image_id for r in results}
        linked = [stored[r.image_id or ""].get("duplicate_of") for r in copies]
        assert linked == ([r.duplicate_of for r in copies] if action == "link" else [None] * 3)


def test_copies_of_a_copy_link_to_the_original(runtime: Runtime, photos: list[Path]) -> None:
    with_action(runtime, "link")
    [original] = runtime.indexer.index_items(items(photos[:1]))
    [first] = runtime.indexer.index_items([reencoded(photos[0], 90)])
    [second] = runtime.indexer.index_items([reencoded(photos[0], 60)])
    assert first.duplicate_of == second.duplicate_of == original.image_id
    # Exact copies stay "duplicate" (content hash), never near-duplicates of themselves.
    [again] = runtime.indexer.index_items(items(photos[:1]))
    assert again.status == "duplicate"
    found = dedup.duplicates_of(runtime.store, original.image_id or "", COPY_DISTANCE)
    assert found is not None
    assert {p.id for p in found} == {first.image_id, second.image_id}
    assert all(p.score >= 1 - COPY_DISTANCE for p in found)
    # From a copy: the original and the other copy.
    from_copy = dedup.duplicates_of(runtime.store, first.image_id or "", COPY_DISTANCE)
    assert from_copy is not None and {p.id for p in from_copy} == {original.image_id,
                                                                  second.image_id}
    assert dedup.duplicates_of(runtime.store, "unknown", COPY_DISTANCE) is None


def test_groups_and_contact_sheet(runtime: Runtime, photos: list[Path], tmp_path: Path) -> None:
    runtime.indexer.index_items(items(photos[:6]))  # detection off: copies are not linked
    runtime.indexer.index_items([reencoded(photos[1]), reencoded(photos[1], 60),
                                 reencoded(photos[4])])
    groups, compared = dedup.duplicate_groups(runtime.store, COPY_DISTANCE)
    assert compared == 9
    assert [len(g.members) for g in groups] == [3, 2]
    # The earliest indexed (by indexing time, then id) is the original, listed first.
    first = content_id(photos[1].read_bytes())
    assert groups[0].original == groups[0].members[0]["image_id"]
    assert first in {m["image_id"] for m in groups[0].members}
    assert groups[0].members[0]["similarity"] == pytest.approx(1.0)
    assert all(m["similarity"] >= 1 - COPY_DISTANCE for g in groups for m in g.members)
    assert dedup.duplicate_groups(runtime.store, 0.0) == ([], 9)
    files = runtime.files

    def thumbnail(image_id: str) -> bytes | None:
        path = files.thumbnail(image_id)
        return path.read_bytes() if path else None

    sheet = dedup.contact_sheet(groups, thumbnail, tmp_path / "sheet.png", cell=64)
    with Image.open(sheet) as png:
        assert png.size == (3 * 64, 2 * (64 + 16))
        # the first cell holds a thumbnail, the empty third cell of row two stays white
        assert png.getpixel((32, 32)) != (255, 255, 255)
        assert png.getpixel((160, 64 + 16 + 32)) == (255, 255, 255)
