"""CLIP-style dual encoders (CLIP, SigLIP, ...) through the ``transformers`` Auto classes."""

from __future__ import annotations

import copy
import hashlib
import inspect
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from visearch.models import openvino
from visearch.models.base import Embedder, ModelLoadError
from visearch.models.precision import (
    Precision,
    apply_precision,
    checked_variant,
    compute_dtype,
    probe_images,
    resolve_precision,
)
from visearch.models.preprocess import transform_from_processor

TextPadding = Literal["longest", "max_length"]

#: Model types whose text tower was trained on fixed-length padded input and pools a fixed
#: position, so padding to the longest text in a batch would change their embeddings.
MAX_LENGTH_PADDING_TYPES = frozenset({"siglip", "siglip2"})

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_FINGERPRINT_FILES = ("config.json", "preprocessor_config.json")


def detect_text_padding(model_type: str, requested: str = "auto") -> TextPadding:
    """Padding the checkpoint needs: ``requested`` unless "auto", then by model type."""
    if requested in ("longest", "max_length"):
        return requested  # type: ignore[return-value]
    if requested != "auto":
        raise ValueError(f"text padding must be auto, longest or max_length, not {requested!r}")
    return "max_length" if model_type in MAX_LENGTH_PADDING_TYPES else "longest"


def weights_fingerprint(model_dir: Path) -> str:
    """Short SHA-256 of the config, preprocessing config and weight files of a model directory.

    Stable across restarts and different for different weights, so collections made with one
    set of weights are never searched with another.
    """
    digest = hashlib.sha256()
    files = [model_dir / name for name in _FINGERPRINT_FILES if (model_dir / name).is_file()]
    files += sorted(
        p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)
    )
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:12]


def local_model_id(model_dir: Path) -> str:
    """``<directory name>@<fingerprint>``: readable, and tied to the exact weights."""
    model_dir = model_dir.resolve()
    return f"{model_dir.name}@{weights_fingerprint(model_dir)}"


def _text_max_length(tokenizer: Any, config: Any) -> int:
    """The text tower's context length (77 for CLIP, 64 for SigLIP)."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 100_000:  # unset means ~1e30
        limits.append(tok_max)
    text_config = getattr(config, "text_config", None) or config
    positions = getattr(text_config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else 77


def _features(out: Any) -> torch.Tensor:
    """Projected features from ``get_*_features``: a tensor (transformers 4) or an output
    object whose ``pooler_output`` holds them (transformers 5)."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], torch.Tensor):
        return out[1]
    raise TypeError(f"unexpected feature output of type {type(out).__name__}")


def _normalised(features: torch.Tensor) -> np.ndarray:
    feats = torch.nn.functional.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(feats.cpu().numpy(), dtype=np.float32)


