"""Stored images, thumbnails, payloads; deletion."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse

from visearch.api.deps import ACCESS_ERRORS, INDEXING, SEARCH, RuntimeDep, run_blocking
from visearch.api.guards import FILE_CONTENT_SECURITY_POLICY
from visearch.api.schemas import IMAGE_ID_REGEX, DeleteResponse, ErrorBody
from visearch.errors import VisearchError
from visearch.ingest.files import THUMBNAIL_SIZE
from visearch.security.exposure import public_name

router = APIRouter(prefix="/images", tags=["images"], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
#: Every stored id has this form; others are refused before any lookup (422).
ImageIdPath = Annotated[str, Path(pattern=IMAGE_ID_REGEX)]
# Private: with keys on, a shared cache must not hand an image to callers without one.
_IMMUTABLE = {"Cache-Control": "private, max-age=86400, immutable"}


def _not_found(image_id: str) -> VisearchError:
    return VisearchError(f"no indexed image with id {image_id!r}", code="not_found", status=404)


@router.get("/{image_id}", response_class=FileResponse, responses=ERRORS,
            dependencies=[Depends(SEARCH)])
async def get_image(image_id: ImageIdPath, runtime: RuntimeDep) -> FileResponse:
    """The stored original, byte for byte (or its bounded copy). Served as the image type its
    decoding found, with ``nosniff`` and a sandboxing CSP: bytes appended to an image (an HTML
    page in a JPEG) are never run as a document. Not re-encoded: that would change what was
    stored, cost CPU per upload and lose metadata, for no gain once the browser won't sniff."""
    found = runtime.files.original(image_id)
    if found is None:
        raise _not_found(image_id)
    path, media_type = found
    headers = {**_IMMUTABLE, "Content-Security-Policy": FILE_CONTENT_SECURITY_POLICY}
    name = image_id + (mimetypes.guess_extension(media_type) or "")
    return FileResponse(path, media_type=media_type, headers=headers, filename=name,
                        content_disposition_type="inline")


@router.get("/{image_id}/thumbnail", response_class=FileResponse, responses=ERRORS,
            dependencies=[Depends(SEARCH)])
async def get_thumbnail(
    image_id: ImageIdPath,
    runtime: RuntimeDep,
    size: Annotated[int, Query(ge=1, le=4096, description=(
        "The wanted size of the longer side in pixels: the smallest stored thumbnail at least "
        "that large is sent (256 or 512 by default; see `thumbnail_url`, `thumbnail_2x_url`)."
    ))] = THUMBNAIL_SIZE,
) -> FileResponse:
    files = runtime.files
    large = size > files.thumbnail_size
    path = (await run_blocking(runtime, files.large_thumbnail, image_id) if large
            else files.thumbnail(image_id))
    if path is None:
        raise _not_found(image_id)
    return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)


@router.get("/{image_id}/info", responses=ERRORS, dependencies=[Depends(SEARCH)])
async def get_info(image_id: ImageIdPath, runtime: RuntimeDep) -> dict[str, Any]:
    points = await run_blocking(runtime, runtime.store.get, [image_id])
    if not points:
        raise _not_found(image_id)
    payload = dict(points[0].payload)
    payload.pop("sha256", None)
    if isinstance(payload.get("source"), str):  # a server path shows as its file name only
        payload["source"] = public_name(payload["source"])
    return payload


@router.delete("/{image_id}", response_model=DeleteResponse, responses=ERRORS,
               dependencies=[Depends(INDEXING)])
async def delete_image(image_id: ImageIdPath, runtime: RuntimeDep) -> DeleteResponse:
    if not await run_blocking(runtime, runtime.indexer.delete, image_id):
        raise _not_found(image_id)
    return DeleteResponse(deleted=image_id)
