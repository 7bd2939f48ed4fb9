"""Decoding large images within bounded memory: scaled down at decode time (JPEG draft), the
image's own size still reported, and a shared pixel budget that concurrent decodes wait on."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from tests.ingest.conftest import encode, make_image
from visearch.ingest.decode import SMALL_PIXELS, DecodeBudget, ImageDecoder, decode_image

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 64_000_000}


def _large_jpeg(size: tuple[int, int] = (4000, 3000), orientation: int | None = None) -> bytes:
    img = make_image((200, 150)).resize(size)
    if orientation is None:
        return encode(img, "JPEG", quality=80)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=80, exif=exif.tobytes())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_max_side_scales_down_and_keeps_the_real_size(fmt: str) -> None:
    data = encode(make_image((200, 150)).resize((3000, 2250)), fmt)
    decoded = decode_image(data, max_side=512, **LIMITS)
    assert max(decoded.image.size) == 512
    assert decoded.image.size == (512, 384)
    assert (decoded.width, decoded.height) == (3000, 2250)


def test_rotated_jpeg_reports_the_rotated_size() -> None:
    decoded = decode_image(_large_jpeg(orientation=6), max_side=400, **LIMITS)  # 90 degrees
    assert (decoded.width, decoded.height) == (3000, 4000)
    assert decoded.image.size == (300, 400)


def test_small_images_are_not_touched() -> None:
    data = encode(make_image((64, 48)), "PNG")
    assert decode_image(data, max_side=512, **LIMITS).image.size == (64, 48)


def test_the_budget_bounds_pixels_decoded_at_once() -> None:
    pixels = 4000 * 3000
    budget = DecodeBudget(max_bytes=2 * pixels * 8)  # room for two such images at a time
    decoder = ImageDecoder(LIMITS["max_bytes"], LIMITS["max_pixels"], max_side=256, budget=budget)
    data = _large_jpeg()
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(budget.in_use)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=decoder.decode, args=(data,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    watcher.join()
    assert max(seen) <= budget.capacity == 2 * pixels
    assert max(seen) >= pixels  # decodes did take from it
    assert budget.in_use == 0  # and gave it all back


def test_an_image_larger_than_the_budget_still_decodes_alone() -> None:
    budget = DecodeBudget(max_bytes=SMALL_PIXELS * 8)
    decoded = decode_image(_large_jpeg(), max_side=128, budget=budget, **LIMITS)
    assert max(decoded.image.size) == 128 and budget.in_use == 0
