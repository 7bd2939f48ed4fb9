"""The interface every embedding model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from visearch.errors import VisearchError

if TYPE_CHECKING:
    from visearch.models.preprocess import ImageTransform


class ModelLoadError(VisearchError, RuntimeError, code="model_unavailable", status=503):
    """The model could not be loaded; the message says how to fix it."""


class Embedder(ABC):
    """Maps texts and images into one shared space of unit vectors.

    Implementations batch internally (``batch_size``), run without gradients and return
    float32 arrays of shape ``(n, dim)`` whose rows have L2 norm 1.
    """

    #: Stable identifier of the weights (hub name, or directory name plus a content hash).
    model_id: str
    #: Output dimension.
    dim: int
    #: torch device string actually used ("cuda", "mps", "cpu").
    device: str
    #: True when this model was loaded as the offline fallback of the configured one.
    is_fallback: bool = False
    #: What the settings asked for (differs from ``model_id`` when the fallback runs).
    requested_model_id: str | None = None
    #: Numeric precision the model runs in ("fp32", "bf16", "fp16", "int8").
    precision: str = "fp32"
    #: The picklable PIL -> uint8 part of the image preprocessing, so callers (the indexing
    #: pipeline) can run it on other threads or processes and call ``embed_pixels``; None
    #: when ``embed_images`` must do it all.
    image_transform: ImageTransform | None = None

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; shape (len(texts), dim), L2-normalised."""

    @abstractmethod
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB PIL images; shape (len(images), dim), L2-normalised."""

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed a ``(n, H, W, 3)`` uint8 batch made by ``image_transform.stack``."""
        raise NotImplementedError(f"{type(self).__name__} has no image_transform")

    def warm_up(self) -> None:
        """Run the shapes that serving uses once, so the first requests do not pay for lazy
        initialisation (kernel selection, allocator growth)."""
        self.embed_texts(["a photo", "a photo of a red dress on a wooden table"])
        self.embed_images([Image.new("RGB", (320, 240), (120, 90, 60))])

    def describe(self) -> dict[str, object]:
        """What /stats and /ready report about the model."""
        return {
            "model_id": self.model_id,
            "dim": self.dim,
            "device": self.device,
            "precision": self.precision,
            "fallback": self.is_fallback,
            "requested_model_id": self.requested_model_id or self.model_id,
        }
