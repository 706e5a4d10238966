"""Shared pytest fixtures and the per-notebook time report."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "_out"

#: (notebook, seconds, budget) rows filled by tests/test_notebooks.py, printed at the end of the run.
NOTEBOOK_TIMES: list[tuple[str, float, float]] = []


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook execution times")
        for name, seconds, budget in NOTEBOOK_TIMES:
            terminalreporter.write_line(f"{seconds:7.1f} s  (budget {budget:5.0f} s)  {name}")
