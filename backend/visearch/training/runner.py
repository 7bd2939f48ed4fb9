"""The two ``train-adapter`` jobs: offline-model heads and CLIP domain adapters.

Both read a captions JSONL with ``eval.datasets`` (the format ``visearch eval`` reads; the
train split trains, the dev split selects the epoch), extract frozen features once (cached),
train two heads with symmetric InfoNCE and write a model directory that
``visearch.models.adapter.load_adapter_model`` loads.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from visearch.eval.datasets import CaptionItem, DatasetError, load_captions
from visearch.models.adapter import FORMAT, KIND_ADAPTER, KIND_OFFLINE, resolve_base
from visearch.models.heads import Head, HeadConfig, HeadKind
from visearch.models.offline import TowerConfig
from visearch.training.contrastive import (
    ContrastiveModel,
    DevSet,
    TrainConfig,
    TrainResult,
    TrainSet,
    train_heads,
)
from visearch.training.features import CENTER, FLIP, image_features, text_features
from visearch.training.modeldir import FORMAT_VERSION, check_output_dir, write_model_dir


@dataclass(frozen=True)
class HeadOptions:
    """Offline heads: ``linear`` or ``mlp`` (with ``hidden`` units) to ``dim`` outputs."""

    kind: str = "linear"
    dim: int = 512
    hidden: int = 1024
    dropout: float = 0.5


@dataclass(frozen=True)
class DataSplits:
    """Train and dev rows of one captions file."""

    source: Path
    train: list[CaptionItem]
    dev: list[CaptionItem]

    def summary(self) -> dict[str, object]:
        return {
            "captions_file": str(self.source),
            "train_images": len(self.train),
            "train_captions": sum(len(r.captions) for r in self.train),
            "dev_images": len(self.dev),
            "dev_captions": sum(len(r.captions) for r in self.dev),
        }


def load_splits(
    captions: Path, train_split: str = "train", dev_split: str = "dev",
    max_images: int | None = None,
) -> DataSplits:
    """Both splits; ``max_images`` keeps the first N of each (quick runs, tests).

    Lines without a split count as ``train``. Image paths are resolved, so the feature cache
    keys do not depend on how the captions path was spelt.
    """
    rows = [
        replace(item, image=item.image.resolve(),
                split="train" if item.split is None else item.split)
        for item in load_captions(captions)
    ]
    train = [r for r in rows if r.split == train_split][:max_images]
    dev = [r for r in rows if r.split == dev_split][:max_images]
    if len(train) < 2:
        raise DatasetError(f"{captions}: need at least 2 images in split {train_split!r}, "
                           f"found {len(train)}")
    if not dev:
        raise DatasetError(f"{captions}: no images in the dev split {dev_split!r} "
                           "(needed for early stopping)")
    return DataSplits(Path(captions), train, dev)


def _caption_matrix(rows: Sequence[CaptionItem], feats: np.ndarray) -> torch.Tensor:
    """(n_images, max_captions, d): each image's caption features, cycling short lists."""
    n_caps = max(len(r.captions) for r in rows)
    index, start = [], 0
    for r in rows:
        k = len(r.captions)
        index.append([start + (j % k) for j in range(n_caps)])
        start += k
    return torch.from_numpy(feats[np.asarray(index)])


def _dev_set(rows: Sequence[CaptionItem], images: np.ndarray, texts: np.ndarray) -> DevSet:
    owner = [i for i, r in enumerate(rows) for _ in r.captions]
    return DevSet(torch.from_numpy(images).float(), torch.from_numpy(texts),
                  torch.tensor(owner, dtype=torch.long))


def _flat_captions(rows: Sequence[CaptionItem]) -> list[str]:
    return [c for r in rows for c in r.captions]


def _fmt(metrics: dict[str, float]) -> str:
    keys = ("R@1", "R@5", "R@10", "mAP@10", "MRR", "median_rank")
    head = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    return head + "| " + " | ".join(f"{metrics[k]:.1f}" for k in keys) + " |\n"


def model_card(
    title: str, intro: str, config: dict[str, object], result: TrainResult, notes: str = ""
) -> str:
    """Markdown card: what it is, how it was made (command, data, recipe) and dev metrics."""
    training = config["training"]
    assert isinstance(training, dict)
    data = training["data"]
    assert isinstance(data, dict)
    lines = [
        f"# {title}", "", intro, "",
        "## How it was made", "", "```", str(training["command"]), "```", "",
        f"- data: `{data['captions_file']}` — trained on {data['train_images']} images / "
        f"{data['train_captions']} captions (train split), selected on {data['dev_images']} "
        f"images / {data['dev_captions']} captions (dev split)",
        f"- loss: symmetric InfoNCE with a learnable temperature "
        f"(final logit scale {result.logit_scale:.1f})",
        f"- recipe: `{training['recipe']}`",
        f"- best epoch: {result.best_epoch}"
        + (" (stopped early)" if result.stopped_early else ""),
        f"- created: {training['created']} with torch {torch.__version__} on "
        f"{platform.machine()}", "",
        "## Dev metrics (text → image, each caption queries the dev images)", "",
        _fmt(result.best_metrics), "",
        "Before training (epoch 0): R@10 "
        f"{result.history[0]['R@10']:.1f}, mAP@10 {result.history[0]['mAP@10']:.1f}.", "",
    ]
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines)


