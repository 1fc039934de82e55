"""GET /v1/models: the loaded models, by name and content hash."""
from __future__ import annotations

from kashif.serve.http.deps import ReadyState
from kashif.serve.http.disclosure import model_entry
from kashif.serve.http.routes import MODELS_PATH, v1_router
from kashif.serve.http.schemas import ModelsResponse

router = v1_router()


@router.get(MODELS_PATH, response_model=ModelsResponse, response_model_exclude_unset=True, summary="the loaded models")
async def models(state: ReadyState) -> dict:
    return {"models": [model_entry(info, state.settings.expose_model_paths) for info in state.models.values()]}
