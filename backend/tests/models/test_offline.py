"""The built-in offline model with its committed heads: contract and real retrieval quality."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.clip import DATA_DIR
from visearch.models.base import ModelLoadError
from visearch.models.offline import WEIGHTS_DIR, OfflineEmbedder, load_offline_model

FLICKR = DATA_DIR / "flickr8k"


@pytest.fixture(scope="module")
def model() -> OfflineEmbedder:
    return load_offline_model(device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def dev_sample() -> list[dict[str, object]]:
    """24 dev images (every 40th, a stable spread) with their captions."""
    rows = [json.loads(line) for line in (FLICKR / "captions.jsonl").open()]
    return [r for r in rows if r["split"] == "dev"][::40][:24]


def _open(row: dict[str, object]) -> Image.Image:
    return Image.open(FLICKR / str(row["image"])).convert("RGB")


def test_contract(model: OfflineEmbedder) -> None:
    assert model.model_id == "visearch/offline-effnetlite2-minilm-v1"
    assert model.dim == 512 and model.device == "cpu" and not model.is_fallback
    texts = model.embed_texts(["a dog running on the grass", "", "a red dress " * 200])
    gray = Image.new("L", (300, 120), 128)
    rgba = Image.new("RGBA", (64, 200), (10, 200, 30, 100))
    images = model.embed_images([gray, rgba])
    for emb, n in ((texts, 3), (images, 2)):
        assert emb.shape == (n, 512) and emb.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert model.embed_texts([]).shape == (0, 512)
    assert model.embed_images([]).shape == (0, 512)
    with pytest.raises(TypeError):
        model.embed_texts([b"bytes"])  # type: ignore[list-item]


def test_deterministic_and_batch_independent(
    model: OfflineEmbedder, dev_sample: list[dict[str, object]]
) -> None:
    images = [_open(r) for r in dev_sample[:10]]  # batch_size 8: two batches
    first, second = model.embed_images(images), model.embed_images(images)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(model.embed_images(images[9:]), first[9:], atol=1e-5)
    texts = [str(r["captions"][0]) for r in dev_sample[:10]]  # type: ignore[index]
    np.testing.assert_allclose(model.embed_texts(texts[3:4]), model.embed_texts(texts)[3:4],
                               atol=1e-5)


def test_thread_safe(model: OfflineEmbedder, dev_sample: list[dict[str, object]]) -> None:
    texts = [str(r["captions"][1]) for r in dev_sample]  # type: ignore[index]
    expected = model.embed_texts(texts)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(model.embed_texts(texts))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_text_finds_its_image(model: OfflineEmbedder, dev_sample: list[dict[str, object]]) -> None:
    """Real quality smoke test: 24 unseen dev images, each queried by its 5 captions."""
    images = model.embed_images([_open(r) for r in dev_sample])
    captions = [(i, str(c)) for i, r in enumerate(dev_sample) for c in r["captions"]]  # type: ignore[attr-defined]
    texts = model.embed_texts([c for _, c in captions])
    scores = texts @ images.T
    owner = np.array([i for i, _ in captions])
    ranks = (scores >= scores[np.arange(len(owner)), owner][:, None]).sum(axis=1)
    # Random ranking: R@1 ~4 %, mean rank ~12.5.
    assert (ranks == 1).mean() >= 0.45, ranks
    assert (ranks <= 5).mean() >= 0.8, ranks
    assert ranks.mean() <= 4.0, ranks


def test_dog_query_prefers_dogs(model: OfflineEmbedder, dev_sample: list[dict[str, object]]) -> None:
    def has_dog(row: dict[str, object]) -> bool:
        return sum("dog" in str(c).lower() for c in row["captions"]) >= 3  # type: ignore[attr-defined]

    images = model.embed_images([_open(r) for r in dev_sample])
    query = model.embed_texts(["a dog running on the grass"])[0]
    top = np.argsort(-(images @ query))[:3]
    assert sum(has_dog(dev_sample[i]) for i in top) >= 2


def test_image_to_image_same_class(model: OfflineEmbedder) -> None:
    root = DATA_DIR / "clothing10" / "images"
    classes = ["dress", "hat", "pants", "shoes", "t-shirt"]
    gallery = {c: sorted((root / "train" / c).glob("*.jpg"))[:6] for c in classes}
    paths = [p for c in classes for p in gallery[c]]
    labels = np.array([c for c in classes for _ in gallery[c]])
    emb = model.embed_images([Image.open(p) for p in paths])
    queries = [sorted((root / "validation" / c).glob("*.jpg"))[0] for c in classes]
    q = model.embed_images([Image.open(p) for p in queries])
    top5 = np.argsort(-(q @ emb.T), axis=1)[:, :5]
    precision = np.mean([(labels[top5[i]] == c).mean() for i, c in enumerate(classes)])
    assert precision >= 0.6, precision  # random: 0.2


def test_missing_heads_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="heads not found"):
        OfflineEmbedder(tmp_path)
    assert (WEIGHTS_DIR / "MODEL_CARD.md").is_file()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_runs_the_offline_model_close_to_torch_and_caches_it(
    model: OfflineEmbedder, dev_sample: list[dict[str, object]], tmp_path: Path, precision: str
) -> None:
    pytest.importorskip("openvino")  # the optional extra (installed with the dev extra)
    fast = load_offline_model("cpu", 8, precision, runtime="openvino", cache_dir=tmp_path)
    assert fast.describe()["runtime"] == "openvino" and fast.precision == precision
    images = [_open(r) for r in dev_sample[:6]]
    texts = [str(c) for r in dev_sample[:6] for c in r["captions"][:1]]  # type: ignore[index]
    for a, b in ((model.embed_images(images), fast.embed_images(images)),
                 (model.embed_texts(texts), fast.embed_texts(texts))):
        assert float(np.min(np.sum(a * b, axis=1))) >= 0.99
    assert len(list(tmp_path.glob("*.xml"))) == 2  # both towers, read back on the next start
    again = load_offline_model("cpu", 8, precision, runtime="openvino", cache_dir=tmp_path)
    np.testing.assert_allclose(again.embed_texts(texts), fast.embed_texts(texts), atol=1e-5)


def test_the_loader_passes_the_runtime_to_the_offline_model(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from visearch.config import load_settings
    from visearch.models.loader import load_embedder

    embedder = load_embedder(load_settings(model="builtin:offline", model_fallback="",
                                           precision="fp32", runtime="openvino",
                                           data_dir=tmp_path))
    assert embedder.describe()["runtime"] == "openvino"
    assert list((tmp_path / "model-cache" / "openvino").glob("*.xml"))
