"""Indexing: bytes -> decoded image -> embedding -> stored files -> durable upsert.

An image is reported as indexed only after its upsert returned, so a crash never loses an
image that a caller was told about. Ids are content hashes unless the caller gives one, which
makes re-indexing the same bytes a no-op ("duplicate"). A caller's id is validated here, where
it enters the system. A failed item is reported with its ``VisearchError`` (code, message,
status) and never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import structlog

from visearch.cache.base import SearchCache
from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.ingest.decode import DecodedImage, ImageError, decode_image, read_capped
from visearch.ingest.fetch import UrlFetcher
from visearch.ingest.files import ImageFiles
from visearch.ingest.ids import content_id, validate_image_id
from visearch.models.base import Embedder
from visearch.store.base import Point, VectorStore

log = structlog.get_logger(__name__)

Status = Literal["indexed", "duplicate", "failed"]


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


@dataclass
class _Prepared:
    """An item after reading and decoding, before embedding."""

    position: int
    item: IndexItem
    started: float
    image_id: str | None = None
    data: bytes = b""
    digest: str = ""
    decoded: DecodedImage | None = None
    error: VisearchError | None = None
    duplicate: bool = False


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
    ) -> None:
        """``on_indexed(n)`` runs after each durable upsert of n images, ``on_failed(code)``
        once per failed item (the service's metrics)."""
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.files = files
        self.cache = cache
        self.fetcher = fetcher
        self._on_indexed = on_indexed
        self._on_failed = on_failed

    # -- public API ---------------------------------------------------------------------

    def index_items(
        self, items: Sequence[IndexItem], progress: Callable[[int], None] | None = None
    ) -> list[IndexResult]:
        """Index items in batches of ``batch_size``; one result per item, in order."""
        results: list[IndexResult] = []
        for batch in self._prepared_batches(list(items)):
            results.extend(self._commit(batch))
            if progress:
                progress(len(batch))
        return results

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

    def _prepared_batches(self, items: list[IndexItem]) -> Iterator[list[_Prepared]]:
        """Decode the next batch on worker threads while the caller embeds this one."""
        size = self.settings.batch_size
        numbered = list(enumerate(items))
        chunks = [numbered[i : i + size] for i in range(0, len(numbered), size)]
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
            pending = pool.submit(self._prepare_chunk, chunks[0])
            for nxt in chunks[1:]:
                current = pending.result()
                pending = pool.submit(self._prepare_chunk, nxt)
                yield current
            yield pending.result()

    def _prepare_chunk(self, chunk: Iterable[tuple[int, IndexItem]]) -> list[_Prepared]:
        prepared = [self._prepare(i, item) for i, item in chunk]
        self._mark_duplicates(prepared)
        return prepared

    def _prepare(self, position: int, item: IndexItem) -> _Prepared:
        prep = _Prepared(position=position, item=item, started=time.perf_counter())
        try:
            data = self._read(item)
            # The one place the byte limit is decided (readers only stop one byte past it).
            decoded = decode_image(
                data, max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels
            )
            prep.data, prep.decoded, prep.digest = data, decoded, content_id(data)
            prep.image_id = validate_image_id(item.image_id) if item.image_id else prep.digest
        except ImageError as exc:
            prep.error = exc
        except OSError as exc:
            prep.error = ImageError(f"cannot read {item.path}: {exc.strerror}", code="unreadable")
        return prep

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

    def _mark_duplicates(self, batch: list[_Prepared]) -> None:
        """Same id with the same content already stored: nothing to do."""
        ids = [p.image_id for p in batch if p.image_id and not p.error]
        if not ids:
            return
        stored = {pt.id: pt.payload.get("sha256") for pt in self.store.get(ids)}
        seen: set[str] = set()
        for p in batch:
            if p.error or p.image_id is None:
                continue
            if stored.get(p.image_id) == p.digest or p.image_id in seen:
                p.duplicate = True
            seen.add(p.image_id)

    def _commit(self, batch: list[_Prepared]) -> list[IndexResult]:
        todo = [p for p in batch if not p.error and not p.duplicate]
        if todo:
            vectors = self.embedder.embed_images([p.decoded.image for p in todo if p.decoded])
            points = []
            for p, vec in zip(todo, vectors, strict=True):
                assert p.decoded is not None and p.image_id is not None
                self.files.save(p.image_id, p.data, p.decoded)
                points.append(Point(p.image_id, np.asarray(vec, np.float32), self._payload(p)))
            self.store.upsert(points)
            self.cache.bump_version()
            if self._on_indexed:
                self._on_indexed(len(points))
        now = time.perf_counter()
        out = []
        for p in batch:
            status: Status = "failed" if p.error else "duplicate" if p.duplicate else "indexed"
            out.append(
                IndexResult(
                    image_id=p.image_id,
                    status=status,
                    error=p.error,
                    processing_time_ms=round((now - p.started) * 1000, 2),
                    filename=p.item.filename,
                )
            )
            if p.error:
                log.info("index_failed", filename=p.item.filename, code=p.error.code,
                         reason=p.error.message)
                if self._on_failed:
                    self._on_failed(p.error.code)
        return out

    def _payload(self, p: _Prepared) -> dict[str, Any]:
        assert p.decoded is not None
        return {
            "image_id": p.image_id,
            "sha256": p.digest,
            "filename": p.item.filename,
            "source": p.item.source,
            "format": p.decoded.format,
            "width": p.decoded.width,
            "height": p.decoded.height,
            "bytes": p.decoded.nbytes,
            "label": p.item.label,
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metadata": p.item.metadata,
        }

    def delete(self, image_id: str) -> bool:
        """Remove an image's vector and files; False when it was not indexed."""
        if not self.store.get([image_id]):
            return False
        self.store.delete([image_id])
        self.files.delete(image_id)
        self.cache.bump_version()
        return True
