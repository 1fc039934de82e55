"""POST /v1/classify (and the route of any other single-text sequence task of the registry): the label of one or
several texts, from any single-text sequence classifier (sentiment, dialect, topic)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from kashif.model.answer_formats import answer_classification
from kashif.model.tasks import SEQUENCE, TASKS, TEXT, Task
from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import TASK_PATHS, v1_router
from kashif.serve.http.routes.inference import answer, submit, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import CLASSIFY_ANSWERS, ClassifyRequest


def text_classification_router(task: Task) -> APIRouter:
    """The route of one single-text sequence task, at its path (`/v1/classify`)."""
    router = v1_router()

    async def classify(body: ClassifyRequest, request: Request, state: State) -> JSONResponse:
        require_models(state, task.name)
        single = body.text is not None
        texts = [body.text] if single else list(body.texts or [])
        check_texts(state, texts, "text" if single else "texts", single)
        results = await unless_client_leaves(request, submit(state, task.name, texts)) if texts else []
        answers = [answer_classification(result, body.format, body.top_k) for result in results]
        return answer(answers[0] if single else {"results": answers})

    classify.__doc__ = f"""{task.description}: `{{"text": ...}}` → `{{"label", "scores", "truncated"}}` (+ `labels` from a
    multi-label model); `{{"texts": [...]}}` → `{{"results": [...]}}` in input order. `"format": "hf"` answers a text as
    the `text-classification` pipeline does, `[{{"label", "score"}}]` best first; `top_k` keeps the K best labels'
    scores. An empty text is a 422."""
    router.add_api_route(TASK_PATHS[task.name], classify, methods=["POST"], response_model=CLASSIFY_ANSWERS,
                         summary="the label of one or several texts", name=task.answer)
    return router


ROUTERS = tuple(text_classification_router(t) for t in TASKS if t.head == SEQUENCE and t.inputs == TEXT)
