"""`kashif score`: score files offline, resumably (serve.batch.job).

    kashif score news.jsonl.gz --output scored.jsonl --model bundle/ --target "التطبيع"
"""
from __future__ import annotations

import argparse

from kashif.commands._flags import add_arguments_with_models, from_args_with_models
from kashif.commands._run import run_command
from kashif.serve.batch.errors import UsageError
from kashif.serve.batch.job import RESUME_HINT, score
from kashif.serve.batch.settings import ScoreSettings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one readable line instead of usage + error
        raise UsageError(message)


def score_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kashif score", description="Score files offline: entities and stance for every row, resumable after a crash.")
    add_arguments_with_models(parser, ScoreSettings)
    return parser


def parse_settings(argv: list[str]) -> ScoreSettings:
    """The settings the flags and KASHIF_* variables give (UsageError: a malformed value)."""
    try:
        return from_args_with_models(ScoreSettings, score_parser().parse_args(argv))
    except ValueError as err:
        raise UsageError(str(err)) from None


def run(argv: list[str]) -> int:
    """The exit code, with errors reported on stderr (--help: 0)."""
    try:
        return run_command("score", lambda: score(parse_settings(argv)), interrupted=f"interrupted; {RESUME_HINT}")
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
