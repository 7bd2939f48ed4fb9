"""Shared helpers for the job tests: real Redis / RabbitMQ (URLs of the servers that
scripts/redis_rabbitmq.sh starts, private redis-server processes a test may stop), `visearch
worker` and serving processes, and the two job runners behind one face for the contract suite
(tests/jobs/test_job_managers.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.server import REPO, free_port, wait_ready
from visearch.config import Settings, load_settings
from visearch.jobs.manager import JobManager, build_job_manager
from visearch.jobs.model import ACTIVE_STATES, JobView

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


class _ChildProcess:
    """A Python child process running ``code`` with its own environment and log file."""

    code = ""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "backend"), **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-c", self.code], cwd=REPO,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgements."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it does not exit in time."""
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


class WorkerProcess(_ChildProcess):
    """A `visearch worker` process (``run_worker``)."""

    code = (
        "from visearch.config import load_settings\n"
        "from visearch.logs import configure_logging\n"
        "from visearch.jobs.celery.tasks import run_worker\n"
        "s = load_settings()\n"
        "configure_logging(s.log_level, 'json')\n"
        "run_worker(s)\n"
    )


class ServerProcess(_ChildProcess):
    """The serving process (API + in-process job runner) on a free port."""

    code = (
        "import uvicorn\n"
        "from visearch.api.app import create_app\n"
        "from visearch.cache import build_cache\n"
        "from visearch.config import load_settings\n"
        "from visearch.logs import configure_logging\n"
        "from visearch.metrics import Metrics\n"
        "from visearch.runtime import Runtime\n"
        "s = load_settings()\n"
        "configure_logging(s.log_level, 'json')\n"
        "metrics = Metrics()\n"
        "runtime = Runtime.build(s, metrics=metrics, cache=build_cache(s, metrics.registry))\n"
        "app = create_app(s, runtime=runtime)\n"
        "uvicorn.run(app, host='127.0.0.1', port=s.port, log_config=None, access_log=False)\n"
        "runtime.close()\n"
    )

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__({**env, "VISEARCH_PORT": str(self.port)}, log_path)

    def start(self, timeout_s: float = 180) -> None:
        """Start, and wait until ``/ready`` answers 200."""
        super().start()
        assert self.proc is not None
        try:
            wait_ready(self.url, self.proc, timeout_s)
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            raise RuntimeError(f"{exc}:\n{self.log_tail()}") from exc


def image_b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


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


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str,
               worker: WorkerProcess | None = None) -> None:
    """Poll ``cond``; fail with the worker's log when it exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(0.05)
    log = f":\n{worker.log_tail()}" if worker is not None else ""
    raise AssertionError(f"timed out waiting for {what}{log}")


def wait_for_job(manager: JobManager, job_id: str, timeout_s: float = 300,
                 worker: WorkerProcess | None = None) -> JobView:
    """The job once it has left queued/running."""
    wait_until(lambda: manager.get(job_id).state not in ACTIVE_STATES, timeout_s,
               f"job {job_id} to finish", worker)
    return manager.get(job_id)


# -- Celery: the environment a worker and the submitting side share -------------------------


def make_celery_env(tmp_path: Path, model_dir: Path, roots: Sequence[Path]) -> dict[str, str]:
    """Settings for a `visearch worker` (and, through ``celery_settings``, for the submitting
    side) as environment: the test servers, a Redis prefix and queue of its own, a
    ``qdrant`` store in local mode that only the worker opens."""
    redis_url, broker_url = redis_url_or_skip(), broker_url_or_skip()
    prefix = unique_prefix()
    return {
        "VISEARCH_MODEL": str(model_dir),
        "VISEARCH_MODEL_FALLBACK": "",
        "VISEARCH_DEVICE": "cpu",
        "VISEARCH_DATA_DIR": str(tmp_path / "worker-data"),
        "VISEARCH_STORE": "qdrant",
        "VISEARCH_QDRANT_PATH": str(tmp_path / "qdrant"),
        "VISEARCH_REDIS_URL": redis_url,
        "VISEARCH_BROKER_URL": broker_url,
        "VISEARCH_REDIS_PREFIX": prefix,
        "VISEARCH_JOB_QUEUE": f"{prefix}.index",
        "VISEARCH_ALLOWED_ROOTS": json.dumps([str(r) for r in roots]),
        "VISEARCH_BATCH_SIZE": "32",
        "VISEARCH_JOB_BATCH_SIZE": "32",
        "VISEARCH_JOB_RETRY_BACKOFF_S": "0.2",
        "VISEARCH_LOG_LEVEL": "INFO",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }


def celery_settings(env: dict[str, str], **overrides: object) -> Settings:
    """The submitting side of ``env``: same broker, Redis, queue, roots and batch size; no
    store opened here."""
    values: dict[str, object] = {
        "redis_url": env["VISEARCH_REDIS_URL"], "broker_url": env["VISEARCH_BROKER_URL"],
        "redis_prefix": env["VISEARCH_REDIS_PREFIX"], "job_queue": env["VISEARCH_JOB_QUEUE"],
        "allowed_roots": json.loads(env["VISEARCH_ALLOWED_ROOTS"]),
        "job_batch_size": int(env["VISEARCH_JOB_BATCH_SIZE"]),
    }
    return load_settings(**{**values, **overrides})


def purge_celery_state(env: dict[str, str]) -> None:
    """Delete the Redis keys and the queues that ``env`` used."""
    from kombu import Connection

    from visearch.jobs.celery.app import dead_queue_name

    client = redis.Redis.from_url(env["VISEARCH_REDIS_URL"])
    keys = list(client.scan_iter(f"{env['VISEARCH_REDIS_PREFIX']}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    queue = env["VISEARCH_JOB_QUEUE"]
    with Connection(env["VISEARCH_BROKER_URL"]) as conn:
        channel = conn.channel()
        for name in (queue, dead_queue_name(queue)):
            channel.queue_delete(name)
        channel.close()


def qdrant_point_ids(qdrant_path: Path) -> list[str]:
    """Image ids of every point in the (single) collection at a local-mode path (open it only
    once no worker has it open)."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(qdrant_path))
    try:
        names = [c.name for c in client.get_collections().collections]
        assert len(names) == 1, names
        ids: list[str] = []
        offset = None
        while True:
            points, offset = client.scroll(names[0], limit=500, offset=offset,
                                           with_payload=["image_id"], with_vectors=False)
            ids.extend(str((p.payload or {})["image_id"]) for p in points)
            if offset is None:
                return ids
    finally:
        client.close()


