"""The CLI against a running server: a small REST client and the ``Backend`` built on it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from visearch.api import API_PREFIX
from visearch.cli.backend import CliError, Hits, IndexedFile, Labeller, Query, hits_from_body

#: How many files one ``POST /index/upload`` carries.
UPLOAD_BATCH = 16
#: A 429 is waited out (its ``Retry-After``) this many times, if the wait is at most
#: ``MAX_RETRY_AFTER_S``.
RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER_S = 30.0


class ApiClient:
    """Calls ``API_PREFIX`` routes of the server at ``base_url``; failures become ``CliError``
    with the API's error code and message. Sends the API key (``api_key``, else
    ``VISEARCH_API_KEY``, which ``--api-key`` sets) as ``Authorization: Bearer``."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        key = api_key or os.environ.get("VISEARCH_API_KEY")
        self._http = httpx.Client(base_url=self.base_url,
                                  timeout=httpx.Timeout(60.0, connect=5.0),
                                  headers={"Authorization": f"Bearer {key}"} if key else {})

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON body of ``method API_PREFIX+path``. An error status raises, unless the body
        still carries per-item ``results`` (an upload whose every file failed)."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                resp = self._http.request(method, API_PREFIX + path, **kw)
            except httpx.HTTPError as exc:
                raise CliError(f"cannot reach the API at {self.base_url}: {exc}") from exc
            wait = _retry_after(resp)
            if wait is None or attempt == RATE_LIMIT_RETRIES:
                break
            time.sleep(wait)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code >= 400 and not (isinstance(body, dict) and "results" in body):
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise CliError(
                f"{resp.status_code} {err.get('code', '')}: {err.get('message', resp.text[:300])}"
            )
        return body


    def raw(self, path: str) -> bytes | None:
        """The body of ``GET API_PREFIX+path``, or None when it is not there (404)."""
        try:
            resp = self._http.get(API_PREFIX + path)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise CliError(f"{resp.status_code}: {resp.text[:300]}")
        return resp.content


def _retry_after(resp: httpx.Response) -> float | None:
    """The wait a 429 asks for, when it is short enough to wait out."""
    if resp.status_code != 429:
        return None
    try:
        wait = float(resp.headers.get("retry-after", ""))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_RETRY_AFTER_S else None


class HttpBackend:
    """``Backend`` over the REST API. Files are uploaded: the server needs no access to them."""

    index_chunk = UPLOAD_BATCH

    def __init__(self, api_url: str) -> None:
        self.client = ApiClient(api_url)

    def index(self, files: Sequence[Path], metadata: dict[str, Any], label: Labeller | None,
              advance: Callable[[int], None]) -> list[IndexedFile]:
        """Upload the files, one request per label (the label is a form field)."""
        groups: dict[str | None, list[Path]] = {}
        for path in files:
            groups.setdefault(label(path) if label else None, []).append(path)
        out: list[IndexedFile] = []
        for lab, group in groups.items():
            form = {"metadata": json.dumps(metadata), **({"label": lab} if lab else {})}
            body = self.client.call("POST", "/index/upload", data=form,
                                    files=[("files", (p.name, p.read_bytes())) for p in group])
            out += [IndexedFile(r["status"], r.get("filename"), r.get("image_id"),
                                (r.get("error") or {}).get("message"), r.get("duplicate_of"))
                    for r in body["results"]]
        advance(len(files))
        return out

    def finish_index(self, describe: Callable[[str], None]) -> None:
        """Nothing: the server keeps its own index in shape."""

    def search(self, query: Query) -> Hits:
        options = query.options()
        if query.image is not None:  # multipart: JSON-valued options as JSON strings
            form = {k: json.dumps(v) if isinstance(v, dict | list | bool) else str(v)
                    for k, v in options.items() if v not in (None, [], "")}
            body = self.client.call("POST", "/search/image", files={
                "file": (query.image_name, query.image)}, data=form)
        else:
            body = self.client.call("POST", "/search", json=options)
        return hits_from_body(body)

    def duplicate_groups(self, distance: float | None) -> dict[str, Any]:
        params = {"distance": distance} if distance else {}
        body: dict[str, Any] = self.client.call("GET", "/duplicates", params=params)
        return body

    def thumbnail(self, image_id: str) -> bytes | None:
        return self.client.raw(f"/images/{quote(image_id, safe='')}/thumbnail")

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.client.call("GET", "/stats")
        return body

    def close(self) -> None:
        self.client.close()
