"""Kashif: Arabic named entities, stance and text classification. `kashif.load()` is the Python front door.

The installed distribution holds `kashif.model` (the inference library), `kashif.training` and `kashif.serve`; in the
source tree they stay the top-level folders `model/`, `training/` and `serve/` (pyproject's `package-dir` maps them).
"""
from __future__ import annotations

from pathlib import Path

# In a source checkout (no install, or another worktree on PYTHONPATH), find the subpackages in the folders beside
# this one, as pkgutil-style packages do; an installed wheel has them inside this directory already.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "model" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # noqa: F821 - the package's own __path__


def __getattr__(name: str):
    """`kashif.load` (see `kashif.model.api`), imported on first use so that `import kashif` stays light."""
    if name == "load":
        from kashif.model.api import load

        return load
    raise AttributeError(f"module 'kashif' has no attribute {name!r}")
