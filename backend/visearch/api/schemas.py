"""Request and response bodies of API v1 (see docs/api.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from visearch.services.indexing import IndexResult
from visearch.store.base import ScoredPoint


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=2000, examples=["a dog running on a beach"])
    image_data: str | None = Field(None, description="Base64 image or a data: URL.")
    image_url: str | None = Field(None, max_length=4096)
    image_id: str | None = Field(None, description="Search by an indexed image (more like this).")
    text_weight: float = Field(0.5, ge=0.0, le=1.0)
    top_k: int = Field(10, ge=1)
    threshold: float | None = Field(None, ge=-1.0, le=1.0)
    offset: int = Field(0, ge=0, le=100_000)
    filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_image(self) -> SearchRequest:
        if self.image_data and self.image_url:
            raise ValueError("give image_data or image_url, not both")
        return self


class SearchResult(BaseModel):
    image_id: str
    score: float
    filename: str | None = None
    width: int | None = None
    height: int | None = None
    label: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    thumbnail_url: str
    image_url: str

    @classmethod
    def from_point(cls, point: ScoredPoint, prefix: str) -> SearchResult:
        p = point.payload
        return cls(
            image_id=point.id,
            score=round(point.score, 6),
            filename=p.get("filename"),
            width=p.get("width"),
            height=p.get("height"),
            label=p.get("label"),
            metadata=p.get("metadata") or {},
            thumbnail_url=f"{prefix}/images/{point.id}/thumbnail",
            image_url=f"{prefix}/images/{point.id}",
        )


class SearchResponse(BaseModel):
    query_id: str
    results: list[SearchResult]
    total_found: int
    has_more: bool
    search_time_ms: float
    cached: bool
    model_id: str


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_data: str | None = Field(None, description="Base64 image or a data: URL.")
    image_url: str | None = Field(None, max_length=4096)
    image_id: str | None = Field(None, max_length=128)
    filename: str | None = Field(None, max_length=512)
    label: str | None = Field(None, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one(self) -> IndexRequest:
        if bool(self.image_data) == bool(self.image_url):
            raise ValueError("give exactly one of image_data or image_url")
        return self


class IndexItemResult(BaseModel):
    image_id: str | None
    filename: str | None
    status: Literal["indexed", "duplicate", "failed"]
    error: ErrorDetail | None = None
    processing_time_ms: float

    @classmethod
    def from_result(cls, r: IndexResult) -> IndexItemResult:
        return cls(
            image_id=r.image_id,
            filename=r.filename,
            status=r.status,
            error=ErrorDetail(code=r.error.code, message=r.error.message) if r.error else None,
            processing_time_ms=r.processing_time_ms,
        )


class IndexResponse(BaseModel):
    results: list[IndexItemResult]
    indexed: int
    duplicates: int
    failed: int

    @classmethod
    def from_results(cls, results: list[IndexResult]) -> IndexResponse:
        return cls(
            results=[IndexItemResult.from_result(r) for r in results],
            indexed=sum(r.status == "indexed" for r in results),
            duplicates=sum(r.status == "duplicate" for r in results),
            failed=sum(r.status == "failed" for r in results),
        )


class DeleteResponse(BaseModel):
    deleted: str


class ModelInfo(BaseModel):
    model_id: str
    requested_model: str
    dim: int
    device: str
    fallback: bool


class StoreInfo(BaseModel):
    backend: str
    collection: str


class StatsResponse(BaseModel):
    count: int
    model: ModelInfo
    store: StoreInfo
    cache: dict[str, Any]
    uptime_s: float
    version: str


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    checks: dict[str, Any]
