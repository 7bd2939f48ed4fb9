"""Near-duplicates: resized, re-encoded, slightly cropped, flipped or rotated copies of an
image, found by the cosine distance of their embeddings (exact copies are caught earlier by
content hashes).

* At index time (``find_near_duplicates``): a new image within
  ``VISEARCH_NEAR_DUPLICATE_DISTANCE`` of an indexed one, or of an earlier image of the same
  batch, is a near-duplicate of it; ``VISEARCH_NEAR_DUPLICATE_ACTION`` says whether it is
  linked (payload ``duplicate_of``), skipped or indexed as new.
* ``duplicates_of``: the near-duplicates of one indexed image (``GET /images/{id}/duplicates``).
* ``duplicate_groups``: every group of near-duplicates in a collection (``visearch dedup``),
  and ``contact_sheet`` draws them.

A copy links to the original, never to another copy: a third copy of an image found to be
near a linked copy links to that copy's original.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visearch.store.base import Point, ScoredPoint, VectorStore

#: Points read per browse call when grouping a whole collection.
BROWSE_BATCH = 512
#: Rows of the similarity matrix computed at once (memory: rows x points x 4 bytes).
MATRIX_ROWS = 1024


def original_of(point: ScoredPoint | Point) -> str:
    """The image a point stands for in a duplicate group: what it links to, or itself."""
    linked = point.payload.get("duplicate_of")
    return linked if isinstance(linked, str) and linked else point.id


def find_near_duplicates(
    store: VectorStore, vectors: np.ndarray, ids: Sequence[str], distance: float
) -> list[tuple[str, float] | None]:
    """For each new vector: (the original it nearly duplicates, cosine similarity), or None.

    Compared with the indexed points (other than the same id, which is being replaced) and
    with the earlier vectors of this batch; the most similar one within ``distance`` wins.
    """
    out: list[tuple[str, float] | None] = []
    if distance <= 0:
        return [None] * len(ids)
    threshold = 1.0 - distance
    batch = np.asarray(vectors, np.float32)
    for i, vec in enumerate(batch):
        best: tuple[str, float] | None = None
        hits = store.search(vec, limit=1, score_threshold=threshold, exclude_ids=[ids[i]])
        if hits:
            best = (original_of(hits[0]), hits[0].score)
        if i:
            sims = batch[:i] @ vec
            j = int(np.argmax(sims))
            if sims[j] >= threshold and (best is None or sims[j] > best[1]) and ids[j] != ids[i]:
                earlier = out[j]
                best = (earlier[0] if earlier else ids[j], float(sims[j]))
        out.append(best)
    return out


def duplicates_of(store: VectorStore, image_id: str, distance: float,
                  limit: int = 100) -> list[ScoredPoint] | None:
    """The near-duplicates of an indexed image, most similar first: images within
    ``distance``, its original and the copies linked to it; None when it is not indexed."""
    found = store.get([image_id], with_vectors=True)
    if not found or found[0].vector is None:
        return None
    me = found[0]
    vec = me.vector
    assert vec is not None
    hits = store.search(vec, limit=limit, score_threshold=1.0 - distance,
                        exclude_ids=[image_id]) if distance > 0 else []
    linked, _ = store.browse(limit, flt={"duplicate_of": image_id})
    related = [p.id for p in linked] + ([original_of(me)] if original_of(me) != image_id else [])
    missing = [i for i in dict.fromkeys(related) if i not in {h.id for h in hits}]
    extra = [ScoredPoint(p.id, float(vec @ p.vector), p.payload)
             for p in store.get(missing, with_vectors=True) if p.vector is not None]
    return sorted([*hits, *extra], key=lambda p: -p.score)[:limit]


@dataclass
class DuplicateGroup:
    """Near-duplicate images: ``original`` first in ``members``; ``similarity`` to it."""

    original: str
    members: list[dict[str, Any]] = field(default_factory=list)


def _all_points(store: VectorStore) -> list[Point]:
    points: list[Point] = []
    cursor: str | None = None
    while True:
        page, cursor = store.browse(BROWSE_BATCH, cursor=cursor, order_by="indexed_at",
                                    descending=False, with_vectors=True)
        points += [p for p in page if p.vector is not None]
        if cursor is None:
            # Indexing time has whole seconds: equal times are ordered by id, the same on
            # every backend (the first of a group is its original).
            return sorted(points, key=lambda p: (str(p.payload.get("indexed_at", "")), p.id))


def duplicate_groups(store: VectorStore, distance: float) -> tuple[list[DuplicateGroup], int]:
    """Every group of images within ``distance`` of each other (single linkage), largest
    first, and how many images were compared. Exact: all pairs by matrix products."""
    points = _all_points(store)
    if not points or distance <= 0:
        return [], len(points)
    matrix = np.stack([p.vector for p in points if p.vector is not None]).astype(np.float32)
    parent = list(range(len(points)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    threshold = 1.0 - distance
    for start in range(0, len(points), MATRIX_ROWS):
        sims = matrix[start : start + MATRIX_ROWS] @ matrix.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if c > i:
                a, b = root(i), root(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # the earliest indexed stays the root
    members: dict[int, list[int]] = {}
    for i in range(len(points)):
        members.setdefault(root(i), []).append(i)
    groups = []
    for head, idx in members.items():
        if len(idx) < 2:
            continue
        linked = {original_of(points[i]) for i in idx} & {points[i].id for i in idx}
        first = min((i for i in idx if points[i].id in linked), default=head)
        order = [first, *[i for i in idx if i != first]]
        group = DuplicateGroup(points[first].id)
        for i in order:
            p = points[i]
            group.members.append({
                "image_id": p.id, "filename": p.payload.get("filename"),
                "similarity": round(float(matrix[first] @ matrix[i]), 6),
                "duplicate_of": p.payload.get("duplicate_of"),
            })
        groups.append(group)
    groups.sort(key=lambda g: (-len(g.members), g.original))
    return groups, len(points)


def contact_sheet(groups: Sequence[DuplicateGroup], thumbnail: Callable[[str], bytes | None],
                  path: Path, max_groups: int = 50, max_members: int = 8, cell: int = 128) -> Path:
    """A PNG with one row per group (original first), each thumbnail captioned with its
    similarity to the original."""
    from PIL import Image, ImageDraw, ImageOps

    shown = list(groups[:max_groups])
    label_h = 16
    width = max(1, min(max_members, max((len(g.members) for g in shown), default=1))) * cell
    sheet = Image.new("RGB", (width, max(1, len(shown)) * (cell + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, group in enumerate(shown):
        y = row * (cell + label_h)
        for col, member in enumerate(group.members[:max_members]):
            x = col * cell
            data = thumbnail(member["image_id"])
            if data:
                try:
                    with Image.open(io.BytesIO(data)) as im:
                        tile = ImageOps.contain(im.convert("RGB"), (cell - 4, cell - 4))
                    sheet.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
                except OSError:
                    pass
            caption = "original" if col == 0 else f"{member['similarity']:.3f}"
            draw.text((x + 4, y + cell), caption, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "PNG")
    return path
