"""How every `kashif` command fails: one line on stderr, `kashif <command>: error: ...`, and an exit code.

Command modules run their work inside `run_command`; nothing here imports a command's package, so the
inference library, training and the services can all use it.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from kashif.model.errors import EXIT_FAILURE, EXIT_USAGE, KashifError
from kashif.model.messages import first_line, typed_line

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
