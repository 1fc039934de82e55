"""`kashif tune-bias`: tune one label's logit offset on dev and fold it into the classifier.

A rare class (ANS `other` is 2 % of each split) can stay under-predicted even
with class weights. Adding an offset b to that label's logit moves the decision
threshold; the best b on dev macro-F1 is added to `classifier.bias`, so the
directory stays a plain `transformers` model that `pipeline(...)` reads as is.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from kashif.model.errors import KashifError
from kashif.training.metrics import stance_metrics

if TYPE_CHECKING:
    from kashif.training.data import StanceColumns

OFFSETS = tuple(round(x, 2) for x in np.arange(-2.0, 6.01, 0.25))
RESULT_FILE = "label_bias.json"


class BiasError(KashifError, ValueError):
    """The model has no such label, or no classifier bias to fold the offset into."""


def best_offset(log_probs: np.ndarray, gold: Sequence[str], labels: Sequence[str], label: str,
                offsets: Sequence[float] = OFFSETS) -> tuple[float, dict]:
    """The offset with the best macro-F1 (ties: the smallest |offset|), and its metrics."""
    column = list(labels).index(label)
    best: tuple[float, float, dict] | None = None
    for offset in sorted(offsets, key=abs):
        shifted = log_probs.copy()
        shifted[:, column] += offset
        predicted = [labels[i] for i in shifted.argmax(axis=1)]
        metrics = stance_metrics(list(gold), predicted, list(labels))
        if best is None or metrics["macro_f1"] > best[1] + 1e-12:
            best = (offset, metrics["macro_f1"], metrics)
    assert best is not None
    return best[0], best[2]


def fold_offset(model_dir: Path, label: str, offset: float) -> None:
    """Add `offset` to the classifier bias of `label` and save the model in place."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    if label not in model.config.label2id:
        raise BiasError(f"{model_dir}: no label {label!r} (labels: {', '.join(model.config.label2id)})")
    head = getattr(model, "classifier", None)
    bias = getattr(getattr(head, "out_proj", head), "bias", None)  # BERT: a Linear; RoBERTa: .out_proj
    if bias is None:
        raise BiasError(f"{model_dir}: the classifier has no bias to fold the offset into")
    with torch.no_grad():
        bias[model.config.label2id[label]] += offset
    model.save_pretrained(model_dir)


def tune_bias(model_dir: Path, dev, label: str) -> dict:
    """Score `dev` (a stance Dataset with text/target/label) once, pick the offset, fold it in."""
    from kashif.model.predictor import Predictor, PredictorConfig

    # fp32: the scores do not depend on how dev pairs are batched
    predictor = Predictor.from_refs(stance_model=str(model_dir), tasks=("stance",), config=PredictorConfig(precision="fp32"))
    labels = predictor.labels("stance")
    if label not in labels:
        raise BiasError(f"{model_dir}: no label {label!r} (labels: {', '.join(labels)})")
    results = predictor.stance(list(zip(dev["text"], dev["target"])))
    log_probs = np.array([[math.log(max(r.scores[x], 1e-12)) for x in labels] for r in results])
    _, before = best_offset(log_probs, dev["label"], labels, label, offsets=(0.0,))  # the same (rounded) scores, no offset
    offset, after = best_offset(log_probs, dev["label"], labels, label)
    if offset:
        fold_offset(model_dir, label, offset)
    report = {"label": label, "offset": offset, "dev_before": _scores(before), "dev_after": _scores(after)}
    (Path(model_dir) / RESULT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "confusion"}


def tune_bias_on_file(model_dir: str | Path, dev_path: str, label: str, columns: "StanceColumns | None" = None) -> dict:
    """`kashif tune-bias`: read the stance dev file (`columns`: a training.data.StanceColumns, or found by name),
    then `tune_bias`; the report."""
    from kashif.training.data import load_stance

    return tune_bias(Path(model_dir), load_stance(dev_path, columns=columns), label)
