"""Job specs: expansion into items, allowed roots, manifests and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from visearch.config import Settings, load_settings
from visearch.jobs.spec import (
    ItemSpec,
    JobSpec,
    JobSpecError,
    ManifestEntry,
    expand_job,
    parse_manifest,
)
from visearch.services.indexing import IndexItem


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "allowed"
    (base / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.png", "sub/c.jpg"):
        Image.new("RGB", (8, 8), "red").save(base / name)
    (base / "notes.txt").write_text("not an image")
    (base / ".hidden.jpg").write_bytes(b"x")
    return base


def _settings(tmp_path: Path, root: Path, **kw: object) -> Settings:
    return load_settings(data_dir=tmp_path / "data", allowed_roots=[root], **kw)


def test_a_job_needs_exactly_one_source() -> None:
    for bad in ({}, {"urls": ["http://x/a.jpg"], "folder": "/tmp"},
                {"folder": "/tmp", "manifest": "/tmp/m.jsonl"}):
        with pytest.raises(ValueError, match="exactly one"):
            JobSpec(**bad)


def test_urls_keep_order_and_metadata(tmp_path: Path, root: Path) -> None:
    req = JobSpec(urls=[" http://h/a.jpg", "http://h/b.jpg?x=1"], metadata={"batch": 7})
    items = expand_job(req, _settings(tmp_path, root))
    assert [i.url for i in items] == ["http://h/a.jpg", "http://h/b.jpg?x=1"]
    assert all(i.metadata == {"batch": 7} for i in items)
    item = items[1].to_index_item([root])
    assert isinstance(item, IndexItem) and item.filename == "b.jpg"


def test_folder_under_allowed_root(tmp_path: Path, root: Path) -> None:
    items = expand_job(JobSpec(folder=str(root)), _settings(tmp_path, root))
    names = [Path(i.path or "").name for i in items]
    assert names == ["a.png", "b.jpg", "c.jpg"]  # images only, hidden skipped, stable order
    assert JobSpec(folder=str(root)).describe() == ("folder", str(root))


def test_folder_outside_allowed_roots_is_refused(tmp_path: Path, root: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(folder=str(other)), _settings(tmp_path, root))
    assert err.value.status == 403 and err.value.code == "path_not_allowed"
    # A symlink inside the root that points outside is judged by its target.
    (root / "escape").symlink_to(other)
    with pytest.raises(JobSpecError):
        expand_job(JobSpec(folder=str(root / "escape")), _settings(tmp_path, root))
    # No allowed roots configured: server-side paths are off, and the message says how.
    with pytest.raises(JobSpecError, match="VISEARCH_ALLOWED_ROOTS"):
        expand_job(JobSpec(folder=str(root)), load_settings(data_dir=tmp_path / "d"))


def test_folder_errors(tmp_path: Path, root: Path) -> None:
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(folder=str(root / "missing")), _settings(tmp_path, root))
    assert err.value.code == "not_a_folder"
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(folder="relative/path"), _settings(tmp_path, root))
    assert err.value.code == "invalid_path"
    empty = root / "empty"
    empty.mkdir()
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(folder=str(empty)), _settings(tmp_path, root))
    assert err.value.code == "empty_job"
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(folder=str(root)), _settings(tmp_path, root, job_max_items=2))
    assert err.value.status == 413


def test_manifest_file_with_relative_paths(tmp_path: Path, root: Path) -> None:
    lines = [
        {"path": "b.jpg", "image_id": "img-b", "metadata": {"k": 1}},
        {"url": "http://h/x.jpg"},
        {"path": str(root / "sub" / "c.jpg")},
    ]
    manifest = root / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = expand_job(JobSpec(manifest=str(manifest), metadata={"k": 0, "j": 2}),
                       _settings(tmp_path, root))
    assert items[0] == ItemSpec(path=str(root / "b.jpg"), image_id="img-b",
                                metadata={"k": 1, "j": 2})
    assert items[1].url == "http://h/x.jpg"
    assert items[2].path == str(root / "sub" / "c.jpg")


def test_manifest_errors_name_the_line(tmp_path: Path, root: Path) -> None:
    with pytest.raises(JobSpecError, match="line 2: not JSON"):
        parse_manifest('{"url": "http://h/a.jpg"}\n{oops\n')
    with pytest.raises(JobSpecError, match=r'line 1: .*exactly one of "url" or "path"'):
        parse_manifest('{"url": "http://h/a.jpg", "path": "/x.jpg"}\n')
    with pytest.raises(JobSpecError, match=r"line 1: .*metadata"):
        parse_manifest('{"url": "http://h/a.jpg", "metadata": [1]}\n')
    outside = tmp_path / "m.jsonl"
    outside.write_text('{"url": "http://h/a.jpg"}\n')
    with pytest.raises(JobSpecError) as err:
        expand_job(JobSpec(manifest=str(outside)), _settings(tmp_path, root))
    assert err.value.status == 403


def test_item_paths_are_checked_when_read(tmp_path: Path, root: Path) -> None:
    inline = JobSpec(manifest=[
        ManifestEntry(path=str(root / "a.png")), ManifestEntry(path="/etc/passwd"),
        ManifestEntry(path="rel.jpg"),
    ])
    items = expand_job(inline, _settings(tmp_path, root))
    ok, outside, relative = (i.to_index_item([root]) for i in items)
    assert isinstance(ok, IndexItem) and ok.path == root / "a.png"
    assert isinstance(outside, JobSpecError) and outside.code == "path_not_allowed"
    assert isinstance(relative, JobSpecError) and relative.code == "invalid_path"


def test_item_spec_round_trip_and_malformed() -> None:
    spec = ItemSpec(url="http://h/a.jpg", image_id="x", metadata={"a": [1, 2]})
    assert ItemSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    for bad in ({}, {"u": "a", "p": "b"}, {"u": "a", "m": 3}, "nope"):
        with pytest.raises(ValueError):
            ItemSpec.from_dict(bad)  # type: ignore[arg-type]
