"""`kashif classify` (and any other single-text classification task of the registry): each label's score for a text,
as JSON on stdout."""
from __future__ import annotations

from dataclasses import dataclass

from kashif.commands._run import TextArgument
from kashif.commands._task import bounded, run_task_command
from kashif.model.answer_formats import CLASSIFY_FORMATS, answer_classification
from kashif.model.settings import setting

COMMAND = "classify"


@dataclass
class ClassifyOptions(TextArgument):
    format: str = setting("kashif", "answer shape: kashif (default) or hf (the text-classification pipeline's "
                          "[{label, score}])", choices=CLASSIFY_FORMATS, show_default=False)
    top_k: int | None = setting(None, "only the K best labels' scores (default: every label)", parse=bounded(int, "whole number", 1))


def run(argv: list[str], command: str = COMMAND) -> int:
    return run_task_command(command, ClassifyOptions, argv, _answer)


def _answer(options: ClassifyOptions, text: str, task: str, predictor) -> dict | list:
    return answer_classification(predictor.run(task, [text])[0], options.format, options.top_k)
