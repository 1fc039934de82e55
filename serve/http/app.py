"""The FastAPI application, assembled: state, routes, error handlers, middlewares, static files and docs."""
from __future__ import annotations

from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles

from kashif.model.predictor import Predictor
from kashif.serve.http.errors import install_error_handlers
from kashif.serve.http.middleware.stack import install_middlewares
from kashif.serve.http.routes import DOCS_ASSETS_PATH, DOCS_PATH, OPENAPI_PATH, STATIC_PATH
from kashif.serve.http.routes.ops import metrics_router, open_router
from kashif.serve.http.routes.v1 import V1_ROUTERS
from kashif.serve.http.schemas import document_limits
from kashif.serve.http.settings import ServeSettings
from kashif.serve.http.state import STATIC_DIR, new_state, running

DESCRIPTION = """Arabic named entities, stance and text classification.

* Empty text: `/v1/entities` and `/v1/analyze` answer an empty result; `/v1/stance` and `/v1/classify` answer 422
  (they need a text).
* Limits: a body over `--max-body-bytes`, more than `--max-items` texts/items/targets, or a text longer than
  `--max-chars` characters → 413.
* Errors always have the shape `{"error": {"code": ..., "message": ...}}`.
* With API keys configured, `/v1/*` needs `Authorization: Bearer <key>`; `/healthz`, `/readyz`, `/metrics`
  (unless the server runs with `--metrics-auth`), `/docs` and the demo page stay open.
* Models are shown by name and content hash, never by their path on the server.
"""


def create_app(settings: ServeSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """The Kashif HTTP app. Without `predictor`, the models named in `settings`
    load in the background at startup: /healthz answers at once, /readyz and
    /v1/* answer 503 until the models are loaded and warmed up."""
    settings = settings or ServeSettings.from_env()
    state = new_state(settings)
    app = FastAPI(
        title="Kashif", version="0.1.0", description=DESCRIPTION, lifespan=lambda app: running(state, predictor),
        openapi_url=OPENAPI_PATH, docs_url=None, redoc_url=None,
    )
    app.state.kashif = state  # read by deps.get_state
    generate_openapi = app.openapi

    def openapi_with_limits() -> dict:
        if app.openapi_schema is None:
            document_limits(generate_openapi(), settings.max_items, settings.max_chars)
        return app.openapi_schema

    app.openapi = openapi_with_limits  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(open_router)
    # The bearer scheme only documents the keys in OpenAPI; ApiKeyMiddleware enforces them.
    auth = [Security(HTTPBearer(auto_error=False))] if settings.api_keys else []
    app.include_router(metrics_router, dependencies=auth if settings.metrics_auth else [])
    for router in V1_ROUTERS:
        app.include_router(router, dependencies=auth)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    _mount_offline_docs(app)
    install_middlewares(app, settings, state.metrics, state.batcher)
    return app


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the packaged swagger-ui-bundle files: FastAPI's
    default page loads them from a CDN, which a machine without internet cannot reach."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH, title="Kashif API",
            swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon-32x32.png",
        )
