"""Query images kept for a while under a content-derived id."""

from __future__ import annotations

import os
import time
from pathlib import Path

from visearch.ingest.queries import QueryImages, is_query_id


def test_same_bytes_same_id_and_storing_again_keeps_it_longer(tmp_path: Path) -> None:
    store = QueryImages(tmp_path, ttl_s=100)
    query_id, expires = store.put(b"image bytes")
    assert is_query_id(query_id)
    assert store.put(b"image bytes")[0] == query_id
    assert store.put(b"other bytes")[0] != query_id
    found = store.get(query_id)
    assert found is not None and found[0] == b"image bytes" and found[1] >= expires
    path = tmp_path / query_id[:2] / query_id
    old = time.time() - 90
    os.utime(path, (old, old))
    _, later = store.put(b"image bytes")
    assert later > old + 100
    assert store.get(query_id) is not None


def test_expired_images_are_gone_and_swept(tmp_path: Path) -> None:
    store = QueryImages(tmp_path, ttl_s=100)
    stale, _ = store.put(b"stale")
    fresh, _ = store.put(b"fresh")
    old = time.time() - 101
    os.utime(tmp_path / stale[:2] / stale, (old, old))
    assert store.sweep() == 1
    assert store.get(stale) is None
    assert store.get(fresh) is not None


def test_ids_that_are_not_ours_are_never_paths(tmp_path: Path) -> None:
    store = QueryImages(tmp_path / "q")
    (tmp_path / "secret").write_bytes(b"x")
    for bad in ("../secret", "/etc/passwd", "A" * 32, "0" * 31, ""):
        assert not is_query_id(bad)
        assert store.get(bad) is None
