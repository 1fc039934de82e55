"""`kashif train`: tiny NER and stance runs from `tiny_encoder_dir`, outputs, resume, errors."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kashif.cli import main
from kashif.training.config import build_config
from kashif.training.finetune import CHECKPOINT_DIR, TrainError, train
from tests.support import FIXTURES, REPO

FIX = FIXTURES / "training"
PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def losses(output: Path) -> dict[int, float]:
    history = json.loads((output / "log_history.json").read_text())
    return {h["step"]: h["loss"] for h in history if "loss" in h}


def tiny_config(task: str, base: Path, output: Path, **overrides):
    values = {
        "task": task,
        "base_model": str(base),
        "output": str(output),
        "batch_size": 8,
        "learning_rate": 2e-3,
        "warmup": 0.0,
        "bf16": "off",
        "logging_steps": 1,
        "seed": 7,
    }
    if task == "ner":
        values.update(train=str(FIX / "ner_train.txt"))
    else:
        values.update(train=str(FIX / "stance_train.csv"))
    values.update(overrides)
    return build_config({}, values)


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_encoder_dir):
    """One NER fine-tuning run through the real command line (`python -m kashif train ner`)."""
    output = tmp_path_factory.mktemp("ner-run") / "model"
    cmd = [
        sys.executable, "-m", "kashif", "train", "ner",
        "--train", str(FIX / "ner_train.txt"), "--dev", str(FIX / "ner_dev.txt"), "--test", str(FIX / "ner_dev.txt"),
        "--base-model", str(tiny_encoder_dir), "--output", str(output),
        "--max-steps", "24", "--batch-size", "8", "--learning-rate", "3e-3", "--warmup", "0",
        "--logging-steps", "2", "--eval-steps", "12", "--bf16", "off", "--seed", "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return output, proc


def test_ner_run_writes_a_complete_model_dir(ner_run):
    output, proc = ner_run
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert set(summary) == {"output", "dev", "test"}
    for name in ("model.safetensors", "config.json", "tokenizer.json", "kashif.json", "training_config.json", "README.md"):
        assert (output / name).is_file(), name
    for name in ("training_curve.png", "confusion_matrix.png"):
        assert (output / name).read_bytes()[:8] == PNG, name
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"]["0"] == "O" and set(config["label2id"]) == {"O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PERS", "I-PERS"}
    meta = json.loads((output / "kashif.json").read_text())
    assert meta["task"] == "ner" and meta["labels"][0] == "O"
    assert meta["normalization"]["remove_diacritics"] is True
    assert meta["metrics"]["dev"]["f1"] == summary["dev"]["f1"]
    assert set(meta["metrics"]) == {"dev", "test"}
    record = json.loads((output / "training_config.json").read_text())
    assert record["config"]["max_steps"] == 24 and record["config"]["learning_rate"] == 3e-3
    assert record["data"]["train"]["sha256"] == hashlib.sha256((FIX / "ner_train.txt").read_bytes()).hexdigest()
    assert record["versions"]["transformers"] and record["effective"]["global_step"] == 24
    card = (output / "README.md").read_text()
    assert "| dev |" in card and "| test |" in card and "![confusion matrix](confusion_matrix.png)" in card
    assert (output / CHECKPOINT_DIR / "checkpoint-24").is_dir()


def test_ner_loss_decreases(ner_run):
    steps = losses(ner_run[0])
    first, last = steps[min(steps)], steps[max(steps)]
    assert last < first - 0.2, steps


def test_ner_output_loads_with_plain_transformers(ner_run):
    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(ner_run[0]), device="cpu")
    out = pipe("زار محمد القاهرة مع الأمم المتحدة .")
    assert isinstance(out, list)
    assert all(item["entity"] in pipe.model.config.label2id for item in out)


def test_ner_output_through_predictor_matches_training_dev_scores(ner_run):
    """Training scores dev on gold words, each word's best label; `kashif evaluate` runs the Predictor on raw
    text. With the same encoding and decoding on both sides (fp32 torch, argmax, sentence by sentence) they agree."""
    from kashif.model.predictor import Predictor, PredictorConfig
    from kashif.training.evaluate import evaluate

    output = ner_run[0]
    config = PredictorConfig(backend="torch", precision="fp32", ner_decoding="argmax", document_context=False)
    predictor = Predictor.from_refs(ner_model=str(output), config=config, tasks=("ner",))
    entities = predictor.entities(["زار محمد القاهرة ."])[0]
    assert all(e.label in {"PERS", "LOC", "ORG"} for e in entities)
    report = evaluate(predictor, str(FIX / "ner_dev.txt"), "ner")
    meta = json.loads((output / "kashif.json").read_text())
    assert round(report["metrics"]["f1"], 4) == meta["metrics"]["dev"]["f1"]
    assert round(report["metrics"]["macro_f1"], 4) == meta["metrics"]["dev"]["macro_f1"]


def test_stance_run_learns_and_loads(tmp_path, tiny_encoder_dir):
    from transformers import pipeline

    from kashif.model.predictor import Predictor

    output = tmp_path / "stance"
    # Whole-batch steps at a high rate get a random-init tiny encoder off its plateau in ~30 steps.
    config = tiny_config("stance", tiny_encoder_dir, output, dev_split=0.25, max_steps=30, batch_size=32,
                         learning_rate=5e-3, eval_steps=30, class_weights=True)
    result = train(config)
    assert set(result["dev"]) >= {"accuracy", "macro_f1", "per_class_f1"}
    steps = losses(output)
    early = sum(steps[s] for s in sorted(steps)[:3]) / 3
    late = sum(steps[s] for s in sorted(steps)[-3:]) / 3
    assert late < early - 0.1, steps
    meta = json.loads((output / "kashif.json").read_text())
    assert meta["task"] == "stance" and meta["labels"] == ["agree", "disagree", "other"]
    assert (output / "confusion_matrix.png").read_bytes()[:8] == PNG
    assert "stratified" in (output / "README.md").read_text()
    pipe = pipeline("text-classification", model=str(output), device="cpu")
    assert pipe("ارتفعت أسعار النفط")[0]["label"] in meta["labels"]
    results = Predictor.from_refs(stance_model=str(output), tasks=("stance",)).stance(
        [("ارتفعت أسعار النفط اليوم", "ارتفاع أسعار النفط"), ("نص بلا هدف", None)]
    )
    assert [r.label in meta["labels"] for r in results] == [True, True]


def test_resume_continues_from_the_same_step(tmp_path, tiny_encoder_dir):
    output = tmp_path / "resume"
    config = tiny_config("ner", tiny_encoder_dir, output, max_steps=4, save_steps=2, save_total_limit=5)
    train(config)
    first = losses(output)
    checkpoints = output / CHECKPOINT_DIR
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-4"]

    # Without --resume an existing run is never silently overwritten.
    with pytest.raises(TrainError, match="already has checkpoints"):
        train(tiny_config("ner", tiny_encoder_dir, output, max_steps=4, save_steps=2))

    # Lose the last checkpoint (as if the job died after step 2) and resume.
    shutil.rmtree(checkpoints / "checkpoint-4")
    train(tiny_config("ner", tiny_encoder_dir, output, max_steps=4, save_steps=2, save_total_limit=5, resume=True))
    second = losses(output)
    record = json.loads((output / "training_config.json").read_text())
    assert record["effective"]["resumed_from"].endswith("checkpoint-2")
    assert record["effective"]["global_step"] == 4
    # Steps 3 and 4 are redone from the checkpointed state: the same losses, no step repeated or skipped.
    assert sorted(second) == [1, 2, 3, 4]
    for step in (3, 4):
        assert second[step] == pytest.approx(first[step], rel=1e-4), (first, second)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--base-model", "someone/arabic-bert"], "someone/arabic-bert: not a local directory, and the Hugging Face hub is offline"),
        (["--dev", "DEV"], "dev.txt:1: unknown tag 'B-DATE'"),
        (["--dev-split", "1.5"], "--dev-split must be between 0 and 1"),
        (["--tag-map", "PERS"], "tag map: 'PERS' is neither FROM=TO"),
        (["--train", "nope.txt"], "nope.txt: no such file or directory"),
        (["--mention-copies", "-1"], "--mention-copies must be ≥ 0"),
    ],
)
def test_train_cli_errors_are_one_line(tmp_path, tiny_encoder_dir, capsys, extra, message):
    dev = tmp_path / "dev.txt"
    dev.write_text("غدا B-DATE\n", encoding="utf-8")
    argv = ["ner", "--train", str(FIX / "ner_train.txt"), "--base-model", str(tiny_encoder_dir),
            "--output", str(tmp_path / "out"), "--max-steps", "1"]
    argv += [str(dev) if x == "DEV" else x for x in extra]
    code = main(["train", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("kashif train: error: ")


def test_mention_copies_grow_train_only(tmp_path, tiny_encoder_dir):
    from kashif.training.augment import entity_spans
    from kashif.training.finetune import prepare_data

    plain = prepare_data(tiny_config("ner", tiny_encoder_dir, tmp_path / "a", dev_split=0.2))
    grown = prepare_data(tiny_config("ner", tiny_encoder_dir, tmp_path / "b", dev_split=0.2, mention_copies=2))
    with_entities = sum(1 for tags in plain.train["tags"] if entity_spans(tags))
    assert with_entities > 0
    assert len(grown.train) == len(plain.train) + 2 * with_entities
    assert grown.dev["tokens"] == plain.dev["tokens"]  # dev is carved first and never augmented
    assert grown.train["tokens"][:len(plain.train)] == plain.train["tokens"]
    assert grown.train["tokens"][len(plain.train):] != plain.train["tokens"][:with_entities]


def test_mention_copies_are_refused_for_stance(tmp_path, tiny_encoder_dir):
    from kashif.training.config import ConfigError

    with pytest.raises(ConfigError, match="--mention-copies is for NER data"):
        tiny_config("stance", tiny_encoder_dir, tmp_path / "s", mention_copies=1)


def test_long_sentences_are_chunked_and_scored_whole(tmp_path, tiny_encoder_dir):
    """Sentences longer than --max-length are split at word boundaries for the model,
    and dev scoring puts each sentence's chunks back together in order."""
    from transformers import AutoTokenizer

    from kashif.model.text import Normalization
    from kashif.training.data import load_ner
    from kashif.training.finetune import IGNORE, encode_ner

    lines = (FIX / "ner_dev.txt").read_text(encoding="utf-8").split("\n\n")
    long_dev = tmp_path / "long_dev.txt"
    # Sentences of 1 to 4 fixture sentences each: varied lengths, several over 16 pieces.
    groups, i, size = [], 0, 1
    while i < len(lines):
        groups.append("\n".join(x.strip("\n") for x in lines[i : i + size] if x.strip()))
        i, size = i + size, size % 4 + 1
    long_dev.write_text("\n\n".join(g for g in groups if g) + "\n", encoding="utf-8")
    dev = load_ner(long_dev)

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PERS", "I-PERS"]
    encoded = encode_ner(dev, tokenizer, {l: i for i, l in enumerate(labels)}, Normalization(), 16)
    assert len(encoded) > len(dev)
    assert max(len(ids) for ids in encoded["input_ids"]) <= 16
    for k, tags in enumerate(dev["tags"]):
        rows = [r for r, s in enumerate(encoded["sentence"]) if s == k]
        assert rows == list(range(rows[0], rows[0] + len(rows)))
        first_pieces = [labels[x] for r in rows for x in encoded[r]["labels"] if x != IGNORE]
        assert first_pieces == tags

    output = tmp_path / "chunked"
    train(tiny_config("ner", tiny_encoder_dir, output, dev=str(long_dev), max_steps=2, max_length=16))
    meta = json.loads((output / "kashif.json").read_text())
    assert meta["metrics"]["dev"]["support"] == 31  # every gold entity of the dev fixture, none split or merged


