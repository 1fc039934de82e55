"""The API's errors: their one JSON shape, and the handlers that answer every failure in it."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from kashif.serve.http.middleware.request_id import request_id_of
from kashif.serve.http.routes import DOCS_PATH

log = logging.getLogger("kashif.serve")


def error_body(code: str, message: str, request_id: str | None = None) -> dict:
    """The one shape of every error answer: `{"error": {"code", "message", "request_id"}}`."""
    body: dict = {"error": {"code": code, "message": message}}
    if request_id:
        body["error"]["request_id"] = request_id
    return body


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None, request_id: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, request_id), status_code=status, headers=headers)


class ApiError(Exception):
    """A client-facing error: status, stable code, readable message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's validation errors of a request body, for a person: `where: what`, the first five."""
    parts = []
    for error in errors[:5]:
        where = ""
        for part in error.get("loc", ()):
            if part == "body":
                continue
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not where:
            if error.get("type") == "missing":
                message = "the request body is missing: send a JSON object"
            elif error.get("type") in ("model_attributes_type", "dict_type", "model_type"):
                message = "the body must be a JSON object"
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.code, err.message, headers=err.headers, request_id=request_id_of(request.scope))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        rid = request_id_of(request.scope)
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            detail = (bad_json.get("ctx") or {}).get("error", "decode error")
            pos = bad_json.get("loc", ("body", "?"))[-1]
            return error_response(400, "invalid_json", f"the body is not valid JSON: {detail} at position {pos}", request_id=rid)
        content_type = request.headers.get("content-type", "")
        if content_type and "json" not in content_type.split(";")[0].lower():
            return error_response(415, "unsupported_media_type", f"the body must be JSON: send 'Content-Type: application/json', not {content_type!r}", request_id=rid)
        return error_response(422, "invalid_request", validation_message(errors), request_id=rid)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        rid = request_id_of(request.scope)
        headers = dict(err.headers or {})
        if err.status_code == 404:
            return error_response(404, "not_found", f"no such route: {request.method} {request.url.path} (see {DOCS_PATH})", headers, rid)
        if err.status_code == 405:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}", headers, rid)
        if err.status_code == 413:
            return error_response(413, "payload_too_large", str(err.detail), headers, rid)
        if err.status_code == 400 and isinstance(err.__cause__, UnicodeDecodeError):
            return error_response(400, "invalid_utf8", "the body is not valid UTF-8 text", headers, rid)
        return error_response(err.status_code, f"http_{err.status_code}", str(err.detail), headers, rid)

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("request_id=%s internal error", request_id_of(request.scope))
        return error_response(500, "internal", "internal server error; the log has the details", request_id=request_id_of(request.scope))
