"""Build CLIP model directories from the real config and tokenizer with random weights.

No CLIP weights exist on these machines; this exercises the real architecture, tokenizer
and preprocessing through the product's own loader. Random weights say nothing about quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
CLIP_REFERENCE_DIR = SHARED / "models" / "clip-vit-base-patch32"
DATA_DIR = SHARED / "data"

_AUX_FILES = (
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
)

# A scaled-down ViT/text transformer: same code path, ~1/100 of the compute.
TINY = {
    "projection_dim": 64,
    "text_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 2},
    "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                      "num_attention_heads": 2},
}


def make_clip_dir(dest: Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """Write a loadable CLIP model directory (config, random safetensors, tokenizer)."""
    cfg_dict = json.loads((CLIP_REFERENCE_DIR / "config.json").read_text())
    if not full_size:
        cfg_dict["projection_dim"] = TINY["projection_dim"]
        for tower in ("text_config", "vision_config"):
            cfg_dict[tower].update(TINY[tower])  # type: ignore[attr-defined]
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig.from_dict(cfg_dict))
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest, safe_serialization=True)
    for name in _AUX_FILES:
        src = CLIP_REFERENCE_DIR / name
        if src.exists():
            shutil.copy(src, dest / name)
    return dest
