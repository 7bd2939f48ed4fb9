"""Symmetric InfoNCE training of two heads on cached frozen features, with early stopping."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visearch.models.heads import Head
from visearch.training.features import progress_bar
from visearch.training.validation import retrieval_metrics, text_to_image_ranks


@dataclass(frozen=True)
class TrainSet:
    """Training features: ``images[i, v]`` is view ``v`` of image ``i``; ``texts[i, c]`` its
    caption ``c`` (images with fewer captions repeat them)."""

    images: torch.Tensor  # (n, views, d_img)
    texts: torch.Tensor  # (n, captions, d_txt)

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.texts.ndim != 3:
            raise ValueError("TrainSet needs (n, views, dim) images and (n, captions, dim) texts")
        if len(self.images) != len(self.texts):
            raise ValueError("TrainSet images and texts differ in length")
        if len(self.images) < 2:
            raise ValueError("contrastive training needs at least 2 training images")


@dataclass(frozen=True)
class DevSet:
    """Dev features: one row per image (test-time views already averaged), one per caption."""

    images: torch.Tensor  # (n_images, d_img)
    texts: torch.Tensor  # (n_captions, d_txt)
    caption_image: torch.Tensor  # (n_captions,) index of each caption's image


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the defaults are the offline model's recipe)."""

    epochs: int = 60
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    patience: int = 10
    init_temperature: float = 0.07
    #: Dev metric that selects the best epoch.
    select_metric: str = "mAP@10"
    seed: int = 0


@dataclass
class TrainResult:
    """Best dev metrics, the epoch they came from, and every epoch's numbers."""

    best_epoch: int
    best_metrics: dict[str, float]
    logit_scale: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


class ContrastiveModel(nn.Module):
    """Image head, text head and the learnable temperature (as a log logit scale)."""

    def __init__(self, image_head: Head, text_head: Head, init_temperature: float) -> None:
        super().__init__()
        self.image_head = image_head
        self.text_head = text_head
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_head(x.float()), dim=-1)

    def embed_texts(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_head(x.float()), dim=-1)

    def loss(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE: each image's caption among the batch's, and vice versa."""
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * self.embed_images(images) @ self.embed_texts(texts).T
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@torch.inference_mode()
def dev_metrics(model: ContrastiveModel, dev: DevSet, chunk: int = 4096) -> dict[str, float]:
    """Text -> image metrics on the dev features (selects the epoch)."""
    model.eval()
    images = model.embed_images(dev.images)
    texts = torch.cat([model.embed_texts(dev.texts[i : i + chunk])
                       for i in range(0, len(dev.texts), chunk)])
    return retrieval_metrics(text_to_image_ranks(texts, images, dev.caption_image))


def _epoch_batches(
    n: int, n_views: int, n_caps: int, batch_size: int, gen: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch = every caption once: ``n_caps`` passes over the images, each pass a new
    shuffle, caption ``perm[pass]`` of each image and a random view. No image appears twice
    in a batch, so there are no false negatives from duplicate images."""
    caption_order = torch.stack([torch.randperm(n_caps, generator=gen) for _ in range(n)])
    batches = []
    for p in range(n_caps):
        order = torch.randperm(n, generator=gen)
        views = torch.randint(n_views, (n,), generator=gen)
        caps = caption_order[:, p]
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            batches.append((idx, views[idx], caps[idx]))
    return batches


def train_heads(
    model: ContrastiveModel,
    train: TrainSet,
    dev: DevSet,
    config: TrainConfig,
    *,
    quiet: bool = False,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the best dev epoch."""
    gen = seed_everything(config.seed)
    n, n_views, _ = train.images.shape
    n_caps = train.texts.shape[1]
    steps_per_epoch = n_caps * math.ceil(n / config.batch_size)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = max(1, config.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for name, p in model.named_parameters()
                        if p.ndim > 1], "weight_decay": config.weight_decay},
            {"params": [p for name, p in model.named_parameters()
                        if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=config.lr,
    )

    def lr_at(step: int) -> float:
        if step < warmup:
            return config.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))

    best_state = copy.deepcopy(model.state_dict())
    best = dev_metrics(model, dev)
    best_score, best_epoch, bad_epochs = best[config.select_metric], 0, 0
    history: list[dict[str, float]] = [{"epoch": 0.0, **best}]  # before training: no loss
    step = 0
    stopped = False
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("training", total=config.epochs, info="")
        for epoch in range(1, config.epochs + 1):
            model.train()
            losses = []
            for idx, views, caps in _epoch_batches(n, n_views, n_caps, config.batch_size, gen):
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
                loss = model.loss(train.images[idx, views], train.texts[idx, caps])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
            metrics = dev_metrics(model, dev)
            history.append({"epoch": float(epoch), "loss": float(np.mean(losses)), **metrics})
            if metrics[config.select_metric] > best_score:
                best_score, best_epoch, best, bad_epochs = (
                    metrics[config.select_metric], epoch, metrics, 0)
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
            bar.update(task, advance=1, info=(
                f"loss {np.mean(losses):.3f}  dev {config.select_metric} "
                f"{metrics[config.select_metric]:.1f} (best {best_score:.1f} @ {best_epoch})"))
            if bad_epochs >= config.patience:
                stopped = True
                break
    model.load_state_dict(best_state)
    return TrainResult(
        best_epoch=best_epoch, best_metrics=best, history=history, stopped_early=stopped,
        logit_scale=float(model.logit_scale.detach().clamp(max=math.log(100.0)).exp()),
    )
