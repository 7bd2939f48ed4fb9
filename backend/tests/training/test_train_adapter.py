"""``train-adapter`` on a random-weight CLIP: end to end, identity init, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from tests.support.clip import DATA_DIR
from visearch.cli.train import train_adapter_command
from visearch.models.adapter import AdapterEmbedder, is_adapter_dir, load_adapter_model
from visearch.models.clip import ClipEmbedder

CAPTIONS = DATA_DIR / "flickr8k" / "captions.jsonl"


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("train-adapter")(train_adapter_command)
    app.command("noop")(lambda: None)  # keep sub-command style like the real CLI
    return app


def _run(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["train-adapter", *args])
    return result.exit_code, result.output + (str(result.exception or ""))


def _sample_images(n: int = 4) -> list[Image.Image]:
    rows = [json.loads(line) for line in CAPTIONS.read_text().splitlines()[:n]]
    return [Image.open(CAPTIONS.parent / r["image"]).convert("RGB") for r in rows]


def test_trains_end_to_end_and_writes_loadable_dir(
    cli: typer.Typer, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adapter"
    code, output = _run(
        cli, str(CAPTIONS), "--out", str(out), "--base", str(tiny_clip_dir),
        "--max-images", "32", "--epochs", "3", "--batch-size", "16", "--device", "cpu",
        "--cache-dir", str(tmp_path / "cache"), "--quiet",
    )
    assert code == 0, output
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "MODEL_CARD.md"}
    assert is_adapter_dir(out) and not is_adapter_dir(tiny_clip_dir)
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "adapter"
    assert config["training"]["data"]["train_images"] == 32
    assert config["training"]["data"]["dev_images"] == 32
    assert 1 <= len(config["training"]["history"]) <= 4  # epoch 0 + up to 3 epochs
    card = (out / "MODEL_CARD.md").read_text()
    assert "train-adapter" in card and "R@10" in card

    model = load_adapter_model(out, device="cpu", batch_size=8)
    assert isinstance(model, AdapterEmbedder)
    texts = model.embed_texts(["a dog runs on the grass", "two children"])
    images = model.embed_images(_sample_images(3))
    assert texts.shape == (2, 64) and images.shape == (3, 64)
    assert texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert model.model_id.startswith("adapter@")

    # Rerunning reads the cached features and, with the same seed, gives the same weights.
    out2 = tmp_path / "adapter2"
    code, output = _run(
        cli, str(CAPTIONS), "--out", str(out2), "--base", str(tiny_clip_dir),
        "--max-images", "32", "--epochs", "3", "--batch-size", "16", "--device", "cpu",
        "--cache-dir", str(tmp_path / "cache"), "--quiet",
    )
    assert code == 0, output
    assert (out / "model.safetensors").read_bytes() == (out2 / "model.safetensors").read_bytes()
    history2 = json.loads((out2 / "config.json").read_text())["training"]["history"]
    assert history2 == config["training"]["history"]  # same losses and metrics every epoch
    assert all(np.isfinite(h["loss"]) for h in history2[1:])


def test_untrained_adapter_leaves_embeddings_unchanged(
    cli: typer.Typer, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "identity"
    code, output = _run(
        cli, str(CAPTIONS), "--out", str(out), "--base", str(tiny_clip_dir),
        "--max-images", "8", "--epochs", "1", "--lr", "0", "--batch-size", "8",
        "--device", "cpu", "--quiet",
    )
    assert code == 0, output
    adapted = load_adapter_model(out, device="cpu")
    base = ClipEmbedder.from_dir(tiny_clip_dir, device="cpu")
    texts = ["a black dog in the snow", "a girl on a swing", ""]
    images = _sample_images(4)
    np.testing.assert_allclose(adapted.embed_texts(texts), base.embed_texts(texts), atol=1e-6)
    np.testing.assert_allclose(adapted.embed_images(images), base.embed_images(images),
                               atol=1e-6)
    assert adapted.model_id != base.model_id  # its own collection


def test_adapter_refuses_other_base_weights(
    cli: typer.Typer, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    from tests.support.clip import make_clip_dir
    from visearch.models.base import ModelLoadError

    out = tmp_path / "a"
    code, output = _run(cli, str(CAPTIONS), "--out", str(out), "--base", str(tiny_clip_dir),
                        "--max-images", "4", "--epochs", "1", "--device", "cpu", "--quiet")
    assert code == 0, output
    config = json.loads((out / "config.json").read_text())
    other = make_clip_dir(tmp_path / "other", seed=1)
    config["base_model"]["path"] = str(other)
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="retrain"):
        load_adapter_model(out, device="cpu")


def test_bad_input_fails_clearly(cli: typer.Typer, tiny_clip_dir: Path, tmp_path: Path) -> None:
    code, output = _run(cli, str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"),
                        "--base", str(tiny_clip_dir))
    assert code == 1 and "no such file" in " ".join(output.split())  # rich wraps lines

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "x.jpg", "captions": []}\n')
    code, output = _run(cli, str(bad), "--out", str(tmp_path / "o"), "--base", str(tiny_clip_dir))
    assert code == 1 and "bad.jsonl:1" in output

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("precious")
    code, output = _run(cli, str(CAPTIONS), "--out", str(full), "--base", str(tiny_clip_dir))
    assert code == 1 and "not empty" in output
    assert (full / "keep.txt").read_text() == "precious"

    code, output = _run(cli, str(CAPTIONS), "--out", str(tmp_path / "o"),
                        "--base", str(tmp_path / "no-such-model"))
    assert code == 1 and "no-such-model" in output
