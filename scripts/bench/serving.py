"""One node over HTTP: cold start to ready, uncached vs cached text search, more-like-this,
uploads, and 16 concurrent clients with unique text queries vs the same sent one at a time.

The server is a real ``visearch serve`` process (loopback, no keys, no rate limits) on a
gallery indexed beforehand into its data dir, so the load generator does not share its GIL.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from bench.model import ms_stats

API = "/api/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``visearch serve`` in a child process; ``cold_start_s`` is spawn to /ready = 200."""

    def __init__(self, env: dict[str, str], log_path: Path, timeout_s: float = 600) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root = Path(__file__).resolve().parents[2]
        full_env = {**os.environ, **env, "VISEARCH_HOST": "127.0.0.1",
                    "VISEARCH_PORT": str(self.port), "VISEARCH_CLIENT_LIMITS": "off",
                    "VISEARCH_LOG_LEVEL": "WARNING", "OMP_WAIT_POLICY": "PASSIVE",
                    "PYTHONPATH": str(root / "backend")}
        self._log = log_path.open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "visearch.cli", "serve"],
                                        env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=5) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
                try:
                    if client.get(self.url + API + "/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("server not ready in time")
                time.sleep(0.05)
        self.cold_start_s = time.perf_counter() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _search(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.post(API + "/search", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def _text_batches(metrics: str) -> dict[str, float]:
    """Model calls and inputs for text queries, from the server's Prometheus metrics."""
    out = {}
    for name in ("sum", "count"):
        m = re.search(rf'visearch_embedding_batch_size_{name}{{modality="text"}} ([0-9.e+]+)',
                      metrics)
        out[name] = float(m.group(1)) if m else 0.0
    return out


def bench_http(env: dict[str, str], texts: Sequence[str], image_ids: Sequence[str],
               upload_files: Sequence[Path], n: int, concurrency: int, log_path: Path
               ) -> dict[str, Any]:
    """See the module docstring; ``texts`` must hold 3 * n + 8 distinct queries."""
    if len(set(texts)) < 3 * n + 8:
        raise ValueError("bench_http needs 3n + 8 distinct queries")
    texts = list(dict.fromkeys(texts))
    server = Server(env, log_path)
    out: dict[str, Any] = {"cold_start_to_ready_s": round(server.cold_start_s, 2)}
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for q in texts[:8]:  # warm-up: first calls of each route
                _search(client, {"text": q, "top_k": 10})
            unique = texts[8 : 8 + n]
            uncached = [_search(client, {"text": q, "top_k": 10}) for q in unique]
            cached = [_search(client, {"text": q, "top_k": 10}) for q in unique]
            assert all(r["cached"] for _, r in cached) and not any(r["cached"] for _, r in uncached)
            out["text_uncached"] = ms_stats([t for t, _ in uncached])
            out["text_cached"] = ms_stats([t for t, _ in cached])
            out["cached_over_uncached_p50"] = round(
                out["text_cached"]["p50_ms"] / out["text_uncached"]["p50_ms"], 4)
            out["more_like_this"] = ms_stats(
                [_search(client, {"image_id": i, "top_k": 10})[0] for i in image_ids[:n]])
            uploads = []
            for path in upload_files:
                started = time.perf_counter()
                r = client.post(API + "/index/upload",
                                files=[("files", (path.name, path.read_bytes(), "image/jpeg"))])
                r.raise_for_status()
                uploads.append(time.perf_counter() - started)
            out["image_upload"] = ms_stats(uploads) if uploads else None
            before = _text_batches(client.get("/metrics").text)

            sequential = texts[8 + n : 8 + 2 * n]
            started = time.perf_counter()
            for q in sequential:
                _search(client, {"text": q, "top_k": 10})
            seq_rate = len(sequential) / (time.perf_counter() - started)
        mid = _text_batches(httpx.get(server.url + "/metrics").text)

        concurrent = texts[8 + 2 * n : 8 + 3 * n]
        # One connection per client, made beforehand (creating an httpx client costs more
        # than a cached search).
        clients = [httpx.Client(base_url=server.url, timeout=120) for _ in range(concurrency)]
        for c in clients:
            c.get(API + "/health")

        def one(i: int) -> list[float]:
            return [_search(clients[i], {"text": q, "top_k": 10})[0]
                    for q in concurrent[i::concurrency]]

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = [t for ts in pool.map(one, range(concurrency)) for t in ts]
        conc_rate = len(concurrent) / (time.perf_counter() - started)
        for c in clients:
            c.close()
        after = _text_batches(httpx.get(server.url + "/metrics").text)
        out["sequential_unique_text_req_per_s"] = round(seq_rate, 2)
        out["concurrent_unique_text_req_per_s"] = round(conc_rate, 2)
        out["concurrency"] = concurrency
        out["concurrent_over_sequential"] = round(conc_rate / seq_rate, 2)
        out["concurrent_latency"] = ms_stats(latencies)
        out["mean_texts_per_model_call"] = {
            "sequential": round((mid["sum"] - before["sum"]) / max(mid["count"] - before["count"],
                                                                   1), 2),
            "concurrent": round((after["sum"] - mid["sum"]) / max(after["count"] - mid["count"],
                                                                  1), 2),
        }
    finally:
        server.stop()
    return out
