"""Find image files under files and folders, in a stable order, for batch indexing."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)

OnError = Callable[[Path, OSError], None]


def is_image_name(name: str | Path) -> bool:
    """True when the file name has an image extension (case-insensitive)."""
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTENSIONS


def iter_image_files(
    paths: Iterable[Path | str], *, on_error: OnError | None = None
) -> Iterator[Path]:
    """Image files named by ``paths`` or found under them, recursively.

    Roots keep the caller's order; inside a folder, files come first (sorted by name), then
    sub-folders (sorted, depth first), so the order is the same on every run. Hidden entries
    (``.name``) met while walking are skipped; a root named explicitly is used even when
    hidden. Symlinks are followed, but each folder is visited once, so loops end. Every path
    is checked before the first result: a missing root raises ``FileNotFoundError`` at once.
    Folders that cannot be read are skipped and reported to ``on_error`` when given.
    """
    roots: list[tuple[Path, os.stat_result]] = []
    for raw in paths:
        root = Path(raw)
        try:
            roots.append((root, root.stat()))
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file or directory: {root}") from None
    seen_dirs: set[tuple[int, int]] = set()
    for root, st in roots:
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, st, seen_dirs, on_error)
        elif stat.S_ISREG(st.st_mode) and is_image_name(root):
            yield root


def count_image_files(paths: Iterable[Path | str]) -> int:
    """How many files ``iter_image_files`` yields (for progress bars); walks the tree once."""
    return sum(1 for _ in iter_image_files(paths))


def _walk(
    root: Path,
    root_stat: os.stat_result,
    seen_dirs: set[tuple[int, int]],
    on_error: OnError | None,
) -> Iterator[Path]:
    key = (root_stat.st_dev, root_stat.st_ino)
    if key in seen_dirs:
        return
    seen_dirs.add(key)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if on_error is not None:
                on_error(folder, exc)
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks; a broken link is neither dir nor file
                    est = entry.stat()
                    key = (est.st_dev, est.st_ino)
                    if key not in seen_dirs:
                        seen_dirs.add(key)
                        subdirs.append(Path(entry.path))
                elif entry.is_file() and is_image_name(entry.name):
                    yield Path(entry.path)
            except OSError as exc:
                if on_error is not None:
                    on_error(Path(entry.path), exc)
        stack.extend(reversed(subdirs))
