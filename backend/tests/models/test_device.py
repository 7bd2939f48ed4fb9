"""Device choice: best available for auto, a clear error for an unavailable one."""

from __future__ import annotations

import pytest
import torch

from visearch.models.base import ModelLoadError
from visearch.models.device import select_device


def test_auto_picks_the_best_available() -> None:
    expected = (
        "cuda" if torch.cuda.is_available()
        else "mps" if torch.backends.mps.is_available()
        else "cpu"
    )
    assert select_device("auto") == expected
    assert select_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="VISEARCH_DEVICE=cuda but torch"):
        select_device("cuda")


def test_unknown_device_is_rejected() -> None:
    with pytest.raises(ModelLoadError, match="unknown device 'tpu'"):
        select_device("tpu")
