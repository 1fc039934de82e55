"""POST /v1/analyze: the entities of a text, plus its stance toward optional targets."""
from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import ANALYZE_PATH, v1_router
from kashif.serve.http.routes.inference import answer, entity_dicts, stance_dicts, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import AnalyzeRequest, AnalyzeResponse

router = v1_router()


@router.post(ANALYZE_PATH, response_model=AnalyzeResponse, summary="entities plus stance toward optional targets")
async def analyze(body: AnalyzeRequest, request: Request, state: State) -> JSONResponse:
    """Entities of `text`, and its stance toward each of `targets` (optional).
    Empty text → `{"entities": [], "stance": []}`."""
    targets = list(body.targets or [])
    require_models(state, "ner", *(("stance",) if targets else ()))
    check_texts(state, [body.text], "text", True)
    check_texts(state, targets, "targets", False)
    if not body.text.strip():
        return answer({"entities": [], "stance": []})
    jobs = [entity_dicts(state, [body.text])]
    if targets:
        jobs.append(stance_dicts(state, [(body.text, target) for target in targets]))
    done = await unless_client_leaves(request, asyncio.gather(*jobs))
    stances = done[1] if targets else []
    return answer({"entities": done[0][0], "stance": [{"target": t, **s} for t, s in zip(targets, stances)]})
