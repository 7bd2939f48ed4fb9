"""Image ids: content hashes and the caller-id rule."""

from __future__ import annotations

import hashlib

import pytest

from visearch.ingest.decode import ImageError
from visearch.ingest.ids import content_id, validate_image_id


def test_content_id_is_sha256_hex() -> None:
    data = b"some image bytes"
    assert content_id(data) == hashlib.sha256(data).hexdigest()
    assert content_id(data) == content_id(bytes(data))
    assert content_id(data) != content_id(data + b"\x00")
    assert len(content_id(b"")) == 64
    validate_image_id(content_id(data))  # a content id is itself a valid id


@pytest.mark.parametrize(
    "image_id",
    ["a", "0", "photo-1.jpg", "sku:123:front", "A_b.C-d:e", "x" * 128, "a..b", "C:evil"],
)
def test_valid_ids(image_id: str) -> None:
    assert validate_image_id(image_id) == image_id


@pytest.mark.parametrize(
    "image_id",
    ["", "-a", ".hidden", "_x", "..", "../etc/passwd", "a/b", "a\\b", "a b", "a\n", "\na",
     "x" * 129, "café", "a\x00b", "a%2Fb", "/abs"],
)
def test_invalid_ids(image_id: str) -> None:
    with pytest.raises(ImageError) as info:
        validate_image_id(image_id)
    assert (info.value.code, info.value.status) == ("invalid_id", 422)


def test_non_string_id() -> None:
    with pytest.raises(ImageError) as info:
        validate_image_id(123)  # type: ignore[arg-type]
    assert info.value.code == "invalid_id"


def test_long_id_is_shortened_in_the_message() -> None:
    with pytest.raises(ImageError) as info:
        validate_image_id("!" * 10_000)
    assert len(info.value.message) < 300
