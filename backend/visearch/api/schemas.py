"""Request and response bodies of API v1 (see docs/api.md)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from visearch import __version__, plainjson
from visearch.ingest.files import LARGE_THUMBNAIL_SIZE
from visearch.ingest.ids import IMAGE_ID_PATTERN
from visearch.jobs.model import JobView, iso, now
from visearch.jobs.spec import JobSpec, ManifestEntry
from visearch.services.dedup import DuplicateGroup
from visearch.services.indexing import IndexResult
from visearch.services.search import SearchOutcome, SearchQuery, Term
from visearch.store.base import ScoredPoint

if TYPE_CHECKING:
    from visearch.config import Settings
    from visearch.runtime import Runtime


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


#: An image id, whole (JSON Schema patterns match anywhere in the string).
IMAGE_ID_REGEX = f"^{IMAGE_ID_PATTERN}$"


def _exactly_one(*names: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these fields" (the model's validator decides)."""
    return {"oneOf": [{"required": [n]} for n in names]}


def state_limits(schema: dict[str, Any], settings: Settings) -> None:
    """Put the configured limits into the OpenAPI schema (``top_k`` at most
    ``VISEARCH_MAX_TOP_K``), which the models can only state as the widest allowed."""
    for model in schema.get("components", {}).get("schemas", {}).values():
        top_k = model.get("properties", {}).get("top_k")
        if isinstance(top_k, dict):
            top_k["maximum"] = settings.max_top_k


