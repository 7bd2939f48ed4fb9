"""The CLI's two backends answer the same calls alike: ``LocalBackend`` (a runtime in this
process) and ``HttpBackend`` (a server), each on its own empty store with the same model."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.cli.conftest import cli_settings
from tests.support.clip import DATA_DIR
from visearch.api.schemas import StatsResponse
from visearch.cli import app
from visearch.cli.backend import Backend, CliError, IndexedFile, Query
from visearch.cli.http import HttpBackend
from visearch.cli.local import LocalBackend
from visearch.runtime import Runtime

VALIDATION = DATA_DIR / "clothing10" / "images" / "validation"


def folder_label(path: Path) -> str:
    return path.parent.name


@pytest.fixture
def backends(api_url: str, tmp_path: Path, tiny_clip_dir: Path,
             tiny_embedder: Any) -> Iterator[dict[str, Backend]]:
    runtime = Runtime.build(cli_settings(tiny_clip_dir, tmp_path / "local-data"),
                            embedder=tiny_embedder)
    both: dict[str, Backend] = {"local": LocalBackend(runtime), "http": HttpBackend(api_url)}
    try:
        yield both
    finally:
        for backend in both.values():
            backend.close()


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    """Three dresses, three shorts and a broken JPEG."""
    files = [p for cls in ("dress", "shorts") for p in sorted((VALIDATION / cls).glob("*.jpg"))[:3]]
    broken = tmp_path / "broken" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return [*files, broken]


def _by_name(results: list[IndexedFile]) -> dict[str | None, IndexedFile]:
    """Per file (a server indexes one upload per label, so the order may differ)."""
    return {r.filename: r for r in results}


def _index(backend: Backend, photos: list[Path]) -> tuple[int, dict[str | None, IndexedFile]]:
    advanced: list[int] = []
    done = backend.index(photos, {"source": "test"}, folder_label, advanced.append)
    return sum(advanced), _by_name(done)


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what a client reading the body relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_index_alike(backends: dict[str, Backend], photos: list[Path]) -> None:
    first = {name: _index(b, photos) for name, b in backends.items()}
    assert first["local"] == first["http"]
    advanced, done = first["local"]
    assert advanced == len(photos)
    assert [r.status for r in done.values()].count("indexed") == 6
    assert done["broken.jpg"].status == "failed" and done["broken.jpg"].message
    again = {name: _index(b, photos)[1] for name, b in backends.items()}
    assert again["local"] == again["http"]
    assert {r.status for n, r in again["local"].items() if n != "broken.jpg"} == {"duplicate"}


def test_search_alike(backends: dict[str, Backend], photos: list[Path]) -> None:
    for backend in backends.values():
        backend.index(photos[:-1], {}, folder_label, lambda n: None)
    dress = photos[0]
    queries = [
        Query(text="a red dress", top_k=4),
        Query(image=dress.read_bytes(), image_name=dress.name, top_k=3),
        Query(text="shorts", image=dress.read_bytes(), top_k=5, threshold=-1.0,
              filter={"label": "shorts"}),
    ]
    for query in queries:
        local, http = (backends[name].search(query) for name in ("local", "http"))
        assert local.results, query
        assert [(h.image_id, h.filename, h.label) for h in local.results] == [
            (h.image_id, h.filename, h.label) for h in http.results]
        assert [h.score for h in local.results] == pytest.approx(
            [h.score for h in http.results], abs=1e-5)
    by_image = backends["http"].search(queries[1]).results[0]
    assert (by_image.filename, by_image.label) == (dress.name, "dress")
    filtered = backends["local"].search(queries[2]).results
    assert {h.label for h in filtered} == {"shorts"}


@pytest.mark.parametrize("query", [
    Query(text="x", filter={"nope": 1}),
    Query(image=b"not an image"),
    Query(text="x", like=("nope",)),
    Query(text="x", diversity=2.0),
    Query(text="x", terms=(("", 1.0),)),
    Query(like=("a",), strategy="relevance_feedback"),
    Query(text="x", filter={"not": {"taken_at": {"gte": "tomorrow"}}}),
])
def test_bad_queries_fail_alike(backends: dict[str, Backend], query: Query) -> None:
    messages = {}
    for name, backend in backends.items():
        with pytest.raises(CliError) as caught:
            backend.search(query)
        messages[name] = str(caught.value)
    assert messages["http"].startswith("4")  # the status, then the API's code and message
    assert messages["http"].endswith(messages["local"])


def test_stats_alike(backends: dict[str, Backend], photos: list[Path]) -> None:
    for backend in backends.values():
        backend.index(photos, {}, None, lambda n: None)
    local, http = (backends[name].stats() for name in ("local", "http"))
    assert set(local) == set(StatsResponse.model_fields)
    assert _shape(local) == _shape(http)
    assert local["count"] == http["count"] == 6
    assert (local["model"], local["store"]) == (http["model"], http["store"])


def test_commands_print_alike(cli_env: Path, api_url: str, photos: list[Path]) -> None:
    """``index``, ``search`` and ``stats`` print the same JSON shapes locally and with --api."""
    runner = CliRunner()
    folder = photos[0].parent
    out: dict[str, list[Any]] = {}
    for where, extra in {"local": [], "http": ["--api", api_url]}.items():
        out[where] = []
        for args in (["index", str(folder), "--label-from-folder"], ["search", "a dress"],
                     ["stats"]):
            result = runner.invoke(app, [*args, "--json", *extra])
            assert result.exit_code == 0, result.output
            out[where].append(json.loads(result.stdout[result.stdout.index("{"):]))
    assert out["local"][0] == out["http"][0]
    assert [r["image_id"] for r in out["local"][1]["results"]] == [
        r["image_id"] for r in out["http"][1]["results"]]
    assert _shape(out["local"][2]) == _shape(out["http"][2])


def _copy(path: Path, folder: Path) -> Path:
    """A JPEG re-encode of ``path`` (a near-duplicate for the tiny model at 0.0003)."""
    out = folder / f"copy-{path.name}"
    out.parent.mkdir(exist_ok=True)
    with Image.open(path) as im:
        im.convert("RGB").save(out, "JPEG", quality=80)
    return out


def test_search_options_and_dedup_alike(backends: dict[str, Backend], photos: list[Path],
                                        tmp_path: Path) -> None:
    files = [*photos[:-1], _copy(photos[0], tmp_path / "copies")]
    for backend in backends.values():
        backend.index(files, {}, folder_label, lambda n: None)
    ids = [h.image_id for h in backends["local"].search(Query(text="a dress", top_k=7)).results]
    dress = photos[1]
    queries = [
        Query(text="a dress", terms=(("shorts", -1.0), ("red", 0.5)), top_k=5),
        Query(text="a dress", like=(ids[0],), dislike=(ids[1],), strategy="best_score"),
        Query(like=(ids[0], ids[2]), top_k=4),
        Query(text="a dress", diversity=0.5, cutoff="auto", sort="taken_at", order="asc"),
        Query(text="clothes", collapse=True, top_k=7, filter={"not": {"label": "shorts"}}),
        Query(image=dress.read_bytes(), image_name=dress.name, like=(ids[3],), diversity=0.3,
              terms=(("shorts", -0.5),), cutoff="auto", collapse=True),
    ]
    for query in queries:
        local, http = (backends[name].search(query) for name in ("local", "http"))
        assert local.results, query
        assert [h.image_id for h in local.results] == [h.image_id for h in http.results], query
        assert local.cutoff == http.cutoff
    assert backends["local"].search(queries[3]).cutoff["method"] == "relative"
    groups = {name: b.duplicate_groups(0.0003) for name, b in backends.items()}
    # Which member is the original depends on when each store indexed it: compare the groups.
    assert [{m["image_id"] for m in g["members"]} for g in groups["local"]["groups"]] == [
        {m["image_id"] for m in g["members"]} for g in groups["http"]["groups"]]
    assert (groups["local"]["images"], groups["local"]["distance"]) == (
        groups["http"]["images"], groups["http"]["distance"])
    [group] = groups["local"]["groups"]
    assert sorted(m["filename"] for m in group["members"]) == sorted(
        [photos[0].name, f"copy-{photos[0].name}"])
    assert group["members"][0]["image_id"] == group["original"]
    for backend in backends.values():
        thumb = backend.thumbnail(group["original"])
        assert thumb is not None and Image.open(io.BytesIO(thumb)).format == "JPEG"
        assert backend.thumbnail("nope") is None


def test_search_and_dedup_commands(cli_env: Path, photos: list[Path], tmp_path: Path) -> None:
    """The command line of the issue, and ``visearch dedup`` writing JSON and a contact sheet."""
    runner = CliRunner(env={"VISEARCH_NEAR_DUPLICATE_DISTANCE": "0.0003"})
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in photos:
        (folder / p.name).write_bytes(p.read_bytes())
    _copy(photos[0], folder / "copies")
    indexed = runner.invoke(app, ["index", str(folder), "--json"])
    assert indexed.exit_code == 2, indexed.output  # the broken JPEG
    summary = json.loads(indexed.stdout[indexed.stdout.index("{"):])
    assert (summary["indexed"], summary["near_duplicates"]) == (6, 1)
    first = runner.invoke(app, ["search", "beach", "--json", "-k", "4"])
    ids = [r["image_id"] for r in json.loads(first.stdout[first.stdout.index("{"):])["results"]]
    result = runner.invoke(app, ["search", "beach", "--not", "people", "--like", ids[0],
                                 "--dislike", ids[1], "--diversity", "0.3", "--sort",
                                 "indexed_at", "--cutoff", "auto", "--term", "sand@0.5",
                                 "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{"):])
    assert body["results"] and not {ids[0], ids[1]} & {r["image_id"] for r in body["results"]}
    assert body["cutoff"]["method"] == "relative"
    table = runner.invoke(app, ["search", "beach", "--cutoff", "auto"])
    assert table.exit_code == 0 and "cut below relative cutoff" in table.stdout
    bad = runner.invoke(app, ["search", "beach", "--like", "nope"])
    assert bad.exit_code != 0 and "nope" in bad.output
    out, sheet = tmp_path / "out" / "groups.json", tmp_path / "out" / "sheet.png"
    (tmp_path / "out").mkdir()
    dedup = runner.invoke(app, ["dedup", "--out", str(out), "--sheet", str(sheet)])
    assert dedup.exit_code == 0, dedup.output
    assert "1 groups of near-duplicates among 7 images" in dedup.stdout
    groups = json.loads(out.read_text())["groups"]
    assert len(groups) == 1 and len(groups[0]["members"]) == 2
    with Image.open(sheet) as png:
        assert png.format == "PNG" and png.size == (256, 144)
