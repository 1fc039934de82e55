"""`kashif train ner|stance`: fine-tune an encoder (training.finetune); the results as JSON on stdout."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass

from kashif.commands._flags import add_arguments
from kashif.commands._run import print_json, run_command
from kashif.model.settings import setting
from kashif.model.tasks import TASK_NAMES
from kashif.training.config import TrainConfig


@dataclass
class TrainCommand:
    """The arguments beside TrainConfig's: the task and the config file its flags override."""

    task: str = setting(help="", positional=True, choices=TASK_NAMES)
    config: str | None = setting(None, "YAML or JSON file of settings (keys = flag names)")


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kashif train",
        description="Fine-tune an encoder for NER or stance. Flags override --config; every flag is also a config key.",
    )
    add_arguments(parser, TrainCommand)
    add_arguments(parser, TrainConfig, suppress_defaults=True)  # left out when not given: --config may set them
    return parser


def run(argv: list[str]) -> int:
    return run_command("train", lambda: _train(argv))


def _train(argv: list[str]) -> int:
    from kashif.training.config import build_config, load_config_file
    from kashif.training.finetune import configure_logging, train

    values = vars(train_parser().parse_args(argv))
    config_path = values.pop("config")
    config = build_config(load_config_file(config_path) if config_path else {}, values)
    configure_logging()
    # The Trainer prints its progress and log lines to stdout; keep stdout for the result.
    with contextlib.redirect_stdout(sys.stderr):
        results = train(config)
    if int(os.environ.get("RANK", "0") or 0) == 0:
        print_json(results, indent=2)
    return 0
