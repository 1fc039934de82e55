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
class Classification:
    """The label of a text, with the model's own label set and a score per label.

    `truncated` is true when the text did not fit the model's window and its tail was cut. A multi-label model
    (sigmoid scores, `problem_type: multi_label_classification`) also gives `labels`: every label scoring at least
    the threshold, best first; `label` is the best-scoring one either way.
    """

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    labels: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        out = {"label": self.label, "scores": dict(self.scores), "truncated": self.truncated}
        if self.labels is not None:
            out["labels"] = list(self.labels)
        return out


@dataclass(frozen=True)
class StanceResult(Classification):
    """Stance of a text toward a target; the target is never cut, only the text."""
