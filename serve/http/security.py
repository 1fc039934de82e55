"""Request hardening: API keys on /v1/*, body size limit, request IDs and the access log.

Key material never reaches a log: the access log has method, path, status,
time and request ID only, and a rejected key is never echoed.
"""
from __future__ import annotations

import hmac
import logging
import re
import time
import uuid

from fastapi import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kashif.serve.http.schemas import error_response

log = logging.getLogger("kashif.serve")
REQUEST_ID_HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROTECTED_PREFIX = "/v1/"


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


READ_TIMED_OUT = "read_timed_out"  # set in the request's scope state by serve.http.connections on a 408


def final_status(scope: Scope, status: int) -> int:
    """The status the client got: 408 when the connection guard answered for the app
    (the app's own answer to the cut-off body went nowhere)."""
    return 408 if scope.get("state", {}).get(READ_TIMED_OUT) else status


def sane_request_id(given: str) -> str | None:
    """The client's `X-Request-ID` if it is a sane token (echoed in answers and logs), else None."""
    return given if _CLIENT_ID.match(given) else None


class RequestIdMiddleware:
    """Takes the client's `X-Request-ID` (if it is a sane token) or makes one,
    echoes it on the response, and writes one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = sane_request_id(given) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request_id=%s %s %s %s %.1fms",
                request_id, scope["method"], scope["path"], final_status(scope, status) or "-", (time.perf_counter() - started) * 1000,
            )


class ApiKeyMiddleware:
    """With keys configured, `/v1/*` (and the paths in `also`, e.g. `/metrics`
    with --metrics-auth) need `Authorization: Bearer <key>`; everything else
    (health, docs, demo page) stays open."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...], also: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.keys = tuple(k.encode("utf-8") for k in keys)
        self.also = also

    def _protected(self, path: str) -> bool:
        return path.startswith(PROTECTED_PREFIX) or path in self.also

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        given = token.strip().encode("latin-1")  # Starlette decoded the raw header bytes as latin-1
        # compare against every key (no early exit) so timing says nothing about which key is close
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not self._protected(scope["path"]) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if not self._authorized(Headers(scope=scope).get("authorization", "")):
            response = error_response(
                401, "unauthorized", "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"}, request_id=request_id_of(scope),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes (--max-body-bytes)")


class BodyLimitMiddleware:
    """413 for bodies over `limit` bytes: at once from Content-Length, or while
    reading a chunked body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = error_response(413, "payload_too_large", BodyTooLarge(self.limit).detail, request_id=request_id_of(scope))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)  # FastAPI re-raises it; the app's handler answers 413
            return message

        await self.app(scope, limited_receive, send)
