"""cnngrader/cell_clock.py: a cell's own time is what it would take on an idle machine, however busy the
machine is (the reference: the process's own CPU time, for a single-threaded CPU-bound process, and wall
time for a sleeping one)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import psutil
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


WRAPPERS = {
    # the grading sandbox's chain: bubblewrap (and its pid 1) between the launcher and ipykernel
    "bubblewrap": ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                   "--dev", "/dev"],
    # two plain parents that wait for their child
    "two parents": [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
                    sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])"],
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_the_kernel_below_its_wrappers_is_the_one_timed(wrapper):
    """The process nbclient starts waits while the kernel below it computes: its clock would be the wall
    time. kernel_process finds the kernel (a Python process running ipykernel_launcher), and its own time
    is its CPU work under load, as for a process started directly."""
    if wrapper == "bubblewrap" and not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed")
    kernel_argv = [sys.executable, "-c", BUSY, "ipykernel_launcher"]
    with cpu_hogs():
        proc = subprocess.Popen(WRAPPERS[wrapper] + kernel_argv)
        deadline = time.monotonic() + 30
        started = lambda pid: pid != proc.pid and psutil.Process(pid).cmdline() == kernel_argv  # noqa: E731
        kernel = proc.pid
        while not started(kernel) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)  # (the grader looks once the kernel answers: every wrapper has started it)
            kernel = cell_clock.kernel_process(proc.pid)
        assert started(kernel), "kernel_process did not find the kernel below its wrappers"
        outer, inner = cell_clock.CellClock(proc.pid), cell_clock.CellClock(kernel)
        while proc.poll() is None:
            outer.own(), inner.own()
            time.sleep(0.05)
    wall, own, wrapper_own = inner.wall(), inner.own(), outer.own()
    assert wall > 1.5 * own, f"the machine was not loaded: wall {wall:.1f} s, own {own:.1f} s"
    assert CPU_SECONDS * 0.5 < own < CPU_SECONDS * 1.6, f"own time {own:.2f} s for {CPU_SECONDS} s of CPU work"
    assert wrapper_own > 1.5 * own, f"the wrapper's clock ({wrapper_own:.1f} s) should be about the wall time"


def test_unknown_process_falls_back_to_wall_time():
    clock = cell_clock.CellClock(None)
    time.sleep(0.2)
    assert clock.own() == pytest.approx(clock.wall(), abs=0.01) and clock.own() >= 0.2
    assert cell_clock.run_delay(2 ** 22 + 12345) is None
