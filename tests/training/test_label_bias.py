"""`kashif tune-bias`: a rare label's logit offset, tuned on dev, folded into the classifier."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np

from kashif.model.predictor import Predictor, PredictorConfig
from kashif.training.data import StanceColumns, load_stance
from kashif.training.label_bias import RESULT_FILE, best_offset, tune_bias
from tests.support import FIXTURES

FIX = FIXTURES / "training"
LABELS = ["agree", "disagree", "other"]


def test_best_offset_recovers_an_under_predicted_class():
    # "other" is always second best by 0.5 nats where it is right: +0.75 makes every answer right
    gold = ["agree", "disagree", "other", "other", "agree"]
    log_probs = np.log(np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.2, 0.5, 0.3], [0.8, 0.1, 0.1]]))
    offset, metrics = best_offset(log_probs, gold, LABELS, "other")
    assert 0.5 < offset < 1.5 and metrics["macro_f1"] == 1.0
    offset, _ = best_offset(np.log(np.eye(3)[[0, 1, 2]] * 0.9 + 0.05), LABELS, LABELS, "other")
    assert offset == 0.0  # already right: the smallest offset wins the tie


def test_folded_offset_changes_predictions_as_the_shifted_logits_do(tiny_stance_dir, tmp_path):
    model_dir = tmp_path / "stance"
    shutil.copytree(tiny_stance_dir, model_dir)
    dev = load_stance(FIX / "stance_dev.csv", columns=StanceColumns("s2", "s1", "stance"))
    pairs = list(zip(dev["text"], dev["target"]))
    before = Predictor.from_refs(stance_model=str(model_dir), tasks=("stance",), config=PredictorConfig(precision="fp32")).stance(pairs)
    report = tune_bias(model_dir, dev, "other")
    assert json.loads((model_dir / RESULT_FILE).read_text())["offset"] == report["offset"]
    assert report["dev_after"]["macro_f1"] >= report["dev_before"]["macro_f1"]
    after = Predictor.from_refs(stance_model=str(model_dir), tasks=("stance",), config=PredictorConfig(precision="fp32")).stance(pairs)
    shifted = [max(LABELS, key=lambda x: math.log(r.scores[x]) + (report["offset"] if x == "other" else 0.0)) for r in before]
    assert [r.label for r in after] == shifted
    from transformers import pipeline

    assert pipeline("text-classification", model=str(model_dir), device="cpu")({"text": pairs[0][1], "text_pair": pairs[0][0]})["label"] in LABELS
