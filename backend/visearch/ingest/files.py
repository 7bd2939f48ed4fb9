"""Stored originals and thumbnails under ``<data_dir>/images``.

File names are the SHA-256 of the image id, sharded by its first two hex characters, so no
id, whatever it holds, can name a path outside the root or collide with a reserved name on
any OS; ids are therefore not checked here (the indexer checks them once, where they enter).
Every file is written to a temporary file, fsynced, then renamed over the target, so a crash
leaves either the old file or the new one, never half a file; ``remove_stale_temp_files``
(run when the runtime starts) deletes the temporary files a crash left behind.

Layout: ``<root>/<h[:2]>/<h>.orig`` (original bytes or a bounded copy; the media type is
read back from the file's magic bytes) and ``<root>/<h[:2]>/<h>.thumb.jpg``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from visearch.ingest.decode import DecodedImage

if TYPE_CHECKING:
    from visearch.config import Settings

THUMBNAIL_MEDIA_TYPE = "image/jpeg"
# Formats every browser shows; others (BMP, TIFF) are always stored as a re-encoded copy.
_BROWSER_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                    "gif": "image/gif"}
_LOSSY_SOURCES = {"jpeg", "webp"}
_TMP_PREFIX = ".tmp-"


class ImageFiles:
    """Originals (bounded to ``stored_max_side``) and JPEG thumbnails, one pair per image id.

    ``save`` encodes images (CPU-bound): call it from a worker thread in async code.
    """

    def __init__(
        self,
        root: Path,
        *,
        stored_max_side: int = 2048,
        thumbnail_size: int = 256,
        fsync: bool = True,
    ) -> None:
        if stored_max_side < 1 or thumbnail_size < 1:
            raise ValueError("stored_max_side and thumbnail_size must be positive")
        self.root = Path(root)
        self.stored_max_side = stored_max_side
        self.thumbnail_size = thumbnail_size
        self._fsync = fsync

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageFiles:
        """``<data_dir>/images`` with the configured size limits."""
        return cls(
            settings.data_dir / "images",
            stored_max_side=settings.stored_image_max_side,
            thumbnail_size=settings.thumbnail_size,
        )

    def save(self, image_id: str, data: bytes, decoded: DecodedImage) -> None:
        """Write the thumbnail, then the original (so ``exists`` implies a thumbnail).

        The original bytes are kept when the browser can show them and the longer side is
        within ``stored_max_side``; otherwise a bounded JPEG (lossy sources) or PNG copy is
        stored. Saving an id again replaces its files.
        """
        orig_path, thumb_path = self._paths(image_id)
        longest = max(decoded.width, decoded.height)
        if decoded.format in _BROWSER_FORMATS and longest <= self.stored_max_side:
            stored: Image.Image = decoded.image
            stored_bytes = data
        else:
            stored = _shrink(decoded.image, self.stored_max_side)
            if decoded.format in _LOSSY_SOURCES:
                stored_bytes = _encode(stored, "JPEG", quality=90)
            else:
                stored_bytes = _encode(stored, "PNG", compress_level=6)
        # The bounded copy (when made) is a cheaper source for the thumbnail.
        thumb = _shrink(stored, self.thumbnail_size)
        thumb_bytes = _encode(thumb, "JPEG", quality=85)

        created = self._ensure_dir(orig_path.parent)
        self._write_atomic(thumb_path, thumb_bytes)
        self._write_atomic(orig_path, stored_bytes)
        if self._fsync:
            _fsync_dir(orig_path.parent)
            if created:
                _fsync_dir(self.root)

    def original(self, image_id: str) -> tuple[Path, str] | None:
        """Path and media type of the stored original, or None when there is none."""
        path, _ = self._paths(image_id)
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except FileNotFoundError:
            return None
        return path, _sniff_media_type(head)

    def thumbnail(self, image_id: str) -> Path | None:
        """Path of the JPEG thumbnail (``THUMBNAIL_MEDIA_TYPE``), or None."""
        _, path = self._paths(image_id)
        return path if path.is_file() else None

    def exists(self, image_id: str) -> bool:
        """True when the image's original is stored."""
        path, _ = self._paths(image_id)
        return path.is_file()

    def delete(self, image_id: str) -> None:
        """Remove the image's files; missing files are fine (delete is idempotent)."""
        orig_path, thumb_path = self._paths(image_id)
        orig_path.unlink(missing_ok=True)
        thumb_path.unlink(missing_ok=True)

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

    def _paths(self, image_id: str) -> tuple[Path, Path]:
        key = hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()
        shard = self.root / key[:2]
        return shard / f"{key}.orig", shard / f"{key}.thumb.jpg"

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


def _sniff_media_type(head: bytes) -> str:
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


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
