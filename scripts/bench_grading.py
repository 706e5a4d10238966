"""Grading benchmark: one student, and a class graded serially and in parallel, on SQLite and PostgreSQL.

    python scripts/bench_grading.py [--students 20] [--no-postgres]     (or: make bench)

Every run grades a fresh temporary copy of the course (source/, release/, nbgrader_config.py) with
python -m cnngrader, so runs do not share a gradebook. The class is the example class of
tests/submissions/a05_exercises.py repeated to --students students. Printed: seconds, students per minute,
and the parallel speed-up, all measured in this one session.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def make_course(dest: Path, n_students: int, only: str | None = None) -> Path:
    """A course copy with n_students submissions cycling through the example class (or only `only`)."""
    # (imported here: scripts/ is on sys.path when this file runs as a script, and the tests that load it
    # for `profile` alone do not need it)
    import make_submissions

    make_submissions.course_copy(dest)
    staging = dest / "_examples"
    examples = make_submissions.write_class(staging)
    names = sorted({p.relative_to(staging).parts[0] for p in examples})
    if only:
        names = [only]
    for i in range(n_students):
        name = names[i % len(names)]
        shutil.copytree(staging / name, dest / "submitted" / f"s{i:02d}_{name}")
    shutil.rmtree(staging)
    return dest


def grade(course: Path, jobs: int, db: str | None = None) -> float:
    argv = [PY, "-m", "cnngrader", "--root", str(course), "-j", str(jobs)]
    if db:
        argv += ["--db", db]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def profile(course: Path) -> dict:
    """Mean seconds per student of each grading phase, read from the logs python -m cnngrader wrote:
    its step lines (``=== autograde: exit code 0, 4.12 s``), GuardedExecute's ``timing:`` line, and the
    per-student total of grades.csv's run (``run``: the sum over students)."""
    sums: dict[str, float] = {}
    logs = sorted((course / "autograded").glob("*/*.log"))
    for log in logs:
        text = log.read_text()
        for step, seconds in re.findall(r"^=== (\w+): exit code 0, ([\d.]+) s$", text, re.M):
            sums[step] = sums.get(step, 0.0) + float(seconds)
        for phase, seconds in re.findall(r"(kernel start|cells|kernel stop) ([\d.]+) s", text):
            sums[phase] = sums.get(phase, 0.0) + float(seconds)
    means = {k: v / len(logs) for k, v in sums.items()}
    means["run"] = sum(json.loads(m.read_text())["seconds"] for m in (course / "autograded").glob("*/*.graded.json"))
    return means


@contextlib.contextmanager
def fresh_postgres(port: int = 5499):
    """A new PostgreSQL server (scripts/pg.sh) in a temporary folder; yields its gradebook URL."""
    pgdir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    pgdir.chmod(0o755)  # the server runs as the postgres user when we are root
    env = {**os.environ, "PGDIR": str(pgdir), "PGPORT": str(port)}
    pg = str(ROOT / "scripts" / "pg.sh")
    try:
        subprocess.run([pg, "start"], env=env, check=True, capture_output=True)
        yield subprocess.run([pg, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run([pg, "stop"], env=env, capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--no-postgres", dest="postgres", action="store_false")
    args = ap.parse_args()
    print(f"# grading benchmark, {date.today()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        one = grade(make_course(tmp / "one", 1, only="full"), 1)
        print(f"one student (full solution, trains 10 epochs), alone:    {one:6.1f} s")
        n_blank = 4
        blank_course = make_course(tmp / "blank", n_blank, only="blank")
        blank = grade(blank_course, 1)
        p = profile(blank_course)
        print(f"{n_blank} blank students, -j 1 (the fixed costs):                {blank:6.1f} s = "
              f"{p['run'] / n_blank:.1f} s per student + {blank - p['run']:.1f} s per run (gradebook sync, export)")
        print(f"  profile of a blank student (mean of {n_blank}): autograde {p['autograde']:.2f} s [kernel start "
              f"{p['kernel start']:.2f} s, cells {p['cells']:.2f} s, kernel stop {p['kernel stop']:.2f} s, nbgrader "
              f"{p['autograde'] - p['kernel start'] - p['cells'] - p['kernel stop']:.2f} s], "
              f"feedback {p['generate_feedback']:.2f} s, scan and staging "
              f"{p['run'] / n_blank - p['autograde'] - p['generate_feedback']:.2f} s")
        dbs = ["sqlite"]
        if args.postgres and list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
            dbs.append("postgres")
        for name in dbs:
            times = {}
            for jobs in (1, 2):
                course = make_course(tmp / f"{name}-{jobs}", args.students)
                if name == "postgres":
                    with fresh_postgres() as url:
                        times[jobs] = grade(course, jobs, url)
                else:
                    times[jobs] = grade(course, jobs)
                print(f"{args.students} students, {name:8s} -j {jobs}: {times[jobs]:6.1f} s = "
                      f"{args.students / times[jobs] * 60:5.1f} students/min")
            print(f"{name}: parallel speed-up (-j 2 vs -j 1) {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
