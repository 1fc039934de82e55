"""The /v1 API: one router per resource, in the order the docs list them (API keys apply here)."""
from __future__ import annotations

from kashif.serve.http.routes import analyze, classify, entities, models, stance

V1_ROUTERS = (entities.router, *stance.ROUTERS, *classify.ROUTERS, analyze.router, models.router)
