"""Every command's flags come from one declaration: `--help` names each flag's KASHIF_* variable, and the variable
sets the flag's default."""
from __future__ import annotations

import pytest

from kashif.cli import COMMANDS, main
from kashif.commands.score import parse_settings

SCORE_VARIABLES = ("KASHIF_SCORE_WORKERS", "KASHIF_SCORE_CHUNK_SIZE", "KASHIF_SCORE_OUTPUT_FORMAT", "KASHIF_SCORE_ENGINE",
                   "KASHIF_MODEL", "KASHIF_NER_MODEL", "KASHIF_THREADS", "KASHIF_PRECISION")


def _help(command: str, capsys) -> str:
    try:
        code = main([command, "--help"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command, capsys):
    assert f"usage: kashif {command}" in _help(command, capsys)


def test_score_help_names_its_variables(capsys):
    out = _help("score", capsys)
    for variable in SCORE_VARIABLES:
        assert variable in out
    assert "rows read, scored and committed together (KASHIF_SCORE_CHUNK_SIZE, default 256)" in out


def test_pretrain_takes_the_inference_hardware_flags(capsys):
    out = _help("pretrain", capsys)
    assert "KASHIF_DEVICE" in out and "KASHIF_THREADS" in out and "KASHIF_PRECISION" in out
    assert "{auto,fp32,bf16}" in out  # int8 is an inference path, not a training precision


def test_score_variables_set_its_defaults_and_a_malformed_one_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KASHIF_SCORE_WORKERS", "2")
    monkeypatch.setenv("KASHIF_SCORE_ENGINE", "ray")
    settings = parse_settings(["in.jsonl", "-o", "out.jsonl"])
    assert (settings.workers, settings.engine, settings.chunk_size, settings.inputs) == (2, "ray", 256, ["in.jsonl"])
    assert parse_settings(["in.jsonl", "-o", "out.jsonl", "--workers", "3"]).workers == 3  # a flag beats the variable
    monkeypatch.setenv("KASHIF_SCORE_WORKERS", "many")
    assert main(["score", "in.jsonl", "-o", str(tmp_path / "o.jsonl")]) == 2
    assert capsys.readouterr().err == "kashif score: error: KASHIF_SCORE_WORKERS='many' is not an integer\n"
