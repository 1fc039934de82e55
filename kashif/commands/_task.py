"""What the task commands (`kashif entities`, `stance`, `classify`: one per task of the registry) share: read the text,
load the task's model, print its answer as JSON."""
from __future__ import annotations

import argparse
from typing import Any, Callable, TypeVar

from kashif.commands._flags import parse_options, predictor_from_args
from kashif.commands._run import TextArgument, print_json, run_command
from kashif.model.tasks import task_of_answer

O = TypeVar("O", bound=TextArgument)
# (the command's options, the text, the task's name, the predictor) → the JSON answer
Answer = Callable[[Any, str, str, Any], Any]


def run_task_command(command: str, options_class: type[O], argv: list[str], answer: Answer) -> int:
    def _run() -> int:
        options, args = parse_options(command, options_class, argv, models=True)
        text = options.read()
        task = task_of_answer(command)
        print_json(answer(options, text, task, predictor_from_args(args, tasks=(task,))), indent=2)
        return 0

    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, _run, usage_errors=(ValueError,))


def bounded(cast: Callable[[str], float], what: str, low: float, high: float | None = None) -> Callable[[str], Any]:
    """A flag parser: `cast` the value (else '... is not a WHAT') and keep it within [low, high]."""

    def parse(value: str):
        try:
            number = cast(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {what}") from None
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"{value} is below {low}" if high is None else f"{value} is not between {low} and {high}")
        return number

    return parse
