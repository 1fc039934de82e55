"""Errors as one readable line (CLI exits, HTTP messages, scorer error rows)."""
from __future__ import annotations

from kashif.model.messages import first_line, typed_line


def test_first_line_keeps_only_the_first_line_and_never_comes_back_empty():
    assert first_line(ValueError("  bad value\n  at line 3\n")) == "bad value"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(OSError("")) == "OSError"


def test_typed_line_names_the_type_once():
    assert typed_line(ValueError("bad value\ndetails")) == "ValueError: bad value"
    assert typed_line(RuntimeError()) == "RuntimeError"
