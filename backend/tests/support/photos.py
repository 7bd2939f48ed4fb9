"""Test photos with EXIF data, made from real photos."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def exif_jpeg(path: Path, when: str | None = None, camera: tuple[str, str] | None = None,
              quality: int = 92) -> bytes:
    """``path`` re-encoded as JPEG with an EXIF capture time (``"2021:07:04 10:30:00"``) and a
    camera (make, model) when given."""
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = camera
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert("RGB").save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()
