"""Embedding models: one interface, one module per model family."""

from visearch.models.base import Embedder, ModelLoadError

__all__ = ["Embedder", "ModelLoadError"]