class _ImageTower(torch.nn.Module):
    """``get_image_features`` as a module (what OpenVINO converts)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=pixel_values))


class _TextTower(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_text_features(input_ids=input_ids,
                                                      attention_mask=attention_mask))


class ClipEmbedder(Embedder):
    """A CLIP-style model: ``get_text_features`` / ``get_image_features`` into one space.

    Texts are padded to the longest text of each batch (a short query costs a few tokens,
    not 77) unless the checkpoint needs fixed-length padding (see ``detect_text_padding``).
    Images go through ``image_transform`` (PIL resize/crop to uint8, normalised on the device)
    when the checkpoint's processor is one it reproduces exactly, else through the processor.
    ``model`` must already be in ``precision`` (``from_dir`` does that).
    Safe to call from several threads: tokenisation and forward passes are serialised.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        *,
        model_id: str,
        device: str,
        batch_size: int = 32,
        text_padding: str = "auto",
        precision: Precision = "fp32",
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        for method in ("get_text_features", "get_image_features"):
            if not callable(getattr(model, method, None)):
                raise ModelLoadError(
                    f"model {model_id!r} ({type(model).__name__}) has no {method}; visearch "
                    "needs a CLIP-style text+image model such as openai/clip-vit-base-patch32"
                )
        self.model = model.eval()
        #: "torch", or "openvino" (``with_precision``): then these run the towers.
        self.runtime = "torch"
        self._ov_image: Any = None
        self._ov_text: Any = None
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.model_id = model_id
        self.requested_model_id = model_id
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        #: dtype of the pixels fed to the model (int8 keeps float32 activations).
        self.dtype = compute_dtype(precision)
        self.image_transform = transform_from_processor(image_processor)
        self.model_type = str(getattr(model.config, "model_type", ""))
        self.text_padding: TextPadding = detect_text_padding(self.model_type, text_padding)
        self.max_text_length = _text_max_length(tokenizer, model.config)
        params = inspect.signature(model.get_text_features).parameters
        self._text_inputs = {
            name for name, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }
        self._forward_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not re-entrant
        self.dim = int(self.embed_texts(["a photo"]).shape[1])  # also a smoke test of the model
        image_dim = self.embed_images([Image.new("RGB", (32, 32))]).shape[1]
        if image_dim != self.dim:
            raise ModelLoadError(
                f"model {model_id!r} gives text vectors of {self.dim} and image vectors of "
                f"{image_dim} dimensions; they must share one space"
            )

    @classmethod
    def from_dir(
        cls,
        model_dir: Path,
        *,
        device: str,
        batch_size: int = 32,
        model_id: str | None = None,
        text_padding: str = "auto",
        precision: str = "fp32",
        runtime: str = "torch",
        cache_dir: Path | None = None,
    ) -> ClipEmbedder:
        """Load model, tokenizer and image processor from a local directory (no network).

        ``model_id`` defaults to ``local_model_id(model_dir)``. ``precision`` is a
        ``VISEARCH_PRECISION`` value, ``runtime`` a ``VISEARCH_RUNTIME`` one (``auto``:
        OpenVINO where it can run, see ``models/openvino.py``; converted towers are cached
        under ``cache_dir``). Anything but fp32 on torch is checked against fp32 on torch
        (``checked_variant``), which is kept if the other falls short.
        """
        if not (model_dir / "config.json").is_file():
            raise ModelLoadError(f"{model_dir} is not a model directory: it has no config.json")
        chosen = resolve_precision(precision, device)
        model = AutoModel.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        image_processor = AutoImageProcessor.from_pretrained(model_dir, local_files_only=True)
        exact = cls(
            model.to(device),
            tokenizer,
            image_processor,
            model_id=model_id or local_model_id(model_dir),
            device=device,
            batch_size=batch_size,
            text_padding=text_padding,
        )
        candidate = None
        if openvino.wanted(runtime, device, chosen):
            candidate = openvino.converted(
                lambda: exact.with_precision(chosen, runtime="openvino", cache_dir=cache_dir),
                runtime, exact.model_id)
        if candidate is None:
            candidate = exact if chosen == "fp32" else exact.with_precision(chosen)
            return checked_variant(exact, candidate)
        return checked_variant(exact, candidate, cache_dir / "checked.json" if cache_dir else None,
                               f"{exact.model_id}|{chosen}|openvino")

    def with_precision(
        self, precision: Precision, *, runtime: str = "torch", cache_dir: Path | None = None
    ) -> ClipEmbedder:
        """A copy of this (float32 torch) embedder running in ``precision`` on ``runtime``
        (torch, or openvino: both towers converted, the torch weights not kept); this one
        is unchanged."""
        if runtime == "openvino":
            return self._on_openvino(precision, cache_dir)
        source = copy.deepcopy(self.model) if precision in ("bf16", "fp16") else self.model
        twin = type(self)(
            apply_precision(source, precision),
            self.tokenizer,
            self.image_processor,
            model_id=self.model_id,
            device=self.device,
            batch_size=self.batch_size,
            text_padding=self.text_padding,
            precision=precision,
        )
        twin.requested_model_id = self.requested_model_id
        return twin

    def _on_openvino(self, precision: Precision, cache_dir: Path | None) -> ClipEmbedder:
        from visearch.models.openvino import CompiledTower

        transform = self.image_transform
        tokens = self.tokenize(["a photo", "a photo of two dogs"], "longest")
        if transform is None or set(tokens) != {"input_ids", "attention_mask"}:
            raise ModelLoadError("only CLIP-style processors and text inputs convert")
        height, width = transform.output_size
        key = f"{self.model_id}|{precision}"
        image = CompiledTower.convert(
            _ImageTower(self.model), {"pixel_values": torch.zeros(2, 3, height, width)},
            precision, cache_dir, key + "|image")
        text = CompiledTower.convert(
            _TextTower(self.model), {"input_ids": tokens["input_ids"],
                                     "attention_mask": tokens["attention_mask"]},
            precision, cache_dir, key + "|text", dynamic_axes=(0, 1))
        twin = copy.copy(self)
        twin.model = None  # the torch weights are not needed any more
        twin.runtime, twin.precision, twin.dtype = "openvino", precision, torch.float32
        twin._ov_image, twin._ov_text = image, text
        twin._forward_lock = threading.Lock()
        return twin

    def probe_vectors(self) -> torch.Tensor:
        """Embeddings of fixed probe texts and images (to compare precisions)."""
        texts = self.embed_texts(["a photo of a dog", "red shoes", "a city street at night"])
        images = self.embed_images(probe_images())
        return torch.from_numpy(np.concatenate([texts, images]))

    # -- texts ------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str], padding: TextPadding | None = None) -> dict[str, Any]:
        """Token tensors for one batch, truncated at the model's context length."""
        with self._tokenizer_lock:
            batch = self.tokenizer(
                list(texts),
                padding=padding or self.text_padding,
                truncation=True,
                max_length=self.max_text_length,
                return_tensors="pt",
            )
        return {k: v for k, v in batch.items() if k in self._text_inputs}

    def encode_tokens(self, batch: dict[str, Any]) -> np.ndarray:
        """Forward one tokenised batch; unit float32 rows."""
        if self._ov_text is not None:
            out = self._ov_text({k: v.numpy() for k, v in batch.items()})
            return _normalised(torch.from_numpy(out))
        inputs = {k: v.to(self.device) for k, v in batch.items()}
        with self._forward_lock, torch.inference_mode():
            feats = _features(self.model.get_text_features(**inputs))
            return _normalised(feats)

    def embed_texts(
        self, texts: Sequence[str], *, padding: TextPadding | None = None
    ) -> np.ndarray:
        """Embed texts in batches of ``batch_size``; ``padding`` overrides the default."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a sequence of strings, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, not a str")
        out = [
            self.encode_tokens(self.tokenize(texts[i : i + self.batch_size], padding))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(out) if out else self._empty()

    # -- images -----------------------------------------------------------------------------

    def preprocess_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Float32 pixel tensor (CPU) for ``encode_pixels``, as the checkpoint's processor
        makes it (through ``image_transform`` when there is one: same numbers, faster)."""
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        if self.image_transform is not None:
            return self.image_transform.normalise(self.image_transform.stack(rgb), "cpu")
        pixels: torch.Tensor = self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]
        return pixels

    def encode_pixels(self, pixel_values: torch.Tensor) -> np.ndarray:
        """Forward one preprocessed float batch; unit float32 rows."""
        return self._forward_images(pixel_values.to(self.device, dtype=self.dtype))

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed uint8 ``(n, H, W, 3)`` pixels from ``image_transform``, normalised on the
        device, in batches of ``batch_size``."""
        transform = self.image_transform
        if transform is None:
            raise NotImplementedError(f"model {self.model_id!r} has no image_transform")
        out = [
            self._forward_images(
                transform.normalise(pixels[i : i + self.batch_size], self.device, self.dtype)
            )
            for i in range(0, len(pixels), self.batch_size)
        ]
        return np.concatenate(out) if out else self._empty()

    def _forward_images(self, pixels: torch.Tensor) -> np.ndarray:
        if self._ov_image is not None:
            return _normalised(torch.from_numpy(self._ov_image(pixels.float().numpy())))
        with self._forward_lock, torch.inference_mode():
            return _normalised(_features(self.model.get_image_features(pixel_values=pixels)))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed PIL images in batches of ``batch_size``."""
        images = list(images)
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"image {i} is a {type(image).__name__}, not a PIL image")
        out = []
        for i in range(0, len(images), self.batch_size):
            chunk = images[i : i + self.batch_size]
            if self.image_transform is not None:
                out.append(self.embed_pixels(self.image_transform.stack(chunk)))
            else:
                out.append(self.encode_pixels(self.preprocess_images(chunk)))
        return np.concatenate(out) if out else self._empty()

    def _empty(self) -> np.ndarray:
        return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)

    def describe(self) -> dict[str, object]:
        """Base fields plus what was configured and how texts are padded."""
        return {
            **super().describe(),
            "requested_model_id": self.requested_model_id,
            "dtype": str(self.dtype).removeprefix("torch."),
            "runtime": self.runtime,
            "fast_preprocessing": self.image_transform is not None,
            "text_padding": self.text_padding,
            "max_text_length": self.max_text_length,
        }