class JsonBody(BaseModel):
    """A JSON request body. Python's JSON parser lets NaN, Infinity, integers of any size and
    lone surrogates through; a body holding any of them (or nested deeper than
    ``plainjson.MAX_DEPTH``) is refused here with a 422, before a value reaches a store, a
    queue, a log or a response."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        reason = plainjson.problem(data, name="body")
        if reason is not None:
            raise ValueError(reason)
        return data


#: Ids one relevance-feedback list (likes or dislikes) may hold.
MAX_FEEDBACK_IDS = 100
#: Terms one search may combine.
MAX_TERMS = 16
_TERM_SOURCES = ("text", "image_data", "image_url", "image_id", "query_id")


class SearchTerm(JsonBody):
    """One weighted part of a query: exactly one source, and a weight."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one(*_TERM_SOURCES))

    text: str | None = Field(None, min_length=1, max_length=2000, examples=["people"])
    image_data: str | None = Field(None, description="Base64 image or a data: URL.")
    image_url: str | None = Field(None, max_length=4096, description="An image to fetch.")
    image_id: str | None = Field(None, pattern=IMAGE_ID_REGEX, description="An indexed image.")
    query_id: str | None = Field(None, max_length=64,
                                 description="A query image stored with `POST /queries`.")
    weight: float = Field(
        1.0, ge=-10.0, le=10.0,
        description="Weight of this term's unit vector in the query's weighted sum; negative "
        "pushes results away from it (\"beach\" + -1 x \"people\").",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SearchTerm:
        if sum(getattr(self, k) is not None for k in _TERM_SOURCES) != 1:
            raise ValueError(f"a term needs exactly one of {', '.join(_TERM_SOURCES)}")
        return self


class SearchRequest(JsonBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [n]} for n in ("text", "image_data", "image_url", "image_id", "query_id",
                                    "terms", "positive_ids", "negative_ids")
    ]})

    text: str | None = Field(None, max_length=2000, examples=["a dog running on a beach"])
    image_data: str | None = Field(None, description="Base64 image or a data: URL.")
    image_url: str | None = Field(None, max_length=4096)
    image_id: str | None = Field(None, pattern=IMAGE_ID_REGEX,
                                 description="Search by an indexed image (more like this).")
    query_id: str | None = Field(
        None, max_length=64,
        description="Search by a query image stored with `POST /queries` (a dropped or pasted "
        "image that a URL can name).",
    )
    text_weight: float = Field(0.5, ge=0.0, le=1.0,
                               description="The text's share when text and an image are both "
                               "given (the shorthand fields).")
    terms: list[SearchTerm] = Field(
        default_factory=list, max_length=MAX_TERMS,
        description="More weighted terms (texts, images, indexed images), added to the "
        "shorthand fields; the query is the normalised weighted sum of their unit vectors.",
        examples=[[{"text": "people", "weight": -1.0}]],
    )
    positive_ids: list[Annotated[str, Field(pattern=IMAGE_ID_REGEX)]] = Field(
        default_factory=list, max_length=MAX_FEEDBACK_IDS,
        description="Relevance feedback: indexed images the user liked (left out of the "
        "results). May be given alone.",
    )
    negative_ids: list[Annotated[str, Field(pattern=IMAGE_ID_REGEX)]] = Field(
        default_factory=list, max_length=MAX_FEEDBACK_IDS,
        description="Relevance feedback: indexed images the user disliked (left out of the "
        "results).",
    )
    strategy: Literal["average_vector", "best_score", "sum_scores", "relevance_feedback"] = Field(
        "average_vector",
        description="How liked/disliked images refine the query: average_vector (search near "
        "2 x mean(query and likes) - mean(dislikes)), best_score (a result's best similarity to "
        "a like, or minus its best to a dislike), sum_scores (sum of similarities to likes "
        "minus to dislikes), relevance_feedback (the query plus liked-minus-disliked "
        "similarity; needs query terms). Qdrant's recommend and relevance feedback queries.",
    )
    diversity: float = Field(
        0.0, ge=0.0, le=1.0,
        description="0: off. Above 0, results are re-ranked by maximal marginal relevance so "
        "near-identical photos do not fill the page; 1 is the most diverse.",
    )
    top_k: int = Field(10, ge=1, le=100_000, description="At most VISEARCH_MAX_TOP_K.")
    threshold: float | None = Field(None, ge=-1.0, le=1.0,
                                    description="Absolute minimum score.")
    cutoff: Literal["auto", "off"] = Field(
        "off",
        description="auto: drop results below the relevance cutoff (calibrated per model and "
        "query kind, else relative to the top hit; see docs/api.md); the response's `cutoff` "
        "says how many were cut.",
    )
    sort: Literal["relevance", "taken_at", "indexed_at"] = Field(
        "relevance",
        description="relevance, or a date: taken_at (EXIF capture time; images without one "
        "come last) or indexed_at, applied to the best VISEARCH_SEARCH_POOL results above the "
        "cutoff.",
    )
    order: Literal["desc", "asc"] = Field("desc", description="Direction of a date sort.")
    collapse_duplicates: bool = Field(
        False, description="One result per near-duplicate group (the best-scoring one)."
    )
    ensemble: bool | None = Field(
        None, description="Prompt ensembling of short texts (default: VISEARCH_PROMPT_ENSEMBLE)."
    )
    offset: int = Field(0, ge=0, le=100_000)
    filter: dict[str, Any] | None = Field(
        None, description="Filter (docs/api.md): exact values, lists or {\"in\": [...]}, "
        "ranges (numbers or ISO dates), {\"not\": {...}}.",
        examples=[{"label": {"in": ["dress", "skirt"]},
                   "taken_at": {"gte": "2024-06-01"}, "not": {"camera": "NIKON D750"}}],
    )

    @model_validator(mode="after")
    def _one_image(self) -> SearchRequest:
        if sum(bool(v) for v in (self.image_data, self.image_url, self.query_id)) > 1:
            raise ValueError("give one of image_data, image_url or query_id")
        return self

    def to_query(self, image: bytes | None, terms: Sequence[Term]) -> SearchQuery:
        """The service's query, given the image bytes of the shorthand image and ``terms``
        (each ``SearchTerm`` with its image bytes, which the caller gathered)."""
        return SearchQuery(
            text=self.text, image=image, image_url=None if image else self.image_url,
            image_id=self.image_id, text_weight=self.text_weight, terms=tuple(terms),
            positive_ids=tuple(self.positive_ids), negative_ids=tuple(self.negative_ids),
            strategy=self.strategy, diversity=self.diversity, top_k=self.top_k,
            offset=self.offset, threshold=self.threshold, cutoff=self.cutoff, sort=self.sort,
            order=self.order, collapse_duplicates=self.collapse_duplicates, flt=self.filter,
            ensemble=self.ensemble,
        )


