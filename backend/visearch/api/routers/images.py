"""Stored images, thumbnails, payloads; deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from visearch.api.deps import RuntimeDep, run_blocking
from visearch.api.errors import ApiError
from visearch.api.schemas import DeleteResponse, ErrorBody

router = APIRouter(prefix="/images", tags=["images"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
_CACHE = {"Cache-Control": "public, max-age=86400, immutable"}


def _not_found(image_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no indexed image with id {image_id!r}")


@router.get("/{image_id}", response_class=FileResponse, responses=ERRORS)
async def get_image(image_id: str, runtime: RuntimeDep) -> FileResponse:
    found = runtime.files.original(image_id)
    if found is None:
        raise _not_found(image_id)
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=_CACHE)


@router.get("/{image_id}/thumbnail", response_class=FileResponse, responses=ERRORS)
async def get_thumbnail(image_id: str, runtime: RuntimeDep) -> FileResponse:
    path = runtime.files.thumbnail(image_id)
    if path is None:
        raise _not_found(image_id)
    return FileResponse(path, media_type="image/jpeg", headers=_CACHE)


@router.get("/{image_id}/info", responses=ERRORS)
async def get_info(image_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    points = await run_blocking(runtime, runtime.store.get, [image_id])
    if not points:
        raise _not_found(image_id)
    payload = dict(points[0].payload)
    payload.pop("sha256", None)
    return payload


@router.delete("/{image_id}", response_model=DeleteResponse, responses=ERRORS)
async def delete_image(image_id: str, runtime: RuntimeDep) -> DeleteResponse:
    if not await run_blocking(runtime, runtime.indexer.delete, image_id):
        raise _not_found(image_id)
    return DeleteResponse(deleted=image_id)
