"""Add images: one by JSON (base64 or URL), or several by multipart upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse

from visearch.api.deps import RuntimeDep, run_blocking
from visearch.api.errors import ApiError
from visearch.api.schemas import ErrorBody, IndexRequest, IndexResponse
from visearch.api.uploads import form_json_object
from visearch.ingest.decode import decode_base64
from visearch.services.indexing import IndexItem, IndexResult, ItemError

router = APIRouter(tags=["index"])
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 413, 415, 422, 503)
}


def _failure_response(results: list[IndexResult]) -> JSONResponse:
    """Nothing was indexed: answer with the first item's error status, keep every result."""
    first = next(r.error for r in results if r.error)
    body = IndexResponse.from_results(results).model_dump()
    if len(results) == 1:
        message = first.message
    else:
        message = f"none of the {len(results)} files could be indexed; see results"
    body["error"] = {"code": first.code, "message": message}
    return JSONResponse(body, status_code=first.status)


@router.post("/index", response_model=IndexResponse, responses=ERRORS)
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
    results = await run_blocking(runtime, runtime.indexer.index_items, [item])
    if results[0].status == "failed":
        return _failure_response(results)
    return IndexResponse.from_results(results)


@router.post("/index/upload", response_model=IndexResponse, responses=ERRORS)
async def index_upload(
    runtime: RuntimeDep,
    files: Annotated[list[UploadFile], File(description="One or more images.")],
    metadata: Annotated[str | None, Form(description="JSON object applied to every file.")] = None,
    label: Annotated[str | None, Form(max_length=256)] = None,
) -> Any:
    """Index several uploaded files; one result per file."""
    settings = runtime.settings
    if len(files) > settings.max_batch_files:
        raise ApiError(413, "too_many_files", f"at most {settings.max_batch_files} files a request")
    meta = form_json_object(metadata, "metadata") or {}

    items: list[IndexItem] = []
    rejected: dict[int, IndexResult] = {}
    for i, f in enumerate(files):
        data = await f.read(settings.max_upload_bytes + 1)
        name = f.filename or f"file{i}"
        if len(data) > settings.max_upload_bytes:
            err = ItemError("too_large", f"{name} exceeds {settings.max_upload_bytes} bytes", 413)
            rejected[i] = IndexResult(None, "failed", err, 0.0, name)
            continue
        items.append(IndexItem(data=data, filename=name, metadata=meta, label=label,
                               source="upload"))
    done = iter(await run_blocking(runtime, runtime.indexer.index_items, items))
    results = [rejected[i] if i in rejected else next(done) for i in range(len(files))]
    if all(r.status == "failed" for r in results):
        return _failure_response(results)
    return IndexResponse.from_results(results)
