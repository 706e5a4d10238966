"""Grade the whole class: every submitted/<student>/<assignment>/ into autograded/, feedback/ and grades.csv.

    python -m cnngrader                   # all students, all submitted assignments, SQLite gradebook
    python -m cnngrader -j 4 --student alice --student bob --assignment 05_exercises
    python -m cnngrader --db postgres     # the course's PostgreSQL server (scripts/pg.sh, started if needed)
    python -m cnngrader --db postgresql+psycopg2://user:pw@127.0.0.1:5433/gradebook

Steps:
 0. sanitise every submission into a private staging copy (cnngrader/scan): the notebook is
    rebuilt on the released one (locked and test cells from the instructor, whatever the student did to
    them), nothing else of the submission folder is kept, and student code that tampers with grading is
    not run (its exercise scores 0 and the student is listed for manual review; ``--trust STUDENT`` after
    a review found it honest);
 1. sync the gradebook with source/: ``nbgrader generate_assignment`` of each submitted assignment into a
    temporary folder (release/ is left alone), which records its notebooks, cells and points;
 2. add every student to the gradebook (one process, before any worker starts);
 3. grade the students in parallel (``-j``, default 2): ``nbgrader autograde`` then ``nbgrader
    generate_feedback`` for each student, each command in a process forked from a fork server that
    imported nbgrader once (one server per parallel worker; see ``serve_forks``), logged to
    autograded/<student>/<assignment>.log. Execution runs in the sandboxed grading kernel, cell by cell
    under the grader's control (nbgrader_config.py: cnngrader/preprocessors/guarded_execute.py,
    cnngrader/sandbox/launcher.py). A student whose grading fails (nbgrader exits non-zero, e.g. a kernel that
    did not start) is retried once. Each graded student gets autograded/<student>/<assignment>.graded.json
    (what was graded: a fingerprint of the submission, the tests and the grader) and .review.json (what
    the scan and the runtime guard found);
 4. export the gradebook to grades.csv (``nbgrader export``), print a score table and the submissions
    that need a manual review.

What is read from submitted/: only the notebooks of the released assignment, as regular files opened
without following links (cnngrader/scan ``read_regular``: a symbolic link anywhere in
submitted/<student>/<assignment>/, a named pipe, a device or an oversized file is refused, and that
notebook is graded as handed in blank and listed for review), and the exchange's submission_secret.txt,
which names the feedback file and nothing else. The submission time is never the student's: the grader
writes the staged timestamp.txt itself, from when the notebook reached submitted/ (its inode change time,
which no student process can set). The course sets no due date, so nothing is late; an instructor who
sets one gets lateness measured from that time (when the submission was collected), never from a file
the student wrote.

One submission never stops the others: a student or assignment folder that is not a folder, a folder
name that is not a valid student id, an assignment that is not in source/ ("did you mean ...?"), a
notebook that cannot be read and any error while staging or grading one student become that student's
FAILED (or blank) row with the reason; everyone else is graded, and the score table, the review list and
the grades.csv export always happen (also after an error of the run itself). Ctrl-C (the first SIGINT):
no queued student is started, the fork servers and with them the running nbgrader commands and their
grading kernels are killed (parent-death signals), the summary of what was graded is printed and the run
exits with 130; a second Ctrl-C aborts the summary too.

Repeatable and resumable: a student whose submission, tests and grader are unchanged since their last
complete grading is not graded again (``--force`` regrades everyone); grading one student never touches
another's results, so a run that was killed half way resumes where it stopped when run again.

Bounded and repeatable: the grading kernels run with CNNLIB_MAX_EPOCHS=30 (train.fit trains at most 30
epochs, whatever a student asked for) and nbgrader_config.py limits every cell to 120 s. With -j N the
kernels get cores/N torch threads each (OMP_NUM_THREADS), so parallel students do not oversubscribe.
PYTHONWARNINGS=ignore too: a harmless library warning printed to stderr inside a test cell would
otherwise zero that cell (nbgrader gives 0 to a test cell with any stderr output).

SQLite and parallel workers: every nbgrader process opens and closes the gradebook many times, but only
for short transactions (record the submission, restore the locked cells, save the scores); executing a
notebook never holds it. With SQLite the worker processes serialise those short sessions with an
exclusive file lock (<gradebook>.db.lock), so concurrent writers never meet SQLite's "database is
locked" (rollback-journal locks are not fair and SQLite gives up on a lock upgrade at once when it
would deadlock). PostgreSQL handles concurrent writers itself: no lock.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from cnnlib import cpu

from cnngrader import scan as sc
from cnngrader.constants import DB_ENV, MAX_EPOCHS, PARENT_ENV

#: the repository (the default course folder, and what GRADER_FILES are relative to)
ROOT = Path(__file__).resolve().parents[2]
#: how a worker process runs this module (-P: the working folder, a course's, is not on sys.path)
SELF = (sys.executable, "-P", "-m", "cnngrader.apps.autograde")
#: what decides a grade besides the submission and the assignment (globs relative to the repository):
#: the grader, every module of cnnlib (the notebooks' cells and tests import any of them) and the pinned
#: library versions. A change to any of these regrades.
GRADER_FILES = ("cnngrader/**/*.py", "cnnlib/*.py", "nbgrader_config.py", "requirements.txt", "pyproject.toml")
#: what nbgrader's exchange writes next to a submission and the grader keeps: the secret that names the
#: feedback file (it affects no grade; read as a regular file of at most SECRET_BYTES)
EXCHANGE_FILES = ("submission_secret.txt",)
SECRET_BYTES = 4096
#: what nbgrader accepts as a student id and the exchange can carry ('+' separates the fields of its
#: folder names; a leading '.' is a hidden folder, whitespace nbgrader strips away)
STUDENT_ID = re.compile(r"\w[\w.@-]{0,99}")
#: set by the first Ctrl-C: no new student, no retry, no fresh nbgrader process for a dead fork server
STOP = threading.Event()
LIVE_SERVERS: list = []  # the ForkServers of the running grade_class (Ctrl-C kills them)
STAGING = ".staging"  # autograded/.staging/: sanitised copies of the submissions being graded


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

    sys.argv = ["nbgrader", *argv]
    try:
        NbGraderApp.launch_instance()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    else:
        code = 0
    if code == 0 and argv[:1] == ["autograde"] and "--student" in argv:
        annotate(Path.cwd(), url, argv[argv.index("--student") + 1], argv[1])
    return code


# modules every nbgrader command of a grading worker imports: a fork server loads them once
PRELOAD = ("nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbgrader.apps.generatefeedbackapp",
           "nbgrader.api", "nbgrader.preprocessors", "nbgrader.converters", "nbconvert", "nbclient",
           "jupyter_client", "sqlalchemy", "cnngrader.preprocessors", "cnngrader.scan")


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


def annotate(root: Path, db_url: str, student: str, assignment: str) -> dict:
    """Merge what the runtime guard reported (in the autograded notebooks' metadata) into the student's
    review file, and explain each zeroed exercise in the gradebook: the comment of its solution cell
    (``auto_comment``, which the next autograde resets, so the comments never go stale)."""
    from nbgrader.api import Gradebook, MissingEntry

    review_path = root / "autograded" / student / f"{assignment}.review.json"
    review = json.loads(review_path.read_text()) if review_path.exists() else {"notebooks": {}}
    for nb_path in sorted((root / "autograded" / student / assignment).glob("*.ipynb")):
        meta = json.loads(nb_path.read_text()).get("metadata", {}).get("cnn_grading", {})
        entry = review.setdefault("notebooks", {}).setdefault(nb_path.stem, {})
        entry["runtime"] = meta.get("report", {})
    comments = {}
    for nb_name, entry in review.get("notebooks", {}).items():
        for solution, reason in (entry.get("scan") or {}).get("flagged_exercises", {}).items():
            comments[(nb_name, solution)] = reason
        owner = entry.get("owner", {})
        for event in (entry.get("runtime") or {}).get("integrity", []):
            solution = owner.get(event["cell"])
            if solution and (nb_name, solution) not in comments:
                comments[(nb_name, solution)] = ("the grading environment was tampered with while this exercise was "
                                                 "graded (" + "; ".join(event["changes"][:3]) + "): its tests and "
                                                 "all later ones score 0; flagged for manual review")
    review["needs_review"] = review_reasons(review)
    review_path.parent.mkdir(parents=True, exist_ok=True)
    review_path.write_text(json.dumps(review, indent=1))
    if comments:
        with Gradebook(db_url) as gb:
            for (nb_name, solution), reason in comments.items():
                try:
                    comment = gb.find_comment(solution, nb_name, assignment, student)
                except MissingEntry:
                    continue
                comment.auto_comment = f"[autograder] {reason}"
            gb.db.commit()
    return review


def review_reasons(review: dict) -> list[str]:
    """Why a student's submission needs a human look (``[]``: it does not)."""
    reasons = []
    for nb_name, entry in review.get("notebooks", {}).items():
        scan = entry.get("scan") or {}
        for label, items in scan.get("findings", {}).items():
            trusted = " (trusted: run as written)" if scan.get("trusted") else ""
            reasons.append(f"{nb_name}: {label}: {items[0]}{f' (+{len(items) - 1} more)' if len(items) > 1 else ''}"
                           f"{trusted}")
        if scan.get("readable") is False:
            why = next(iter(scan.get("notes") or []), "") or "the notebook could not be read"
            reasons.append(f"{nb_name}: {why} (graded as handed in blank)")
        runtime = entry.get("runtime") or {}
        for event in runtime.get("integrity", []):
            reasons.append(f"{nb_name}: tampering detected at run time before/while grading {event['cell']}: "
                           f"{event['changes'][0]}")
        for crash in runtime.get("crashes", []):
            reasons.append(f"{nb_name}: {crash['cell']}: {crash['why']}")
    return reasons


# ------------------------------------------------------------------------------------------------
# coordinator side


@dataclass
class Result:
    student: str
    assignment: str
    ok: bool = False
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    review: list[str] = field(default_factory=list)


def db_url_for(root: Path, db: str) -> str:
    """``sqlite`` (the default: <root>/gradebook.db), ``postgres`` (scripts/pg.sh, started if needed)
    or a full SQLAlchemy URL."""
    if db in ("", "sqlite"):
        return f"sqlite:///{root / 'gradebook.db'}"
    if db in ("postgres", "postgresql"):
        env = {**os.environ, "PGDIR": os.environ.get("PGDIR", str(root / ".pg"))}
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], check=True, env=env, stdout=subprocess.DEVNULL)
        return subprocess.run([str(ROOT / "scripts" / "pg.sh"), "url"], check=True, env=env, text=True,
                              capture_output=True).stdout.strip()
    return db


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}:***@{host}"


