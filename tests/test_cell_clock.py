"""scripts/cell_clock.py: a cell's own time is what it would take on an idle machine, however busy the
machine is (the reference: the process's own CPU time, for a single-threaded CPU-bound process, and wall
time for a sleeping one)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import cpu_hogs, load_script

from cnngrader import cell_clock
CPU_SECONDS = 2.0
BUSY = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {CPU_SECONDS}: pass"


def run_timed(code: str) -> tuple[float, float]:
    """(wall, own) seconds of a fresh process running ``code``."""
    proc = subprocess.Popen([sys.executable, "-c", code])
    clock = cell_clock.CellClock(proc.pid)
    while proc.poll() is None:
        clock.own()  # keeps the last reading before the process is gone
        time.sleep(0.05)
    return clock.wall(), clock.own()


pytestmark = pytest.mark.skipif(not cell_clock.available(), reason="this kernel has no /proc/<pid>/schedstat")


def test_own_time_of_a_busy_process_ignores_a_loaded_machine():
    with cpu_hogs():
        wall, own = run_timed(BUSY)
    # the process needed CPU_SECONDS of CPU; it waited for a CPU most of the time
    assert wall > 1.5 * own, f"the machine was not loaded: wall {wall:.1f} s, own {own:.1f} s"
    assert CPU_SECONDS * 0.8 < own < CPU_SECONDS * 1.6, f"own time {own:.2f} s for {CPU_SECONDS} s of CPU work"


def test_own_time_of_a_sleeping_process_is_its_wall_time():
    with cpu_hogs():
        wall, own = run_timed("import time; time.sleep(2)")
    assert own > 0.9 * wall and 1.9 < own < 4, (wall, own)


def test_unknown_process_falls_back_to_wall_time():
    clock = cell_clock.CellClock(None)
    time.sleep(0.2)
    assert clock.own() == pytest.approx(clock.wall(), abs=0.01) and clock.own() >= 0.2
    assert cell_clock.run_delay(2 ** 22 + 12345) is None
