"""Every failure becomes JSON ``{"error": {"code", "message"}}`` with a fitting status.

One handler for the project's own ``VisearchError`` (whatever layer raised it: ingest, store,
model, services, jobs, routers), the framework's own (validation, HTTP) and anything else
(500, details only in the log).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from visearch.errors import VisearchError

log = structlog.get_logger(__name__)
_INTERNAL = (500, "internal_error", "unexpected server error; see the logs")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def internal_error(exc: BaseException) -> JSONResponse:
    """The 500 for an exception nothing else handled: details in the log, not the response."""
    log.error("unhandled_error", error=repr(exc), exc_info=exc)
    return error_response(*_INTERNAL)


def _validation_message(errors: list[Any]) -> tuple[int, str, str]:
    """Turn pydantic's error list into one readable sentence (and 400 for unparsable bodies)."""
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if kind == "json_invalid":
        return 400, "invalid_json", "the request body is not valid JSON"
    if kind == "missing" and not loc:
        return 400, "empty_body", "the request body is empty; send a JSON object"
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return 422, "invalid_request", "; ".join(parts)


def document_errors(schema: dict[str, Any]) -> None:
    """Make the OpenAPI schema say what the server sends: a 422 is an ``ErrorBody`` like every
    other error (FastAPI documents its own validation list, which ``_validation`` replaces)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" not in components:
        from visearch.api.schemas import ErrorBody

        components.update(ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}")["$defs"])
        components["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}")
        components["ErrorBody"].pop("$defs", None)
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            response = operation.get("responses", {}).get("422") if isinstance(operation, dict) \
                else None
            if response is not None:
                response["content"] = body
                response["description"] = "Invalid request"
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VisearchError)
    async def _visearch(_: Request, exc: VisearchError) -> JSONResponse:
        if exc.status == 500:  # our fault: the details are for the log, not the client
            log.error(exc.code, error=exc.message, exc_info=exc)
            return error_response(*_INTERNAL)
        if exc.status > 500:  # a dependency is down (store, model): worth a log line
            log.error(exc.code, error=exc.message)
        response = error_response(exc.status, exc.code, exc.message)
        response.headers.update(getattr(exc, "headers", None) or {})  # Retry-After, ...
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(list(exc.errors()))
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
                413: "too_large"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc)
