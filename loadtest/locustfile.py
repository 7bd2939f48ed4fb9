"""Locust users for visearch: the standard mixed search workload.

    .venv/bin/locust -f loadtest/locustfile.py --headless -u 100 -r 20 -t 60s \\
        --host http://127.0.0.1:8080 --csv artifacts/loadtest/run --html artifacts/loadtest/run.html

Queries are real Flickr8k captions, drawn Zipf-distributed so popular ones repeat (the cache's
case); example images are Flickr8k photos, sent as uploads and as base64. Weights: text search
10, filtered text search 2, image upload 2, image base64 2, more-like-this 2, page 2 1, and
indexing 1 only with --writes (a writable store: never against read-only edge replicas).
Any answer other than 200 counts as a failure.

Options (after the Locust ones): --captions FILE, --images DIR, --zipf-s S, --zipf-seed N,
--wait-min/--wait-max SECONDS (think time between a user's tasks, default 0.1-1.0), --api-key
KEY (a deployment with API keys), --writes.
Runs in its own process (gevent's monkey-patching must not meet the app).
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, events, task

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k"
POOL_IMAGES = 64


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--captions", default=str(SHARED / "captions.jsonl"),
                        help="captions.jsonl (Flickr8k layout)")
    parser.add_argument("--images", default=str(SHARED / "images"), help="example photos")
    parser.add_argument("--zipf-s", type=float, default=1.1, help="Zipf exponent of query reuse")
    parser.add_argument("--zipf-seed", type=int, default=0,
                        help="which captions are popular (change it to start with a cold cache)")
    parser.add_argument("--wait-min", type=float, default=0.1, help="seconds between a user's tasks")
    parser.add_argument("--wait-max", type=float, default=1.0)
    parser.add_argument("--api-key", default="", help="sent as 'Authorization: Bearer KEY' when set")
    parser.add_argument("--writes", action="store_true",
                        help="also index images (only against a writable store)")


class Workload:
    """Captions ranked by a seeded shuffle, drawn with P(rank k) proportional to 1/k^s."""

    def __init__(self, captions: Path, images: Path, s: float, seed: int) -> None:
        rows = [json.loads(line) for line in captions.read_text().splitlines() if line.strip()]
        texts = [c for r in rows for c in r["captions"]]
        rng = random.Random(seed)
        rng.shuffle(texts)
        self.texts = texts
        self.cum = list(itertools.accumulate(1.0 / (k**s) for k in range(1, len(texts) + 1)))
        files = sorted(images.glob("*.jpg"))
        self.images = [p.read_bytes() for p in rng.sample(files, min(POOL_IMAGES, len(files)))]
        if not self.texts or not self.images:
            raise RuntimeError(f"no captions in {captions} or no photos in {images}")

    def text(self, rng: random.Random) -> str:
        return self.texts[bisect.bisect_left(self.cum, rng.random() * self.cum[-1])]


_workload: Workload | None = None


def _why(r: Any) -> str:
    """What went wrong: the HTTP status and body, or the client-side error (status 0)."""
    if r.status_code == 0:
        return f"no answer: {getattr(r, 'error', None)!r}"
    return f"{r.status_code}: {(r.text or '')[:200]}"


@events.test_start.add_listener
def _load(environment: Any, **_: Any) -> None:
    global _workload
    o = environment.parsed_options
    _workload = Workload(Path(o.captions), Path(o.images), o.zipf_s, o.zipf_seed)


class SearchUser(HttpUser):
    def wait_time(self) -> float:
        o = self.environment.parsed_options
        return self.rng.uniform(o.wait_min, max(o.wait_min, o.wait_max))

    def on_start(self) -> None:
        assert _workload is not None
        self.w = _workload
        self.rng = random.Random()
        self.seen_ids: list[str] = []
        key = self.environment.parsed_options.api_key
        if key:
            self.client.headers["Authorization"] = f"Bearer {key}"

    def _search(self, name: str, body: dict[str, Any]) -> None:
        with self.client.post("/api/v1/search", json=body, name=name, catch_response=True) as r:
            self._record(r)

    def _record(self, r: Any) -> None:
        if r.status_code != 200:
            r.failure(_why(r))
            return
        results = r.json().get("results", [])
        if results:
            self.seen_ids = [x["image_id"] for x in results[:5]] + self.seen_ids[:45]
        r.success()

    @task(10)
    def text_search(self) -> None:
        self._search("search: text", {"text": self.w.text(self.rng), "top_k": 10})

    @task(2)
    def filtered_search(self) -> None:
        self._search("search: text + filter", {
            "text": self.w.text(self.rng), "top_k": 10,
            "filter": {"width": {"gte": 100}, "height": {"lte": 10000}},
        })

    @task(2)
    def image_upload(self) -> None:
        data = self.rng.choice(self.w.images)
        with self.client.post("/api/v1/search/image", files={"file": ("q.jpg", data, "image/jpeg")},
                              data={"top_k": "10"}, name="search: image upload",
                              catch_response=True) as r:
            self._record(r)

    @task(2)
    def image_base64(self) -> None:
        data = base64.b64encode(self.rng.choice(self.w.images)).decode()
        self._search("search: image base64", {"image_data": data, "top_k": 10})

    @task(2)
    def more_like_this(self) -> None:
        if not self.seen_ids:
            self.text_search()
            return
        self._search("search: more like this", {"image_id": self.rng.choice(self.seen_ids), "top_k": 10})

    @task(1)
    def page_two(self) -> None:
        self._search("search: page 2", {"text": self.w.text(self.rng), "top_k": 10, "offset": 10})

    @task(1)
    def index(self) -> None:
        if not self.environment.parsed_options.writes:
            self.text_search()
            return
        data = self.rng.choice(self.w.images)
        with self.client.post("/api/v1/index/upload", files={"files": ("i.jpg", data, "image/jpeg")},
                              name="index: upload", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(_why(r))
            else:
                r.success()
