"""Processes, uids and cgroups of the grading kernels (used by the execute preprocessor, as root)."""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnngrader.sandbox.launcher import SCRATCH, alive, kill_all, processes_of

IS_ROOT = os.geteuid() == 0

def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, keyed by parent pid (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return children


def descendants(pid: int) -> list[int]:
    children = children_by_parent()
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if alive(child):
                out.append(child)
            todo.append(child)
    return out


def children_of(pid: int) -> list[int]:
    return children_by_parent().get(pid, [])


def pss_bytes(pids: list[int]) -> int:
    """Memory of these processes, pages shared between them (a fork's copy-on-write) counted once."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError):
            pass
    return total


def kill_uid(uid: int) -> int:
    """Kill every process of ``uid`` (a uid reserved for grading kernels): first atomically from inside
    (``kill(-1)`` run as that uid), then whatever is left."""
    if not processes_of(uid):
        return 0
    if IS_ROOT:
        code = (f"import os, signal; os.setgroups([]); os.setresgid({uid}, {uid}, {uid}); "
                f"os.setresuid({uid}, {uid}, {uid}); os.kill(-1, signal.SIGKILL)")
        subprocess.run([sys.executable, "-S", "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return kill_all(lambda: processes_of(uid))


def remove_uid_leftovers(uid: int) -> list[str]:
    """What a released grading uid left for the next kernel with that uid: SysV shared memory, message
    queues and semaphores (the kernel's private IPC namespace takes them with it where there is one), and
    entries in the world-writable folders (where there is no private tmpfs over them). Removed; returns
    what was."""
    removed = []
    for kind, flag in (("shm", "-m"), ("msg", "-q"), ("sem", "-s")):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        owners = [header.index(k) for k in ("uid", "cuid") if k in header]
        for line in lines[1:]:
            fields = line.split()
            if any(int(fields[i]) == uid for i in owners):
                subprocess.run(["ipcrm", flag, fields[1]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                removed.append(f"{kind} {fields[1]}")
    for folder in SCRATCH:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def uid_lock_dir() -> Path:
    return Path("/run/cnn-course-grading") if IS_ROOT and Path("/run").is_dir() else \
        Path(tempfile.gettempdir()) / f"cnn-course-grading-{os.getuid()}"


def allocate_uid(base: int, count: int):
    """A uid (and gid) for one grading kernel: unused by any account or group, and not held by another
    grader on this machine (an flock held as long as the kernel lives). Leftover processes of that uid
    (from a grader that was killed) are killed first. Returns (uid, lock file)."""
    lock_dir = uid_lock_dir()
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(base, base + count):
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(uid)
            continue
        except KeyError:
            pass
        handle = open(lock_dir / f"{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        kill_uid(uid)
        remove_uid_leftovers(uid)
        return uid, handle
    raise RuntimeError(f"no free grading uid in {base}..{base + count - 1}")


def make_cgroups(name: str, memory_bytes: int, pids: int) -> list[Path]:
    """Per-kernel memory and pids cgroups below the grader's own, where the machine allows it (cgroup v1
    memory/pids hierarchies or a v2 tree with those controllers). Returns their folders ([] if none)."""
    made = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return made
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        targets = []
        if v2 and controllers == "":
            targets = [(Path("/sys/fs/cgroup") / path.lstrip("/") / name,
                        {"memory.max": str(memory_bytes), "memory.swap.max": "0", "pids.max": str(pids)})]
        elif "memory" in controllers.split(","):
            targets = [(Path("/sys/fs/cgroup/memory") / path.lstrip("/") / name,
                        {"memory.limit_in_bytes": str(memory_bytes)})]
        elif "pids" in controllers.split(","):
            targets = [(Path("/sys/fs/cgroup/pids") / path.lstrip("/") / name, {"pids.max": str(pids)})]
        for folder, settings in targets:
            try:
                folder.mkdir(exist_ok=True)  # (left by a grader that was killed: empty, reused)
            except OSError:
                continue
            ok = False
            for key, value in settings.items():
                try:
                    (folder / key).write_text(value)
                    ok = ok or key != "memory.swap.max"
                except OSError:
                    pass
            if ok:
                made.append(folder)
            else:
                try:
                    folder.rmdir()
                except OSError:
                    pass
    return made


def remove_cgroups(folders: list[Path]) -> None:
    for folder in folders:
        procs = folder / "cgroup.procs"

        def listed() -> list[int]:
            try:
                return [int(p) for p in procs.read_text().split()]
            except OSError:
                return []

        kill_all(listed)
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def sandbox_summary() -> str:
    """What the grading sandbox can do on this machine, in one line for the run's header."""
    if not IS_ROOT:
        return ("sandbox: limits, clean environment, scan and guard; kernels run as this user (not root), "
                "so they can read and write what it can")
    code = ("import ctypes, ctypes.util; libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', "
            "use_errno=True); raise SystemExit(libc.unshare(0x20000) != 0)")
    namespace = subprocess.run([sys.executable, "-S", "-c", code]).returncode == 0
    groups = make_cgroups(f"cnn-grading-probe-{os.getpid()}", 1 << 30, 16)
    remove_cgroups(groups)
    return ("sandbox: a uid of its own per kernel, "
            + ("course and home folders hidden (mount namespace)" if namespace else
               "NO mount namespace here: the course files are protected by their permissions only "
               "(chmod -R go-rwx source submitted autograded feedback gradebook.db)")
            + ", " + ("cgroups for memory and processes" if groups else "no cgroups (memory watchdog)"))


