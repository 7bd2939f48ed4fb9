"""Edge-only guarantees: durable writes across SIGKILL, one process per shard, threads, HNSW."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import visearch
from tests.store.conftest import DIM, MODEL, DataSet, make_points
from visearch.store.base import Point, StoreError, StoreUnavailableError
from visearch.store.edge import EdgeStore

BACKEND_DIR = Path(visearch.__file__).resolve().parents[1]

CHILD = """
import sys, time
from pathlib import Path
from tests.store.conftest import MODEL, DIM, make_points
from visearch.store.edge import EdgeStore
store = EdgeStore(Path(sys.argv[1]), MODEL, DIM)
if sys.argv[2] == "write":
    data = make_points()
    store.upsert(data.points[:200])
    store.delete(["img-0000"])
    store.upsert(data.points[200:210])
print("ready", flush=True)
time.sleep(120)
"""


@contextmanager
def child(data_dir: Path, mode: str) -> Iterator[subprocess.Popen[str]]:
    """A second process that opens the store (and writes, in "write" mode), says "ready" and
    waits; it is SIGKILLed on exit - no chance to flush or close anything."""
    env = {**os.environ, "PYTHONPATH": str(BACKEND_DIR)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            pytest.fail(f"child failed: {line!r} {proc.communicate()[1][-2000:]}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_writes_survive_sigkill(store_dir: Path, data: DataSet) -> None:
    with child(store_dir, "write") as proc:
        proc.send_signal(signal.SIGKILL)  # right after upsert/delete returned
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    with EdgeStore(store_dir, MODEL, DIM) as store:  # the stale lock file does not block
        assert store.count() == 209
        assert store.get(["img-0000"]) == []
        got = store.get(["img-0209", "img-0100"], with_vectors=True)
        assert [p.id for p in got] == ["img-0209", "img-0100"]
        assert got[0].payload == {**data.points[209].payload, "image_id": "img-0209"}
        np.testing.assert_allclose(got[1].vector, data.matrix[100], atol=1e-6)  # type: ignore[arg-type]
        hits = store.search(data.matrix[150], limit=1)
        assert hits[0].id == "img-0150" and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_second_process_is_refused(store_dir: Path) -> None:
    with child(store_dir, "hold") as proc, pytest.raises(
        StoreUnavailableError, match=rf"another process \(pid {proc.pid}\)"
    ):
        EdgeStore(store_dir, MODEL, DIM)
    with EdgeStore(store_dir, MODEL, DIM) as store:  # free once that process is gone
        assert store.ping()


def test_second_open_in_same_process_is_refused(store_dir: Path) -> None:
    with EdgeStore(store_dir, MODEL, DIM) as store:
        with pytest.raises(StoreUnavailableError, match="in use"):
            EdgeStore(store_dir, MODEL, DIM)
        assert store.ping()


def test_concurrent_threads(store_dir: Path, data: DataSet) -> None:
    """Writers and readers at once, as the API's thread pool does: no errors, nothing lost."""
    errors: list[BaseException] = []

    with EdgeStore(store_dir, MODEL, DIM) as store:

        def write(chunk: list[Point]) -> None:
            try:
                for j in range(0, len(chunk), 10):
                    store.upsert(chunk[j:j + 10])
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            try:
                for q in data.matrix[:40]:
                    assert len(store.search(q, limit=5, flt={"label": "dress"})) <= 5
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(data.points[i::4],)) for i in range(4)]
        threads += [threading.Thread(target=read) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.count() == len(data.points)


def test_optimize_builds_hnsw_that_persists(store_dir: Path) -> None:
    data = make_points(n=600, seed=5)
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=16) as store:
        store.upsert(data.points)
        assert store.stats()["indexed_vectors"] == 0
        assert store.optimize() is True
        assert store.stats()["indexed_vectors"] == 600
        assert store.count() == 600
        recalls = []
        for q in data.matrix[:20] + 0.05:
            exact = [i for i, _ in data.ranking(q)[:10]]
            assert [r.id for r in store.search(q, limit=10, exact=True)] == exact
            approx = [r.id for r in store.search(q, limit=10)]
            recalls.append(len(set(approx) & set(exact)) / 10)
        assert np.mean(recalls) >= 0.9
    with EdgeStore(store_dir, MODEL, DIM, indexing_threshold_kb=16) as store:
        assert store.stats()["indexed_vectors"] == 600  # the index was saved, not rebuilt
        assert store.search(data.matrix[42], limit=1)[0].id == "img-0042"


def test_collection_layout(store_dir: Path) -> None:
    with EdgeStore(store_dir, "org/Model-X", DIM) as store:
        root = store_dir / "collections" / "org-model-x-32"
        assert store.path == root
        assert (root / "collection.json").is_file() and (root / "shard").is_dir()
        assert store.describe()["path"] == str(root)


def test_shard_without_model_record_is_refused(store_dir: Path, data: DataSet) -> None:
    with EdgeStore(store_dir, MODEL, DIM) as store:
        store.upsert(data.points[:3])
        meta = store.path / "collection.json"
    meta.unlink()
    with pytest.raises(StoreError, match="refusing to guess"):
        EdgeStore(store_dir, MODEL, DIM)
    meta.write_text("{not json")
    with pytest.raises(StoreError, match="cannot read"):
        EdgeStore(store_dir, MODEL, DIM)
