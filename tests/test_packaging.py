"""The distribution installs every package under the `kashif` name (pyproject's explicit package list)."""
from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.support import REPO

SOURCE_FOLDERS = {"kashif.model": "model", "kashif.training": "training", "kashif.serve": "serve"}


def _packages_in_the_tree() -> set[str]:
    found = set()
    for name, folder in {"kashif": "kashif", **SOURCE_FOLDERS}.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *relative.parts]))
    return found


def test_every_package_folder_is_listed_and_mapped():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert set(setuptools["packages"]) == _packages_in_the_tree()
    assert setuptools["package-dir"] == SOURCE_FOLDERS


def test_no_top_level_model_serve_or_training_is_importable_outside_the_checkout(tmp_path):
    probe = "import importlib.util as u; print([n for n in ('model', 'serve', 'training') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
