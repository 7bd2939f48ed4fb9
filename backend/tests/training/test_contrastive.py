"""Training building blocks: the splits, metrics, heads, the InfoNCE loop, feature cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visearch.eval.datasets import DatasetError
from visearch.models.heads import Head, HeadConfig
from visearch.training.contrastive import (
    ContrastiveModel,
    DevSet,
    TrainConfig,
    TrainSet,
    dev_metrics,
    train_heads,
)
from visearch.training.features import apply_view, image_features
from visearch.training.runner import load_splits
from visearch.training.validation import retrieval_metrics, text_to_image_ranks


def test_load_splits_reads_the_captions_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    captions = tmp_path / "captions.jsonl"
    captions.write_text("\n".join(json.dumps(r) for r in [
        {"image": "a.jpg", "captions": ["x", "y"], "split": "dev"},
        {"image": "b.jpg", "captions": ["z"]},  # no split: counts as train
        {"image": "c.jpg", "captions": ["w"], "split": "train"},
    ]) + "\n")
    monkeypatch.chdir(tmp_path)
    splits = load_splits(Path("captions.jsonl"))
    # resolved paths: feature cache keys do not depend on how the file was named
    assert [r.image for r in splits.train] == [(tmp_path / n).resolve() for n in ("b.jpg", "c.jpg")]
    assert [r.captions for r in splits.dev] == [["x", "y"]]
    assert splits.summary()["train_captions"] == 2 and splits.summary()["dev_captions"] == 2
    with pytest.raises(DatasetError, match="need at least 2 images in split 'train'"):
        load_splits(captions, max_images=1)
    with pytest.raises(DatasetError, match="no images in the dev split 'test'"):
        load_splits(captions, dev_split="test")
    captions.write_text(json.dumps({"image": "a.jpg", "captions": ["ok"]}) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"captions\.jsonl:2: invalid JSON"):
        load_splits(captions)


def test_retrieval_metrics_hand_computed() -> None:
    # Caption 0 -> image 0 ranked 1st; caption 1 -> image 1 ranked 3rd; caption 2 ranked 2nd.
    images = torch.eye(3)
    texts = torch.tensor([[1.0, 0.1, 0.0], [0.9, 0.1, 0.5], [0.0, 0.2, 0.1]])
    ranks = text_to_image_ranks(texts, images, torch.tensor([0, 1, 2]))
    assert ranks.tolist() == [1, 3, 2]
    m = retrieval_metrics(ranks)
    assert m["R@1"] == pytest.approx(100 / 3)
    assert m["R@5"] == 100.0
    assert m["mAP@10"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3 * 100)
    assert m["median_rank"] == 2.0
    assert retrieval_metrics(np.array([20, 30]))["mAP@10"] == 0.0  # beyond 10: no credit
    # A tie with the right image counts against it (no credit for ties).
    tie = text_to_image_ranks(torch.ones(1, 2), torch.eye(2), torch.tensor([1]))
    assert tie.tolist() == [2]


def test_residual_head_starts_at_identity_and_linear_head_standardises() -> None:
    x = torch.randn(5, 16)
    adapter = Head(HeadConfig("residual", 16, 16, dropout=0.3)).eval()
    torch.testing.assert_close(adapter(x), x)
    with pytest.raises(ValueError):
        Head(HeadConfig("residual", 16, 8))
    linear = Head(HeadConfig("linear", 16, 4))
    feats = torch.randn(100, 16) * 7 + 3
    linear.fit_standardization(feats)
    z = (feats - linear.mean) * linear.scale
    assert z.mean(0).abs().max() < 1e-4 and (z.std(0) - 1).abs().max() < 1e-4
    assert HeadConfig.from_dict(HeadConfig("mlp", 3, 2, 5, 0.1).to_dict()) == HeadConfig(
        "mlp", 3, 2, 5, 0.1)


def _synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and captions that are two noisy random views of the same latent vector."""
    maps = torch.Generator().manual_seed(1234)  # the same "world" for train and dev
    img_map, txt_map = torch.randn(8, 32, generator=maps), torch.randn(8, 24, generator=maps)
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, 8, generator=g)
    images = latent @ img_map + 0.3 * torch.randn(n, 2, 32, generator=g).transpose(0, 1)
    texts = latent @ txt_map + 0.3 * torch.randn(n, 3, 24, generator=g).transpose(0, 1)
    return images.transpose(0, 1), texts.transpose(0, 1)


def _model() -> ContrastiveModel:
    torch.manual_seed(0)
    return ContrastiveModel(Head(HeadConfig("linear", 32, 16)),
                            Head(HeadConfig("linear", 24, 16)), 0.07)


def test_infonce_training_learns_and_is_deterministic() -> None:
    images, texts = _synthetic(256, 0)
    dev_images, dev_texts = _synthetic(64, 1)
    dev = DevSet(dev_images[:, 0], dev_texts[:, 0], torch.arange(64))
    config = TrainConfig(epochs=15, batch_size=64, lr=1e-2, patience=15, seed=3)
    results = []
    for _ in range(2):
        model = _model()
        results.append(train_heads(model, TrainSet(images, texts), dev, config, quiet=True))
    first, second = results
    assert first.history == second.history  # same seed, same run
    assert first.history[0]["R@1"] < 20  # untrained: near random (1/64 ~ 1.6 %)
    assert first.best_metrics["R@1"] > 60  # the shared latent is found
    best = max(first.history, key=lambda h: h["mAP@10"])
    assert first.best_metrics["mAP@10"] == best["mAP@10"]
    assert 0 <= first.best_epoch <= 15


def test_early_stopping_keeps_the_best_epoch() -> None:
    images, texts = _synthetic(128, 0)
    dev_images, dev_texts = _synthetic(32, 1)
    dev = DevSet(dev_images[:, 0], dev_texts[:, 0], torch.arange(32))
    model = _model()
    result = train_heads(model, TrainSet(images, texts), dev,
                         TrainConfig(epochs=200, batch_size=32, lr=5e-2, patience=2),
                         quiet=True)
    assert result.stopped_early and len(result.history) < 201
    best = max(h["mAP@10"] for h in result.history)
    assert result.best_metrics["mAP@10"] == best
    # The model holds the best epoch's weights, not the last epoch's.
    assert dev_metrics(model, dev)["mAP@10"] == pytest.approx(best)


def test_views_and_feature_cache(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white strip on the left
    assert np.asarray(apply_view(img, "flip"))[:, -1].mean() == 255
    crop = apply_view(img, "crop0", seed=7)
    assert crop.size != (40, 20) or crop.tobytes() != img.tobytes()
    assert apply_view(img, "crop0", seed=7).tobytes() == crop.tobytes()  # reproducible
    with pytest.raises(ValueError, match="unknown image view"):
        apply_view(img, "rotate", seed=0)

    paths = []
    for i in range(5):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(p)
        paths.append(p)
    calls: list[int] = []

    def encode(images: list[Image.Image]) -> np.ndarray:
        calls.append(len(images))
        return np.array([[np.asarray(im)[0, 0, 0], 1.0] for im in images], np.float32)

    first = image_features(encode, paths, batch_size=2, cache_dir=tmp_path / "c", quiet=True)
    assert first[:, 0].tolist() == [0, 40, 80, 120, 160] and calls == [2, 2, 1]
    again = image_features(encode, paths, batch_size=2, cache_dir=tmp_path / "c", quiet=True)
    np.testing.assert_array_equal(first, again)
    assert calls == [2, 2, 1]  # served from the cache
    assert len(list((tmp_path / "c").glob("*.npy"))) == 1  # chunk files were merged
