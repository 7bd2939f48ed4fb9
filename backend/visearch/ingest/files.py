"""Stored originals and thumbnails under ``<data_dir>/images``.

File names are the SHA-256 of the image id, sharded by its first two hex characters, so no
id, whatever it holds, can name a path outside the root or collide with a reserved name on
any OS; ids are therefore not checked here (the indexer checks them once, where they enter).
Every file is written to a temporary file, fsynced, then renamed over the target, so a crash
leaves either the old file or the new one, never half a file; ``remove_stale_temp_files``
(run when the runtime starts) deletes the temporary files a crash left behind.

Layout: ``<root>/<h[:2]>/<h>.orig`` (original bytes or a bounded copy; the media type is
read back from the file's magic bytes), ``<root>/<h[:2]>/<h>.thumb.jpg`` (``thumbnail_size`` on
the longer side) and ``<h>.thumb2x.jpg`` (twice that, for high-density screens). Images stored
before the large thumbnail existed get it on first request (``large_thumbnail``).

Deleting is two steps, so that a delete failing half-way never leaves files served for an
image that is gone: ``hide`` renames the files to ``*.deleting`` (no longer served), the caller
deletes the vector, then ``delete`` removes them (or ``unhide`` restores them when the vector
could not be deleted). ``sweep`` (at start-up) finishes what a crash interrupted: hidden
files come back when their image is still indexed and go otherwise, and files of images that
are not indexed at all (orphans) are removed.

Disk faults are ``visearch.disk`` errors (507 full, 503 read-only), and ``save`` refuses to
start while less than ``min_free_bytes`` is free.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from PIL import Image

from visearch import disk
from visearch.ingest.decode import DecodedImage, decode_image

if TYPE_CHECKING:
    from visearch.config import Settings

THUMBNAIL_MEDIA_TYPE = "image/jpeg"
#: The two thumbnail sizes the API advertises (``thumbnail_url`` and ``thumbnail_2x_url``).
THUMBNAIL_SIZE = 256
LARGE_THUMBNAIL_SIZE = 2 * THUMBNAIL_SIZE
# Formats every browser shows; others (BMP, TIFF) are always stored as a re-encoded copy.
_BROWSER_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                    "gif": "image/gif"}
_LOSSY_SOURCES = {"jpeg", "webp"}
_TMP_PREFIX = ".tmp-"
_HIDDEN = ".deleting"
_SUFFIXES = (".orig", ".thumb.jpg", ".thumb2x.jpg")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RenderedFiles:
    """The bytes ``ImageFiles.write`` stores for one image."""

    stored: bytes
    thumbnail: bytes
    large: bytes


class ImageFiles:
    """Originals (bounded to ``stored_max_side``) and JPEG thumbnails, one pair per image id.

    ``save`` encodes images (CPU-bound): call it from a worker thread in async code.
    """

    def __init__(
        self,
        root: Path,
        *,
        stored_max_side: int = 2048,
        thumbnail_size: int = THUMBNAIL_SIZE,
        fsync: bool = True,
        min_free_bytes: int = 0,
    ) -> None:
        if stored_max_side < 1 or thumbnail_size < 1:
            raise ValueError("stored_max_side and thumbnail_size must be positive")
        self.root = Path(root)
        self.stored_max_side = stored_max_side
        self.thumbnail_size = thumbnail_size
        self.min_free_bytes = min_free_bytes
        self._fsync = fsync

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageFiles:
        """``<data_dir>/images`` with the configured size limits."""
        return cls(
            settings.data_dir / "images",
            stored_max_side=settings.stored_image_max_side,
            thumbnail_size=settings.thumbnail_size,
            min_free_bytes=settings.min_free_disk_mb * 2**20,
        )

    def save(self, image_id: str, data: bytes, decoded: DecodedImage) -> None:
        """Write the thumbnails, then the original (so ``exists`` implies thumbnails).

        The original bytes are kept when the browser can show them and the longer side is
        within ``stored_max_side``; otherwise a bounded JPEG (lossy sources) or PNG copy is
        stored. Saving an id again replaces its files.
        """
        self.write(image_id, self.render(data, decoded))

    def keeps_original(self, fmt: str, width: int, height: int) -> bool:
        """True when an image of this format and size is stored as its own bytes (then only
        the thumbnails are made from its pixels)."""
        return fmt in _BROWSER_FORMATS and max(width, height) <= self.stored_max_side

    def render(self, data: bytes, decoded: DecodedImage) -> RenderedFiles:
        """The encoded files of ``save`` (CPU only, no I/O: indexing runs it on its decoding
        workers, ahead of the model)."""
        if self.keeps_original(decoded.format, decoded.width, decoded.height):
            stored: Image.Image = decoded.image
            stored_bytes = data
        else:
            stored = _shrink(decoded.image, self.stored_max_side)
            if decoded.format in _LOSSY_SOURCES:
                stored_bytes = _encode(stored, "JPEG", quality=90)
            else:
                stored_bytes = _encode(stored, "PNG", compress_level=6)
        # The bounded copy (when made) is a cheaper source for the thumbnails, and the large
        # thumbnail for the small one.
        large = _shrink(stored, 2 * self.thumbnail_size)
        large_bytes = _encode(large, "JPEG", quality=82)
        thumb_bytes = _encode(_shrink(large, self.thumbnail_size), "JPEG", quality=85)
        return RenderedFiles(stored_bytes, thumb_bytes, large_bytes)

    def write(self, image_id: str, files: RenderedFiles) -> None:
        """Write rendered files: the thumbnails, then the original (atomic, durable)."""
        orig_path, thumb_path, large_path = self._paths(image_id)
        stored_bytes, thumb_bytes, large_bytes = files.stored, files.thumbnail, files.large
        with self._disk_faults("cannot store the image"):
            disk.ensure_free(self.root, self.min_free_bytes, "the image folder's disk")
            created = self._ensure_dir(orig_path.parent)
            self._write_atomic(thumb_path, thumb_bytes)
            self._write_atomic(large_path, large_bytes)
            self._write_atomic(orig_path, stored_bytes)
            if self._fsync:
                _fsync_dir(orig_path.parent)
                if created:
                    _fsync_dir(self.root)

    def original(self, image_id: str) -> tuple[Path, str] | None:
        """Path and media type of the stored original, or None when there is none."""
        path = self._paths(image_id)[0]
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except FileNotFoundError:
            return None
        return path, sniff_media_type(head)

    def thumbnail(self, image_id: str) -> Path | None:
        """Path of the JPEG thumbnail (``THUMBNAIL_MEDIA_TYPE``), or None."""
        path = self._paths(image_id)[1]
        return path if path.is_file() else None

    def large_thumbnail(self, image_id: str) -> Path | None:
        """Path of the thumbnail at twice the size, made from the stored original when it is
        missing (images stored before it existed); None when the image has no original.
        Encodes an image when it makes one: call it from a worker thread in async code."""
        orig_path, _, path = self._paths(image_id)
        if path.is_file():
            return path
        try:
            data = orig_path.read_bytes()
        except FileNotFoundError:
            return None
        # Stored files passed the limits when they were indexed; decoding applies orientation.
        large = decode_image(data, max_bytes=len(data), max_pixels=2**40,
                             max_side=2 * self.thumbnail_size).image
        with self._disk_faults("cannot store the thumbnail"):
            self._write_atomic(path, _encode(large, "JPEG", quality=82))
        return path

    def exists(self, image_id: str) -> bool:
        """True when the image's original is stored."""
        path = self._paths(image_id)[0]
        return path.is_file()

    def delete(self, image_id: str) -> None:
        """Remove the image's files, hidden or not; missing files are fine (idempotent)."""
        with self._disk_faults("cannot delete the image's files"):
            for path in self._paths(image_id):
                path.unlink(missing_ok=True)
                _hidden(path).unlink(missing_ok=True)

    def hide(self, image_id: str) -> None:
        """Stop serving the image's files (renamed to ``*.deleting``), before its vector is
        deleted."""
        with self._disk_faults("cannot delete the image's files"):
            for path in self._paths(image_id):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, _hidden(path))

    def unhide(self, image_id: str) -> None:
        """Serve hidden files again (the vector could not be deleted)."""
        with self._disk_faults("cannot restore the image's files"):
            for path in self._paths(image_id):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(_hidden(path), path)

    def sweep(self, image_ids: Iterable[str], older_than_s: float = 0.0) -> dict[str, int]:
        """Match the files to the indexed ``image_ids``: hidden files of indexed images are
        restored, other hidden files and the files of images not indexed (older than
        ``older_than_s``) are removed. Returns counts; logs each removal."""
        keep = {self._key(i) for i in image_ids}
        cutoff = time.time() - older_than_s
        counts = {"orphans_removed": 0, "hidden_removed": 0, "hidden_restored": 0}
        for path in self._files():
            key = path.name.split(".", 1)[0]
            with contextlib.suppress(FileNotFoundError):
                if path.name.endswith(_HIDDEN):
                    target = path.with_name(path.name.removesuffix(_HIDDEN))
                    if key in keep and not target.exists():
                        os.replace(path, target)
                        counts["hidden_restored"] += 1
                    else:
                        path.unlink()
                        counts["hidden_removed"] += 1
                elif key not in keep and path.stat().st_mtime <= cutoff:
                    path.unlink()
                    counts["orphans_removed"] += 1
                    log.info("orphan_file_removed", file=str(path))
        return counts

    def writable(self) -> bool:
        """True when a file can be written in the image folder right now (``/ready``)."""
        return disk.writable(self.root)

    def _files(self) -> Iterator[Path]:
        """Stored and hidden files (not temporary files: ``remove_stale_temp_files``)."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*"):
            name = path.name.removesuffix(_HIDDEN)
            if not path.name.startswith(_TMP_PREFIX) and name.endswith(_SUFFIXES):
                yield path

    @contextlib.contextmanager
    def _disk_faults(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            fault = disk.as_storage_error(exc, what)
            if fault is None:
                raise
            raise fault from None

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files left by a crash mid-write; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for tmp in self.root.glob(f"*/{_TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed

    @staticmethod
    def _key(image_id: str) -> str:
        return hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()

    def _paths(self, image_id: str) -> tuple[Path, Path, Path]:
        """The original, the thumbnail and the large thumbnail."""
        key = self._key(image_id)
        shard = self.root / key[:2]
        return shard / f"{key}.orig", shard / f"{key}.thumb.jpg", shard / f"{key}.thumb2x.jpg"

    def _ensure_dir(self, path: Path) -> bool:
        if path.is_dir():
            return False
        path.mkdir(parents=True, exist_ok=True)
        return True

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the files from a web server
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` scaled down so its longer side is at most ``max_side`` (never enlarged)."""
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Image.Image, fmt: str, **options: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def sniff_media_type(head: bytes) -> str:
    """Media type from magic bytes; stored files are only ever these four formats."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _hidden(path: Path) -> Path:
    return path.with_name(path.name + _HIDDEN)


def _fsync_dir(path: Path) -> None:
    """``disk.fsync_dir``, best effort: a no-op where directories can't be opened or synced."""
    with contextlib.suppress(OSError):
        disk.fsync_dir(path)
