"""Settings declared once (kashif.model.settings): a field's default, variable and help; built in code from the
environment. The flags they become are tests/commands/test_flags.py's."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from kashif.model.predictor import PredictorConfig
from kashif.model.settings import default_of, from_env, reuse, setting, settings_of


@dataclass
class Demo:
    port: int = setting(8000, "port to listen on", env="KASHIF_DEMO_PORT", group="server")
    origins: tuple[str, ...] = setting((), "allowed origins", env="KASHIF_DEMO_ORIGINS")
    labels: list[str] = setting(help="labels", default_factory=list)


@dataclass
class Reusing:
    port: int = reuse(Demo, "port", group=None)
    labels: list[str] = reuse(Demo, "labels")


def test_in_code_construction_layers_defaults_environment_and_arguments(monkeypatch):
    monkeypatch.setenv("KASHIF_DEMO_PORT", "7000")
    monkeypatch.setenv("KASHIF_DEMO_ORIGINS", "a, b,,c")
    assert from_env(Demo) == Demo(port=7000, origins=("a", "b", "c"))
    assert from_env(Demo, port=5).port == 5


def test_a_malformed_variable_is_named_in_one_line(monkeypatch):
    monkeypatch.setenv("KASHIF_DEMO_PORT", "eighty")
    with pytest.raises(ValueError, match=r"^KASHIF_DEMO_PORT='eighty' is not an integer$"):
        from_env(Demo)


def test_default_of_reads_the_declaration():
    assert default_of(Demo, "port") == 8000
    assert default_of(Demo, "labels") == []


def test_a_reused_declaration_keeps_default_variable_and_help(monkeypatch):
    (_, port, _), (_, labels, _) = settings_of(Reusing)
    assert (port.env, port.help, port.group, default_of(Reusing, "port")) == ("KASHIF_DEMO_PORT", "port to listen on", None, 8000)
    assert labels.help == "labels" and Reusing().labels == [] and Reusing().labels is not Reusing().labels
    monkeypatch.setenv("KASHIF_DEMO_PORT", "9")
    assert from_env(Reusing).port == 9


def test_a_variable_outside_the_choices_is_named_in_one_line(monkeypatch):
    monkeypatch.setenv("KASHIF_PRECISION", "int9")
    with pytest.raises(ValueError, match=r"^KASHIF_PRECISION='int9': precision must be one of auto, fp32, bf16, int8, got 'int9'$"):
        from_env(PredictorConfig)


def test_pretraining_reuses_the_inference_hardware_settings(monkeypatch):
    from kashif.training.pretrain import PretrainConfig

    declared = {f.name: s for f, s, _ in settings_of(PredictorConfig)}
    for f, s, _ in settings_of(PretrainConfig):
        if f.name in ("device", "threads", "precision"):
            assert (s.env, s.help) == (declared[f.name].env, declared[f.name].help)
            assert default_of(PretrainConfig, f.name) == default_of(PredictorConfig, f.name)
    precision = next(s for f, s, _ in settings_of(PretrainConfig) if f.name == "precision")
    assert "int8" not in precision.choices and "bf16" in precision.choices
    # a serving-only value in the shared variable is refused in one line, not silently trained in fp32
    monkeypatch.setenv("KASHIF_PRECISION", "int8")
    with pytest.raises(ValueError, match=r"^KASHIF_PRECISION='int8': precision must be one of auto, fp32, bf16, got 'int8'$"):
        from_env(PretrainConfig, corpus=["corpus.jsonl"], output="out")
