"""Grade the whole class: every submitted/<student>/<assignment>/ into autograded/, feedback/ and grades.csv.

    python -m cnngrader                   # all students, all submitted assignments, SQLite gradebook
    python -m cnngrader -j 4 --student alice --student bob --assignment 05_exercises
    python -m cnngrader --db postgres     # the course's PostgreSQL server (scripts/pg.sh, started if needed)
    python -m cnngrader --db postgresql+psycopg2://user:pw@127.0.0.1:5433/gradebook

Steps (each in its module of cnngrader/run/):
 0. copy every submission into a private staging copy (cnngrader/run/staging.py): its notebooks,
    nothing else of the submission folder; nbgrader's first sanitize preprocessor (RebuildAndScan,
    cnngrader/preprocessors/rebuild_and_scan.py, as for the formgrader's Autograde button) rebuilds each
    notebook on the released one (locked and test cells from the instructor, whatever the student did to
    them) and does not run student code that tampers with grading (its exercise scores 0 and the student
    is listed for manual review; ``--trust STUDENT`` after a review found it honest);
 1. sync the gradebook with source/ (cnngrader/run/gradebook.py): ``nbgrader generate_assignment`` of each
    submitted assignment into a temporary folder (release/ is left alone), which records its notebooks,
    cells and points;
 2. add every student to the gradebook (one process, before any worker starts);
 3. grade the students in parallel (``-j``, default 2; cnngrader/run/grading.py, workers.py): ``nbgrader
    autograde`` then ``nbgrader generate_feedback`` for each student, each command in a process forked
    from a fork server that imported nbgrader once (one server per parallel worker; see
    ``workers.serve_forks``), logged to autograded/<student>/<assignment>.log. Execution runs in the
    sandboxed grading kernel, cell by cell under the grader's control (nbgrader_config.py:
    cnngrader/preprocessors/guarded_execute.py, cnngrader/sandbox/launcher.py). A student whose grading
    fails (nbgrader exits non-zero, e.g. a kernel that did not start) is retried once. Each graded student
    gets autograded/<student>/<assignment>.graded.json (what was graded: a fingerprint of the submission,
    the tests and the grader; cnngrader/run/fingerprint.py) and .review.json (what the scan and the
    runtime guard found);
 4. export the gradebook to grades.csv (``nbgrader export``), print a score table and the submissions
    that need a manual review (cnngrader/run/report.py).

What is read from submitted/: only the notebooks of the released assignment, as regular files opened
without following links, and the exchange's submission_secret.txt; the submission time is the grader's,
never a file the student wrote (cnngrader/run/staging.py says how).

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
epochs, whatever a student asked for) and nbgrader_config.py limits every cell to 120 s
(cnngrader/constants.py). With -j N the kernels get cores/N torch threads each (OMP_NUM_THREADS), so
parallel students do not oversubscribe. PYTHONWARNINGS=ignore too: a harmless library warning printed to
stderr inside a test cell would otherwise zero that cell (nbgrader gives 0 to a test cell with any stderr
output).

SQLite and parallel workers: the worker processes serialise their short gradebook sessions with an
exclusive file lock (<gradebook>.db.lock); PostgreSQL handles concurrent writers itself
(cnngrader/run/workers.py says why).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from cnnlib import cpu

from cnngrader.constants import CELL_TIMEOUT, DB_ENV, MAX_EPOCHS, NOTEBOOK_TIMEOUT, PARENT_ENV
from cnngrader.run import ROOT
from cnngrader.run.fingerprint import fingerprint, up_to_date
from cnngrader.run.gradebook import db_url_for, read_scores, redact, sync_gradebook
from cnngrader.run.grading import grade_one
from cnngrader.run.report import export_csv, print_review, print_table
from cnngrader.run.result import Result
from cnngrader.run.staging import clean_staging, find_submissions
from cnngrader.run import workers
from cnngrader.run.workers import STOP, ForkServers, kill_fresh, run_nbgrader, run_parallel, serve_forks

#: students graded at once, and retries of a student whose grading fails (the command line's defaults)
JOBS = 2
RETRIES = 1


def main(argv: list[str] | None = None) -> int:
    """The command line; ``--nbgrader ARGS`` and ``--forkserver`` start a worker process (workers.SELF)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--nbgrader"]:
        return run_nbgrader(argv[1:])
    if argv[:1] == ["--forkserver"]:
        return serve_forks()

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this repository)")
    ap.add_argument("-j", "--jobs", type=int, default=JOBS, help=f"students graded at once (default {JOBS})")
    ap.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    ap.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    ap.add_argument("--db", default=os.environ.get(DB_ENV, "sqlite"),
                    help="sqlite (default), postgres, or an SQLAlchemy URL")
    ap.add_argument("--max-epochs", type=int, default=MAX_EPOCHS,
                    help=f"CNNLIB_MAX_EPOCHS for the grading kernels (default {MAX_EPOCHS})")
    ap.add_argument("--retries", type=int, default=RETRIES,
                    help=f"retries of a student whose grading fails (default {RETRIES})")
    ap.add_argument("--no-feedback", dest="feedback", action="store_false", help="skip generate_feedback")
    ap.add_argument("--csv", type=Path, default=Path("grades.csv"), help="export file (relative to --root)")
    ap.add_argument("--force", action="store_true",
                    help="regrade every student (default: skip those graded from the same submission, tests "
                         "and grader)")
    ap.add_argument("--trust", action="append", default=[], metavar="STUDENT",
                    help="run this student's code even where the scan flags it (after a manual review)")
    ap.add_argument("--timeout", type=int, help=f"seconds per cell (default {CELL_TIMEOUT})")
    ap.add_argument("--notebook-timeout", type=int, help=f"seconds per notebook (default {NOTEBOOK_TIMEOUT})")
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
    for servers in list(workers.LIVE_SERVERS):
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
