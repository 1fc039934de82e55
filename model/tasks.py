"""The two tasks, and the names their answers go by.

A model, a bundle's sub-directory and a model's kashif.json say `ner` or `stance`; the commands
(`kashif entities`), the scorer's `--tasks` and the answers' keys say `entities` or `stance`.
"""
from __future__ import annotations

TASKS = ("ner", "stance")
ANSWER_NAMES = ("entities", "stance")  # in the order of TASKS

_ANSWER_OF_TASK = dict(zip(TASKS, ANSWER_NAMES))
_TASK_OF_ANSWER = dict(zip(ANSWER_NAMES, TASKS))


def answer_of_task(task: str) -> str:
    """`ner` → `entities`, `stance` → `stance`."""
    return _ANSWER_OF_TASK[task]


def task_of_answer(answer_name: str) -> str:
    """`entities` → `ner`, `stance` → `stance`."""
    return _TASK_OF_ANSWER[answer_name]
