"""What a photo's EXIF data says about it, as payload fields: when it was taken, with which
camera, where.

* ``taken_at``: ``DateTimeOriginal`` (else ``DateTimeDigitized``, else ``DateTime``) as an ISO
  8601 date-time. With the camera's ``OffsetTimeOriginal`` (EXIF 2.31) it keeps that offset;
  without one the camera's local time is recorded as if it were UTC (EXIF has no time zone),
  so dates sort and filter as the photographer saw them.
* ``camera_make``, ``camera_model``, and ``camera``: the two as one readable name ("Canon EOS
  R5", not "Canon Canon EOS R5").
* ``gps``: ``{"lat", "lon"}`` in decimal degrees (Qdrant's geo format).

Only the header is parsed (``Image.open`` does not decode pixels). Anything missing,
malformed or out of range is left out: EXIF written by odd software never fails an upload.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import ExifTags, Image

from visearch.ingest.metadata import clean_text

_DATE_TAGS_EXIF = (0x9003, 0x9004)  # DateTimeOriginal, DateTimeDigitized
_OFFSET_TAGS = {0x9003: 0x9011, 0x9004: 0x9012}  # their OffsetTime* tags
_DATETIME = 0x0132
_MAKE, _MODEL = 0x010F, 0x0110
_MAX_TEXT = 128


def exif_payload(data: bytes) -> dict[str, Any]:
    """The EXIF fields above found in ``data`` (an image's bytes); {} when there are none."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            out: dict[str, Any] = {}
            if taken := _taken_at(exif):
                out["taken_at"] = taken
            out.update(_camera(exif))
            if gps := _gps(exif):
                out["gps"] = gps
            return out
    except Exception:  # malformed EXIF is the file's problem, never the upload's
        return {}


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = clean_text(value.replace("\x00", " "), _MAX_TEXT) or ""
    return " ".join(text.split()) or None


def _taken_at(exif: Image.Exif) -> str | None:
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    for tag in _DATE_TAGS_EXIF:
        if (found := _parse_date(ifd.get(tag), ifd.get(_OFFSET_TAGS[tag]))) is not None:
            return found
    return _parse_date(exif.get(_DATETIME), None)


def _parse_date(value: object, offset: object) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        taken = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not 1900 <= taken.year <= 2200:  # "0000:00:00 00:00:00" and other placeholders
        return None
    tz = UTC
    if (off := _text(offset)) and len(off) == 6 and off[0] in "+-" and off[3] == ":":
        try:
            delta = timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
            tz = timezone(delta if off[0] == "+" else -delta)
        except ValueError:
            tz = UTC
    return taken.replace(tzinfo=tz).isoformat()


def _camera(exif: Image.Exif) -> dict[str, str]:
    make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
    out: dict[str, str] = {}
    if make:
        out["camera_make"] = make
    if model:
        out["camera_model"] = model
    if make and model:
        # "NIKON CORPORATION" + "NIKON D750" -> "NIKON D750"; "Apple" + "iPhone 12" -> both
        first = make.split()[0].lower()
        out["camera"] = model if model.lower().startswith(first) else f"{make} {model}"
    elif make or model:
        out["camera"] = make or model or ""
    return out


def _degrees(value: object, ref: object, limit: float) -> float | None:
    try:
        d, m, s = (float(x) for x in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    if _text(ref) in ("S", "W"):
        deg = -deg
    if not math.isfinite(deg) or abs(deg) > limit:
        return None
    return round(deg, 7)


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if not gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), 90.0)
    lon = _degrees(gps.get(4), gps.get(3), 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):  # 0,0: no fix
        return None
    return {"lat": lat, "lon": lon}
