"""`kashif classify` (and any other single-text classification task of the registry): each label's score for a text,
as JSON on stdout."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from kashif.commands._flags import parse_options, predictor_from_args
from kashif.commands._run import TextArgument, print_json, run_command
from kashif.model.answer_formats import CLASSIFY_FORMATS, answer_classification
from kashif.model.settings import setting
from kashif.model.tasks import task_of_answer

COMMAND = "classify"


def _top_k(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return k


@dataclass
class ClassifyOptions(TextArgument):
    format: str = setting("kashif", "answer shape: kashif (default) or hf (the text-classification pipeline's "
                          "[{label, score}])", choices=CLASSIFY_FORMATS, show_default=False)
    top_k: int | None = setting(None, "only the K best labels' scores (default: every label)", parse=_top_k)


def run(argv: list[str], command: str = COMMAND) -> int:
    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, lambda: _classify(command, argv), usage_errors=(ValueError,))


def _classify(command: str, argv: list[str]) -> int:
    options, args = parse_options(command, ClassifyOptions, argv, models=True)
    text = options.read()
    task = task_of_answer(command)
    predictor = predictor_from_args(args, tasks=(task,))
    print_json(answer_classification(predictor.run(task, [text])[0], options.format, options.top_k), indent=2)
    return 0
