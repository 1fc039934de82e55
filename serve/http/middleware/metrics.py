"""Counts and times every HTTP request for /metrics."""
from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kashif.serve.http.metrics import ServerMetrics
from kashif.serve.http.middleware.request_id import final_status
from kashif.serve.http.routes import INFERENCE_ROUTES, STATIC_PATH

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts every HTTP request by route (the route's path, or "other" for
    unknown paths, so random URLs cannot blow up the label set) and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    @staticmethod
    def _route(scope: Scope) -> str:
        # Starlette records the matched route in the scope; unmatched paths have none.
        path = getattr(scope.get("route"), "path_format", None) or getattr(scope.get("route"), "path", None)
        if isinstance(path, str) and path.startswith("/"):
            return path
        if scope["path"] in INFERENCE_ROUTES:  # refused by the load shedder before routing
            return scope["path"]
        return STATIC_PATH if scope["path"].startswith(STATIC_PATH + "/") else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.in_flight.dec()
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = self._route(scope)
            self.metrics.requests.labels(route, method, str(final_status(scope, status))).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)
