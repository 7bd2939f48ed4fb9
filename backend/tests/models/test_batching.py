"""BatchingEmbedder: concurrent queries share model calls, results go to the right caller,
one bad input fails only its own request, big calls pass straight through."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from visearch.models.batching import BatchingEmbedder
from visearch.models.clip import ClipEmbedder

TEXTS = [f"a photo of thing number {i}" for i in range(24)]


def test_concurrent_texts_share_model_calls_and_get_their_own_rows(
    tiny_clip: ClipEmbedder,
) -> None:
    expected = tiny_clip.embed_texts(TEXTS)
    batching = BatchingEmbedder(tiny_clip, max_batch=8, max_wait_s=0.25)
    start = threading.Barrier(len(TEXTS))

    def one(i: int) -> np.ndarray:
        start.wait()
        return batching.embed_texts([TEXTS[i]])[0]

    with ThreadPoolExecutor(len(TEXTS)) as pool:
        got = list(pool.map(one, range(len(TEXTS))))
    batching.close()
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)
    assert batching.texts.inputs == len(TEXTS)
    assert batching.texts.calls <= len(TEXTS) // 2  # gathered, at most max_batch per call
    assert batching.texts.calls >= len(TEXTS) // 8


def test_a_bad_input_fails_only_its_request(tiny_clip: ClipEmbedder) -> None:
    batching = BatchingEmbedder(tiny_clip, max_batch=8, max_wait_s=0.05)
    start = threading.Barrier(3)

    def call(texts: list[object]) -> object:
        start.wait()
        try:
            return batching.embed_texts(texts)  # type: ignore[arg-type]
        except TypeError as exc:
            return exc

    with ThreadPoolExecutor(3) as pool:
        good, bad, other = pool.map(call, [["a dress"], [42], ["shoes"]])
    batching.close()
    assert isinstance(bad, TypeError)
    assert isinstance(good, np.ndarray) and isinstance(other, np.ndarray)
    np.testing.assert_allclose(good, tiny_clip.embed_texts(["a dress"]), atol=1e-5)


def test_images_batch_too_and_large_calls_pass_through(
    tiny_clip: ClipEmbedder, clothing_images: list[Image.Image]
) -> None:
    batching = BatchingEmbedder(tiny_clip, max_batch=4, max_wait_s=0.05)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda im: batching.embed_images([im])[0], clothing_images[:4]))
    np.testing.assert_allclose(np.stack(got), tiny_clip.embed_images(clothing_images[:4]),
                               atol=1e-5)
    calls = batching.images.calls
    assert batching.embed_images(clothing_images).shape == (6, tiny_clip.dim)
    assert batching.images.calls == calls  # six >= max_batch: straight to the model
    batching.close()
    assert batching.embed_texts(["after close"]).shape == (1, tiny_clip.dim)  # runs directly


def test_settings_are_checked(tiny_clip: ClipEmbedder) -> None:
    with pytest.raises(ValueError):
        BatchingEmbedder(tiny_clip, max_batch=0)
    with pytest.raises(TypeError):
        BatchingEmbedder(tiny_clip).embed_texts("not a list")
