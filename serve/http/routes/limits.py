"""The per-request limits the inference routes enforce with a 413: --max-items and --max-chars."""
from __future__ import annotations

from typing import Sequence

from kashif.serve.http.errors import ApiError
from kashif.serve.http.state import ServiceState


def check_count(state: ServiceState, count: int, name: str) -> None:
    limit = state.settings.max_items
    if count > limit:
        raise ApiError(413, "too_many_items", f"{count} {name} in one request; the limit is {limit} (--max-items)")


def check_length(state: ServiceState, text: str, where: str) -> None:
    limit = state.settings.max_chars
    if len(text) > limit:
        raise ApiError(413, "text_too_long", f"{where} has {len(text)} characters; the limit is {limit} (--max-chars)")


def check_texts(state: ServiceState, texts: Sequence[str], name: str, single: bool) -> None:
    check_count(state, len(texts), name)
    for i, text in enumerate(texts):
        check_length(state, text, name if single else f"{name}[{i}]")
