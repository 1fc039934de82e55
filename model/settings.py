"""Settings declared once: a config dataclass's field carries its default, its `KASHIF_*` environment variable and
its help text; the command-line flags (`kashif.commands._flags`), the environment and in-code construction all
derive from it.

    @dataclass
    class ServeSettings:
        port: int = setting(8000, "port", env="KASHIF_PORT")

    from_env(ServeSettings, port=9000)          # in code: defaults < environment < keyword arguments

A field without a default is a required flag (unless the command layers a config file under its flags); a `list`
field takes a comma-separated list, or with `repeat=True` one item per use of the flag. This module holds the
declarations only: building an argument parser from them is the command line's business.
"""
from __future__ import annotations

import dataclasses
import os
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
    group: str | None = None  # the title the flag is listed under in --help
    metavar: str | None = None
    show_default: bool = True  # append "default X" to the help text
    nargs: str | None = None  # e.g. "?": the flag's value is optional, `const` stands in when it is left out
    const: Any = None
    repeat: bool = False  # a list field whose flag is given once per item
    positional: bool = False  # an argument without a flag, named by its place (`nargs` says how many)
    short: str | None = None  # a one-letter alias of the flag, e.g. "-o"


def setting(default: Any = dataclasses.MISSING, help: str = "", env: str | None = None, *,
            default_factory: Callable[[], Any] | Any = dataclasses.MISSING, **details: Any) -> Any:
    """A dataclass field with its environment variable and help text (see the module docstring)."""
    meta = {_METADATA_KEY: Setting(help=help, env=env, **details)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def reuse(cls: type, name: str, **changes: Any) -> Any:
    """A field with the declaration of field `name` of `cls` (its default, variable and help), for a config that
    takes the same setting; `changes` adjust it (e.g. fewer `choices`, another `group`)."""
    declared = _field(cls, name)
    meta = {_METADATA_KEY: dataclasses.replace(declared.metadata[_METADATA_KEY], **changes)}
    if declared.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=declared.default_factory, metadata=meta)
    return dataclasses.field(default=declared.default, metadata=meta)


def settings_of(cls: type) -> list[tuple[dataclasses.Field, Setting, Any]]:
    """(field, setting, resolved type) for each field of `cls` declared with `setting()`."""
    hints = typing.get_type_hints(cls)
    return [(f, f.metadata[_METADATA_KEY], hints[f.name]) for f in dataclasses.fields(cls) if _METADATA_KEY in f.metadata]


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


def text_parser(s: Setting, annotation: Any) -> Callable[[str], Any]:
    """Text → the field's value (from the environment, or a flag given once)."""
    if s.parse is not None:
        return s.parse
    base = value_type(annotation)
    if typing.get_origin(base) is tuple:
        return split_list
    if typing.get_origin(base) is list:
        return _split_to_list
    return _scalar_parser(base)


def item_parser(s: Setting, annotation: Any) -> Callable[[str], Any]:
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
    parse = text_parser(s, annotation)
    try:
        value = parse(raw)
    except (ValueError, TypeError) as err:
        kind = _KIND.get(parse)
        raise ValueError(f"{s.env}={raw!r} is not {kind}" if kind else f"{s.env}={raw!r}: {err}") from None
    if s.choices is not None and value not in s.choices:
        raise ValueError(f"{s.env}={raw!r}: {f.name} must be one of {', '.join(map(str, s.choices))}, got {raw!r}")
    return value


def field_default(f: dataclasses.Field) -> Any:
    """The field's declared default (a fresh one from its factory); None for a required field."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def default_of(cls: type, name: str) -> Any:
    """The declared default of field `name` of `cls` (for code that takes the same value without the whole config)."""
    return field_default(_field(cls, name))


def from_env(cls: type[C], **overrides: Any) -> C:
    """`cls` built in code: field defaults < `KASHIF_*` environment < keyword arguments."""
    values = {}
    for f, s, annotation in settings_of(cls):
        value = env_value(f, s, annotation)
        if value is not dataclasses.MISSING:
            values[f.name] = value
    return cls(**{**values, **overrides})
