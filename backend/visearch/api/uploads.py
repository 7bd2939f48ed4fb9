"""Multipart form fields that hold JSON. (Uploaded files are read by ``read_capped`` and
judged by ``decode_image``, like every other image: see ``ingest/decode.py``.)"""

from __future__ import annotations

import json
from typing import Any

from visearch.errors import VisearchError


def form_json_object(text: str | None, field: str) -> dict[str, Any] | None:
    """A form field that must hold a JSON object (None when absent)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise VisearchError(
            f"{field} must be a JSON object", code=f"invalid_{field}", status=400
        ) from None
    if not isinstance(value, dict):
        raise VisearchError(f"{field} must be a JSON object", code=f"invalid_{field}", status=422)
    return value
