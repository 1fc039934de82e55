"""The route table: every path the service answers, and the `/v1` prefix, defined once.

The routers (`routes.ops`, and one module per /v1 resource, listed in `routes.v1`)
and the middlewares that act by path (API keys, load shedding, metrics labels)
read the paths from here. Of the service's modules it imports only the schemas,
so any of them can import it.
"""
from __future__ import annotations

from fastapi import APIRouter

from kashif.model.tasks import TASKS, task_named
from kashif.serve.http.schemas import ERROR_RESPONSES

V1_PREFIX = "/v1"  # the API; behind the API keys when the server has them

# under V1_PREFIX: one route per task, named by its answer (/entities, /stance, /classify), then the others
TASK_PATHS: dict[str, str] = {t.name: t.route for t in TASKS}
ANALYZE_PATH = "/analyze"
MODELS_PATH = "/models"

# open (operations, demo page, docs)
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"  # open, or behind the API keys with --metrics-auth
DEMO_PAGE_PATH = "/"
STATIC_PATH = "/static"  # the demo page's files
DOCS_PATH = "/docs"
DOCS_ASSETS_PATH = "/docs-assets"  # Swagger UI's files
OPENAPI_PATH = "/openapi.json"

# the inference routes (full paths, POST) → the batcher kind (a task's answer name) they queue first
INFERENCE_ROUTES: dict[str, str] = {
    **{V1_PREFIX + t.route: t.answer for t in TASKS},
    V1_PREFIX + ANALYZE_PATH: task_named("ner").answer,
}


def v1_router() -> APIRouter:
    """The router of one /v1 resource. The prefix is the router's own, not added when the
    app includes it: FastAPI puts the declared route in the request's scope, and the
    metrics label requests with that route's path."""
    return APIRouter(prefix=V1_PREFIX, responses=ERROR_RESPONSES, tags=["inference"])
