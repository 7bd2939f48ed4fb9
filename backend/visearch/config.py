"""Settings: every knob is an environment variable with the ``VISEARCH_`` prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
OFFLINE_MODEL = "builtin:offline"


class ConfigError(ValueError):
    """A setting has a wrong value; the message says which and why."""


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
    text_padding: Literal["auto", "longest", "max_length"] = Field(
        "auto",
        description="Text padding: longest in the batch (fast), or max_length for checkpoints "
        "trained that way (SigLIP); auto picks per model type.",
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
    hnsw_m: int = Field(16, ge=4, le=128)
    hnsw_ef_construct: int = Field(100, ge=8, le=1024)

    # Limits
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(64_000_000, ge=1)
    max_top_k: int = Field(1000, ge=1, le=100_000)
    max_batch_files: int = Field(256, ge=1)
    stored_image_max_side: int = Field(
        2048, ge=64, description="Larger originals are kept as a bounded copy of this size."
    )
    thumbnail_size: int = Field(256, ge=32, le=1024)

    # URL fetching
    fetch_timeout_s: float = Field(10.0, gt=0)
    fetch_max_redirects: int = Field(3, ge=0, le=20)
    fetch_concurrency: int = Field(8, ge=1, le=256)
    fetch_allow_private: bool = Field(
        False, description="Allow URLs that resolve to loopback/private/link-local addresses."
    )
    fetch_allow_hosts: list[str] = Field(
        default_factory=list,
        description='Hosts ("host" or "host:port") exempt from the private-address rule.',
    )

    # Services for the scaled setup (issue: jobs + cache)
    redis_url: str | None = None
    broker_url: str | None = None
    allowed_roots: list[Path] = Field(default_factory=list)
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

    @field_validator("data_dir", "qdrant_path", "static_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.store == "qdrant" and not (self.qdrant_url or self.qdrant_path):
            raise ValueError("store=qdrant needs VISEARCH_QDRANT_URL (or VISEARCH_QDRANT_PATH)")
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError("write_consistency_factor cannot exceed replication_factor")
        return self


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = f"VISEARCH_{loc.upper()}" if loc else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
