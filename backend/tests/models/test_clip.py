"""ClipEmbedder on real tokenizer/preprocessing with random weights: shapes, norms, padding."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.models.conftest import clip_settings
from tests.support.clip import make_clip_dir
from visearch.models.clip import ClipEmbedder, detect_text_padding, local_model_id
from visearch.models.loader import load_embedder

TEXTS = [
    "a dress",
    "a red summer dress with white flowers and thin straps",
    "shoes",
    "a black leather jacket with a zip and two pockets on the front",
    "a hat",
    "blue jeans",
]


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_text_embeddings_are_unit_float32(tiny_clip: ClipEmbedder) -> None:
    assert tiny_clip.dim == 64  # projection_dim of the tiny config
    assert tiny_clip.device == "cpu"
    assert_unit_rows(tiny_clip.embed_texts(TEXTS), len(TEXTS), 64)


def test_empty_inputs_give_empty_arrays(tiny_clip: ClipEmbedder) -> None:
    assert tiny_clip.embed_texts([]).shape == (0, 64)
    assert tiny_clip.embed_images([]).shape == (0, 64)


def test_text_embeddings_are_deterministic_and_distinct(tiny_clip: ClipEmbedder) -> None:
    first, second = tiny_clip.embed_texts(TEXTS), tiny_clip.embed_texts(TEXTS)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[0], first[2], atol=1e-3)


def test_batched_texts_equal_single_texts(tiny_clip: ClipEmbedder) -> None:
    batched = tiny_clip.embed_texts(TEXTS)  # batch_size 4: two batches, mixed lengths
    single = np.concatenate([tiny_clip.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_short_query_is_padded_to_its_own_length(tiny_clip: ClipEmbedder) -> None:
    assert tiny_clip.text_padding == "longest"
    assert tiny_clip.tokenize(["a dress"])["input_ids"].shape == (1, 4)  # bos a dress eos
    assert tiny_clip.tokenize(["a dress"], "max_length")["input_ids"].shape == (1, 77)


def test_dynamic_padding_matches_padding_to_77(tiny_clip: ClipEmbedder) -> None:
    dynamic = tiny_clip.embed_texts(TEXTS)
    fixed = tiny_clip.embed_texts(TEXTS, padding="max_length")
    np.testing.assert_allclose(dynamic, fixed, atol=1e-5)


def test_long_texts_are_truncated_at_77_tokens(tiny_clip: ClipEmbedder) -> None:
    prefix = " ".join(["dress"] * 100)
    vectors = tiny_clip.embed_texts([prefix + " red", prefix + " blue", "red", "blue"])
    assert tiny_clip.tokenize([prefix])["input_ids"].shape == (1, 77)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # the tails were cut off
    assert not np.allclose(vectors[2], vectors[3], atol=1e-3)


def test_real_photos(tiny_clip: ClipEmbedder, clothing_images: list[Image.Image]) -> None:
    batched = tiny_clip.embed_images(clothing_images)  # 6 photos, batch_size 4
    assert_unit_rows(batched, len(clothing_images), 64)
    single = np.concatenate([tiny_clip.embed_images([im]) for im in clothing_images])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_array_equal(batched, tiny_clip.embed_images(clothing_images))
    assert not np.allclose(batched[0], batched[2], atol=1e-4)


def test_non_rgb_images_are_converted(
    tiny_clip: ClipEmbedder, clothing_images: list[Image.Image]
) -> None:
    grey = clothing_images[0].convert("L")
    rgba = clothing_images[1].convert("RGBA")
    vectors = tiny_clip.embed_images([grey, rgba])
    expected = tiny_clip.embed_images([grey.convert("RGB"), rgba.convert("RGB")])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "bad", "message"),
    [
        ("embed_texts", "a dress", "not a single string"),
        ("embed_texts", ["a dress", 3], "text 1 is a int"),
        ("embed_images", [b"\xff\xd8"], "image 0 is a bytes"),
    ],
)
def test_bad_input_is_a_clear_type_error(
    tiny_clip: ClipEmbedder, call: str, bad: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        getattr(tiny_clip, call)(bad)


def test_concurrent_calls_match_sequential(
    tiny_clip: ClipEmbedder, clothing_images: list[Image.Image]
) -> None:
    expected_texts = tiny_clip.embed_texts(TEXTS)
    expected_images = tiny_clip.embed_images(clothing_images)
    with ThreadPoolExecutor(4) as pool:
        texts = [pool.submit(tiny_clip.embed_texts, TEXTS) for _ in range(6)]
        images = [pool.submit(tiny_clip.embed_images, clothing_images) for _ in range(3)]
        for fut in texts:
            np.testing.assert_allclose(fut.result(), expected_texts, atol=1e-6)
        for fut in images:
            np.testing.assert_allclose(fut.result(), expected_images, atol=1e-6)


def test_model_id_is_dir_name_plus_weights_hash(
    tiny_clip: ClipEmbedder, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    name, digest = tiny_clip.model_id.split("@")
    assert name == "tiny-clip"
    assert len(digest) == 12
    assert tiny_clip.requested_model_id == tiny_clip.model_id
    assert local_model_id(tiny_clip_dir) == tiny_clip.model_id  # stable across loads

    copy = shutil.copytree(tiny_clip_dir, tmp_path / "renamed")
    assert local_model_id(copy) == f"renamed@{digest}"  # same weights, same hash
    other = make_clip_dir(tmp_path / "tiny-clip", seed=1)
    assert local_model_id(other) != tiny_clip.model_id  # other weights, other id


def test_reload_gives_same_vectors(tiny_clip: ClipEmbedder, tiny_clip_dir: Path) -> None:
    again = load_embedder(clip_settings(tiny_clip_dir))
    assert again.model_id == tiny_clip.model_id
    np.testing.assert_allclose(again.embed_texts(TEXTS), tiny_clip.embed_texts(TEXTS), atol=1e-6)


def test_siglip_loads_with_fixed_length_padding(tiny_siglip_dir: Path) -> None:
    embedder = load_embedder(clip_settings(tiny_siglip_dir))
    assert isinstance(embedder, ClipEmbedder)
    assert embedder.model_type == "siglip"
    assert embedder.text_padding == "max_length"
    assert embedder.max_text_length == 64  # SigLIP's context, below the tokenizer's 77
    assert embedder.tokenize(["a dress"])["input_ids"].shape == (1, 64)
    assert_unit_rows(embedder.embed_texts(TEXTS), len(TEXTS), embedder.dim)
    # The last-position pooling sees padding, so fixed padding is what keeps texts stable
    # between a batch and a single query.
    single = np.concatenate([embedder.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(embedder.embed_texts(TEXTS), single, atol=1e-5)


def test_text_padding_can_be_overridden(tiny_siglip_dir: Path) -> None:
    embedder = load_embedder(clip_settings(tiny_siglip_dir, text_padding="longest"))
    assert isinstance(embedder, ClipEmbedder)
    assert embedder.tokenize(["a dress"])["input_ids"].shape == (1, 4)
    # For SigLIP that changes the vectors: why "auto" picks max_length for it.
    longest = embedder.embed_texts(["a dress"])
    fixed = embedder.embed_texts(["a dress"], padding="max_length")
    assert not np.allclose(longest, fixed, atol=1e-3)


def test_detect_text_padding() -> None:
    assert detect_text_padding("clip") == "longest"
    assert detect_text_padding("siglip") == "max_length"
    assert detect_text_padding("siglip", "longest") == "longest"
    with pytest.raises(ValueError, match="auto, longest or max_length"):
        detect_text_padding("clip", "always")


@pytest.mark.slow
def test_full_size_clip(tmp_path: Path, clothing_images: list[Image.Image]) -> None:
    """ViT-B/32 at its real size: 512-d vectors, 77-token context, padding-invariant."""
    model_dir = make_clip_dir(tmp_path / "clip-vit-base-patch32", full_size=True)
    embedder = load_embedder(clip_settings(model_dir, batch_size=8))
    assert isinstance(embedder, ClipEmbedder)
    assert embedder.dim == 512
    assert embedder.max_text_length == 77
    texts = embedder.embed_texts(TEXTS)
    assert_unit_rows(texts, len(TEXTS), 512)
    np.testing.assert_allclose(texts, embedder.embed_texts(TEXTS, padding="max_length"), atol=1e-5)
    images = embedder.embed_images(clothing_images)
    assert_unit_rows(images, len(clothing_images), 512)
    np.testing.assert_allclose(images[:1], embedder.embed_images(clothing_images[:1]), atol=1e-5)
