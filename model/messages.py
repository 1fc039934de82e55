"""Errors as one readable line, for CLI exits, HTTP messages and logs."""
from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of the error's message, or its type name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def typed_line(err: BaseException) -> str:
    """`Type: first line`, or the type name alone when the message is empty."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
