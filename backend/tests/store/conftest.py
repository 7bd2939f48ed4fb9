"""Fixtures for the store tests: a seeded data set, an oracle for it, and store openers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visearch.store.base import Filter, Point, VectorStore
from visearch.store.edge import EdgeStore
from visearch.store.qdrant import QdrantStore

DIM = 32
MODEL = "test/model-a"
LABELS = ["dress", "skirt", "shirt", None]
CAMERAS = ["Canon EOS R5", "NIKON D750", "Apple iPhone 12"]

Opener = Callable[..., VectorStore]


@dataclass(frozen=True)
class DataSet:
    """Points with varied payloads, and brute-force answers to check every backend against."""

    points: list[Point]
    matrix: np.ndarray  # (n, DIM) unit rows, same order as points

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.points]

    def ranking(
        self, query: np.ndarray, flt: Filter | None = None, exclude: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """All matching points, best first, by exact cosine similarity."""
        scores = self.matrix @ (query / np.linalg.norm(query))
        order = np.argsort(-scores, kind="stable")
        return [
            (self.points[i].id, float(scores[i])) for i in order
            if matches(self.points[i].payload, flt) and self.points[i].id not in (exclude or set())
        ]


def _value(payload: dict[str, Any], key: str) -> Any:
    node: Any = payload
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _in_range(value: Any, cond: dict[str, Any]) -> bool:
    bounds = list(cond.values())
    if all(isinstance(b, str) for b in bounds):  # a datetime range
        if not isinstance(value, str):
            return False
        try:
            v = _instant(value)
        except ValueError:
            return False
        cmp = {op: _instant(b) for op, b in cond.items()}
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return False
    else:
        v, cmp = value, cond
    checks = {"gt": lambda b: v > b, "gte": lambda b: v >= b, "lt": lambda b: v < b,
              "lte": lambda b: v <= b}
    return all(checks[op](b) for op, b in cmp.items())


def matches(payload: dict[str, Any], flt: Filter | None) -> bool:
    """The filter language of store/filters.py, written plainly as the test oracle."""
    for key, cond in (flt or {}).items():
        if key == "not":
            groups = cond if isinstance(cond, list) else [cond]
            if any(matches(payload, g) for g in groups):
                return False
            continue
        value = _value(payload, key)
        if value is None:
            return False
        if isinstance(cond, dict) and set(cond) == {"in"}:
            cond = cond["in"]
        if isinstance(cond, dict):
            if not _in_range(value, cond):
                return False
        elif isinstance(cond, list):
            if value not in cond or isinstance(value, bool):
                return False
        elif isinstance(cond, float):
            if isinstance(value, bool) or value != cond:
                return False
        elif type(value) is not type(cond) or value != cond:
            return False
    return True


def make_points(n: int = 240, seed: int = 0, dim: int = DIM) -> DataSet:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    points = []
    for i in range(n):
        payload: dict[str, Any] = {
            "filename": f"img_{i:04d}.jpg",
            "source": "upload" if i % 3 else "scan",
            "format": "jpeg" if i % 2 else "png",
            "width": 100 + (i * 37) % 1900,
            "height": 80 + (i * 53) % 1200,
            "bytes": 1000 + i * 11,
            "indexed_at": f"2024-01-{1 + i % 28:02d}T00:00:00+00:00",
            "metadata": {"author": ["ann", "bob", "cy"][i % 3], "n": i % 7, "ok": i % 2 == 0},
        }
        if (label := LABELS[i % 4]) is not None:
            payload["label"] = label
        if i % 5:  # EXIF fields, as the indexer writes them (distinct capture times)
            payload["taken_at"] = (f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:"
                                   f"{i % 60:02d}:00+0{i % 3}:00")
            payload["camera"] = CAMERAS[i % 3]
        points.append(Point(f"img-{i:04d}", matrix[i], payload))
    return DataSet(points, matrix)


@pytest.fixture(scope="session")
def data() -> DataSet:
    return make_points()


@pytest.fixture(params=["edge", "qdrant"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs where there is one, else tmp_path.

    Both stores fsync every write; on the shared build machine's disk that makes each test
    take seconds. What the tests check (results, restarts, a killed process) is the same on
    tmpfs; the benchmark measures the real disk.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="visearch-store-", dir=shm))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def open_store(backend: str, store_dir: Path) -> Iterator[Opener]:
    """Open (and later close) a store of the current backend under store_dir; callable again
    to reopen the same collection, as after a restart."""
    opened: list[VectorStore] = []

    def opener(model_id: str = MODEL, dim: int = DIM, **kw: Any) -> VectorStore:
        store: VectorStore
        if backend == "edge":
            store = EdgeStore(store_dir / "data", model_id, dim, **kw)
        else:
            store = QdrantStore(model_id, dim, path=store_dir / "qdrant", **kw)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def filled(open_store: Opener, data: DataSet) -> VectorStore:
    store = open_store()
    store.upsert(data.points)
    return store
