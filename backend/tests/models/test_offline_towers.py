"""The offline model's frozen towers: real pretrained weights, loaded strictly, and sane."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from tests.support.clip import DATA_DIR
from visearch.models.efficientnet_lite import (
    EfficientNetLite,
    load_efficientnet_lite,
    normalize,
    to_pixels,
    weights_path,
)
from visearch.models.minilm import MINILM_DIM, MiniLMTextTower

# ImageNet classes a shoe photo may be: clog, cowboy boot, Loafer, running shoe, sandal,
# shoe shop.
SHOE_CLASSES = {502, 514, 630, 770, 774, 788}


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite:
    return load_efficientnet_lite("lite0")


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextTower:
    return MiniLMTextTower()


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_state_dict_loads_strictly(variant: str) -> None:
    state = torch.load(weights_path(variant), map_location="cpu", weights_only=True)
    model = EfficientNetLite(variant)
    model.load_state_dict(state, strict=True)  # raises on any missing/unexpected/misshapen key
    assert state["_fc.weight"].shape == (1000, 1280)
    if variant == "lite0":
        assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.02)


def test_unknown_variant_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lite0"):
        EfficientNetLite("lite9")


def test_shoe_photos_are_classified_as_shoes(lite0: EfficientNetLite) -> None:
    """Pretrained, not random: ImageNet logits of real shoe photos name shoe classes."""
    rows = [json.loads(line) for line in (DATA_DIR / "clothing10" / "labels.jsonl").open()]
    shoes = [r for r in rows if r["label"] == "shoes"][:12]
    pixels = torch.stack([
        to_pixels(Image.open(DATA_DIR / "clothing10" / r["image"]), 224) for r in shoes
    ])
    with torch.inference_mode():
        feats = lite0.features(normalize(pixels), stages=2)
    top1 = feats.logits.argmax(dim=1).tolist()
    assert sum(c in SHOE_CLASSES for c in top1) >= 10, top1
    assert feats.pooled.shape == (12, 1280)
    assert feats.multiscale().shape == (12, lite0.multiscale_dim(2)) == (12, 1280 + 192 + 320)
    assert (feats.pooled >= 0).all() and (feats.pooled <= 6).all()  # pooled ReLU6


def test_to_pixels_crops_or_squashes() -> None:
    wide = Image.new("RGB", (300, 150), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 50, 150))  # blue strip on the left edge
    cropped = to_pixels(wide, 64)
    squashed = to_pixels(wide, 64, crop=False)
    assert cropped.shape == squashed.shape == (3, 64, 64)
    assert cropped[2, :, 0].mean() < 0.1  # the centre crop cut the blue strip off
    assert squashed[2, :, 0].mean() > 0.9  # squashing keeps it
    assert float(normalize(torch.ones(1))) == pytest.approx(1.0, abs=1e-2)
    assert float(normalize(torch.zeros(1))) == pytest.approx(-1.0, abs=1e-2)


def test_minilm_mean_pooling(minilm: MiniLMTextTower) -> None:
    texts = ["a dog runs on the grass", "a puppy running across a lawn",
             "the stock market fell sharply today"]
    with torch.inference_mode():
        emb = torch.nn.functional.normalize(minilm.encode(texts), dim=-1)
        alone = torch.nn.functional.normalize(minilm.encode(texts[:1]), dim=-1)
        batch = minilm.tokenize(["a dog", "a cat"])
    assert emb.shape == (3, MINILM_DIM)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2]) + 0.3  # paraphrase vs unrelated
    torch.testing.assert_close(alone[0], emb[0], atol=1e-5, rtol=0)  # padding is masked out
    assert batch["input_ids"].shape[1] == 4  # dynamic padding: [CLS] a dog [SEP]
