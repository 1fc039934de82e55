"""Small value objects returned by the predictor."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entity:
    """A named entity; `text == document[start:end]` always holds."""

    text: str
    label: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end, "score": self.score}


@dataclass(frozen=True)
class StanceResult:
    """Stance of a text toward a target, with the model's own label set.

    `truncated` is true when the text did not fit the model's window and its
    tail was cut (the target is never cut).
    """

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"label": self.label, "scores": dict(self.scores), "truncated": self.truncated}
