"""`kashif train`, `kashif evaluate` and `kashif pretrain`."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from kashif.command import fail, run_command
from kashif.model.tasks import TASKS

# Input formats of train and evaluate (training.data reads them; label-studio and prodigy: NER only).
DATA_FORMATS = ("auto", "conll", "jsonl", "csv", "tsv", "disk", "baly", "label-studio", "prodigy")


# ------------------------------------------------------------------ train


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kashif train",
        description="Fine-tune an encoder for NER or stance. Flags override --config; every flag is also a config key.",
        argument_default=None,
    )
    p.add_argument("task", choices=TASKS)
    p.add_argument("--config", help="YAML or JSON file of settings (keys = flag names)")
    data = p.add_argument_group("data")
    data.add_argument("--train", help="training data: CoNLL/JSONL/CSV/TSV file, `save_to_disk` dir, Baly dir, or hub dataset")
    data.add_argument("--dev", help="dev data (same formats)")
    data.add_argument("--test", help="test data, scored once at the end")
    data.add_argument("--dev-split", type=float, help="carve this fraction of train as dev (seeded; stratified for stance)")
    data.add_argument("--format", choices=DATA_FORMATS, help="input format (default: by extension; a .json Label Studio export is recognised)")
    data.add_argument("--labels", type=lambda s: [x.strip() for x in s.split(",") if x.strip()], help="comma-separated label set (default: from train)")
    data.add_argument("--tag-map", help="NER tag mapping: FROM=TO pairs, a file, or a preset (caraner, newsfane)")
    data.add_argument("--text-column", help="stance: column with the text")
    data.add_argument("--target-column", help="stance: column with the target/claim")
    data.add_argument("--label-column", help="stance: column with the label")
    m = p.add_argument_group("model")
    m.add_argument("--base-model", help="encoder to fine-tune: a local directory or a hub id")
    m.add_argument("--output", help="output model directory")
    m.add_argument("--normalization", help="word normalisation: default, none, or key=0/1,... (e.g. unify_alef=1)")
    m.add_argument("--max-length", type=int, help="pieces per sequence (default 128)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=float, help="default 3")
    o.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)")
    o.add_argument("--learning-rate", type=float, help="peak learning rate (default 5e-5)")
    o.add_argument("--batch-size", type=int, help="per-process batch size (default 16)")
    o.add_argument("--eval-batch-size", type=int)
    o.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    o.add_argument("--warmup", type=float, help="linear warmup: a fraction of the steps (<1) or a step count (default 0.1)")
    o.add_argument("--weight-decay", type=float, help="default 0.01")
    o.add_argument("--max-grad-norm", type=float)
    o.add_argument("--class-weights", action=argparse.BooleanOptionalAction, help="weight the loss by inverse label frequency")
    o.add_argument("--early-stopping", type=int, metavar="N", help="stop after N evaluations without a better dev F1")
    o.add_argument("--bf16", choices=("auto", "on", "off"), help="bf16 mixed precision (auto: where the hardware has it)")
    o.add_argument("--seed", type=int)
    b = p.add_argument_group("checkpoints and logging")
    b.add_argument("--eval-steps", type=int, help="evaluate (and checkpoint) every N steps (default: every epoch)")
    b.add_argument("--save-steps", type=int, help="checkpoint every N steps")
    b.add_argument("--save-total-limit", type=int)
    b.add_argument("--logging-steps", type=int)
    b.add_argument("--resume", nargs="?", const=True, help="continue from the last checkpoint in OUTPUT/checkpoints (or the one named)")
    b.add_argument("--overwrite", action="store_true", default=None, help="discard existing checkpoints in OUTPUT")
    b.add_argument("--num-workers", type=int, help="data loader workers")
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
    p.add_argument("--task", choices=TASKS, help="default: the model's task (or guessed from the data)")
    p.add_argument("--output", help="write the full report as JSON here")
    p.add_argument("--format", default="auto", choices=DATA_FORMATS, help="data format (default: by extension)")
    p.add_argument("--split", help="split of a DatasetDict / hub dataset (default: test)")
    p.add_argument("--tag-map", help="NER tag mapping for the gold tags (FROM=TO pairs, file or preset)")
    p.add_argument("--text-column")
    p.add_argument("--target-column")
    p.add_argument("--label-column")
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
    tasks = (args.task,) if args.task else TASKS
    predictor = predictor_from_args(args, tasks=tasks)
    loaded = [t for t, info in predictor.info().items()]
    task = args.task
    if task is None:
        task = loaded[0] if len(loaded) == 1 else guess_task(args.data, args.format)
        if task is None:
            raise DataError(f"{args.data}: cannot tell whether this is NER or stance data; pass --task")
    if task not in loaded:
        raise DataError(f"the model has no {task} part (it has: {', '.join(loaded)})")
    report = evaluate(
        predictor,
        args.data,
        task,
        tag_map=args.tag_map,
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
