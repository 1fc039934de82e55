"""Command-line flags from `setting()` declarations (kashif.model.settings), and the model flags every command shares.

    add_arguments(parser, ServeSettings)        # --port, default from KASHIF_PORT, else 8000
    from_args(ServeSettings, args)              # the parsed flags

A flag's default is its environment variable's value, else the field's default, and its help names both.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

from kashif.model.settings import Setting, env_value, field_default, item_parser, settings_of, text_parser, value_type
from kashif.model.tasks import TASK_NAMES

if TYPE_CHECKING:
    from kashif.model.predictor import Predictor, PredictorConfig
    from kashif.training.data import StanceColumns

C = TypeVar("C")


def flag_of(f: dataclasses.Field, s: Setting) -> str:
    """The field's flag: its own `flag`, else --field-name with dashes; a positional argument's bare name."""
    if s.positional:
        return f.name
    return s.flag or "--" + f.name.replace("_", "-")


def _group(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The parser's argument group of that title, made on first use: several configs can share one group."""
    for group in parser._action_groups:
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def _format_default(default: Any) -> str:
    """5e-05 → 5e-5; 3.0 → 3."""
    if isinstance(default, float):
        return re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{default:g}")
    return str(default)


def _help_of(s: Setting, default: Any) -> str:
    where = [s.env] if s.env else []
    if s.show_default and default is not None and default not in ((), [], ""):
        where.append(f"default {_format_default(default)}")
    return f"{s.help} ({', '.join(where)})" if where and s.help else s.help or ", ".join(where)


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, suppress_defaults: bool = False,
                  only: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> None:
    """One flag per `setting()` field of `cls`. The flag's default is the environment variable's value, else the
    field's default; with `suppress_defaults`, flags not given are left out of the namespace (for layered configs:
    defaults < config file < flags). A malformed variable is a ValueError naming it."""
    for f, s, annotation in settings_of(cls):
        if not s.has_flag or (only is not None and f.name not in only) or f.name in exclude:
            continue
        target = _group(parser, s.group) if s.group else parser
        flag = flag_of(f, s)
        default = field_default(f)
        value = env_value(f, s, annotation)
        current = default if value is dataclasses.MISSING else value
        kwargs: dict[str, Any] = {"help": _help_of(s, default)}
        if not s.positional:
            kwargs["dest"] = f.name
        if s.metavar:
            kwargs["metavar"] = s.metavar
        if value_type(annotation) is bool and s.parse is None and s.nargs is None:
            kwargs["action"] = "store_false" if flag.startswith("--no-") else argparse.BooleanOptionalAction
        else:
            kwargs.update(_value_kwargs(s, annotation))
            if s.flag and not s.metavar and not s.choices:  # a flag named apart from its field shows its own name
                kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        kwargs["default"] = argparse.SUPPRESS if suppress_defaults else current
        if not suppress_defaults and not s.positional and _is_required(f):
            kwargs["required"] = True
        target.add_argument(flag, *([s.short] if s.short else []), **kwargs)


def _value_kwargs(s: Setting, annotation: Any) -> dict[str, Any]:
    """argparse's type/choices/action/nargs for a flag that takes a value."""
    kwargs: dict[str, Any] = {}
    if s.repeat:
        kwargs.update(action="append", type=item_parser(s, annotation))
    elif s.positional and s.nargs in ("+", "*"):  # one item per word
        kwargs["type"] = item_parser(s, annotation)
    else:
        kwargs["type"] = text_parser(s, annotation)
    if s.choices:
        kwargs["choices"] = list(s.choices)
    if s.nargs is not None:
        kwargs["nargs"] = s.nargs
        if s.nargs == "?":
            kwargs["const"] = s.const
    return kwargs


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """`cls` from parsed `add_arguments` flags (fields absent from `args` keep their defaults; a setting without a
    flag, `has_flag=False`, takes its environment variable as in `from_env`)."""
    values = {}
    for f, s, annotation in settings_of(cls):
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
        elif not s.has_flag and (value := env_value(f, s, annotation)) is not dataclasses.MISSING:
            values[f.name] = value
    return cls(**{**values, **overrides})


def parse_options(command: str, cls: type[C], argv: list[str], *, description: str | None = None,
                  models: bool = False) -> tuple[C, argparse.Namespace]:
    """`kashif <command>` with the flags of `cls` (then, with `models`, the model flags) parsed from `argv`: `cls` built
    from them, and the namespace (for `predictor_from_args`)."""
    parser = argparse.ArgumentParser(prog=f"kashif {command}", description=description)
    add_arguments(parser, cls)
    if models:
        add_model_arguments(parser)
    args = parser.parse_args(argv)
    return from_args(cls, args), args


# ---- the model flags every command shares --------------------------------


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model choice and inference settings, the same flags for every command (declared in model.predictor)."""
    from kashif.model.predictor import ModelRefs, PredictorConfig

    add_arguments(parser, ModelRefs)
    add_arguments(parser, PredictorConfig)


def predictor_config_from_args(args: argparse.Namespace) -> "PredictorConfig":
    from kashif.model.predictor import PredictorConfig

    return from_args(PredictorConfig, args)


def add_arguments_with_models(parser: argparse.ArgumentParser, cls: type) -> None:
    """The model flags, then those of `cls`: settings that extend ModelRefs and hold a `predictor` (ServeSettings)."""
    from kashif.model.predictor import ModelRefs

    add_model_arguments(parser)
    add_arguments(parser, cls, exclude=[f.name for f in dataclasses.fields(ModelRefs)])


def from_args_with_models(cls: type[C], args: argparse.Namespace) -> C:
    """`cls` (see `add_arguments_with_models`) from the parsed flags, its `predictor` included."""
    return from_args(cls, args, predictor=predictor_config_from_args(args))


def predictor_from_args(args: argparse.Namespace, tasks: tuple[str, ...] = TASK_NAMES) -> "Predictor":
    """Build the shared Predictor from parsed `add_model_arguments` flags."""
    from kashif.model.predictor import ModelRefs, Predictor

    refs = from_args(ModelRefs, args)
    return Predictor.from_refs(config=predictor_config_from_args(args), tasks=tasks, **refs.references())


# ---- how stance data is read, as `kashif train` reads it (TrainConfig's flags) ----

STANCE_COLUMN_FLAGS = ("text_column", "target_column", "label_column")


def stance_columns_from_args(args: argparse.Namespace) -> "StanceColumns":
    """The columns named by TrainConfig's STANCE_COLUMN_FLAGS (None: found by name)."""
    from kashif.training.data import StanceColumns

    return StanceColumns(*(getattr(args, name) for name in STANCE_COLUMN_FLAGS))
