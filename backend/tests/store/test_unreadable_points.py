"""A point whose payload the engine cannot decode (metadata nested ~130 levels, as older
versions accepted) no longer breaks the store: the write is refused now, and a store that
already holds one still opens, searches, counts, optimises, reports it and deletes it.

The point is planted through the shard itself, bypassing the store's own check, exactly as
an older version wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from tests.store.conftest import DIM, MODEL, DataSet
from visearch.store.base import Point, point_uuid
from visearch.store.edge import EdgeStore
from visearch.store.edge_repair import REBUILD_DIR, REBUILD_MARKER, SHARD_DIR, UNREADABLE_FILE

BAD_ID = "deep-1"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def plant(store: EdgeStore, image_id: str = BAD_ID, levels: int = 130) -> None:
    """Write a point with a payload the engine cannot read back, as older versions did."""
    vector = np.ones(DIM, np.float32) / np.sqrt(DIM)
    point = qe.Point(point_uuid(image_id), vector.tolist(),
                     {"image_id": image_id, "metadata": nested(levels)})

    def write(shard: qe.EdgeShard) -> None:
        shard.update(qe.UpdateOperation.upsert_points([point]))
        shard.flush()

    store._call(write)


def filled_store(store_dir: Path, data: DataSet) -> EdgeStore:
    store = EdgeStore(store_dir, MODEL, DIM)
    store.upsert(data.points[:50])
    plant(store)
    return store


def test_the_store_refuses_payloads_it_could_not_read_back(store_dir: Path) -> None:
    vector = np.ones(DIM, np.float32)
    with EdgeStore(store_dir, MODEL, DIM) as store:
        for payload in ({"metadata": nested(130)}, {"metadata": {"x": float("nan")}},
                        {"metadata": {"x": "\ud800"}}, {"metadata": {"x": 2**64}}):
            with pytest.raises(ValueError, match="not plain JSON"):
                store.upsert([Point("p", vector, payload)])
        assert store.count() == 0


def test_live_store_searches_reports_and_deletes_an_unreadable_point(
    store_dir: Path, data: DataSet
) -> None:
    store = filled_store(store_dir, data)
    try:
        query = np.ones(DIM, np.float32)
        hits = store.search(query, limit=60)
        assert BAD_ID not in [h.id for h in hits] and len(hits) == 50
        assert store.search(query, limit=5, flt={"metadata.colour": "red"}) is not None
        assert store.unreadable_points() == 1
        [stub] = store.get([BAD_ID])
        assert "unreadable" in stub.payload
        store.optimize()
        store.delete([BAD_ID])
        assert store.get([BAD_ID]) == [] and store.count() == 50
        assert store.unreadable_points() == 0
        store.upsert(data.points[50:51])  # writes still work after all that
        assert store.count() == 51
    finally:
        store.close()


def test_a_shard_whose_log_holds_the_point_opens_rebuilt(store_dir: Path, data: DataSet) -> None:
    filled_store(store_dir, data).close()  # the planted write is still in the log
    collection = next((store_dir / "collections").iterdir())
    with EdgeStore(store_dir, MODEL, DIM) as store:
        assert store.count() == 51
        assert store.unreadable_points() == 1
        assert list(json.loads((collection / UNREADABLE_FILE).read_text())) == \
            [point_uuid(BAD_ID)]
        kept = [p.name for p in collection.iterdir() if p.name.startswith(f"{SHARD_DIR}.unread")]
        assert len(kept) == 1  # the old shard is kept for inspection
        ids = {h.id for h in store.search(np.ones(DIM, np.float32), limit=100)}
        assert ids == set(data.ids[:50])
        got = store.get([data.ids[3]])[0]
        assert got.payload == {**data.points[3].payload, "image_id": data.ids[3]}
        store.delete([BAD_ID])
        store.upsert([Point(data.ids[0], data.points[0].vector, {"label": "changed"})])
    with EdgeStore(store_dir, MODEL, DIM) as store:  # and it stays consistent after that
        assert store.count() == 50 and store.unreadable_points() == 0
        assert store.get([data.ids[0]])[0].payload["label"] == "changed"


def test_an_interrupted_rebuild_resumes(store_dir: Path, data: DataSet) -> None:
    """A crash after the log was set aside must not leave a shard that opens as if fine (its
    operation numbers would restart and later updates be ignored)."""
    filled_store(store_dir, data).close()
    collection = next((store_dir / "collections").iterdir())
    shard = collection / SHARD_DIR
    (shard / "wal").rename(shard / "wal.unreadable")  # the first step of a rebuild ...
    (collection / REBUILD_MARKER).write_text("{}")  # ... then the process died
    (collection / REBUILD_DIR).mkdir()  # with a half-written copy
    with EdgeStore(store_dir, MODEL, DIM) as store:
        assert store.count() == 51 and store.unreadable_points() == 1
        store.upsert([Point(data.ids[1], data.points[1].vector, {"label": "changed"})])
        assert store.get([data.ids[1]])[0].payload["label"] == "changed"
    assert not (collection / REBUILD_MARKER).exists()
    assert not (collection / REBUILD_DIR).exists()
