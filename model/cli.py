"""`kashif entities`, `kashif stance` and `kashif classify` (one command per task of the registry, named by its
answer), and the model options every command shares."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from kashif.command import run_command
from kashif.model.answer_formats import ANSWER_FORMATS, CLASSIFY_FORMATS, answer_classification, answer_entities
from kashif.model.settings import add_arguments, from_args
from kashif.model.tasks import PAIR, TASK_NAMES, TOKEN, Task, task_answering

if TYPE_CHECKING:
    from kashif.model.predictor import Predictor, PredictorConfig


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model choice and inference settings, the same flags for every command (declared in model.predictor)."""
    from kashif.model.predictor import ModelRefs, PredictorConfig

    add_arguments(parser, ModelRefs)
    add_arguments(parser, PredictorConfig)


def predictor_config_from_args(args: argparse.Namespace) -> "PredictorConfig":
    from kashif.model.predictor import PredictorConfig

    return from_args(PredictorConfig, args)


def predictor_from_args(args: argparse.Namespace, tasks: tuple[str, ...] = TASK_NAMES) -> "Predictor":
    """Build the shared Predictor from parsed `add_model_arguments` flags."""
    from kashif.model.predictor import ModelRefs, Predictor

    refs = from_args(ModelRefs, args)
    return Predictor.from_refs(config=predictor_config_from_args(args), tasks=tasks, **refs.references())


def _read_text(arg: str | None) -> str:
    if arg is not None and arg != "-":
        return arg
    if sys.stdin.isatty():
        raise ValueError("give the text as an argument or on standard input")
    return sys.stdin.read()


def _label_list(value: str) -> list[str]:
    labels = [label.strip() for label in value.split(",") if label.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("give at least one entity type, e.g. PERS,LOC")
    return labels


def _score(value: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= score <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return score


def _top_k(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return k


def _add_answer_arguments(parser: argparse.ArgumentParser, task: Task) -> None:
    """The options of a task's answer, by its shape: a token task's filters, a pair task's targets, a text
    classifier's top-k."""
    if task.head == TOKEN:
        parser.add_argument("--format", default="kashif", choices=ANSWER_FORMATS,
                            help="answer shape: kashif (default), hf (Hugging Face token classification), displacy (spaCy manual render)")
        parser.add_argument("--labels", type=_label_list, help="keep only these entity types, comma-separated (e.g. PERS,LOC)")
        parser.add_argument("--min-score", type=_score, help="keep only entities scoring at least this (0 to 1)")
    elif task.inputs == PAIR:
        parser.add_argument("--target", action="append", required=True, help="the claim or target (repeatable)")
    else:
        parser.add_argument("--format", default="kashif", choices=CLASSIFY_FORMATS,
                            help="answer shape: kashif (default) or hf (the text-classification pipeline's [{label, score}])")
        parser.add_argument("--top-k", type=_top_k, help="only the K best labels' scores (default: every label)")


def run(command: str, argv: list[str]) -> int:
    task = task_answering(command)
    parser = argparse.ArgumentParser(prog=f"kashif {command}")
    parser.add_argument("text", nargs="?", help="the text (default: standard input)")
    _add_answer_arguments(parser, task)
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, lambda: _answer(task, args), usage_errors=(ValueError,))


def _answer(task: Task, args: argparse.Namespace) -> int:
    """Print the answer of `kashif <task's answer name>` as JSON."""
    text = _read_text(args.text)
    predictor = predictor_from_args(args, tasks=(task.name,))
    if task.head == TOKEN:
        out = answer_entities(text, predictor.run(task.name, [text])[0], args.format, args.labels, args.min_score)
    elif task.inputs == PAIR:
        results = predictor.run(task.name, [(text, target) for target in args.target])
        out = {task.answer: [{"target": t, **r.to_dict()} for t, r in zip(args.target, results)]}
    else:
        out = answer_classification(predictor.run(task.name, [text])[0], args.format, args.top_k)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
