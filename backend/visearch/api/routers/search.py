"""Search by text, by example image (base64, URL, upload, stored id), or both."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from visearch.api import API_PREFIX
from visearch.api.deps import ACCESS_ERRORS, SEARCHING, RuntimeDep, run_blocking
from visearch.api.schemas import ErrorBody, SearchRequest, SearchResponse, SearchResult
from visearch.api.uploads import form_json_object
from visearch.errors import VisearchError
from visearch.ingest.decode import decode_base64, decode_image, read_capped
from visearch.ingest.ids import content_id
from visearch.runtime import Runtime
from visearch.services.search import SearchQuery

router = APIRouter(tags=["search"], dependencies=[Depends(SEARCHING)], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 404, 413, 415, 422, 503)
}


async def _search(
    runtime: Runtime,
    *,
    text: str | None,
    image_bytes: bytes | None,
    image_id: str | None,
    text_weight: float,
    top_k: int,
    threshold: float | None,
    offset: int,
    flt: dict[str, Any] | None,
) -> SearchResponse:
    limit = runtime.settings.max_top_k
    if top_k > limit:
        raise VisearchError(
            f"top_k must be between 1 and {limit}", code="invalid_request", status=422
        )
    image, key = None, None
    if image_bytes is not None:
        s = runtime.settings
        decoded = await run_blocking(
            runtime,
            lambda: decode_image(image_bytes, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels),
        )
        image, key = decoded.image, content_id(image_bytes)
    query = SearchQuery(
        text=text, image=image, image_key=key, image_id=image_id, text_weight=text_weight,
        top_k=top_k, threshold=threshold, offset=offset, flt=flt,
    )
    outcome = await run_blocking(runtime, runtime.searcher.search, query)
    runtime.metrics.search_latency.labels(cached=str(outcome.cached).lower()).observe(
        outcome.search_time_ms / 1000
    )
    return SearchResponse(
        query_id=outcome.query_id,
        results=[SearchResult.from_point(p, API_PREFIX) for p in outcome.results],
        total_found=len(outcome.results),
        has_more=outcome.has_more,
        search_time_ms=outcome.search_time_ms,
        cached=outcome.cached,
        model_id=outcome.model_id,
    )


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
async def search(body: SearchRequest, runtime: RuntimeDep) -> SearchResponse:
    """Search by text, an image (base64 or URL), an indexed image id, or text plus an image."""
    image_bytes = None
    if body.image_data:
        image_bytes = decode_base64(body.image_data)
    elif body.image_url:
        image_bytes = (await runtime.fetcher.afetch(body.image_url)).data
    return await _search(
        runtime, text=body.text, image_bytes=image_bytes, image_id=body.image_id,
        text_weight=body.text_weight, top_k=body.top_k, threshold=body.threshold,
        offset=body.offset, flt=body.filter,
    )


@router.post("/search/image", response_model=SearchResponse, responses=ERRORS)
async def search_image(
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="The query image.")],
    text: Annotated[str | None, Form(max_length=2000)] = None,
    text_weight: Annotated[float, Form(ge=0.0, le=1.0)] = 0.5,
    top_k: Annotated[int, Form(ge=1)] = 10,
    threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    offset: Annotated[int, Form(ge=0, le=100_000)] = 0,
    filter: Annotated[str | None, Form(description="A JSON object.")] = None,
) -> SearchResponse:
    """Search by an uploaded image (multipart), optionally combined with text."""
    flt = form_json_object(filter, "filter")
    data = await run_blocking(runtime, read_capped, file.file, runtime.settings.max_upload_bytes)
    return await _search(
        runtime, text=text, image_bytes=data, image_id=None, text_weight=text_weight,
        top_k=top_k, threshold=threshold, offset=offset, flt=flt,
    )
