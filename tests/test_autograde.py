"""The grading pipeline end to end (scripts/autograde.py on a temporary copy of the course), its parts
(retry, SQLite session lock, example submissions), and that student data never reaches git.

The end-to-end tests grade the example class of tests/submissions/answers.py with -j 2 and compare the
gradebook, cell by cell, with the points each student must get: on SQLite always, on PostgreSQL when a
server is installed (CI installs it; locally: apt-get install postgresql).
"""
from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, course_copy, load_script, missing_tool, run_autograde


autograde = load_script("autograde")
make_submissions = load_script("make_submissions")
answers = make_submissions.load_answers()
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
#: the students graded again on PostgreSQL (a cheaper subset: the point there is the database)
PG_STUDENTS = ["full", "blank", "dropout_before_relu", "best_epoch_argmax"]


# -- the parts ---------------------------------------------------------------------------------------


def test_example_class_is_built_from_the_release(tmp_path):
    paths = make_submissions.write_class(tmp_path)
    assert sorted(p.parts[-3] for p in paths) == sorted(answers.STUDENTS)
    release_nb = json.loads((ROOT / "release" / answers.ASSIGNMENT / f"{answers.NOTEBOOK}.ipynb").read_text())

    def cells(student):
        nb = json.loads((tmp_path / student / answers.ASSIGNMENT / f"{answers.NOTEBOOK}.ipynb").read_text())
        return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]}

    released = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in release_nb["cells"]}
    assert cells("blank") == released
    full = cells("full")
    assert "### BEGIN SOLUTION" not in "".join(full.values())
    assert "nn.Dropout(p=0.5)" in full["ex2_solution"]
    # only solution cells differ from the release
    for student in answers.STUDENTS:
        changed = {k for k, v in cells(student).items() if v != released[k]}
        assert changed <= {"ex1_solution", "ex2_solution", "ex3_solution"}, (student, changed)
    assert set(answers.EXPECTED["full"]) == {gid for gid, v in released.items() if "Visible test" in v}
    assert sum(answers.POINTS.values()) == 10


def test_a_failed_student_is_retried_once(tmp_path):
    """A first attempt that fails (say, the kernel did not start) is retried; a second failure is reported."""
    calls = []

    def flaky(root, env, *argv, log=None):
        calls.append(argv[0])
        first = len(calls) == 1
        if argv[0] == "autograde" and not first:
            (root / "autograded" / "ann" / "a1").mkdir(parents=True, exist_ok=True)
            (root / "autograded" / "ann" / "a1" / "nb.ipynb").write_text("{}")
        if argv[0] == "generate_feedback":
            (root / "feedback" / "ann" / "a1").mkdir(parents=True, exist_ok=True)
            (root / "feedback" / "ann" / "a1" / "nb.html").write_text("")
        return SimpleNamespace(returncode=1 if first else 0)

    result = autograde.grade_one(tmp_path, {}, "ann", "a1", retries=1, run=flaky)
    assert result.ok and result.attempts == 2, result
    assert calls == ["autograde", "autograde", "generate_feedback"]
    assert "attempt 1 failed" in (tmp_path / "autograded" / "ann" / "a1.log").read_text()

    always = autograde.grade_one(tmp_path, {}, "bob", "a1", retries=1,
                                 run=lambda *a, **k: SimpleNamespace(returncode=1))
    assert not always.ok and always.attempts == 2 and "exited with 1" in always.error


