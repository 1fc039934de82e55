"""HTTP endpoints. Inference always goes through the app's micro-batcher,
which calls the one shared `Predictor`."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Sequence, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, JSONResponse, Response

from kashif.model.answer_formats import answer_entities
from kashif.serve.http.batching import BatcherClosed, QueueFull
from kashif.serve.http.deps import ReadyState, State, require_models
from kashif.serve.http.disclosure import model_entry
from kashif.serve.http.errors import ApiError, error_response
from kashif.serve.http.schemas import (
    ENTITIES_ANSWERS,
    ERROR_RESPONSES,
    AnalyzeRequest,
    AnalyzeResponse,
    EntitiesRequest,
    ErrorResponse,
    HealthResponse,
    ModelsResponse,
    ReadyResponse,
    StanceBatchResponse,
    StanceOut,
    StanceRequest,
)
from kashif.serve.http.state import ServiceState

T = TypeVar("T")


def _check_count(state: ServiceState, count: int, name: str) -> None:
    limit = state.settings.max_items
    if count > limit:
        raise ApiError(413, "too_many_items", f"{count} {name} in one request; the limit is {limit} (--max-items)")


def _check_length(state: ServiceState, text: str, where: str) -> None:
    limit = state.settings.max_chars
    if len(text) > limit:
        raise ApiError(413, "text_too_long", f"{where} has {len(text)} characters; the limit is {limit} (--max-chars)")


def _check_texts(state: ServiceState, texts: Sequence[str], name: str, single: bool) -> None:
    _check_count(state, len(texts), name)
    for i, text in enumerate(texts):
        _check_length(state, text, name if single else f"{name}[{i}]")


async def _submit(state: ServiceState, kind: str, items: list[Any]) -> list[Any]:
    try:
        return await state.batcher.submit(kind, items, timeout=state.settings.request_timeout_s)
    except QueueFull as err:
        raise ApiError(503, "overloaded", str(err), {"Retry-After": str(err.retry_after)}) from None
    except BatcherClosed:
        raise ApiError(503, "shutting_down", "the server is shutting down; retry on another instance", {"Retry-After": "1"}) from None
    except TimeoutError:
        raise ApiError(504, "timeout", f"no result within {state.settings.request_timeout_s:g} s (--request-timeout)") from None


async def _until_disconnect(request: Request) -> None:
    # Once the body is read, the next ASGI message is the client going away.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work`; if the client disconnects first, cancel it, so its queued
    jobs leave the queue instead of being computed for nobody."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise ApiError(499, "client_closed_request", "the client disconnected before the answer was ready")


async def _found_entities(state: ServiceState, texts: list[str]) -> list[list[Any]]:
    """The model's entities (`model.types.Entity`) of each text, in order.
    Empty or blank text has no entities; it never reaches the model."""
    results: list[list[Any]] = [[] for _ in texts]
    nonblank = [i for i, text in enumerate(texts) if text.strip()]
    if nonblank:
        found = await _submit(state, "entities", [texts[i] for i in nonblank])
        for i, entities in zip(nonblank, found):
            results[i] = list(entities)
    return results


async def _entities(state: ServiceState, texts: list[str]) -> list[list[dict]]:
    return [[entity.to_dict() for entity in entities] for entities in await _found_entities(state, texts)]


async def _stance(state: ServiceState, pairs: list[tuple[str, str | None]]) -> list[dict]:
    return [result.to_dict() for result in await _submit(state, "stance", pairs)]


# ---- open routes ------------------------------------------------------------
open_router = APIRouter()


@open_router.get("/healthz", response_model=HealthResponse, tags=["operations"], summary="the process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@open_router.get(
    "/readyz", response_model=ReadyResponse, tags=["operations"], summary="models loaded and warmed up",
    responses={503: {"model": ErrorResponse, "description": "still loading, or loading failed"}},
)
async def readyz(state: State) -> Any:
    if state.load_error:
        return error_response(503, "model_load_failed", f"the models could not be loaded: {state.public_load_error}")
    if not state.ready:
        return error_response(503, "not_ready", "the models are still loading", headers={"Retry-After": "1"})
    return {"status": "ready", "models": state.tasks}


metrics_router = APIRouter()  # open, or behind the API keys with --metrics-auth


@metrics_router.get(
    "/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}},
)
async def metrics(state: State) -> Response:
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)


@open_router.get("/", include_in_schema=False)
async def demo_page(state: State) -> Response:
    return FileResponse(state.static_dir / "index.html", media_type="text/html; charset=utf-8")


# ---- /v1 (API keys apply here) ----------------------------------------------
def _answer(payload: dict) -> JSONResponse:
    """The inference routes return a response object: FastAPI would otherwise validate
    and re-encode each answer against the route's response model (a union), about a
    quarter of the event loop's time per request. The models still document the
    answers in OpenAPI, and the schemathesis tests check the answers against them."""
    return JSONResponse(payload)


v1_router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["inference"])


@v1_router.post("/entities", response_model=ENTITIES_ANSWERS, summary="named entities of one or several texts")
async def entities(body: EntitiesRequest, request: Request, state: State) -> JSONResponse:
    """`{"text": ...}` → `{"entities": [...]}`; `{"texts": [...]}` → `{"results": [{"entities": [...]}, ...]}`
    in input order. `text[start:end] == entity.text` always; empty text → no entities.

    `"format": "hf"` answers a text with `[{"entity_group", "score", "word", "start", "end"}]` (the Hugging Face
    Inference API's shape), `"format": "displacy"` with `{"text", "ents": [{"start", "end", "label"}], "title": null}`
    (spaCy's manual render format); `texts` are answered as `{"results": [...]}` of those. `labels` keeps only
    those entity types, `min_score` only entities scoring at least that."""
    require_models(state, "ner")
    single = body.text is not None
    texts = [body.text] if single else list(body.texts or [])
    _check_texts(state, texts, "text" if single else "texts", single)
    if body.labels is not None:
        _check_count(state, len(body.labels), "labels")
    found = await _unless_client_leaves(request, _found_entities(state, texts))
    answers = [answer_entities(text, ents, body.format, body.labels, body.min_score) for text, ents in zip(texts, found)]
    return _answer(answers[0] if single else {"results": answers})


@v1_router.post("/stance", response_model=StanceOut | StanceBatchResponse, summary="stance of texts toward targets")
async def stance(body: StanceRequest, request: Request, state: State) -> JSONResponse:
    """`{"text", "target"}` → `{"label", "scores", "truncated"}`; `{"items": [...]}` → `{"results": [...]}`
    in input order. An empty text ("") is a 422: stance needs a text."""
    require_models(state, "stance")
    single = body.text is not None
    pairs = [(body.text, body.target)] if single else [(item.text, item.target) for item in body.items or []]
    _check_count(state, len(pairs), "items")
    for i, (text, target) in enumerate(pairs):
        prefix = "" if single else f"items[{i}]."
        _check_length(state, text, prefix + "text")
        _check_length(state, target or "", prefix + "target")
    results = await _unless_client_leaves(request, _stance(state, pairs))
    return _answer(results[0] if single else {"results": results})


@v1_router.post("/analyze", response_model=AnalyzeResponse, summary="entities plus stance toward optional targets")
async def analyze(body: AnalyzeRequest, request: Request, state: State) -> JSONResponse:
    """Entities of `text`, and its stance toward each of `targets` (optional).
    Empty text → `{"entities": [], "stance": []}`."""
    targets = list(body.targets or [])
    require_models(state, "ner", *(("stance",) if targets else ()))
    _check_texts(state, [body.text], "text", True)
    _check_texts(state, targets, "targets", False)
    if not body.text.strip():
        return _answer({"entities": [], "stance": []})
    jobs = [_entities(state, [body.text])]
    if targets:
        jobs.append(_stance(state, [(body.text, target) for target in targets]))
    done = await _unless_client_leaves(request, asyncio.gather(*jobs))
    stances = done[1] if targets else []
    return _answer({"entities": done[0][0], "stance": [{"target": t, **s} for t, s in zip(targets, stances)]})


@v1_router.get("/models", response_model=ModelsResponse, response_model_exclude_unset=True, summary="the loaded models")
async def models(state: ReadyState) -> dict:
    return {"models": [model_entry(info, state.settings.expose_model_paths) for info in state.models.values()]}

