"""What a caller attaches to an image: plain JSON within the configured limits, a short valid
label, a file name cleaned rather than refused."""

from __future__ import annotations

from typing import Any

import pytest

from visearch import plainjson
from visearch.config import Settings
from visearch.ingest.metadata import (
    MetadataError,
    MetadataLimits,
    check_label,
    check_metadata,
    clean_text,
)

LIMITS = MetadataLimits(max_bytes=200, max_depth=3, max_keys=5, max_string=20)


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("value", "code", "words"), [
    ([1], "invalid_metadata", "JSON object"),
    ({"x": float("nan")}, "invalid_metadata", "NaN"),
    ({"x": [1, float("-inf")]}, "invalid_metadata", "NaN"),
    ({"x": "\ud800"}, "invalid_metadata", "Unicode"),
    ({"\udfff": 1}, "invalid_metadata", "Unicode"),
    ({"x": 2**63}, "invalid_metadata", "64-bit"),
    ({"x": -(2**63) - 1}, "invalid_metadata", "64-bit"),
    ({"x": b"bytes"}, "invalid_metadata", "not a JSON value"),
    (nested(4), "invalid_metadata", "3 levels"),
    ({f"k{i}": i for i in range(6)}, "invalid_metadata", "6 keys"),
    ({"a": {"b": {"c": 1}}, "d": [{"e": 1, "f": 2}]}, "invalid_metadata", "6 keys"),
    ({"x": "y" * 21}, "invalid_metadata", "21 characters"),
    ({"y" * 21: 1}, "invalid_metadata", "21 characters"),
    ({"a": ["y" * 21]}, "invalid_metadata", "21 characters"),
    ({"a": ["y" * 20] * 9}, "metadata_too_large", "bytes"),
])
def test_metadata_refused(value: Any, code: str, words: str) -> None:
    with pytest.raises(MetadataError, match=words) as err:
        check_metadata(value, LIMITS)
    assert err.value.code == code
    assert err.value.status == (413 if code == "metadata_too_large" else 422)
    err.value.message.encode("utf-8")  # the message itself can always be sent


@pytest.mark.parametrize("value", [
    {}, {"a": 1, "b": [True, None, 1.5]}, nested(3), {"x": 2**63 - 1, "y": -(2**63)},
    {"x": "é" * 20}, {"emoji": "\U0001f600"},
])
def test_metadata_accepted(value: dict[str, Any]) -> None:
    assert check_metadata(value, LIMITS) is value


def test_limits_come_from_the_settings() -> None:
    limits = MetadataLimits.from_settings(Settings(max_metadata_depth=2, max_metadata_keys=9,
                                                   max_metadata_string=7, max_metadata_bytes=99))
    assert limits == MetadataLimits(max_bytes=99, max_depth=2, max_keys=9, max_string=7)
    assert MetadataLimits.from_settings(Settings()) == MetadataLimits()


def test_plain_json_is_iterative_and_bounded_everywhere() -> None:
    deep: list[Any] = []
    for _ in range(50_000):  # far past Python's recursion limit
        deep = [deep]
    assert "nested more than" in (plainjson.problem(deep) or "")
    assert plainjson.problem({"ok": [1, "two", None]}) is None
    assert plainjson.problem(nested(plainjson.MAX_DEPTH)) is None


def test_label() -> None:
    assert check_label(None) is None and check_label("dress") == "dress"
    for bad in ("x" * 257, "a\ud800", 5):
        with pytest.raises(MetadataError) as err:
            check_label(bad)
        assert err.value.code == "invalid_label"


@pytest.mark.parametrize(("raw", "clean"), [
    ("photo.jpg", "photo.jpg"),
    ("caf\udce9.jpg", "caf?.jpg"),  # an undecodable byte from a Linux file name
    ("a\nb\x1b[31m.jpg", "ab[31m.jpg"),
    ("x" * 300, "x" * 255),
    ("\x00", None),
    (None, None),
])
def test_file_names_are_cleaned(raw: str | None, clean: str | None) -> None:
    assert clean_text(raw) == clean
