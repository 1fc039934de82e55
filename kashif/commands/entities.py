"""`kashif entities`: named entities in Arabic text, as JSON on stdout."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from kashif.commands._flags import parse_options, predictor_from_args
from kashif.commands._run import TextArgument, print_json, run_command
from kashif.model.answer_formats import ANSWER_FORMATS, answer_entities
from kashif.model.settings import setting
from kashif.model.tasks import task_of_answer

COMMAND = "entities"


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


@dataclass
class EntitiesOptions(TextArgument):
    format: str = setting("kashif", "answer shape: kashif (default), hf (Hugging Face token classification), displacy "
                          "(spaCy manual render)", choices=ANSWER_FORMATS, show_default=False)
    labels: list[str] | None = setting(None, "keep only these entity types, comma-separated (e.g. PERS,LOC)",
                                       parse=_label_list)
    min_score: float | None = setting(None, "keep only entities scoring at least this (0 to 1)", parse=_score)


def run(argv: list[str], command: str = COMMAND) -> int:
    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, lambda: _entities(command, argv), usage_errors=(ValueError,))


def _entities(command: str, argv: list[str]) -> int:
    options, args = parse_options(command, EntitiesOptions, argv, models=True)
    text = options.read()
    task = task_of_answer(command)
    predictor = predictor_from_args(args, tasks=(task,))
    print_json(answer_entities(text, predictor.run(task, [text])[0], options.format, options.labels, options.min_score), indent=2)
    return 0
