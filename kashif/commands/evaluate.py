"""`kashif evaluate`: score a model on a labeled file through the shared Predictor (training.evaluate)."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from kashif.commands._flags import (
    STANCE_COLUMN_FLAGS,
    add_arguments,
    add_model_arguments,
    from_args,
    predictor_from_args,
    stance_columns_from_args,
)
from kashif.commands._run import run_command
from kashif.model.settings import setting
from kashif.model.tasks import TASK_NAMES
from kashif.training.config import TrainConfig

# how the data is read: the same flags as `kashif train`'s (TrainConfig declares them)
DATA_FLAGS = ("format", "tag_map", "label_map", "target_map", *STANCE_COLUMN_FLAGS)


@dataclass
class EvaluateOptions:
    data: str = setting(help="labeled data (same formats as kashif train)")
    task: str | None = setting(None, "default: the model's task (or guessed from the data)", choices=TASK_NAMES)
    output: str | None = setting(None, "write the full report as JSON here")
    split: str | None = setting(None, "split of a DatasetDict / hub dataset (default: test)")


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kashif evaluate", description="Score a model on a labeled file through the shared Predictor.")
    add_arguments(parser, EvaluateOptions)
    add_arguments(parser, TrainConfig, only=DATA_FLAGS)
    add_model_arguments(parser)
    return parser


def run(argv: list[str]) -> int:
    # ValueError: settings the Predictor or the data reader refuse
    return run_command("evaluate", lambda: _evaluate(argv), usage_errors=(ValueError,))


def _evaluate(argv: list[str]) -> int:
    from kashif.training.evaluate import check_data_path, evaluate, format_report, task_to_evaluate

    args = evaluate_parser().parse_args(argv)
    options = from_args(EvaluateOptions, args)
    check_data_path(options.data)
    predictor = predictor_from_args(args, tasks=(options.task,) if options.task else TASK_NAMES)
    task = task_to_evaluate(predictor, options.data, options.task, args.format)
    report = evaluate(
        predictor,
        options.data,
        task,
        tag_map=args.tag_map,
        label_map=args.label_map,
        target_map=args.target_map,
        columns=stance_columns_from_args(args),
        split=options.split,
        fmt=args.format,
    )
    print(format_report(report))
    if options.output:
        out = Path(options.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport written to {out}")
    return 0
