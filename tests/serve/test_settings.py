"""Server settings (kashif.serve.http.settings): the `kashif serve` flags (kashif/commands/serve.py), the environment
and in-code construction come from one declaration and agree."""
from __future__ import annotations

import re

import pytest

from kashif.commands.serve import serve_parser, settings_from_args
from kashif.model.predictor import ModelRefs, PredictorConfig
from kashif.model.settings import settings_of
from kashif.serve.http.settings import ServeSettings


def test_flags_and_in_code_settings_read_the_same_environment(monkeypatch, tmp_path):
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# keys\nfile-key\nenv-key-2\n", encoding="utf-8")
    for name, value in {"KASHIF_PORT": "9001", "KASHIF_MAX_WAIT_MS": "0.5", "KASHIF_REQUEST_TIMEOUT": "12",
                        "KASHIF_READ_TIMEOUT": "3", "KASHIF_API_KEYS": "env-key-1, env-key-2", "KASHIF_API_KEY_FILE": str(key_file),
                        "KASHIF_METRICS_AUTH": "1", "KASHIF_CORS_ORIGINS": "https://a.example, https://b.example",
                        "KASHIF_NER_MODEL": "some/ner", "KASHIF_THREADS": "3"}.items():
        monkeypatch.setenv(name, value)
    from_flags = settings_from_args(serve_parser().parse_args([]))
    assert from_flags == ServeSettings.from_env()
    assert (from_flags.port, from_flags.max_wait_ms, from_flags.request_timeout_s, from_flags.read_timeout_s) == (9001, 0.5, 12.0, 3.0)
    assert from_flags.api_keys == ("env-key-1", "env-key-2", "file-key")  # environment first, no repeats
    assert from_flags.metrics_auth and from_flags.cors_origins == ("https://a.example", "https://b.example")
    assert (from_flags.ner_model, from_flags.model, from_flags.predictor.threads) == ("some/ner", None, 3)
    assert ServeSettings.from_env(port=1).port == 1  # keyword arguments beat the environment

    flags = settings_from_args(serve_parser().parse_args(
        ["--port", "7", "--no-warmup", "--request-timeout", "5", "--read-timeout", "2", "--no-metrics-auth", "--cors-origins", ""]))
    assert (flags.port, flags.warmup, flags.request_timeout_s, flags.read_timeout_s) == (7, False, 5.0, 2.0)
    assert not flags.metrics_auth and flags.cors_origins == ()


def test_without_environment_the_declared_defaults_hold(monkeypatch):
    for f, s, _ in [*settings_of(ServeSettings), *settings_of(ModelRefs), *settings_of(PredictorConfig)]:
        if s.env:
            monkeypatch.delenv(s.env, raising=False)
    assert settings_from_args(serve_parser().parse_args([])) == ServeSettings() == ServeSettings.from_env()
    assert ServeSettings().warmup


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KASHIF_PORT", "eighty", "KASHIF_PORT='eighty' is not an integer"),
    ("KASHIF_MAX_WAIT_MS", "soon", "KASHIF_MAX_WAIT_MS='soon' is not a number"),
    ("KASHIF_EXPOSE_MODEL_PATHS", "maybe", "KASHIF_EXPOSE_MODEL_PATHS='maybe' is not a yes/no value (use 1 or 0)"),
])
def test_a_malformed_variable_fails_in_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        serve_parser()
    with pytest.raises(ValueError, match="^" + name):
        ServeSettings.from_env()


def test_every_flag_with_a_variable_names_it_in_its_help():
    actions = {a.dest: a for a in serve_parser()._actions}
    documented = 0
    for cls in (ModelRefs, PredictorConfig, ServeSettings):
        for f, s, _ in settings_of(cls):
            if s.env and s.has_flag:
                assert s.env in actions[f.name].help, f.name
                documented += 1
    assert documented >= 29  # 3 model choices, 7 predictor settings, 19 server settings
    assert "KASHIF_SUBWORD_STRATEGY" in actions["subword_strategy"].help

