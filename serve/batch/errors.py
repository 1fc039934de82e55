"""The batch scorer's own errors; `kashif score` turns each into one line on
stderr and its exit code (kashif/commands/_run.py)."""
from __future__ import annotations

from kashif.model.errors import EXIT_FAILURE, KashifError


class UsageError(KashifError):
    """Bad options or inputs: one line on stderr, exit code 2."""


class EngineError(KashifError):
    """The scoring engine itself failed (not one row); the message is one line."""

    exit_code = EXIT_FAILURE
