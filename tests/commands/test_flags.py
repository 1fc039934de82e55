"""Flags from settings declared once (kashif/commands/_flags.py over kashif.model.settings): flags, environment and
in-code construction from one field."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from kashif.commands._flags import add_arguments, from_args
from kashif.model.settings import from_env, setting


@dataclass
class Demo:
    port: int = setting(8000, "port to listen on", env="KASHIF_DEMO_PORT", group="server")
    delay_ms: float | None = setting(None, "extra delay", env="KASHIF_DEMO_DELAY_MS")
    origins: tuple[str, ...] = setting((), "allowed origins", env="KASHIF_DEMO_ORIGINS")
    warmup: bool = setting(True, "warm up first", env="KASHIF_DEMO_WARMUP")
    mode: str = setting("a", "the mode", env="KASHIF_DEMO_MODE", choices=("a", "b"))
    internal: int = 3  # not a setting: no flag


def _parse(argv: list[str], **kwargs) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Demo, **kwargs)
    return parser.parse_args(argv)


def test_flags_come_from_the_fields_with_their_defaults(monkeypatch):
    for var in ("PORT", "DELAY_MS", "ORIGINS", "WARMUP", "MODE"):
        monkeypatch.delenv(f"KASHIF_DEMO_{var}", raising=False)
    assert from_args(Demo, _parse([])) == Demo()
    got = from_args(Demo, _parse(["--port", "9", "--delay-ms", "2.5", "--origins", "a, b", "--no-warmup", "--mode", "b"]))
    assert got == Demo(port=9, delay_ms=2.5, origins=("a", "b"), warmup=False, mode="b")
    with pytest.raises(SystemExit):
        _parse(["--mode", "c"])
    with pytest.raises(SystemExit):
        _parse(["--internal", "4"])


def test_the_environment_sets_flag_defaults_and_in_code_construction(monkeypatch):
    monkeypatch.setenv("KASHIF_DEMO_PORT", "7000")
    monkeypatch.setenv("KASHIF_DEMO_WARMUP", "0")
    assert from_args(Demo, _parse([])).port == 7000
    assert from_args(Demo, _parse(["--port", "1"])).port == 1  # a flag beats the environment
    built = from_env(Demo, mode="b")
    assert (built.port, built.warmup, built.mode) == (7000, False, "b")
    assert from_env(Demo, port=5).port == 5  # keyword arguments beat the environment


def test_a_malformed_variable_is_named_in_one_line(monkeypatch):
    monkeypatch.setenv("KASHIF_DEMO_PORT", "eighty")
    with pytest.raises(ValueError, match=r"^KASHIF_DEMO_PORT='eighty' is not an integer$"):
        from_env(Demo)
    monkeypatch.setenv("KASHIF_DEMO_PORT", "80")
    monkeypatch.setenv("KASHIF_DEMO_WARMUP", "maybe")
    with pytest.raises(ValueError, match=r"KASHIF_DEMO_WARMUP='maybe' is not a yes/no value"):
        _parse([])


def test_help_names_the_variable_and_default(capsys):
    with pytest.raises(SystemExit):
        _parse(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "port to listen on (KASHIF_DEMO_PORT, default 8000)" in out
    assert "server:" in out


def test_suppressed_defaults_leave_out_what_was_not_given(monkeypatch):
    monkeypatch.delenv("KASHIF_DEMO_PORT", raising=False)
    args = _parse(["--port", "3"], suppress_defaults=True)
    assert vars(args) == {"port": 3}


@dataclass
class Serving:
    host: str = setting("localhost", "address", env="KASHIF_DEMO_HOST", group="server")
    timeout_s: float = setting(5.0, "seconds", env="KASHIF_DEMO_TIMEOUT", flag="--timeout")
    checks: bool = setting(True, "skip the checks", flag="--no-checks", show_default=False)
    keys: tuple[str, ...] = setting((), "keys", env="KASHIF_DEMO_KEYS", has_flag=False)


def _both_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Demo)
    add_arguments(parser, Serving)
    return parser


def test_configs_share_a_group_and_flags_can_be_named_apart(monkeypatch, capsys):
    for var in ("PORT", "HOST", "TIMEOUT", "KEYS"):
        monkeypatch.delenv(f"KASHIF_DEMO_{var}", raising=False)
    parser = _both_parser()
    assert [g.title for g in parser._action_groups].count("server") == 1
    args = parser.parse_args(["--timeout", "2", "--no-checks"])
    assert from_args(Serving, args) == Serving(timeout_s=2.0, checks=False)
    assert from_args(Serving, parser.parse_args([])).checks is True
    parser.print_help()
    out = " ".join(capsys.readouterr().out.split())
    assert "--timeout TIMEOUT seconds (KASHIF_DEMO_TIMEOUT, default 5)" in out
    assert "--no-checks skip the checks" in out and "--keys" not in out


def test_a_setting_without_a_flag_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KASHIF_DEMO_KEYS", "k1, k2")
    assert from_args(Serving, _both_parser().parse_args([])).keys == ("k1", "k2")
    assert from_env(Serving).keys == ("k1", "k2")
    assert from_args(Serving, argparse.Namespace(), keys=("k3",)).keys == ("k3",)


@dataclass
class Job:
    inputs: list[str] = setting(help="input file; repeatable", repeat=True, metavar="PATH")
    labels: list[str] | None = setting(None, "comma-separated labels")
    resume: bool | str = setting(False, "resume (from the checkpoint named)", nargs="?", const=True, show_default=False)
    rate: float = setting(5e-5, "learning rate")
    skip: list[str] = setting(help="skipped files", default_factory=list, repeat=True)


def _parse_job(argv: list[str], **kwargs) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Job, **kwargs)
    return parser.parse_args(argv)


def test_repeated_comma_list_and_optional_value_flags():
    got = from_args(Job, _parse_job(["--inputs", "a", "--inputs", "b", "--labels", "x, y", "--resume"]))
    assert got == Job(inputs=["a", "b"], labels=["x", "y"], resume=True, skip=[])
    assert from_args(Job, _parse_job(["--inputs", "a", "--resume", "ckpt-2"])).resume == "ckpt-2"
    assert from_args(Job, _parse_job(["--inputs", "a"])).resume is False


def test_a_field_without_default_is_a_required_flag_unless_defaults_are_suppressed(capsys):
    with pytest.raises(SystemExit):
        _parse_job([])
    assert "the following arguments are required: --inputs" in capsys.readouterr().err
    assert vars(_parse_job([], suppress_defaults=True)) == {}


def test_help_shows_defaults_compactly(capsys):
    with pytest.raises(SystemExit):
        _parse_job(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "learning rate (default 5e-5)" in out
    assert "resume (from the checkpoint named)" in out and "default False" not in out
    assert "skipped files" in out and "default []" not in out
