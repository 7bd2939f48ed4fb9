"""Turn untrusted upload bytes into an RGB image, or a clear, typed error.

Limits are enforced here, before pixels are decoded: the byte size first (``decode_image``
is the one place that decides it; readers of uploads and files only stop one byte past it,
``read_capped``), then the pixel count read from the header by ``Image.open`` (which does
not decode), so a decompression bomb costs a few microseconds. PIL's globals
(``MAX_IMAGE_PIXELS``, ``LOAD_TRUNCATED_IMAGES``) are only read, never changed:
``LOAD_TRUNCATED_IMAGES`` must stay ``False`` (PIL's default) so that a truncated file is an
error instead of a half-grey picture.

Memory: a 64-megapixel image is 192 MB of RGB once decoded, and a batch holds many. With
``max_side`` the image is scaled down right after decoding (JPEGs are decoded at a reduced
scale to begin with, PIL's ``draft``), and a ``DecodeBudget`` bounds the pixels being decoded
at once: large images wait their turn instead of pushing the process out of memory.
``ImageDecoder`` bundles the configured limits; the indexer and the search route use it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, cast

from PIL import Image, ImageOps, UnidentifiedImageError

from visearch.errors import VisearchError

if TYPE_CHECKING:
    from visearch.config import Settings

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
#: Peak bytes per pixel while decoding (RGBA, plus the RGB copy made from it).
BYTES_PER_PIXEL = 8
#: Images up to this many pixels decode without taking from the budget (a phone photo).
SMALL_PIXELS = 4_000_000


class ImageError(VisearchError, ValueError):
    """Bad image input; ``code`` says what is wrong and sets the status (see ``statuses``)."""

    statuses = {
        "empty": 400,
        "invalid_base64": 400,
        "unreadable": 400,
        "too_large": 413,
        "too_many_pixels": 413,
        "unsupported_format": 415,
        "corrupt": 422,
        "invalid_id": 422,
    }


class DecodeBudget:
    """How many pixels may be decoded at once, across threads.

    A decode of more than ``SMALL_PIXELS`` takes its pixel count (at most the whole budget, so
    any single allowed image can still be decoded alone) and waits while the budget is spent.
    """

    def __init__(self, max_bytes: int) -> None:
        self.capacity = max(max_bytes // BYTES_PER_PIXEL, SMALL_PIXELS)
        self._available = self.capacity
        self._cond = threading.Condition()

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeBudget:
        """``VISEARCH_DECODE_MEMORY_MB``, or an eighth of the memory (256 MB to 2 GB)."""
        mb = settings.decode_memory_mb or min(max(_memory_bytes() // 8 // 2**20, 256), 2048)
        return cls(mb * 2**20)

    @contextlib.contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        need = min(pixels, self.capacity) if pixels > SMALL_PIXELS else 0
        with self._cond:
            self._cond.wait_for(lambda: self._available >= need)
            self._available -= need
        try:
            yield
        finally:
            with self._cond:
                self._available += need
                self._cond.notify_all()

    @property
    def in_use(self) -> int:
        """Pixels being decoded right now (for tests and metrics)."""
        with self._cond:
            return self.capacity - self._available


def _memory_bytes() -> int:
    """The memory this process may use: the cgroup limit when there is one, else the RAM."""
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()  # noqa: SIM115
        if limit.isdigit():
            return int(limit)
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass(frozen=True)
class DecodedImage:
    """An upload decoded to RGB with orientation applied; width/height are after rotation and
    before any downscaling (the image's own size), ``image`` may be smaller (``max_side``)."""

    image: Image.Image
    format: str
    width: int
    height: int
    nbytes: int


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    max_side: int | None = None,
    budget: DecodeBudget | None = None,
) -> DecodedImage:
    """Decode JPEG/PNG/WebP/GIF/BMP/TIFF bytes to RGB; raise ``ImageError`` on bad input.

    GIF and animated WebP give their first frame; alpha is composited on white; the EXIF
    orientation is applied. CPU-bound: call it from a worker thread in async code. PIL's own
    bomb check still applies on top of ``max_pixels``: above 2 x ``Image.MAX_IMAGE_PIXELS``
    (about 179 Mpx by default) an image is always ``too_many_pixels``. ``max_side`` scales the
    result down to that longer side; ``budget`` bounds concurrent large decodes.
    """
    if not data:
        raise ImageError("the image is empty (0 bytes)", code="empty")
    if len(data) > max_bytes:
        raise ImageError(
            f"the image is larger than the {max_bytes}-byte limit (VISEARCH_MAX_UPLOAD_BYTES)",
            code="too_large",
        )
    try:
        img = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"the image has too many pixels: {exc}", code="too_many_pixels") from None
    except UnidentifiedImageError:
        if _has_supported_signature(data):  # e.g. a JPEG cut off inside its header
            raise ImageError(
                "the image is truncated or broken: its header is incomplete", code="corrupt"
            ) from None
        raise ImageError(
            "not a supported image; supported formats: JPEG, PNG, WebP, GIF, BMP, TIFF",
            code="unsupported_format",
        ) from None
    except Exception as exc:  # header parsers raise many types on hostile input
        raise ImageError(f"the image header is broken: {exc}", code="corrupt") from None

    try:
        fmt = _check_header(img, max_pixels)
        width, height = img.size
        with budget.reserve(width * height) if budget else contextlib.nullcontext():
            if max_side is not None and fmt == "jpeg":
                img.draft("RGB", _fit(img.size, max_side))  # decode at 1/2, 1/4 or 1/8 scale
            img.load()  # the first frame for animations: Image.open leaves frame 0 current
            loaded = img.size
            _apply_orientation(img)
            if img.size != loaded:  # rotated by 90 degrees
                width, height = height, width
            rgb = _to_rgb(img)
            if max_side is not None and max(rgb.size) > max_side:
                small = rgb.resize(_fit(rgb.size, max_side), Image.Resampling.LANCZOS,
                                   reducing_gap=3.0)
                if rgb is not img:
                    rgb.close()
                rgb = small
    except ImageError:
        img.close()
        raise
    except Image.DecompressionBombError as exc:
        img.close()
        raise ImageError(f"the image has too many pixels: {exc}", code="too_many_pixels") from None
    except MemoryError:
        img.close()
        raise ImageError("the image is too large to decode", code="too_many_pixels") from None
    except Exception as exc:  # truncated data, broken streams, bad tables, ...
        img.close()
        raise ImageError(f"the image data is broken or truncated: {exc}", code="corrupt") from None
    if rgb is not img:
        img.close()
    return DecodedImage(image=rgb, format=fmt, width=width, height=height, nbytes=len(data))


