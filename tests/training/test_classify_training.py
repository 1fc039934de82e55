"""`kashif train classify` → `kashif evaluate` → `kashif classify` and `transformers.pipeline`: a sentiment classifier
trained on a Mawqif-shaped file's `sentiment` column (the README's recipe, on a tiny encoder)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kashif.cli import main
from tests.support import FIXTURES, REPO

DATA = FIXTURES / "training" / "sentiment.csv"  # Mawqif's columns: text, target, stance, sentiment
LABELS = ["Negative", "Neutral", "Positive"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory, tiny_encoder_dir):
    output = tmp_path_factory.mktemp("classify-run") / "sentiment"
    cmd = [
        sys.executable, "-m", "kashif", "train", "classify", "--train", str(DATA), "--label-column", "sentiment",
        "--dev-split", "0.25", "--test", str(DATA), "--base-model", str(tiny_encoder_dir), "--output", str(output),
        "--max-steps", "30", "--batch-size", "32", "--learning-rate", "5e-3", "--warmup", "0", "--eval-steps", "30",
        "--logging-steps", "1", "--bf16", "off", "--seed", "7",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return output, json.loads(proc.stdout[proc.stdout.index("{"):])


def test_train_writes_a_classify_model_dir(sentiment_run):
    output, summary = sentiment_run
    assert set(summary["dev"]) >= {"accuracy", "macro_f1", "per_class_f1"} and set(summary["dev"]["per_class_f1"]) == set(LABELS)
    meta = json.loads((output / "kashif.json").read_text())
    assert meta["task"] == "classify" and meta["labels"] == LABELS
    history = [h["loss"] for h in json.loads((output / "log_history.json").read_text()) if "loss" in h]
    assert sum(history[-3:]) / 3 < sum(history[:3]) / 3 - 0.1, history
    card = (output / "README.md").read_text()
    assert "Arabic text classification" in card and "kashif classify --classify-model" in card and "(stratified)" in card


def test_the_output_loads_in_plain_transformers_and_in_kashif(sentiment_run):
    from transformers import pipeline

    import kashif

    output, _ = sentiment_run
    theirs = pipeline("text-classification", model=str(output), device="cpu", top_k=None)(["خدمة ممتازة وسريعة"])[0]
    ours = kashif.load(classify_model=str(output), precision="fp32").classify("خدمة ممتازة وسريعة")
    assert {d["label"] for d in theirs} == set(LABELS) and ours.label in LABELS
    # a model trained as classify is a text classifier under --model too: its kashif.json says so
    assert kashif.load(str(output)).tasks == ("classify",)


def test_evaluate_then_the_command(sentiment_run, capsys, tmp_path):
    output, summary = sentiment_run
    report = tmp_path / "report.json"
    code = main(["evaluate", "--classify-model", str(output), "--data", str(DATA), "--label-column", "sentiment",
                            "--output", str(report)])
    out = capsys.readouterr().out
    assert code == 0 and "classify · model" in out and "36 examples" in out and "confusion" in out
    scored = json.loads(report.read_text())
    assert scored["task"] == "classify" and set(scored["metrics"]["per_class"]) == set(LABELS)
    assert "by_target" not in scored["metrics"]  # single texts: Mawqif's target column is not read
    # the Predictor on raw text agrees with the training run's own test scores
    assert scored["metrics"]["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-4)

    done = subprocess.run([sys.executable, "-m", "kashif", "classify", "خدمة ممتازة", "--classify-model", str(output),
                           "--format", "hf", "--top-k", "2"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer) == 2 and {a["label"] for a in answer} <= set(LABELS)


def test_command_errors_are_one_line(tiny_classify_dir):
    env = {**os.environ, "KASHIF_CLASSIFY_MODEL": str(tiny_classify_dir)}
    done = subprocess.run([sys.executable, "-m", "kashif", "classify", "نص", "--top-k", "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--top-k: 0 is below 1" in done.stderr
    ok = subprocess.run([sys.executable, "-m", "kashif", "classify", "نص"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and set(json.loads(ok.stdout)) == {"label", "scores", "truncated"}
