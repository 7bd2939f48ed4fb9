"""Image ids: the caller's own id (checked) or the SHA-256 of the bytes (idempotent)."""

from __future__ import annotations

import hashlib
import re

from visearch.ingest.decode import ImageError

IMAGE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
_IMAGE_ID = re.compile(IMAGE_ID_PATTERN)


def content_id(data: bytes) -> str:
    """SHA-256 hex of the bytes: indexing the same bytes twice gives the same id."""
    return hashlib.sha256(data).hexdigest()


def validate_image_id(s: str) -> str:
    """Return ``s`` if it is a valid image id, else raise ``ImageError`` ``invalid_id`` (422)."""
    if not isinstance(s, str) or _IMAGE_ID.fullmatch(s) is None:
        shown = repr(s) if len(repr(s)) <= 80 else repr(s)[:77] + "..."
        raise ImageError(
            f"invalid image id {shown}: use 1-128 characters from A-Z a-z 0-9 . _ : - "
            "starting with a letter or digit",
            code="invalid_id",
        )
    return s
