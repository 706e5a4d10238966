"""How long a grading kernel has been running a cell on its own account, whatever else the machine does.

A cell's budget (120 s, nbgrader_config.py) is meant for the student's code, not for the other processes
of the grading machine. Wall time is not that: with both cores busy, a cell that needs 40 s of an idle
machine takes 120 s or more, and a correct answer scored 0. Linux counts, for every thread, the time it was
ready to run but waiting for a CPU (``/proc/<pid>/schedstat``, second field, in ns). A cell's **own time**
is its wall time minus that wait of the kernel's main thread: what the cell would have taken had the
machine been idle (computing, sleeping or blocked all count; waiting for a CPU does not).

The kernel process is ipykernel itself, not the process nbclient started: in the grading sandbox that is
the launcher, with bubblewrap and its pid 1 between them, all asleep while the cell runs (their clock
would be wall time). ``kernel_process`` finds ipykernel among the descendants.

The main thread is the one that runs the cell: with one torch thread per kernel (``-j 2`` on 2 cores) the
figure is exact; with more threads, time the main thread spends waiting for a busy worker thread still
counts as its own (so the clock is at worst slower to forgive, never faster to punish). Where schedstat is
not available the clock falls back to wall time (``available()`` says which).
"""
from __future__ import annotations

import time
from pathlib import Path


def run_delay(pid: int) -> float | None:
    """Seconds the main thread of ``pid`` has waited for a CPU since it started (None: unknown)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def kernel_process(pid: int, marker: str = "ipykernel_launcher") -> int:
    """The kernel below ``pid`` (the process nbclient started): the deepest Python process among ``pid``
    and its descendants whose command line names ``marker``; ``pid`` itself if none does. Call it before
    the kernel runs student code (a process of theirs could carry the marker)."""
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]  # (one scan of /proc)
    except psutil.Error:
        return pid
    parent, kernels = {}, []
    for proc in procs:
        try:
            parent[proc.pid] = proc.ppid()
            if marker in proc.cmdline() and proc.name().startswith("python"):
                kernels.append(proc.pid)
        except psutil.Error:
            continue
    found, depth = pid, -1
    for kernel in kernels:
        level, up = 0, kernel
        while up != pid and up in parent:
            level, up = level + 1, parent[up]
        if level > depth:
            found, depth = kernel, level
    return found


def available() -> bool:
    """Whether this kernel reports run-queue waits (CONFIG_SCHED_INFO)."""
    return run_delay(1) is not None or Path("/proc/self/schedstat").exists()


class CellClock:
    """Started when a cell starts: ``own()`` is its wall time so far minus the kernel's waits for a CPU."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.t0 = time.monotonic()
        self.wait0 = self.last = run_delay(pid) if pid else None

    def wall(self) -> float:
        return time.monotonic() - self.t0

    def waited(self) -> float:
        """Seconds the kernel's main thread has waited for a CPU since the start (0 if unknown)."""
        if self.wait0 is None:
            return 0.0
        now = run_delay(self.pid)
        if now is not None:  # (after the process is gone: the last reading)
            self.last = now
        return max(0.0, self.last - self.wait0)

    def own(self) -> float:
        return max(0.0, self.wall() - self.waited())
