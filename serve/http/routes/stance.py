"""POST /v1/stance (and the route of any other pair task of the registry): the label of texts toward targets."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from kashif.model.tasks import PAIR, SEQUENCE, TASKS, Task
from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import TASK_PATHS, v1_router
from kashif.serve.http.routes.inference import answer, submit, unless_client_leaves
from kashif.serve.http.routes.limits import check_count, check_length
from kashif.serve.http.schemas import StanceBatchResponse, StanceOut, StanceRequest


def pair_classification_router(task: Task) -> APIRouter:
    """The route of one (text, target) sequence task, at its path (`/v1/stance`)."""
    router = v1_router()

    async def classify_pairs(body: StanceRequest, request: Request, state: State) -> JSONResponse:
        require_models(state, task.name)
        single = body.text is not None
        pairs = [(body.text, body.target)] if single else [(item.text, item.target) for item in body.items or []]
        check_count(state, len(pairs), "items")
        for i, (text, target) in enumerate(pairs):
            prefix = "" if single else f"items[{i}]."
            check_length(state, text, prefix + "text")
            check_length(state, target or "", prefix + "target")
        results = await unless_client_leaves(request, submit(state, task.name, pairs))
        answers = [result.to_dict() for result in results]
        return answer(answers[0] if single else {"results": answers})

    classify_pairs.__doc__ = f"""{task.description}: `{{"text", "target"}}` → `{{"label", "scores", "truncated"}}`;
    `{{"items": [...]}}` → `{{"results": [...]}}` in input order. An empty text ("") is a 422: it needs a text."""
    router.add_api_route(TASK_PATHS[task.name], classify_pairs, methods=["POST"], response_model=StanceOut | StanceBatchResponse,
                         summary=f"{task.description} of texts toward targets", name=task.answer)
    return router


ROUTERS = tuple(pair_classification_router(t) for t in TASKS if t.head == SEQUENCE and t.inputs == PAIR)
