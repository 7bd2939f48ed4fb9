"""The pieces under the API's access control: the keys file and its reader, exposure rules,
and budgets shared through a real Redis (and kept per replica while Redis is down)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.jobs import RedisProcess, closed_port_url
from visearch.config import ConfigError, Settings
from visearch.security.exposure import check_bind, host_allowed, host_patterns, is_loopback
from visearch.security.keys import KeyFile, KeyFileError, KeyRing, read_keys
from visearch.security.ratelimit import Budgets


def test_key_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    kf = KeyFile(path)
    entry, key = kf.create(["index", "search", "index"], "ci")
    assert entry.scopes == ("search", "index") and entry.name == "ci"
    assert read_keys(path) == [entry]
    ring = KeyRing(path, recheck_s=0)
    assert ring.lookup(key) == entry and ring.lookup(key + "x") is None
    kf.revoke(entry.id)
    assert ring.lookup(key) is None and not read_keys(path)[0].active
    with pytest.raises(KeyFileError, match="no key"):
        kf.revoke("nobody")


def test_a_broken_edit_keeps_the_last_good_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, key = KeyFile(path).create(["search"])
    ring = KeyRing(path, recheck_s=0)
    path.write_text("{ half written")
    assert ring.lookup(key) is not None and "cannot read" in (ring.last_error or "")
    path.write_text(json.dumps({"keys": [{"id": "x", "scopes": ["root"], "sha256": "0"}]}))
    assert ring.lookup(key) is not None and "scopes must be" in (ring.last_error or "")


@pytest.mark.parametrize("text", ["[]", '{"keys": [{"id": "a"}]}', '{"keys": "all"}'])
def test_malformed_files_are_refused_at_start(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(KeyFileError):
        KeyRing(path)


def test_loopback_and_binding() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))
    check_bind(Settings(host="127.0.0.1"))
    check_bind(Settings(host="0.0.0.0", allow_unauthenticated=True))
    with pytest.raises(ConfigError, match=r"refusing to serve '10\.0\.0\.5'"):
        check_bind(Settings(host="10.0.0.5"))


def test_host_patterns() -> None:
    local = host_patterns(Settings(host="127.0.0.1", allowed_hosts=[]))
    assert host_allowed("localhost:8000", local) and host_allowed("[::1]:8000", local)
    assert not host_allowed("attacker.example", local)
    assert not host_allowed("127.0.0.1.attacker.example", local)
    named = host_patterns(Settings(host="0.0.0.0", allowed_hosts=["*.example.com"]))
    assert host_allowed("search.example.com", named) and not host_allowed("example.org", named)
    assert host_patterns(Settings(host="0.0.0.0", allowed_hosts=[])) == ("*",)
    lan = host_patterns(Settings(host="192.168.1.2", allowed_hosts=[]))
    assert host_allowed("192.168.1.2:8000", lan) and not host_allowed("10.1.1.1", lan)


async def _spend(budgets: Budgets, n: int, client: str = "key:a") -> list[float | None]:
    return [await budgets.charge("search", client) for _ in range(n)]


def test_budgets_are_shared_through_redis(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis")
    redis.start()
    try:
        settings = Settings(redis_url=redis.url, rate_limit_search="4/minute",
                            redis_prefix="vstest-budgets")

        async def run() -> None:
            replica_a, replica_b = Budgets(settings), Budgets(settings)
            assert await _spend(replica_a, 3) == [None] * 3
            waits = await _spend(replica_b, 2)  # the other replica sees the same window
            assert waits[0] is None and waits[1] is not None and 1 <= waits[1] <= 60
            assert await _spend(replica_b, 1, client="key:b") == [None]

        asyncio.run(run())
    finally:
        redis.stop()


def test_budgets_hold_per_replica_while_redis_is_down() -> None:
    settings = Settings(redis_url=closed_port_url("redis"), rate_limit_search="2/minute",
                        redis_timeout_s=0.2)
    waits = asyncio.run(_spend(Budgets(settings), 3))
    assert waits[:2] == [None, None] and waits[2] is not None
