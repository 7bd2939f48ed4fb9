"""Pick the torch device a model runs on."""

from __future__ import annotations

import torch

from visearch.models.base import ModelLoadError


def select_device(requested: str = "auto") -> str:
    """Return "cuda", "mps" or "cpu": the best available for "auto", else the one asked for.

    Asking for a device torch cannot use is a configuration mistake, so it fails loudly
    instead of silently running on the CPU.
    """
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" and not cuda:
        raise ModelLoadError(
            f"VISEARCH_DEVICE=cuda but torch {torch.__version__} sees no CUDA GPU; "
            "install a CUDA build of torch or set VISEARCH_DEVICE=auto"
        )
    if requested == "mps" and not mps:
        raise ModelLoadError(
            "VISEARCH_DEVICE=mps but this torch has no usable MPS (Apple GPU) backend; "
            "set VISEARCH_DEVICE=auto"
        )
    if requested not in ("cuda", "mps", "cpu"):
        raise ModelLoadError(f"unknown device {requested!r}; use auto, cuda, mps or cpu")
    return requested
