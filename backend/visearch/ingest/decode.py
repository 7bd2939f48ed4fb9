"""Turn untrusted upload bytes into an RGB image, or a clear, typed error.

Limits are enforced before pixels are decoded: the byte size first, then the pixel count
read from the header by ``Image.open`` (which does not decode), so a decompression bomb
costs a few microseconds. PIL's globals (``MAX_IMAGE_PIXELS``, ``LOAD_TRUNCATED_IMAGES``)
are only read, never changed: ``LOAD_TRUNCATED_IMAGES`` must stay ``False`` (PIL's
default) so that a truncated file is an error instead of a half-grey picture.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError

SUPPORTED_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "bmp", "tiff")

# PIL format name -> our lower-case name. MPO is a multi-picture JPEG (many cameras).
_PIL_FORMATS: dict[str, str] = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
}
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\x00", b"MM\x00*")
_WHITE = (255, 255, 255)
_DATA_URL = re.compile(r"^data:([^,;]*)((?:;[^,;]*)*),", re.IGNORECASE)


class ImageError(ValueError):
    """Bad image input. ``code`` is for machines, ``status`` is the HTTP status to answer."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.status}, {self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:  # picklable (worker results, process pools)
        return (ImageError, (self.code, self.status, self.message))


@dataclass(frozen=True)
class DecodedImage:
    """An upload decoded to RGB with orientation applied; width/height are after rotation."""

    image: Image.Image
    format: str
    width: int
    height: int
    nbytes: int


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode JPEG/PNG/WebP/GIF/BMP/TIFF bytes to RGB; raise ``ImageError`` on bad input.

    GIF and animated WebP give their first frame; alpha is composited on white; the EXIF
    orientation is applied. CPU-bound: call it from a worker thread in async code. PIL's own
    bomb check still applies on top of ``max_pixels``: above 2 x ``Image.MAX_IMAGE_PIXELS``
    (about 179 Mpx by default) an image is always ``too_many_pixels``.
    """
    if not data:
        raise ImageError("empty", 400, "the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(
            "too_large", 413, f"the image is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    try:
        img = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", 413, f"the image has too many pixels: {exc}") from None
    except UnidentifiedImageError:
        if _has_supported_signature(data):  # e.g. a JPEG cut off inside its header
            raise ImageError(
                "corrupt", 422, "the image is truncated or broken: its header is incomplete"
            ) from None
        raise ImageError(
            "unsupported_format",
            415,
            "not a supported image; supported formats: JPEG, PNG, WebP, GIF, BMP, TIFF",
        ) from None
    except Exception as exc:  # header parsers raise many types on hostile input
        raise ImageError("corrupt", 422, f"the image header is broken: {exc}") from None

    try:
        fmt = _check_header(img, max_pixels)
        img.load()  # the first frame for animations: Image.open leaves frame 0 current
        _apply_orientation(img)
        rgb = _to_rgb(img)
    except ImageError:
        img.close()
        raise
    except Image.DecompressionBombError as exc:
        img.close()
        raise ImageError("too_many_pixels", 413, f"the image has too many pixels: {exc}") from None
    except MemoryError:
        img.close()
        raise ImageError("too_many_pixels", 413, "the image is too large to decode") from None
    except Exception as exc:  # truncated data, broken streams, bad tables, ...
        img.close()
        raise ImageError("corrupt", 422, f"the image data is broken or truncated: {exc}") from None
    if rgb is not img:
        img.close()
    return DecodedImage(image=rgb, format=fmt, width=rgb.width, height=rgb.height, nbytes=len(data))


def decode_base64(s: str, *, max_bytes: int | None = None) -> bytes:
    """Decode plain base64 or a ``data:image/...;base64,`` URL; whitespace is ignored.

    URL-safe characters (``-_``) and missing padding are accepted. ``max_bytes`` rejects an
    oversized payload before decoding it.
    """
    if not isinstance(s, str):
        raise ImageError("invalid_base64", 400, "the image must be a base64 string")
    text = s.strip()
    if text[:5].lower() == "data:":
        match = _DATA_URL.match(text)
        if match is None:
            raise ImageError("invalid_base64", 400, "malformed data URL: no ',' before the data")
        media_type = match.group(1).strip().lower()
        params = [p.strip().lower() for p in match.group(2).split(";") if p.strip()]
        if "base64" not in params:
            raise ImageError("invalid_base64", 400, "the data URL must be base64 (';base64,')")
        if media_type and not media_type.startswith("image/"):
            raise ImageError(
                "invalid_base64", 400, f"the data URL holds {media_type!r}, not an image"
            )
        text = text[match.end() :]
    payload = "".join(text.split())
    if not payload:
        raise ImageError("empty", 400, "the base64 image is empty")
    if max_bytes is not None and (len(payload) // 4) * 3 > max_bytes + 3:
        raise ImageError(
            "too_large",
            413,
            f"the image is about {len(payload) * 3 // 4} bytes; the limit is {max_bytes} bytes",
        )
    payload = payload.replace("-", "+").replace("_", "/")
    payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("invalid_base64", 400, "the image is not valid base64") from None
    if not data:
        raise ImageError("empty", 400, "the base64 image is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError(
            "too_large", 413, f"the image is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    return data


def _has_supported_signature(data: bytes) -> bool:
    """Magic bytes of a supported format (BMP's bare "BM" is too weak to count)."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _check_header(img: Image.Image, max_pixels: int) -> str:
    """Format name and pixel limit from the header alone (nothing is decoded yet)."""
    fmt = _PIL_FORMATS.get(img.format or "")
    if fmt is None:  # a plugin outside our list answered; should not happen
        raise ImageError("unsupported_format", 415, f"{img.format} images are not supported")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError("corrupt", 422, f"the image has an invalid size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            "too_many_pixels",
            413,
            f"the image is {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels} pixels",
        )
    return fmt


def _apply_orientation(img: Image.Image) -> None:
    """Rotate per EXIF; an unreadable EXIF block keeps the stored orientation (many cameras
    write slightly broken EXIF, and refusing those photos would lose good images)."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:
        return


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB version of ``img``: transparency composited on white, high bit depths scaled."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16"):  # 16-bit grey: PIL's convert would clip at 255
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if mode in ("I", "F"):
        lo, hi = cast(tuple[float, float], img.getextrema())  # one band: (min, max)
        if lo < 0 or hi > 255:
            scale = 255 / (hi - lo) if hi > lo else 0.0
            img = img.convert("F").point(lambda v: (v - lo) * scale)
        return img.convert("L").convert("RGB")
    if mode == "RGB":
        return img  # already decoded; a copy would double the peak memory
    return img.convert("RGB")
