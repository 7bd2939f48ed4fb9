"""ImageFiles: originals, bounded copies, thumbnails, atomic writes, ids that try to escape."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.ingest.conftest import encode, make_image
from visearch.config import load_settings
from visearch.ingest.decode import decode_image
from visearch.ingest.files import THUMBNAIL_MEDIA_TYPE, ImageFiles

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 64_000_000}
BACKEND = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> ImageFiles:
    return ImageFiles(tmp_path / "images", stored_max_side=512, thumbnail_size=64)


def save(files: ImageFiles, image_id: str, data: bytes) -> None:
    files.save(image_id, data, decode_image(data, **LIMITS))


def open_file(path: Path) -> Image.Image:
    img = Image.open(io.BytesIO(path.read_bytes()))
    img.load()
    return img


def test_small_browser_image_keeps_its_bytes(
    files: ImageFiles, clothing_images: list[Path]
) -> None:
    data = clothing_images[0].read_bytes()
    save(files, "photo-1", data)
    found = files.original("photo-1")
    assert found is not None
    path, media_type = found
    assert media_type == "image/jpeg"
    assert path.read_bytes() == data
    assert path.is_relative_to(files.root)
    assert files.exists("photo-1")

    thumb_path = files.thumbnail("photo-1")
    assert thumb_path is not None and thumb_path.is_relative_to(files.root)
    thumb = open_file(thumb_path)
    assert thumb.format == "JPEG" == THUMBNAIL_MEDIA_TYPE.split("/")[1].upper()
    assert max(thumb.size) == 64
    with Image.open(clothing_images[0]) as src:
        ratio = src.width / src.height
    assert abs(thumb.width / thumb.height - ratio) < 0.05


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")]
)
def test_browser_formats_are_served_with_their_type(
    files: ImageFiles, fmt: str, media_type: str
) -> None:
    data = encode(make_image((100, 80)), fmt)
    save(files, "img", data)
    found = files.original("img")
    assert found is not None and found[1] == media_type and found[0].read_bytes() == data


def test_animated_gif_is_kept_whole(files: ImageFiles) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    save(files, "anim", data)
    found = files.original("anim")
    assert found is not None
    assert found[0].read_bytes() == data
    assert open_file(files.thumbnail("anim") or Path()).format == "JPEG"


def test_large_photo_is_stored_as_bounded_jpeg(files: ImageFiles) -> None:
    data = encode(make_image((1500, 600)), "JPEG", quality=90)
    save(files, "big", data)
    found = files.original("big")
    assert found is not None
    path, media_type = found
    assert media_type == "image/jpeg"
    stored = open_file(path)
    assert stored.size == (512, 205)
    assert path.read_bytes() != data


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PNG"])
def test_non_browser_or_large_lossless_is_stored_as_png(files: ImageFiles, fmt: str) -> None:
    size = (600, 300) if fmt == "PNG" else (100, 50)
    data = encode(make_image(size), fmt)
    save(files, "lossless", data)
    found = files.original("lossless")
    assert found is not None and found[1] == "image/png"
    stored = open_file(found[0])
    assert stored.format == "PNG"
    assert max(stored.size) == min(512, max(size))


def test_small_image_thumbnail_is_not_enlarged(files: ImageFiles) -> None:
    save(files, "tiny", encode(make_image((20, 10)), "PNG"))
    assert open_file(files.thumbnail("tiny") or Path()).size == (20, 10)


def test_ids_with_colons_and_dots_stay_under_the_root(files: ImageFiles) -> None:
    data = encode(make_image(), "PNG")
    for image_id in ("sku:123", "a..b", "C:evil", "x" * 128):
        save(files, image_id, data)
        found = files.original(image_id)
        assert found is not None
        path = found[0].resolve()
        assert path.is_relative_to(files.root.resolve())
        assert path.parent.parent == files.root.resolve()  # <root>/<shard>/<file>
    assert len({files.original(i)[0] for i in ("sku:123", "a..b")}) == 2  # type: ignore[index]


@pytest.mark.parametrize("image_id", ["../../etc/passwd", "/abs", "a/b", "..", "", "a\\b", "nul"])
def test_escaping_ids_stay_inside_the_root(files: ImageFiles, tmp_path: Path, image_id: str) -> None:
    """File names are hashes of the id, so even an id no indexer would accept names no path
    outside the root (ids are validated where they enter, not here)."""
    data = encode(make_image(), "PNG")
    save(files, image_id, data)
    found = files.original(image_id)
    thumb = files.thumbnail(image_id)
    assert found is not None and thumb is not None and files.exists(image_id)
    root = files.root.resolve()
    assert found[0].resolve().is_relative_to(root) and thumb.resolve().is_relative_to(root)
    assert found[0].read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["images"]
    files.delete(image_id)
    assert files.original(image_id) is None and not files.exists(image_id)


def test_overwrite_replaces_both_files(files: ImageFiles) -> None:
    save(files, "same", encode(make_image((50, 50)), "JPEG"))
    png = encode(make_image((40, 30)), "PNG")
    save(files, "same", png)
    found = files.original("same")
    assert found is not None and found[1] == "image/png" and found[0].read_bytes() == png
    assert open_file(files.thumbnail("same") or Path()).size == (40, 30)


def test_delete_is_idempotent(files: ImageFiles) -> None:
    save(files, "gone", encode(make_image(), "PNG"))
    files.delete("gone")
    assert files.original("gone") is None
    assert files.thumbnail("gone") is None
    assert not files.exists("gone")
    files.delete("gone")
    files.delete("never-saved")
    assert files.original("never-saved") is None


def test_files_are_world_readable_and_no_temp_files_remain(files: ImageFiles) -> None:
    save(files, "perm", encode(make_image(), "PNG"))
    found = files.original("perm")
    assert found is not None
    assert stat.S_IMODE(found[0].stat().st_mode) == 0o644
    assert not [p for p in files.root.rglob(".tmp-*")]


def test_failed_write_keeps_the_old_file(
    files: ImageFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = encode(make_image((30, 30)), "PNG")
    save(files, "keep", old)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(files, "keep", encode(make_image((60, 60)), "JPEG"))
    monkeypatch.undo()
    found = files.original("keep")
    assert found is not None and found[0].read_bytes() == old
    assert not [p for p in files.root.rglob(".tmp-*")]


_WRITER = """
import sys
from visearch.ingest.decode import decode_image
from visearch.ingest.files import ImageFiles
files = ImageFiles(sys.argv[1])
payloads = [open(p, "rb").read() for p in sys.argv[2:]]
decoded = [decode_image(p, max_bytes=1 << 30, max_pixels=1 << 30) for p in payloads]
i = 0
while True:
    files.save("victim", payloads[i % 2], decoded[i % 2])
    i += 1
