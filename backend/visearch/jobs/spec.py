"""What a bulk job asks for (``JobSpec``), and its expansion into one ``ItemSpec`` per image.

A job names its images as a list of URLs, a server-side folder, or a manifest (inline entries
or a JSONL file on the server). Server-side paths are only read under
``VISEARCH_ALLOWED_ROOTS`` (after resolving symlinks): the folder and the manifest file are
checked when the job is submitted; every item path is checked again when it is read, so a
path that is not allowed becomes a clear per-item failure instead of a read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from visearch import plainjson
from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.ingest.metadata import MetadataLimits, check_metadata
from visearch.ingest.scan import iter_image_files
from visearch.services.indexing import IndexItem

MAX_MANIFEST_BYTES = 256 * 1024 * 1024


class JobSpecError(VisearchError, ValueError, status=422):
    """The job request (or one item of it) cannot be accepted; ``status`` is the HTTP status."""


class ManifestEntry(BaseModel):
    """One manifest entry: ``{"url" | "path", "image_id"?, "metadata"?}``. Declared once for
    both places a manifest comes from: a line of a JSONL file on the server (read here) and
    the inline list of a job request (the API's ``JobRequest``)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=8192)
    path: str | None = Field(default=None, max_length=4096)
    image_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> ManifestEntry:
        if (self.url is None) == (self.path is None):
            raise ValueError('give exactly one of "url" or "path"')
        return self


@dataclass(frozen=True)
class JobSpec:
    """What a job asks for: exactly one of ``urls``, ``folder`` (server side) or ``manifest``
    (entries, or the server-side path of a JSONL file), plus metadata for every item.

    The API's ``JobRequest`` converts into this, so the runners never see the HTTP schema.
    """

    urls: Sequence[str] | None = None
    folder: str | None = None
    manifest: Sequence[ManifestEntry] | str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = [n for n in ("urls", "folder", "manifest") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of "urls", "folder" or "manifest"')

    def describe(self) -> tuple[str, str]:
        """(source kind, a short human description) for job listings."""
        if self.urls is not None:
            return "urls", f"{len(self.urls)} URLs"
        if self.folder is not None:
            return "folder", self.folder
        if isinstance(self.manifest, str):
            return "manifest", self.manifest
        return "manifest", f"{len(self.manifest or [])} entries"


@dataclass(frozen=True)
class ItemSpec:
    """One image of a job, as it travels in task messages and the journal."""

    url: str | None = None
    path: str | None = None
    image_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.url or self.path or ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"u": self.url} if self.url is not None else {"p": self.path}
        if self.image_id is not None:
            out["i"] = self.image_id
        if self.metadata:
            out["m"] = self.metadata
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemSpec:
        if not isinstance(data, dict) or ("u" in data) == ("p" in data):
            raise ValueError(f"malformed item spec: {data!r}")
        meta = data.get("m") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"malformed item metadata: {meta!r}")
        return cls(url=data.get("u"), path=data.get("p"), image_id=data.get("i"), metadata=meta)

    def to_index_item(self, allowed_roots: Sequence[Path]) -> IndexItem | JobSpecError:
        """The indexer's item, or the reason this item may not be read."""
        if self.url is not None:
            return IndexItem(url=self.url, image_id=self.image_id, metadata=self.metadata,
                             filename=_url_name(self.url), source=self.url)
        path = Path(self.path or "")
        if not path.is_absolute():
            return JobSpecError(f"item path must be absolute: {self.path}", code="invalid_path",
                                status=400)
        if not is_allowed(path, allowed_roots):
            return JobSpecError(f"{path} is not under VISEARCH_ALLOWED_ROOTS",
                                code="path_not_allowed", status=403)
        return IndexItem(path=path, image_id=self.image_id, metadata=self.metadata,
                         filename=path.name, source=str(path))


def _url_name(url: str) -> str | None:
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail[:255] or None


def is_allowed(path: Path, roots: Iterable[Path]) -> bool:
    """True when ``path`` (symlinks resolved) lies under one of ``roots``."""
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte
        return False
    for root in roots:
        try:
            if real.is_relative_to(root.expanduser().resolve(strict=False)):
                return True
        except (OSError, RuntimeError):
            continue
    return False


