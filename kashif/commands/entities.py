"""`kashif entities`: named entities in Arabic text, as JSON on stdout."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from kashif.commands._run import TextArgument
from kashif.commands._task import bounded, run_task_command
from kashif.model.answer_formats import ANSWER_FORMATS, answer_entities
from kashif.model.settings import setting

COMMAND = "entities"


def _label_list(value: str) -> list[str]:
    labels = [label.strip() for label in value.split(",") if label.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("give at least one entity type, e.g. PERS,LOC")
    return labels


@dataclass
class EntitiesOptions(TextArgument):
    format: str = setting("kashif", "answer shape: kashif (default), hf (Hugging Face token classification), displacy "
                          "(spaCy manual render)", choices=ANSWER_FORMATS, show_default=False)
    labels: list[str] | None = setting(None, "keep only these entity types, comma-separated (e.g. PERS,LOC)",
                                       parse=_label_list)
    min_score: float | None = setting(None, "keep only entities scoring at least this (0 to 1)", parse=bounded(float, "number", 0, 1))


def run(argv: list[str], command: str = COMMAND) -> int:
    return run_task_command(command, EntitiesOptions, argv, _answer)


def _answer(options: EntitiesOptions, text: str, task: str, predictor) -> dict:
    return answer_entities(text, predictor.run(task, [text])[0], options.format, options.labels, options.min_score)
