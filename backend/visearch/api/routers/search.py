"""Search (JSON and multipart), facets and near-duplicates.

The router turns the request into a ``SearchQuery`` and nothing more: transport decoding only
(base64, a stored query image's bytes); fetching URLs, decoding and checking images, embedding
and the store's query API are the service's (``services/search.py``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from visearch.api import API_PREFIX
from visearch.api.deps import ACCESS_ERRORS, SEARCHING, RuntimeDep, run_blocking, run_fast
from visearch.api.routers.queries import QueryImagesDep, query_image_bytes
from visearch.api.schemas import (
    DuplicateGroupsResponse,
    DuplicatesResponse,
    ErrorBody,
    FacetResponse,
    FacetValue,
    SearchRequest,
    SearchResponse,
    SearchResult,
    SearchTerm,
)
from visearch.api.uploads import form_json_object
from visearch.errors import VisearchError
from visearch.ingest.decode import decode_base64, read_capped
from visearch.ingest.queries import QueryImages
from visearch.runtime import Runtime
from visearch.services import dedup
from visearch.services.search import Term

router = APIRouter(tags=["search"], dependencies=[Depends(SEARCHING)], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 404, 413, 415, 422, 503)
}
#: Facet values one call may ask for.
MAX_FACET_VALUES = 500
#: Default distance of ``/images/{id}/duplicates`` and ``/duplicates`` while index-time
#: detection is off (VISEARCH_NEAR_DUPLICATE_DISTANCE=0).
FALLBACK_DISTANCE = 0.075


async def _image_bytes(runtime: Runtime, queries: QueryImages, image_data: str | None,
                       query_id: str | None) -> bytes | None:
    if image_data:
        return decode_base64(image_data)
    if query_id:
        return await query_image_bytes(runtime, queries, query_id)
    return None


async def _term(runtime: Runtime, queries: QueryImages, t: SearchTerm) -> Term:
    return Term(text=t.text, image=await _image_bytes(runtime, queries, t.image_data, t.query_id),
                image_url=t.image_url, image_id=t.image_id, weight=t.weight)


async def _search(runtime: Runtime, queries: QueryImages, body: SearchRequest,
                  upload: bytes | None = None) -> SearchResponse:
    limit = runtime.settings.max_top_k
    if body.top_k > limit:
        raise VisearchError(
            f"top_k must be between 1 and {limit}", code="invalid_request", status=422
        )
    image = upload if upload is not None else await _image_bytes(
        runtime, queries, body.image_data, body.query_id)
    query = body.to_query(image, [await _term(runtime, queries, t) for t in body.terms])
    searcher = runtime.searcher
    if not searcher.needs_model(query):  # by stored ids (more-like-this, feedback): no model
        outcome = await run_fast(runtime, searcher.search, query)
    else:  # a cached answer never waits behind inference
        cached = await run_fast(runtime, searcher.cached, query)
        outcome = cached if cached is not None else await run_blocking(
            runtime, searcher.search, query)
    runtime.metrics.search_latency.labels(cached=str(outcome.cached).lower()).observe(
        outcome.search_time_ms / 1000
    )
    return SearchResponse.from_outcome(outcome, API_PREFIX)


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
async def search(
    body: SearchRequest, runtime: RuntimeDep, queries: QueryImagesDep
) -> SearchResponse:
    """Search by weighted terms (text, images, indexed images; negative weights push away),
    liked and disliked images, or both; with optional diversity, relevance cutoff, date sort,
    near-duplicate collapsing and a filter. See docs/api.md."""
    return await _search(runtime, queries, body)


def _form_json(text: str | None, field: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise VisearchError(f"{field} must be JSON", code=f"invalid_{field}", status=400) from None


def _form_ids(text: str | None, field: str) -> list[str]:
    """A JSON array of ids, or ids separated by commas."""
    if not text:
        return []
    if text.lstrip().startswith("["):
        value = _form_json(text, field)
        return value if isinstance(value, list) else [value]
    return [part.strip() for part in text.split(",") if part.strip()]


@router.post("/search/image", response_model=SearchResponse, responses=ERRORS)
async def search_image(
    runtime: RuntimeDep,
    queries: QueryImagesDep,
    file: Annotated[UploadFile, File(description="The query image.")],
    text: Annotated[str | None, Form(max_length=2000)] = None,
    text_weight: Annotated[float, Form(ge=0.0, le=1.0)] = 0.5,
    top_k: Annotated[int, Form(ge=1)] = 10,
    threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    offset: Annotated[int, Form(ge=0, le=100_000)] = 0,
    filter: Annotated[str | None, Form(description="A JSON object.")] = None,
    terms: Annotated[str | None, Form(description="A JSON array of terms (as in /search).")] =
        None,
    positive_ids: Annotated[str | None, Form(
        description="Liked image ids: a JSON array or comma-separated.")] = None,
    negative_ids: Annotated[str | None, Form(
        description="Disliked image ids: a JSON array or comma-separated.")] = None,
    strategy: Annotated[Literal["average_vector", "best_score", "sum_scores",
                                "relevance_feedback"], Form()] = "average_vector",
    diversity: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    cutoff: Annotated[Literal["auto", "off"], Form()] = "off",
    sort: Annotated[Literal["relevance", "taken_at", "indexed_at"], Form()] = "relevance",
    order: Annotated[Literal["desc", "asc"], Form()] = "desc",
    collapse_duplicates: Annotated[bool, Form()] = False,
    ensemble: Annotated[bool | None, Form()] = None,
) -> SearchResponse:
    """Search by an uploaded image (multipart), with every option of ``POST /search`` as form
    fields (JSON ones as JSON strings); the upload is the shorthand image."""
    fields: dict[str, Any] = {
        "text": text, "text_weight": text_weight, "top_k": top_k, "threshold": threshold,
        "offset": offset, "filter": form_json_object(filter, "filter"),
        "terms": _form_json(terms, "terms") or [],
        "positive_ids": _form_ids(positive_ids, "positive_ids"),
        "negative_ids": _form_ids(negative_ids, "negative_ids"),
        "strategy": strategy, "diversity": diversity, "cutoff": cutoff, "sort": sort,
        "order": order, "collapse_duplicates": collapse_duplicates, "ensemble": ensemble,
    }
    try:
        body = SearchRequest.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    data = await run_blocking(runtime, read_capped, file.file, runtime.settings.max_upload_bytes)
    return await _search(runtime, queries, body, upload=data)


@router.get("/facets/{field}", response_model=FacetResponse, responses=ERRORS)
async def facets(
    field: str,
    runtime: RuntimeDep,
    filter: Annotated[str | None, Query(description="A JSON filter (as for /search).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FACET_VALUES)] = 50,
) -> FacetResponse:
    """How many images have each value of ``field`` (label, format, camera, camera_make,
    camera_model, or a metadata field declared in VISEARCH_PAYLOAD_INDEXES) under the filter;
    exact counts, most frequent first."""
    flt = form_json_object(filter, "filter")
    hits = await run_blocking(runtime, runtime.store.facet, field, flt, limit)
    return FacetResponse(field=field, values=[FacetValue(value=v, count=c) for v, c in hits])


def _distance(runtime: Runtime, distance: float | None) -> float:
    if distance is not None:
        return distance
    return runtime.settings.near_duplicate_distance or FALLBACK_DISTANCE


@router.get("/images/{image_id}/duplicates", response_model=DuplicatesResponse, responses=ERRORS)
async def image_duplicates(
    image_id: str,
    runtime: RuntimeDep,
    distance: Annotated[float | None, Query(gt=0.0, le=0.5, description=(
        "Cosine distance (default VISEARCH_NEAR_DUPLICATE_DISTANCE)."))] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DuplicatesResponse:
    """Near-duplicates of an indexed image: images within the distance, its original and the
    copies linked to it."""
    found = await run_blocking(runtime, dedup.duplicates_of, runtime.store, image_id,
                               _distance(runtime, distance), limit)
    if found is None:
        raise VisearchError(f"no indexed image with id {image_id!r}", code="not_found",
                            status=404)
    return DuplicatesResponse(image_id=image_id,
                              duplicates=[SearchResult.from_point(p, API_PREFIX) for p in found])


@router.get("/duplicates", response_model=DuplicateGroupsResponse, responses=ERRORS)
async def duplicate_groups(
    runtime: RuntimeDep,
    distance: Annotated[float | None, Query(gt=0.0, le=0.5, description=(
        "Cosine distance (default VISEARCH_NEAR_DUPLICATE_DISTANCE)."))] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Groups to return.")] = 1000,
) -> DuplicateGroupsResponse:
    """Every group of near-duplicates in the collection, largest first (``visearch dedup``).
    Compares all pairs: minutes for a few hundred thousand images."""
    d = _distance(runtime, distance)
    groups, images = await run_blocking(runtime, dedup.duplicate_groups, runtime.store, d)
    return DuplicateGroupsResponse.of(groups, images, d, limit)
