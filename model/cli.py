"""`kashif entities` and `kashif stance`, and the model options every command shares."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from kashif.command import run_command
from kashif.model.answer_formats import ANSWER_FORMATS, answer_entities
from kashif.model.settings import add_arguments, from_args
from kashif.model.tasks import TASKS, task_of_answer

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


def predictor_from_args(args: argparse.Namespace, tasks: tuple[str, ...] = TASKS) -> "Predictor":
    """Build the shared Predictor from parsed `add_model_arguments` flags."""
    from kashif.model.predictor import ModelRefs, Predictor

    refs = from_args(ModelRefs, args)
    return Predictor.from_refs(refs.model, refs.ner_model, refs.stance_model, predictor_config_from_args(args), tasks=tasks)


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


def run(command: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"kashif {command}")
    parser.add_argument("text", nargs="?", help="the text (default: standard input)")
    if command == "stance":
        parser.add_argument("--target", action="append", required=True, help="the claim or target (repeatable)")
    else:
        parser.add_argument("--format", default="kashif", choices=ANSWER_FORMATS,
                            help="answer shape: kashif (default), hf (Hugging Face token classification), displacy (spaCy manual render)")
        parser.add_argument("--labels", type=_label_list, help="keep only these entity types, comma-separated (e.g. PERS,LOC)")
        parser.add_argument("--min-score", type=_score, help="keep only entities scoring at least this (0 to 1)")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, lambda: _answer(command, args), usage_errors=(ValueError,))


def _answer(command: str, args: argparse.Namespace) -> int:
    """Print the answer of `kashif entities` or `kashif stance` as JSON."""
    text = _read_text(args.text)
    predictor = predictor_from_args(args, tasks=(task_of_answer(command),))
    if command == "entities":
        out = answer_entities(text, predictor.entities([text])[0], args.format, args.labels, args.min_score)
    else:
        results = predictor.stance([(text, target) for target in args.target])
        out = {"stance": [{"target": t, **r.to_dict()} for t, r in zip(args.target, results)]}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
