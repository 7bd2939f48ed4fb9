"""Real Redis / RabbitMQ for tests: URLs of the shared servers started by scripts/redis_rabbitmq.sh,
and private redis-server processes that a test may stop and start at will."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

_HOW = '(scripts/redis_rabbitmq.sh start && eval "$(scripts/redis_rabbitmq.sh test-env)")'


def redis_url_or_skip() -> str:
    url = os.environ.get("VISEARCH_TEST_REDIS_URL")
    if not url:
        pytest.skip(f"VISEARCH_TEST_REDIS_URL is not set {_HOW}")
    return url


def broker_url_or_skip() -> str:
    url = os.environ.get("VISEARCH_TEST_BROKER_URL")
    if not url:
        pytest.skip(f"VISEARCH_TEST_BROKER_URL is not set {_HOW}")
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
            pytest.skip("redis-server is not installed (scripts/redis_rabbitmq.sh start installs it)")
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
    "from visearch.jobs.celery.tasks import run_worker\n"
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


def image_b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


class JobsApp:
    """The service app (``create_app``) with its job manager running, as a TestClient.

    ``create_app`` includes the jobs router and starts ``build_job_manager`` in its lifespan;
    while that wiring is not in place yet, this helper adds both itself.
    """

    def __init__(self, runtime: object) -> None:
        from fastapi.testclient import TestClient

        from visearch.api.app import create_app

        self.runtime = runtime
        self.app = create_app(runtime=runtime)  # type: ignore[arg-type]
        self.client = TestClient(self.app)
        self._stop: Any = None

    def __enter__(self) -> object:
        self.client.__enter__()
        if getattr(self.app.state, "jobs", None) is None:
            self._stop = wire_jobs(self.app, self.runtime)
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop()
            self.app.state.jobs = None
        self.client.__exit__(*exc)


class TestImageServer:
    """A local HTTP server for URL jobs: an image, an HTML page, a 50 MB body, a slow answer,
    and redirects. Runs on 127.0.0.1 in daemon threads."""

    __test__ = False  # not a test class

    def __init__(self, image: bytes, big_bytes: int = 50 * 1024 * 1024, slow_s: float = 5.0):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                try:
                    if parts.path.endswith(".jpg"):
                        self._send(200, "image/jpeg", image)
                    elif parts.path == "/page.html":
                        self._send(200, "text/html; charset=utf-8",
                                   b"<html><body>not an image</body></html>")
                    elif parts.path == "/big":
                        self.send_response(200)
                        self.send_header("Content-Type", "image/jpeg")
                        self.end_headers()  # no length: the client must count
                        chunk = b"\xff" * 65536
                        for _ in range(big_bytes // len(chunk)):
                            self.wfile.write(chunk)
                    elif parts.path == "/slow":
                        time.sleep(slow_s)
                        self._send(200, "image/jpeg", image)
                    elif parts.path == "/redirect":
                        self.send_response(302)
                        self.send_header("Location", parse_qs(parts.query)["to"][0])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self._send(404, "text/plain", b"not found")
                except (BrokenPipeError, ConnectionResetError):
                    outer.aborted += 1

        self.aborted = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TestImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_SERVER_CODE = (
    "import uvicorn\n"
    "from visearch.api.app import create_app\n"
    "from visearch.cache import build_cache\n"
    "from visearch.config import load_settings\n"
    "from visearch.logs import configure_logging\n"
    "from visearch.metrics import Metrics\n"
    "from visearch.runtime import Runtime\n"
    "from tests.support.jobs import wire_jobs\n"
    "s = load_settings()\n"
    "configure_logging(s.log_level, 'json')\n"
    "metrics = Metrics()\n"
    "svc = Runtime.build(s, metrics=metrics, cache=build_cache(s, metrics.registry))\n"
    "app = create_app(s, runtime=svc)\n"
    "stop = wire_jobs(app, svc)\n"
    "uvicorn.run(app, host='127.0.0.1', port=s.port, log_config=None, access_log=False)\n"
    "stop()\n"
    "svc.close()\n"
)


def wire_jobs(app: Any, runtime: Any) -> Any:
    """Add the jobs router and a started manager to an app that ``create_app`` built without
    them (a no-op once create_app wires jobs itself); returns the function that stops it."""
    from starlette.routing import Mount

    from visearch.api.app import API_PREFIX
    from visearch.api.routers import jobs as jobs_router
    from visearch.jobs.manager import build_job_manager

    if any(getattr(r, "path", "") == f"{API_PREFIX}/jobs" for r in app.routes):
        return lambda: None
    app.include_router(jobs_router.router, prefix=API_PREFIX)
    routes = app.router.routes
    routes[:] = [r for r in routes if not isinstance(r, Mount)] + [
        r for r in routes if isinstance(r, Mount)]
    manager = build_job_manager(runtime.settings, runtime,
                                registry=runtime.metrics.registry)
    manager.start()
    app.state.jobs = manager
    return manager.stop


class ServerProcess:
    """The serving process (API + in-process job runner) on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": f"{REPO / 'backend'}", **env,
                    "VISEARCH_PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 180) -> None:
        import sys

        import httpx

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER_CODE], cwd=REPO,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"server did not become ready:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class ManagedRabbitMQ:
    """Stop and start the RabbitMQ that scripts/redis_rabbitmq.sh runs (the one the tests use)."""

    script = REPO / "scripts" / "services.sh"

    def _run(self, action: str) -> None:
        done = subprocess.run(["bash", str(self.script), action], capture_output=True,
                              text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis_rabbitmq.sh {action} failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        self._run("stop-rabbitmq")

    def start(self) -> None:
        self._run("start-rabbitmq")
