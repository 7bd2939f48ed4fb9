"""The scaled visearch stack as real processes on one machine (behind scripts/stack.sh).

    harness.py up [--replicas 3] [--workers 2] [--port 8080] [--data-dir DIR] [--index PATH]...
    harness.py status [--json]
    harness.py down
    harness.py replica start|stop|kill NAME     # stop: SIGTERM (it drains); kill: kill -9
    harness.py install                          # apt-get what is missing

Everything runs on 127.0.0.1: Redis, RabbitMQ (only with workers), N `visearch serve`
replicas, HAProxy in front of them, Celery workers (`visearch worker`), the Redis exporter
when it is installed, and Prometheus. Every process gets free ports (the balancer excepted:
--port), its log and its pid in the run folder (--data-dir), and `down` stops exactly the
processes this run started (pid plus start time, never by name).

Store: with VISEARCH_QDRANT_URL set, replicas and workers share that Qdrant. Without it the
harness builds one embedded (edge) index (`visearch index` of the --index paths) and gives
every replica its own read-only copy (VISEARCH_READ_ONLY=1); no workers run then (see
docs/scaling.md, "Shared store").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import render_haproxy
import render_prometheus
from templating import REPO

DEFAULT_RUN_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "visearch-stack"
STATE = "state.json"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
# binary -> Debian package
PACKAGES = {
    "redis-server": "redis-server",
    "haproxy": "haproxy",
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    str(RABBIT_BIN / "rabbitmq-server"): "rabbitmq-server",
}
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class StackError(RuntimeError):
    """Something the user must fix; the message says what."""


def say(msg: str) -> None:
    print(f"stack: {msg}", file=sys.stderr, flush=True)


# -- processes -------------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot), None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is gone for our purposes
        return None
    return int(fields[19])


@dataclass
class Proc:
    """A process this run started: found again by pid and start time, never by name."""

    name: str
    cmd: list[str]
    log: str
    pid: int = 0
    ticks: int = 0
    port: int | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.pid > 0 and _start_ticks(self.pid) == self.ticks

    def start(self, env: dict[str, str], cwd: Path = REPO) -> None:
        Path(self.log).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                self.cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid = proc.pid
        self.ticks = _start_ticks(proc.pid) or 0

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)  # its own session: the process and its children

    def stop(self, timeout_s: float = 30.0, sig: int | None = None) -> None:
        """``sig`` (SIGTERM by default), then SIGKILL after ``timeout_s``."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM if sig is None else sig)
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive():
            say(f"{self.name} did not stop within {timeout_s:.0f}s: SIGKILL")
            self.signal(signal.SIGKILL)
            while self.alive() and time.monotonic() < deadline + 10:
                time.sleep(0.1)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, proc: Proc | None = None) -> None:
    """Poll ``check`` until it is true; fail early when ``proc`` dies, late at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise StackError(f"{what}: the process exited (log {proc.log}):\n{proc.log_tail()}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.25)
    tail = f" (log {proc.log}):\n{proc.log_tail()}" if proc else ""
    raise StackError(f"{what}: not ready after {timeout_s:.0f}s{tail}")


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=HTTP_TIMEOUT).status_code == 200


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held together while picking, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int) -> bool:
    """Nobody listens there (a closed connection in TIME_WAIT does not count: HAProxy binds
    with SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- state -----------------------------------------------------------------------------------


@dataclass
class Stack:
    run_dir: str
    mode: str  # edge | qdrant
    balancer_port: int
    balance: str
    services: list[Proc] = field(default_factory=list)  # redis, rabbitmq, exporter, prometheus
    haproxy: Proc | None = None
    replicas: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # VISEARCH_* every replica/worker gets
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / STATE

    def all_procs(self) -> list[Proc]:
        """Start order; stopped in reverse."""
        head = [p for p in self.services if p.name != "prometheus"]
        tail = [p for p in self.services if p.name == "prometheus"]
        return [*head, *self.replicas, *([self.haproxy] if self.haproxy else []), *self.workers, *tail]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.chmod(0o600)  # holds the VISEARCH_* environment
        tmp.replace(self.path)

    @classmethod
    def load(cls, run_dir: Path) -> Stack | None:
        try:
            raw = json.loads((run_dir / STATE).read_text())
        except FileNotFoundError:
            return None
        for group in ("services", "replicas", "workers"):
            raw[group] = [Proc(**p) for p in raw[group]]
        raw["haproxy"] = Proc(**raw["haproxy"]) if raw.get("haproxy") else None
        return cls(**raw)

    def replica(self, name: str) -> Proc:
        for r in self.replicas:
            if r.name == name:
                return r
        raise StackError(f"no replica {name!r}; replicas: {', '.join(r.name for r in self.replicas)}")

    def status(self) -> dict[str, Any]:
        def row(p: Proc) -> dict[str, Any]:
            return {"name": p.name, "url": p.url, "pid": p.pid, "alive": p.alive(), "log": p.log}

        return {
            "run_dir": self.run_dir,
            "mode": self.mode,
            "balance": self.balance,
            **self.urls,
            "replicas": [row(r) for r in self.replicas],
            "workers": [row(w) for w in self.workers],
            "haproxy": row(self.haproxy) if self.haproxy else None,
            "services": [row(s) for s in self.services],
        }


# -- the parts -------------------------------------------------------------------------------


def visearch_bin() -> str:
    candidate = Path(sys.executable).parent / "visearch"
    if not candidate.exists():
        raise StackError(f"{candidate} not found: run scripts/setup.sh first")
    return str(candidate)


def visearch_env() -> dict[str, str]:
    """The caller's VISEARCH_* settings: they reach every replica and worker."""
    return {k: v for k, v in os.environ.items() if k.startswith("VISEARCH_")}


def process_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISEARCH_")}
    env.update({"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def start_redis(stack: Stack, run: Path, timeout_s: float) -> str:
    import redis

    (port,) = free_ports(1)
    d = run / "redis"
    d.mkdir(parents=True, exist_ok=True)
    p = Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                       "--protected-mode", "yes", "--dir", str(d), "--save", "",
                       "--appendonly", "no", "--daemonize", "no"],
             str(run / "logs" / "redis.log"), port=port, url=f"redis://127.0.0.1:{port}/0")
    p.start(process_env({}))
    stack.services.append(p)
    stack.save()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    wait_until("redis", lambda: bool(client.ping()), timeout_s, p)
    say(f"redis ready on 127.0.0.1:{port}")
    assert p.url
    return p.url


def _rabbit_env(run: Path, amqp: int, dist: int, epmd: int) -> dict[str, str]:
    base = run / "rabbitmq"
    return {
        "RABBITMQ_NODENAME": f"visearch-stack-{amqp}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd),  # our own epmd: never touch anyone else's
        "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
        "HOME": str(base / "home"),
    }


def start_rabbitmq(stack: Stack, run: Path, timeout_s: float) -> str:
    amqp, dist, epmd = free_ports(3)
    env = _rabbit_env(run, amqp, dist, epmd)
    base = run / "rabbitmq"
    for sub in ("mnesia", "log", "home"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{amqp}\nloopback_users.guest = true\n"
    )
    (base / "enabled_plugins").write_text("[].\n")
    (base / "advanced.config").write_text("[].\n")
    p = Proc("rabbitmq", [str(RABBIT_BIN / "rabbitmq-server")], str(run / "logs" / "rabbitmq.log"),
             port=amqp, url=f"amqp://guest:guest@127.0.0.1:{amqp}//", extra={"env": env})
    p.start(process_env(env), cwd=base)
    stack.services.append(p)
    stack.save()

    def started() -> bool:
        ctl = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-q", "await_startup", "--timeout", "5"],
            env=process_env(env), capture_output=True, timeout=30, check=False,
        )
        return ctl.returncode == 0

    wait_until("rabbitmq", started, timeout_s, p)
    say(f"rabbitmq ready on 127.0.0.1:{amqp}")
    assert p.url
    return p.url


