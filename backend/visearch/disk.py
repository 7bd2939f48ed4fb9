"""The data dir's disk: free space before writes, and disk faults as clear errors.

A full or read-only data dir is an operating condition, not a bug: writes answer 507
``storage_full`` or 503 ``storage_read_only`` (and ``/ready`` says so) until space is freed
or the mount is writable again; nothing needs a restart. The free-space check before every
write is not only for a clearer message: the embedded store writes through memory-mapped
files, and a page that cannot be allocated on a full disk kills the process (SIGBUS)
instead of raising an error. Writes are refused while less than the reserve
(``VISEARCH_MIN_FREE_DISK_MB``) is free, which keeps them well away from that edge.

Free of third-party imports: the stores, the image files and the indexer all use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from visearch.errors import VisearchError

_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_TEXT = ("No space left on device", "os error 28", "Disk quota exceeded", "os error 122")
_READ_ONLY_TEXT = ("Read-only file system", "os error 30", "Permission denied", "os error 13",
                   "Operation not permitted", "os error 1)")


class StorageFullError(VisearchError, code="storage_full", status=507):
    """The data dir has no room for the write (or less than the configured reserve)."""


class StorageReadOnlyError(VisearchError, code="storage_read_only", status=503):
    """The data dir cannot be written (read-only mount, permissions)."""


def free_bytes(path: Path) -> int:
    """Bytes available to this process on the file system holding ``path`` (or its nearest
    existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def ensure_free(path: Path, reserve: int, what: str = "the data dir") -> None:
    """Raise ``StorageFullError`` unless more than ``reserve`` bytes are free at ``path``."""
    if reserve <= 0:
        return
    free = free_bytes(path)
    if free <= reserve:
        raise StorageFullError(
            f"{what} is full: {free // 2**20} MB free, writes need more than "
            f"{reserve // 2**20} MB (VISEARCH_MIN_FREE_DISK_MB); free some space - "
            "no restart is needed"
        )


def writable(path: Path) -> bool:
    """True when a file can be created (and removed) in ``path`` right now."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path, prefix=".probe-")
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def as_storage_error(exc: BaseException, what: str) -> VisearchError | None:
    """The disk fault behind ``exc`` (an ``OSError``, or a library error that quotes one) as
    a clear error, or None when it is not one."""
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    if code in _FULL or any(t in text for t in _FULL_TEXT):
        return StorageFullError(
            f"{what}: the disk is full; free some space - no restart is needed"
        )
    if code in _READ_ONLY or (code is None and any(t in text for t in _READ_ONLY_TEXT)):
        return StorageReadOnlyError(
            f"{what}: the data dir is not writable (read-only or no permission); writes "
            "work again once it is - no restart is needed"
        )
    return None


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (its directory entry on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
