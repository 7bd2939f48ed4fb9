"""What a caller may attach to an image: ``metadata`` (a JSON object), a ``label`` and a
``filename``, checked where they enter, before anything is written.

``metadata`` must be plain JSON (``visearch.plainjson``) within configurable limits: it is
stored with every point and returned with every search result, so its size is paid on every
page. ``label`` is checked like an id (a clear error); ``filename`` comes from file systems and
multipart headers that the caller may not control, so it is cleaned instead of refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from visearch import plainjson
from visearch.errors import VisearchError

if TYPE_CHECKING:
    from visearch.config import Settings

MAX_LABEL_CHARS = 256
MAX_FILENAME_CHARS = 255


class MetadataError(VisearchError, ValueError, code="invalid_metadata", status=422):
    """``metadata`` or ``label`` cannot be stored: not plain JSON, or over a limit."""

    statuses = {"invalid_metadata": 422, "invalid_label": 422, "metadata_too_large": 413}


@dataclass(frozen=True)
class MetadataLimits:
    """The ``VISEARCH_MAX_METADATA_*`` settings."""

    max_bytes: int = 16 * 1024
    max_depth: int = 8
    max_keys: int = 256
    max_string: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings) -> MetadataLimits:
        return cls(
            max_bytes=settings.max_metadata_bytes,
            max_depth=settings.max_metadata_depth,
            max_keys=settings.max_metadata_keys,
            max_string=settings.max_metadata_string,
        )


def check_metadata(value: object, limits: MetadataLimits, name: str = "metadata") -> dict[str, Any]:
    """``value`` if it is a JSON object within ``limits``, else ``MetadataError`` saying why."""
    if not isinstance(value, dict):
        raise MetadataError(f"{name} must be a JSON object")
    reason = plainjson.problem(value, max_depth=limits.max_depth, name=name)
    if reason is not None:
        raise MetadataError(reason)
    keys, stack = 0, list[Any]([value])
    while stack:
        item = stack.pop()
        strings = list(item) if isinstance(item, dict) else []
        keys += len(strings)
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                stack.append(child)
            elif isinstance(child, str):
                strings.append(child)
        longest = max(map(len, strings), default=0)
        if longest > limits.max_string:
            raise MetadataError(
                f"{name} holds a string or key of {longest} characters; the limit is "
                f"{limits.max_string} (VISEARCH_MAX_METADATA_STRING)"
            )
    if keys > limits.max_keys:
        raise MetadataError(
            f"{name} has {keys} keys; the limit is {limits.max_keys} (VISEARCH_MAX_METADATA_KEYS)"
        )
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > limits.max_bytes:
        raise MetadataError(
            f"{name} is {size} bytes as JSON; the limit is {limits.max_bytes} "
            "(VISEARCH_MAX_METADATA_BYTES)", code="metadata_too_large",
        )
    return value


def check_label(label: object) -> str | None:
    """A label is a short, valid Unicode string (or absent)."""
    if label is None:
        return None
    if not isinstance(label, str) or not plainjson.is_unicode(label):
        raise MetadataError(f"label {plainjson.shown(label)} is not valid Unicode text",
                            code="invalid_label")
    if len(label) > MAX_LABEL_CHARS:
        raise MetadataError(f"label has {len(label)} characters; the limit is {MAX_LABEL_CHARS}",
                            code="invalid_label")
    return label


def clean_text(text: str | None, max_chars: int = MAX_FILENAME_CHARS) -> str | None:
    """A file name or path fit to store and show: invalid Unicode replaced (a file system's
    undecodable bytes, a hostile multipart header), control characters dropped, length
    bounded. File names are cleaned rather than refused: the caller may not control them."""
    if text is None:
        return None
    if not plainjson.is_unicode(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:max_chars] or None
