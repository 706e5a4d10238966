"""Grade the whole class: every submitted/<student>/<assignment>/ into autograded/, feedback/ and grades.csv.

    python scripts/autograde.py                   # all students, all submitted assignments, SQLite gradebook
    python scripts/autograde.py -j 4 --student alice --student bob --assignment 05_exercises
    python scripts/autograde.py --db postgres     # the course's PostgreSQL server (scripts/pg.sh, started if needed)
    python scripts/autograde.py --db postgresql+psycopg2://user:pw@127.0.0.1:5433/gradebook

Steps:
 1. sync the gradebook with source/: ``nbgrader generate_assignment`` of each submitted assignment into a
    temporary folder (release/ is left alone), which records its notebooks, cells and points;
 2. add every student to the gradebook (one process, before any worker starts);
 3. grade the students in parallel, one worker process per student (``-j``, default 2): ``nbgrader
    autograde`` then ``nbgrader generate_feedback`` for that student, logged to
    autograded/<student>/<assignment>.log. A student whose grading fails (nbgrader exits non-zero, e.g.
    a kernel that did not start) is retried once;
 4. export the gradebook to grades.csv (``nbgrader export``) and print a score table.

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
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()
MAX_EPOCHS = 30
DB_ENV = "NBGRADER_DB_URL"


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


def run_nbgrader(argv: list[str]) -> int:
    """``nbgrader <argv>`` in this process, SQLite gradebook sessions serialised (see above)."""
    url = os.environ.get(DB_ENV, "")
    if url:
        serialise_sqlite_sessions(url)
    from nbgrader.apps.nbgraderapp import NbGraderApp

    sys.argv = ["nbgrader", *argv]
    try:
        NbGraderApp.launch_instance()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


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


def db_url_for(root: Path, db: str) -> str:
    """``sqlite`` (the default: <root>/gradebook.db), ``postgres`` (scripts/pg.sh, started if needed)
    or a full SQLAlchemy URL."""
    if db in ("", "sqlite"):
        return f"sqlite:///{root / 'gradebook.db'}"
    if db in ("postgres", "postgresql"):
        env = {**os.environ, "PGDIR": os.environ.get("PGDIR", str(root / ".pg"))}
        subprocess.run([str(HERE.parent / "pg.sh"), "start"], check=True, env=env, stdout=subprocess.DEVNULL)
        return subprocess.run([str(HERE.parent / "pg.sh"), "url"], check=True, env=env, text=True,
                              capture_output=True).stdout.strip()
    return db


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}:***@{host}"


def find_submissions(root: Path, students: list[str], assignment_ids: list[str]) -> list[tuple[str, str]]:
    """(student, assignment) pairs under submitted/ that hold at least one notebook."""
    pairs = []
    for folder in sorted((root / "submitted").glob("*/*/")):
        student, assignment = folder.parent.name, folder.name
        if students and student not in students or assignment_ids and assignment not in assignment_ids:
            continue
        if any(folder.glob("*.ipynb")):
            pairs.append((student, assignment))
    return pairs


def nbgrader(root: Path, env: dict, *argv: str, log=None) -> subprocess.CompletedProcess:
    """One nbgrader command in a fresh process (through this script, for the SQLite session lock)."""
    return subprocess.run([sys.executable, str(HERE), "--nbgrader", *argv], cwd=root, env=env, text=True,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT if log else subprocess.PIPE)


def sync_gradebook(root: Path, env: dict, assignment_ids: list[str], students: list[str]) -> None:
    """Record the assignments (notebooks, cells, points) and the students in the gradebook."""
    with tempfile.TemporaryDirectory(prefix="nbgrader-sync-") as tmp:
        for assignment in assignment_ids:
            proc = nbgrader(root, env, "generate_assignment", assignment, "--force", "--log-level=ERROR",
                            f"--CourseDirectory.release_directory={tmp}")
            if proc.returncode:
                raise SystemExit(f"could not record {assignment} in the gradebook:\n{proc.stdout}{proc.stderr}")
    from nbgrader.api import Gradebook

    with Gradebook(env[DB_ENV]) as gb:
        for student in students:
            gb.update_or_create_student(student)


def grade_one(root: Path, env: dict, student: str, assignment: str, retries: int = 1, feedback: bool = True,
              run=nbgrader) -> Result:
    """Autograde (and write feedback for) one student's assignment, retrying a failed attempt
    (``run`` executes one nbgrader command; tests pass a fake)."""
    result = Result(student, assignment)
    log_path = root / "autograded" / student / f"{assignment}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        for attempt in range(1, retries + 2):
            result.attempts = attempt
            log.write(f"=== attempt {attempt}: autograde {assignment} for {student}\n")
            log.flush()
            steps = [("autograde", assignment, "--student", student, "--force")]
            if feedback:
                steps.append(("generate_feedback", assignment, "--student", student, "--force"))
            result.error = ""
            for step in steps:
                proc = run(root, env, *step, log=log)
                if proc.returncode:
                    result.error = f"nbgrader {step[0]} exited with {proc.returncode} (see {log_path.relative_to(root)})"
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
            if attempt <= retries:
                time.sleep(1)
    result.seconds = time.perf_counter() - start
    return result


def run_parallel(jobs: list, work, n_workers: int, progress=None) -> list:
    """``work(job)`` for every job on ``n_workers`` threads (each starts its own processes); results
    in the order of ``jobs``. ``progress(result)`` is called as each finishes."""
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        futures = {pool.submit(work, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            results[futures[future]] = result = future.result()
            if progress:
                progress(result)
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


def print_table(results: list[Result], out=sys.stdout) -> None:
    """One row per student and assignment: score per graded cell, total, time, status."""
    for assignment in sorted({r.assignment for r in results}):
        rows = [r for r in results if r.assignment == assignment]
        cols = list(dict.fromkeys(k for r in rows for k in r.scores))
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
            print(f"{r.student:<{width}} {cells} {total:>4g}/{sum(r.max_scores.values()):<4g} "
                  f"{r.seconds:5.0f}s  {status}", file=out)


def export_csv(root: Path, env: dict, dest: Path) -> None:
    proc = nbgrader(root, env, "export", f"--to={dest}", "--log-level=ERROR")
    if proc.returncode:
        raise SystemExit(f"nbgrader export failed:\n{proc.stdout}{proc.stderr}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--nbgrader"]:
        return run_nbgrader(argv[1:])

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
    args = ap.parse_args(argv)

    root = args.root.resolve()
    started = time.perf_counter()
    pairs = find_submissions(root, args.student, args.assignment)
    if not pairs:
        print(f"nothing to grade: no notebooks in {root / 'submitted'}/<student>/<assignment>/ "
              f"(try `make example-submissions`)")
        return 1
    db_url = db_url_for(root, args.db)
    threads = max(1, (os.cpu_count() or 2) // max(1, args.jobs))
    # nbgrader runs the `alembic` command when it creates a gradebook: put this venv's bin/ first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, DB_ENV: db_url, "CNNLIB_MAX_EPOCHS": str(args.max_epochs),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads)),
           "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", str(threads)),
           "PYTHONWARNINGS": "ignore"}
    students = sorted({s for s, _ in pairs})
    assignment_ids = sorted({a for _, a in pairs})
    print(f"grading {len(pairs)} submissions ({len(students)} students; {', '.join(assignment_ids)}) "
          f"with -j {args.jobs}, {threads} torch thread(s) each, CNNLIB_MAX_EPOCHS={args.max_epochs}, "
          f"gradebook {redact(db_url)}", flush=True)
    sync_gradebook(root, env, assignment_ids, students)

    from tqdm import tqdm

    bar = tqdm(total=len(pairs), desc="autograde", unit="student", file=sys.stdout, ncols=90)

    def progress(r: Result) -> None:
        bar.set_postfix_str(f"{r.student}: {'ok' if r.ok else 'FAILED'}")
        bar.update()

    results = run_parallel(pairs, lambda p: grade_one(root, env, p[0], p[1], args.retries, args.feedback),
                           args.jobs, progress)
    bar.close()
    read_scores(root, db_url, results)
    csv_path = args.csv if args.csv.is_absolute() else root / args.csv
    export_csv(root, env, csv_path)
    print_table(results)
    with open(csv_path) as f:
        n_rows = sum(1 for _ in csv.DictReader(f))
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} graded in {time.perf_counter() - started:.0f} s; "
          f"grades: {csv_path.relative_to(root) if csv_path.is_relative_to(root) else csv_path} ({n_rows} rows), "
          f"feedback: feedback/<student>/<assignment>/, logs: autograded/<student>/<assignment>.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
