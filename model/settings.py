"""Settings declared once: a config dataclass's field carries its default, its `KASHIF_*` environment variable and
its help text, and the command-line flags, the environment and in-code construction all derive from it.

    @dataclass
    class ServeSettings:
        port: int = setting(8000, "port", env="KASHIF_PORT")

    add_arguments(parser, ServeSettings)        # --port, default from KASHIF_PORT, else 8000
    from_args(ServeSettings, args)              # the parsed flags
    from_env(ServeSettings, port=9000)          # in code: defaults < environment < keyword arguments

A field without a default is a required flag (unless `suppress_defaults`, where a config file may supply it);
a `list` field takes a comma-separated list, or with `repeat=True` one item per use of the flag.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

C = TypeVar("C")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_METADATA_KEY = "kashif.setting"


@dataclass(frozen=True)
class Setting:
    """What a config field says about itself beyond its default."""

    help: str
    env: str | None = None  # environment variable that overrides the default
    flag: str | None = None  # default: --field-name with dashes; "--no-name" on a bool field: a flag that sets False
    has_flag: bool = True  # False: set by the environment and in code only (from_args reads its variable)
    parse: Callable[[str], Any] | None = None  # text (flag or env) → value; default: from the field's type
    choices: Sequence[str] | None = None
    group: str | None = None  # argparse group title
    metavar: str | None = None
    show_default: bool = True  # append "default X" to the help text
    nargs: str | None = None  # e.g. "?": the flag's value is optional, `const` stands in when it is left out
    const: Any = None
    repeat: bool = False  # a list field whose flag is given once per item (argparse "append")


def setting(default: Any = dataclasses.MISSING, help: str = "", env: str | None = None, *,
            default_factory: Callable[[], Any] | Any = dataclasses.MISSING, **details: Any) -> Any:
    """A dataclass field with its environment variable and help text (see the module docstring)."""
    meta = {_METADATA_KEY: Setting(help=help, env=env, **details)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settings_of(cls: type) -> list[tuple[dataclasses.Field, Setting, Any]]:
    """(field, setting, resolved type) for each field of `cls` declared with `setting()`."""
    hints = typing.get_type_hints(cls)
    return [(f, f.metadata[_METADATA_KEY], hints[f.name]) for f in dataclasses.fields(cls) if _METADATA_KEY in f.metadata]


def flag_of(f: dataclasses.Field, s: Setting) -> str:
    return s.flag or "--" + f.name.replace("_", "-")


def value_type(annotation: Any) -> Any:
    """The type a field's text is parsed to: int for `int | None`, str for a union of several types."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise ValueError(f"{text!r} is not a yes/no value (use 1 or 0)")


def split_list(text: str | None) -> tuple[str, ...]:
    """'a, b,,c' → ('a', 'b', 'c')."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _split_to_list(text: str | None) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c']."""
    return list(split_list(text))


def _scalar_parser(base: Any) -> Callable[[str], Any]:
    if base is bool:
        return parse_bool
    return base if base in (int, float) else str


def _parser_of(s: Setting, annotation: Any) -> Callable[[str], Any]:
    """Text → the field's value (from the environment, or a flag given once)."""
    if s.parse is not None:
        return s.parse
    base = value_type(annotation)
    if typing.get_origin(base) is tuple:
        return split_list
    if typing.get_origin(base) is list:
        return _split_to_list
    return _scalar_parser(base)


def _item_parser(s: Setting, annotation: Any) -> Callable[[str], Any]:
    """Text → one item of a `repeat` list field."""
    if s.parse is not None:
        return s.parse
    items = typing.get_args(value_type(annotation))
    return _scalar_parser(items[0] if items else str)


_KIND = {int: "an integer", float: "a number", parse_bool: "a yes/no value (use 1 or 0)"}


def env_value(f: dataclasses.Field, s: Setting, annotation: Any) -> Any:
    """The field's value from its environment variable, or MISSING when unset or empty."""
    raw = os.environ.get(s.env) if s.env else None
    if raw is None or raw == "":
        return dataclasses.MISSING
    parse = _parser_of(s, annotation)
    try:
        return parse(raw)
    except (ValueError, TypeError) as err:
        kind = _KIND.get(parse)
        raise ValueError(f"{s.env}={raw!r} is not {kind}" if kind else f"{s.env}={raw!r}: {err}") from None


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def default_of(cls: type, name: str) -> Any:
    """The declared default of field `name` of `cls` (for code that takes the same value without the whole config)."""
    return _default_of(next(f for f in dataclasses.fields(cls) if f.name == name))


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


def _help_of(f: dataclasses.Field, s: Setting, default: Any) -> str:
    where = [s.env] if s.env else []
    if s.show_default and default is not None and default not in ((), [], ""):
        where.append(f"default {_format_default(default)}")
    return f"{s.help} ({', '.join(where)})" if where and s.help else s.help or ", ".join(where)


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, suppress_defaults: bool = False,
                  only: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> None:
    """One flag per `setting()` field of `cls`. The flag's default is the environment variable's value, else the
    field's default; with `suppress_defaults`, flags not given are left out of the namespace (for layered configs:
    defaults < config file < flags)."""
    for f, s, annotation in settings_of(cls):
        if not s.has_flag or (only is not None and f.name not in only) or f.name in exclude:
            continue
        target = _group(parser, s.group) if s.group else parser
        flag = flag_of(f, s)
        default = _default_of(f)
        value = env_value(f, s, annotation)
        current = default if value is dataclasses.MISSING else value
        kwargs: dict[str, Any] = {"dest": f.name, "help": _help_of(f, s, default)}
        if s.metavar:
            kwargs["metavar"] = s.metavar
        if value_type(annotation) is bool and s.parse is None and s.nargs is None:
            kwargs["action"] = "store_false" if flag.startswith("--no-") else argparse.BooleanOptionalAction
        else:
            kwargs.update(_value_kwargs(s, annotation))
            if s.flag and not s.metavar and not s.choices:  # a flag named apart from its field shows its own name
                kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        kwargs["default"] = argparse.SUPPRESS if suppress_defaults else current
        if not suppress_defaults and _is_required(f):
            kwargs["required"] = True
        target.add_argument(flag, **kwargs)


def _value_kwargs(s: Setting, annotation: Any) -> dict[str, Any]:
    """argparse's type/choices/action/nargs for a flag that takes a value."""
    kwargs: dict[str, Any] = {}
    if s.repeat:
        kwargs.update(action="append", type=_item_parser(s, annotation))
    else:
        kwargs["type"] = _parser_of(s, annotation)
    if s.choices:
        kwargs["choices"] = list(s.choices)
    if s.nargs is not None:
        kwargs.update(nargs=s.nargs, const=s.const)
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


def from_env(cls: type[C], **overrides: Any) -> C:
    """`cls` built in code: field defaults < `KASHIF_*` environment < keyword arguments."""
    values = {}
    for f, s, annotation in settings_of(cls):
        value = env_value(f, s, annotation)
        if value is not dataclasses.MISSING:
            values[f.name] = value
    return cls(**{**values, **overrides})
