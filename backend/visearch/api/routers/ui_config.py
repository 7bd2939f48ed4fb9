"""What the web UI needs to know before its first call: whether the API wants a key, and the
read-only key the operator gave the UI (``VISEARCH_UI_API_KEY``), if any. Public, like the
page itself; other sites cannot read it (no CORS for them) and the Host check stops DNS
rebinding."""

from __future__ import annotations

from fastapi import APIRouter, Request

from visearch.api.schemas import UiConfig
from visearch.security.access import AccessControl

router = APIRouter(tags=["system"])


@router.get("/ui-config", response_model=UiConfig)
async def ui_config(request: Request) -> UiConfig:
    """``keys_required``; ``api_key``: a search-only key for the UI to send (or null: ask the
    user for a key when ``keys_required``)."""
    control: AccessControl = request.app.state.access
    return UiConfig(keys_required=control.keys_required, api_key=control.ui_key)