"""


def test_kill_9_mid_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """A writer saving the same id in a loop is SIGKILLed; what is left is one whole file."""
    payloads = []
    for i, size in enumerate(((600, 500), (500, 600))):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(encode(make_image(size), "PNG"))  # kept as-is (<= 2048 px)
        payloads.append(path)
    root = tmp_path / "images"
    files = ImageFiles(root)
    env = {**os.environ, "PYTHONPATH": str(BACKEND)}
    for attempt in range(3):
        before = _inode(files)
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), *map(str, payloads)], env=env
        )
        try:
            while _inode(files) == before and proc.poll() is None:  # until it is writing
                time.sleep(0.01)
            time.sleep(0.05 * attempt)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        found = files.original("victim")
        assert found is not None
        assert found[0].read_bytes() in {p.read_bytes() for p in payloads}
        thumb = open_file(files.thumbnail("victim") or Path())
        assert max(thumb.size) == 256


def _inode(files: ImageFiles) -> int | None:
    found = files.original("victim")
    try:
        return found[0].stat().st_ino if found else None
    except FileNotFoundError:
        return None


def test_stale_temp_files_are_cleaned(files: ImageFiles) -> None:
    assert files.remove_stale_temp_files() == 0  # no root yet
    save(files, "x", encode(make_image(), "PNG"))
    shard = next(p for p in files.root.iterdir() if p.is_dir())
    stale = shard / ".tmp-abandoned.orig"
    stale.write_bytes(b"half")
    fresh = shard / ".tmp-inflight.orig"
    fresh.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert files.remove_stale_temp_files(older_than_s=3600) == 1
    assert not stale.exists() and fresh.exists()
    assert files.exists("x")


def test_from_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d", stored_image_max_side=300, thumbnail_size=48)
    files = ImageFiles.from_settings(settings)
    assert files.root == tmp_path / "d" / "images"
    assert (files.stored_max_side, files.thumbnail_size) == (300, 48)