class ImageItem(BaseModel):
    """An indexed image as lists show it (the library); a search result adds its score."""

    image_id: str
    filename: str | None = None
    width: int | None = None
    height: int | None = None
    label: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    thumbnail_url: str = Field(description="The small thumbnail (256 px on the longer side).")
    thumbnail_2x_url: str = Field(
        description="The same thumbnail at twice the size (512 px), for high-density screens."
    )
    image_url: str
    taken_at: str | None = Field(None, description="When the photo was taken (EXIF), ISO 8601.")
    camera: str | None = Field(None, description="The camera (EXIF make and model).")
    duplicate_of: str | None = Field(
        None, description="The original this image nearly duplicates (linked at index time)."
    )

    @classmethod
    def _fields(cls, image_id: str, payload: dict[str, Any], prefix: str) -> dict[str, Any]:
        p = payload
        thumbnail = f"{prefix}/images/{quote(image_id, safe='')}/thumbnail"
        return {
            "image_id": image_id,
            "filename": p.get("filename"),
            "width": p.get("width"),
            "height": p.get("height"),
            "label": p.get("label"),
            "metadata": p.get("metadata") or {},
            "thumbnail_url": thumbnail,
            "thumbnail_2x_url": f"{thumbnail}?size={LARGE_THUMBNAIL_SIZE}",
            "image_url": f"{prefix}/images/{quote(image_id, safe='')}",
            "taken_at": p.get("taken_at"),
            "camera": p.get("camera"),
            "duplicate_of": p.get("duplicate_of"),
        }

    @classmethod
    def from_payload(cls, image_id: str, payload: dict[str, Any], prefix: str) -> Self:
        return cls(**cls._fields(image_id, payload, prefix))


class SearchResult(ImageItem):
    score: float

    @classmethod
    def from_point(cls, point: ScoredPoint, prefix: str) -> SearchResult:
        return cls(score=round(point.score, 6), **cls._fields(point.id, point.payload, prefix))


class CutoffReport(BaseModel):
    method: Literal["off", "calibrated", "relative", "not_applicable"] = Field(
        description="off (not asked), calibrated (the model's score for this query kind), "
        "relative (within VISEARCH_CUTOFF_RELATIVE of the top hit), not_applicable (scores of "
        "best_score / sum_scores / relevance_feedback are not cosine similarities)."
    )
    score: float | None = Field(description="Results below this score were cut.")
    kept: int = Field(description="Results considered that passed the cutoff.")
    cut: int = Field(description="Results considered that fell below it: this page, or the "
                                 "candidate pool of a date-sorted or collapsed search.")


class SearchResponse(BaseModel):
    query_id: str
    results: list[SearchResult]
    total_found: int = Field(description="Results in this page.")
    has_more: bool = Field(description="A next page (offset + top_k) may hold more results "
                                       "above the cutoff.")
    search_time_ms: float
    cached: bool
    model_id: str
    cutoff: CutoffReport = Field(
        default_factory=lambda: CutoffReport(method="off", score=None, kept=0, cut=0)
    )

    @classmethod
    def from_outcome(cls, outcome: SearchOutcome, prefix: str) -> SearchResponse:
        c = outcome.cutoff
        return cls(
            query_id=outcome.query_id,
            results=[SearchResult.from_point(p, prefix) for p in outcome.results],
            total_found=len(outcome.results),
            has_more=outcome.has_more,
            search_time_ms=outcome.search_time_ms,
            cached=outcome.cached,
            model_id=outcome.model_id,
            cutoff=CutoffReport(method=c.method, score=None if c.score is None
                                else round(c.score, 6), kept=c.kept, cut=c.cut),
        )


class FacetValue(BaseModel):
    value: str | int | bool
    count: int


