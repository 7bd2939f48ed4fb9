"""Request and response bodies of API v1 (see docs/api.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from visearch import __version__
from visearch.jobs.model import JobView, iso, now
from visearch.jobs.spec import JobSpec, ManifestEntry
from visearch.services.indexing import IndexResult
from visearch.store.base import ScoredPoint

if TYPE_CHECKING:
    from visearch.runtime import Runtime


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


_OUTCOME_MESSAGES = {"indexed": "image indexed", "duplicate": "image already indexed; nothing changed"}


class IndexOneResponse(IndexResponse):
    """``POST /index`` (one image): the batch shape, plus the fields of the seed design's
    published API, so that clients written for it work unchanged."""

    image_id: str | None
    success: bool = Field(description="True when the image is in the index (indexed or duplicate).")
    message: str
    processing_time_ms: float

    @classmethod
    def from_result(cls, r: IndexResult) -> IndexOneResponse:
        batch = IndexResponse.from_results([r])
        return cls(
            **dict(batch),
            image_id=r.image_id,
            success=r.error is None,
            message=r.error.message if r.error else _OUTCOME_MESSAGES[r.status],
            processing_time_ms=r.processing_time_ms,
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

    @classmethod
    def of(cls, runtime: Runtime, count: int) -> StatsResponse:
        """``GET /stats``, and ``visearch stats`` on the local store (the same shape)."""
        emb, store = runtime.embedder, runtime.store
        return cls(
            count=count,
            model=ModelInfo(model_id=emb.model_id, requested_model=runtime.settings.model,
                            dim=emb.dim, device=emb.device, fallback=emb.is_fallback),
            store=StoreInfo(backend=store.backend, collection=store.name),
            cache=runtime.cache.status(),
            uptime_s=round(time.time() - runtime.started_at, 1),
            version=__version__,
        )


class HealthResponse(BaseModel):
    status: Literal["ok"]
    timestamp: str = Field(description="Server time, ISO 8601 (UTC).")
    version: str
    services: dict[str, str] = Field(
        description="Each component's last known state, found without I/O: model ok | "
        "fallback, store open, cache ok | degraded | disabled, jobs running | stopped; "
        "all starting while the service loads. /ready checks them.",
        examples=[{"model": "ok", "store": "open", "cache": "ok", "jobs": "running"}],
    )


class ReadyResponse(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    checks: dict[str, Any]


class UiConfig(BaseModel):
    keys_required: bool = Field(description="Whether API calls need a key.")
    api_key: str | None = Field(
        None, description="A search-only key for the web UI to send, when the operator set one."
    )


# -- jobs ---------------------------------------------------------------------------------


class JobRequest(BaseModel):
    """``POST /api/v1/jobs``: exactly one of ``urls``, ``folder`` or ``manifest``."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] | None = Field(default=None, description="Image URLs to fetch and index.")
    folder: str | None = Field(
        default=None,
        description="Server-side folder under VISEARCH_ALLOWED_ROOTS, scanned recursively.",
    )
    manifest: list[ManifestEntry] | str | None = Field(
        default=None,
        description="Inline entries, or the server-side path of a JSONL manifest under "
        "VISEARCH_ALLOWED_ROOTS (relative item paths are relative to the manifest).",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Metadata for every item (an item's own keys win)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> JobRequest:
        self.to_spec()  # JobSpec refuses anything but exactly one source
        return self

    def to_spec(self) -> JobSpec:
        return JobSpec(urls=self.urls, folder=self.folder, manifest=self.manifest,
                       metadata=self.metadata)


class JobAccepted(BaseModel):
    job_id: str
    state: str
    total: int
    runner: str
    url: str = Field(description="Where to follow the job (also the Location header).")


class JobFailure(BaseModel):
    item: int = Field(description="Position of the item in the job.")
    source: str | None = Field(description="The item's URL or path.")
    code: str | None
    message: str | None


class JobStatus(BaseModel):
    job_id: str
    state: str = Field(description="queued | running | completed | completed_with_errors | "
                                   "failed | cancelled")
    runner: str = Field(description="celery (RabbitMQ workers) or local (in-process)")
    source: str = Field(description="urls | folder | manifest")
    description: str
    total: int
    done: int = Field(description="Images indexed by this job.")
    failed: int = Field(description="Items that failed permanently (see failures).")
    skipped: int = Field(description="Images already indexed, or dropped by a cancel.")
    remaining: int
    progress: float
    rate: float | None = Field(description="Items per second since the job started.")
    eta_s: float | None = Field(description="Seconds to go at the current rate.")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None = Field(description="Why the whole job failed, when it did.")

    @classmethod
    def from_view(cls, view: JobView, **extra: Any) -> Self:
        at = now()  # rate and ETA measured to the same instant
        rate, eta = view.rate(at), view.eta_s(at)
        return cls(
            job_id=view.job_id, state=view.state, runner=view.runner, source=view.source,
            description=view.description, total=view.total, done=view.done,
            failed=view.failed, skipped=view.skipped, remaining=view.remaining,
            progress=round(view.progress, 4),
            rate=round(rate, 2) if rate is not None else None,
            eta_s=round(eta, 1) if eta is not None else None,
            created_at=iso(view.created_at), started_at=iso(view.started_at),
            finished_at=iso(view.finished_at), error=view.error, **extra,
        )


class JobDetail(JobStatus):
    failures: list[JobFailure] = Field(description="The first failed items, with reasons.")
    failures_truncated: bool = Field(description="More items failed than listed.")

    @classmethod
    def from_view(cls, view: JobView, **extra: Any) -> Self:
        return super().from_view(
            view, failures=[JobFailure.model_validate(f) for f in view.failures],
            failures_truncated=view.failed > len(view.failures), **extra,
        )


class JobList(BaseModel):
    jobs: list[JobStatus]
