"""The batch scorer's own errors; `kashif score` turns each into one line on
stderr and its exit code (serve/batch/job.py)."""
from __future__ import annotations


class UsageError(Exception):
    """Bad options or inputs: one line on stderr, exit code 2."""


class EngineError(Exception):
    """The scoring engine itself failed (not one row); the message is one line."""
