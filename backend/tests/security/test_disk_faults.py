"""Disk faults on a real, small file system: a full data dir answers 507 ``storage_full``, a
read-only image folder 503 ``storage_read_only``, ``/ready`` says ``degraded`` meanwhile,
searches keep working, and everything recovers without a restart; a full disk at start is
one line, not a traceback. Nothing is lost, duplicated or left orphaned on the way.

Mounting needs root (CI runs as root); elsewhere these tests are skipped.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support.server import REPO
from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")

RESERVE_MB = 4


def _jpeg(seed: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (seed % 256, (seed * 7) % 256, 90)).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs of its own (so filling it touches nothing else)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    _run("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def _fill(path: Path, leave_bytes: int) -> Path:
    """Fill the file system holding ``path`` until about ``leave_bytes`` are free."""
    filler = path / "filler"
    with filler.open("wb") as f:
        while True:
            st = os.statvfs(path)
            free = st.f_bavail * st.f_frsize
            if free <= leave_bytes:
                break
            try:
                f.write(b"\0" * min(1 << 20, max(4096, free - leave_bytes)))
                f.flush()
            except OSError:
                break
    return filler


@pytest.fixture
def served(small_fs: Path, tiny_embedder: Any) -> Iterator[tuple[TestClient, Runtime]]:
    settings = Settings(model="tiny", model_fallback="", device="cpu", data_dir=small_fs / "data",
                        batch_size=8, min_free_disk_mb=RESERVE_MB)
    with closing(Runtime.build(settings, embedder=tiny_embedder)) as runtime, \
            TestClient(create_app(runtime=runtime)) as client:
        yield client, runtime


def _index(client: TestClient, seed: int) -> Any:
    return client.post("/api/v1/index", json={"image_data": _jpeg(seed), "image_id": f"img-{seed}"})


def _state(runtime: Runtime) -> tuple[int, set[str]]:
    """Points, and the image ids that have files (hidden ones included)."""
    names = {p.name.split(".", 1)[0] for p in runtime.files.root.rglob("*") if p.is_file()}
    return runtime.store.count(), names


def _files_of(runtime: Runtime, image_id: str) -> str:
    return runtime.files._key(image_id)


def test_full_disk_answers_507_degrades_ready_and_recovers(
    served: tuple[TestClient, Runtime], small_fs: Path
) -> None:
    client, runtime = served
    assert _index(client, 1).status_code == 200
    for reserve_only in (True, False):  # under the reserve; then really full (ENOSPC)
        if not reserve_only:
            runtime.files.min_free_bytes = 0  # the image write itself meets the full disk
        filler = _fill(small_fs, (RESERVE_MB - 1) * 2**20 if reserve_only else 0)
        before = _state(runtime)
        resp = _index(client, 2)
        assert resp.status_code == 507, resp.text
        assert resp.json()["error"]["code"] == "storage_full"
        assert _state(runtime) == before  # no point, no orphan file
        ready = client.get("/api/v1/ready").json()
        assert ready["status"] == "degraded" and ready["checks"]["disk"]["status"] == "full"
        assert client.post("/api/v1/search", json={"text": "a photo"}).status_code == 200
        filler.unlink()  # space again: no restart
        assert client.get("/api/v1/ready").json()["checks"]["disk"]["status"] == "ok"
        resp = _index(client, 2)
        assert resp.status_code == 200 and resp.json()["results"][0]["status"] == "indexed"
        assert client.delete("/api/v1/images/img-2").status_code == 200
        runtime.files.min_free_bytes = RESERVE_MB * 2**20
    count, with_files = _state(runtime)
    assert count == 1 and with_files == {_files_of(runtime, "img-1")}  # lost 0, orphaned 0


def test_read_only_image_folder_answers_503_and_a_failed_delete_serves_nothing_gone(
    served: tuple[TestClient, Runtime]
) -> None:
    client, runtime = served
    assert _index(client, 1).status_code == 200
    images = runtime.files.root
    _run("mount", "--bind", str(images), str(images))
    try:
        _run("mount", "-o", "remount,bind,ro", str(images))
        before = _state(runtime)
        resp = _index(client, 2)
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "storage_read_only"
        deleted = client.delete("/api/v1/images/img-1")
        assert deleted.status_code == 503, deleted.text
        # Either both are gone or both are there: never a file served for a deleted image.
        indexed = client.get("/api/v1/images/img-1/info").status_code == 200
        served_file = client.get("/api/v1/images/img-1").status_code == 200
        assert indexed and served_file
        assert _state(runtime) == before
        ready = client.get("/api/v1/ready").json()
        assert ready["status"] == "degraded" and ready["checks"]["disk"]["writable"] is False
    finally:
        _run("umount", str(images))
    assert client.get("/api/v1/ready").json()["checks"]["disk"]["status"] == "ok"
    assert _index(client, 2).status_code == 200
    assert client.delete("/api/v1/images/img-1").status_code == 200
    assert client.get("/api/v1/images/img-1").status_code == 404
    count, with_files = _state(runtime)
    assert count == 1 and with_files == {_files_of(runtime, "img-2")}


def test_full_disk_at_start_is_one_line(small_fs: Path, tiny_clip_dir: Path) -> None:
    _fill(small_fs, 0)
    env = {**os.environ, "PYTHONPATH": str(REPO / "backend"), "VISEARCH_MODEL": str(tiny_clip_dir),
           "VISEARCH_MODEL_FALLBACK": "", "VISEARCH_DEVICE": "cpu",
           "VISEARCH_DATA_DIR": str(small_fs / "data"), "VISEARCH_LOG_LEVEL": "WARNING",
           "VISEARCH_PORT": "1"}
    proc = subprocess.run([sys.executable, "-m", "visearch.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split("error:", 1)[-1].split())  # the console wraps it
    assert proc.stderr.count("error:") == 1 and "the disk is full" in message, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
