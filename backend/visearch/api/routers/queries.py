"""Query images with a short-lived id (``POST /queries``), so that a search by a dropped or
pasted image can live in a URL: ``/search`` takes ``query_id`` wherever it takes image bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from visearch.api import API_PREFIX
from visearch.api.deps import ACCESS_ERRORS, SEARCH, SEARCHING, RuntimeDep, get_runtime, run_blocking
from visearch.api.guards import FILE_CONTENT_SECURITY_POLICY
from visearch.api.schemas import ErrorBody
from visearch.errors import VisearchError
from visearch.ingest.decode import decode_image, read_capped
from visearch.ingest.files import sniff_media_type
from visearch.ingest.queries import QueryImages
from visearch.runtime import Runtime

router = APIRouter(prefix="/queries", tags=["search"], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 404, 413, 415, 422, 503)
}


class QueryImageCreated(BaseModel):
    query_id: str = Field(description="Give it to /search as `query_id` (or a term's source).")
    expires_at: str = Field(description="When the image is forgotten (ISO 8601, UTC); storing "
                                        "the same image again keeps it longer.")
    image_url: str = Field(description="The stored query image.")


def query_images(request: Request) -> QueryImages:
    """The app's query-image store (one per app, made on first use)."""
    store: QueryImages | None = getattr(request.app.state, "query_images", None)
    if store is None:
        store = QueryImages.from_settings(get_runtime(request).settings)
        request.app.state.query_images = store
    return store


QueryImagesDep = Annotated[QueryImages, Depends(query_images)]


def _expired(query_id: str) -> VisearchError:
    return VisearchError(
        f"query image {query_id!r} is unknown or has expired; search by the image again",
        code="query_expired", status=404,
    )


async def query_image_bytes(runtime: Runtime, store: QueryImages, query_id: str) -> bytes:
    """The bytes behind a query id (``query_expired``, 404, when there are none)."""
    found = await run_blocking(runtime, store.get, query_id)
    if found is None:
        raise _expired(query_id)
    return found[0]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@router.post("", response_model=QueryImageCreated, status_code=201, responses=ERRORS,
             dependencies=[Depends(SEARCHING)])
async def create_query_image(
    runtime: RuntimeDep,
    store: QueryImagesDep,
    file: Annotated[UploadFile, File(description="The query image.")],
) -> QueryImageCreated:
    """Keep a query image for a while and name it: the web UI puts the id in its URL."""
    s = runtime.settings

    def check_and_store() -> tuple[str, float]:
        data = read_capped(file.file, s.max_upload_bytes)
        decode_image(data, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels)
        return store.put(data)

    query_id, expires = await run_blocking(runtime, check_and_store)
    return QueryImageCreated(query_id=query_id, expires_at=_iso(expires),
                             image_url=f"{API_PREFIX}/queries/{query_id}/image")


@router.get("/{query_id}/image", response_class=Response, responses=ERRORS,
            dependencies=[Depends(SEARCH)])
async def get_query_image(query_id: str, runtime: RuntimeDep, store: QueryImagesDep) -> Response:
    """A stored query image (for the query's preview), as an image, never as a document."""
    found = await run_blocking(runtime, store.get, query_id)
    if found is None:
        raise _expired(query_id)
    data, _ = found
    headers = {"Cache-Control": "private, max-age=3600",
               "Content-Security-Policy": FILE_CONTENT_SECURITY_POLICY}
    return Response(data, media_type=sniff_media_type(data[:16]), headers=headers)
