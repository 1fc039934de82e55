"""API keys on /v1/* (and on /metrics with --metrics-auth).

A rejected key is never echoed, and no header reaches the access log.
"""
from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from kashif.serve.http.errors import error_response
from kashif.serve.http.middleware.request_id import request_id_of
from kashif.serve.http.routes import V1_PREFIX

PROTECTED_PREFIX = V1_PREFIX + "/"


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
