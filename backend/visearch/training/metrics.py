"""Text -> image retrieval metrics for model selection during training.

One relevant image per caption, so AP@k is 1/rank when rank <= k. The full metric suite
(with confidence intervals, other tasks and the product path) is ``visearch eval``.
"""

from __future__ import annotations

import numpy as np
import torch


def text_to_image_ranks(
    text_emb: torch.Tensor, image_emb: torch.Tensor, caption_image: torch.Tensor
) -> torch.Tensor:
    """1-based rank of each caption's own image among all images (ties count against it)."""
    scores = text_emb @ image_emb.T
    own = scores.gather(1, caption_image[:, None])
    return (scores >= own).sum(dim=1)


def retrieval_metrics(ranks: torch.Tensor | np.ndarray) -> dict[str, float]:
    """Recall@1/5/10 and mAP@10 in percent, median rank, and MRR from 1-based ranks."""
    r = torch.as_tensor(ranks, dtype=torch.float64)
    if r.numel() == 0:
        raise ValueError("no queries to score")
    out = {f"R@{k}": float((r <= k).double().mean() * 100) for k in (1, 5, 10)}
    out["mAP@10"] = float(torch.where(r <= 10, 1.0 / r, torch.zeros_like(r)).mean() * 100)
    out["MRR"] = float((1.0 / r).mean() * 100)
    out["median_rank"] = float(np.median(r.numpy()))
    return out
