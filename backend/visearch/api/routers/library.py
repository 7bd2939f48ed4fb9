"""The library: every indexed image, newest first (``GET /images``), and actions on many
images at once: delete (``POST /images/delete``) and download as a zip
(``POST /images/archive``)."""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
import zipfile
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from visearch.api import API_PREFIX
from visearch.api.deps import ACCESS_ERRORS, INDEXING, SEARCH, RuntimeDep, run_blocking
from visearch.api.schemas import IMAGE_ID_REGEX, ErrorBody, ImageItem
from visearch.errors import VisearchError
from visearch.runtime import Runtime

router = APIRouter(prefix="/images", tags=["images"], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 422, 503)}
#: Ids one bulk request may name.
MAX_BULK_IDS = 500
LIBRARY_MAX_LIMIT = 200


class ImagePage(BaseModel):
    items: list[ImageItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end.")
    total: int = Field(description="Images matching the filter.")


class ImageIds(BaseModel):
    ids: list[Annotated[str, Field(pattern=IMAGE_ID_REGEX)]] = Field(
        min_length=1, max_length=MAX_BULK_IDS)


class DeletedItem(BaseModel):
    image_id: str
    status: Literal["deleted", "not_found"]


class BulkDeleteResponse(BaseModel):
    results: list[DeletedItem]
    deleted: int
    not_found: int


def _filter(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise VisearchError("filter must be a JSON object", code="invalid_filter", status=422)
    return value


@router.get("", response_model=ImagePage, responses=ERRORS, dependencies=[Depends(SEARCH)])
async def list_images(
    runtime: RuntimeDep,
    cursor: Annotated[str | None, Query(max_length=8192)] = None,
    limit: Annotated[int, Query(ge=1, le=LIBRARY_MAX_LIMIT)] = 60,
    sort: Annotated[Literal["indexed_at", "taken_at"], Query(
        description="indexed_at: when added; taken_at: when taken (EXIF), where known")] =
        "indexed_at",
    order: Literal["desc", "asc"] = "desc",
    filter: Annotated[str | None, Query(description="A JSON filter (as for /search).")] = None,
) -> ImagePage:
    """Every indexed image, newest first by default, a page at a time."""
    flt = _filter(filter)
    store = runtime.store

    def page() -> tuple[list[Any], str | None, int]:
        points, next_cursor = store.browse(limit, cursor=cursor, order_by=sort,
                                           descending=order == "desc", flt=flt)
        return points, next_cursor, store.count(flt)

    points, next_cursor, total = await run_blocking(runtime, page)
    items = [ImageItem.from_payload(p.id, p.payload, API_PREFIX) for p in points]
    return ImagePage(items=items, next_cursor=next_cursor, total=total)


@router.post("/delete", response_model=BulkDeleteResponse, responses=ERRORS,
             dependencies=[Depends(INDEXING)])
async def delete_images(body: ImageIds, runtime: RuntimeDep) -> BulkDeleteResponse:
    """Delete several images (vectors and files); unknown ids are reported, not errors."""
    ids = list(dict.fromkeys(body.ids))

    def delete_all() -> list[DeletedItem]:
        return [DeletedItem(image_id=i, status="deleted" if runtime.indexer.delete(i)
                            else "not_found") for i in ids]

    results = await run_blocking(runtime, delete_all)
    deleted = sum(r.status == "deleted" for r in results)
    return BulkDeleteResponse(results=results, deleted=deleted, not_found=len(results) - deleted)


def _archive_name(payload: dict[str, Any], image_id: str, media_type: str, taken: set[str]) -> str:
    """A safe, unique file name inside the zip: the stored file name (or the id) with the
    extension of what is stored."""
    raw = payload.get("filename")
    stem = PurePath(str(raw).replace("\\", "/")).stem if raw else image_id
    stem = "".join(ch for ch in stem if ch.isprintable() and ch not in '/\\:*?"<>|')[:120]
    ext = mimetypes.guess_extension(media_type) or ""
    ext = ".jpg" if ext in (".jpe", ".jpeg") else ext
    name, n = f"{stem or image_id[:16]}{ext}", 1
    while name.lower() in taken:
        n += 1
        name = f"{stem} ({n}){ext}"
    taken.add(name.lower())
    return name


def _write_archive(runtime: Runtime, ids: list[str]) -> tuple[str, int]:
    """The stored originals of ``ids`` in a zip file (stored, not deflated: images are
    compressed already); returns its path and how many images it holds."""
    payloads = {p.id: p.payload for p in runtime.store.get(ids)}
    fd, path = tempfile.mkstemp(prefix="visearch-archive-", suffix=".zip")
    count, taken = 0, set[str]()
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            for image_id in ids:
                found = runtime.files.original(image_id)
                if image_id not in payloads or found is None:
                    continue
                src, media_type = found
                zf.write(src, _archive_name(payloads[image_id], image_id, media_type, taken))
                count += 1
    except BaseException:
        os.unlink(path)
        raise
    return path, count


@router.post("/archive", response_class=FileResponse, responses={
    200: {"content": {"application/zip": {}}, "description": "A zip of the originals."},
    404: {"model": ErrorBody}, **ERRORS,
}, dependencies=[Depends(SEARCH)])
async def archive_images(body: ImageIds, runtime: RuntimeDep) -> FileResponse:
    """The stored originals of several images as one zip (ids not indexed are left out)."""
    ids = list(dict.fromkeys(body.ids))
    path, count = await run_blocking(runtime, _write_archive, runtime, ids)
    if count == 0:
        os.unlink(path)
        raise VisearchError("none of these images is indexed", code="not_found", status=404)
    return FileResponse(
        path, media_type="application/zip", filename="visearch-images.zip",
        headers={"Cache-Control": "no-store", "X-Image-Count": str(count)},
        background=BackgroundTask(os.unlink, path),
    )
