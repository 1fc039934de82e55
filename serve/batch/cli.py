"""`kashif score`: offline scoring of files, resumably (the job is kashif.serve.batch.job)."""
from __future__ import annotations


def run(command: str, argv: list[str]) -> int:
    if command == "score":
        from kashif.serve.batch.job import main

        return int(main(argv) or 0)
    raise ValueError(f"kashif.serve.batch.cli cannot run {command!r}")