def stop_rabbitmq(p: Proc) -> None:
    env = process_env(p.extra.get("env", {}))
    if p.alive():
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-q", "stop"], env=env,
                           capture_output=True, timeout=60, check=False)
    p.stop()
    # The epmd our node started on its private port (ERL_EPMD_PORT): nobody else uses it.
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["epmd", "-kill"], env=env, capture_output=True, timeout=10, check=False)


def build_seed(run: Path, paths: list[Path], seed_data: Path | None, timeout_s: float) -> Path | None:
    """The edge index every replica gets a copy of: indexed here, copied in, or reused."""
    seed = run / "seed"
    if seed_data is not None:
        if seed.exists():
            shutil.rmtree(seed)
        shutil.copytree(seed_data, seed, symlinks=True)
        say(f"seed index copied from {seed_data}")
        return seed
    if paths:
        log = run / "logs" / "seed-index.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        say(f"indexing {' '.join(map(str, paths))} into the seed index (log {log})")
        env = process_env({**visearch_env(), "VISEARCH_DATA_DIR": str(seed), "VISEARCH_STORE": "edge"})
        with log.open("ab") as out:
            done = subprocess.run([visearch_bin(), "index", *map(str, paths), "--json"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
                                  check=False, cwd=REPO)
        if done.returncode not in (0, 2):  # 2: some files failed, the rest is indexed
            raise StackError(f"indexing the seed failed (exit {done.returncode}); see {log}")
        return seed
    if seed.exists():
        say("reusing the seed index of the previous run")
        return seed
    say("no --index paths: replicas start with an empty index")
    return None


def start_replicas(stack: Stack, run: Path, n: int, base_env: dict[str, str], seed: Path | None,
                   timeout_s: float) -> None:
    ports = free_ports(n)
    for i, port in enumerate(ports, 1):
        name = f"api-{i}"
        env = dict(base_env)
        if stack.mode == "edge":
            data = run / "replicas" / name
            if data.exists():
                shutil.rmtree(data)
            if seed is not None:
                shutil.copytree(seed, data, symlinks=True)
            env["VISEARCH_DATA_DIR"] = str(data)
            env["VISEARCH_READ_ONLY"] = "1"  # a copy: writes answer 503 read_only
        env.update({"VISEARCH_HOST": "127.0.0.1", "VISEARCH_PORT": str(port)})
        p = Proc(name, [visearch_bin(), "serve"], str(run / "logs" / f"{name}.log"), port=port,
                 url=f"http://127.0.0.1:{port}", extra={"env": env})
        p.start(process_env(env))
        stack.replicas.append(p)
    stack.save()
    for p in stack.replicas:
        wait_until(p.name, http_ok(f"{p.url}/api/v1/ready"), timeout_s, p)
        say(f"{p.name} ready at {p.url} (pid {p.pid})")


def start_replica(stack: Stack, p: Proc, timeout_s: float) -> None:
    if p.alive():
        raise StackError(f"{p.name} is already running (pid {p.pid})")
    p.start(process_env(p.extra["env"]))
    stack.save()
    wait_until(p.name, http_ok(f"{p.url}/api/v1/ready"), timeout_s, p)
    say(f"{p.name} ready at {p.url} (pid {p.pid})")


def haproxy_active_servers(metrics_url: str) -> int:
    for line in httpx.get(metrics_url, timeout=HTTP_TIMEOUT).text.splitlines():
        if line.startswith('haproxy_backend_active_servers{proxy="be_api"}'):
            return int(float(line.split()[-1]))
    return 0


def start_haproxy(stack: Stack, run: Path, timeout_s: float) -> None:
    (stats_port,) = free_ports(1)
    d = run / "haproxy"
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "haproxy.cfg"
    cfg.write_text(render_haproxy.render_config(
        [f"127.0.0.1:{r.port}" for r in stack.replicas],
        bind=f"127.0.0.1:{stack.balancer_port}", stats_bind=f"127.0.0.1:{stats_port}",
        balance=stack.balance, admin_socket=str(d / "admin.sock"),
        settings=render_haproxy.api_settings(),  # the replicas' VISEARCH_* environment
    ))
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        raise StackError(f"haproxy -c rejected {cfg}:\n{check.stdout}{check.stderr}")
    p = Proc("haproxy", ["haproxy", "-db", "-f", str(cfg)], str(run / "logs" / "haproxy.log"),
             port=stack.balancer_port, url=f"http://127.0.0.1:{stack.balancer_port}",
             extra={"stats_port": stats_port, "config": str(cfg)})
    p.start(process_env({}))
    stack.haproxy = p
    stack.urls.update({
        "balancer_url": p.url or "",
        "haproxy_stats_url": f"http://127.0.0.1:{stats_port}/stats",
        "haproxy_metrics_url": f"http://127.0.0.1:{stats_port}/metrics",
    })
    stack.save()
    metrics = stack.urls["haproxy_metrics_url"]
    want = len(stack.replicas)
    wait_until(f"haproxy with {want} replicas up", lambda: haproxy_active_servers(metrics) >= want,
               timeout_s, p)
    say(f"haproxy on {p.url}, stats {stack.urls['haproxy_stats_url']}")


def start_workers(stack: Stack, run: Path, n: int, base_env: dict[str, str], timeout_s: float) -> None:
    ports = free_ports(n)
    for i, port in enumerate(ports, 1):
        name = f"worker-{i}"
        env = {**base_env, "VISEARCH_HOST": "127.0.0.1", "VISEARCH_WORKER_METRICS_PORT": str(port)}
        p = Proc(name, [visearch_bin(), "worker"], str(run / "logs" / f"{name}.log"), port=port,
                 url=f"http://127.0.0.1:{port}", extra={"env": env})
        p.start(process_env(env))
        stack.workers.append(p)
    stack.save()
    for p in stack.workers:
        wait_until(p.name, http_ok(f"{p.url}/metrics"), timeout_s, p)
        say(f"{p.name} consuming (metrics {p.url}/metrics, pid {p.pid})")


def start_redis_exporter(stack: Stack, run: Path, redis_url: str, timeout_s: float) -> str | None:
    if shutil.which("prometheus-redis-exporter") is None:
        say("prometheus-redis-exporter not installed: Redis is watched through the replicas only")
        return None
    (port,) = free_ports(1)
    p = Proc("redis-exporter", ["prometheus-redis-exporter", "-redis.addr",
                                redis_url.rsplit("/", 1)[0],
                                "-web.listen-address", f"127.0.0.1:{port}"],
             str(run / "logs" / "redis-exporter.log"), port=port, url=f"http://127.0.0.1:{port}")
    p.start(process_env({}))
    stack.services.append(p)
    stack.save()
    wait_until("redis exporter", http_ok(f"{p.url}/metrics"), timeout_s, p)
    return f"127.0.0.1:{port}"


def start_prometheus(stack: Stack, run: Path, exporter: str | None, scrape_interval: str,
                     timeout_s: float) -> None:
    (port,) = free_ports(1)
    d = run / "prometheus"
    shutil.rmtree(d / "data", ignore_errors=True)  # series of an earlier run's ports would linger
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "prometheus.yml"
    cfg.write_text(render_prometheus.render_config(
        api=[render_prometheus.Target(r.name, f"127.0.0.1:{r.port}") for r in stack.replicas],
        workers=[render_prometheus.Target(w.name, f"127.0.0.1:{w.port}") for w in stack.workers],
        haproxy=f"127.0.0.1:{stack.haproxy.extra['stats_port']}" if stack.haproxy else "",
        redis_exporter=exporter, prometheus=f"127.0.0.1:{port}", scrape_interval=scrape_interval,
    ))
    check = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        raise StackError(f"promtool rejected {cfg}:\n{check.stdout}{check.stderr}")
    p = Proc("prometheus", ["prometheus", f"--config.file={cfg}",
                            f"--storage.tsdb.path={d / 'data'}",
                            f"--web.listen-address=127.0.0.1:{port}",
                            "--storage.tsdb.retention.time=2d"],
             str(run / "logs" / "prometheus.log"), port=port, url=f"http://127.0.0.1:{port}")
    p.start(process_env({}))
    stack.services.append(p)
    stack.urls["prometheus_url"] = p.url or ""
    stack.save()
    wait_until("prometheus", http_ok(f"{p.url}/-/ready"), timeout_s, p)
    say(f"prometheus on {p.url}")


# -- commands --------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    run = args.data_dir.resolve()
    old = Stack.load(run)
    if old is not None and any(p.alive() for p in old.all_procs()):
        raise StackError(f"a stack already runs from {run}: `scripts/stack.sh down` first")
    if not port_free(args.port):
        raise StackError(f"127.0.0.1:{args.port} is taken: pick another --port")
    missing = [b for b in ("redis-server", "haproxy", "prometheus") if shutil.which(b) is None]
    if missing:
        raise StackError(f"missing {', '.join(missing)}: run `scripts/stack.sh install`")
    (run / "logs").mkdir(parents=True, exist_ok=True)
    shared_store = bool(os.environ.get("VISEARCH_QDRANT_URL"))
    mode = "qdrant" if shared_store else "edge"
    workers = args.workers if shared_store else 0
    if args.workers and not shared_store:
        say("edge mode (no VISEARCH_QDRANT_URL): replicas get read-only copies of one index and "
            "no workers run (they need a store that every process shares)")
    stack = Stack(str(run), mode, args.port, args.balance)
    stack.urls["run_dir"] = str(run)
    stack.save()
    t = args.timeout
    try:
        base_env = visearch_env()
        base_env.setdefault("VISEARCH_LOG_FORMAT", "json")
        base_env["VISEARCH_REDIS_URL"] = start_redis(stack, run, t)
        stack.urls["redis_url"] = base_env["VISEARCH_REDIS_URL"]
        if shared_store:
            base_env["VISEARCH_STORE"] = "qdrant"
            base_env.setdefault("VISEARCH_DATA_DIR", str(run / "shared-data"))
        if workers:
            base_env["VISEARCH_BROKER_URL"] = start_rabbitmq(stack, run, t)
            stack.urls["broker_url"] = base_env["VISEARCH_BROKER_URL"]
        seed = None
        if not shared_store:
            seed = build_seed(run, args.index, args.seed_data, args.index_timeout)
        stack.env = base_env
        start_replicas(stack, run, args.replicas, base_env, seed, t)
        start_haproxy(stack, run, t)
        if workers:
            start_workers(stack, run, workers, base_env, t)
        exporter = start_redis_exporter(stack, run, base_env["VISEARCH_REDIS_URL"], t)
        start_prometheus(stack, run, exporter, args.scrape_interval, t)
    except BaseException:
        say("start-up failed: stopping what was started")
        stop_all(stack)
        raise
    print_status(stack, as_json=False)
    return 0


def stop_all(stack: Stack) -> None:
    for p in reversed(stack.all_procs()):
        if p.name == "rabbitmq":
            stop_rabbitmq(p)
        elif p in stack.replicas:  # the balancer is gone already: no drain (SIGTERM's grace)
            p.stop(sig=signal.SIGINT)
        else:
            p.stop()
    stack.save()


def cmd_down(args: argparse.Namespace) -> int:
    stack = Stack.load(args.data_dir.resolve())
    if stack is None:
        say(f"nothing runs from {args.data_dir}")
        return 0
    running = [p.name for p in stack.all_procs() if p.alive()]
    stop_all(stack)
    stack.path.unlink(missing_ok=True)
    what = ", ".join(running) if running else "nothing (all had exited)"
    say(f"stopped {what}; logs in {stack.run_dir}/logs")
    return 0


def print_status(stack: Stack, as_json: bool) -> None:
    st = stack.status()
    if as_json:
        print(json.dumps(st, indent=2))
        return
    print(f"run folder   {st['run_dir']}  (store: {st['mode']}, balance: {st['balance']})")
    for key in ("balancer_url", "haproxy_stats_url", "prometheus_url", "redis_url", "broker_url"):
        if st.get(key):
            print(f"{key.removesuffix('_url'):<12} {st[key]}")
    for group in ("replicas", "workers", "services"):
        for p in st[group]:
            state = "up" if p["alive"] else "DOWN"
            print(f"  {p['name']:<15} {state:<5} pid {p['pid']:<8} {p['url'] or ''}")
    if st["haproxy"]:
        h = st["haproxy"]
        print(f"  {'haproxy':<15} {'up' if h['alive'] else 'DOWN':<5} pid {h['pid']:<8} {h['url']}")


def cmd_status(args: argparse.Namespace) -> int:
    stack = Stack.load(args.data_dir.resolve())
    if stack is None:
        if args.json:
            print(json.dumps({"run_dir": str(args.data_dir.resolve()), "running": False}))
        else:
            say(f"nothing runs from {args.data_dir}")
        return 1
    print_status(stack, args.json)
    return 0


def cmd_replica(args: argparse.Namespace) -> int:
    stack = Stack.load(args.data_dir.resolve())
    if stack is None:
        raise StackError(f"nothing runs from {args.data_dir}")
    p = stack.replica(args.name)
    if args.action == "kill":
        p.signal(signal.SIGKILL)
        say(f"{p.name} (pid {p.pid}) killed with SIGKILL")
    elif args.action == "stop":
        p.stop()
        say(f"{p.name} stopped (SIGTERM: it drained first)")
    else:
        start_replica(stack, p, args.timeout)
    stack.save()
    return 0


def cmd_install(_: argparse.Namespace) -> int:
    """apt-get what is missing, without starting the system-wide services."""
    pkgs = sorted({pkg for binary, pkg in PACKAGES.items()
                   if shutil.which(binary) is None and not Path(binary).exists()})
    if not pkgs:
        return 0
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise StackError(f"need root or sudo to install {' '.join(pkgs)}")
    say(f"installing {' '.join(pkgs)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}  # no service starts
    apt = [*sudo, "apt-get", "-o", "DPkg::Lock::Timeout=300"]
    subprocess.run([*apt, "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*apt, "install", "-y", "-qq", "--no-install-recommends", *pkgs], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scripts/stack.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=DEFAULT_RUN_DIR,
                        help=f"run folder: logs, pids, data (default {DEFAULT_RUN_DIR})")
    common.add_argument("--timeout", type=float, default=180.0,
                        help="seconds to wait for each process to be ready")
    sub = ap.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="start the stack")
    up.add_argument("--replicas", type=int, default=3)
    up.add_argument("--workers", type=int, default=2, help="Celery workers (shared store only)")
    up.add_argument("--port", type=int, default=8080, help="balancer port on 127.0.0.1")
    up.add_argument("--index", type=Path, action="append", default=[],
                    help="images to index into the seed index (edge mode); repeatable")
    up.add_argument("--seed-data", type=Path, help="an existing data dir to use as the seed index")
    up.add_argument("--index-timeout", type=float, default=3600.0)
    up.add_argument("--balance", choices=["leastconn", "roundrobin"], default=render_haproxy.BALANCE)
    up.add_argument("--scrape-interval", default="5s")
    up.set_defaults(func=cmd_up)

    st = sub.add_parser("status", parents=[common], help="what runs, with URLs and pids")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    down = sub.add_parser("down", parents=[common], help="stop exactly what `up` started")
    down.set_defaults(func=cmd_down)

    rep = sub.add_parser("replica", parents=[common], help="start, stop or kill -9 one replica")
    rep.add_argument("action", choices=["start", "stop", "kill"])
    rep.add_argument("name", help="api-1, api-2, ...")
    rep.set_defaults(func=cmd_replica)

    inst = sub.add_parser("install", help="apt-get the servers that are missing")
    inst.set_defaults(func=cmd_install)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "replicas", 1) < 1:
        say("--replicas must be at least 1")
        return 2
    try:
        return int(args.func(args))
    except StackError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
