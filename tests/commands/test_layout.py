"""Where the code is: the inference library (model/) stands alone, and only kashif/commands/ reads a command line."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

FRONT_DOOR = ("kashif.cli", "kashif.commands", "kashif.training", "kashif.serve")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _library_files() -> list[Path]:
    return [p for folder in ("model", "training", "serve") for p in (REPO / folder).rglob("*.py")]


def test_the_inference_library_imports_nothing_from_the_front_door_training_or_serve():
    wrong = {
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / "model").rglob("*.py")
        for name in _imports(path)
        if name == "kashif" or name.startswith(FRONT_DOOR) or name.split(".")[0] in ("training", "serve", "commands")
    }
    assert not wrong


def test_no_library_module_parses_a_command_line():
    wrong = [
        str(path.relative_to(REPO))
        for path in _library_files()
        if "argparse" in _imports(path) or "__main__" in path.read_text(encoding="utf-8")
        or any(name.startswith(("kashif.cli", "kashif.commands")) for name in _imports(path))
    ]
    assert not wrong


def test_every_command_is_one_module_in_kashif_commands():
    from kashif.cli import COMMANDS, command_module

    modules = {p.stem for p in (REPO / "kashif" / "commands").glob("*.py") if not p.stem.startswith("_")}
    assert {command_module(c).rsplit(".", 1)[1] for c in COMMANDS} == modules
