"""`kashif train`, `kashif evaluate` and `kashif pretrain`."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from kashif.command import fail, run_command
from kashif.model.settings import add_arguments
from kashif.model.tasks import TASK_NAMES
from kashif.training.config import TrainConfig

# ------------------------------------------------------------------ train


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kashif train",
        description=f"Fine-tune an encoder for a task ({', '.join(TASK_NAMES)}). Flags override --config; every flag is also a config key.",
        argument_default=None,
    )
    p.add_argument("task", choices=TASK_NAMES)
    p.add_argument("--config", help="YAML or JSON file of settings (keys = flag names)")
    add_arguments(p, TrainConfig, suppress_defaults=True)  # left out when not given: --config may set them
    return p


def run_train(argv: list[str]) -> int:
    args = train_parser().parse_args(argv)
    return run_command("train", lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    from kashif.training.config import build_config, load_config_file
    from kashif.training.finetune import configure_logging, train

    values = vars(args).copy()
    config_path = values.pop("config")
    file_values = load_config_file(config_path) if config_path else {}
    config = build_config(file_values, values)
    configure_logging()
    # The Trainer prints its progress and log lines to stdout; keep stdout for the result.
    with contextlib.redirect_stdout(sys.stderr):
        results = train(config)
    if int(os.environ.get("RANK", "0") or 0) == 0:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


# ------------------------------------------------------------------ evaluate


def evaluate_parser() -> argparse.ArgumentParser:
    from kashif.model.cli import add_model_arguments

    p = argparse.ArgumentParser(prog="kashif evaluate", description="Score a model on a labeled file through the shared Predictor.")
    p.add_argument("--data", required=True, help="labeled data (same formats as kashif train)")
    p.add_argument("--task", choices=TASK_NAMES, help="default: the model's task (or guessed from the data)")
    p.add_argument("--output", help="write the full report as JSON here")
    p.add_argument("--split", help="split of a DatasetDict / hub dataset (default: test)")
    add_arguments(p, TrainConfig, only=("format", "tag_map", "label_map", "target_map", "text_column", "target_column",
                                            "label_column"))
    add_model_arguments(p)
    return p


def run_evaluate(argv: list[str]) -> int:
    args = evaluate_parser().parse_args(argv)
    # ValueError: settings the Predictor or the data reader refuse
    return run_command("evaluate", lambda: _evaluate(args), usage_errors=(ValueError,))


def _evaluate(args: argparse.Namespace) -> int:
    from kashif.model.cli import predictor_from_args
    from kashif.training.data import DataError, StanceColumns
    from kashif.training.evaluate import evaluate, format_report, guess_task

    if not Path(args.data).exists() and "@" not in args.data and "/" not in args.data:
        raise DataError(f"{args.data}: no such file or directory")
    tasks = (args.task,) if args.task else TASK_NAMES
    predictor = predictor_from_args(args, tasks=tasks)
    loaded = [t for t, info in predictor.info().items()]
    task = args.task
    if task is None:
        task = loaded[0] if len(loaded) == 1 else guess_task(args.data, args.format)
        if task is None:
            raise DataError(f"{args.data}: cannot tell which task this data is for; pass --task")
    if task not in loaded:
        raise DataError(f"the model has no {task} part (it has: {', '.join(loaded)})")
    report = evaluate(
        predictor,
        args.data,
        task,
        tag_map=args.tag_map,
        label_map=args.label_map,
        target_map=args.target_map,
        columns=StanceColumns(args.text_column, args.target_column, args.label_column),
        split=args.split,
        fmt=args.format,
    )
    print(format_report(report))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport written to {out}")
    return 0


# ------------------------------------------------------------------ dispatch


def run(command: str, argv: list[str]) -> int:
    if command == "train":
        return run_train(argv)
    if command == "evaluate":
        return run_evaluate(argv)
    if command == "pretrain":
        from kashif.training.pretrain import main

        return int(main(argv) or 0)
    if command in ("import-encoder", "fit-vocab", "tune-bias"):
        return run_encoder_tool(command, argv)
    return fail(command, f"unknown training command {command!r}")


def run_encoder_tool(command: str, argv: list[str]) -> int:
    from kashif.training.encoder_import import run_import
    from kashif.training.label_bias import run_tune_bias
    from kashif.training.vocab_fit import run_fit_vocab

    runner = {"import-encoder": run_import, "fit-vocab": run_fit_vocab, "tune-bias": run_tune_bias}[command]
    # OSError: a file that cannot be read or written
    return run_command(command, lambda: runner(argv), usage_errors=(OSError,))
