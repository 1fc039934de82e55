"""`kashif train` and `kashif pretrain` flags come from their config dataclasses; the layering defaults < --config
file < flags holds."""
from __future__ import annotations

import dataclasses

import pytest

from kashif.model.settings import settings_of
from kashif.commands.evaluate import evaluate_parser
from kashif.commands.pretrain import config_from_args, pretrain_parser
from kashif.commands.train import train_parser
from kashif.training.config import TrainConfig, build_config
from kashif.training.pretrain import PretrainConfig
from tests.support import FIXTURES

CORPUS = FIXTURES / "pretrain" / "corpus.jsonl.gz"


def test_train_flags_not_given_stay_out_so_the_config_file_can_set_them():
    args = vars(train_parser().parse_args(["ner", "--epochs", "2", "--labels", "B-PER, O", "--resume"]))
    assert args == {"task": "ner", "config": None, "epochs": 2.0, "labels": ["B-PER", "O"], "resume": True}
    file_values = {"train": "t.txt", "base_model": "enc", "output": "out", "epochs": 5, "learning_rate": "1e-4"}
    config = build_config(file_values, args)
    assert (config.epochs, config.learning_rate, config.batch_size) == (2.0, 1e-4, 16)  # flag > file > default
    assert train_parser().parse_args(["ner", "--resume", "ckpt/checkpoint-4"]).resume == "ckpt/checkpoint-4"


def test_every_train_setting_is_a_flag_with_its_help_and_default(capsys):
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for f, _, _ in settings_of(TrainConfig):
        assert "--" + f.name.replace("_", "-") in out
    assert "peak learning rate (default 5e-5)" in out
    assert "pieces per sequence (default 128)" in out
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f, _, _ in settings_of(TrainConfig)} == {
        "task", "extra"}


def test_evaluate_reads_data_with_the_train_flags():
    args = evaluate_parser().parse_args(["--data", "d.txt", "--model", "m"])
    assert (args.format, args.tag_map, args.text_column) == ("auto", None, None)
    assert evaluate_parser().parse_args(["--data", "d.txt", "--format", "conll"]).format == "conll"


def test_pretrain_flags_build_the_config():
    base = ["--corpus", str(CORPUS), "--output", "out", "--max-steps", "3"]
    # precision, device and threads are the inference flags' declarations: KASHIF_PRECISION=fp32 (tests/conftest.py)
    assert config_from_args(pretrain_parser().parse_args(base)) == PretrainConfig(
        corpus=[str(CORPUS)], output="out", max_steps=3, precision="fp32")
    got = config_from_args(pretrain_parser().parse_args(
        [*base, "--corpus", str(CORPUS), "--no-dedup", "--no-progress", "--match-field", "", "--size", "tiny"]))
    assert (got.corpus, got.dedup, got.progress, got.match_field, got.size) == ([str(CORPUS)] * 2, False, False, None, "tiny")
    with pytest.raises(SystemExit):
        pretrain_parser().parse_args(["--output", "out"])  # --corpus is required
