"""What the routes get through FastAPI's dependencies: the service's state, and
whether its models can answer yet."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kashif.model.tasks import task_named
from kashif.serve.http.errors import ApiError
from kashif.serve.http.state import ServiceState


# The dependencies are coroutines: FastAPI runs a plain function in its thread pool, a hop per request.
async def get_state(request: Request) -> ServiceState:
    return request.app.state.kashif  # set by create_app


def require_models(state: ServiceState, *tasks: str) -> ServiceState:
    """`state` once its models are loaded and warmed up and include `tasks`; else the 503 or 404 to answer.

    The routes with a body call it themselves rather than through `Depends`: FastAPI runs
    dependencies before it validates the body, and an invalid body is a 422 even while loading."""
    if state.load_error:
        raise ApiError(503, "model_load_failed", f"the models could not be loaded: {state.public_load_error}")
    if not state.ready:
        raise ApiError(503, "not_ready", "the models are still loading; retry shortly", {"Retry-After": "1"})
    for task in tasks:
        if task not in state.tasks:
            raise ApiError(404, "model_not_loaded", f"this server has no {task} model; start it with "
                           f"{task_named(task).model_flag} or a --model bundle holding {task}/")
    return state


def require_any_model(state: ServiceState, *tasks: str) -> ServiceState:
    """As `require_models`, for a route that needs one of `tasks` (at least)."""
    if len(tasks) == 1:
        return require_models(state, *tasks)
    require_models(state)
    if not any(task in state.tasks for task in tasks):
        flags = " or ".join(task_named(task).model_flag for task in tasks)
        raise ApiError(404, "model_not_loaded", f"this server has no {' or '.join(tasks)} model; start it with {flags}")
    return state


State = Annotated[ServiceState, Depends(get_state)]


async def get_ready_state(state: State) -> ServiceState:
    return require_models(state)


ReadyState = Annotated[ServiceState, Depends(get_ready_state)]