#: entries of one folder of submitted/ looked at (a student who hands in a million files costs no more)
MAX_ENTRIES = 1000


def _entries(folder: Path) -> list[os.DirEntry]:
    """Up to MAX_ENTRIES entries of ``folder`` (hidden ones left out), sorted by name; only names are read."""
    with os.scandir(folder) as it:
        out = []
        for entry in it:
            if not entry.name.startswith("."):
                out.append(entry)
            if len(out) >= MAX_ENTRIES:
                break
    return sorted(out, key=lambda e: e.name)


def _what(entry: os.DirEntry) -> str:
    mode = entry.stat(follow_symlinks=False).st_mode
    return "a symbolic link to a file" if stat.S_ISLNK(mode) else "a regular file" if stat.S_ISREG(mode) else \
        "a named pipe" if stat.S_ISFIFO(mode) else "a special file"


def find_submissions(root: Path, students: list[str], assignment_ids: list[str]
                     ) -> tuple[list[tuple[str, str]], list["Result"]]:
    """(student, assignment) pairs under submitted/ to grade (real folders that hold a notebook, and links,
    which staging refuses with the reason), and a FAILED result for each entry that cannot be graded: a
    student id nbgrader would not take, a file where a folder belongs, an assignment not in source/."""
    pairs, problems = [], []
    top = root / "submitted"
    known = sorted(p.name for p in (root / "source").iterdir() if p.is_dir()) if (root / "source").is_dir() else []
    for entry in _entries(top) if top.is_dir() else []:
        student = entry.name
        if students and student not in students:
            continue
        try:
            if not STUDENT_ID.fullmatch(student):
                raise ValueError(f"submitted/{student!r} is not a valid student id (letters, digits, '_', '-', '.', "
                                 f"'@'; no spaces, '+' or other signs): not graded")
            if not entry.is_dir():  # (a link to a folder is followed for its names only; staging refuses it)
                raise ValueError(f"submitted/{student} is not a folder but {_what(entry)}: not graded")
            inner = _entries(top / student)
        except (ValueError, OSError) as err:
            problems.append(Result(student, "-", error=str(err) if isinstance(err, ValueError)
                                   else f"submitted/{student} cannot be listed ({err.strerror})"))
            continue
        for sub in inner:
            assignment = sub.name
            if assignment_ids and assignment not in assignment_ids:
                continue
            try:
                if assignment not in known:
                    near = difflib.get_close_matches(assignment, known, n=1)
                    raise ValueError(f"no such assignment: {assignment!r}" + (f": did you mean {near[0]}?" if near
                                     else f" (source/ holds {', '.join(known)})"))
                if not sub.is_dir():
                    raise ValueError(f"submitted/{student}/{assignment} is not a folder but {_what(sub)}")
                if entry.is_symlink() or sub.is_symlink() or any(e.name.endswith(".ipynb") for e in _entries(sub.path)):
                    pairs.append((student, assignment))
            except (ValueError, OSError) as err:
                problems.append(Result(student, assignment, error=str(err) if isinstance(err, ValueError)
                                       else f"submitted/{student}/{assignment} cannot be listed ({err.strerror})"))
    return pairs, problems


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


