"""The open routes: liveness, readiness and the demo page; and /metrics, open or
behind the API keys with --metrics-auth."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from kashif.serve.http.deps import State
from kashif.serve.http.errors import error_response
from kashif.serve.http.routes import DEMO_PAGE_PATH, HEALTH_PATH, METRICS_PATH, READY_PATH
from kashif.serve.http.schemas import ErrorResponse, HealthResponse, ReadyResponse

open_router = APIRouter()


@open_router.get(HEALTH_PATH, response_model=HealthResponse, tags=["operations"], summary="the process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@open_router.get(
    READY_PATH, response_model=ReadyResponse, tags=["operations"], summary="models loaded and warmed up",
    responses={503: {"model": ErrorResponse, "description": "still loading, or loading failed"}},
)
async def readyz(state: State) -> Any:
    if state.load_error:
        return error_response(503, "model_load_failed", f"the models could not be loaded: {state.public_load_error}")
    if not state.ready:
        return error_response(503, "not_ready", "the models are still loading", headers={"Retry-After": "1"})
    return {"status": "ready", "models": state.tasks}


@open_router.get(DEMO_PAGE_PATH, include_in_schema=False)
async def demo_page(state: State) -> Response:
    return FileResponse(state.static_dir / "index.html", media_type="text/html; charset=utf-8")


metrics_router = APIRouter()


@metrics_router.get(
    METRICS_PATH, tags=["operations"], summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}},
)
async def metrics(state: State) -> Response:
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