@dataclass(frozen=True)
class ImageDecoder:
    """``decode_image`` with the configured limits: the byte and pixel limits, the size images
    are kept at (``VISEARCH_STORED_IMAGE_MAX_SIDE``) and the shared ``DecodeBudget``."""

    max_bytes: int
    max_pixels: int
    max_side: int | None = None
    budget: DecodeBudget | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageDecoder:
        return cls(settings.max_upload_bytes, settings.max_pixels,
                   settings.stored_image_max_side, DecodeBudget.from_settings(settings))

    def decode(self, data: bytes, max_side: int | None = None) -> DecodedImage:
        """``max_side``: a smaller longer side than the configured one, for callers that
        need fewer pixels (the indexer when the original bytes are what is stored)."""
        side = self.max_side if max_side is None else min(max_side, self.max_side or max_side)
        return decode_image(data, max_bytes=self.max_bytes, max_pixels=self.max_pixels,
                            max_side=side, budget=self.budget)


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled so its longer side is ``max_side`` (never below 1 pixel)."""
    width, height = size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_capped(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read at most one byte more than ``max_bytes``: enough for ``decode_image`` to reject an
    oversized image, without holding the rest of it in memory. Blocking: use a worker thread."""
    return stream.read(max_bytes + 1)


def decode_base64(s: str) -> bytes:
    """Decode plain base64 or a ``data:image/...;base64,`` URL; whitespace is ignored.

    URL-safe characters (``-_``) and missing padding are accepted. The size limit is
    ``decode_image``'s (the request body is already bounded by the app).
    """
    if not isinstance(s, str):
        raise ImageError("the image must be a base64 string", code="invalid_base64")
    text = s.strip()
    if text[:5].lower() == "data:":
        match = _DATA_URL.match(text)
        if match is None:
            raise ImageError("malformed data URL: no ',' before the data", code="invalid_base64")
        media_type = match.group(1).strip().lower()
        params = [p.strip().lower() for p in match.group(2).split(";") if p.strip()]
        if "base64" not in params:
            raise ImageError("the data URL must be base64 (';base64,')", code="invalid_base64")
        if media_type and not media_type.startswith("image/"):
            raise ImageError(f"the data URL holds {media_type!r}, not an image", code="invalid_base64")
        text = text[match.end() :]
    payload = "".join(text.split())
    if not payload:
        raise ImageError("the base64 image is empty", code="empty")
    payload = payload.replace("-", "+").replace("_", "/")
    payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("the image is not valid base64", code="invalid_base64") from None
    if not data:
        raise ImageError("the base64 image is empty", code="empty")
    return data


def _has_supported_signature(data: bytes) -> bool:
    """Magic bytes of a supported format (BMP's bare "BM" is too weak to count)."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _check_header(img: Image.Image, max_pixels: int) -> str:
    """Format name and pixel limit from the header alone (nothing is decoded yet)."""
    fmt = _PIL_FORMATS.get(img.format or "")
    if fmt is None:  # a plugin outside our list answered; should not happen
        raise ImageError(f"{img.format} images are not supported", code="unsupported_format")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError(f"the image has an invalid size {width}x{height}", code="corrupt")
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels} pixels",
            code="too_many_pixels",
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
