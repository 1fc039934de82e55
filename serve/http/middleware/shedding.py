"""Load shedding before the body is read.

Under a burst, refusing a request must cost far less than serving one, or
the refusals themselves delay the requests that were accepted: they share
one event loop. This middleware asks the batcher whether an inference
request would be admitted and, if not, answers 503 + Retry-After at once,
without reading or validating the body. It sits inside the request-ID,
metrics and CORS middleware (so a refusal is logged, counted and readable
by a browser) and before the API-key check. Requests that pass are checked
again, with their size, when they are submitted.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from kashif.serve.http.batching import MicroBatcher
from kashif.serve.http.errors import error_response
from kashif.serve.http.middleware.request_id import request_id_of
from kashif.serve.http.routes import INFERENCE_ROUTES


class LoadShedMiddleware:
    def __init__(self, app: ASGIApp, batcher: MicroBatcher) -> None:
        self.app = app
        self.batcher = batcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = INFERENCE_ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        refused = self.batcher.refusal(kind) if kind is not None else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        response = error_response(503, "overloaded", str(refused), headers={"Retry-After": str(refused.retry_after)}, request_id=request_id_of(scope))
        await response(scope, receive, send)