def _training_info(
    splits: DataSplits, command: str, recipe: dict[str, object], result: TrainResult
) -> dict[str, object]:
    return {
        "command": command,
        "data": splits.summary(),
        "recipe": recipe,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "dev_metrics": result.best_metrics,
        "history": result.history,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _head_tensors(model: ContrastiveModel) -> dict[str, torch.Tensor]:
    tensors = {f"image_head.{k}": v for k, v in model.image_head.state_dict().items()}
    tensors.update({f"text_head.{k}": v for k, v in model.text_head.state_dict().items()})
    return tensors


# -- offline heads ---------------------------------------------------------------------------


def offline_datasets(
    splits: DataSplits, towers: TowerConfig, *, crops: int, cache_dir: Path | None,
    device: str = "cpu", batch_size: int = 32, quiet: bool = False,
) -> tuple[TrainSet, DevSet]:
    """Cached tower features of both splits, sliced to ``towers``; train views are centre,
    flip (if ``image_flip_average``) and ``crops`` random crops."""
    from visearch.training.offline import CachedOfflineFeatures, slice_image, slice_text

    feats = CachedOfflineFeatures(towers, cache_dir, device, batch_size, quiet)
    all_rows = splits.dev + splits.train  # one cache file per view covers both splits
    paths = [r.image for r in all_rows]
    n_dev = len(splits.dev)
    texts = slice_text(feats.texts(_flat_captions(all_rows)), towers)
    n_dev_caps = sum(len(r.captions) for r in splits.dev)
    center = slice_image(feats.images(paths, CENTER), towers)
    test_views = [center]
    train_views = [center[n_dev:]]
    if towers.image_flip_average:
        flip = slice_image(feats.images(paths, FLIP), towers)
        test_views.append(flip)
        train_views.append(flip[n_dev:])
    train_paths = [r.image for r in splits.train]
    for k in range(crops):
        train_views.append(slice_image(feats.images(train_paths, f"crop{k}"), towers))
    dev_images = np.mean([v[:n_dev].astype(np.float32) for v in test_views], axis=0)
    train = TrainSet(torch.from_numpy(np.stack(train_views, axis=1)),
                     _caption_matrix(splits.train, texts[n_dev_caps:]))
    return train, _dev_set(splits.dev, dev_images, texts[:n_dev_caps])


def train_offline(
    captions: Path, out: Path, *, towers: TowerConfig, heads: HeadOptions, train: TrainConfig,
    crops: int = 0, model_id: str | None = None, cache_dir: Path | None = None,
    device: str = "cpu", batch_size: int = 32, max_images: int | None = None,
    train_split: str = "train", dev_split: str = "dev", command: str = "",
    overwrite: bool = False, quiet: bool = False, notes: str = "",
) -> TrainResult:
    """Train heads for the offline towers and write an ``offline`` model directory
    (``notes``: extra Markdown for the model card)."""
    check_output_dir(out, overwrite=overwrite)
    splits = load_splits(captions, train_split, dev_split, max_images)
    train_set, dev_set = offline_datasets(splits, towers, crops=crops, cache_dir=cache_dir,
                                          device=device, batch_size=batch_size, quiet=quiet)
    kind: HeadKind = "mlp" if heads.kind == "mlp" else "linear"
    hidden = heads.hidden if kind == "mlp" else 0
    image_cfg = HeadConfig(kind, train_set.images.shape[-1], heads.dim, hidden, heads.dropout)
    text_cfg = HeadConfig(kind, train_set.texts.shape[-1], heads.dim, hidden, heads.dropout)
    model = _fitted_model(image_cfg, text_cfg, train_set, train)
    result = train_heads(model, train_set, dev_set, train, quiet=quiet)
    head_recipe = {k: v for k, v in asdict(heads).items() if k != "hidden" or kind == "mlp"}
    recipe = {**asdict(train), "heads": head_recipe, "crops": crops}
    config: dict[str, object] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": KIND_OFFLINE,
        "towers": towers.to_dict(),
        "image_head": image_cfg.to_dict(), "text_head": text_cfg.to_dict(),
        "logit_scale": result.logit_scale,
        "training": _training_info(splits, command, recipe, result),
    }
    if model_id:
        config["model_id"] = model_id
    card = model_card(
        f"visearch offline model heads ({model_id or out.name})",
        f"Projection heads to a shared {heads.dim}-d space on top of two frozen towers: "
        f"EfficientNet-Lite ({towers.image_variant}, {towers.image_size}px, "
        f"{towers.image_stages} stage taps + head, flip averaging "
        f"{'on' if towers.image_flip_average else 'off'}) and all-MiniLM-L6-v2 "
        f"(mean-pooled layers {list(towers.text_layers)}).",
        config, result, notes,
    )
    write_model_dir(out, config, _head_tensors(model), card, overwrite=overwrite)
    return result


