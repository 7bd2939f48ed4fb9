"""Shared fixtures: a random-weight CLIP built from the real config, and per-test services."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clip import DATA_DIR, make_clip_dir

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The suite runs the models as before VISEARCH_PRECISION/RUNTIME existed (fp32 on torch), in
# this process and in every server or worker it starts, so results compare exactly across
# processes; tests/models/test_precision.py covers the other precisions and OpenVINO.
os.environ.setdefault("VISEARCH_PRECISION", "fp32")
os.environ.setdefault("VISEARCH_RUNTIME", "torch")
# Starlette's TestClient sends "Host: testserver"; the server answers loopback names only.
os.environ.setdefault("VISEARCH_ALLOWED_HOSTS", "testserver")
# The tiny random-weight CLIP embeds all photos almost alike (cosine ~0.99), so near-duplicate
# detection would flag every image; the tests of that feature turn it on themselves.
os.environ.setdefault("VISEARCH_NEAR_DUPLICATE_DISTANCE", "0")
# Servers the tests stop with SIGTERM stop at once; the drain itself is tested on its own
# (tests/api/test_drain.py) and in the harness (tests/infra, whose stacks get the default).
os.environ.setdefault("VISEARCH_DRAIN_GRACE_S", "0")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip_dir(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def clothing_images() -> list[Path]:
    """A stable sample of real product photos (20 per class of clothing10's train split)."""
    root = DATA_DIR / "clothing10" / "images" / "train"
    if not root.is_dir():
        pytest.fail(f"test data missing: {root} (see ../shared/README.md)")
    out: list[Path] = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        out.extend(sorted(cls.glob("*.jpg"))[:20])
    return out


@pytest.fixture(scope="session")
def tiny_embedder(tiny_clip_dir: Path):  # type: ignore[no-untyped-def]
    from visearch.config import Settings
    from visearch.models.loader import load_embedder

    return load_embedder(Settings(model=str(tiny_clip_dir), model_fallback="", device="cpu",
                                  precision="fp32", runtime="torch"))


@pytest.fixture
def settings(tmp_path: Path, tiny_clip_dir: Path):  # type: ignore[no-untyped-def]
    from visearch.config import Settings

    return Settings(
        model=str(tiny_clip_dir), model_fallback="", device="cpu", data_dir=tmp_path / "data",
        batch_size=16, precision="fp32", runtime="torch",
    )


@pytest.fixture
def runtime(settings, tiny_embedder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from visearch.runtime import Runtime

    svc = Runtime.build(settings, embedder=tiny_embedder)
    yield svc
    svc.close()


@pytest.fixture
def client(runtime):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from visearch.api.app import create_app

    with TestClient(create_app(runtime=runtime)) as c:
        yield c
