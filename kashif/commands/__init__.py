"""The `kashif` commands, one module per command (`import-encoder` → `import_encoder.py`), each a thin `run(argv)`
over a library function: its flags come from `setting()` declarations (`_flags.py`), and it fails the one way
(`_run.py`). `kashif/cli.py` dispatches to them lazily."""