def _fitted_model(
    image_cfg: HeadConfig, text_cfg: HeadConfig, train_set: TrainSet, train: TrainConfig
) -> ContrastiveModel:
    torch.manual_seed(train.seed)
    image_head, text_head = Head(image_cfg), Head(text_cfg)
    image_head.fit_standardization(train_set.images[:, 0].float())
    text_head.fit_standardization(train_set.texts.flatten(0, 1).float())
    return ContrastiveModel(image_head, text_head, train.init_temperature)


# -- CLIP adapters -----------------------------------------------------------------------------


def clip_datasets(
    splits: DataSplits, encode_images: Callable[[list[Image.Image]], np.ndarray],
    encode_texts: Callable[[list[str]], np.ndarray], encoder_key: str, *,
    cache_dir: Path | None, batch_size: int = 32, quiet: bool = False,
) -> tuple[TrainSet, DevSet]:
    """Base-model vectors: train views centre + flip, dev centre only (what search sees)."""
    key = encoder_key

    def images(paths: list[Path], view: str) -> np.ndarray:
        return image_features(encode_images, paths, view=view, batch_size=batch_size,
                              cache_dir=cache_dir, encoder_key=key, quiet=quiet)

    def texts(rows: list[CaptionItem]) -> np.ndarray:
        return text_features(encode_texts, _flat_captions(rows), batch_size=batch_size,
                             cache_dir=cache_dir, encoder_key=key, quiet=quiet)

    train_paths = [r.image for r in splits.train]
    views = [images(train_paths, view) for view in (CENTER, FLIP)]
    dev_images = images([r.image for r in splits.dev], CENTER)
    train_texts, dev_texts = texts(splits.train), texts(splits.dev)
    train = TrainSet(torch.from_numpy(np.stack(views, axis=1)),
                     _caption_matrix(splits.train, train_texts))
    return train, _dev_set(splits.dev, dev_images.astype(np.float32), dev_texts)


def train_clip_adapter(
    captions: Path, out: Path, *, base: str, train: TrainConfig, dropout: float = 0.0,
    cache_dir: Path | None = None, device: str = "cpu", batch_size: int = 32,
    max_images: int | None = None, train_split: str = "train", dev_split: str = "dev",
    command: str = "", overwrite: bool = False, quiet: bool = False,
) -> TrainResult:
    """Train residual adapters (initialised at identity) on a CLIP-style base model."""
    from visearch.models.clip import ClipEmbedder, weights_fingerprint

    check_output_dir(out, overwrite=overwrite)
    splits = load_splits(captions, train_split, dev_split, max_images)
    base_dir = resolve_base(Path.cwd(), base)
    embedder = ClipEmbedder.from_dir(base_dir, device=device, batch_size=batch_size)
    fingerprint = weights_fingerprint(base_dir)
    train_set, dev_set = clip_datasets(
        splits, embedder.embed_images, embedder.embed_texts, f"clip:{fingerprint}",
        cache_dir=cache_dir, batch_size=batch_size, quiet=quiet,
    )
    cfg = HeadConfig("residual", embedder.dim, embedder.dim, 0, dropout)
    model = _fitted_model(cfg, cfg, train_set, train)
    result = train_heads(model, train_set, dev_set, train, quiet=quiet)
    base_path = base if not (Path(base) / "config.json").is_file() else str(base_dir)
    config: dict[str, object] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": KIND_ADAPTER,
        "base_model": {"path": base_path, "model_id": embedder.model_id,
                       "fingerprint": fingerprint},
        "image_head": cfg.to_dict(), "text_head": cfg.to_dict(),
        "logit_scale": result.logit_scale,
        "training": _training_info(
            splits, command, {**asdict(train), "dropout": dropout}, result),
    }
    card = model_card(
        f"visearch adapter on {embedder.model_id}",
        f"Residual linear adapters (W = I + A, A initialised at 0) on the {embedder.dim}-d "
        f"image and text vectors of `{base}`. Load this directory as the model "
        "(VISEARCH_MODEL); the base model must be available at the path in config.json.",
        config, result,
    )
    write_model_dir(out, config, _head_tensors(model), card, overwrite=overwrite)
    return result


def with_dropout(heads: HeadOptions, dropout: float | None) -> HeadOptions:
    return heads if dropout is None else replace(heads, dropout=dropout)
