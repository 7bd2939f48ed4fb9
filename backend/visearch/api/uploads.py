"""Reading multipart uploads without trusting their size."""

from __future__ import annotations

from fastapi import UploadFile

from visearch.api.errors import ApiError


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """Read at most ``max_bytes``; a larger file is a 413, an empty one a 400."""
    data = await file.read(max_bytes + 1)
    name = file.filename or "upload"
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"{name} is larger than the {max_bytes}-byte limit")
    if not data:
        raise ApiError(400, "empty", f"{name} is empty")
    return data
