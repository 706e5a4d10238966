"""The grading worker processes: nbgrader commands in fork servers or fresh processes, run in parallel.

Step 3 of a run (cnngrader/apps/autograde.py) runs each nbgrader command of a student (``autograde``, then
``generate_feedback``) in a process forked from a fork server that imported nbgrader once (one server per
parallel worker; see ``serve_forks``), its output appended to autograded/<student>/<assignment>.log. The
commands go through nbgrader's own application (``NbGraderApp.launch_instance(argv=...)``); their exit code
is the ``SystemExit`` code nbgrader raises. Worker processes run as ``python -m cnngrader.apps.autograde
--forkserver`` / ``--nbgrader ARGS`` (the app's ``main`` hands those to ``serve_forks`` and
``run_nbgrader``) and die with the coordinator (``die_with_parent``); Ctrl-C kills them all
(``LIVE_SERVERS``, ``kill_fresh``).

SQLite and parallel workers: every nbgrader process opens and closes the gradebook many times, but only
for short transactions (record the submission, restore the locked cells, save the scores); executing a
notebook never holds it. With SQLite the worker processes serialise those short sessions with an
exclusive file lock (<gradebook>.db.lock), so concurrent writers never meet SQLite's "database is
locked" (rollback-journal locks are not fair and SQLite gives up on a lock upgrade at once when it
would deadlock). PostgreSQL handles concurrent writers itself: no lock.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from cnngrader.constants import DB_ENV, PARENT_ENV
from cnngrader.run import ROOT

#: how a worker process starts: the app's ``--forkserver`` / ``--nbgrader`` entry (-P: the working folder,
#: a course's, is not on sys.path)
SELF = (sys.executable, "-P", "-m", "cnngrader.apps.autograde")
#: set by the first Ctrl-C: no new student, no retry, no fresh nbgrader process for a dead fork server
STOP = threading.Event()
LIVE_SERVERS: list = []  # the ForkServers of the running grade_class (Ctrl-C kills them)


# ------------------------------------------------------------------------------------------------
# worker side: one nbgrader command, with SQLite sessions serialised across processes


def serialise_sqlite_sessions(db_url: str) -> Path | None:
    """Make every nbgrader ``Gradebook`` session of this process hold an exclusive ``flock`` on
    ``<database>.lock`` from construction to ``close()``. Returns the lock path (None if not SQLite)."""
    if not db_url.startswith("sqlite:///"):
        return None
    import fcntl

    from nbgrader import api

    lock_path = Path(db_url[len("sqlite:///"):].split("?")[0] + ".lock")
    handle = open(lock_path, "a+")
    depth = 0
    original_init, original_close = api.Gradebook.__init__, api.Gradebook.close

    def acquire():
        nonlocal depth
        if depth == 0:
            fcntl.flock(handle, fcntl.LOCK_EX)
        depth += 1

    def release():
        nonlocal depth
        depth -= 1
        if depth == 0:
            fcntl.flock(handle, fcntl.LOCK_UN)

    def __init__(self, *args, **kwargs):
        acquire()
        self._course_lock = True
        try:
            original_init(self, *args, **kwargs)
        except BaseException:
            self._course_lock = False
            release()
            raise

    def close(self):
        try:
            original_close(self)
        finally:
            if getattr(self, "_course_lock", False):
                self._course_lock = False
                release()

    api.Gradebook.__init__, api.Gradebook.close = __init__, close
    return lock_path


def die_with_parent() -> None:
    """Worker processes (and, through their own parent-death signal, the grading kernels) die with the
    coordinator, so a killed run leaves nothing running."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 (not Linux)
        return
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        os._exit(1)


def run_nbgrader(argv: list[str]) -> int:
    """``nbgrader <argv>`` in this process, SQLite gradebook sessions serialised (see above). After an
    ``autograde``, the findings of the scan and of the runtime guard go into the gradebook (``annotate``)."""
    die_with_parent()
    url = os.environ.get(DB_ENV, "")
    if url:
        serialise_sqlite_sessions(url)
    from nbgrader.apps.nbgraderapp import NbGraderApp

    try:
        NbGraderApp.launch_instance(argv=list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    else:
        code = 0
    if code == 0 and argv[:1] == ["autograde"] and "--student" in argv:
        from cnngrader.run.gradebook import annotate  # (preloaded; imported here: gradebook imports this module)

        annotate(Path.cwd(), url, argv[argv.index("--student") + 1], argv[1])
    return code


# modules every nbgrader command of a grading worker imports: a fork server loads them once
PRELOAD = ("nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbgrader.apps.generatefeedbackapp",
           "nbgrader.api", "nbgrader.preprocessors", "nbgrader.converters", "nbconvert", "nbclient",
           "jupyter_client", "sqlalchemy", "cnngrader.preprocessors", "cnngrader.scan", "cnngrader.run.gradebook")


def serve_forks() -> int:
    """``--forkserver``: import nbgrader once, then run each requested nbgrader command in a forked child.

    Requests arrive one per line on stdin (JSON: cwd, env, argv, log); the reply is the child's exit
    code, one line on stdout. A fresh interpreter spends ~0.7 s importing nbgrader before each command
    (two per student); a fork of this process starts with all of it loaded. The server runs one command
    at a time, has no threads of its own (so forking is safe) and dies with the coordinator."""
    import importlib
    import traceback

    die_with_parent()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a plain fresh import in the child reports it)
            pass
    # whether bubblewrap works here: probed once (it starts a sandbox) and inherited by every forked command,
    # instead of once per nbgrader command
    from cnngrader.sandbox import processes

    processes.bwrap_check()
    server = os.getpid()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                os.environ[PARENT_ENV] = str(server)  # die_with_parent: this server is the parent now
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                code = run_nbgrader(request["argv"])
            except BaseException:  # noqa: BLE001 (reported in the student's log; exit code 1)
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:  # noqa: BLE001
                        pass
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------------------------------
# coordinator side


