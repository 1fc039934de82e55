"""How every `kashif` command runs: it fails in one line on stderr, `kashif <command>: error: ...`, with an exit
code, and answers on stdout (JSON, or text read from an argument or standard input).

Each command module runs its work inside `run_command`.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from kashif.model.errors import EXIT_FAILURE, EXIT_USAGE, KashifError
from kashif.model.messages import first_line, typed_line
from kashif.model.settings import setting

EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C
DEBUG_VARIABLE = "KASHIF_DEBUG"  # set: an unexpected error raises, with its traceback


def fail(command: str, message: str, exit_code: int = EXIT_USAGE) -> int:
    """Print `kashif <command>: error: <message>` on stderr; the exit code, to return."""
    print(f"kashif {command}: error: {message}", file=sys.stderr)
    return exit_code


def run_command(
    command: str,
    work: Callable[[], int | None],
    *,
    usage_errors: tuple[type[Exception], ...] = (),
    interrupted: str = "interrupted",
) -> int:
    """Run `work` (the body of `kashif <command>`) and return its exit code, failing in one line.

    A KashifError exits with its own exit_code; `usage_errors` (other types this command takes for
    bad input, e.g. ValueError) exit 2; Ctrl-C prints `kashif <command>: <interrupted>` and exits 130;
    anything else is an unexpected error: its type and first line, exit 1, or its traceback with
    KASHIF_DEBUG set. SystemExit (argparse's --help and usage errors) passes through.
    """
    try:
        return int(work() or 0)
    except KashifError as err:
        return fail(command, first_line(err), err.exit_code)
    except usage_errors as err:
        return fail(command, first_line(err), EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"kashif {command}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - one line, not a traceback
        if os.environ.get(DEBUG_VARIABLE):
            raise
        return fail(command, f"{typed_line(err)} (set {DEBUG_VARIABLE}=1 for the traceback)", EXIT_FAILURE)


def first_paragraph(docstring: str | None) -> str:
    """A module's docstring up to its first blank line: a command's description in --help."""
    return (docstring or "").split("\n\n")[0]


def print_json(value: Any, indent: int | None = None) -> None:
    """`value` as JSON on stdout (Arabic as itself, not escaped), one line unless `indent`."""
    print(json.dumps(value, ensure_ascii=False, indent=indent))


@dataclass
class TextArgument:
    """The text a command reads: its argument, or standard input."""

    text: str | None = setting(None, "the text (default: standard input)", positional=True, nargs="?")

    def read(self) -> str:
        """The argument (unless none or '-'), else standard input; a ValueError when stdin is a terminal."""
        if self.text is not None and self.text != "-":
            return self.text
        if sys.stdin.isatty():
            raise ValueError("give the text as an argument or on standard input")
        return sys.stdin.read()
