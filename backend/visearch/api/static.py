"""The built web UI (``frontend/dist``) as the app serves it: precompressed copies and cache
headers that let browsers keep what never changes.

- Vite names every built asset after its content (``assets/index-3f2a9c1b.js``), so such a file
  never changes: ``Cache-Control: public, max-age=31536000, immutable``. ``index.html`` names the
  current assets, so browsers must ask again each time (``no-cache``: a cheap 304 when unchanged).
  Other files (``favicon.svg``) may change between releases: a day.
- ``npm run build`` writes ``.br`` and ``.gz`` copies beside each text asset; the copy the
  browser accepts is sent as is (``Content-Encoding``, ``Vary: Accept-Encoding``), so nothing is
  compressed per request. Anything without a copy is still compressed by the app's
  ``GZipMiddleware`` (which passes an already encoded response through untouched).
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHORT = "public, max-age=86400"
#: ``assets/<name>-<hash>.<ext>``: Vite's default names for hashed build output.
_HASHED = re.compile(r"^assets/.+-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$")
#: Preferred first: Brotli is ~15% smaller than gzip for JS.
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def accepted_encodings(header: str) -> set[str]:
    """Codings an ``Accept-Encoding`` header allows (``q=0`` means refused)."""
    out = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            allowed = float(q) > 0
        except ValueError:
            allowed = False
        if name and allowed:
            out.add(name.strip().lower())
    return out


def cache_control(path: str) -> str:
    """By the path asked for (a 304 has no media type): pages, hashed assets, the rest."""
    name = path.strip("/")
    if name in ("", ".") or name.endswith(".html"):
        return REVALIDATE
    return IMMUTABLE if _HASHED.match(name) else SHORT


class UiFiles(StaticFiles):
    """``StaticFiles`` for a single-page app build, with the headers above."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and response.status_code == 200:
            response = self._precompressed(response, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = cache_control(path)
        return response

    @staticmethod
    def _precompressed(response: FileResponse, scope: Scope) -> Response:
        response.headers["Vary"] = "Accept-Encoding"
        if "range" in Headers(scope=scope):  # ranges are of the plain file
            return response
        accepted = accepted_encodings(Headers(scope=scope).get("accept-encoding", ""))
        for coding, suffix in _ENCODINGS:
            copy = Path(str(response.path) + suffix)
            if coding in accepted and copy.is_file():
                return FileResponse(
                    copy, media_type=response.media_type,
                    headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"},
                )
        return response