class ForkServer:
    """Client of one `serve_forks` process: called like `nbgrader` (root, env, *argv, log=...). Commands
    without a log file, and every command after the server is gone, run in a fresh process instead."""

    def __init__(self, env: dict):
        # a process group of its own: a terminal's Ctrl-C reaches the coordinator alone, which stops the
        # whole run (see `interrupt`) instead of each process dying on its own
        self.proc = subprocess.Popen([*SELF, "--forkserver"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=ROOT, text=True, process_group=0)

    def __call__(self, root: Path, env: dict, *argv: str, log=None):
        if log is None or self.proc is None:
            return nbgrader(root, env, *argv, log=log)
        reply = ""
        if self.proc.poll() is None:
            log.flush()
            request = {"cwd": str(root), "env": env, "argv": list(argv), "log": str(Path(log.name).resolve())}
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
                reply = self.proc.stdout.readline().strip()
            except OSError:
                pass
        if reply.lstrip("-").isdigit():
            return subprocess.CompletedProcess(["nbgrader", *argv], int(reply))
        if STOP.is_set():  # killed by Ctrl-C: no fresh process
            return subprocess.CompletedProcess(["nbgrader", *argv], 130)
        self.close()
        log.write("=== the fork server stopped; this command runs in a fresh process\n")
        log.flush()
        return nbgrader(root, env, *argv, log=log)

    def kill(self) -> None:
        """SIGKILL the server and the nbgrader command it forked (its process group); the command's grading
        kernel dies with it (parent-death signals, see `die_with_parent` and cnngrader/sandbox/launcher.py)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.wait()

    def close(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
        except OSError:  # a dead server's pipe
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class ForkServers:
    """``n`` fork servers started at once (their imports overlap the gradebook sync), handed out one per
    grading thread on first use; leaving the ``with`` block stops them all."""

    def __init__(self, env: dict, n: int):
        self.env = env
        self.all = [ForkServer(env) for _ in range(max(1, n))]
        self.free, self.local, self.lock = list(self.all), threading.local(), threading.Lock()
        LIVE_SERVERS.append(self)

    def get(self) -> ForkServer:
        if getattr(self.local, "server", None) is None:
            with self.lock:
                if not self.free:
                    self.free.append(ForkServer(self.env))
                    self.all.append(self.free[-1])
                self.local.server = self.free.pop()
        return self.local.server

    def kill(self) -> None:
        for server in list(self.all):
            server.kill()

    def __enter__(self) -> "ForkServers":
        return self

    def __exit__(self, *exc) -> None:
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        for server in self.all:
            server.close()


_FRESH: set[subprocess.Popen] = set()  # fresh nbgrader processes running now (killed by Ctrl-C)


def nbgrader(root: Path, env: dict, *argv: str, log=None) -> subprocess.CompletedProcess:
    """One nbgrader command in a fresh process (through this script, for the SQLite session lock), in a
    process group of its own (killed with it by `kill_fresh`)."""
    proc = subprocess.Popen([*SELF, "--nbgrader", *argv], cwd=root, env=env, text=True,
                            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT if log else subprocess.PIPE,
                            process_group=0)
    _FRESH.add(proc)
    try:
        out, err = proc.communicate()
    except BaseException:
        _killpg(proc)
        raise
    finally:
        _FRESH.discard(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _killpg(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()


def kill_fresh() -> None:
    for proc in list(_FRESH):
        _killpg(proc)


def run_parallel(jobs: list, work, n_workers: int, progress=None) -> list:
    """``work(job)`` for every job on ``n_workers`` threads (each starts its own processes); results
    in the order of ``jobs``. ``progress(result)`` is called as each finishes."""
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        futures = {pool.submit(work, job): i for i, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = result = future.result()
                if progress:
                    progress(result)
        except BaseException:  # Ctrl-C: the queued jobs never start
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[i] for i in range(len(jobs))]
