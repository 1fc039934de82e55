"""The FastAPI application: wiring of settings, predictor, batcher, metrics, middleware and routes."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from kashif.model.errors import first_line
from kashif.model.loading import BUNDLED_DIR, resolve_model_refs
from kashif.model.predictor import Predictor
from kashif.serve.http.batching import MicroBatcher
from kashif.serve.http.disclosure import redact_paths
from kashif.serve.http.inference_process import PredictorProcess, warm_up
from kashif.serve.http.metrics import ServerMetrics
from kashif.serve.http.middleware.request_id import request_id_of
from kashif.serve.http.middleware.stack import install_middlewares
from kashif.serve.http.routes import ApiError, api_error_response, metrics_router, open_router, v1_router
from kashif.serve.http.schemas import document_limits, error_response
from kashif.serve.http.settings import ServeSettings

log = logging.getLogger("kashif.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"

DESCRIPTION = """Arabic named entities and stance.

* Empty text: `/v1/entities` and `/v1/analyze` answer an empty result; `/v1/stance` answers 422 (stance needs a text).
* Limits: a body over `--max-body-bytes`, more than `--max-items` texts/items/targets, or a text longer than
  `--max-chars` characters → 413.
* Errors always have the shape `{"error": {"code": ..., "message": ...}}`.
* With API keys configured, `/v1/*` needs `Authorization: Bearer <key>`; `/healthz`, `/readyz`, `/metrics`
  (unless the server runs with `--metrics-auth`), `/docs` and the demo page stay open.
* Models are shown by name and content hash, never by their path on the server.
"""


@dataclass
class ServiceState:
    settings: ServeSettings
    metrics: ServerMetrics
    batcher: MicroBatcher
    predictor: Predictor | PredictorProcess | None = None
    models: dict[str, dict] = field(default_factory=dict)  # task → the predictor's info(), set once loaded
    ready: bool = False
    load_error: str | None = None
    static_dir: Path = STATIC_DIR
    on_fatal: Callable[[], None] | None = None  # set by the CLI: stop the server when loading fails
    _loader: asyncio.Task | None = field(default=None, repr=False)

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    @property
    def public_load_error(self) -> str | None:
        """The load error as clients see it: without the server's paths (the log keeps them)."""
        if self.load_error is None:
            return None
        s = self.settings
        known = [s.model, s.ner_model, s.stance_model, str(BUNDLED_DIR)]
        with contextlib.suppress(Exception):
            known += resolve_model_refs(s.model, s.ner_model, s.stance_model).values()
        return redact_paths(self.load_error, [k for k in known if k])


