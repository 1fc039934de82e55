"""POST /v1/analyze: everything the server's models say about one text: each single-text task's answer (entities,
classify) and each pair task's answer toward the optional targets (stance)."""
from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.model.tasks import PAIR, TASKS, TOKEN
from kashif.serve.http.deps import State, require_any_model
from kashif.serve.http.routes import ANALYZE_PATH, v1_router
from kashif.serve.http.routes.inference import answer, submit, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import AnalyzeRequest, AnalyzeResponse

router = v1_router()
TEXT_TASKS = tuple(t for t in TASKS if t.inputs != PAIR)
PAIR_TASKS = tuple(t for t in TASKS if t.inputs == PAIR)


@router.post(ANALYZE_PATH, response_model=AnalyzeResponse, summary="entities, label and stance toward optional targets")
async def analyze(body: AnalyzeRequest, request: Request, state: State) -> JSONResponse:
    """Entities of `text` (with a NER model), its label (`classify`, with a text-classification model), and its
    stance toward each of `targets` (optional; always a list). Empty text → `{"entities": [], "stance": []}`."""
    targets = list(body.targets or [])
    require_any_model(state, *(t.name for t in TEXT_TASKS))
    if targets:
        require_any_model(state, *(t.name for t in PAIR_TASKS))
    check_texts(state, [body.text], "text", True)
    check_texts(state, targets, "targets", False)
    text_tasks = [t for t in TEXT_TASKS if t.name in state.tasks]
    pair_tasks = [t for t in PAIR_TASKS if t.name in state.tasks and targets]
    if not body.text.strip():  # no entities in no text; a label or a stance needs a text
        return answer({**{t.answer: [] for t in text_tasks if t.head == TOKEN}, **{t.answer: [] for t in PAIR_TASKS}})
    jobs = [submit(state, t.name, [body.text]) for t in text_tasks]
    jobs += [submit(state, t.name, [(body.text, target) for target in targets]) for t in pair_tasks]
    done = dict(zip([*text_tasks, *pair_tasks], await unless_client_leaves(request, asyncio.gather(*jobs))))
    out: dict = {}
    for task in text_tasks:
        found = done[task][0]
        out[task.answer] = [e.to_dict() for e in found] if task.head == TOKEN else found.to_dict()
    for task in PAIR_TASKS:
        out[task.answer] = [{"target": t, **r.to_dict()} for t, r in zip(targets, done.get(task, []))]
    return answer(out)