def fork_server_env() -> dict:
    return {**os.environ, autograde.PARENT_ENV: str(os.getpid()), autograde.DB_ENV: "",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def test_fork_server_runs_nbgrader_commands_and_reports_their_exit_codes(tmp_path):
    """Each command runs in a fork of the preloaded server, in the requested folder, output appended to the
    caller's log after what the caller wrote; a failing command's exit code comes back as it is."""
    env = fork_server_env()
    server = autograde.ForkServer(env)
    log_path = tmp_path / "student.log"
    try:
        with open(log_path, "a") as log:
            log.write("=== before\n")
            ok = server(tmp_path, env, "--version", log=log)
            log.write("=== between\n")
            bad = server(tmp_path, env, "autograde", "no_such_assignment", "--student", "ann", log=log)
            log.write("=== after\n")
        from nbgrader import __version__

        assert ok.returncode == 0 and bad.returncode != 0
        text = log_path.read_text()
        assert text.index("=== before") < text.index(__version__) < text.index("=== between") < text.index("=== after")
        assert "no_such_assignment" in text[text.index("=== between"):text.index("=== after")]
        assert server.proc.poll() is None, "one server serves many commands"
    finally:
        server.close()
    assert server.proc is None


def test_fork_server_gone_falls_back_to_a_fresh_process(tmp_path):
    env = fork_server_env()
    server = autograde.ForkServer(env)
    server.proc.kill()
    server.proc.wait()
    with open(tmp_path / "student.log", "a") as log:
        proc = server(tmp_path, env, "--version", log=log)
    assert proc.returncode == 0 and server.proc is None
    assert "the fork server stopped; this command runs in a fresh process" in (tmp_path / "student.log").read_text()


FORK_SERVER_PARENT = r"""
import os, sys
sys.path.insert(0, {scripts!r})
import autograde
env = {{**os.environ, autograde.PARENT_ENV: str(os.getpid())}}
server = autograde.ForkServer(env)
print(server.proc.pid, flush=True)
sys.stdin.read()  # until killed
"""


def test_fork_server_dies_with_its_coordinator(tmp_path):
    coordinator = subprocess.Popen([sys.executable, "-c", FORK_SERVER_PARENT.format(scripts=str(ROOT / "scripts"))],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    server_pid = int(coordinator.stdout.readline())
    time.sleep(1.0)  # the server has armed its parent-death signal
    coordinator.kill()
    coordinator.wait()
    coordinator.stdin.close()
    coordinator.stdout.close()
    for _ in range(100):
        if not load_script("sandbox_kernel").alive(server_pid):
            break
        time.sleep(0.05)
    else:
        os.kill(server_pid, 9)
        pytest.fail("the fork server outlived the coordinator that started it")


def test_parallel_runner_keeps_order_and_reports_progress():
    seen = []
    out = autograde.run_parallel([3, 1, 2], lambda x: (time.sleep(x / 20), x)[1], 2, seen.append)
    assert out == [3, 1, 2] and sorted(seen) == [1, 2, 3]


LOCK_WORKER = r"""
import sys, time
sys.path.insert(0, {scripts!r})
import autograde
autograde.serialise_sqlite_sessions({url!r})
from nbgrader.api import Gradebook
with open({out!r}, "a") as out:
    for i in range(8):
        with Gradebook({url!r}) as gb:
            start = time.time()
            gb.update_or_create_student("s{n}_%d" % i)
            time.sleep(0.02)
            out.write("%r %r\n" % (start, time.time()))
"""


def test_sqlite_gradebook_sessions_are_serialised_across_processes(tmp_path):
    """Workers never hold the SQLite gradebook at the same time (the cure for "database is locked")."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([sys.executable, "-c", f"from nbgrader.api import Gradebook; Gradebook({url!r}).close()"],
                   check=True, env=env)
    procs = [subprocess.Popen([sys.executable, "-c", LOCK_WORKER.format(
        scripts=str(ROOT / "scripts"), url=url, out=str(tmp_path / f"w{n}.txt"), n=n)], env=env) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    spans = sorted(tuple(map(float, line.split())) for n in range(4)
                   for line in (tmp_path / f"w{n}.txt").read_text().splitlines())
    assert len(spans) == 32
    overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert not overlaps, f"{len(overlaps)} gradebook sessions overlapped"
    assert (tmp_path / "gradebook.db.lock").exists()


# -- end to end --------------------------------------------------------------------------------------


def make_course(dest: Path, students: list[str]) -> Path:
    """A copy of the course (source/, release/, nbgrader_config.py) with the example class submitted."""
    course_copy(dest)
    make_submissions.write_class(dest / "submitted", dest, students)
    return dest


def check_class(course: Path, db_url: str, students: list[str], proc: subprocess.CompletedProcess) -> None:
    """The gradebook, feedback, grades.csv and the printed table agree with answers.EXPECTED."""
    from nbgrader.api import Gradebook

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "autograde: 100%" in proc.stdout  # the tqdm bar, on stdout
    got = {}
    with Gradebook(db_url) as gb:
        for student in students:
            submission = gb.find_submission(answers.ASSIGNMENT, student)
            got[student] = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            assert not any(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades), student
    want = {s: {k: float(v) for k, v in answers.EXPECTED[s].items()} for s in students}
    wrong = {s: {k: (got[s].get(k), v) for k, v in want[s].items() if got[s].get(k) != v} for s in students}
    assert got == want, f"(got, expected) per wrong cell: { {s: w for s, w in wrong.items() if w} }"

    for student in students:
        html = course / "feedback" / student / answers.ASSIGNMENT / f"{answers.NOTEBOOK}.html"
        assert html.exists(), html
        text = html.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "_g.check_pool_swap(pool_cnn)" not in text, \
            f"{html.name} of {student} shows hidden tests"
        assert (course / "autograded" / student / answers.ASSIGNMENT / f"{answers.NOTEBOOK}.ipynb").exists()
        log = (course / "autograded" / student / f"{answers.ASSIGNMENT}.log").read_text()
        assert "database is locked" not in log

    with open(course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == answers.ASSIGNMENT}
    assert sorted(rows) == sorted(students)
    for student in students:
        assert float(rows[student]["score"]) == sum(answers.EXPECTED[student].values()), rows[student]
        assert float(rows[student]["max_score"]) == 10.0
    for student in students:  # the score table
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(student + " "))
        assert f"{sum(answers.EXPECTED[student].values())}/10" in line and line.rstrip().endswith("ok"), line


def test_autograde_example_class_on_sqlite(tmp_path):
    students = sorted(answers.STUDENTS)
    course = make_course(tmp_path, students)
    start = time.perf_counter()
    proc = run_autograde(course, "-j", "2")
    print(f"graded {len(students)} students with -j 2 in {time.perf_counter() - start:.0f} s")
    check_class(course, f"sqlite:///{course / 'gradebook.db'}", students, proc)
    assert "sqlite:///" in proc.stdout.splitlines()[0]
    # the cap on epochs reached the grading kernel
    graded = json.loads((course / "autograded" / "capped_epochs" / answers.ASSIGNMENT
                         / f"{answers.NOTEBOOK}.ipynb").read_text())
    outputs = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                      for c in graded["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "CNNLIB_MAX_EPOCHS=30 caps training at 30 of the 100 epochs" in outputs
    # the phase times the grader logs are there, and consistent, for scripts/bench_grading.py's profile
    phases = load_script("bench_grading").profile(course)
    assert set(phases) == {"autograde", "generate_feedback", "kernel start", "cells", "kernel stop", "run"}
    assert all(v > 0 for v in phases.values()), phases
    assert phases["kernel start"] + phases["cells"] + phases["kernel stop"] <= phases["autograde"], phases
    assert (phases["autograde"] + phases["generate_feedback"]) * len(students) <= phases["run"], phases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_autograde_example_class_on_postgres(tmp_path):
    if not PG_BIN:
        missing_tool("no PostgreSQL server installed (no /usr/lib/postgresql/*/bin/pg_ctl); "
                     "`apt-get install postgresql` to run the gradebook on PostgreSQL too")
    # the server may run as the `postgres` user (when we are root): its folder must be reachable by it,
    # which pytest's private tmp_path is not
    pgdir = Path(tempfile.mkdtemp(prefix="cnn-course-pg-"))
    pgdir.chmod(0o755)
    env = {**os.environ, "PGDIR": str(pgdir), "PGPORT": str(free_port())}
    pg = str(ROOT / "scripts" / "pg.sh")
    try:
        subprocess.run([pg, "start"], env=env, check=True, capture_output=True, text=True)
        url = subprocess.run([pg, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        assert url.startswith("postgresql+psycopg2://nbgrader:") and "@127.0.0.1:" in url
        course = make_course(tmp_path, PG_STUDENTS)
        proc = run_autograde(course, "-j", "2", "--db", url)
        assert "***@127.0.0.1" in proc.stdout and url.split("@")[0].split(":")[-1] not in proc.stdout
        check_class(course, url, PG_STUDENTS, proc)
        assert not (course / "gradebook.db").exists()
    finally:
        subprocess.run([pg, "stop"], env=env, capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)


# -- student data stays out of git -------------------------------------------------------------------

#: what a graded class leaves in the repository: all of it must be git-ignored
CLASS_FILES = [
    "submitted/alice/05_exercises/exercises.ipynb",
    "submitted/bob/01_convolution/convolution.ipynb",
    "submitted/bob/01_convolution/timestamp.txt",
    "autograded/alice/05_exercises/exercises.ipynb",
    "autograded/alice/05_exercises.log",
    "autograded/alice/05_exercises.graded.json",
    "autograded/alice/05_exercises.review.json",
    "autograded/.staging/alice.05_exercises.4242.1/alice/05_exercises/exercises.ipynb",
    "autograded/.staging/alice.05_exercises.4242.1/alice/05_exercises/timestamp.txt",
    "autograded/bob/01_convolution/convolution.ipynb",
    "feedback/alice/05_exercises/exercises.html",
    "gradebook.db",
    "gradebook.db.lock",
    "gradebook.db-journal",
    "grades.csv",
    ".pg/data/PG_VERSION",
    ".pg/password",
    ".pg/log",
]
#: grading files that belong in git
COURSE_FILES = ["autograded/README.md", "release/05_exercises/exercises.ipynb", "nbgrader_config.py",
                "tests/submissions/answers.py", "scripts/autograde.py", "source/05_exercises/exercises.ipynb",
                "scripts/course_nbgrader.py", "scripts/sandbox_kernel.py", "scripts/kernel_guard.py",
                "scripts/submission_check.py", "tests/hostile/corpus.py", "tests/hostile/build.py",
                "tests/test_hostile.py"]


def test_a_graded_class_leaves_nothing_for_git(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    for rel in CLASS_FILES + COURSE_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    added = subprocess.run(["git", "add", "--dry-run", "-A"], cwd=tmp_path, check=True, capture_output=True,
                           text=True).stdout
    would_add = sorted(line.split(" ", 1)[1].strip("'") for line in added.splitlines())
    assert not set(CLASS_FILES) & set(would_add), f"student data not ignored: {set(CLASS_FILES) & set(would_add)}"
    assert set(COURSE_FILES) <= set(would_add), f"course files ignored: {set(COURSE_FILES) - set(would_add)}"


def test_repository_tracks_no_student_data():
    """Neither committed nor waiting to be added: the same patterns, checked on the real working tree."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.splitlines()
    student = [f for f in files if f.startswith(("submitted/", "feedback/", ".pg/"))
               or (f.startswith("autograded/") and f != "autograded/README.md")
               or f.endswith((".db", ".sqlite")) or Path(f).name.startswith("grades") and f.endswith(".csv")]
    assert not student, f"student data in git (or not ignored): {student[:20]}"
    assert not any(f.startswith("tests/submissions/") and f.endswith(".ipynb") for f in files), \
        "example submissions are generated from release/ (scripts/make_submissions.py), not committed"
