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
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from kashif.model.errors import KashifError
from kashif.training.metrics import POLAR_LABELS, stance_metrics

if TYPE_CHECKING:
    from kashif.training.data import StanceColumns

OFFSETS = tuple(round(x, 2) for x in np.arange(-2.0, 6.01, 0.25))
OBJECTIVE = "dev macro-F1"
OBJECTIVE_WITH_TOPICS = "mean of dev macro-F1 and topic-dev F1(agree, disagree) averaged over topics"
RESULT_FILE = "label_bias.json"


class BiasError(KashifError, ValueError):
    """The model has no such label, or no classifier bias to fold the offset into."""


def shifted_labels(log_probs: np.ndarray, labels: Sequence[str], label: str, offset: float) -> list[str]:
    """The argmax labels once `offset` is added to `label`'s log-probability."""
    shifted = log_probs.copy()
    shifted[:, list(labels).index(label)] += offset
    return [labels[i] for i in shifted.argmax(axis=1)]


def best_offset(score: Callable[[float], float], offsets: Sequence[float] = OFFSETS) -> float:
    """The offset with the highest score (ties: the smallest |offset|)."""
    best: tuple[float, float] | None = None
    for offset in sorted(offsets, key=abs):
        value = score(offset)
        if best is None or value > best[1] + 1e-12:
            best = (offset, value)
    assert best is not None
    return best[0]


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


def tune_bias(model_dir: Path, dev, label: str, topic_dev=None) -> dict:
    """Score `dev` (a stance Dataset with text/target/label) once, pick the offset, fold it in.

    With `topic_dev` (stance toward topics), the objective is the mean of `dev`'s macro-F1 and
    `topic_dev`'s F1 of agree and disagree averaged over its topics (StanceEval's score), each
    counting once whatever its size: a topic's `no stance` tweets then do not pull the offset
    away from what claims and the two sides need."""
    from kashif.model.predictor import Predictor, PredictorConfig

    # fp32: the scores do not depend on how dev pairs are batched
    predictor = Predictor.from_refs(stance_model=str(model_dir), tasks=("stance",), config=PredictorConfig(precision="fp32"))
    labels = predictor.labels("stance")
    if label not in labels:
        raise BiasError(f"{model_dir}: no label {label!r} (labels: {', '.join(labels)})")
    if topic_dev is not None and not set(POLAR_LABELS) <= set(labels):
        raise BiasError(f"{model_dir}: a topic dev is scored by F1 of {' and '.join(POLAR_LABELS)}, "
                        f"which the model's labels ({', '.join(labels)}) lack")
    parts = {"dev": dev} if topic_dev is None else {"dev": dev, "topic_dev": topic_dev}
    probs = {name: log_probs(predictor, data, labels) for name, data in parts.items()}
    # every offset of the grid scored once (0.0, the model as it is, among them)
    scored = {offset: {name: stance_metrics(data["label"], shifted_labels(probs[name], labels, label, offset), labels,
                                            targets=data["target"] if name == "topic_dev" else None)
                       for name, data in parts.items()}
              for offset in OFFSETS}
    offset = best_offset(lambda o: objective(scored[o]))
    if offset:
        fold_offset(model_dir, label, offset)
    before, after = scored[0.0], scored[offset]
    report = {"label": label, "offset": offset,
              "objective": OBJECTIVE_WITH_TOPICS if topic_dev is not None else OBJECTIVE,
              "objective_before": objective(before), "objective_after": objective(after)}
    for name in parts:
        report[f"{name}_before"], report[f"{name}_after"] = _scores(before[name]), _scores(after[name])
    (Path(model_dir) / RESULT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def objective(metrics: dict[str, dict]) -> float:
    """What the offset maximises: dev macro-F1, or with a topic dev its mean with `topic_score`."""
    if "topic_dev" not in metrics:
        return metrics["dev"]["macro_f1"]
    return (metrics["dev"]["macro_f1"] + topic_score(metrics["topic_dev"])) / 2


def topic_score(metrics: dict) -> float:
    """StanceEval's score: F1 of agree and disagree, averaged over topics (over all pairs past 20 distinct targets)."""
    return metrics.get("f1_agree_disagree_by_target", metrics["f1_agree_disagree"])


def log_probs(predictor, data, labels: Sequence[str]) -> np.ndarray:
    """Log-probabilities of `labels` for each (text, target) of a stance Dataset, one row per pair."""
    results = predictor.stance(list(zip(data["text"], data["target"])))
    return np.array([[math.log(max(r.scores[x], 1e-12)) for x in labels] for r in results])


def _scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "confusion"}


def tune_bias_on_file(model_dir: str | Path, dev_path: str, label: str, columns: "StanceColumns | None" = None,
                      topic_dev_path: str | None = None) -> dict:
    """`kashif tune-bias`: read the stance dev file(s) (`columns`: a training.data.StanceColumns, or found by name),
    then `tune_bias`; the report."""
    from kashif.training.data import load_stance

    topic_dev = load_stance(topic_dev_path, columns=columns) if topic_dev_path else None
    return tune_bias(Path(model_dir), load_stance(dev_path, columns=columns), label, topic_dev)
