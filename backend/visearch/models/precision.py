"""Numeric precision of the model: which one the hardware favours, and how a model is put in it.

``VISEARCH_PRECISION`` is ``auto | fp32 | bf16 | fp16 | int8``. ``auto`` reads the device and
the CPU flags (measured on the suite in ``scripts/bench/run.py``, see docs/performance.md):

- CUDA: fp16 (tensor cores; the tower runs ~28x faster than the fp32 CPU path);
- CPU with AVX-512 BF16 or AMX: bf16 weights (native bf16 matmul: ~3x fp32 on the probe,
  ~3.5x on the CLIP image tower, min cosine 0.9999 vs fp32 on real photos);
- other x86 CPUs with AVX2 or AVX-512 VNNI: int8 dynamic quantization of the Linear layers
  (1.77x on AVX2, min cosine 0.9995); bf16 there is emulated and 5x slower than fp32;
- anything else (ARM, MPS): fp32, because nothing faster was measured there.

A reduced precision is kept only when its embeddings stay within ``MIN_COSINE`` of fp32: the
loaders check it on generated images and texts (``checked_variant``) and otherwise keep fp32
(the offline model's
text tower fails it in int8, for example). The benchmark reports the minimum on real photos.
Vectors of every precision share one collection: at cosine >= 0.99 to fp32 their rankings
agree (the offline model's Flickr8k eval gives the same R@10), so switching precision never
needs a re-index.
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
import structlog
import torch
from PIL import Image, ImageFilter
from torch import nn

from visearch.models.base import ModelLoadError

Precision = Literal["fp32", "bf16", "fp16", "int8"]
PrecisionSetting = Literal["auto", "fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16", "int8")
#: Smallest cosine to fp32 embeddings that a reduced precision may have.
MIN_COSINE = 0.99
#: CPU flags (as /proc/cpuinfo names them) that give native bf16 matrix multiplication.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: CPU flags under which int8 dynamic quantization was measured faster than fp32.
INT8_FLAGS = frozenset({"avx2", "avx512_vnni", "avx_vnni", "amx_int8"})
#: Flags reported by the benchmark (the ones these choices depend on).
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16",
                  "amx_int8", "amx_tile")


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux); empty where unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (for reports)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def auto_precision(device: str, flags: Iterable[str] | None = None) -> Precision:
    """What ``auto`` means on ``device`` with these CPU flags (see the module docstring)."""
    if device == "cuda":
        return "fp16"
    if device != "cpu":
        return "fp32"
    have = frozenset(cpu_flags() if flags is None else flags)
    if have & BF16_FLAGS:
        return "bf16"
    if have & INT8_FLAGS:
        return "int8"
    return "fp32"


def resolve_precision(
    requested: str, device: str, flags: Iterable[str] | None = None
) -> Precision:
    """The precision to run: ``auto`` resolved, anything the device cannot do refused."""
    if requested == "auto":
        return auto_precision(device, flags)
    if requested not in PRECISIONS:
        raise ModelLoadError(
            f"unknown precision {requested!r}; use auto, fp32, bf16, fp16 or int8"
        )
    if requested == "int8" and device != "cpu":
        raise ModelLoadError(
            f"VISEARCH_PRECISION=int8 is dynamic quantization for CPUs; on {device} use fp16 "
            "or auto"
        )
    if requested == "fp16" and device == "cpu":
        raise ModelLoadError(
            "VISEARCH_PRECISION=fp16 runs only on a GPU (CPUs emulate it slowly); on a CPU "
            "use bf16, int8 or auto"
        )
    return requested


def compute_dtype(precision: Precision) -> torch.dtype:
    """dtype of the weights and of the inputs fed to them (int8 keeps float32 activations)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def apply_precision(module: nn.Module, precision: Precision) -> nn.Module:
    """Put a float32 module in ``precision``: cast weights, or quantize its Linear layers.

    int8 is ``quantize_dynamic`` (int8 weights, activations quantized per batch), which uses
    VNNI where the CPU has it and AVX2 otherwise; convolutions stay float32.
    """
    if precision == "int8":
        with warnings.catch_warnings():  # torch.ao is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            quantized: nn.Module = torch.ao.quantization.quantize_dynamic(
                module, {nn.Linear}, dtype=torch.qint8
            )
        return quantized
    return module.to(compute_dtype(precision))


def min_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Smallest row-wise cosine similarity of two batches of vectors."""
    a = nn.functional.normalize(a.float(), dim=-1)
    b = nn.functional.normalize(b.float(), dim=-1)
    return float((a * b).sum(dim=-1).min()) if len(a) else 1.0


def probe_images(n: int = 4, size: int = 256) -> list[Image.Image]:
    """Deterministic, photo-like test images (smooth gradients, edges, noise) for checking a
    reduced precision against fp32 where no real photos are at hand."""
    rng = np.random.default_rng(1234)
    images = []
    for i in range(n):
        y, x = np.mgrid[0:size, 0:size] / size
        base = np.stack([np.sin(3 * x + i), np.cos(2 * y - i), x * y], axis=-1)
        noise = rng.normal(0, 0.15, (size, size, 3))
        pixels = np.clip((base + 1) / 2 + noise, 0, 1)
        pixels[size // 4 : size // 2, size // 3 : 2 * size // 3] = rng.random(3)
        image = Image.fromarray((pixels * 255).astype("uint8"), "RGB")
        images.append(image.filter(ImageFilter.GaussianBlur(1)))
    return images


class Probed(Protocol):
    """An embedder that embeds the fixed probe inputs (to compare variants of one model)."""

    def probe_vectors(self) -> torch.Tensor: ...


E = TypeVar("E", bound=Probed)


def checked_variant(exact: E, candidate: E, record: Path | None = None, key: str = "") -> E:
    """``candidate`` (a reduced precision or another runtime of ``exact``, the float32 torch
    model), unless its probe embeddings fall below ``MIN_COSINE`` to ``exact``: then
    ``exact`` (logged), whoever asked for the candidate. ``record``: a JSON file of variants
    (by ``key``) that passed before, so a restart does not check again."""
    if candidate is exact:
        return exact
    passed = _read_record(record)
    if key and key in passed:
        return candidate
    cosine = min_cosine(candidate.probe_vectors(), exact.probe_vectors())
    if cosine < MIN_COSINE:
        structlog.get_logger().warning(
            "reduced_precision_rejected", min_cosine=round(cosine, 4),
            precision=getattr(candidate, "precision", None),
            hint="embeddings would differ from fp32 too much; running fp32",
        )
        return exact
    if record is not None and key:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({**passed, key: round(cosine, 6)}, indent=1))
        except OSError:  # a read-only cache: check again next time
            pass
    return candidate


def _read_record(record: Path | None) -> dict[str, float]:
    try:
        data = json.loads(record.read_text()) if record is not None else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