def test_dev_rows_are_scored_in_dataset_order(tmp_path, tiny_encoder_dir):
    """transformers 5 length-groups eval batches too under group_by_length; ours keep order,
    which joining a long sentence's chunks relies on."""
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        TrainingArguments,
    )

    from kashif.training.finetune import _trainer_class

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    lengths = [3, 9, 5, 12, 4, 7, 2, 10]
    rows = Dataset.from_dict({"input_ids": [[5] * n for n in lengths], "labels": [[0] * n for n in lengths]})
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=2, train_sampling_strategy="group_by_length",
                             report_to="none", use_cpu=True)
    model = AutoModelForTokenClassification.from_pretrained(tiny_encoder_dir, num_labels=2)
    trainer = _trainer_class()(model=model, args=args, data_collator=DataCollatorForTokenClassification(tokenizer),
                               processing_class=tokenizer)
    seen = [int(mask.sum()) for batch in trainer.get_eval_dataloader(rows) for mask in batch["attention_mask"]]
    assert seen == lengths


def test_early_stopping_on_dev_f1(tmp_path, tiny_encoder_dir):
    output = tmp_path / "early"
    # A learning rate too small to change the dev F1: the second evaluation brings no gain.
    config = tiny_config("ner", tiny_encoder_dir, output, dev=str(FIX / "ner_dev.txt"), max_steps=40,
                         learning_rate=1e-9, eval_steps=2, save_steps=3, early_stopping=1)
    train(config)
    record = json.loads((output / "training_config.json").read_text())
    assert record["effective"]["global_step"] == 4
    meta = json.loads((output / "kashif.json").read_text())
    assert meta["extra"]["training"]["best_checkpoint"].endswith("checkpoint-2")
