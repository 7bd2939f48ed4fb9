"""Load the configured embedding model: local directory, Hugging Face cache or hub, fallback.

Loading never hangs on a machine without internet: the cache is tried first without any
network access, the hub is asked once with a short timeout, and every failure becomes one
``ModelLoadError`` line that says how to fix it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog
from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

from visearch.config import OFFLINE_MODEL, Settings
from visearch.models.adapter import is_adapter_dir, load_adapter_model
from visearch.models.base import Embedder, ModelLoadError
from visearch.models.clip import ClipEmbedder
from visearch.models.device import select_device

#: Seconds to wait for the hub before declaring it unreachable.
HUB_TIMEOUT_S = 10.0

_TRUE = {"1", "ON", "YES", "TRUE"}
_AUX_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")


def load_embedder(settings: Settings) -> Embedder:
    """The configured model, or ``settings.model_fallback`` (marked ``is_fallback``) if it
    cannot be loaded. Every embedder returned has ``requested_model_id`` = ``settings.model``.
    """
    device = select_device(settings.device)  # a device mistake is not a model problem
    try:
        return _load(settings.model, settings, device)
    except ModelLoadError as exc:
        fallback = settings.model_fallback.strip()
        if not fallback or fallback == settings.model:
            raise
        structlog.get_logger().warning(
            "model_load_failed_using_fallback",
            model=settings.model,
            fallback=fallback,
            error=str(exc),
        )
        try:
            embedder = _load(fallback, settings, device)
        except ModelLoadError as fallback_exc:
            raise ModelLoadError(
                f"{exc} The fallback model {fallback!r} failed too: {fallback_exc}"
            ) from fallback_exc
    embedder.is_fallback = True
    embedder.requested_model_id = settings.model
    return embedder


def _load(name: str, settings: Settings, device: str) -> Embedder:
    started = time.perf_counter()
    if name == OFFLINE_MODEL:
        embedder = _load_offline(device, settings)
    else:
        local = _local_dir(name)
        if local is not None and is_adapter_dir(local):
            embedder = load_adapter_model(local, device=device, batch_size=settings.batch_size,
                                          precision=settings.precision)
        elif local is not None:
            embedder = _load_dir(local, None, device, settings)
        else:
            embedder = _load_hub(name, device, settings)
    if embedder.requested_model_id is None:
        embedder.requested_model_id = embedder.model_id
    structlog.get_logger().info(
        "model_loaded",
        model_id=embedder.model_id,
        dim=embedder.dim,
        device=embedder.device,
        precision=embedder.precision,
        seconds=round(time.perf_counter() - started, 2),
    )
    return embedder


def _local_dir(name: str) -> Path | None:
    """The directory ``name`` points at, None for a hub name, or a clear error."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(
            f"model path {path} is a file; VISEARCH_MODEL must be a model directory "
            "or a Hugging Face hub name"
        )
    looks_like_path = name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1
    if looks_like_path:
        raise ModelLoadError(
            f"model directory {path.absolute()} does not exist; set VISEARCH_MODEL to an "
            "existing model directory or a Hugging Face hub name such as "
            "openai/clip-vit-base-patch32"
        )
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ModelLoadError(
            f"model {name!r} is neither an existing directory nor a valid Hugging Face hub "
            "name (like openai/clip-vit-base-patch32); check VISEARCH_MODEL"
        ) from None
    return None


def _load_dir(path: Path, model_id: str | None, device: str, settings: Settings) -> ClipEmbedder:
    try:
        return ClipEmbedder.from_dir(
            path,
            device=device,
            batch_size=settings.batch_size,
            model_id=model_id,
            text_padding=settings.text_padding,
            precision=settings.precision,
            runtime=settings.runtime,
            cache_dir=_openvino_cache(settings),
        )
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        what = model_id or str(path)
        raise ModelLoadError(
            f"could not load model {what!r} from {path}: {_first_line(exc)}"
        ) from exc


def _load_hub(name: str, device: str, settings: Settings) -> ClipEmbedder:
    """From the Hugging Face cache without network; else download once, with timeouts."""
    try:
        cached: str | None = str(snapshot_download(name, local_files_only=True))
    except (OSError, ValueError):
        cached = None
    if cached is not None:
        try:
            return _load_dir(Path(cached), name, device, settings)
        except ModelLoadError:
            if _hub_offline():
                raise  # an incomplete cache; the download below would be refused anyway
    if _hub_offline():
        raise ModelLoadError(_not_available(name, "offline mode (HF_HUB_OFFLINE) is on"))
    return _load_dir(_download(name), name, device, settings)


def _download(name: str) -> Path:
    endpoint = constants.ENDPOINT
    try:
        info = HfApi(endpoint=endpoint).model_info(name, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        raise ModelLoadError(
            f"could not load model {name!r}: it is gated on the Hugging Face hub; accept its "
            "license on huggingface.co and set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"could not load model {name!r}: no such model on the Hugging Face hub (or it is "
            "private: set HF_TOKEN); check VISEARCH_MODEL"
        ) from None
    except Exception as exc:  # any transport error means: not reachable from here
        reason = f"the hub at {endpoint} is unreachable ({type(exc).__name__})"
        raise ModelLoadError(_not_available(name, reason)) from None
    files = [s.rfilename for s in info.siblings or [] if "/" not in s.rfilename]
    structlog.get_logger().info("model_download", model=name, files=len(files))
    try:
        path = snapshot_download(
            name,
            revision=info.sha,
            allow_patterns=_files_to_fetch(files),
            etag_timeout=HUB_TIMEOUT_S,
            endpoint=endpoint,
        )
    except Exception as exc:
        raise ModelLoadError(
            f"could not download model {name!r}: {_first_line(exc)}; check the network or "
            "set VISEARCH_MODEL to a local model directory"
        ) from None
    return Path(str(path))


def _files_to_fetch(files: list[str]) -> list[str]:
    """Config, tokenizer and preprocessing files plus one weights format (safetensors first)."""
    safetensors = [f for f in files if f.endswith(".safetensors")]
    torch_bins = [f for f in files if f.startswith("pytorch_model") and f.endswith(".bin")]
    weights = safetensors or torch_bins
    return [f for f in files if f.endswith(_AUX_SUFFIXES)] + weights


def _hub_offline() -> bool:
    """Offline mode, read now (the hub library reads its environment once at import)."""
    env = (os.environ.get(v, "").upper() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(v in _TRUE for v in env)


def _not_available(name: str, reason: str) -> str:
    return (
        f"could not load model {name!r}: it is not in the Hugging Face cache and {reason}. "
        f"Download it on a connected machine (hf download {name}) and copy the cache "
        "(~/.cache/huggingface), or set VISEARCH_MODEL to a local model directory."
    )


def _load_offline(device: str, settings: Settings) -> Embedder:
    try:
        from visearch.models.offline import load_offline_model
    except ImportError as exc:
        raise ModelLoadError(
            f"the built-in offline model is not available in this installation ({exc}); "
            "set VISEARCH_MODEL to a CLIP model"
        ) from exc
    try:
        return load_offline_model(device, settings.batch_size, settings.precision,
                                  runtime=settings.runtime, cache_dir=_openvino_cache(settings))
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(
            f"could not load the built-in offline model: {_first_line(exc)}"
        ) from exc


def _openvino_cache(settings: Settings) -> Path:
    """Where OpenVINO's converted towers are kept (read again on the next start)."""
    return settings.data_dir / "model-cache" / "openvino"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
