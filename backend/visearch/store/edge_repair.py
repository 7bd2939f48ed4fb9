"""Repairs of an edge shard that holds data the engine cannot read back.

qdrant-edge parses stored payloads with serde_json and replays its write-ahead log with a
CBOR decoder, both limited to 128 levels of nesting, while it *writes* any depth. Before
payloads were checked (``visearch.plainjson``), one request with metadata nested ~127 levels
made a point whose payload no read could decode: every search that met it, its delete and the
optimiser failed, a failed delete stopped every later write ("Not recovered from previous
error"), and once the log entry was replayed at start-up the shard did not open at all.

Two repairs, both logged and reported by the store (``EdgeStore.unreadable``):

* ``find_unreadable``: the points whose payload cannot be decoded, found by reading payloads
  in batches and bisecting the failing ones. The store then overwrites each with a readable
  stub ``{"unreadable": reason}`` (an overwrite does not read the old payload; the engine could
  not return it anyway), so searches, deletes and the optimiser work again, and re-indexing
  the image replaces the stub.
* ``rebuild_shard``: when the log holds an entry that cannot be decoded, the shard is rebuilt
  from its flushed segments into a new directory (the store flushes before a write returns, so
  every acknowledged write is there), then swapped in; the old directory is kept beside it as
  ``shard.unreadable-<time>`` for inspection. A marker file makes the rebuild resume if the
  process dies half-way, so a shard whose log was set aside is never opened as is (its
  operation numbers would restart below the stored versions and later updates be ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe
import structlog

from visearch.disk import fsync_dir

log = structlog.get_logger(__name__)

SHARD_DIR = "shard"
REBUILD_DIR = "shard.rebuild"
REBUILD_MARKER = "rebuild.json"
UNREADABLE_FILE = "unreadable.json"
#: The only key of the stub payload that replaces an undecodable one.
UNREADABLE_KEY = "unreadable"
_BATCH = 256


def is_payload_unreadable(exc: BaseException) -> bool:
    """The engine failed (or panicked) decoding a stored payload."""
    text = str(exc)
    return "deserialize payload" in text or "Payload storage is corrupted" in text


def is_log_unreadable(exc: BaseException) -> bool:
    """The shard did not open because an entry of its write-ahead log cannot be decoded."""
    text = str(exc)
    return "WAL" in text and ("deserialize" in text or "RecursionLimitExceeded" in text)


def is_engine_error(exc: BaseException) -> bool:
    """An error the binding raised: an ``Exception``, or a Rust panic (a ``BaseException``)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _reason(exc: BaseException) -> str:
    return f"the stored payload could not be decoded: {str(exc)[:200]}"


def read_payloads(shard: qe.EdgeShard, ids: Sequence[Any]) -> tuple[dict[str, dict[str, Any]],
                                                                   dict[str, str]]:
    """Payloads of ``ids`` that decode, and a reason for each one that does not (bisecting a
    failing batch down to its failing points)."""
    if not ids:
        return {}, {}
    try:
        records = shard.retrieve(list(ids), True, False)
    except BaseException as exc:
        if not (is_engine_error(exc) and is_payload_unreadable(exc)):
            raise
        if len(ids) == 1:
            return {}, {str(ids[0]): _reason(exc)}
        mid = len(ids) // 2
        good, bad = read_payloads(shard, ids[:mid])
        good_b, bad_b = read_payloads(shard, ids[mid:])
        return {**good, **good_b}, {**bad, **bad_b}
    return {str(r.id): dict(r.payload or {}) for r in records}, {}


def _scroll(shard: qe.EdgeShard, with_vector: bool) -> Any:
    """Every point in batches (no payloads: those are read separately)."""
    offset = None
    while True:
        records, offset = shard.scroll(qe.ScrollRequest(
            offset=offset, limit=_BATCH, with_payload=False, with_vector=with_vector))
        if records:
            yield records
        if offset is None or not records:
            return


def find_unreadable(shard: qe.EdgeShard) -> dict[str, str]:
    """Point id -> reason, for every point whose payload cannot be decoded (reads them all)."""
    bad: dict[str, str] = {}
    for records in _scroll(shard, with_vector=False):
        bad.update(read_payloads(shard, [r.id for r in records])[1])
    return bad


def stub_payload(reason: str) -> dict[str, Any]:
    return {UNREADABLE_KEY: reason}


def _vector(raw: Any) -> list[float]:
    if isinstance(raw, dict):  # named vectors: this store has one, unnamed
        raw = raw.get("", next(iter(raw.values())))
    return [float(v) for v in raw]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def load_unreadable(collection: Path) -> dict[str, str]:
    """The points recorded as unreadable (point id -> reason); empty when none or unreadable."""
    try:
        data = json.loads((collection / UNREADABLE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_unreadable(collection: Path, entries: dict[str, str]) -> None:
    """Record the unreadable points (replacing the record); no file when there are none."""
    path = collection / UNREADABLE_FILE
    if entries:
        _write_json(path, entries)
    elif path.exists():
        path.unlink()


def needs_rebuild(collection: Path) -> bool:
    """A rebuild was started and did not finish (resume it before opening the shard)."""
    return (collection / REBUILD_MARKER).exists()


def rebuild_shard(collection: Path, config: qe.EdgeConfig, reason: str) -> None:
    """Rebuild ``collection/shard`` from its segments without its log; the points whose payload
    could not be decoded get a stub payload and are recorded (``load_unreadable``).
    Resumable at every step."""
    marker = collection / REBUILD_MARKER
    shard_path, fresh = collection / SHARD_DIR, collection / REBUILD_DIR
    if not marker.exists():
        _write_json(marker, {"reason": reason, "started_at": time.time()})
    if not shard_path.exists() and not fresh.exists():
        raise RuntimeError(f"a rebuild of {shard_path} was started but neither the shard nor "
                           f"{fresh.name} is there; restore the directory or remove {marker}")
    unreadable: dict[str, str] = {}
    if shard_path.exists():
        wal, aside = shard_path / "wal", shard_path / "wal.unreadable"
        if wal.exists() and not aside.exists():
            os.replace(wal, aside)
        elif wal.exists():  # made by an interrupted attempt's read-only open: holds nothing
            shutil.rmtree(wal)
        shutil.rmtree(fresh, ignore_errors=True)
        log.warning("edge_shard_rebuild_started", path=str(shard_path), reason=reason)
        source = qe.EdgeShard.load(str(shard_path), config)
        try:
            target = qe.EdgeShard.create(str(fresh), config)
            try:
                copied = 0
                for records in _scroll(source, with_vector=True):
                    payloads, bad = read_payloads(source, [r.id for r in records])
                    unreadable.update(bad)
                    points = [
                        qe.Point(r.id, _vector(r.vector),
                                 payloads.get(str(r.id)) or stub_payload(bad.get(str(r.id), "")))
                        for r in records
                    ]
                    target.update(qe.UpdateOperation.upsert_points(points))
                    copied += len(points)
                target.flush()
            finally:
                target.close()
        finally:
            source.close()
        save_unreadable(collection, {**load_unreadable(collection), **unreadable})
        kept = collection / f"{SHARD_DIR}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(shard_path, kept)
        fsync_dir(collection)
        log.warning("edge_shard_rebuilt", points=copied, unreadable_points=len(unreadable),
                    old_shard_kept_at=str(kept))
    os.replace(fresh, shard_path)  # a crash between the two renames resumes here
    fsync_dir(collection)
    marker.unlink()
