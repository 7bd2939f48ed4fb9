"""scripts/redis_rabbitmq.sh starts instances of its own and stops only those: a Redis that
was already listening is never reused (nor shut down), and an epmd that belongs to someone
else survives the RabbitMQ stop."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.jobs import RedisProcess
from tests.support.server import REPO, free_port

SCRIPT = REPO / "scripts" / "redis_rabbitmq.sh"


def _script(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), action], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=240, check=False)


def _pings(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
def foreign_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """Someone else's Redis on this machine."""
    server = RedisProcess(tmp_path / "foreign-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def foreign_epmd() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Someone else's epmd (an Erlang application's), named by ERL_EPMD_PORT."""
    if shutil.which("epmd") is None or not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        pytest.skip("RabbitMQ is not installed (scripts/redis_rabbitmq.sh start installs it)")
    port = free_port()
    proc = subprocess.Popen(["epmd", "-port", str(port), "-address", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while subprocess.run(["epmd", "-port", str(port), "-names"], capture_output=True,
                         check=False).returncode != 0:
        assert time.monotonic() < deadline, "the foreign epmd did not start"
        time.sleep(0.1)
    yield proc, port
    proc.kill()
    proc.wait(timeout=10)


def test_a_redis_already_listening_is_not_reused_or_stopped(
        tmp_path: Path, foreign_redis: RedisProcess) -> None:
    """Found 8: `start` used to adopt a Redis that answered on its port, and `stop` then sent
    it SHUTDOWN NOSAVE."""
    # ERL_EPMD_PORT: a port nobody uses, so that even a script that runs `epmd -kill` (the
    # old one did) cannot reach the machine's epmd from this test.
    env = {"VISEARCH_SERVICES_DIR": str(tmp_path / "state"), "ERL_EPMD_PORT": str(free_port()),
           "VISEARCH_REDIS_PORT": str(foreign_redis.port), "VISEARCH_AMQP_PORT": str(free_port())}
    try:
        started = _script("start", env)
        assert started.returncode != 0, "start adopted a Redis it did not start"
        assert f"port {foreign_redis.port} on 127.0.0.1 is in use" in started.stderr
    finally:
        _script("stop", env)
    assert _pings(foreign_redis.url)


def test_stop_leaves_other_servers_and_epmd_alone(
        tmp_path: Path, foreign_redis: RedisProcess,
        foreign_epmd: tuple[subprocess.Popen[bytes], int]) -> None:
    """Found 8: stopping RabbitMQ ran `epmd -kill` (the machine's epmd, or whichever
    ERL_EPMD_PORT named). Now RabbitMQ runs with an epmd of its own, and only the recorded
    pids are stopped."""
    epmd, epmd_port = foreign_epmd
    state = tmp_path / "state"
    env = {"VISEARCH_SERVICES_DIR": str(state), "ERL_EPMD_PORT": str(epmd_port),
           "VISEARCH_REDIS_PORT": str(free_port()), "VISEARCH_AMQP_PORT": str(free_port())}
    try:
        started = _script("start", env)
        assert started.returncode == 0, started.stderr
        urls = dict(line.removeprefix("export ").split("=", 1)
                    for line in _script("test-env", env).stdout.splitlines())
        assert _pings(urls["VISEARCH_TEST_REDIS_URL"])
        assert _script("stop-rabbitmq", env).returncode == 0
        assert _script("start-rabbitmq", env).returncode == 0  # same ports again
    finally:
        stopped = _script("stop", env)
    assert stopped.returncode == 0, stopped.stderr
    assert not _pings(urls["VISEARCH_TEST_REDIS_URL"])  # ours is gone
    assert _pings(foreign_redis.url)  # theirs is not
    assert epmd.poll() is None, "the foreign epmd was killed"
    names = subprocess.run(["epmd", "-port", str(epmd_port), "-names"], capture_output=True,
                           text=True, check=False)
    assert names.returncode == 0 and "visearch" not in names.stdout
