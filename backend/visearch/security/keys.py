"""API keys: a JSON file of hashed keys with scopes, written by ``visearch keys`` and read by
the server.

A key is ``vsk_`` plus 32 random bytes (URL-safe base64). With that much entropy one SHA-256
is a safe way to store it: there is nothing to guess, so no salt or slow hash is needed, and a
lookup is a dictionary access. The file holds hashes only; a key is shown once, when it is
made, and never logged. Revoked keys stay in the file (with ``revoked_at``) so that ``keys
list`` still names them.

Stdlib only: the ``keys`` commands stay light, and the server reads the file through
``KeyRing``, which notices edits (a revocation takes effect within a second, on every replica
that shares the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: ``search``: read (search, images, stats); ``index``: write (index, delete, jobs);
#: ``admin``: metrics. A key holds any of them; none implies another.
SCOPES = ("search", "index", "admin")
KEY_PREFIX = "vsk_"
_FORMAT = 1


class KeyFileError(ValueError):
    """The keys file cannot be read or does not hold what a keys file holds."""


@dataclass(frozen=True)
class ApiKey:
    """One entry of the keys file (never the key itself)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def parse(cls, raw: object) -> ApiKey:
        if not isinstance(raw, dict):
            raise KeyFileError("each key must be a JSON object")
        try:
            key = cls(id=str(raw["id"]), name=str(raw.get("name", "")),
                      scopes=tuple(str(s) for s in raw["scopes"]), sha256=str(raw["sha256"]),
                      created_at=str(raw.get("created_at", "")), revoked_at=raw.get("revoked_at"))
        except (KeyError, TypeError) as exc:
            raise KeyFileError(f"a key entry lacks {exc}") from None
        unknown = set(key.scopes) - set(SCOPES)
        if unknown or not key.scopes:
            raise KeyFileError(f"key {key.id}: scopes must be some of {', '.join(SCOPES)}")
        return key


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes in a stable order, or ``KeyFileError`` naming the unknown one."""
    given = list(dict.fromkeys(scopes))
    for scope in given:
        if scope not in SCOPES:
            raise KeyFileError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
    if not given:
        raise KeyFileError(f"give at least one scope ({', '.join(SCOPES)})")
    return tuple(s for s in SCOPES if s in given)


def read_keys(path: Path) -> list[ApiKey]:
    """Every entry of the keys file at ``path`` (``KeyFileError`` if missing or malformed)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"keys file {path} does not exist; make one with `visearch keys "
                           f"create --file {path} --scope search`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"cannot read keys file {path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
        raise KeyFileError(f"keys file {path} is not a visearch keys file")
    keys = [ApiKey.parse(k) for k in raw["keys"]]
    if len({k.id for k in keys}) != len(keys):
        raise KeyFileError(f"keys file {path} names one key id twice")
    return keys


class KeyFile:
    """Changes to a keys file: each one under an exclusive lock, written atomically (mode 600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self, new_ok: bool) -> Iterator[list[ApiKey]]:
        """The keys, to change in place; written back when the block ends without error."""
        if not new_ok:
            read_keys(self.path)  # "does not exist" before any lock file is made
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            keys = read_keys(self.path) if self.path.exists() else []
            yield keys
            self._write(keys)

    def _write(self, keys: list[ApiKey]) -> None:
        body = json.dumps({"format": _FORMAT, "keys": [asdict(k) for k in keys]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create(self, scopes: Iterable[str], name: str = "") -> tuple[ApiKey, str]:
        """A new key: its entry, and the key itself (to show once)."""
        ordered = check_scopes(scopes)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._locked(new_ok=True) as keys:
            taken = {k.id for k in keys}
            key_id = secrets.token_hex(4)
            while key_id in taken:
                key_id = secrets.token_hex(4)
            entry = ApiKey(id=key_id, name=name, scopes=ordered, sha256=hash_key(secret),
                           created_at=_now())
            keys.append(entry)
        return entry, secret

    def revoke(self, ref: str) -> ApiKey:
        """Revoke the key with this id (or the one key with this name)."""
        with self._locked(new_ok=False) as keys:
            matches = [i for i, k in enumerate(keys) if k.id == ref] or [
                i for i, k in enumerate(keys) if k.name == ref and ref]
            if len(matches) != 1:
                what = "no key" if not matches else f"{len(matches)} keys"
                raise KeyFileError(f"{what} with id or name {ref!r} in {self.path}")
            old = keys[matches[0]]
            revoked = ApiKey(**{**asdict(old), "revoked_at": old.revoked_at or _now()})
            keys[matches[0]] = revoked
        return revoked

    def list(self) -> list[ApiKey]:
        return read_keys(self.path)


class KeyRing:
    """The server's view of the keys file: active keys by hash, reread when the file changes
    (looked at no more than once a second). A file that turns unreadable keeps the last good
    keys, so a half-written edit never locks everyone out."""

    def __init__(self, path: Path, recheck_s: float = 1.0) -> None:
        self.path = path
        self._recheck_s = recheck_s
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self.last_error: str | None = None
        self._by_hash: dict[str, ApiKey] = {}
        self._load(force=True)

    def _load(self, force: bool = False) -> None:
        """Read the file (``KeyFileError`` when ``force``d, else keep the last good keys)."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if not force and stamp == self._stamp:
                return
            keys = read_keys(self.path)
        except OSError as exc:
            if force:
                keys = read_keys(self.path)  # raises with the clearer message
            self.last_error = str(exc)
            return
        except KeyFileError as exc:
            if force:
                raise
            self.last_error = str(exc)
            return
        self._by_hash = {k.sha256: k for k in keys if k.active}
        self._stamp = stamp
        self.last_error = None

    def lookup(self, key: str) -> ApiKey | None:
        """The active entry for a presented key, or None."""
        now = time.monotonic()
        if now - self._checked >= self._recheck_s:
            with self._lock:
                if now - self._checked >= self._recheck_s:
                    self._checked = now
                    self._load()
        return self._by_hash.get(hash_key(key))

    def describe(self) -> dict[str, Any]:
        return {"active_keys": len(self._by_hash)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
