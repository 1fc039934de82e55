"""POST /v1/classify: the label of one or several texts (any single-text sequence classifier: sentiment, dialect,
topic)."""
from __future__ import annotations

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.model.answer_formats import answer_classification
from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import TASK_PATHS, v1_router
from kashif.serve.http.routes.inference import answer, submit, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import CLASSIFY_ANSWERS, ClassifyRequest

router = v1_router()


@router.post(TASK_PATHS["classify"], response_model=CLASSIFY_ANSWERS, summary="the label of one or several texts")
async def classify(body: ClassifyRequest, request: Request, state: State) -> JSONResponse:
    """`{"text": ...}` → `{"label", "scores", "truncated"}` (+ `labels` from a multi-label model); `{"texts": [...]}`
    → `{"results": [...]}` in input order. `"format": "hf"` answers a text as the `text-classification` pipeline
    does, `[{"label", "score"}]` best first; `top_k` keeps the K best labels' scores. An empty text is a 422."""
    require_models(state, "classify")
    single = body.text is not None
    texts = [body.text] if single else list(body.texts or [])
    check_texts(state, texts, "text" if single else "texts", single)
    results = await unless_client_leaves(request, submit(state, "classify", texts)) if texts else []
    answers = [answer_classification(result, body.format, body.top_k) for result in results]
    return answer(answers[0] if single else {"results": answers})
