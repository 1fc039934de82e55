"""The request body size limit (--max-body-bytes)."""
from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kashif.serve.http.errors import error_response
from kashif.serve.http.middleware.request_id import request_id_of


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
