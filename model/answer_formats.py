"""Answers in the shapes clients already speak, and the filters that go with them; one module for the commands
(`kashif entities`, `kashif classify`), the server's routes and `kashif.load()`.

Entities:
- `kashif`: `{"entities": [{"text", "label", "start", "end", "score"}]}` (the default).
- `hf`: the Hugging Face Inference API's token-classification answer, a list of
  `{"entity_group", "score", "word", "start", "end"}` with `word == text[start:end]`.
- `displacy`: spaCy's manual render format, `{"text", "ents": [{"start", "end", "label"}], "title": null}`,
  for `displacy.render(answer, style="ent", manual=True)`.

Classifications:
- `kashif`: `{"label", "scores", "truncated"}` (+ `labels` from a multi-label model).
- `hf`: the `text-classification` pipeline's `[{"label", "score"}]`, best first.
"""
from __future__ import annotations

from typing import Any, Collection, Sequence

from kashif.model.types import Classification, Entity

ANSWER_FORMATS: tuple[str, ...] = ("kashif", "hf", "displacy")
CLASSIFY_FORMATS: tuple[str, ...] = ("kashif", "hf")


def filter_entities(entities: Sequence[Entity], labels: Collection[str] | None = None, min_score: float | None = None) -> list[Entity]:
    """Only entities of the given types (all when `labels` is None) scoring at least `min_score`."""
    wanted = set(labels) if labels is not None else None
    return [
        e for e in entities
        if (wanted is None or e.label in wanted) and (min_score is None or e.score >= min_score)
    ]


def shape_entities(text: str, entities: Sequence[Entity], fmt: str = "kashif") -> Any:
    """The answer for one document in format `fmt` (one of ANSWER_FORMATS)."""
    if fmt == "kashif":
        return {"entities": [e.to_dict() for e in entities]}
    if fmt == "hf":
        return [{"entity_group": e.label, "score": e.score, "word": text[e.start : e.end], "start": e.start, "end": e.end} for e in entities]
    if fmt == "displacy":
        return {"text": text, "ents": [{"start": e.start, "end": e.end, "label": e.label} for e in entities], "title": None}
    raise ValueError(f"unknown answer format {fmt!r} (one of {', '.join(ANSWER_FORMATS)})")


def answer_entities(
    text: str,
    entities: Sequence[Entity],
    fmt: str = "kashif",
    labels: Collection[str] | None = None,
    min_score: float | None = None,
) -> Any:
    """Filter, then shape: what `kashif entities` prints and `/v1/entities` answers for one text."""
    return shape_entities(text, filter_entities(entities, labels, min_score), fmt)


def best_scores(scores: dict[str, float], top_k: int | None = None) -> list[tuple[str, float]]:
    """(label, score) pairs, best first; the `top_k` best (all when None)."""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return ranked if top_k is None else ranked[:top_k]


def answer_classification(result: Classification, fmt: str = "kashif", top_k: int | None = None) -> Any:
    """What `kashif classify` prints and `/v1/classify` answers for one text in format `fmt` (one of
    CLASSIFY_FORMATS): every label's score, or the `top_k` best."""
    ranked = best_scores(result.scores, top_k)
    if fmt == "hf":
        return [{"label": label, "score": score} for label, score in ranked]
    if fmt == "kashif":
        return {**result.to_dict(), "scores": dict(ranked)}
    raise ValueError(f"unknown answer format {fmt!r} (one of {', '.join(CLASSIFY_FORMATS)})")
