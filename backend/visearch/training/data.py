"""Captions JSONL reading for training: one line per image, paths relative to the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class DatasetError(ValueError):
    """The captions file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class CaptionedImage:
    """One image with its captions and split."""

    image: Path
    captions: tuple[str, ...]
    split: str


def load_captions(path: Path, split: str | None = None) -> list[CaptionedImage]:
    """Read a captions JSONL file (``{"image", "captions": [...], "split"?}`` per line).

    Lines without a ``split`` count as ``"train"``. With ``split`` given, only those rows are
    returned. Every referenced image must exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"captions file not found: {path}")
    rows: list[CaptionedImage] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object")
            image, captions = obj.get("image"), obj.get("captions")
            if not isinstance(image, str) or not image:
                raise DatasetError(f"{path}:{lineno}: 'image' must be a non-empty string")
            if (
                not isinstance(captions, list)
                or not captions
                or not all(isinstance(c, str) and c.strip() for c in captions)
            ):
                raise DatasetError(
                    f"{path}:{lineno}: 'captions' must be a non-empty list of non-empty strings"
                )
            row_split = obj.get("split", "train")
            if not isinstance(row_split, str):
                raise DatasetError(f"{path}:{lineno}: 'split' must be a string")
            if split is not None and row_split != split:
                continue
            image_path = (path.parent / image).resolve()
            if not image_path.is_file():
                raise DatasetError(f"{path}:{lineno}: image not found: {image_path}")
            rows.append(CaptionedImage(image_path, tuple(captions), row_split))
    return rows
