"""iter_image_files over real directory trees: order, hidden entries, symlink loops."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from visearch.ingest.scan import count_image_files, is_image_name, iter_image_files


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    touch(
        root,
        "b.jpg", "A.PNG", "c.Jpeg", "notes.txt", "noext", ".hidden.jpg", "z.gif",
        "sub/2.webp", "sub/1.TIF", "sub/deeper/3.tiff", "sub/deeper/readme.md",
        ".git/objects/x.jpg", "sub/.cache/y.png", "another/4.bmp",
    )
    return root


def rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_recursive_sorted_and_filtered(tree: Path) -> None:
    found = list(iter_image_files([tree]))
    assert rel(found, tree) == [
        "A.PNG", "b.jpg", "c.Jpeg", "z.gif",
        "another/4.bmp",
        "sub/1.TIF", "sub/2.webp",
        "sub/deeper/3.tiff",
    ]
    assert list(iter_image_files([tree])) == found  # same order every time
    assert count_image_files([tree]) == len(found)


def test_symlink_loop_terminates_and_visits_once(tree: Path) -> None:
    os.symlink(tree, tree / "sub" / "loop")
    os.symlink(tree / "sub", tree / "sub" / "deeper" / "up")
    found = rel(list(iter_image_files([tree])), tree)
    assert len(found) == len(set(found)) == 8


def test_symlinked_folder_and_file_are_followed(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside, "o.jpg")
    os.symlink(outside, tree / "linked")
    os.symlink(outside / "o.jpg", tree / "alias.jpg")
    os.symlink(tmp_path / "missing.jpg", tree / "broken.jpg")
    found = rel(list(iter_image_files([tree])), tree)
    assert "linked/o.jpg" in found
    assert "alias.jpg" in found
    assert "broken.jpg" not in found


def test_explicit_files_and_roots_keep_the_callers_order(tree: Path) -> None:
    hidden_root = tree / ".git"
    paths: list[Path | str] = [tree / "z.gif", tree / "notes.txt", hidden_root, str(tree / "b.jpg")]
    found = list(iter_image_files(paths))
    # A non-image file is skipped even when named; a hidden folder named explicitly is walked.
    assert found == [tree / "z.gif", hidden_root / "objects" / "x.jpg", tree / "b.jpg"]


def test_overlapping_roots_walk_each_folder_once(tree: Path) -> None:
    found = list(iter_image_files([tree / "sub", tree]))
    assert len(found) == len(set(found)) == 8


def test_missing_path_fails_before_anything_is_yielded(tree: Path) -> None:
    it = iter_image_files([tree, tree / "nope"])
    with pytest.raises(FileNotFoundError, match="nope"):
        next(it)


def _scan_reporting_errors(root: Path) -> tuple[list[str], list[str]]:
    """Scan ``root`` as an unprivileged user: root reads every folder, so under root the scan
    runs in a forked child that switches to ``nobody`` first."""

    def scan() -> tuple[list[str], list[str]]:
        errors: list[str] = []
        found = list(iter_image_files([root], on_error=lambda p, e: errors.append(str(p))))
        return rel(found, root), errors

    if os.geteuid() != 0:
        return scan()
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop root, scan, report through the pipe, exit at once
        status = 1
        try:
            os.close(read_end)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(write_end, json.dumps(scan()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged scan failed"
    found, errors = json.loads(report)
    return found, errors


def test_unreadable_folder_is_reported() -> None:
    # Outside tmp_path: its parents are private to the user who runs the tests.
    base = Path(tempfile.mkdtemp(prefix="visearch-scan-"))
    base.chmod(0o755)
    root = base / "photos"
    touch(root, "b.jpg", "sub/2.webp", "other/3.png")
    for folder in (root, root / "sub", root / "other"):
        folder.chmod(0o755)
    locked = root / "sub"
    locked.chmod(0)
    try:
        found, errors = _scan_reporting_errors(root)
    finally:
        locked.chmod(0o755)
        shutil.rmtree(base)
    assert errors == [str(locked)]
    assert found == ["b.jpg", "other/3.png"]


def test_is_image_name() -> None:
    assert is_image_name("a.JPG") and is_image_name(Path("x/y.tiff"))
    assert not is_image_name("a.jpg.txt") and not is_image_name("jpg")
