"""The middleware stack of the app, in its order."""
from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from kashif.serve.http.batching import MicroBatcher
from kashif.serve.http.metrics import ServerMetrics
from kashif.serve.http.middleware.auth import ApiKeyMiddleware
from kashif.serve.http.middleware.body_limit import BodyLimitMiddleware
from kashif.serve.http.middleware.metrics import MetricsMiddleware
from kashif.serve.http.middleware.request_id import RequestIdMiddleware
from kashif.serve.http.middleware.shedding import LoadShedMiddleware
from kashif.serve.http.routes import METRICS_PATH
from kashif.serve.http.settings import ServeSettings


def install_middlewares(app: FastAPI, settings: ServeSettings, metrics: ServerMetrics, batcher: MicroBatcher) -> None:
    """Outermost first, a request meets: request ID and access log, metrics, CORS (with
    --cors-origins), load shedding, API keys, the body limit; then the routes."""
    # add_middleware wraps: the last added runs first
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, also=frozenset({METRICS_PATH} if settings.metrics_auth else ()))
    app.add_middleware(LoadShedMiddleware, batcher=batcher)  # refuses before the body is read
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"], expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