class FacetResponse(BaseModel):
    field: str
    values: list[FacetValue] = Field(description="Most frequent first (ties by value).")


class DuplicatesResponse(BaseModel):
    image_id: str
    duplicates: list[SearchResult] = Field(
        description="Near-duplicates, most similar first; score is the cosine similarity."
    )


class DuplicateMember(BaseModel):
    image_id: str
    filename: str | None
    similarity: float = Field(description="Cosine similarity to the group's original.")
    duplicate_of: str | None


class DuplicateGroupOut(BaseModel):
    original: str = Field(description="The linked original, else the earliest indexed.")
    members: list[DuplicateMember] = Field(description="The original first.")


class DuplicateGroupsResponse(BaseModel):
    distance: float
    images: int = Field(description="Images compared.")
    groups: list[DuplicateGroupOut]

    @classmethod
    def of(cls, groups: Sequence[DuplicateGroup], images: int, distance: float,
           limit: int | None = None) -> DuplicateGroupsResponse:
        return cls(distance=distance, images=images, groups=[
            DuplicateGroupOut(original=g.original,
                              members=[DuplicateMember(**m) for m in g.members])
            for g in list(groups)[:limit]])


class IndexRequest(JsonBody):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra=_exactly_one("image_data", "image_url"))

    image_data: str | None = Field(None, description="Base64 image or a data: URL.")
    image_url: str | None = Field(None, max_length=4096)
    image_id: str | None = Field(None, max_length=128, pattern=IMAGE_ID_REGEX)
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
    status: Literal["indexed", "duplicate", "near_duplicate", "failed"] = Field(
        description="near_duplicate: within VISEARCH_NEAR_DUPLICATE_DISTANCE of `duplicate_of`; "
        "linked, skipped or indexed as VISEARCH_NEAR_DUPLICATE_ACTION says."
    )
    error: ErrorDetail | None = None
    processing_time_ms: float
    duplicate_of: str | None = Field(None, description="A near-duplicate's original.")

    @classmethod
    def from_result(cls, r: IndexResult) -> IndexItemResult:
        return cls(
            image_id=r.image_id,
            filename=r.filename,
            status=r.status,
            error=ErrorDetail(code=r.error.code, message=r.error.message) if r.error else None,
            processing_time_ms=r.processing_time_ms,
            duplicate_of=r.duplicate_of,
        )


class IndexResponse(BaseModel):
    results: list[IndexItemResult]
    indexed: int
    duplicates: int
    near_duplicates: int = 0
    failed: int

    @classmethod
    def from_results(cls, results: list[IndexResult]) -> IndexResponse:
        return cls(
            results=[IndexItemResult.from_result(r) for r in results],
            indexed=sum(r.status == "indexed" for r in results),
            duplicates=sum(r.status == "duplicate" for r in results),
            near_duplicates=sum(r.status == "near_duplicate" for r in results),
            failed=sum(r.status == "failed" for r in results),
        )


_OUTCOME_MESSAGES = {"indexed": "image indexed", "duplicate": "image already indexed; nothing changed",
                     "near_duplicate": "image is a near-duplicate of an indexed one (duplicate_of)"}


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
    mode: Literal["read_write", "read_only"] = Field(
        "read_write", description="read_only: a replica serving a copy of the index "
        "(VISEARCH_READ_ONLY); indexing, deletes and jobs answer 503 read_only.")


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
            store=StoreInfo(backend=store.backend, collection=store.name,
                            mode="read_only" if runtime.settings.read_only else "read_write"),
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
    status: Literal["ready", "degraded", "not_ready", "draining"]
    checks: dict[str, Any]


class UiConfig(BaseModel):
    keys_required: bool = Field(description="Whether API calls need a key.")
    api_key: str | None = Field(
        None, description="A search-only key for the web UI to send, when the operator set one."
    )


# -- jobs ---------------------------------------------------------------------------------


class JobRequest(JsonBody):
    """``POST /api/v1/jobs``: exactly one of ``urls``, ``folder`` or ``manifest``."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra=_exactly_one("urls", "folder", "manifest"))

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
