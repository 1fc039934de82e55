"""`kashif stance`: the stance of a text toward each target, as JSON on stdout."""
from __future__ import annotations

from dataclasses import dataclass

from kashif.commands._flags import parse_options, predictor_from_args
from kashif.commands._run import TextArgument, print_json, run_command
from kashif.model.settings import setting
from kashif.model.tasks import task_of_answer

COMMAND = "stance"


@dataclass(kw_only=True)
class StanceOptions(TextArgument):
    target: list[str] = setting(help="the claim or target (repeatable)", repeat=True)


def run(argv: list[str], command: str = COMMAND) -> int:
    # ValueError: no text, a text that is not UTF-8 (UnicodeDecodeError), inference settings out of range
    return run_command(command, lambda: _stance(command, argv), usage_errors=(ValueError,))


def _stance(command: str, argv: list[str]) -> int:
    options, args = parse_options(command, StanceOptions, argv, models=True)
    text = options.read()
    task = task_of_answer(command)
    predictor = predictor_from_args(args, tasks=(task,))
    results = predictor.run(task, [(text, target) for target in options.target])
    print_json({command: [{"target": t, **r.to_dict()} for t, r in zip(options.target, results)]}, indent=2)
    return 0
