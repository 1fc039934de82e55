"""The one base of the errors a `kashif` command reports, and the exit codes they map to."""
from __future__ import annotations

EXIT_FAILURE = 1  # the command could not finish (an engine crash, an unexpected error)
EXIT_USAGE = 2  # bad options or inputs: fix the command line or the files and run it again


class KashifError(Exception):
    """An error a command reports as one line, `kashif <command>: error: <message>`, exiting with `exit_code`.

    Subclasses keep ValueError or RuntimeError as a second base where callers catch them as such.
    """

    exit_code: int = EXIT_USAGE
