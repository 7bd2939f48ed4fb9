"""Shard settings of the edge store, and building its HNSW index without stalling the server.

qdrant-edge-py keeps the GIL for the whole of ``EdgeShard.optimize()``: building HNSW for 1M
vectors in the serving process would freeze every request for minutes. ``BackgroundBuild``
does it elsewhere instead:

1. under the store's write gate (reads go on), flush the shard, copy it to ``shard.build``
   and start journaling every write made from then on;
2. a child process (``python -m visearch.store.edge_index``, at a lower CPU priority) loads
   the copy, optimizes it and flushes it; the server keeps answering from the live shard;
3. swap, under both locks: the live shard becomes ``shard.old``, the copy ``shard``, which is
   loaded and gets the journaled writes; then ``shard.old`` is deleted. Reads pause for that
   one load: the binding holds the GIL while it loads, so every thread of the process waits
   (~0.3 s at 30k points; the 1M figure is in docs/performance.md). That pause, once per
   build, is what remains of the minutes ``optimize()`` would stall the server for.

A crash anywhere leaves something ``recover`` puts right when the store opens: a half-built
copy is dropped; if ``shard.old`` is still there the swap did not finish, so the old shard,
which has every write, comes back. Nothing is lost but the index, which the next build makes
again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import qdrant_edge as qe

from visearch.disk import fsync_dir

SHARD_DIR = "shard"
BUILD_DIR = "shard.build"
OLD_DIR = "shard.old"
#: Segments smaller than this (KB of vectors) are scanned exactly even when HNSW exists.
FULL_SCAN_THRESHOLD_KB = 10_000
#: CPU priority of the build process (higher is nicer to the server).
BUILD_NICENESS = 10


@dataclass(frozen=True)
class ShardParams:
    """Everything that decides how a shard stores and indexes its vectors."""

    dim: int
    m: int = 16
    ef_construct: int = 100
    #: Segments with more vector data (KB) get HNSW when optimized (qdrant's default: 10 MB).
    threshold_kb: int | None = None
    #: "int8": scalar quantization (1 byte per dimension, kept in RAM), searched with
    #: rescoring on the originals; "none": originals only.
    quantization: str = "none"
    #: Keep the original vectors on disk, read on demand (rescoring), instead of cached.
    vectors_on_disk: bool = False

    def config(self) -> qe.EdgeConfig:
        quantization = (
            qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned)
            if self.quantization == "int8" else None
        )
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=self.dim, distance=qe.Distance.Cosine,
                memory=qe.Memory.Cold if self.vectors_on_disk else None,
            ),
            hnsw_config=qe.HnswIndexConfig(
                m=self.m, ef_construct=self.ef_construct,
                full_scan_threshold=self.threshold_kb or FULL_SCAN_THRESHOLD_KB,
            ),
            quantization_config=quantization,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.threshold_kb)
            if self.threshold_kb else None,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShardParams:
        return cls(**json.loads(text))


def recover(collection: Path) -> str | None:
    """Undo what an interrupted build left (see the module docstring); what was done."""
    build, old, live = collection / BUILD_DIR, collection / OLD_DIR, collection / SHARD_DIR
    done = None
    if build.exists():
        shutil.rmtree(build)
        done = "dropped an unfinished index build"
    if old.exists():
        if live.exists():
            shutil.rmtree(live)
        os.replace(old, live)
        fsync_dir(collection)
        done = "restored the shard from before an interrupted index swap"
    return done


def copy_shard(collection: Path) -> Path:
    """Copy the (flushed) live shard to ``shard.build``; the copy's path."""
    target = collection / BUILD_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(collection / SHARD_DIR, target)  # copy_file_range: no GIL, no user CPU
    return target


def start_build(path: Path, params: ShardParams) -> subprocess.Popen[bytes]:
    """The child process that optimizes the shard copy at ``path`` (at a lower priority)."""
    return subprocess.Popen(
        [sys.executable, "-m", "visearch.store.edge_index", str(path), params.to_json()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))},
    )


def swap_in(collection: Path) -> None:
    """Make the built copy the live shard, keeping the old one as ``shard.old`` (the caller
    deletes it once the new one opened)."""
    live = collection / SHARD_DIR
    os.replace(live, collection / OLD_DIR)
    os.replace(collection / BUILD_DIR, live)
    fsync_dir(collection)


def drop_old(collection: Path) -> None:
    """The swap is complete: the old shard can go."""
    shutil.rmtree(collection / OLD_DIR, ignore_errors=True)
    fsync_dir(collection)


def build(path: Path, params: ShardParams) -> bool:
    """Optimize the shard at ``path`` (in this process); True if anything changed."""
    shard = qe.EdgeShard.load(str(path), params.config())
    try:
        changed = bool(shard.optimize())
        shard.flush()
    finally:
        shard.close()
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m visearch.store.edge_index SHARD_DIR PARAMS_JSON", file=sys.stderr)
        return 2
    os.nice(BUILD_NICENESS)  # serving requests comes first
    build(Path(argv[0]), ShardParams.from_json(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
