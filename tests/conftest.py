"""Shared pytest fixtures, the per-notebook time report, CI-only strictness."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from cnnlib import cpu

cpu.apply()  # the course's OpenMP policy, before anything imports torch (it is read once, at load)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "_out"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: (notebook, seconds, budget) rows filled by tests/test_notebooks.py, printed at the end of the run.
NOTEBOOK_TIMES: list[tuple[str, float, float]] = []

# Hypothesis: explore freely on a developer's machine; under CI replay the same examples every run, so a
# submission's CI result does not depend on luck (a failure found locally is kept in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if IN_CI:
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


def missing_tool(reason: str) -> None:
    """Skip a test whose system tool is missing; under CI, where .ci/run installs it, fail instead."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI: .ci/run should have installed it)")
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook execution times")
        for name, seconds, budget in NOTEBOOK_TIMES:
            terminalreporter.write_line(f"{seconds:7.1f} s own time  (budget {budget:5.0f} s)  {name}")


def load_script(name: str):
    """Import scripts/<name>.py (instructor tooling, not a package) as module ``course_<name>``, once."""
    import importlib.util
    import sys

    module_name = f"course_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
        module = sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def course_copy(dest: Path) -> Path:
    """A gradable copy of the course in ``dest`` (scripts/make_submissions.py ``course_copy``)."""
    return load_script("make_submissions").course_copy(dest)


def run_autograde(course: Path, *args: str, timeout: int = 1500):
    """python -m cnngrader (`make autograde`) on a course copy (the last lines of its report printed for the test log)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cnngrader", "--root", str(course), *args],
                          text=True, capture_output=True, timeout=timeout)
    print(proc.stdout[-6000:])
    return proc


def cpu_hogs(n: int | None = None):
    """A context manager: ``n`` processes (default: two per core) that keep a CPU busy each, until the
    block ends: the machine as busy as a grading server with other work."""
    import contextlib
    import subprocess
    import sys
    import time

    @contextlib.contextmanager
    def hogs():
        # each in a session of its own: with autogroup scheduling a session shares one CPU slice, and the
        # grading kernels run in sessions of their own too
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                 for _ in range(n or 2 * (os.cpu_count() or 2))]
        try:
            time.sleep(0.3)
            yield procs
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()

    return hogs()
