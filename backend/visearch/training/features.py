"""Frozen-encoder feature extraction with an on-disk cache, so training runs take seconds.

Features are computed once per (encoder, data, view) and saved as ``.npy`` (float16) under a
cache directory; extraction is resumable chunk by chunk because it is the slow part on CPU.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ImageEncoder = Callable[[list[Image.Image]], np.ndarray]
TextEncoder = Callable[[list[str]], np.ndarray]

#: Views of an image used for training (augmentation) and at test time (flip averaging).
CENTER, FLIP = "center", "flip"


def progress_bar(disable: bool = False) -> Progress:
    """The progress bar used by extraction and training."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=disable,
    )


def cache_key(*parts: object) -> str:
    """Stable short hash of everything that determines a feature file."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def apply_view(image: Image.Image, view: str, seed: int = 0) -> Image.Image:
    """Return ``image`` as seen through ``view``.

    ``center``: unchanged; ``flip``: mirrored left-right; ``crop<k>``: a random crop of
    35-100 % of the area with aspect ratio 3/4..4/3, mirrored with probability 1/2, drawn from
    a generator seeded by (seed, view), so a view is reproducible.
    """
    image = image.convert("RGB")
    if view == CENTER:
        return image
    if view == FLIP:
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if not view.startswith("crop"):
        raise ValueError(f"unknown image view {view!r}")
    rng = random.Random(f"{seed}:{view}")
    w, h = image.size
    for _ in range(10):
        area = w * h * rng.uniform(0.35, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = round((area * ratio) ** 0.5), round((area / ratio) ** 0.5)
        if 0 < cw <= w and 0 < ch <= h:
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            image = image.crop((left, top, left + cw, top + ch))
            break
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def _cached(
    path: Path | None,
    n: int,
    chunk: int,
    compute: Callable[[int, int], np.ndarray],
    description: str,
    quiet: bool,
) -> np.ndarray:
    """Compute rows [0, n) in chunks, keeping finished chunks on disk until all are done."""
    if path is not None and path.is_file():
        return np.load(path)
    parts: list[np.ndarray] = []
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task(description, total=n, info="")
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            part_path = path.with_suffix(f".part{start:07d}.npy") if path else None
            if part_path is not None and part_path.is_file():
                part = np.load(part_path)
            else:
                part = compute(start, stop).astype(np.float16)
                if part_path is not None:
                    part_path.parent.mkdir(parents=True, exist_ok=True)
                    np.save(part_path, part)
            parts.append(part)
            bar.update(task, completed=stop)
    out = np.concatenate(parts) if parts else np.zeros((0, 0), np.float16)
    if path is not None:
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
        for start in range(0, n, chunk):
            path.with_suffix(f".part{start:07d}.npy").unlink(missing_ok=True)
    return out


def image_features(
    encode: ImageEncoder,
    paths: Sequence[Path],
    *,
    view: str = CENTER,
    seed: int = 0,
    batch_size: int = 32,
    cache_dir: Path | None = None,
    encoder_key: str = "",
    quiet: bool = False,
) -> np.ndarray:
    """Encode every image (as seen through ``view``); float16 array (len(paths), dim)."""
    path = None
    if cache_dir is not None:
        key = cache_key(encoder_key, view, seed, [str(p) for p in paths])
        path = Path(cache_dir) / f"img-{view}-{key}.npy"

    def compute(start: int, stop: int) -> np.ndarray:
        rows = []
        for i in range(start, stop, batch_size):
            batch = []
            for j in range(i, min(stop, i + batch_size)):
                with Image.open(paths[j]) as img:
                    batch.append(apply_view(img, view, seed * 1_000_003 + j))
            rows.append(encode(batch))
        return np.concatenate(rows)

    return _cached(path, len(paths), 512, compute, f"images ({view})", quiet)


def text_features(
    encode: TextEncoder,
    texts: Sequence[str],
    *,
    batch_size: int = 128,
    cache_dir: Path | None = None,
    encoder_key: str = "",
    quiet: bool = False,
) -> np.ndarray:
    """Encode texts in batches of similar length (less padding); float16 (len(texts), dim)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"txt-{cache_key(encoder_key, list(texts))}.npy"
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))

    def compute(start: int, stop: int) -> np.ndarray:
        rows = []
        for i in range(start, stop, batch_size):
            idx = order[i : min(stop, i + batch_size)]
            rows.append(encode([texts[k] for k in idx]))
        return np.concatenate(rows)

    sorted_feats = _cached(path and path.with_suffix(".sorted.npy"), len(texts), 4096, compute,
                           "texts", quiet)
    out = np.empty_like(sorted_feats)
    out[np.asarray(order, dtype=np.int64)] = sorted_feats
    return out
