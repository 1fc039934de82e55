"""`kashif tune-bias`: a rare label's logit offset, tuned on dev, folded into the classifier."""
from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np

from kashif.cli import main
from kashif.model.predictor import Predictor, PredictorConfig
from kashif.training.data import StanceColumns, load_stance
from kashif.training.label_bias import OFFSETS, RESULT_FILE, best_offset, shifted_labels, topic_score, tune_bias
from kashif.training.metrics import stance_metrics
from kashif.training.stance_maps import parse_label_map, parse_target_map
from tests.support import FIXTURES

FIX = FIXTURES / "training"
LABELS = ["agree", "disagree", "other"]


def test_best_offset_recovers_an_under_predicted_class():
    # "other" is always second best by 0.5 nats where it is right: +0.75 makes every answer right
    gold = ["agree", "disagree", "other", "other", "agree"]
    log_probs = np.log(np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.2, 0.5, 0.3], [0.8, 0.1, 0.1]]))
    def macro_f1(log_probs, gold):
        return lambda offset: stance_metrics(gold, shifted_labels(log_probs, LABELS, "other", offset), LABELS)["macro_f1"]

    offset = best_offset(macro_f1(log_probs, gold))
    assert 0.5 < offset < 1.5 and macro_f1(log_probs, gold)(offset) == 1.0
    assert best_offset(macro_f1(np.log(np.eye(3)[[0, 1, 2]] * 0.9 + 0.05), LABELS)) == 0.0  # already right: the smallest offset wins


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


def test_a_topic_dev_makes_the_offset_serve_claims_and_both_sides_of_topics(tiny_stance_dir, tmp_path, capsys):
    """`kashif tune-bias --topic-dev`: the offset maximises the mean of the claims' macro-F1 and the topics' F1 of
    agree and disagree (StanceEval's score), checked against every offset of the grid from the model's own answers."""
    model_dir = tmp_path / "stance"
    shutil.copytree(tiny_stance_dir, model_dir)
    columns = StanceColumns("s2", "s1", "stance")
    dev = load_stance(FIX / "stance_dev.csv", columns=columns)
    mawqif = load_stance(FIX / "mawqif_sample.csv", label_map=parse_label_map("mawqif"), target_map=parse_target_map("mawqif"))
    topics_csv = tmp_path / "topics.csv"
    with open(topics_csv, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["s1", "s2", "stance"])
        writer.writerows(zip(mawqif["target"], mawqif["text"], mawqif["label"]))
    topics = load_stance(topics_csv, columns=columns)
    predictor = Predictor.from_refs(stance_model=str(model_dir), tasks=("stance",), config=PredictorConfig(precision="fp32"))

    def log_probs(data):
        return np.array([[math.log(max(r.scores[x], 1e-12)) for x in LABELS]
                         for r in predictor.stance(list(zip(data["text"], data["target"])))])

    claims_lp, topics_lp = log_probs(dev), log_probs(topics)

    def objective(offset):
        claims = stance_metrics(dev["label"], shifted_labels(claims_lp, LABELS, "other", offset), LABELS)
        by_topic = stance_metrics(topics["label"], shifted_labels(topics_lp, LABELS, "other", offset), LABELS,
                                  targets=topics["target"])
        return (claims["macro_f1"] + topic_score(by_topic)) / 2

    assert main(["tune-bias", "--model", str(model_dir), "--label", "other", "--dev", str(FIX / "stance_dev.csv"),
                 "--topic-dev", str(topics_csv), "--text-column", "s2", "--target-column", "s1", "--label-column", "stance"]) == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads((model_dir / RESULT_FILE).read_text())
    assert printed["offset"] == report["offset"] and printed["objective_after"] == report["objective_after"]
    assert report["objective_after"] == max(objective(o) for o in OFFSETS)
    assert report["objective_after"] == objective(report["offset"]) >= report["objective_before"]
    assert len(report["topic_dev_after"]["by_target"]) == 3
