"""Fine-tuning configuration: one dataclass, filled from defaults, a YAML/JSON
file (`--config`) and command-line flags, in that order of precedence."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kashif.model.errors import KashifError
from kashif.model.messages import first_line
from kashif.model.tasks import TASKS

BF16_MODES = ("auto", "on", "off")


class ConfigError(KashifError, ValueError):
    """An invalid training configuration; the message says which setting and why."""


@dataclass
class TrainConfig:
    task: str
    train: str
    base_model: str
    output: str
    dev: str | None = None
    test: str | None = None
    dev_split: float | None = None
    # Data interpretation
    format: str = "auto"
    labels: list[str] | None = None
    tag_map: str | dict | None = None
    text_column: str | None = None
    target_column: str | None = None
    label_column: str | None = None
    normalization: str | dict = "default"
    # Optimisation
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int | None = None
    max_length: int = 128
    seed: int = 42
    warmup: float = 0.1
    weight_decay: float = 0.01
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    class_weights: bool = False
    early_stopping: int = 0
    bf16: str = "auto"
    # Bookkeeping
    eval_steps: int | None = None
    save_steps: int | None = None
    save_total_limit: int = 2
    logging_steps: int = 10
    resume: bool | str = False
    overwrite: bool = False
    num_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        for name in ("train", "base_model", "output"):
            if not getattr(self, name):
                raise ConfigError(f"--{name.replace('_', '-')} is required")
        if self.bf16 not in BF16_MODES:
            raise ConfigError(f"--bf16 must be one of {', '.join(BF16_MODES)}, got {self.bf16!r}")
        if self.dev_split is not None and not 0 < self.dev_split < 1:
            raise ConfigError(f"--dev-split must be between 0 and 1, got {self.dev_split}")
        if self.dev and self.dev_split:
            raise ConfigError("give either --dev or --dev-split, not both")
        positive = ("learning_rate", "batch_size", "max_length", "grad_accum", "logging_steps")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("set --epochs or --max-steps to a positive number")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be ≥ 0 (a fraction of the steps below 1, else a step count), got {self.warmup}")
        if self.early_stopping < 0:
            raise ConfigError(f"--early-stopping must be ≥ 0, got {self.early_stopping}")
        if self.early_stopping and not (self.dev or self.dev_split):
            raise ConfigError("--early-stopping needs a dev set (--dev or --dev-split)")
        if self.max_length < 8:
            raise ConfigError(f"--max-length must be at least 8, got {self.max_length}")
        normalization_from_spec(self.normalization)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def normalization_from_spec(spec: str | dict | None):
    """`default`, `none`, or `key=bool,...` overrides of the default (e.g.
    `unify_alef=1,unify_yaa=1`), or a dict of the same."""
    from kashif.model.text import Normalization

    if spec is None or spec == "default":
        return Normalization()
    known = {f.name for f in fields(Normalization)}
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(f"normalization: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return Normalization(**{**Normalization().to_dict(), **{k: bool(v) for k, v in spec.items()}})
    if spec == "none":
        return Normalization(**{name: False for name in known})
    values = Normalization().to_dict()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        key, _, raw = part.partition("=")
        key = key.strip()
        if key not in known:
            raise ConfigError(f"normalization: unknown setting {key!r} (known: {', '.join(sorted(known))}, or 'default'/'none')")
        raw = raw.strip().lower() or "1"
        if raw not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"normalization: {key}={raw!r} is not a boolean")
        values[key] = raw in ("1", "true", "yes", "on")
    return Normalization(**values)


def load_config_file(path: str | Path) -> dict:
    """Settings from a YAML or JSON file; keys are the flag names (dashes or underscores)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    text = p.read_text(encoding="utf-8-sig")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (json.JSONDecodeError, ValueError) as err:
        raise ConfigError(f"{p}: invalid config file: {err}") from err
    except Exception as err:  # noqa: BLE001 - yaml.YAMLError and friends
        raise ConfigError(f"{p}: invalid config file: {first_line(err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold a mapping of settings")
    known = {f.name for f in fields(TrainConfig)}
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{p}: unknown setting {key!r}")
        out[name] = value
    return out


def build_config(file_values: dict, cli_values: dict) -> TrainConfig:
    """Merge: dataclass defaults < config file < flags given on the command line
    (`cli_values` holds only flags the user actually passed, i.e. not None)."""
    merged = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    missing = [n for n in ("task", "train", "base_model", "output") if not merged.get(n)]
    if missing:
        raise ConfigError(", ".join(f"--{m.replace('_', '-')}" for m in missing) + " required (as a flag or in --config)")
    try:
        config = TrainConfig(**merged)
    except TypeError as err:
        raise ConfigError(str(err)) from err
    _coerce_types(config)
    return config.validate()


def _coerce_types(config: TrainConfig) -> None:
    """YAML gives `1e-4` as a string and ints where floats are meant; fix the scalars."""
    casts = {"epochs": float, "learning_rate": float, "warmup": float, "weight_decay": float, "max_grad_norm": float,
             "max_steps": int, "batch_size": int, "max_length": int, "seed": int, "grad_accum": int,
             "early_stopping": int, "save_total_limit": int, "logging_steps": int, "num_workers": int}
    for name, cast in casts.items():
        value = getattr(config, name)
        try:
            setattr(config, name, cast(value))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from err
    for name in ("dev_split",):
        value = getattr(config, name)
        if value is not None:
            setattr(config, name, float(value))
    for name in ("eval_batch_size", "eval_steps", "save_steps"):
        value = getattr(config, name)
        if value is not None:
            setattr(config, name, int(value))
    if isinstance(config.bf16, bool):
        config.bf16 = "on" if config.bf16 else "off"