def kill_mid_batch(manager: JobManager, job_id: str, worker: WorkerProcess, env: dict[str, str],
                   min_done: int) -> int:
    """``kill -9`` the worker while a batch of the job is in flight (items attempted, not yet
    recorded), after ``min_done`` items are done; tries again until a kill provably lands
    inside a batch. The number of items left in flight."""
    client = redis.Redis.from_url(env["VISEARCH_REDIS_URL"])
    attempted = f"{env['VISEARCH_REDIS_PREFIX']}:job:{job_id}:attempted"

    def in_flight() -> int:
        return int(client.scard(attempted)) - manager.get(job_id).processed

    try:
        for _ in range(5):
            wait_until(lambda: manager.get(job_id).done >= min_done and in_flight() > 0, 600,
                       f"{min_done} images done with a batch in flight", worker)
            worker.kill()
            after = manager.get(job_id)
            assert after.state == "running" and after.processed < after.total, after
            if (left := in_flight()) > 0:
                return left
            worker.start()
        raise AssertionError("no kill landed inside a batch")
    finally:
        client.close()


class ManagedRabbitMQ:
    """Stop and start the RabbitMQ that scripts/redis_rabbitmq.sh runs (the one the tests use;
    the script's knobs come from this process's environment)."""

    script = REPO / "scripts" / "redis_rabbitmq.sh"

    def _run(self, action: str) -> None:
        done = subprocess.run(["bash", str(self.script), action], capture_output=True,
                              text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis_rabbitmq.sh {action} failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        self._run("stop-rabbitmq")

    def start(self) -> None:
        self._run("start-rabbitmq")


# -- the contract suite's two runners, behind one face ------------------------------------


class JobRunner:
    """A job manager and whatever runs its batches, as the contract suite drives them."""

    name = ""
    manager: JobManager
    registry: Any  # the CollectorRegistry its job metrics are reported on
    worker: WorkerProcess | None = None

    def start_runner(self) -> None:
        """Start working on jobs (until then, submitted jobs wait, queued)."""
        raise NotImplementedError

    def reopen(self) -> None:
        """Close the manager and open a fresh one on the same state (a restart)."""
        raise NotImplementedError

    def indexed(self) -> int:
        """Points in the store (call last: the Celery side stops its worker to count)."""
        raise NotImplementedError

    def wait(self, job_id: str, timeout_s: float = 300) -> JobView:
        return wait_for_job(self.manager, job_id, timeout_s, self.worker)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.manager.stop()


class LocalRunner(JobRunner):
    """The in-process manager on a runtime: the runner is its own thread."""

    name = "local"

    def __init__(self, settings: Settings, runtime: Any, registry: Any) -> None:
        self.settings, self.runtime, self.registry = settings, runtime, registry
        self.manager = self._open()
        self._started = False

    def _open(self) -> JobManager:
        from visearch.jobs.local import LocalJobManager

        manager = build_job_manager(self.settings, self.runtime, registry=self.registry)
        assert isinstance(manager, LocalJobManager)
        return manager

    def start_runner(self) -> None:
        self.manager.start()
        self._started = True

    def reopen(self) -> None:
        self.manager.stop()
        self.manager = self._open()
        if self._started:
            self.manager.start()

    def indexed(self) -> int:
        return int(self.runtime.store.count())


class CeleryRunner(JobRunner):
    """The Celery manager on the test RabbitMQ and Redis; the runner is a `visearch worker`
    process."""

    name = "celery"

    def __init__(self, env: dict[str, str], registry: Any, log_path: Path) -> None:
        self.env, self.registry = env, registry
        self.settings = celery_settings(env)
        self.worker = WorkerProcess(env, log_path)
        self.manager = self._open()

    def _open(self) -> JobManager:
        from visearch.jobs.celery.manager import CeleryJobManager

        manager = build_job_manager(self.settings, registry=self.registry)
        assert isinstance(manager, CeleryJobManager)
        manager.start()  # the API side: metrics only, the worker does the work
        return manager

    def start_runner(self) -> None:
        assert self.worker is not None
        self.worker.start()

    def reopen(self) -> None:
        self.manager.stop()
        self.manager = self._open()

    def indexed(self) -> int:
        assert self.worker is not None
        self.worker.stop()
        return len(qdrant_point_ids(Path(self.env["VISEARCH_QDRANT_PATH"])))
