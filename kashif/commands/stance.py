"""`kashif stance`: the stance of a text toward each target, as JSON on stdout."""
from __future__ import annotations

from dataclasses import dataclass

from kashif.commands._run import TextArgument
from kashif.commands._task import run_task_command
from kashif.model.settings import setting
from kashif.model.tasks import task_named

COMMAND = "stance"


@dataclass(kw_only=True)
class StanceOptions(TextArgument):
    target: list[str] = setting(help="the claim or target (repeatable)", repeat=True)


def run(argv: list[str], command: str = COMMAND) -> int:
    return run_task_command(command, StanceOptions, argv, _answer)


def _answer(options: StanceOptions, text: str, task: str, predictor) -> dict:
    results = predictor.run(task, [(text, target) for target in options.target])
    return {task_named(task).answer: [{"target": t, **r.to_dict()} for t, r in zip(options.target, results)]}
