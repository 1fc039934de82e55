"""POST /v1/analyze: everything the server's models say about one text: its entities, its label (with a
text-classification model) and its stance toward optional targets."""
from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.serve.http.deps import State, require_any_model, require_models
from kashif.serve.http.routes import ANALYZE_PATH, v1_router
from kashif.serve.http.routes.inference import answer, entity_dicts, stance_dicts, submit, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import AnalyzeRequest, AnalyzeResponse

router = v1_router()


@router.post(ANALYZE_PATH, response_model=AnalyzeResponse, summary="entities, label and stance toward optional targets")
async def analyze(body: AnalyzeRequest, request: Request, state: State) -> JSONResponse:
    """Entities of `text` (with a NER model), its label (`classify`, with a text-classification model), and its
    stance toward each of `targets` (optional). Empty text → `{"entities": [], "stance": []}`."""
    targets = list(body.targets or [])
    require_any_model(state, "ner", "classify")
    require_models(state, *(("stance",) if targets else ()))
    check_texts(state, [body.text], "text", True)
    check_texts(state, targets, "targets", False)
    has_ner = "ner" in state.tasks
    if not body.text.strip():
        return answer({**({"entities": []} if has_ner else {}), "stance": []})
    jobs = {}
    if has_ner:
        jobs["entities"] = entity_dicts(state, [body.text])
    if "classify" in state.tasks:
        jobs["classify"] = submit(state, "classify", [body.text])
    if targets:
        jobs["stance"] = stance_dicts(state, [(body.text, target) for target in targets])
    done = dict(zip(jobs, await unless_client_leaves(request, asyncio.gather(*jobs.values()))))
    out: dict = {}
    if has_ner:
        out["entities"] = done["entities"][0]
    out["stance"] = [{"target": t, **s} for t, s in zip(targets, done.get("stance", []))]
    if "classify" in done:
        out["classify"] = done["classify"][0].to_dict()
    return answer(out)
