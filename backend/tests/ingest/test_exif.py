"""EXIF fields for the payload: capture time (with and without the camera's offset), camera
names, GPS; whatever is missing or malformed is left out, never an error."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from visearch.ingest.exif import exif_payload


def jpeg(tags: dict[int, Any] | None = None, exif_ifd: dict[int, Any] | None = None,
         gps: dict[int, Any] | None = None, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    for tag, value in (tags or {}).items():
        exif[tag] = value
    for tag, value in (exif_ifd or {}).items():
        exif.get_ifd(0x8769)[tag] = value
    for tag, value in (gps or {}).items():
        exif.get_ifd(0x8825)[tag] = value
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 120, 30)).save(buf, fmt, exif=exif)
    return buf.getvalue()


def test_everything_a_camera_writes() -> None:
    data = jpeg({0x010F: "NIKON CORPORATION", 0x0110: "NIKON D750"},
                {0x9003: "2021:07:04 10:30:00", 0x9011: "+02:00"},
                {1: "N", 2: (52.0, 31.0, 12.0), 3: "W", 4: (13.0, 24.0, 0.5)})
    assert exif_payload(data) == {
        "taken_at": "2021-07-04T10:30:00+02:00",
        "camera_make": "NIKON CORPORATION", "camera_model": "NIKON D750",
        "camera": "NIKON D750",
        "gps": {"lat": 52.52, "lon": -13.4001389},
    }


@pytest.mark.parametrize(("tags", "exif_ifd", "expected"), [
    # no offset: the camera's clock, recorded as UTC
    ({}, {0x9003: "2019:12:31 23:59:59"}, {"taken_at": "2019-12-31T23:59:59+00:00"}),
    # digitized when the original time is missing; the IFD0 DateTime as the last resort
    ({}, {0x9004: "2018:01:02 03:04:05"}, {"taken_at": "2018-01-02T03:04:05+00:00"}),
    ({0x0132: "2017:05:06 07:08:09"}, {}, {"taken_at": "2017-05-06T07:08:09+00:00"}),
    # placeholders and garbage are left out
    ({}, {0x9003: "0000:00:00 00:00:00"}, {}),
    ({}, {0x9003: "yesterday"}, {}),
    ({}, {0x9003: "2021:07:04 10:30:00", 0x9011: "bogus"}, {"taken_at": "2021-07-04T10:30:00+00:00"}),
    # a make that is not repeated in the model is kept in the name; either alone names it
    ({0x010F: "Apple", 0x0110: "iPhone 12"}, {}, {"camera_make": "Apple",
                                                  "camera_model": "iPhone 12",
                                                  "camera": "Apple iPhone 12"}),
    ({0x010F: "Canon\x00\x00 "}, {}, {"camera_make": "Canon", "camera": "Canon"}),
])
def test_partial_and_odd_exif(tags: dict[int, Any], exif_ifd: dict[int, Any],
                              expected: dict[str, Any]) -> None:
    assert exif_payload(jpeg(tags, exif_ifd)) == expected


def test_gps_out_of_range_or_no_fix_is_left_out() -> None:
    assert "gps" not in exif_payload(jpeg(gps={1: "N", 2: (95.0, 0.0, 0.0), 3: "E",
                                               4: (1.0, 0.0, 0.0)}))
    assert "gps" not in exif_payload(jpeg(gps={1: "N", 2: (0.0, 0.0, 0.0), 3: "E",
                                               4: (0.0, 0.0, 0.0)}))
    south = exif_payload(jpeg(gps={1: "S", 2: (33.0, 52.0, 0.0), 3: "E", 4: (151.0, 12.0, 36.0)}))
    assert south["gps"] == {"lat": pytest.approx(-33.8666667), "lon": pytest.approx(151.21)}


def test_images_without_exif(clothing_images: list[Path]) -> None:
    assert exif_payload(clothing_images[0].read_bytes()) == {}
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    assert exif_payload(buf.getvalue()) == {}
    assert exif_payload(b"not an image") == {}
    assert exif_payload(b"") == {}
