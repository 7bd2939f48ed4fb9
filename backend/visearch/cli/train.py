"""``visearch train-adapter``: train projection heads (the offline model) or a residual adapter
(on a CLIP) on captioned images, and write a model directory.

Training (torch, the encoders) is imported when the command runs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import click
import typer
from rich.console import Console

if TYPE_CHECKING:
    from visearch.training.contrastive import TrainResult

#: ``visearch.config.OFFLINE_MODEL``, spelt out so that ``--help`` need not import the settings
#: (pydantic); a test keeps the two equal.
OFFLINE_MODEL = "builtin:offline"

_err = Console(stderr=True)
_out = Console()


def _parse_layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter("use comma-separated layer numbers, e.g. 5,6") from None
    if not layers or not all(1 <= x <= 6 for x in layers):
        raise typer.BadParameter("MiniLM layers are 1..6, e.g. 6 or 5,6")
    return layers


def _command_line() -> str:
    """The full command with every option spelled out (defaults too), for the model card."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return "visearch train-adapter (called from Python)"
    words = ["visearch", "train-adapter"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        flag = "--" + (param.name or "").replace("_", "-")
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif value is None:
            continue
        elif isinstance(value, bool):
            if param.secondary_opts:  # --flip/--no-flip
                words.append(flag if value else "--no-" + flag[2:])
            elif value:
                words.append(flag)
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def train_adapter_command(
    captions: Annotated[Path, typer.Argument(
        help="Captions JSONL ({image, captions, split}); train split trains, dev split selects.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    base: Annotated[str, typer.Option(
        help="CLIP model directory or cached hub name to adapt, or builtin:offline to train "
             "the offline model's heads.")] = OFFLINE_MODEL,
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs.")] = 60,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per contrastive batch.")] = 1024,
    lr: Annotated[float | None, typer.Option(
        help="AdamW learning rate (default 3e-3 offline, 1e-3 adapter).")] = None,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.05,
    patience: Annotated[int, typer.Option(
        min=1, help="Stop after this many epochs without a better dev score.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and sampling.")] = 0,
    dropout: Annotated[float | None, typer.Option(
        min=0.0, max=0.95, help="Input dropout (default 0.5 offline, 0.0 adapter).")] = None,
    dim: Annotated[int, typer.Option(min=8, help="Offline: embedding dimension.")] = 512,
    head: Annotated[Literal["linear", "mlp"], typer.Option(
        help="Offline: head type.")] = "linear",
    hidden: Annotated[int, typer.Option(min=1, help="Offline: MLP hidden units.")] = 1024,
    image_variant: Annotated[Literal["lite0", "lite2"], typer.Option(
        help="Offline: EfficientNet-Lite variant.")] = "lite2",
    image_stages: Annotated[int, typer.Option(
        min=0, max=4, help="Offline: stage outputs pooled next to the head.")] = 3,
    text_layers: Annotated[str, typer.Option(
        help="Offline: MiniLM layers mean-pooled, comma-separated.")] = "6",
    flip: Annotated[bool, typer.Option(
        help="Offline: flip augmentation and test-time flip averaging.")] = True,
    crops: Annotated[int, typer.Option(
        min=0, max=16, help="Offline: random-crop views per training image.")] = 2,
    model_id: Annotated[str | None, typer.Option(
        help="Offline: model id to record (default: directory name + weights hash).")] = None,
    max_images: Annotated[int | None, typer.Option(
        min=2, help="Use only the first N images of each split (quick runs).")] = None,
    train_split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    dev_split: Annotated[str, typer.Option(help="Split for early stopping.")] = "dev",
    cache_dir: Annotated[Path | None, typer.Option(
        help="Keep extracted features here (reruns take seconds).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    encode_batch: Annotated[int, typer.Option(min=1, help="Images per encoder call.")] = 32,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output directory.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train projection heads on frozen encoders with a contrastive loss; write a model dir."""
    from visearch.eval.datasets import DatasetError
    from visearch.models.base import ModelLoadError
    from visearch.models.device import select_device
    from visearch.models.efficientnet_lite import RESOLUTION
    from visearch.models.offline import TowerConfig
    from visearch.training.contrastive import TrainConfig
    from visearch.training.modeldir import OutputDirError
    from visearch.training.runner import HeadOptions, train_clip_adapter, train_offline

    command = _command_line()
    try:
        dev = select_device(device)
        offline = base == OFFLINE_MODEL
        train = TrainConfig(
            epochs=epochs, batch_size=batch_size,
            lr=lr if lr is not None else (3e-3 if offline else 1e-3),
            weight_decay=weight_decay, patience=patience, seed=seed,
        )
        if offline:
            towers = TowerConfig(
                image_variant=image_variant, image_size=RESOLUTION[image_variant],
                image_stages=image_stages, image_flip_average=flip,
                text_layers=_parse_layers(text_layers),
            )
            heads = HeadOptions(kind=head, dim=dim, hidden=hidden,
                                dropout=0.5 if dropout is None else dropout)
            result = train_offline(
                captions, out, towers=towers, heads=heads, train=train, crops=crops,
                model_id=model_id, cache_dir=cache_dir, device=dev, batch_size=encode_batch,
                max_images=max_images, train_split=train_split, dev_split=dev_split,
                command=command, overwrite=force, quiet=quiet,
            )
        else:
            result = train_clip_adapter(
                captions, out, base=base, train=train, dropout=dropout or 0.0,
                cache_dir=cache_dir, device=dev, batch_size=encode_batch,
                max_images=max_images, train_split=train_split, dev_split=dev_split,
                command=command, overwrite=force, quiet=quiet,
            )
    except (DatasetError, OutputDirError, ModelLoadError, FileNotFoundError) as exc:
        _err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    _report(result, out)


def _report(result: TrainResult, out: Path) -> None:
    m = result.best_metrics
    _out.print(
        f"wrote {out}  (best epoch {result.best_epoch}; dev text→image R@1 {m['R@1']:.1f}  "
        f"R@5 {m['R@5']:.1f}  R@10 {m['R@10']:.1f}  mAP@10 {m['mAP@10']:.1f}  "
        f"median rank {m['median_rank']:.0f})"
    )
