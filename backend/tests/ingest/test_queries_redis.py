"""Query images in a real (private) Redis: what one replica stores, another reads; the same
image keeps its id; keys expire; a Redis that is gone is a clear 503."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import RedisProcess, closed_port_url
from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.ingest.queries import QueryImages
from visearch.ingest.queries_redis import QueryStoreUnavailableError, RedisQueryImages


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    yield server.url
    server.stop()


def test_replicas_share_query_images_through_redis(redis_url: str, tmp_path: Path) -> None:
    settings = [Settings(redis_url=redis_url, data_dir=tmp_path / f"replica-{i}",
                         _env_file=None) for i in (1, 2)]  # type: ignore[call-arg]
    one, two = (QueryImages.from_settings(s) for s in settings)
    assert isinstance(one, RedisQueryImages) and isinstance(two, RedisQueryImages)
    query_id, expires = one.put(b"\x89PNG some image")
    assert expires == pytest.approx(time.time() + one.ttl_s, abs=5)
    found = two.get(query_id)
    assert found is not None and found[0] == b"\x89PNG some image"
    assert found[1] == pytest.approx(expires, abs=5)
    assert two.put(b"\x89PNG some image")[0] == query_id  # the same image, the same id
    assert two.get("0" * 32) is None and two.get("../x") is None
    assert not (tmp_path / "replica-1" / "queries").exists()  # nothing in the data dirs


def test_keys_expire_and_big_images_are_refused(redis_url: str) -> None:
    store = RedisQueryImages(redis_url, prefix="t", ttl_s=1.0, max_bytes=100)
    query_id, _ = store.put(b"x" * 100)
    assert store.get(query_id) is not None
    time.sleep(1.5)
    assert store.get(query_id) is None
    with pytest.raises(VisearchError) as too_big:
        store.put(b"x" * 101)
    assert (too_big.value.status, too_big.value.code) == (413, "too_large")


def test_without_redis_the_data_dir_is_used_and_a_lost_redis_is_a_503(tmp_path: Path) -> None:
    local = QueryImages.from_settings(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    assert type(local) is QueryImages and local.root == tmp_path / "queries"
    gone = RedisQueryImages(closed_port_url("redis"), timeout_s=1)
    for call in (lambda: gone.put(b"img"), lambda: gone.get("a" * 32)):
        with pytest.raises(QueryStoreUnavailableError) as err:
            call()
        assert err.value.status == 503 and "Redis" in err.value.message
