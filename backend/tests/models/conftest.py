"""Model directories built once per session: real CLIP config and tokenizer, random weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import SiglipConfig, SiglipModel

from tests.support.clip import CLIP_REFERENCE_DIR, DATA_DIR, make_clip_dir
from visearch.config import Settings
from visearch.models.clip import ClipEmbedder
from visearch.models.loader import load_embedder

CLOTHING_DIR = DATA_DIR / "clothing10"


def make_siglip_dir(dest: Path) -> Path:
    """A tiny SigLIP (bidirectional text tower pooling the last position) with CLIP's
    tokenizer files: exercises the Auto classes beyond CLIP and fixed-length padding."""
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
             "num_attention_heads": 2}
    text = {"vocab_size": 49408, "max_position_embeddings": 64, "bos_token_id": 49406,
            "eos_token_id": 49407, "pad_token_id": 49407, **small}
    torch.manual_seed(0)
    model = SiglipModel(SiglipConfig(text_config=text,
                                     vision_config={"image_size": 224, "patch_size": 32, **small}))
    model.save_pretrained(dest)
    for name in ("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                 "vocab.json", "merges.txt", "special_tokens_map.json"):
        shutil.copy(CLIP_REFERENCE_DIR / name, dest / name)
    return dest


def clip_settings(model: str | Path, fallback: str = "", **extra: Any) -> Settings:
    """Settings for a CPU model with the fallback disabled unless given; fp32 on torch unless
    given (exact comparisons between calls need one precision; tests/models/test_precision.py
    covers the others and OpenVINO)."""
    extra.setdefault("precision", "fp32")
    extra.setdefault("runtime", "torch")
    return Settings(model=str(model), model_fallback=fallback, device="cpu", **extra)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip_dir(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_dir: Path) -> ClipEmbedder:
    """Loaded through the product's loader; batch_size 4 so batching is exercised."""
    embedder = load_embedder(clip_settings(tiny_clip_dir, batch_size=4))
    assert isinstance(embedder, ClipEmbedder)
    return embedder


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_siglip_dir(tmp_path_factory.mktemp("models") / "tiny-siglip")


@pytest.fixture(scope="session")
def clothing_images() -> list[Image.Image]:
    """Six real photos: two each of three classes, decoded once."""
    labels = [json.loads(line) for line in (CLOTHING_DIR / "labels.jsonl").read_text().splitlines()]
    picked: list[Image.Image] = []
    for cls in ("dress", "hat", "shoes"):
        rows = sorted(
            r["image"] for r in labels if r["label"] == cls and r["split"] == "validation"
        )
        for rel in rows[:2]:
            with Image.open(CLOTHING_DIR / rel) as im:
                picked.append(im.convert("RGB"))
    return picked