async def _load(state: ServiceState, predictor: Predictor | None) -> None:
    """Load (unless given) and warm up the models — in a child process, or with
    `--inference thread` in the inference thread — then report ready."""
    s = state.settings
    try:
        if predictor is None and s.inference == "process":  # the child loads and warms up the models itself
            predictor = await state.batcher.call(
                PredictorProcess, s.model, s.ner_model, s.stance_model, s.predictor, s.warmup, state.metrics.inference_restarts.inc,
            )
        else:
            if predictor is None:
                predictor = await state.batcher.call(Predictor.from_refs, s.model, s.ner_model, s.stance_model, s.predictor)
            if s.warmup:
                await state.batcher.call(warm_up, predictor)
    except Exception as err:  # noqa: BLE001 - any load failure is reported, not raised into the loop
        state.load_error = first_line(err)
        log.error("cannot load the models: %s", state.load_error)
        if state.on_fatal is not None:
            state.on_fatal()
        return
    state.predictor = predictor
    info = state.models = predictor.info()
    if "ner" in info:
        state.batcher.set_runner("entities", predictor.entities)
    if "stance" in info:
        state.batcher.set_runner("stance", predictor.stance)
    state.metrics.set_models(info)
    state.metrics.ready.set(1)
    state.ready = True
    log.info("ready: %s", ", ".join(f"{task} {entry['name']}@{entry['digest']} from {entry['source']}" for task, entry in info.items()))


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ""
        for part in error.get("loc", ()):
            if part == "body":
                continue
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not where:
            if error.get("type") == "missing":
                message = "the request body is missing: send a JSON object"
            elif error.get("type") in ("model_attributes_type", "dict_type", "model_type"):
                message = "the body must be a JSON object"
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return api_error_response(request, err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        rid = request_id_of(request.scope)
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            detail = (bad_json.get("ctx") or {}).get("error", "decode error")
            pos = bad_json.get("loc", ("body", "?"))[-1]
            return error_response(400, "invalid_json", f"the body is not valid JSON: {detail} at position {pos}", request_id=rid)
        content_type = request.headers.get("content-type", "")
        if content_type and "json" not in content_type.split(";")[0].lower():
            return error_response(415, "unsupported_media_type", f"the body must be JSON: send 'Content-Type: application/json', not {content_type!r}", request_id=rid)
        return error_response(422, "invalid_request", _validation_message(errors), request_id=rid)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        rid = request_id_of(request.scope)
        headers = dict(err.headers or {})
        if err.status_code == 404:
            return error_response(404, "not_found", f"no such route: {request.method} {request.url.path} (see /docs)", headers, rid)
        if err.status_code == 405:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}", headers, rid)
        if err.status_code == 413:
            return error_response(413, "payload_too_large", str(err.detail), headers, rid)
        if err.status_code == 400 and isinstance(err.__cause__, UnicodeDecodeError):
            return error_response(400, "invalid_utf8", "the body is not valid UTF-8 text", headers, rid)
        return error_response(err.status_code, f"http_{err.status_code}", str(err.detail), headers, rid)

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("request_id=%s internal error", request_id_of(request.scope))
        return error_response(500, "internal", "internal server error; the log has the details", request_id=request_id_of(request.scope))


def create_app(settings: ServeSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """The Kashif HTTP app. Without `predictor`, the models named in `settings`
    load in the background at startup: /healthz answers at once, /readyz and
    /v1/* answer 503 until the models are loaded and warmed up."""
    settings = settings or ServeSettings()
    metrics = ServerMetrics()
    batcher = MicroBatcher(
        settings.max_batch_units, settings.max_batch_chars, settings.max_wait_ms / 1000, settings.max_queue,
        observer=metrics, max_queue_delay_s=settings.max_queue_delay_s,
    )
    state = ServiceState(settings=settings, metrics=metrics, batcher=batcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        state._loader = asyncio.create_task(_load(state, predictor), name="kashif-load")
        try:
            yield
        finally:
            # uvicorn has already let in-flight requests finish; drain whatever is still queued
            if not state._loader.done():
                state._loader.cancel()
            await batcher.close()
            if isinstance(state.predictor, PredictorProcess):
                await asyncio.to_thread(state.predictor.close)
            log.info("inference stopped")

    app = FastAPI(title="Kashif", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.kashif = state
    generate_openapi = app.openapi

    def openapi_with_limits() -> dict:
        if app.openapi_schema is None:
            document_limits(generate_openapi(), settings.max_items, settings.max_chars)
        return app.openapi_schema

    app.openapi = openapi_with_limits  # type: ignore[method-assign]
    _install_error_handlers(app)
    app.include_router(open_router)
    # The bearer scheme only documents the keys in OpenAPI; ApiKeyMiddleware enforces them.
    auth = [Security(HTTPBearer(auto_error=False))] if settings.api_keys else []
    app.include_router(metrics_router, dependencies=auth if settings.metrics_auth else [])
    app.include_router(v1_router, dependencies=auth)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _mount_offline_docs(app)

    install_middlewares(app, settings, metrics, batcher)
    return app


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the packaged swagger-ui-bundle files: FastAPI's
    default page loads them from a CDN, which a machine without internet cannot reach."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Kashif API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
