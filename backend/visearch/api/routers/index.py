"""Add images: one by JSON (base64 or URL), or several by multipart upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

from visearch.api.deps import ACCESS_ERRORS, INDEXING, RuntimeDep, run_blocking
from visearch.api.schemas import ErrorBody, IndexOneResponse, IndexRequest, IndexResponse
from visearch.api.uploads import form_json_object
from visearch.errors import VisearchError
from visearch.ingest.decode import decode_base64
from visearch.ingest.metadata import check_label, check_metadata, clean_text
from visearch.services.indexing import IndexItem

router = APIRouter(tags=["index"], dependencies=[Depends(INDEXING)], responses=ACCESS_ERRORS)
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 413, 415, 422, 503)
}


def _failure_response(body: IndexResponse, error: VisearchError) -> JSONResponse:
    """Nothing was indexed: answer with the error's status, and keep every result."""
    content = body.model_dump()
    content["error"] = {"code": error.code, "message": error.message}
    return JSONResponse(content, status_code=error.status)


@router.post("/index", response_model=IndexOneResponse, responses=ERRORS)
async def index_one(body: IndexRequest, runtime: RuntimeDep) -> Any:
    """Index one image given as base64 (or a data: URL) or as a URL to fetch."""
    item = IndexItem(
        data=decode_base64(body.image_data) if body.image_data else None,
        url=body.image_url,
        image_id=body.image_id,
        metadata=body.metadata,
        filename=body.filename,
        label=body.label,
        source=body.image_url or "api",
    )
    [result] = await run_blocking(runtime, runtime.indexer.index_items, [item])
    response = IndexOneResponse.from_result(result)
    if result.error is not None:
        return _failure_response(response, result.error)
    return response


@router.post("/index/upload", response_model=IndexResponse, responses=ERRORS)
async def index_upload(
    runtime: RuntimeDep,
    files: Annotated[list[UploadFile], File(min_length=1, description="One or more images.")],
    metadata: Annotated[str | None, Form(description="JSON object applied to every file.")] = None,
    label: Annotated[str | None, Form(max_length=256)] = None,
) -> Any:
    """Index several uploaded files; one result per file (the indexer reads and checks them)."""
    limit = runtime.settings.max_batch_files
    if len(files) > limit:
        raise VisearchError(f"at most {limit} files a request", code="too_many_files", status=413)
    # What applies to every file is checked before any file is read.
    meta = check_metadata(form_json_object(metadata, "metadata") or {}, runtime.indexer.limits)
    check_label(label)
    items = [
        IndexItem(stream=f.file, filename=clean_text(f.filename) or f"file{i}", metadata=meta,
                  label=label, source="upload")
        for i, f in enumerate(files)
    ]
    results = await run_blocking(runtime, runtime.indexer.index_items, items)
    response = IndexResponse.from_results(results)
    if results and response.failed == len(results):
        first = next(r.error for r in results if r.error)
        if len(results) > 1:
            message = f"none of the {len(results)} files could be indexed; see results"
            first = VisearchError(message, code=first.code, status=first.status)
        return _failure_response(response, first)
    return response