def _allowed_path(raw: str, settings: Settings, what: str) -> Path:
    # A client's "~" means nothing on the server: paths are taken as given, never expanded.
    path = Path(raw)
    if not path.is_absolute() or "\x00" in raw:
        raise JobSpecError(f"the {what} path must be an absolute server-side path "
                           f"(~ is not expanded): {raw!r}", code="invalid_path")
    if not settings.allowed_roots:
        raise JobSpecError(
            f"server-side {what}s are disabled: set VISEARCH_ALLOWED_ROOTS to the folders "
            "jobs may read", code="path_not_allowed", status=403,
        )
    if not is_allowed(path, settings.allowed_roots):
        roots = ", ".join(str(r) for r in settings.allowed_roots)
        raise JobSpecError(f"{raw} is not under the allowed roots ({roots})",
                           code="path_not_allowed", status=403)
    return path.resolve()


def _merge(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    return {**base, **own} if base else dict(own)


def expand_job(spec: JobSpec, settings: Settings) -> list[ItemSpec]:
    """Every image of the job, in a stable order; raises ``JobSpecError`` when it cannot run."""
    if spec.urls is not None:
        items = [ItemSpec(url=u.strip(), metadata=dict(spec.metadata)) for u in spec.urls]
    elif spec.folder is not None:
        items = _folder_items(spec.folder, spec.metadata, settings)
    elif isinstance(spec.manifest, str):
        items = _manifest_file_items(spec.manifest, spec.metadata, settings)
    else:
        items = [_entry_item(e, spec.metadata, None) for e in spec.manifest or []]
    if not items:
        raise JobSpecError("the job has no images to index", code="empty_job")
    if len(items) > settings.job_max_items:
        raise JobSpecError(
            f"the job has {len(items)} items; the limit is {settings.job_max_items} "
            "(VISEARCH_JOB_MAX_ITEMS): split it", code="too_many_items", status=413,
        )
    limits = MetadataLimits.from_settings(settings)  # refused now, not item by item later
    for number, item in enumerate(items, start=1):
        if item.metadata:
            check_metadata(item.metadata, limits, name=f"item {number} metadata")
    return items


def _folder_items(raw: str, metadata: dict[str, Any], settings: Settings) -> list[ItemSpec]:
    folder = _allowed_path(raw, settings, "folder")
    if not folder.is_dir():
        raise JobSpecError(f"{raw} is not an existing folder", code="not_a_folder")
    limit = settings.job_max_items
    items: list[ItemSpec] = []
    for path in iter_image_files([folder]):
        items.append(ItemSpec(path=str(path), metadata=dict(metadata)))
        if len(items) > limit:
            break
    return items


def _entry_item(entry: ManifestEntry, metadata: dict[str, Any], base: Path | None) -> ItemSpec:
    if entry.url is not None:
        return ItemSpec(url=entry.url.strip(), image_id=entry.image_id,
                        metadata=_merge(metadata, entry.metadata))
    path = Path(entry.path or "")  # as given: "~" is not expanded (see _allowed_path)
    if base is not None and not path.is_absolute():
        path = base / path
    return ItemSpec(path=str(path), image_id=entry.image_id,
                    metadata=_merge(metadata, entry.metadata))


def _manifest_file_items(raw: str, metadata: dict[str, Any], settings: Settings) -> list[ItemSpec]:
    path = _allowed_path(raw, settings, "manifest")
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise JobSpecError(f"the manifest is {size} bytes; the limit is "
                               f"{MAX_MANIFEST_BYTES}", code="too_large", status=413)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobSpecError(f"no manifest at {raw}", code="not_found") from None
    except UnicodeDecodeError:
        raise JobSpecError(f"{raw} is not UTF-8 text", code="invalid_manifest") from None
    except OSError as exc:
        raise JobSpecError(f"cannot read {raw}: {exc.strerror}", code="unreadable") from None
    return parse_manifest(text, metadata, base=path.parent, name=raw)


def parse_manifest(
    text: str, metadata: dict[str, Any] | None = None, base: Path | None = None,
    name: str = "manifest",
) -> list[ItemSpec]:
    """Items of a JSONL manifest; the first bad line is a ``JobSpecError`` naming it."""
    items: list[ItemSpec] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as exc:  # not JSON, huge integers, deep nesting
            raise JobSpecError(f"{name} line {lineno}: not JSON ({getattr(exc, 'msg', exc)})",
                               code="invalid_manifest") from None
        if (reason := plainjson.problem(raw, name="entry")) is not None:
            raise JobSpecError(f"{name} line {lineno}: {reason}", code="invalid_manifest")
        try:
            entry = ManifestEntry.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise JobSpecError(f"{name} line {lineno}: {where + ': ' if where else ''}{msg}",
                               code="invalid_manifest") from None
        items.append(_entry_item(entry, metadata or {}, base))
    return items
