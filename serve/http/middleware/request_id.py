"""Request IDs and the access log.

The access log has method, path, status, time and request ID only: no header,
so no key material, ever reaches it.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kashif.serve")
REQUEST_ID_HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
