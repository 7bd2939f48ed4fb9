"""Writing a trained model directory: config.json + model.safetensors + MODEL_CARD.md.

The directory is written next to its destination and renamed into place, so a crash never
leaves a half-written model that the product would try to load.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

#: ``config.json`` ``format`` of directories written here (see ``visearch.models.adapter``).
FORMAT = "visearch-heads"
FORMAT_VERSION = 1


class OutputDirError(ValueError):
    """The output directory cannot be written; the message says why."""


def check_output_dir(path: Path, *, overwrite: bool) -> None:
    """Fail before any training if ``path`` exists and would be replaced without consent."""
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputDirError(f"output directory {path} is not empty (pass --force to replace it)")


def write_model_dir(
    path: Path,
    config: dict[str, object],
    tensors: dict[str, torch.Tensor],
    card: str,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the three files atomically into ``path``; returns ``path``."""
    check_output_dir(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        contiguous = {k: v.detach().cpu().contiguous().float() for k, v in tensors.items()}
        save_file(contiguous, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "MODEL_CARD.md").write_text(card)
        # mkdtemp makes a private (0700) directory; a model dir is ordinary readable data.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        for child in tmp.iterdir():
            child.chmod(0o666 & ~umask)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
