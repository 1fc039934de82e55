"""Inference on a request's behalf. It always goes through the app's micro-batcher,
which calls the one shared `Predictor`; a client that leaves takes its jobs with it."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, TypeVar

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.model.tasks import task_named
from kashif.serve.http.batching import BatcherClosed, QueueFull
from kashif.serve.http.errors import ApiError
from kashif.serve.http.state import ServiceState

T = TypeVar("T")


async def submit(state: ServiceState, task: str, items: list[Any]) -> list[Any]:
    """`task`'s answers for `items`, through the batcher (whose kinds are the tasks' answer names)."""
    try:
        return await state.batcher.submit(task_named(task).answer, items, timeout=state.settings.request_timeout_s)
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


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
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


async def found_entities(state: ServiceState, texts: list[str]) -> list[list[Any]]:
    """The model's entities (`model.types.Entity`) of each text, in order.
    Empty or blank text has no entities; it never reaches the model."""
    results: list[list[Any]] = [[] for _ in texts]
    nonblank = [i for i, text in enumerate(texts) if text.strip()]
    if nonblank:
        found = await submit(state, "ner", [texts[i] for i in nonblank])
        for i, entities in zip(nonblank, found):
            results[i] = list(entities)
    return results


def answer(payload: dict | list) -> JSONResponse:
    """The inference routes return a response object: FastAPI would otherwise validate
    and re-encode each answer against the route's response model (a union), about a
    quarter of the event loop's time per request. The models still document the
    answers in OpenAPI, and the schemathesis tests check the answers against them."""
    return JSONResponse(payload)
