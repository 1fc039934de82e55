"""`kashif pretrain`: train a WordPiece tokenizer and pretrain a BERT encoder with masked-LM (training.pretrain)."""
from __future__ import annotations

import argparse
import os

from kashif.commands._flags import add_arguments, from_args
from kashif.commands._run import run_command
from kashif.training.pretrain import PretrainConfig, validate


def pretrain_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kashif pretrain",
        description="Train a WordPiece tokenizer and pretrain (or continue pretraining) a BERT encoder with masked-LM.",
    )
    add_arguments(parser, PretrainConfig)
    return parser


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The checked config (PretrainError: what is wrong with it)."""
    config = from_args(PretrainConfig, args)
    validate(config)
    return config


def run(argv: list[str]) -> int:
    # ValueError, OSError: values or files this run cannot use, reported like its own PretrainErrors
    return run_command("pretrain", lambda: _pretrain(argv), usage_errors=(ValueError, OSError),
                       interrupted="interrupted (continue with --resume)")


def _pretrain(argv: list[str]) -> int:
    from kashif.training.pretrain import run as pretrain

    config = config_from_args(pretrain_parser().parse_args(argv))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    pretrain(config)
    return 0
