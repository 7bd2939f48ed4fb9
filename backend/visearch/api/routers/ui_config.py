"""What the web UI needs: whether the API wants a key and the read-only key the operator gave
the UI (``VISEARCH_UI_API_KEY``), if any; and a session cookie holding a key, because the UI's
<img> tags cannot send headers.

``/ui-config`` is public, like the page itself: other sites cannot read it (no CORS for them)
and the Host check stops DNS rebinding. ``POST /session`` needs a valid key (in a header) and
sets it as an HttpOnly, SameSite=Strict cookie on ``/api``; other sites' requests never carry
it, and writes from them are refused by Origin anyway.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from visearch.api.deps import ACCESS_ERRORS, SESSION_COOKIE, AnyCaller
from visearch.api.schemas import UiConfig
from visearch.security.access import AccessControl

router = APIRouter(tags=["system"])
_SESSION_S = 12 * 3600


@router.get("/ui-config", response_model=UiConfig)
async def ui_config(request: Request) -> UiConfig:
    """``keys_required``; ``api_key``: a search-only key for the UI to send (or null: ask the
    user for a key when ``keys_required``)."""
    control: AccessControl = request.app.state.access
    return UiConfig(keys_required=control.keys_required, api_key=control.ui_key)


@router.post("/session", status_code=204, responses=ACCESS_ERRORS)
async def open_session(request: Request, response: Response, caller: AnyCaller) -> None:
    """Put the key this request was made with into a cookie (12 h) that the browser sends with
    every later API request, images included. Without keys on, nothing to do."""
    key = _presented(request)
    if caller.key is not None and key:
        response.set_cookie(SESSION_COOKIE, key, max_age=_SESSION_S, path="/api",
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")


@router.delete("/session", status_code=204)
async def close_session(response: Response) -> None:
    """Forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/api", httponly=True, samesite="strict")


def _presented(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.headers.get("x-api-key") or None
