"""Reading multipart uploads: files without trusting their size, JSON form fields."""

from __future__ import annotations

import json
from typing import Any

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


def form_json_object(text: str | None, field: str) -> dict[str, Any] | None:
    """A form field that must hold a JSON object (None when absent)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ApiError(400, f"invalid_{field}", f"{field} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ApiError(422, f"invalid_{field}", f"{field} must be a JSON object")
    return value
