"""The search features of issue 14 through the real app with real photos: weighted and
negative terms, likes and dislikes, diversity, the cutoff report, sorting by the EXIF date,
near-duplicates (at upload, per image, in groups, collapsed), facets, the filter grammar, the
multipart form with every option, and the OpenAPI description of each field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.photos import exif_jpeg

#: The tiny random-weight model embeds all photos alike (cosine ~0.99); JPEG re-encodes of a
#: photo are closer still (> 0.9996), so this distance separates copies from other photos.
COPY_DISTANCE = 0.0003


@pytest.fixture
def settings(tmp_path: Path, tiny_clip_dir: Path):  # type: ignore[no-untyped-def]
    from visearch.config import Settings

    return Settings(model=str(tiny_clip_dir), model_fallback="", device="cpu",
                    data_dir=tmp_path / "data", batch_size=16, precision="fp32",
                    payload_indexes=["metadata.collection:keyword", "metadata.year:integer"],
                    near_duplicate_distance=COPY_DISTANCE)


CAMERAS = [("Canon", "Canon EOS R5"), ("NIKON CORPORATION", "NIKON D750"), None]


@pytest.fixture
def indexed(client: TestClient, clothing_images: list[Path]) -> list[dict[str, Any]]:
    """24 photos of three classes, uploaded with EXIF dates (half of them) and cameras."""
    out = []
    for c, cls in enumerate(("dress", "hat", "shoes")):
        paths = [p for p in clothing_images if p.parent.name == cls][:8]
        files = []
        for i, p in enumerate(paths):
            when = f"20{10 + i}:0{1 + c}:1{i} 10:00:00" if i % 2 == 0 else None
            files.append(("files", (p.name, exif_jpeg(p, when, CAMERAS[(i + c) % 3]), "image/jpeg")))
        meta = json.dumps({"collection": "shop" if c < 2 else "archive", "year": 2020 + c})
        resp = client.post("/api/v1/index/upload", files=files,
                           data={"label": cls, "metadata": meta})
        assert resp.status_code == 200, resp.text
        assert resp.json()["indexed"] == 8
        out.extend(resp.json()["results"])
    return out


def search(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/search", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [r["image_id"] for r in body["results"]]


def test_terms_likes_dislikes_and_diversity(client: TestClient, indexed: list[dict]) -> None:
    plain = search(client, text="a dress", top_k=10)
    negative = search(client, text="a dress", terms=[{"text": "a hat", "weight": -1}], top_k=10)
    assert ids(negative) != ids(plain)
    like, dislike = ids(plain)[1], ids(plain)[2]
    for strategy in ("average_vector", "best_score", "sum_scores", "relevance_feedback"):
        refined = search(client, text="a dress", positive_ids=[like], negative_ids=[dislike],
                         strategy=strategy, top_k=10)
        assert len(refined["results"]) == 10 and not {like, dislike} & set(ids(refined))
    alone = search(client, positive_ids=[like], top_k=5)  # likes alone: "more like these"
    assert len(alone["results"]) == 5 and like not in ids(alone)
    by_image = search(client, terms=[{"image_id": like, "weight": 1.0},
                                     {"text": "shoes", "weight": 0.3}], top_k=5)
    assert like not in ids(by_image)
    diverse = search(client, text="a dress", top_k=10, diversity=0.8)
    assert ids(diverse)[0] == ids(plain)[0] and ids(diverse) != ids(plain)
    missing = client.post("/api/v1/search", json={"text": "x", "negative_ids": ["nope"]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    feedback_alone = client.post("/api/v1/search", json={"positive_ids": [like],
                                                         "strategy": "relevance_feedback"})
    assert feedback_alone.status_code == 422
    assert feedback_alone.json()["error"]["code"] == "invalid_query"


def test_cutoff_is_reported(client: TestClient, indexed: list[dict]) -> None:
    off = search(client, text="a hat", top_k=12)
    assert off["cutoff"] == {"method": "off", "score": None, "kept": 12, "cut": 0}
    auto = search(client, text="a hat", top_k=12, cutoff="auto")
    c = auto["cutoff"]
    assert c["method"] == "relative"  # no calibration for the test model
    assert c["kept"] + c["cut"] == 12 and c["kept"] == len(auto["results"]) >= 1
    assert all(r["score"] >= c["score"] - 1e-6 for r in auto["results"])
    assert ids(auto) == ids(off)[: c["kept"]]


def test_sort_by_taken_at_and_date_filters(client: TestClient, indexed: list[dict]) -> None:
    body = search(client, text="clothes", top_k=24, sort="taken_at")
    taken = [r["taken_at"] for r in body["results"]]
    dated = [t for t in taken if t]
    assert len(dated) == 12 and dated == sorted(dated, reverse=True)
    assert taken[12:] == [None] * 12
    asc = search(client, text="clothes", top_k=5, sort="taken_at", order="asc")
    assert [r["taken_at"] for r in asc["results"]] == sorted(dated)[:5]
    assert asc["results"][0]["camera"] in {"Canon EOS R5", "NIKON D750", None}
    window = search(client, text="clothes", top_k=24, filter={
        "taken_at": {"gte": "2012-01-01", "lt": "2014-12-31T23:59:59Z"}})
    assert sorted(r["taken_at"][:4] for r in window["results"]) == ["2012"] * 3 + ["2014"] * 3
    by_indexing = search(client, text="clothes", top_k=3, sort="indexed_at")
    assert len(by_indexing["results"]) == 3


def test_filter_grammar_and_facets(client: TestClient, indexed: list[dict]) -> None:
    body = search(client, text="x", top_k=30, filter={"label": {"in": ["hat", "shoes"]},
                                                      "not": {"camera": "Canon EOS R5"}})
    assert {r["label"] for r in body["results"]} == {"hat", "shoes"}
    assert all(r["camera"] != "Canon EOS R5" for r in body["results"])
    assert len(body["results"]) == 16 - 5
    facets = client.get("/api/v1/facets/label").json()
    assert facets == {"field": "label", "values": [{"value": v, "count": 8}
                                                   for v in ("dress", "hat", "shoes")]}
    cams = client.get("/api/v1/facets/camera", params={
        "filter": json.dumps({"label": "dress"})}).json()["values"]
    assert sorted((v["value"], v["count"]) for v in cams) == [
        ("Canon EOS R5", 3), ("NIKON D750", 3)]
    meta = client.get("/api/v1/facets/metadata.collection", params={"limit": 1}).json()
    assert meta["values"] == [{"value": "shop", "count": 16}]
    years = client.get("/api/v1/facets/metadata.year").json()["values"]
    assert sorted(v["value"] for v in years) == [2020, 2021, 2022]
    for path, params in [("/api/v1/facets/filename", {}), ("/api/v1/facets/metadata.other", {}),
                         ("/api/v1/facets/label", {"filter": '{"colour": 1}'}),
                         ("/api/v1/facets/label", {"filter": '{"not": []}'})]:
        resp = client.get(path, params=params)
        assert resp.status_code == 422, path
        assert resp.json()["error"]["code"] == "invalid_filter"
    bad = client.post("/api/v1/search", json={"text": "x", "filter": {"taken_at": {"gt": "soon"}}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_filter"


def test_near_duplicates(client: TestClient, indexed: list[dict],
                         clothing_images: list[Path]) -> None:
    photo = next(p for p in clothing_images if p.name == indexed[3]["filename"])
    copy = exif_jpeg(photo, quality=80)  # a re-encode (the original has an EXIF date)
    up = client.post("/api/v1/index/upload", files=[("files", ("copy.jpg", copy, "image/jpeg"))])
    result = up.json()["results"][0]
    assert up.status_code == 200 and up.json()["near_duplicates"] == 1
    assert (result["status"], result["duplicate_of"]) == ("near_duplicate", indexed[3]["image_id"])
    dup = client.get(f"/api/v1/images/{indexed[3]['image_id']}/duplicates").json()
    assert [d["image_id"] for d in dup["duplicates"]] == [result["image_id"]]
    assert dup["duplicates"][0]["duplicate_of"] == indexed[3]["image_id"]
    back = client.get(f"/api/v1/images/{result['image_id']}/duplicates").json()
    assert [d["image_id"] for d in back["duplicates"]] == [indexed[3]["image_id"]]
    assert client.get("/api/v1/images/nope/duplicates").status_code == 404
    groups = client.get("/api/v1/duplicates").json()
    assert groups["images"] == 25 and len(groups["groups"]) == 1
    members = groups["groups"][0]["members"]
    assert groups["groups"][0]["original"] == indexed[3]["image_id"] == members[0]["image_id"]
    full = search(client, text="x", top_k=25)
    collapsed = search(client, text="x", top_k=25, collapse_duplicates=True)
    assert len(collapsed["results"]) == 24
    assert set(ids(full)) - set(ids(collapsed)) in ({result["image_id"]}, {indexed[3]["image_id"]})


def test_multipart_takes_every_option(client: TestClient, indexed: list[dict],
                                      clothing_images: list[Path]) -> None:
    photo = next(p for p in clothing_images if p.name == indexed[5]["filename"])
    like = indexed[6]["image_id"]
    form = {"text": "a dress", "text_weight": "0.2", "top_k": "6",
            "terms": json.dumps([{"text": "a hat", "weight": -0.5}]),
            "negative_ids": json.dumps([like]), "positive_ids": indexed[7]["image_id"],
            "strategy": "sum_scores", "diversity": "0.3", "cutoff": "auto", "sort": "taken_at",
            "collapse_duplicates": "true", "filter": json.dumps({"not": {"label": "shoes"}})}
    resp = client.post("/api/v1/search/image", files={"file": ("q.jpg", photo.read_bytes())},
                       data=form)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["cutoff"]["method"] == "relative"  # MMR answers with cosine similarities
    assert like not in ids(body) and {r["label"] for r in body["results"]} <= {"dress", "hat"}
    as_json = search(client, image_data=__import__("base64").b64encode(
        photo.read_bytes()).decode(), text="a dress", text_weight=0.2, top_k=6,
        terms=[{"text": "a hat", "weight": -0.5}], negative_ids=[like],
        positive_ids=[indexed[7]["image_id"]], strategy="sum_scores", diversity=0.3,
        cutoff="auto", sort="taken_at", collapse_duplicates=True,
        filter={"not": {"label": "shoes"}})
    assert ids(as_json) == ids(body)
    bad = client.post("/api/v1/search/image", files={"file": ("q.jpg", photo.read_bytes())},
                      data={"terms": json.dumps([{"text": "x", "image_id": like}])})
    assert bad.status_code == 422
    bad = client.post("/api/v1/search/image", files={"file": ("q.jpg", photo.read_bytes())},
                      data={"terms": "[not json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_terms"


def test_openapi_describes_every_search_field(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    request = schema["SearchRequest"]["properties"]
    for name in ("terms", "positive_ids", "negative_ids", "strategy", "diversity", "cutoff",
                 "sort", "order", "collapse_duplicates", "filter", "text_weight", "threshold"):
        assert request[name].get("description"), name
    assert schema["SearchTerm"]["properties"]["weight"]["description"]
    for name in ("method", "score", "kept", "cut"):
        assert schema["CutoffReport"]["properties"][name]["description"], name
    for name in ("taken_at", "camera", "duplicate_of"):
        assert schema["SearchResult"]["properties"][name]["description"], name
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/facets/{field}", "/api/v1/images/{image_id}/duplicates",
                 "/api/v1/duplicates"):
        assert path in paths
