"""``open_store`` picks the backend from the settings and passes the index settings on."""

from __future__ import annotations

import json
from pathlib import Path

from visearch.config import load_settings
from visearch.store.edge import EdgeStore
from visearch.store.factory import open_store
from visearch.store.qdrant import QdrantStore


def test_edge_is_the_default(store_dir: Path) -> None:
    settings = load_settings(data_dir=store_dir, hnsw_m=8, hnsw_ef_construct=64)
    with open_store(settings, "org/model", 16) as store:
        assert isinstance(store, EdgeStore)
        assert store.describe() == {"backend": "edge", "collection": "org-model-16",
                                    "model_id": "org/model", "dim": 16,
                                    "path": str(store_dir / "collections" / "org-model-16")}
        shard_cfg = json.loads((store.path / "shard" / "edge_config.json").read_text())
        assert shard_cfg["hnsw_config"]["m"] == 8
        assert shard_cfg["hnsw_config"]["ef_construct"] == 64


def test_qdrant_local_mode(store_dir: Path) -> None:
    settings = load_settings(store="qdrant", qdrant_path=store_dir / "q")
    with open_store(settings, "org/model", 16) as store:
        assert isinstance(store, QdrantStore) and store.local
        assert store.describe()["backend"] == "qdrant"
        assert store.ping()
