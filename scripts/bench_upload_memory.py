"""Peak memory of a `visearch serve` process while it indexes many large uploads at once.

Starts the server (the model and other settings come from the environment, e.g.
VISEARCH_MODEL), uploads ``--requests`` concurrent multipart requests of ``--files`` JPEGs of
``--megapixels`` each, samples the server's resident memory every 20 ms and prints the
baseline, the peak and the difference. ``--backend`` runs another checkout's code (to compare
before and after a change).

    VISEARCH_MODEL=/path/to/model python scripts/bench_upload_memory.py --files 8 --requests 4
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _large_jpeg(megapixels: float) -> bytes:
    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (side // 16, side // 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((side, side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="files per request")
    parser.add_argument("--requests", type=int, default=4, help="concurrent requests")
    parser.add_argument("--megapixels", type=float, default=64.0)
    parser.add_argument("--backend", type=Path, default=ROOT / "backend",
                        help="the backend/ folder whose code the server runs")
    args = parser.parse_args()

    image = _large_jpeg(args.megapixels)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(args.backend), "VISEARCH_PORT": str(port),
               "VISEARCH_HOST": "127.0.0.1", "VISEARCH_DATA_DIR": f"{tmp}/data",
               "VISEARCH_LOG_LEVEL": "WARNING", "VISEARCH_MAX_BATCH_FILES": str(args.files)}
        proc = subprocess.Popen([sys.executable, "-m", "visearch.cli", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/api/v1/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise SystemExit("the server did not become ready")
            baseline = _rss_mb(proc.pid)
            peak, done = baseline, threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _rss_mb(proc.pid))
                    time.sleep(0.02)

            def upload(r: int) -> int:
                files = [("files", (f"{r}-{i}.jpg", image + f"{r}-{i}".encode(), "image/jpeg"))
                         for i in range(args.files)]
                return httpx.post(f"{base}/api/v1/index/upload", files=files, timeout=600).status_code

            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.requests) as pool:
                statuses = list(pool.map(upload, range(args.requests)))
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"{args.requests} requests x {args.files} files of {args.megapixels:g} Mpx "
          f"({len(image) / 2**20:.1f} MB each): statuses {sorted(set(statuses))}, "
          f"{elapsed:.1f} s")
    print(f"server RSS: baseline {baseline:.0f} MB, peak {peak:.0f} MB, "
          f"increase {peak - baseline:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
