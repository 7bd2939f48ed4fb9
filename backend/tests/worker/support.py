"""Real Redis / RabbitMQ for tests: URLs of the shared servers started by scripts/services.sh,
and private redis-server processes that a test may stop and start at will."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis


def redis_url_or_skip() -> str:
    url = os.environ.get("VISEARCH_TEST_REDIS_URL")
    if not url:
        pytest.skip("VISEARCH_TEST_REDIS_URL is not set (scripts/services.sh start; env)")
    return url


def broker_url_or_skip() -> str:
    url = os.environ.get("VISEARCH_TEST_BROKER_URL")
    if not url:
        pytest.skip("VISEARCH_TEST_BROKER_URL is not set (scripts/services.sh start; env)")
    return url


def unique_prefix() -> str:
    """A Redis key prefix of its own, so tests never see each other's keys."""
    return f"vstest-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port_url(scheme: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: a stopped server, seen from a client."""
    port = free_port()
    return f"{scheme}://127.0.0.1:{port}/0" if scheme == "redis" else f"amqp://guest:guest@127.0.0.1:{port}//"


class RedisProcess:
    """A private redis-server on a free loopback port, for tests that take Redis away."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/services.sh start installs it)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


REPO = Path(__file__).resolve().parents[3]
_WORKER_CODE = (
    "from visearch.config import load_settings\n"
    "from visearch.logs import configure_logging\n"
    "from visearch.worker.tasks import run_worker\n"
    "s = load_settings()\n"
    "configure_logging(s.log_level, 'json')\n"
    "run_worker(s)\n"
)


class WorkerProcess:
    """A `visearch worker` process (``run_worker``) with its own environment and log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "backend"), **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import sys

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER_CODE], cwd=REPO,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgements."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
