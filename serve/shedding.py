"""Load shedding in front of the other middleware.

Under a burst, refusing a request must cost far less than serving one, or
the refusals themselves delay the requests that were accepted: they share
one event loop. This middleware runs first; it asks the batcher whether an
inference request would be admitted and, if not, answers 503 + Retry-After
at once, without reading or validating the body (the JSON error shape,
request ID and metrics are the same as everywhere else). Requests that pass
are checked again, with their size, when they are submitted.
"""
from __future__ import annotations

import json
import logging
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.batching import MicroBatcher
from serve.metrics import ServerMetrics
from serve.security import REQUEST_ID_HEADER, valid_client_request_id

log = logging.getLogger("kashif.serve")

# inference routes → the batcher kind they queue first
INFERENCE_ROUTES = {"/v1/entities": "entities", "/v1/analyze": "entities", "/v1/stance": "stance"}


class LoadShedMiddleware:
    def __init__(self, app: ASGIApp, batcher: MicroBatcher, metrics: ServerMetrics) -> None:
        self.app = app
        self.batcher = batcher
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = INFERENCE_ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        refused = self.batcher.refusal(kind) if kind is not None else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if valid_client_request_id(given) else uuid.uuid4().hex
        body = json.dumps({"error": {"code": "overloaded", "message": str(refused), "request_id": request_id}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"retry-after", str(refused.retry_after).encode()), (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.requests.labels(scope["path"], "POST", "503").inc()
        log.info("request_id=%s POST %s 503 shed", request_id, scope["path"])
