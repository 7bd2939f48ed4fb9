"""Multipart form fields that hold JSON. (Uploaded files are read by ``read_capped`` and
judged by ``decode_image``, like every other image: see ``ingest/decode.py``.)

A form field is parsed by Python's ``json``, which accepts NaN, Infinity, integers of any size
and lone surrogates: such values are refused here like in a JSON body (``visearch.plainjson``).
"""

from __future__ import annotations

import json
from typing import Any

from visearch import plainjson
from visearch.errors import VisearchError


def form_json_object(text: str | None, field: str) -> dict[str, Any] | None:
    """A form field that must hold a JSON object (None when absent)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, huge integers, absurd nesting
        raise VisearchError(
            f"{field} must be a JSON object", code=f"invalid_{field}", status=400
        ) from None
    if not isinstance(value, dict):
        raise VisearchError(f"{field} must be a JSON object", code=f"invalid_{field}", status=422)
    reason = plainjson.problem(value, name=field)
    if reason is not None:
        raise VisearchError(reason, code=f"invalid_{field}", status=422)
    return value
