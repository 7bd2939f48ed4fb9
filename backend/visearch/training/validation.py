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


def label_retrieval_metrics(
    queries: torch.Tensor, query_labels: list[str], gallery: torch.Tensor,
    gallery_labels: list[str], k: int = 10,
) -> dict[str, float]:
    """Image -> image by label: precision@k and (full-ranking) mAP in percent.

    Relevant = same label. ``queries`` and ``gallery`` are unit rows; pass disjoint sets
    (e.g. validation queries against the train gallery). Queries with no relevant item in
    the gallery are skipped.
    """
    names = sorted(set(query_labels) | set(gallery_labels))
    index = {name: i for i, name in enumerate(names)}
    q = torch.tensor([index[x] for x in query_labels])
    g = torch.tensor([index[x] for x in gallery_labels])
    order = (queries @ gallery.T).argsort(dim=1, descending=True)
    relevant = (g[order] == q[:, None]).double()  # (n_queries, n_gallery) in rank order
    n_rel = relevant.sum(dim=1)
    keep = n_rel > 0
    if not bool(keep.any()):
        raise ValueError("no query has a relevant gallery item")
    relevant, n_rel = relevant[keep], n_rel[keep]
    ranks = torch.arange(1, relevant.shape[1] + 1, dtype=torch.float64)
    precision_at = relevant.cumsum(dim=1) / ranks
    ap = (precision_at * relevant).sum(dim=1) / n_rel
    return {f"P@{k}": float(relevant[:, :k].mean() * 100), "mAP": float(ap.mean() * 100)}
