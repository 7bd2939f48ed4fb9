"""load_embedder: local dirs, hub names without network, clear errors, fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import huggingface_hub
import pytest
from transformers import BertConfig, BertModel

from tests.models.conftest import clip_settings
from visearch.models.base import ModelLoadError
from visearch.models.clip import ClipEmbedder
from visearch.models.loader import load_embedder

UNCACHED_HUB_MODEL = "visearch-tests/not-a-cached-model"


def load_error(settings_model: str, fallback: str = "") -> str:
    with pytest.raises(ModelLoadError) as info:
        load_embedder(clip_settings(settings_model, fallback))
    message = str(info.value)
    assert "\n" not in message  # one line, fit for a log or a terminal
    return message


def test_local_dir_loads(tiny_clip_dir: Path) -> None:
    embedder = load_embedder(clip_settings(tiny_clip_dir))
    assert isinstance(embedder, ClipEmbedder)
    assert not embedder.is_fallback
    assert embedder.describe()["fallback"] is False
    assert embedder.requested_model_id == embedder.model_id


@pytest.mark.parametrize("name", ["openai/clip-vit-base-patch32", UNCACHED_HUB_MODEL])
def test_hub_name_offline_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = load_error(name)
    assert f"could not load model {name!r}" in message
    assert "not in the Hugging Face cache" in message
    assert f"hf download {name}" in message
    assert "VISEARCH_MODEL" in message


def test_unreachable_hub_fails_fast_with_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # refused
    message = load_error(UNCACHED_HUB_MODEL)
    assert "the hub at http://127.0.0.1:9 is unreachable" in message
    assert "VISEARCH_MODEL" in message


@pytest.mark.parametrize("name", ["/nonexistent/visearch/model", "./no-such-model-dir"])
def test_missing_local_dir(name: str) -> None:
    message = load_error(name)
    assert "does not exist" in message
    assert str(Path(name).absolute()) in message


def test_invalid_name() -> None:
    assert "neither an existing directory nor a valid Hugging Face hub name" in load_error(
        "not a model!"
    )


def test_dir_without_config(tmp_path: Path) -> None:
    assert "no config.json" in load_error(str(tmp_path))


def test_dir_without_weights(tmp_path: Path, tiny_clip_dir: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_clip_dir / "config.json").read_text())
    message = load_error(str(tmp_path))
    assert f"could not load model {str(tmp_path)!r}" in message


def test_text_only_model_is_refused(tmp_path: Path, tiny_clip_dir: Path) -> None:
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                 "preprocessor_config.json"):
        (tmp_path / name).write_bytes((tiny_clip_dir / name).read_bytes())
    assert "has no get_text_features" in load_error(str(tmp_path))


def test_fallback_to_another_model(tiny_clip_dir: Path, tiny_clip: ClipEmbedder) -> None:
    missing = "/nonexistent/visearch/model"
    embedder = load_embedder(clip_settings(missing, str(tiny_clip_dir)))
    assert embedder.is_fallback
    assert embedder.describe()["fallback"] is True
    assert embedder.model_id == tiny_clip.model_id
    assert getattr(embedder, "requested_model_id", None) == missing


def test_no_fallback_raises() -> None:
    assert "does not exist" in load_error("/nonexistent/visearch/model", "")


def test_failed_fallback_reports_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "visearch.models.offline", None)  # as if not installed
    message = load_error("/nonexistent/visearch/model", "builtin:offline")
    assert "does not exist" in message
    assert "fallback model 'builtin:offline' failed too" in message
    assert "built-in offline model is not available" in message
