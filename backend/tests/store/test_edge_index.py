"""HNSW built in a background process: searches go on during the build, writes made meanwhile
survive the swap, an interrupted swap is undone on open, int8 quantization keeps recall."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.store.conftest import DIM, MODEL, make_points
from visearch.store.base import Point
from visearch.store.edge import EdgeStore
from visearch.store.edge_index import BUILD_DIR, OLD_DIR, SHARD_DIR

SMALL_SEGMENTS_KB = 16  # so a few hundred 32-d points get HNSW


def recall_at_10(store: EdgeStore, queries: np.ndarray) -> float:
    hits = []
    for q in queries:
        exact = {r.id for r in store.search(q, limit=10, exact=True)}
        hits.append(len(exact & {r.id for r in store.search(q, limit=10)}) / 10)
    return float(np.mean(hits))


def test_background_build_serves_meanwhile_and_keeps_writes(store_dir: Path) -> None:
    data = make_points(n=600, seed=7)
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=SMALL_SEGMENTS_KB) as store:
        store.upsert(data.points[:500])
        assert store.stats()["indexed_vectors"] == 0
        searched: list[int] = []
        stop = threading.Event()

        def search_loop() -> None:
            while not stop.is_set():
                searched.append(len(store.search(data.matrix[1], limit=5)))

        reader = threading.Thread(target=search_loop)
        reader.start()
        try:
            assert store.build_index_async() is True
            assert store.build_index_async() is False  # one build at a time
            store.upsert(data.points[500:])  # during the build: journaled, then replayed
            store.delete(["img-0003"])
            assert store.wait_for_index(timeout=120)
        finally:
            stop.set()
            reader.join()
        assert searched and all(n == 5 for n in searched)
        stats = store.stats()
        assert stats["points"] == 599
        assert stats["indexed_vectors"] >= 500  # the copy's points are under HNSW
        assert store.get(["img-0599"]) and not store.get(["img-0003"])
        assert recall_at_10(store, data.matrix[:20] + 0.05) >= 0.9
        assert not (store.path / BUILD_DIR).exists() and not (store.path / OLD_DIR).exists()
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=SMALL_SEGMENTS_KB) as store:
        assert store.count() == 599  # the swapped-in shard is what opens next time
        assert store.stats()["indexed_vectors"] >= 500


def test_upserts_start_a_build_past_the_threshold(store_dir: Path) -> None:
    data = make_points(n=600, seed=8)
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=SMALL_SEGMENTS_KB,
                   build_threshold=400) as store:
        store.upsert(data.points[:300])
        assert not store.index_building
        store.upsert(data.points[300:])
        assert store.index_building or store.stats()["indexed_vectors"] > 0
        assert store.wait_for_index(timeout=120)
        assert store.stats()["indexed_vectors"] >= 600 - 50


def test_interrupted_swap_is_undone_on_open(store_dir: Path) -> None:
    data = make_points(n=50, seed=9)
    with EdgeStore(store_dir, MODEL, DIM) as store:
        store.upsert(data.points)
        root = store.path
    # A crash after the live shard was moved aside, with a built copy in its place that may
    # lack the journaled writes, and an unfinished copy lying around.
    (root / SHARD_DIR).rename(root / OLD_DIR)
    (root / SHARD_DIR).mkdir()
    (root / SHARD_DIR / "stale").write_text("partial")
    (root / BUILD_DIR).mkdir()
    with EdgeStore(store_dir, MODEL, DIM) as store:
        assert store.count() == 50
        assert not (root / OLD_DIR).exists() and not (root / BUILD_DIR).exists()


def test_int8_quantization_on_disk_originals_keeps_recall(store_dir: Path) -> None:
    data = make_points(n=600, seed=10)
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=SMALL_SEGMENTS_KB,
                   quantization="int8", vectors_on_disk=True, hnsw_ef=64) as store:
        store.upsert(data.points)
        store.optimize()
        assert store.stats()["indexed_vectors"] == 600
        assert recall_at_10(store, data.matrix[:20] + 0.05) >= 0.9
        # Rescoring on the originals: scores are the exact cosines, not int8 approximations.
        top = store.search(data.matrix[7], limit=1)[0]
        assert top.id == "img-0007" and top.score == pytest.approx(1.0, abs=1e-5)


def test_close_stops_a_running_build(store_dir: Path) -> None:
    data = make_points(n=300, seed=11)
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=SMALL_SEGMENTS_KB) as store:
        store.upsert(data.points)
        store.build_index_async()
        time.sleep(0.05)
    assert not (store.path / BUILD_DIR).exists()
    with EdgeStore(store_dir, MODEL, DIM) as store:
        assert store.count() == 300
        store.upsert([Point("extra", data.matrix[0], {"image_id": "extra"})])
        assert store.count() == 301
