"""Small trainable heads that map frozen encoder features into a shared embedding space.

Shared by the offline model (projection heads on EfficientNet-Lite / MiniLM features) and the
CLIP adapter (residual linear maps initialised at identity). A head is rebuilt from its
``HeadConfig`` (stored in the model directory's config.json) plus safetensors weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file
from torch import nn

from visearch.models.base import ModelLoadError

HeadKind = Literal["linear", "mlp", "residual"]


@dataclass(frozen=True)
class HeadConfig:
    """Shape of one head.

    ``linear``: standardise -> dropout -> Linear(in, out).
    ``mlp``: standardise -> dropout -> Linear(in, out) + Linear(GELU(Linear(in, hidden))).
    ``residual``: x + (A x + b) with A = 0, b = 0 at initialisation, i.e. W = I + A starts at
    the identity, so an untrained adapter changes nothing (in_dim must equal out_dim).
    """

    kind: HeadKind
    in_dim: int
    out_dim: int
    hidden: int = 0
    dropout: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> HeadConfig:
        kind = data.get("kind")
        if kind not in ("linear", "mlp", "residual"):
            raise ValueError(f"unknown head kind {kind!r}")
        return cls(
            kind=kind,
            in_dim=int(data["in_dim"]),  # type: ignore[call-overload]
            out_dim=int(data["out_dim"]),  # type: ignore[call-overload]
            hidden=int(data.get("hidden", 0)),  # type: ignore[call-overload]
            dropout=float(data.get("dropout", 0.0)),  # type: ignore[arg-type]
        )


class Head(nn.Module):
    """One side's head; outputs are not normalised (callers L2-normalise)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.kind == "residual" and c.in_dim != c.out_dim:
            raise ValueError("a residual adapter needs in_dim == out_dim")
        # Feature standardisation, fitted on the training features (identity until then).
        self.register_buffer("mean", torch.zeros(c.in_dim))
        self.register_buffer("scale", torch.ones(c.in_dim))
        self.dropout = nn.Dropout(c.dropout)
        self.linear = nn.Linear(c.in_dim, c.out_dim)
        self.up: nn.Linear | None = None
        self.down: nn.Linear | None = None
        if c.kind == "residual":
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        elif c.kind == "mlp":
            if c.hidden <= 0:
                raise ValueError("an mlp head needs hidden > 0")
            self.up = nn.Linear(c.in_dim, c.hidden)
            self.down = nn.Linear(c.hidden, c.out_dim)
            nn.init.zeros_(self.down.weight)
            nn.init.zeros_(self.down.bias)

    def fit_standardization(self, features: torch.Tensor) -> None:
        """Set per-feature mean/scale from training features (not for residual adapters)."""
        if self.config.kind == "residual":
            return
        self.mean.copy_(features.mean(dim=0))
        self.scale.copy_(1.0 / features.std(dim=0).clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.kind == "residual":
            return x + self.linear(self.dropout(x))
        z = self.dropout((x - self.mean) * self.scale)
        y = self.linear(z)
        if self.up is not None and self.down is not None:
            y = y + self.down(torch.nn.functional.gelu(self.up(z)))
        return y


def load_heads(path: Path, config: dict[str, Any]) -> tuple[Head, Head]:
    """The image and text heads of a model directory (``config.json`` already parsed), with
    their weights from ``model.safetensors``, in eval mode."""
    try:
        image_head = Head(HeadConfig.from_dict(config["image_head"]))
        text_head = Head(HeadConfig.from_dict(config["text_head"]))
        state = load_file(str(path / "model.safetensors"))
        for prefix, head in (("image_head.", image_head), ("text_head.", text_head)):
            head.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)},
                strict=True,
            )
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"invalid model directory {path}: {exc}") from exc
    return image_head.eval(), text_head.eval()
