"""Processes, uids, cgroups and the sandbox tool of the grading kernels (used by the execute preprocessor)."""
from __future__ import annotations

import fcntl
import functools
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from cnngrader import constants

IS_ROOT = os.geteuid() == 0
#: world-writable folders where a kernel outside a sandbox can leave files for the next kernel of its uid
SCRATCH = ("/dev/shm", "/tmp", "/var/tmp", "/run/lock")


def alive(pid: int | str) -> bool:
    """A process that exists and is not a zombie (a zombie holds no memory and can run nothing)."""
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def processes_of(uid: int) -> list[int]:
    """The live processes owned by ``uid`` (real uid)."""
    pids = []
    for proc in psutil.process_iter(["uids", "status"]):
        uids, status = proc.info["uids"], proc.info["status"]
        if uids is not None and uids.real == uid and status != psutil.STATUS_ZOMBIE:
            pids.append(proc.pid)
    return pids


def descendants(pid: int) -> list[int]:
    """The live descendants of ``pid`` (children, theirs, ...)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True) if _alive(p)]
    except psutil.Error:
        return []


def children_of(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def ancestors(pid: int) -> list[int]:
    """``pid``'s parent, grandparent, ... up to init."""
    try:
        return [p.pid for p in psutil.Process(pid).parents()]
    except psutil.Error:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def cgroup_processes(folders: list[Path]) -> list[int]:
    """The processes in the first of these cgroups that can be read (every process a kernel made is in
    its cgroups, and cannot leave them): a read of one small file, not a scan of every process."""
    for folder in folders:
        try:
            return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            continue
    return []


def pss_bytes(pids: list[int]) -> int:
    """Memory of these processes, pages shared between them (a fork's copy-on-write) counted once."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except (psutil.Error, AttributeError):
            pass
    return total


def folder_usage(folder: Path, max_entries: int = 20_000) -> tuple[int, int]:
    """(bytes, entries) below ``folder``, links not followed; counting stops after ``max_entries``."""
    size = count = 0
    todo = [str(folder)]
    while todo and count < max_entries:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    count += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    size += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
        except OSError:
            pass
    return size, count


def kill_all(pids_fn, keep: set[int] = frozenset(), rounds: int = 20, pause: float = 0.05) -> int:
    """SIGKILL every process ``pids_fn()`` lists (except ``keep``), again until none is left (a fork bomb
    forks between two scans; it cannot once killed). Returns how many were killed."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = [p for p in pids_fn() if p not in keep]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(pause)
    return len(killed)


def kill_uid_processes(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of ``uid`` until none is left (a fork bomb forks between two scans)."""
    kill_all(lambda: processes_of(uid), rounds=rounds, pause=0.02)


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
    queues and semaphores, and entries in the world-writable folders. Inside bubblewrap there are none
    (its IPC namespace and /tmp die with it); without it they are removed here. Returns what was."""
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
    # the private folder of a kernel whose grader was killed before it could remove it (the uid is free,
    # so no live grader uses a folder of it)
    for entry in Path(tempfile.gettempdir()).glob("cnn-grading-*"):
        try:
            if not entry.is_symlink() and (entry / "kernel").lstat().st_uid == uid:
                shutil.rmtree(entry)
                removed.append(str(entry))
        except OSError:
            pass
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
        kill_all(lambda: cgroup_processes([folder]))
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


# -- the sandbox tool --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def bwrap_check() -> tuple[str | None, str]:
    """(bubblewrap's path, "") if it runs here the way the launcher runs it (as a user without privileges,
    every namespace new, the kernel's binds), else (None, why not). Checked once per process (~30 ms)."""
    from cnngrader.sandbox import launcher

    path = shutil.which(constants.SANDBOX_TOOL) or (constants.SANDBOX_TOOL if os.path.isabs(constants.SANDBOX_TOOL)
                                                    else None)
    if not path:
        return None, f"{constants.SANDBOX_TOOL} is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    home = Path(tempfile.mkdtemp(prefix="cnn-grading-probe-"))
    try:
        user = {}
        (home / launcher.SOCKETS).mkdir()
        if IS_ROOT:  # as the kernels run it: a uid without privileges (nobody), no groups, no_new_privs
            os.chown(home, 65534, 65534)
            os.chown(home / launcher.SOCKETS, 65534, 65534)
            user = dict(user=65534, group=65534, extra_groups=[])
        args = launcher.bwrap_args(home, {"PATH": "/usr/bin:/bin"}, launcher.Limits(), [])
        proc = subprocess.run([path, *args, "--", sys.executable, "-S", "-c", "pass"], capture_output=True,
                              text=True, timeout=60, **user)
        if proc.returncode != 0:
            return None, f"{path} fails here ({proc.stderr.strip()[:300] or f'exit code {proc.returncode}'})"
        return path, ""
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        return None, f"{path} fails here ({err})"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def sandbox_summary() -> str:
    """What the grading sandbox does on this machine, in one line for the run's header."""
    bwrap, why = bwrap_check()
    if bwrap:
        sandbox = ("bubblewrap: each kernel in new user, mount, pid, network, IPC, UTS and cgroup namespaces "
                   "(no network: it talks to the grader over unix sockets; only its own processes; its own "
                   "/tmp and SysV IPC), a read-only root with only the system, Python, cnnlib and the data "
                   "(no course folder, no home folders)")
    else:
        sandbox = f"NO bubblewrap ({why})"
    if not IS_ROOT:
        return (f"sandbox: {sandbox}; kernels run as this user (not root), with limits and a clean environment"
                + ("" if bwrap else ", so they can read and write what this user can"))
    groups = make_cgroups(f"cnn-grading-probe-{os.getpid()}", 1 << 30, 16)
    remove_cgroups(groups)
    return (f"sandbox: {sandbox}; a uid of its own per kernel, "
            + ("" if bwrap else "but each kernel sees the whole machine: the course files are protected by "
                                "their permissions only (chmod -R go-rwx source submitted autograded feedback "
                                "gradebook.db), and it has the network; ")
            + ("cgroups for memory and processes" if groups else "no cgroups (memory watchdog)"))
