"""Settings: every knob is an environment variable with the ``VISEARCH_`` prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
OFFLINE_MODEL = "builtin:offline"


class ConfigError(ValueError):
    """A setting has a wrong value; the message says which and why."""


def split_list(value: object) -> object:
    """A list setting from the environment: a JSON list, or one value, or values separated by
    commas (``/srv/photos`` or ``/a,/b`` or ``["/a", "/b"]``); other types pass through."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("not a valid JSON list; give a JSON list or comma-separated "
                             "values") from None
    return [part.strip() for part in text.split(",") if part.strip()]


class Settings(BaseSettings):
    """Validated at start-up; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="VISEARCH_", env_file=".env", extra="ignore", validate_default=True
    )

    # Embedding model
    model: str = Field(DEFAULT_MODEL, description="Hub name or local directory of the model.")
    model_fallback: str = Field(
        OFFLINE_MODEL,
        description="Model used when `model` cannot be loaded; empty disables the fallback.",
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    batch_size: int = Field(32, ge=1, le=1024)
    inference_threads: int = Field(1, ge=1, le=64, description="Threads serving model calls.")
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        "auto",
        description="Numeric precision of the model: auto picks per device and CPU flags "
        "(fp16 on CUDA, bf16 with AVX-512 BF16/AMX, int8 with AVX2/VNNI, else fp32).",
    )
    runtime: Literal["auto", "torch", "openvino"] = Field(
        "auto",
        description="What runs the model on CPU: openvino (the optional extra, about 2x torch "
        "in the same precision), torch; auto takes openvino when it is installed and the "
        "precision is fp32 or bf16.",
    )
    text_padding: Literal["auto", "longest", "max_length"] = Field(
        "auto",
        description="Text padding: longest in the batch (fast), or max_length for checkpoints "
        "trained that way (SigLIP); auto picks per model type.",
    )
    query_batch_max: int = Field(
        32, ge=1, le=1024,
        description="Most concurrent queries (texts or images) gathered into one model call.",
    )
    query_batch_wait_ms: float = Field(
        2.0, ge=0, le=100,
        description="How long a query may wait for others to share its model call (ms).",
    )
    decode_workers: int = Field(
        -1, ge=-1, le=64,
        description="Processes that decode images for indexing: -1 picks by cores (none "
        "below 4 cores: threads then), 0 uses threads.",
    )

    # Storage
    data_dir: Path = Field(Path("./data"), description="Vectors, images and thumbnails.")
    store: Literal["edge", "qdrant"] = "edge"
    qdrant_url: str | None = None
    qdrant_path: Path | None = Field(
        None, description="qdrant-client local mode directory (tests, single process)."
    )
    qdrant_api_key: SecretStr | None = None
    qdrant_timeout_s: float = Field(10.0, gt=0)
    shard_number: int = Field(1, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)
    write_consistency_factor: int = Field(1, ge=1, le=16)
    read_consistency: Annotated[int, Field(ge=1, le=16)] | Literal[
        "majority", "quorum", "all"] | None = Field(
        None, description="Replicas of a Qdrant cluster that must answer a read (a number, "
        "majority, quorum or all); unset: Qdrant's default (1).",
    )
    write_ordering: Literal["weak", "medium", "strong"] | None = Field(
        None, description="Ordering of writes on a Qdrant cluster (weak, medium, strong); "
        "unset: Qdrant's default (weak).",
    )
    read_only: bool = Field(
        False, description="Serve a read-only copy of the index: searches work; indexing, "
        "deletes and jobs answer 503 read_only (replicas of one embedded index).",
    )
    hnsw_m: int = Field(16, ge=4, le=128)
    hnsw_ef_construct: int = Field(100, ge=8, le=1024)
    hnsw_ef: int = Field(64, ge=8, le=4096, description="HNSW search beam width (recall/speed).")
    store_quantization: Literal["none", "int8"] = Field(
        "int8",
        description="Scalar quantization of the edge store's vectors (searched with rescoring "
        "on the originals); applies to collections created after it is set.",
    )
    store_oversampling: float = Field(
        2.0, ge=1.0, le=16.0,
        description="With quantization: candidates rescored on the original vectors, as a "
        "multiple of the results asked for (recall at 1M: see docs/performance.md).",
    )
    store_vectors_on_disk: bool = Field(
        True,
        description="Keep the original float32 vectors on disk (memory-mapped) when quantized; "
        "only rescoring reads them.",
    )
    index_build_threshold: int = Field(
        20_000, ge=0,
        description="Build the HNSW index in the background once this many points are not "
        "covered by it (0: never from the server; `visearch index` always builds).",
    )

    # Search features (docs/search-quality.md has the measurements behind the defaults)
    payload_indexes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Caller metadata fields to index, as metadata.<key>:<type> (keyword, "
        "integer, float, bool, datetime), comma-separated; needed for facets on them and "
        "to order by them, and makes filters on them fast.",
    )
    near_duplicate_distance: float = Field(
        0.075, ge=0.0, le=1.0,
        description="Cosine distance within which a new image is a near-duplicate of an "
        "indexed one (0 turns the check off).",
    )
    near_duplicate_action: Literal["link", "skip", "index"] = Field(
        "link",
        description="What indexing does with a near-duplicate: link (index it with payload "
        "duplicate_of), skip (do not index it), index (index it as if new). All three "
        "report status near_duplicate with duplicate_of.",
    )
    cutoff_calibration: Path | None = Field(
        None,
        description="Calibration file of the relevance cutoff (written by `visearch eval "
        "--calibrate`); default: the one shipped with the model, if any.",
    )
    cutoff_relative: float = Field(
        0.1, ge=0.0, le=2.0,
        description="Relative cutoff: results scoring more than this below the top hit are "
        "cut (used where no calibration applies).",
    )
    prompt_ensemble: bool = Field(
        False,
        description="Average short text queries over several prompt templates (off: it did "
        "not help the default model; see docs/search-quality.md).",
    )
    search_pool: int = Field(
        200, ge=10, le=10_000,
        description="Candidates a search sorted by date or collapsing near-duplicates "
        "considers (the best ones by relevance).",
    )

    # Limits
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(64_000_000, ge=1)
    max_top_k: int = Field(1000, ge=1, le=100_000)
    max_batch_files: int = Field(256, ge=1)
    stored_image_max_side: int = Field(
        2048, ge=64, description="Larger originals are kept as a bounded copy of this size."
    )
    thumbnail_size: int = Field(256, ge=32, le=1024)
    # Caller payloads (metadata is stored with every image and returned with every result)
    max_metadata_bytes: int = Field(
        16 * 1024, ge=16, le=1024 * 1024, description="Largest `metadata` object (bytes of JSON)."
    )
    max_metadata_depth: int = Field(
        8, ge=1, le=32, description="Deepest nesting of `metadata` (the object itself is 1)."
    )
    max_metadata_keys: int = Field(256, ge=1, le=100_000, description="Keys in `metadata`, all levels.")
    max_metadata_string: int = Field(
        4096, ge=1, le=1024 * 1024, description="Longest string or key in `metadata` (characters)."
    )
    min_free_disk_mb: int = Field(
        64, ge=0, description="Writes answer 507 while the data dir has less free space (MB)."
    )
    decode_memory_mb: int = Field(
        0, ge=0, description="Memory for the pixels of images decoded at once (MB); large images "
        "wait their turn beyond it. 0: an eighth of the machine's memory, 256-2048 MB.",
    )

    # URL fetching
    fetch_timeout_s: float = Field(10.0, gt=0)
    fetch_max_redirects: int = Field(3, ge=0, le=20)
    fetch_concurrency: int = Field(8, ge=1, le=256)
    fetch_allow_private: bool = Field(
        False, description="Allow URLs that resolve to loopback/private/link-local addresses."
    )
    fetch_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Hosts ("host" or "host:port") exempt from the private-address rule.',
    )

    # Services for the scaled setup (issue: jobs + cache)
    redis_url: str | None = None
    broker_url: str | None = None
    allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Server folders that jobs may read (comma-separated)."
    )
    cache_enabled: bool = Field(True, description="Cache text embeddings and result pages.")
    cache_l1_size: int = Field(10_000, ge=1, description="Entries in the in-process cache.")
    cache_ttl_s: float = Field(600.0, gt=0, description="Lifetime of cached entries (both tiers).")
    redis_timeout_s: float = Field(
        0.25, gt=0, description="Socket timeout for Redis; a slow Redis counts as down."
    )
    redis_prefix: str = Field("visearch", min_length=1, description="Prefix of every Redis key.")
    job_batch_size: int = Field(32, ge=1, le=1024, description="Images per job batch (task).")
    job_queue: str = Field(
        "visearch.index", pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="RabbitMQ queue of job batches; dead letters go to <queue>.dead.",
    )
    job_max_items: int = Field(1_000_000, ge=1, description="Most items one job may hold.")
    job_max_retries: int = Field(3, ge=0, le=20, description="Retries of a failing job batch.")
    job_retry_backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubles.")
    job_max_deliveries: int = Field(
        5, ge=1, le=100, description="Deliveries of one batch (worker deaths) before it is "
        "treated as poison and dead-lettered.",
    )
    job_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="How long job state is kept.")
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Prometheus port of `visearch worker` (off if unset)."
    )

    # Access control and limits per client (README "Security")
    api_keys_file: Path | None = Field(
        None, description="Keys file made by `visearch keys create`; when set, every API call "
        "except health, readiness and the docs needs a key.",
    )
    allow_unauthenticated: bool = Field(
        False, description="Let `visearch serve` bind a non-loopback address without API keys.",
    )
    ui_api_key: SecretStr | None = Field(
        None, description="A search-only key from the keys file that the web UI is given "
        "(GET /api/v1/ui-config); everyone who can open the UI can then search.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description='Host names the server answers to besides loopback '
        'and VISEARCH_HOST ("*.example.com", or "*" for any); blocks DNS rebinding.',
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Other web origins allowed to call the API from a "
        "browser (CORS), e.g. https://app.example.com; none by default.",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"], description="Proxies whose X-Forwarded-For "
        "names the client (rate limits per address); \"*\" trusts any.",
    )
    client_limits: Literal["auto", "on", "off"] = Field(
        "auto", description="Rate limits and job quotas per key (or client address); auto: "
        "on unless single-user (no keys, loopback address).",
    )
    rate_limit_search: str = Field(
        "20/second;600/minute", description="Search budget per client (limits notation).",
    )
    rate_limit_index: str = Field(
        "10/second;300/minute", description="Indexing budget per client: index requests, "
        "uploaded files, job submissions, deletions.",
    )
    job_max_active: int = Field(4, ge=1, le=10_000,
                                description="Queued or running jobs per client.")

    # HTTP limits the server enforces itself
    max_request_bytes: int = Field(
        512 * 1024 * 1024, ge=1024 * 1024,
        description="Largest multipart request body, counted as it streams.",
    )
    max_header_bytes: int = Field(32 * 1024, ge=4096, le=1024 * 1024,
                                  description="Request line plus headers.")
    max_headers: int = Field(100, ge=16, le=1000, description="Header fields per request.")
    header_timeout_s: float = Field(10.0, gt=0, description="Time to send the request head.")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for the next part of a request body.",
    )
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="Idle keep-alive connections.")
    drain_grace_s: float = Field(
        8.0, ge=0, le=600, description="On SIGTERM, /ready answers 503 draining for this long "
        "while requests are still served (the balancer takes the replica out), then the "
        "server stops.",
    )
    drain_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="After the grace period, how long requests in flight "
        "may take to finish before they are cancelled.",
    )

    # Server and logs
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    static_dir: Path | None = Field(
        None, description="Built web UI to serve at /; defaults to frontend/dist when present."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("fetch_allow_hosts", "allowed_roots", "allowed_hosts", "allowed_origins",
                     "forwarded_allow_ips", "payload_indexes", mode="before")
    @classmethod
    def _list(cls, v: object) -> object:
        return split_list(v)

    @field_validator("payload_indexes", mode="after")
    @classmethod
    def _indexes(cls, v: list[str]) -> list[str]:
        from visearch.store.query import parse_index_spec

        parse_index_spec(v)
        return v

    @field_validator("allowed_origins", mode="after")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return [o.rstrip("/") for o in v]

    @field_validator("rate_limit_search", "rate_limit_index", mode="after")
    @classmethod
    def _rate(cls, v: str) -> str:
        from limits import parse_many  # only settings that are read pay for it

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a rate like 20/second;600/minute") from None
        return v

    @field_validator("data_dir", "qdrant_path", "static_dir", "api_keys_file",
                     "cutoff_calibration", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.store == "qdrant" and not (self.qdrant_url or self.qdrant_path):
            raise ValueError("store=qdrant needs VISEARCH_QDRANT_URL (or VISEARCH_QDRANT_PATH)")
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError("write_consistency_factor cannot exceed replication_factor")
        if self.ui_api_key is not None and self.api_keys_file is None:
            raise ValueError("ui_api_key needs VISEARCH_API_KEYS_FILE (the key must be in it)")
        return self


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a value the environment source itself could not read
        message = " ".join(str(exc).split())
        raise ConfigError(f"invalid configuration: {message}") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = f"VISEARCH_{loc.upper()}" if loc else "settings"
            msg = " ".join(str(err["msg"]).split()).removeprefix("Value error, ")
            problems.append(f"{name}: {msg}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
