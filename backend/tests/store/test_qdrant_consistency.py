"""Read consistency and write ordering reach every qdrant-client call (a recording client in
front of local mode): VISEARCH_READ_CONSISTENCY and VISEARCH_WRITE_ORDERING (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.store.conftest import DIM, MODEL, DataSet
from visearch.config import Settings
from visearch.store.factory import open_store
from visearch.store.qdrant import QdrantStore, read_consistency_of
from visearch.store.query import OrderBy, StoreQuery

READS = {"query_points", "query_batch_points", "retrieve", "scroll", "facet", "search",
         "search_batch", "recommend", "discover"}
WRITES = {"upsert", "delete", "set_payload", "overwrite_payload", "delete_payload",
          "clear_payload", "update_vectors", "delete_vectors", "batch_update_points"}
#: Calls that take neither (collection admin, and count, which qdrant-client 1.20 offers
#: no consistency for).
NEITHER = {"collection_exists", "get_collection", "create_collection", "create_payload_index",
           "count", "close"}


class Recording:
    """The real client, with every method call recorded as (name, kwargs)."""

    def __init__(self, inner: QdrantClient) -> None:
        self.inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[QdrantStore, Recording]]:
    store = QdrantStore(MODEL, DIM, path=tmp_path / "q", read_consistency="majority",
                        write_ordering="strong")
    spy = Recording(store._client)  # type: ignore[arg-type]
    store._client = spy  # type: ignore[assignment]
    yield store, spy
    store._client = spy.inner
    store.close()


def test_every_read_and_write_carries_the_cluster_settings(
    recorded: tuple[QdrantStore, Recording], data: DataSet,
) -> None:
    store, spy = recorded
    store.upsert(data.points[:40])
    query = data.matrix[0]
    store.get([p.id for p in data.points[:3]], with_vectors=True)
    store.search(query, 5, flt={"format": "png"})
    store.search_by_ids([data.points[1].id], 5)
    store.query(StoreQuery(scoring=np.asarray(query), limit=5,
                           order_by=OrderBy("indexed_at", descending=True)))
    store.facet("format")
    page, cursor = store.browse(10)
    assert len(page) == 10 and cursor is not None
    store.browse(10, cursor=cursor)
    store.count()
    store.delete([data.points[0].id])

    names = {name for name, _ in spy.calls}
    assert names <= READS | WRITES | NEITHER, names - (READS | WRITES | NEITHER)
    assert {"query_points", "retrieve", "scroll", "facet", "upsert", "delete"} <= names
    for name, kwargs in spy.calls:
        if name in READS:
            assert kwargs.get("consistency") == models.ReadConsistencyType.MAJORITY, name
        if name in WRITES:
            assert kwargs.get("ordering") == models.WriteOrdering.STRONG, name


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (2, 2), ("3", 3), ("majority", models.ReadConsistencyType.MAJORITY),
    ("quorum", models.ReadConsistencyType.QUORUM), ("all", models.ReadConsistencyType.ALL),
])
def test_read_consistency_maps_to_qdrant_client(value: int | str | None, expected: object) -> None:
    assert read_consistency_of(value) == expected


def test_settings_reach_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISEARCH_READ_CONSISTENCY", "quorum")
    monkeypatch.setenv("VISEARCH_WRITE_ORDERING", "medium")
    settings = Settings(store="qdrant", qdrant_path=tmp_path / "q", _env_file=None)  # type: ignore[call-arg]
    with open_store(settings, MODEL, DIM) as store:
        assert isinstance(store, QdrantStore)
        assert store._reads() == {"consistency": models.ReadConsistencyType.QUORUM}
        assert store._writes() == {"ordering": models.WriteOrdering.MEDIUM}
    monkeypatch.setenv("VISEARCH_READ_CONSISTENCY", "0")
    with pytest.raises(ValueError, match="read_consistency"):
        Settings(_env_file=None)  # type: ignore[call-arg]
