"""Frozen features of the offline model's towers, cached for head training.

Images are extracted once with the widest multi-scale tap (``EXTRACT_STAGES``) and all six
MiniLM layers; a training run then slices the columns its ``TowerConfig`` asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from visearch.models.efficientnet_lite import EfficientNetLite
from visearch.models.offline import OfflineTowers, TowerConfig
from visearch.training.features import image_features, text_features

#: Stage taps extracted into the cache; any ``image_stages`` up to this is a column slice.
EXTRACT_STAGES = 4
ALL_TEXT_LAYERS = (1, 2, 3, 4, 5, 6)
TEXT_WIDTH = 384


def extraction_config(config: TowerConfig) -> TowerConfig:
    """The superset configuration whose features are cached."""
    return replace(config, image_stages=EXTRACT_STAGES, text_layers=ALL_TEXT_LAYERS,
                   image_flip_average=False)


def image_key(config: TowerConfig) -> str:
    c = config
    return f"offline-image:{c.image_variant}:{c.image_size}:crop={c.image_crop}:s{EXTRACT_STAGES}"


def text_key() -> str:
    return f"offline-text:minilm-l6:layers={ALL_TEXT_LAYERS}"


def slice_image(features: np.ndarray, config: TowerConfig) -> np.ndarray:
    """Keep the columns of ``config.image_stages`` from features cached at EXTRACT_STAGES."""
    net = EfficientNetLite(config.image_variant)
    width = net.multiscale_dim(config.image_stages)
    return features[..., features.shape[-1] - width :]


def slice_text(features: np.ndarray, config: TowerConfig) -> np.ndarray:
    """Keep the columns of ``config.text_layers`` from features of all six layers."""
    cols = [features[..., (i - 1) * TEXT_WIDTH : i * TEXT_WIDTH] for i in config.text_layers]
    return np.concatenate(cols, axis=-1)


class CachedOfflineFeatures:
    """Extracts (or reads from the cache) tower features for lists of images and captions."""

    def __init__(self, config: TowerConfig, cache_dir: Path | None, device: str = "cpu",
                 batch_size: int = 32, quiet: bool = False) -> None:
        self.config = extraction_config(config)
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self.quiet = quiet
        self._towers: OfflineTowers | None = None

    @property
    def towers(self) -> OfflineTowers:
        if self._towers is None:  # loaded only when something is not cached yet
            self._towers = OfflineTowers(self.config, self.device, optimize=True)
        return self._towers

    def _encode_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.towers.image_features(images).cpu().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.towers.text_features(texts).cpu().numpy()

    def images(self, paths: Sequence[Path], view: str, seed: int = 0) -> np.ndarray:
        return image_features(
            self._encode_images, paths, view=view, seed=seed, batch_size=self.batch_size,
            cache_dir=self.cache_dir, encoder_key=image_key(self.config), quiet=self.quiet,
        )

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        return text_features(
            self._encode_texts, texts, batch_size=128, cache_dir=self.cache_dir,
            encoder_key=text_key(), quiet=self.quiet,
        )
