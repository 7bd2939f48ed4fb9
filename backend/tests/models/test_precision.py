"""Precision choice from the device and CPU flags, conversion, the fp32 guard, and the uint8
preprocessing path (same pixels as the checkpoint's own processor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

from tests.models.conftest import clip_settings
from visearch.models.base import ModelLoadError
from visearch.models.clip import ClipEmbedder
from visearch.models.loader import load_embedder
from visearch.models.precision import (
    apply_precision,
    auto_precision,
    checked_variant,
    cpu_flags,
    resolve_precision,
)
from visearch.models.preprocess import ImageTransform, transform_from_processor

AVX2 = {"fma", "avx", "avx2"}
ZEN4 = AVX2 | {"avx512f", "avx512_bf16", "avx512_vnni"}
SAPPHIRE_RAPIDS = AVX2 | {"avx512f", "amx_bf16", "amx_int8", "amx_tile"}


@pytest.mark.parametrize(("device", "flags", "expected"), [
    ("cuda", set(), "fp16"),
    ("mps", ZEN4, "fp32"),
    ("cpu", ZEN4, "bf16"),
    ("cpu", SAPPHIRE_RAPIDS, "bf16"),
    ("cpu", AVX2, "int8"),
    ("cpu", {"neon", "asimd"}, "fp32"),
    ("cpu", set(), "fp32"),
])
def test_auto_follows_device_and_cpu_flags(device: str, flags: set[str], expected: str) -> None:
    assert auto_precision(device, flags) == expected
    assert resolve_precision("auto", device, flags) == expected


def test_explicit_precisions_the_device_cannot_run_are_refused() -> None:
    assert resolve_precision("bf16", "cpu", AVX2) == "bf16"  # slow there, but allowed
    with pytest.raises(ModelLoadError, match=r"int8.*CPU"):
        resolve_precision("int8", "cuda")
    with pytest.raises(ModelLoadError, match="fp16 runs only on a GPU"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ModelLoadError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_int8_quantizes_linear_layers_and_bf16_casts_weights() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    quantized = apply_precision(model, "int8")
    assert isinstance(quantized[0], torch.ao.nn.quantized.dynamic.Linear)
    assert quantized[0].weight().dtype == torch.qint8
    assert isinstance(model[0], torch.nn.Linear)  # the float model is left as it was
    assert apply_precision(model, "bf16")[0].weight.dtype == torch.bfloat16


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_clip_stays_close_to_fp32_on_real_photos(
    tiny_clip_dir: Path, clothing_images: list[Image.Image], precision: str
) -> None:
    exact = load_embedder(clip_settings(tiny_clip_dir))
    reduced = load_embedder(clip_settings(tiny_clip_dir, precision=precision))
    assert isinstance(reduced, ClipEmbedder)
    assert reduced.precision == precision and reduced.describe()["precision"] == precision
    a, b = exact.embed_images(clothing_images), reduced.embed_images(clothing_images)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.99
    texts = ["a red dress", "shoes"]
    assert float(np.min(np.sum(exact.embed_texts(texts) * reduced.embed_texts(texts), 1))) >= 0.99


class _Variant:
    """A model variant whose probe embeddings are off by ``error`` (the guard alone)."""

    def __init__(self, precision: str = "fp32", error: float = 0.0) -> None:
        self.precision, self.error = precision, error

    def probe_vectors(self) -> torch.Tensor:
        return torch.eye(4) + self.error * torch.ones(4, 4)


def test_a_variant_that_drifts_from_fp32_is_not_used() -> None:
    exact = _Variant()
    assert checked_variant(exact, _Variant("bf16", 0.001)).precision == "bf16"
    assert checked_variant(exact, _Variant("int8", 0.5)) is exact
    assert checked_variant(exact, exact) is exact


def test_transform_reproduces_the_processor_exactly(
    tiny_clip_dir: Path, tiny_siglip_dir: Path, clothing_images: list[Image.Image]
) -> None:
    odd = [clothing_images[0].resize((1001, 333)), clothing_images[1].resize((90, 700)),
           clothing_images[2].convert("L")]
    for model_dir in (tiny_clip_dir, tiny_siglip_dir):
        processor = AutoImageProcessor.from_pretrained(model_dir)
        transform = transform_from_processor(processor)
        assert transform is not None
        for image in [*clothing_images, *odd]:
            expected = processor(images=[image.convert("RGB")], return_tensors="pt")
            pixels = transform.stack([image])
            assert pixels.dtype == np.uint8 and pixels.shape[1:3] == transform.output_size
            got = transform.normalise(pixels, "cpu")
            torch.testing.assert_close(got, expected["pixel_values"], atol=1e-5, rtol=0)


def test_processors_it_cannot_reproduce_are_left_alone() -> None:
    class Other:  # any processor type outside the known list
        do_resize = True
        size = {"shortest_edge": 224}

    assert transform_from_processor(Other()) is None
    with pytest.raises(ValueError, match="exactly one"):
        ImageTransform()
    with pytest.raises(ValueError, match="crop must fit"):
        ImageTransform(shortest_edge=200, crop=(224, 224))


def test_min_source_size_never_asks_for_upscaling() -> None:
    t = ImageTransform(shortest_edge=224, crop=(224, 224))
    width, height = t.min_source_size(4000, 3000)
    assert 299 <= width <= 300 and 224 <= height <= 226  # what the resize makes, same aspect
    assert t.min_source_size(100, 50) == (100, 50)


def test_openvino_runs_clip_close_to_torch_and_caches_the_conversion(
    tiny_clip_dir: Path, clothing_images: list[Image.Image], tmp_path: Path
) -> None:
    pytest.importorskip("openvino")  # the optional extra (installed with the dev extra)
    exact = load_embedder(clip_settings(tiny_clip_dir))
    settings = clip_settings(tiny_clip_dir, runtime="openvino", precision="fp32",
                             data_dir=tmp_path)
    fast = load_embedder(settings)
    assert isinstance(fast, ClipEmbedder) and fast.describe()["runtime"] == "openvino"
    texts = ["a red dress", "two shoes on a wooden floor", "hat"]
    for a, b in ((exact.embed_images(clothing_images), fast.embed_images(clothing_images)),
                 (exact.embed_texts(texts), fast.embed_texts(texts))):
        assert float(np.min(np.sum(a * b, axis=1))) >= 0.999
    cache = tmp_path / "model-cache" / "openvino"
    assert len(list(cache.glob("*.xml"))) == 2  # both towers, read back on the next start
    assert (cache / "checked.json").is_file()
    again = load_embedder(settings)
    np.testing.assert_allclose(again.embed_texts(texts), fast.embed_texts(texts), atol=1e-5)


def test_openvino_cannot_be_forced_where_it_does_not_run(tiny_clip_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="openvino"):
        load_embedder(clip_settings(tiny_clip_dir, runtime="openvino", precision="int8"))
