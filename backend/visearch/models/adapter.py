"""Model directories written by ``visearch train-adapter``.

Two kinds share one format (``config.json`` with ``"format": "visearch-heads"``, plus
``model.safetensors`` and ``MODEL_CARD.md``):

- ``adapter``: residual linear adapters on top of a CLIP-style base model's unit vectors;
  ``config.json`` names the base (a local directory or a hub name in the local cache) and
  its model id, which is checked at load time so an adapter never runs on other weights.
- ``offline``: heads for the built-in offline towers (same as the committed built-in model).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from visearch.models.base import Embedder, ModelLoadError
from visearch.models.heads import Head, load_heads

FORMAT = "visearch-heads"
KIND_ADAPTER = "adapter"
KIND_OFFLINE = "offline"


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_adapter_dir(path: Path) -> bool:
    """True for a directory written by ``train-adapter`` (either kind)."""
    path = Path(path)
    if not path.is_dir():
        return False
    config = _read_config(path)
    return config is not None and config.get("format") == FORMAT


class AdapterEmbedder(Embedder):
    """A base embedder followed by trained adapters; outputs are re-normalised."""

    def __init__(
        self, base: Embedder, image_head: Head, text_head: Head, *, model_id: str
    ) -> None:
        if image_head.config.in_dim != base.dim or text_head.config.in_dim != base.dim:
            raise ModelLoadError(
                f"adapter expects {image_head.config.in_dim}-d inputs but the base model "
                f"{base.model_id!r} gives {base.dim}-d vectors"
            )
        self.base = base
        self.image_head = image_head.to(base.device)
        self.text_head = text_head.to(base.device)
        self.model_id = model_id
        self.dim = image_head.config.out_dim
        self.device = base.device
        self.precision = base.precision
        self.image_transform = base.image_transform
        self._lock = threading.Lock()

    def _apply(self, head: Head, vectors: np.ndarray) -> np.ndarray:
        if len(vectors) == 0:
            return np.zeros((0, self.dim), np.float32)
        with self._lock, torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(vectors, np.float32)).to(self.device)
            y = torch.nn.functional.normalize(head(x).float(), dim=-1)
            return np.ascontiguousarray(y.cpu().numpy(), dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._apply(self.text_head, self.base.embed_texts(texts))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._apply(self.image_head, self.base.embed_images(images))

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._apply(self.image_head, self.base.embed_pixels(pixels))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "base_model_id": self.base.model_id}


def resolve_base(adapter_dir: Path, base: str) -> Path:
    """The base model's directory: absolute, relative to the adapter, or a hub name that is
    already in the local Hugging Face cache (never downloaded here)."""
    candidate = Path(base).expanduser()
    for path in (candidate, adapter_dir / candidate):
        if (path / "config.json").is_file():
            return path.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(base, local_files_only=True))
    except Exception as exc:
        raise ModelLoadError(
            f"the adapter's base model {base!r} is neither a model directory nor in the local "
            f"Hugging Face cache ({type(exc).__name__}); copy the base model next to the "
            "adapter or set base_model.path in its config.json"
        ) from exc


def adapter_model_id(path: Path) -> str:
    """``<directory name>@<hash of config + weights>``, like local CLIP directories."""
    from visearch.models.clip import local_model_id

    return local_model_id(path)


def load_adapter_model(
    path: Path, device: str = "cpu", batch_size: int = 32, precision: str = "fp32"
) -> Embedder:
    """Load a ``train-adapter`` output directory as an ``Embedder``."""
    path = Path(path)
    config = _read_config(path)
    if config is None or config.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a visearch adapter directory (no valid config.json)")
    kind = config.get("kind")
    if kind == KIND_OFFLINE:
        from visearch.models.offline import load_offline_model

        return load_offline_model(device, batch_size, precision, model_dir=path)
    if kind != KIND_ADAPTER:
        raise ModelLoadError(f"{path}: unknown adapter kind {kind!r}")
    from visearch.models.clip import ClipEmbedder, weights_fingerprint

    base_info = config.get("base_model")
    if not isinstance(base_info, dict) or not isinstance(base_info.get("path"), str):
        raise ModelLoadError(f"{path}: config.json has no base_model.path")
    base_dir = resolve_base(path, base_info["path"])
    expected = base_info.get("fingerprint")
    found = weights_fingerprint(base_dir)
    if expected and found != expected:
        raise ModelLoadError(
            f"the adapter in {path} was trained on base weights {expected} but {base_dir} "
            f"holds {found}; retrain the adapter for these weights"
        )
    base = ClipEmbedder.from_dir(base_dir, device=device, batch_size=batch_size,
                                 precision=precision)
    image_head, text_head = load_heads(path, config)
    return AdapterEmbedder(base, image_head, text_head, model_id=adapter_model_id(path))
