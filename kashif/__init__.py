"""Kashif: Arabic named entities and stance.

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
