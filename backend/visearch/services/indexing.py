"""Indexing: bytes -> decoded image -> embedding -> stored files -> durable upsert.

An image is reported as indexed only after its upsert returned, so a crash never loses an
image that a caller was told about. Ids are content hashes unless the caller gives one, which
makes re-indexing the same bytes a no-op ("duplicate"). A caller's id, metadata and label are
validated here, where they enter the system (whatever the entry: API, upload, job, CLI),
before anything is written. A failed item is reported with its ``VisearchError`` (code,
message, status) and never stops the others.

Files and vectors stay in step: files are written before the upsert (an indexed image always
has its files), and removed again when the upsert fails; a delete hides the files before the
vector goes and removes them after (``ImageFiles.hide``); ``sweep_files`` (at start-up) clears
what a crash left in between.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import structlog

from visearch.cache.base import SearchCache
from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.ingest.decode import ImageDecoder, ImageError, read_capped
from visearch.ingest.exif import exif_payload
from visearch.ingest.fetch import UrlFetcher
from visearch.ingest.files import ImageFiles
from visearch.ingest.ids import content_id, validate_image_id
from visearch.ingest.metadata import MetadataLimits, check_label, check_metadata, clean_text
from visearch.models.base import Embedder
from visearch.services.dedup import find_near_duplicates
from visearch.services.pipeline import ImagePrep, PreparedImage, decode_processes, process_pool
from visearch.store.base import Point, VectorStore

log = structlog.get_logger(__name__)

Status = Literal["indexed", "duplicate", "near_duplicate", "failed"]
#: Batches decoded ahead of the one the model is working on (bounds memory).
BATCHES_AHEAD = 2
#: The start-up sweep of orphan files reads every id; above this many points it is skipped.
SWEEP_MAX_POINTS = 2_000_000


@dataclass(frozen=True)
class IndexItem:
    """One image to index, given as bytes, an open file (an upload), a local path or a URL."""

    data: bytes | None = None
    stream: BinaryIO | None = None
    path: Path | None = None
    url: str | None = None
    image_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None
    label: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class IndexResult:
    image_id: str | None
    status: Status
    error: VisearchError | None
    processing_time_ms: float
    filename: str | None
    #: A near-duplicate's original (status ``near_duplicate``; see ``services/dedup.py``).
    duplicate_of: str | None = None


@dataclass
class _Prepared:
    """An item after reading and decoding, before embedding."""

    position: int
    item: IndexItem
    started: float
    image_id: str | None = None
    data: bytes = b""
    digest: str = ""
    image: PreparedImage | None = None
    error: VisearchError | None = None
    duplicate: bool = False
    #: The id is indexed already (other content): its files are replaced, not new.
    replaces: bool = False
    #: The original this image nearly duplicates (see ``_near_duplicates``).
    near: str | None = None


class Indexer:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        files: ImageFiles,
        cache: SearchCache,
        fetcher: UrlFetcher | None = None,
        on_indexed: Callable[[int], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        decoder: ImageDecoder | None = None,
    ) -> None:
        """``on_indexed(n)`` runs after each durable upsert of n images, ``on_failed(code)``
        once per failed item (the service's metrics). ``decoder`` defaults to the byte and
        pixel limits of ``settings`` without downscaling or a shared budget."""
        self.settings = settings
        self.decoder = decoder or ImageDecoder(settings.max_upload_bytes, settings.max_pixels)
        self.limits = MetadataLimits.from_settings(settings)
        self.embedder = embedder
        self.store = store
        self.files = files
        self.cache = cache
        self.fetcher = fetcher
        self._on_indexed = on_indexed
        self._on_failed = on_failed
        self.prep = ImagePrep(self.decoder, files, embedder.image_transform)
        self.decode_processes = decode_processes(settings.decode_workers)

    # -- public API ---------------------------------------------------------------------

    def index_items(
        self, items: Sequence[IndexItem], progress: Callable[[int], None] | None = None
    ) -> list[IndexResult]:
        """Index items in batches of ``batch_size``; one result per item, in order.

        A pipeline of three stages working at once: decoding workers prepare the next
        batches (read, decode, model input, encoded files: ``ImagePrep``), this thread runs
        the model on the current one, and a writer thread stores the previous one (files,
        upsert). ``progress(n)`` is called here after each batch is durable.
        """
        results: list[IndexResult] = []
        with ExitStack() as stack:
            writer = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="index-write"))
            pending: tuple[Future[list[IndexResult]], list[_Prepared]] | None = None
            for batch in self._prepared_batches(list(items), stack):
                self._mark_duplicates(batch, pending[1] if pending else [])
                todo, vectors = self._embed(batch)
                if pending is not None:  # the previous batch was stored meanwhile
                    results.extend(self._collect(pending[0], progress))
                todo, vectors = self._near_duplicates(todo, vectors) if todo else (todo, vectors)
                pending = (writer.submit(self._commit, batch, todo, vectors), todo)
            if pending is not None:
                results.extend(self._collect(pending[0], progress))
        return results

    @staticmethod
    def _collect(done: Future[list[IndexResult]],
                 progress: Callable[[int], None] | None) -> list[IndexResult]:
        out = done.result()  # a failed write raises here and stops the run
        if progress:
            progress(len(out))
        return out

    def index_files(
        self,
        paths: Sequence[Path],
        metadata: Callable[[Path], dict[str, Any]] | None = None,
        progress: Callable[[int], None] | None = None,
        label: Callable[[Path], str | None] | None = None,
    ) -> list[IndexResult]:
        """Index local files (the CLI and eval path)."""
        items = [
            IndexItem(
                path=p,
                filename=p.name,
                source=str(p),
                metadata=metadata(p) if metadata else {},
                label=label(p) if label else None,
            )
            for p in paths
        ]
        return self.index_items(items, progress=progress)

    # -- pipeline -----------------------------------------------------------------------

    def _prepared_batches(self, items: list[IndexItem], stack: ExitStack
                          ) -> Iterator[list[_Prepared]]:
        """Batches in order, each prepared by the workers while up to ``BATCHES_AHEAD``
        batches before it are still being embedded and stored."""
        size = self.settings.batch_size
        if not items:
            return
        threads = max(2, self.decode_processes)
        pool = stack.enter_context(ThreadPoolExecutor(threads, thread_name_prefix="decode"))
        processes = (stack.enter_context(process_pool(self.decode_processes))
                     if self.decode_processes and len(items) > size else None)
        prep = self.prep.for_processes() if processes else self.prep
        queue: deque[list[Future[_Prepared]]] = deque()
        for start in range(0, len(items), size):
            queue.append([pool.submit(self._prepare, i, items[i], prep, processes)
                          for i in range(start, min(start + size, len(items)))])
            if len(queue) > BATCHES_AHEAD:
                yield [f.result() for f in queue.popleft()]
        while queue:
            yield [f.result() for f in queue.popleft()]

    def _prepare(self, position: int, item: IndexItem, prep: ImagePrep,
                 processes: Executor | None) -> _Prepared:
        """Check, read and prepare one item (a decoding worker thread; the CPU work runs in
        ``processes`` when there are any)."""
        p = _Prepared(position=position, item=item, started=time.perf_counter())
        try:
            # What the caller attached is checked first: nothing is read for a bad item.
            check_metadata(item.metadata, self.limits)
            check_label(item.label)
            if item.image_id is not None:
                validate_image_id(item.image_id)
            data = self._read(item)
            # The one place the byte limit is decided (readers only stop one byte past it).
            p.image = processes.submit(prep, data).result() if processes else prep(data)
            p.data, p.digest = data, content_id(data)
            p.image_id = item.image_id or p.digest
        except VisearchError as exc:
            p.error = exc
        except OSError as exc:
            p.error = ImageError(f"cannot read {item.path}: {exc.strerror}", code="unreadable")
        return p

    def _read(self, item: IndexItem) -> bytes:
        limit = self.settings.max_upload_bytes
        if item.data is not None:
            return item.data
        if item.stream is not None:
            return read_capped(item.stream, limit)
        if item.path is not None:
            with item.path.open("rb") as f:
                return read_capped(f, limit)
        if item.url is not None:
            if self.fetcher is None:
                raise ImageError("URL fetching is not configured", code="fetch_disabled")
            return self.fetcher.fetch(item.url).data
        raise ImageError("no image given: send image data, a file, a path or a URL", code="empty")

    def _mark_duplicates(self, batch: list[_Prepared], in_flight: list[_Prepared]) -> None:
        """Same id with the same content already stored: nothing to do. ``in_flight`` is
        the previous batch, being stored right now: it counts as stored."""
        ids = [p.image_id for p in batch if p.image_id and not p.error]
        if not ids:
            return
        stored = {pt.id: pt.payload.get("sha256") for pt in self.store.get(ids)}
        stored.update({p.image_id: p.digest for p in in_flight if p.image_id in ids})
        seen: set[str] = set()
        for p in batch:
            if p.error or p.image_id is None:
                continue
            if stored.get(p.image_id) == p.digest or p.image_id in seen:
                p.duplicate = True
            p.replaces = p.image_id in stored
            seen.add(p.image_id)

    def _embed(self, batch: list[_Prepared]) -> tuple[list[_Prepared], np.ndarray]:
        """The items to index and their vectors (uint8 pixels straight to the model)."""
        todo = [p for p in batch if not p.error and not p.duplicate]
        images = [p.image for p in todo if p.image is not None]
        if not todo:
            return todo, np.zeros((0, self.embedder.dim), np.float32)
        pixels = [im.pixels for im in images if im.pixels is not None]
        if len(pixels) == len(images):
            vectors = self.embedder.embed_pixels(np.stack(pixels))
        else:
            vectors = self.embedder.embed_images([im.image for im in images if im.image])
        return todo, np.asarray(vectors, np.float32)

    def _commit(self, batch: list[_Prepared], todo: list[_Prepared], vectors: np.ndarray
                ) -> list[IndexResult]:
        """Store what was embedded (the writer thread) and report every item of the batch."""
        if todo:
            points = [Point(p.image_id or "", np.asarray(vec, np.float32), self._payload(p))
                      for p, vec in zip(todo, vectors, strict=True)]
            self._write(todo, points)
            self.cache.bump_version()
            if self._on_indexed:
                self._on_indexed(len(points))
        now = time.perf_counter()
        out = []
        for p in batch:
            status: Status = ("failed" if p.error else "duplicate" if p.duplicate
                              else "near_duplicate" if p.near else "indexed")
            out.append(
                IndexResult(
                    image_id=p.image_id,
                    status=status,
                    error=p.error,
                    processing_time_ms=round((now - p.started) * 1000, 2),
                    filename=clean_text(p.item.filename),
                    duplicate_of=p.near,
                )
            )
            if p.error:
                log.info("index_failed", filename=clean_text(p.item.filename), code=p.error.code,
                         reason=p.error.message)
                if self._on_failed:
                    self._on_failed(p.error.code)
        return out

    def _write(self, todo: list[_Prepared], points: list[Point]) -> None:
        """Files first, then the durable upsert; on any failure the files written for images
        that were not indexed before are removed again (no orphans), then the error is
        raised for the whole batch."""
        written: list[str] = []
        try:
            for p in todo:
                assert p.image is not None and p.image_id is not None
                self.files.write(p.image_id, p.image.files)
                if not p.replaces:
                    written.append(p.image_id)
            self.store.upsert(points)
        except BaseException:
            for image_id in written:
                try:
                    self.files.delete(image_id)
                except Exception as exc:  # the start-up sweep removes what is left
                    log.warning("orphan_cleanup_failed", image_id=image_id, error=str(exc))
            raise

    def _payload(self, p: _Prepared) -> dict[str, Any]:
        assert p.image is not None
        return {
            "image_id": p.image_id,
            "sha256": p.digest,
            "filename": clean_text(p.item.filename),
            "source": clean_text(p.item.source, 4096),
            "format": p.image.format,
            "width": p.image.width,
            "height": p.image.height,
            "bytes": p.image.nbytes,
            "label": p.item.label,
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metadata": p.item.metadata,
            **exif_payload(p.data),
            **({"duplicate_of": p.near} if p.near and self.settings.near_duplicate_action
               == "link" else {}),
        }

    def _near_duplicates(self, todo: list[_Prepared], vectors: np.ndarray
                         ) -> tuple[list[_Prepared], np.ndarray]:
        """Mark near-duplicates of indexed images (``services/dedup.py``); those the settings
        skip are left out of what is written."""
        found = find_near_duplicates(self.store, vectors, [p.image_id or "" for p in todo],
                                     self.settings.near_duplicate_distance)
        for p, near in zip(todo, found, strict=True):
            p.near = near[0] if near else None
        if self.settings.near_duplicate_action != "skip":
            return todo, vectors
        keep = [i for i, p in enumerate(todo) if p.near is None]
        return [todo[i] for i in keep], vectors[keep]

    def delete(self, image_id: str) -> bool:
        """Remove an image's vector and files; False when it was not indexed.

        The files are hidden first (no longer served), then the vector is deleted, then the
        files; when the vector cannot be deleted the files are served again. A crash in
        between is finished by ``sweep_files``.
        """
        if not self.store.get([image_id]):
            return False
        self.files.hide(image_id)
        try:
            self.store.delete([image_id])
        except BaseException:
            self.files.unhide(image_id)
            raise
        self.cache.bump_version()
        try:
            self.files.delete(image_id)
        except VisearchError as exc:  # hidden already: never served; the sweep removes them
            log.warning("delete_files_failed", image_id=image_id, error=exc.message)
        return True

    def sweep_files(self) -> dict[str, int] | None:
        """Bring the image files in line with the store after a crash: remove the files of
        images that are not indexed, finish or undo interrupted deletes. Skipped (None) where
        the store cannot list its ids, holds points it cannot read, or is very large; and
        where other collections share the image folder (their files are not in this store).
        """
        store, reason = self.store, None
        collections = self.settings.data_dir / "collections"
        others = [d for d in collections.iterdir() if d.is_dir() and d.name != store.name] \
            if store.backend == "edge" and collections.is_dir() else []
        if store.backend != "edge":
            reason = "the store is shared with other replicas"
        elif others:
            reason = f"other collections share the image folder ({others[0].name})"
        elif store.unreadable_points():
            reason = "the store holds points whose payload could not be read"
        elif store.count() > SWEEP_MAX_POINTS:
            reason = f"more than {SWEEP_MAX_POINTS} images"
        ids = store.image_ids() if reason is None else None
        if ids is None:
            log.info("file_sweep_skipped", reason=reason or "the store cannot list its ids")
            return None
        counts = self.files.sweep(ids)
        log.info("file_sweep", **counts)
        return counts
