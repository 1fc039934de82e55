"""Fine-tuning configuration: one dataclass, filled from defaults, a YAML/JSON
file (`--config`) and command-line flags, in that order of precedence."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kashif.model.errors import KashifError
from kashif.model.messages import first_line
from kashif.model.settings import setting, settings_of, value_type
from kashif.model.tasks import TASK_NAMES, TOKEN, task_named

BF16_MODES = ("auto", "on", "off")


class ConfigError(KashifError, ValueError):
    """An invalid training configuration; the message says which setting and why."""


# Input formats of train and evaluate (training.data reads them; label-studio and prodigy: NER only).
DATA_FORMATS = ("auto", "conll", "jsonl", "csv", "tsv", "disk", "baly", "label-studio", "prodigy")
DATA, MODEL, OPTIMISATION, CHECKPOINTS = "data", "model", "optimisation", "checkpoints and logging"


@dataclass
class TrainConfig:
    """Every field but `task` and `extra` is a `kashif train` flag and a config-file key."""

    task: str
    train: str = setting(help="training data: CoNLL/JSONL/CSV/TSV file, `save_to_disk` dir, Baly dir, or hub dataset",
                         group=DATA)
    base_model: str = setting(help="encoder to fine-tune: a local directory or a hub id", group=MODEL)
    output: str = setting(help="output model directory", group=MODEL)
    dev: str | None = setting(None, "dev data (same formats)", group=DATA)
    test: str | None = setting(None, "test data, scored once at the end", group=DATA)
    dev_split: float | None = setting(None, "carve this fraction of train as dev (seeded; stratified for stance and classify)",
                                      group=DATA)
    # Data interpretation
    format: str = setting("auto", "input format (default: by extension; a .json Label Studio export is recognised)",
                          choices=DATA_FORMATS, group=DATA, show_default=False)
    labels: list[str] | None = setting(None, "comma-separated label set (default: from train)", group=DATA)
    tag_map: str | dict | None = setting(None, "NER tag mapping: FROM=TO pairs, a file, or a preset (caraner, newsfane)",
                                         group=DATA)
    label_map: str | dict | None = setting(
        None, "stance, classify: rename the data's labels onto the model's: FROM=TO pairs, a file, or a preset (mawqif, baly)",
        group=DATA)
    target_map: str | dict | None = setting(
        None, "stance: rename the data's targets: FROM=TO pairs, a file, or a preset (mawqif: its English topics → Arabic)",
        group=DATA)
    mention_copies: int = setting(0, "NER: add N copies of each training sentence, its entities swapped for other "
                                  "mentions of the same type from the training data (mention replacement)",
                                  metavar="N", group=DATA, show_default=False)
    text_column: str | None = setting(None, "stance, classify: column with the text", group=DATA)
    target_column: str | None = setting(None, "stance: column with the target/claim", group=DATA)
    label_column: str | None = setting(None, "stance, classify: column with the label", group=DATA)
    normalization: str | dict = setting("default", "word normalisation: default, none, or key=0/1,... (e.g. unify_alef=1)",
                                        group=MODEL, show_default=False)
    max_length: int = setting(128, "pieces per sequence", group=MODEL)
    # Optimisation
    epochs: float = setting(3.0, group=OPTIMISATION)
    max_steps: int = setting(-1, "stop after this many optimizer steps (overrides --epochs)", group=OPTIMISATION,
                             show_default=False)
    learning_rate: float = setting(5e-5, "peak learning rate", group=OPTIMISATION)
    batch_size: int = setting(16, "per-process batch size", group=OPTIMISATION)
    eval_batch_size: int | None = setting(None, group=OPTIMISATION)  # None: twice batch_size
    grad_accum: int = setting(1, "gradient accumulation steps", group=OPTIMISATION)
    warmup: float = setting(0.1, "linear warmup: a fraction of the steps (<1) or a step count", group=OPTIMISATION)
    weight_decay: float = setting(0.01, group=OPTIMISATION)
    max_grad_norm: float = setting(1.0, group=OPTIMISATION)
    class_weights: bool = setting(False, "weight the loss by inverse label frequency", group=OPTIMISATION,
                                  show_default=False)
    early_stopping: int = setting(0, "stop after N evaluations without a better dev F1", metavar="N",
                                  group=OPTIMISATION, show_default=False)
    bf16: str = setting("auto", "bf16 mixed precision (auto: on a GPU that has it; fp32 on CPU, where it measured faster)", choices=BF16_MODES,
                        group=OPTIMISATION, show_default=False)
    seed: int = setting(42, group=OPTIMISATION)
    # Bookkeeping
    eval_steps: int | None = setting(None, "evaluate (and checkpoint) every N steps (default: every epoch)",
                                     group=CHECKPOINTS)
    save_steps: int | None = setting(None, "checkpoint every N steps", group=CHECKPOINTS)
    save_total_limit: int = setting(2, group=CHECKPOINTS)
    logging_steps: int = setting(10, group=CHECKPOINTS)
    resume: bool | str = setting(False, "continue from the last checkpoint in OUTPUT/checkpoints (or the one named)",
                                 nargs="?", const=True, group=CHECKPOINTS, show_default=False)
    overwrite: bool = setting(False, "discard existing checkpoints in OUTPUT", group=CHECKPOINTS, show_default=False)
    num_workers: int = setting(0, "data loader workers", group=CHECKPOINTS)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        if self.task not in TASK_NAMES:
            raise ConfigError(f"task must be one of {', '.join(TASK_NAMES)}, got {self.task!r}")
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
        if self.mention_copies < 0:
            raise ConfigError(f"--mention-copies must be ≥ 0, got {self.mention_copies}")
        if self.mention_copies and task_named(self.task).head != TOKEN:
            raise ConfigError(f"--mention-copies is for NER data; {self.task} has no entities to swap")
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
    """YAML gives `1e-4` as a string and ints where floats are meant; cast each number setting to its field's type."""
    for f, _, annotation in settings_of(TrainConfig):
        cast, value = value_type(annotation), getattr(config, f.name)
        if cast not in (int, float) or (value is None and f.default is None):
            continue
        try:
            setattr(config, f.name, cast(value))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{f.name}: expected a number, got {value!r}") from err
    if isinstance(config.bf16, bool):
        config.bf16 = "on" if config.bf16 else "off"
