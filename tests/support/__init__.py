"""Helpers shared by the tests: tiny models built in the test, server and scorer processes, Arabic samples."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"  # small committed data files, one folder per stage
