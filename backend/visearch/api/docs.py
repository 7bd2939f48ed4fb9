"""Swagger UI at ``/docs`` from files installed with the package (``swagger-ui-bundle-v2``),
not a CDN: it works offline and under the app's Content-Security-Policy (no inline script:
the page loads ``/docs/init.js``, which reads the schema URL from the page)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{title} - API docs</title>
    <link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui" data-openapi-url="{root}{openapi}"></div>
    <script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
    <script src="{root}/docs/init.js"></script>
  </body>
</html>
"""
_INIT = """window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def swagger_assets() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(swagger_ui_path)


def install_docs(app: FastAPI) -> None:
    """``/docs`` (the page), ``/docs/init.js`` and ``/docs/assets/*`` (Swagger UI's files)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
        return HTMLResponse(_PAGE.format(title=escape(app.title), root=root,
                                         openapi=escape(openapi_url, quote=True)))

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript")

    app.mount("/docs/assets", StaticFiles(directory=swagger_assets()), name="docs-assets")
