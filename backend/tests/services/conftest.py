"""The indexer and the searcher on real parts (tiny CLIP, edge store, image files, L1 cache),
called directly rather than through HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from visearch.services.indexing import IndexItem


def jpeg(colour: tuple[int, int, int] = (10, 120, 200), size: tuple[int, int] = (32, 24)) -> bytes:
    """A small JPEG (well under any upload limit used here)."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def items(paths: list[Path], **kw: object) -> list[IndexItem]:
    """Index items holding the bytes of ``paths`` (as an upload would)."""
    return [IndexItem(data=p.read_bytes(), filename=p.name, **kw) for p in paths]  # type: ignore[arg-type]


@pytest.fixture
def photos(clothing_images: list[Path]) -> list[Path]:
    """Eight photos from each of three classes: dress, hat, shoes."""
    return [p for cls in ("dress", "hat", "shoes")
            for p in [q for q in clothing_images if q.parent.name == cls][:8]]