def sync_gradebook(root: Path, env: dict, assignment_ids: list[str], students: list[str]) -> dict[str, str]:
    """Record the assignments (notebooks, cells, points) and the students in the gradebook. Returns the
    assignments that could not be recorded, and why (their students are not graded; the others are)."""
    failed = {}
    with tempfile.TemporaryDirectory(prefix="nbgrader-sync-") as tmp:
        for assignment in assignment_ids:
            proc = nbgrader(root, env, "generate_assignment", assignment, "--force", "--log-level=ERROR",
                            f"--CourseDirectory.release_directory={tmp}")
            if proc.returncode:
                last = ((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-1:]
                failed[assignment] = "nbgrader could not record the assignment in the gradebook" + \
                    (f": {last[0][:300]}" if last else "")
                print(f"could not record {assignment} in the gradebook:\n{proc.stdout}{proc.stderr}", file=sys.stderr)
    from nbgrader.api import Gradebook

    with Gradebook(env[DB_ENV]) as gb:
        for student in students:
            gb.update_or_create_student(student)
    return failed


def grader_files(repo: Path = ROOT) -> list[Path]:
    """The files of GRADER_FILES, sorted."""
    return sorted({p for pattern in GRADER_FILES for p in repo.glob(pattern) if p.is_file()})


def fingerprint(root: Path, student: str, assignment: str, options: dict, repo: Path = ROOT) -> str:
    """What a grade depends on: the submitted files, the assignment's source and release notebooks, the
    grading code and the grading options. The same fingerprint means the same grade."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    submission_digest(h, root, student, assignment)
    for folder in (root / "source" / assignment, root / "release" / assignment):  # the instructor's
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in grader_files(repo):
        h.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    config = root / "nbgrader_config.py"
    h.update(config.read_bytes() if config.exists() else b"")
    return h.hexdigest()


def submission_digest(h, root: Path, student: str, assignment: str) -> None:
    """Add submitted/<student>/<assignment>/ to the hash ``h`` as it is: links by their target (never
    followed), regular files by their content (opened without following links or blocking, at most
    MAX_NOTEBOOK_BYTES; a larger one by its size and time), anything else by its kind."""

    def add(path: Path) -> None:
        rel = os.fsencode(path.relative_to(root))
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                h.update(rel + b"\0link\0" + os.fsencode(os.readlink(path)) + b"\0")
            elif stat.S_ISREG(st.st_mode) and st.st_size <= sc.MAX_NOTEBOOK_BYTES:
                data, _ = sc.read_regular(path, sc.MAX_NOTEBOOK_BYTES)
                h.update(rel + b"\0" + (data if data is not None else b"?") + b"\0")
            elif not stat.S_ISDIR(st.st_mode):
                h.update(rel + f"\0{stat.S_IFMT(st.st_mode)} {st.st_size} {st.st_mtime_ns}\0".encode())
        except OSError:
            h.update(rel + b"\0gone\0")

    student_dir = root / "submitted" / student
    folder = student_dir / assignment
    for top in (student_dir, folder):
        if top.is_symlink() or not top.is_dir():
            add(top)
            return
    n = 0
    for dirpath, dirnames, filenames in os.walk(folder):  # (does not descend into linked folders)
        dirnames[:] = sorted(d for d in dirnames if d != ".ipynb_checkpoints")
        if dirpath == str(folder):  # the grader's own record of the submission time (record_submitted_time)
            filenames = [f for f in filenames if f != "timestamp.txt"]
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            n += 1
            if n > MAX_ENTRIES:
                return
            add(Path(dirpath) / name)


def marker_path(root: Path, student: str, assignment: str) -> Path:
    return root / "autograded" / student / f"{assignment}.graded.json"


def stage_submission(root: Path, student: str, assignment: str, trust: bool = False) -> tuple[Path, dict]:
    """A private copy of the submission for nbgrader to grade: each notebook of the assignment rebuilt and
    scanned by cnngrader/scan, the exchange's timestamp and secret, nothing else (files a
    student adds next to the notebook, say a fake ``cnnlib/`` package, never reach the grading kernel).
    Returns the staging folder (nbgrader's submitted_directory) and the review record."""
    stage = root / "autograded" / STAGING / f"{student}.{assignment}.{os.getpid()}.{threading.get_ident()}"
    try:
        return stage, _stage(root, student, assignment, trust, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def folder_problem(root: Path, student: str, assignment: str) -> str:
    """Why submitted/<student>/<assignment>/ cannot be read ("": it can): a link or not a folder."""
    for rel in (Path(student), Path(student, assignment)):
        path = root / "submitted" / rel
        try:
            mode = path.lstat().st_mode
        except OSError as err:
            return f"submitted/{rel} cannot be read ({err.strerror})"
        if stat.S_ISLNK(mode):
            return f"submitted/{rel} is a symbolic link (not followed: hand in the folder itself)"
        if not stat.S_ISDIR(mode):
            return f"submitted/{rel} is not a folder"
    return ""


def submitted_time(path: Path) -> str:
    """When ``path`` reached submitted/ (its inode change time: set by the kernel, not by any student
    process), as nbgrader writes timestamps."""
    from datetime import datetime, timezone

    try:
        when = path.lstat().st_ctime
    except OSError:
        when = time.time()
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _stage(root: Path, student: str, assignment: str, trust: bool, stage: Path) -> dict:

    dest = stage / student / assignment
    dest.mkdir(parents=True, mode=0o700)
    top = root / "submitted"
    src = top / student / assignment
    problem = folder_problem(root, student, assignment)
    review = {"student": student, "assignment": assignment, "trusted": trust, "notebooks": {}, "notes": []}
    released = {p.name: p for p in sorted((root / "release" / assignment).glob("*.ipynb"))}
    for name, release_path in released.items():
        path = src / name
        if problem:
            nb, why = None, f"the notebook cannot be read: {problem}"
        elif not os.path.lexists(path):
            continue  # nbgrader gives a missing notebook 0
        else:
            nb, why = sc.load_submission(path, trusted=top)
        source_path = root / "source" / assignment / name
        source_nb = json.loads(source_path.read_text())
        out, report = sc.sanitise(nb, json.loads(release_path.read_text()), source_nb, trust)
        if why:
            report.notes.insert(0, why)
        (dest / name).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
        _, owner = sc.exercises(source_nb)
        review["notebooks"][Path(name).stem] = {"scan": report.to_dict(), "owner": owner}
    if problem:
        review["notes"].append(problem)
    else:
        ignored = [e.name for e in _entries(src) if e.name not in released and e.name not in EXCHANGE_FILES]
        if ignored:
            review["notes"].append(f"not graded, not copied: {', '.join(ignored[:10])}"
                                   f"{' ...' if len(ignored) > 10 else ''}")
        for name in EXCHANGE_FILES:  # release_feedback names the feedback file by the secret
            data, _ = sc.read_regular(src / name, SECRET_BYTES, trusted=top)
            if data is not None:
                (dest / name).write_bytes(data)
    # the submission time is the grader's, never a timestamp.txt of the student's (see the docstring);
    # release_feedback reads it from feedback/
    notebook = next((src / n for n in released if not problem and os.path.lexists(src / n)), top / student)
    when = submitted_time(notebook) + "\n"
    (dest / "timestamp.txt").write_text(when)
    if not problem:
        record_submitted_time(src, when)
    return review


def record_submitted_time(folder: Path, when: str) -> None:
    """Put the grader's submission time in submitted/<student>/<assignment>/timestamp.txt too (replacing
    whatever was there, a link included, never writing through one): the formgrader counts a submission as
    graded only when that file agrees with the gradebook. (Not part of the fingerprint: see
    submission_digest.)"""
    target = folder / "timestamp.txt"
    try:
        if target.is_file() and not target.is_symlink() and target.read_text() == when:
            return
        tmp = folder / f".timestamp.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(when)
        os.replace(tmp, target)  # replaces a link itself, not what it points to
    except OSError:
        pass  # a read-only submission folder: the grade is right, only the formgrader's status lags


def clean_staging(root: Path) -> None:
    """Remove staging copies left by runs that were killed (their process is gone)."""
    for folder in (root / "autograded" / STAGING).glob("*"):
        try:
            pid = int(folder.name.split(".")[-2])
            os.kill(pid, 0)
            if pid != os.getpid():
                continue  # a concurrent run of this course
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(folder, ignore_errors=True)


def grade_one(root: Path, env: dict, student: str, assignment: str, retries: int = 1, feedback: bool = True,
              run=nbgrader, trust: bool = False, extra: tuple[str, ...] = (), fp: str = "") -> Result:
    """`grade_student`, any error contained: it becomes this student's FAILED result (with the reason, and
    the traceback in the student's log), and the run goes on with the others. After Ctrl-C: not started."""
    import traceback

    if STOP.is_set():
        return Result(student, assignment, error="not graded: the run was interrupted")
    start = time.perf_counter()
    try:
        return grade_student(root, env, student, assignment, retries, feedback, run, trust, extra, fp)
    except Exception as err:  # noqa: BLE001
        try:
            log_path = root / "autograded" / student / f"{assignment}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as log:
                log.write(f"=== grading failed:\n{traceback.format_exc()}")
        except OSError:
            pass
        return Result(student, assignment, error=f"grading failed ({type(err).__name__}: {str(err)[:200]})",
                      seconds=time.perf_counter() - start)


def grade_student(root: Path, env: dict, student: str, assignment: str, retries: int = 1, feedback: bool = True,
                  run=nbgrader, trust: bool = False, extra: tuple[str, ...] = (), fp: str = "") -> Result:
    """Autograde (and write feedback for) one student's assignment, retrying a failed attempt
    (``run`` executes one nbgrader command; tests pass a fake). On success the student's marker
    (autograded/<student>/<assignment>.graded.json, with the fingerprint ``fp``) is written last, so a
    run killed before that grades the student again next time."""
    result = Result(student, assignment)
    log_path = root / "autograded" / student / f"{assignment}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    marker_path(root, student, assignment).unlink(missing_ok=True)
    start = time.perf_counter()
    stage, review = stage_submission(root, student, assignment, trust)
    review_path = root / "autograded" / student / f"{assignment}.review.json"
    review_path.write_text(json.dumps(review, indent=1))
    log_path.write_text("")
    try:
        # append mode: the nbgrader commands write to this file too (a child process or a fork server's
        # child, through its own descriptor), and our own lines must land after theirs, not over them
        with open(log_path, "a") as log:
            for attempt in range(1, retries + 2):
                result.attempts = attempt
                log.write(f"=== attempt {attempt}: autograde {assignment} for {student}\n")
                log.flush()
                attempt_start = log.tell()
                steps = [("autograde", assignment, "--student", student, "--force",
                          f"--CourseDirectory.submitted_directory={stage}", *extra)]
                if feedback:
                    steps.append(("generate_feedback", assignment, "--student", student, "--force"))
                result.error = ""
                for step in steps:
                    if STOP.is_set():
                        result.error = "not graded: the run was interrupted"
                        break
                    step_start = time.perf_counter()
                    proc = run(root, env, *step, log=log)
                    log.write(f"=== {step[0]}: exit code {proc.returncode}, {time.perf_counter() - step_start:.2f} s\n")
                    log.flush()
                    if proc.returncode:
                        result.error = f"nbgrader {step[0]} exited with {proc.returncode} (see {log_path.relative_to(root)})"
                        with open(log_path, errors="replace") as f:
                            f.seek(attempt_start)
                            if "MachineTooBusy" in f.read():
                                result.error = ("the grading machine was too busy to run a cell within its time "
                                                "(not the student's fault): grade this student again, on a "
                                                f"quieter machine (see {log_path.relative_to(root)})")
                        break
                if not result.error:
                    graded = list((root / "autograded" / student / assignment).glob("*.ipynb"))
                    html = list((root / "feedback" / student / assignment).glob("*.html"))
                    if not graded:
                        result.error = "no autograded notebook was written"
                    elif feedback and not html:
                        result.error = "no feedback was written"
                if not result.error:
                    result.ok = True
                    break
                log.write(f"=== attempt {attempt} failed: {result.error}\n")
                log.flush()
                if STOP.is_set():
                    result.error = "not graded: the run was interrupted"
                    break
                if attempt <= retries:
                    time.sleep(1)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if review_path.exists():
        result.review = json.loads(review_path.read_text()).get("needs_review") or []
    if result.ok and fp:
        marker_path(root, student, assignment).write_text(json.dumps(
            {"fingerprint": fp, "graded_at": time.strftime("%Y-%m-%d %H:%M:%S"), "feedback": feedback,
             "seconds": round(time.perf_counter() - start, 2)}))
    result.seconds = time.perf_counter() - start
    return result


def up_to_date(root: Path, db_url: str, student: str, assignment: str, fp: str, feedback: bool) -> bool:
    """Graded completely before, from exactly this submission, tests and grader (and still in the gradebook)."""
    from nbgrader.api import Gradebook, MissingEntry

    marker = marker_path(root, student, assignment)
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("fingerprint") != fp or (feedback and not info.get("feedback")):
        return False
    if not list((root / "autograded" / student / assignment).glob("*.ipynb")):
        return False
    if feedback and not list((root / "feedback" / student / assignment).glob("*.html")):
        return False
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return False
        return all(g.auto_score is not None or g.manual_score is not None
                   for nb in submission.notebooks for g in nb.grades)


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


def read_scores(root: Path, db_url: str, results: list[Result]) -> None:
    """Fill each result's per-cell scores from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        for r in results:
            try:
                submission = gb.find_submission(r.assignment, r.student)
            except MissingEntry:
                r.ok, r.error = False, r.error or "no submission in the gradebook"
                continue
            except Exception as err:  # noqa: BLE001 (one student's rows, not the table)
                r.ok, r.error = False, r.error or f"scores not readable ({type(err).__name__})"
                gb.db.rollback()
                continue
            for nb in submission.notebooks:
                for grade in nb.grades:
                    graded = grade.auto_score is not None or grade.manual_score is not None
                    r.scores[grade.name] = grade.score if graded else None
                    r.max_scores[grade.name] = grade.max_score
            order = {name: i for i, name in enumerate(grade_order(root, gb, r.assignment))}
            r.scores = dict(sorted(r.scores.items(), key=lambda kv: order.get(kv[0], len(order))))


def grade_order(root: Path, gb, assignment: str) -> list[str]:
    """Grade cell ids of an assignment in notebook order (as in the source notebook)."""
    import json

    names = []
    for nb in gb.find_assignment(assignment).notebooks:
        path = root / "source" / assignment / f"{nb.name}.ipynb"
        cells = json.loads(path.read_text())["cells"] if path.exists() else []
        in_file = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        names += in_file or sorted(g.name for g in nb.grade_cells)
    return names


def print_table(results: list[Result], out=None) -> None:
    """One row per student and assignment: score per graded cell, total, time, status."""
    out = out or sys.stdout  # (the current one: tests capture it)
    for assignment in sorted({r.assignment for r in results}):
        rows = [r for r in results if r.assignment == assignment]
        cols = list(dict.fromkeys(k for r in rows for k in r.scores))
        if not cols and not any(r.ok for r in rows):  # nothing graded (not gradable, or not reached)
            print(f"\n{assignment if assignment != '-' else 'not gradable'}  (nothing graded)", file=out)
            for r in rows:
                print(f"{r.student} {r.seconds:5.0f}s  FAILED: {r.error}", file=out)
            continue
        maxes = next((r.max_scores for r in rows if r.max_scores), {})
        width = max([7] + [len(r.student) for r in rows])
        head = f"{'student':<{width}} " + " ".join(f"{c:>{max(len(c), 4)}}" for c in cols)
        head += f" {'total':>9} {'time':>6}  status"
        print(f"\n{assignment}  (max: " + ", ".join(f"{c} {maxes.get(c, 0):g}" for c in cols)
              + f"; total {sum(maxes.values()):g})", file=out)
        print(head, file=out)
        for r in rows:
            cells = " ".join(f"{'-' if r.scores.get(c) is None else format(r.scores[c], 'g'):>{max(len(c), 4)}}"
                             for c in cols)
            total = sum(v for v in r.scores.values() if v is not None)
            status = "ok" if r.ok else f"FAILED: {r.error}"
            if r.ok and r.attempts > 1:
                status = f"ok (retried: {r.attempts} attempts)"
            if r.ok and r.skipped:
                status = "ok (unchanged since the last run: not regraded)"
            if r.review:
                status += ", REVIEW"
            print(f"{r.student:<{width}} {cells} {total:>4g}/{sum(r.max_scores.values()):<4g} "
                  f"{r.seconds:5.0f}s  {status}", file=out)


def print_review(results: list[Result], out=None) -> None:
    """The submissions a person should look at, and why (scan findings, runtime tampering, crashes)."""
    out = out or sys.stdout  # (the current one: tests capture it)
    flagged = [r for r in results if r.review]
    if not flagged:
        return
    print(f"\nneeds manual review ({len(flagged)}): the affected exercises scored 0; the student's code is in "
          f"submitted/, what ran in autograded/, details in autograded/<student>/<assignment>.review.json "
          f"(after a review, `--trust STUDENT --student STUDENT` regrades running the code as written)", file=out)
    for r in flagged:
        print(f"  {r.student} ({r.assignment}):", file=out)
        for reason in r.review[:8]:
            print(f"    - {reason}", file=out)
        if len(r.review) > 8:
            print(f"    - ... {len(r.review) - 8} more", file=out)


def export_csv(root: Path, env: dict, dest: Path) -> None:
    proc = nbgrader(root, env, "export", f"--to={dest}", "--log-level=ERROR")
    if proc.returncode:
        raise SystemExit(f"nbgrader export failed:\n{proc.stdout}{proc.stderr}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--nbgrader"]:
        return run_nbgrader(argv[1:])
    if argv[:1] == ["--forkserver"]:
        return serve_forks()

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this repository)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="students graded at once (default 2)")
    ap.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    ap.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    ap.add_argument("--db", default=os.environ.get(DB_ENV, "sqlite"),
                    help="sqlite (default), postgres, or an SQLAlchemy URL")
    ap.add_argument("--max-epochs", type=int, default=MAX_EPOCHS,
                    help=f"CNNLIB_MAX_EPOCHS for the grading kernels (default {MAX_EPOCHS})")
    ap.add_argument("--retries", type=int, default=1, help="retries of a student whose grading fails (default 1)")
    ap.add_argument("--no-feedback", dest="feedback", action="store_false", help="skip generate_feedback")
    ap.add_argument("--csv", type=Path, default=Path("grades.csv"), help="export file (relative to --root)")
    ap.add_argument("--force", action="store_true",
                    help="regrade every student (default: skip those graded from the same submission, tests "
                         "and grader)")
    ap.add_argument("--trust", action="append", default=[], metavar="STUDENT",
                    help="run this student's code even where the scan flags it (after a manual review)")
    ap.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py, 120)")
    ap.add_argument("--notebook-timeout", type=int, help="seconds per notebook (default 1800)")
    args = ap.parse_args(argv)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if in_main else None
    STOP.clear()
    try:
        return grade_class(args)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def interrupt(signum, frame) -> None:
    """The first Ctrl-C: no further student, the running ones killed (fork servers and fresh nbgrader
    processes, with their grading kernels); ``grade_class`` then reports what was graded. A second one:
    out at once."""
    if STOP.is_set():
        raise KeyboardInterrupt
    STOP.set()
    print("\ninterrupted: no further student is graded; stopping the running ones", file=sys.stderr, flush=True)
    for servers in list(LIVE_SERVERS):
        servers.kill()
    kill_fresh()
    raise KeyboardInterrupt


def grade_class(args) -> int:
    root = args.root.resolve()
    started = time.perf_counter()
    pairs, problems = find_submissions(root, args.student, args.assignment)
    if not pairs and not problems:
        print(f"nothing to grade: no notebooks in {root / 'submitted'}/<student>/<assignment>/ "
              f"(try `make example-submissions`)")
        return 1
    for r in problems:
        print(f"not graded: {r.student}" + (f"/{r.assignment}" if r.assignment != "-" else "") + f": {r.error}",
              flush=True)
    db_url = db_url_for(root, args.db)
    threads = max(1, (os.cpu_count() or 2) // max(1, args.jobs))
    # nbgrader runs the `alembic` command when it creates a gradebook: put this venv's bin/ first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = cpu.apply({**os.environ, "PATH": path, DB_ENV: db_url, "CNNLIB_MAX_EPOCHS": str(args.max_epochs),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads)),
           "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", str(threads)),
           "PYTHONWARNINGS": "ignore", PARENT_ENV: str(os.getpid())})  # + the course's OpenMP policy
    extra = []
    if args.timeout:
        extra.append(f"--Execute.timeout={args.timeout}")
    if args.notebook_timeout:
        extra.append(f"--GuardedExecute.notebook_timeout={args.notebook_timeout}")
    # (not the thread count: a grade must not depend on -j, so a run resumed with another -j keeps its grades)
    options = {"max_epochs": args.max_epochs, "timeout": args.timeout, "notebook_timeout": args.notebook_timeout}
    students = sorted({s for s, _ in pairs})
    assignment_ids = sorted({a for _, a in pairs})
    print(f"grading {len(pairs)} submissions ({len(students)} students; {', '.join(assignment_ids)}) "
          f"with -j {args.jobs}, {threads} torch thread(s) each, CNNLIB_MAX_EPOCHS={args.max_epochs}, "
          f"gradebook {redact(db_url)}", flush=True)
    from cnngrader.sandbox import processes

    print(processes.sandbox_summary(), flush=True)
    results_by_pair: dict[tuple[str, str], Result] = {}
    graded: list[Result] = []
    synced = False
    crashed = ""
    bar = None
    try:
        with ForkServers(env, min(args.jobs, max(1, len(pairs)))) as servers:
            failed_sync = sync_gradebook(root, env, assignment_ids, students)
            synced = True
            clean_staging(root)

            todo, fingerprints = [], {}
            for pair in pairs:
                if pair[1] in failed_sync:
                    results_by_pair[pair] = Result(*pair, error=failed_sync[pair[1]])
                    continue
                try:
                    fingerprints[pair] = fingerprint(root, *pair, {**options, "trusted": pair[0] in args.trust})
                    if not args.force and up_to_date(root, db_url, *pair, fingerprints[pair], args.feedback):
                        r = Result(*pair, ok=True, skipped=True)
                        review = root / "autograded" / pair[0] / f"{pair[1]}.review.json"
                        r.review = json.loads(review.read_text()).get("needs_review") or [] if review.exists() else []
                        results_by_pair[pair] = r
                        continue
                except Exception as err:  # noqa: BLE001 (graded below, without a fingerprint: always regraded)
                    print(f"{pair[0]}: {type(err).__name__} while checking for an earlier grading: {err}", flush=True)
                todo.append(pair)
            if len(todo) < len(pairs):
                print(f"{len(pairs) - len(todo)} submission(s) unchanged since they were graded: not regraded "
                      f"(--force regrades them)", flush=True)

            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="autograde", unit="student", file=sys.stdout, ncols=90)

            def progress(r: Result) -> None:
                results_by_pair[(r.student, r.assignment)] = r  # (kept when Ctrl-C ends run_parallel)
                graded.append(r)
                bar.set_postfix_str(f"{r.student}: {'ok' if r.ok else 'FAILED'}")
                bar.update()

            run_parallel(todo, lambda p: grade_one(root, env, p[0], p[1], args.retries, args.feedback,
                                                   run=servers.get(), trust=p[0] in args.trust,
                                                   extra=tuple(extra), fp=fingerprints.get(p, "")),
                         args.jobs, progress)
    except KeyboardInterrupt:
        STOP.set()
    except Exception as err:  # noqa: BLE001 (the run itself failed: still report what was graded)
        crashed = f"{type(err).__name__}: {err}"
        import traceback

        traceback.print_exc()
    finally:
        if bar is not None:
            bar.close()
    # the summary and the export, whatever happened above (a second Ctrl-C is the only way out)
    for pair in pairs:
        if pair not in results_by_pair:
            results_by_pair[pair] = Result(*pair, error="not graded: the run was interrupted" if STOP.is_set()
                                           else f"not graded: {crashed or 'the run stopped'}")
    results = [results_by_pair[p] for p in pairs]
    csv_path = args.csv if args.csv.is_absolute() else root / args.csv
    n_rows = None
    if synced:
        try:
            read_scores(root, db_url, results)
        except Exception as err:  # noqa: BLE001
            print(f"could not read the scores from the gradebook: {type(err).__name__}: {err}", flush=True)
        try:
            export_csv(root, env, csv_path)
            with open(csv_path) as f:
                n_rows = sum(1 for _ in csv.DictReader(f))
        except (Exception, SystemExit, KeyboardInterrupt) as err:  # noqa: BLE001
            print(f"grades.csv not written: {type(err).__name__} {err}", flush=True)
    results = problems + results
    print_table(results)
    print_review(results)
    failed = [r for r in results if not r.ok]
    rel_csv = csv_path.relative_to(root) if csv_path.is_relative_to(root) else csv_path
    grades = f"{rel_csv} ({n_rows} rows)" if n_rows is not None else f"{rel_csv} NOT WRITTEN"
    print(f"\n{len(results) - len(failed)}/{len(results)} graded in {time.perf_counter() - started:.0f} s "
          f"({len(graded)} now, {sum(r.skipped for r in results)} unchanged); grades: {grades}, "
          f"feedback: feedback/<student>/<assignment>/, logs: autograded/<student>/<assignment>.log")
    if STOP.is_set():
        print(f"INTERRUPTED: {sum(r.ok and not r.skipped for r in results)} of {len(pairs)} submissions graded in this "
              f"run; run again to grade the rest (graded ones are kept)")
        return 130
    if crashed:
        print(f"the run failed: {crashed}")
    return 1 if failed or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
