"""POST /v1/entities: named entities of one or several texts."""
from __future__ import annotations

from fastapi import Request
from starlette.responses import JSONResponse

from kashif.model.answer_formats import answer_entities
from kashif.serve.http.deps import State, require_models
from kashif.serve.http.routes import TASK_PATHS, v1_router
from kashif.serve.http.routes.inference import answer, found_entities, unless_client_leaves
from kashif.serve.http.routes.limits import check_texts
from kashif.serve.http.schemas import ENTITIES_ANSWERS, EntitiesRequest

router = v1_router()


@router.post(TASK_PATHS["ner"], response_model=ENTITIES_ANSWERS, summary="named entities of one or several texts")
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
    check_texts(state, texts, "text" if single else "texts", single)
    if body.labels is not None:
        check_texts(state, body.labels, "labels", single=False)  # the schema documents both limits for labels too
    found = await unless_client_leaves(request, found_entities(state, texts))
    answers = [answer_entities(text, ents, body.format, body.labels, body.min_score) for text, ents in zip(texts, found)]
    return answer(answers[0] if single else {"results": answers})
