"""The interface every embedding model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from PIL import Image


class ModelLoadError(RuntimeError):
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

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; shape (len(texts), dim), L2-normalised."""

    @abstractmethod
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB PIL images; shape (len(images), dim), L2-normalised."""

    def describe(self) -> dict[str, object]:
        """What /stats and /ready report about the model."""
        return {
            "model_id": self.model_id,
            "dim": self.dim,
            "device": self.device,
            "fallback": self.is_fallback,
            "requested_model_id": self.requested_model_id or self.model_id,
        }
