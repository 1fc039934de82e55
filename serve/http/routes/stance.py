"""POST /v1/stance: the stance of texts toward targets."""
from __future__ import annotations

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import TASK_PATHS, v1_router
from kashif.serve.http.routes.inference import answer, stance_dicts, unless_client_leaves
from kashif.serve.http.routes.limits import check_count, check_length
from kashif.serve.http.schemas import StanceBatchResponse, StanceOut, StanceRequest

router = v1_router()


@router.post(TASK_PATHS["stance"], response_model=StanceOut | StanceBatchResponse, summary="stance of texts toward targets")
async def stance(body: StanceRequest, request: Request, state: State) -> JSONResponse:
    """`{"text", "target"}` → `{"label", "scores", "truncated"}`; `{"items": [...]}` → `{"results": [...]}`
    in input order. An empty text ("") is a 422: stance needs a text."""
    require_models(state, "stance")
    single = body.text is not None
    pairs = [(body.text, body.target)] if single else [(item.text, item.target) for item in body.items or []]
    check_count(state, len(pairs), "items")
    for i, (text, target) in enumerate(pairs):
        prefix = "" if single else f"items[{i}]."
        check_length(state, text, prefix + "text")
        check_length(state, target or "", prefix + "target")
    results = await unless_client_leaves(request, stance_dicts(state, pairs))
    return answer(results[0] if single else {"results": results})
