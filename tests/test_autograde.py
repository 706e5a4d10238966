"""The grading pipeline end to end (python -m cnngrader on a temporary copy of the course), its parts
(retry, SQLite session lock, example submissions), and that student data never reaches git.

The end-to-end tests grade every example class (tests/submissions/a<NN>_<assignment>.py, one per graded
assignment) in one run of python -m cnngrader with -j 2, the path of `make autograde`, and compare the
gradebook, cell by cell, with the points each student must get: on SQLite always, on PostgreSQL (a subset)
when a server is installed (CI installs it; locally: apt-get install postgresql).
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

from conftest import ROOT, course_copy, cpu_hogs, load_script, missing_tool, run_autograde


from cnngrader.constants import DB_ENV, PARENT_ENV
from cnngrader.run import fingerprint, grading, workers
make_submissions = load_script("make_submissions")
from cnngrader import scan as submission_check
from cnngrader.sandbox import processes
release = load_script("release")
CLASSES = make_submissions.load_classes()
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
#: per exercise, at least this many correct answers in other styles than the instructor's, and wrong ones
MIN_STYLES = MIN_MISTAKES = 4


def notebooks(a) -> tuple[dict, dict]:
    """(released, source) notebook of an example class's assignment."""
    rel = f"{a.ASSIGNMENT}/{a.NOTEBOOK}.ipynb"
    return json.loads((ROOT / "release" / rel).read_text()), json.loads((ROOT / "source" / rel).read_text())


def graded_points(nb: dict) -> dict[str, int]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


# -- the example classes -----------------------------------------------------------------------------


def test_every_graded_assignment_has_an_example_class():
    graded = [name for name in release.assignments()
              if release.graded_cells(json.loads(next((ROOT / "source" / name).glob("*.ipynb")).read_text()))]
    assert sorted(CLASSES) == graded, "each graded assignment needs tests/submissions/a<NN>_<assignment>.py"


@pytest.mark.parametrize("assignment", sorted(CLASSES))
def test_example_class_covers_every_exercise(assignment):
    """The instructor's solution, a blank notebook, and per exercise enough correct answers in other styles
    and typical wrong answers, each with a reason and the points of every graded cell."""
    a = CLASSES[assignment]
    released, source = notebooks(a)
    assert a.POINTS == graded_points(source), "POINTS must be the graded cells' points in source/"
    grades_of, _ = submission_check.exercises(source)
    assert {"full", "blank"} <= set(a.STUDENTS)
    assert a.STUDENTS["full"][2] == a.POINTS and all(v == 0 for v in a.STUDENTS["blank"][2].values())
    for student, (why, answers, expected) in a.STUDENTS.items():
        assert why.strip(), f"{student}: say in one line what the submission is"
        assert set(expected) == set(a.POINTS), f"{student}: expected points for {sorted(set(a.POINTS) ^ set(expected))}"
        assert all(0 <= expected[g] <= a.POINTS[g] for g in expected), student
        assert set(answers) <= set(grades_of), f"{student}: answers for unknown cells {set(answers) - set(grades_of)}"
    for solution, cells in grades_of.items():
        own = [(s, e) for s, (_, answers, e) in a.STUDENTS.items()
               if answers.get(solution, a.SOLUTION) not in (a.SOLUTION, a.BLANK)]
        right = [s for s, e in own if all(e[g] == a.POINTS[g] for g in cells)]
        wrong = [s for s, e in own if any(e[g] < a.POINTS[g] for g in cells)]
        assert len(right) >= MIN_STYLES and len(wrong) >= MIN_MISTAKES, (
            f"{assignment} {solution}: {len(right)} correct answers in other styles ({right}) and {len(wrong)} "
            f"wrong ones ({wrong}); at least {MIN_STYLES} and {MIN_MISTAKES} are needed")
        styles = {a.STUDENTS[s][1][solution].strip() for s in right}
        assert len(styles) == len(right), f"{assignment} {solution}: two 'styles' are the same code"


@pytest.mark.parametrize("assignment", sorted(CLASSES))
def test_example_class_is_built_from_the_release(tmp_path, assignment):
    a = CLASSES[assignment]
    paths = make_submissions.write_classes(tmp_path, assignments=[assignment])
    assert sorted(p.parts[-3] for p in paths) == sorted(a.STUDENTS)
    released, _ = notebooks(a)

    def cells(nb):
        return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]}

    before = cells(released)
    solutions = {c["metadata"]["nbgrader"]["grade_id"] for c in released["cells"]
                 if c["metadata"]["nbgrader"].get("solution")}
    for student in a.STUDENTS:
        nb = json.loads((tmp_path / student / assignment / f"{a.NOTEBOOK}.ipynb").read_text())
        after = cells(nb)
        assert set(after) == set(before)
        changed = {k for k in after if after[k] != before[k]}
        assert changed <= solutions, (student, changed - solutions)
        if student == "blank":
            assert not changed
        assert "### BEGIN SOLUTION" not in "".join(after.values())


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

    result = grading.grade_one(tmp_path, {}, "ann", "a1", retries=1, run=flaky)
    assert result.ok and result.attempts == 2, result
    assert calls == ["autograde", "autograde", "generate_feedback"]
    assert "attempt 1 failed" in (tmp_path / "autograded" / "ann" / "a1.log").read_text()

    always = grading.grade_one(tmp_path, {}, "bob", "a1", retries=1,
                                 run=lambda *a, **k: SimpleNamespace(returncode=1))
    assert not always.ok and always.attempts == 2 and "exited with 1" in always.error


LOADED_BY_GRADING = r"""
import json, sys
import cnngrader.apps.autograde, cnngrader.preprocessors, cnngrader.scan, cnngrader.sandbox.launcher
import cnngrader.sandbox.processes, cnngrader.cell_clock
import cnnlib, cnnlib.grading, cnnlib.checks, cnnlib.data, cnnlib.models, cnnlib.plots, cnnlib.train
import cnnlib.conv, cnnlib.pool, cnnlib.shapes
print(json.dumps([getattr(m, "__file__", None) for m in list(sys.modules.values())]))
"""


def test_fingerprint_covers_every_course_file_a_grade_depends_on(tmp_path):
    """Every file of this repository that the grader or a grading kernel imports is in the fingerprint
    that decides whether a student is regraded (cnnlib/data.py and models.py were missing once)."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", LOADED_BY_GRADING],
                         capture_output=True, text=True, check=True).stdout
    files = {Path(f).resolve() for f in json.loads(out) if f}
    loaded = {f for f in files if f.is_file() and f.is_relative_to(ROOT) and not f.is_relative_to(ROOT / ".venv")}
    covered = set(fingerprint.grader_files())
    assert loaded and loaded <= covered, f"not fingerprinted: {sorted(map(str, loaded - covered))}"
    assert (ROOT / "cnnlib" / "data.py") in covered and (ROOT / "cnnlib" / "models.py") in covered
    # ... and a change to any of them changes the fingerprint (on a copy of those files)
    course = course_copy(tmp_path / "course")
    repo = tmp_path / "repo"
    for path in covered:
        (repo / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, repo / path.relative_to(ROOT))
    options = {"max_epochs": 30}
    before = fingerprint.fingerprint(course, "ann", "05_exercises", options, repo)
    assert before == fingerprint.fingerprint(course, "ann", "05_exercises", options, repo)
    for path in sorted(covered):
        copy = repo / path.relative_to(ROOT)
        copy.write_bytes(path.read_bytes() + b"\n# a comment changes nothing, but the grader cannot know that\n")
        assert fingerprint.fingerprint(course, "ann", "05_exercises", options, repo) != before, path
        shutil.copy(path, copy)


def test_a_starved_cell_fails_the_grading_instead_of_scoring_zero(tmp_path):
    """nbclient's wall-time backstop reached while the cell's own time is within budget: the machine was
    too busy. GuardedExecute raises MachineTooBusy (nbgrader then writes no grade), and the run reports the
    student as failed, with the reason, after a retry: never a silent 0."""
    import asyncio

    from cnngrader import preprocessors

    ex = preprocessors.GuardedExecute()
    ex._budget = 120
    ex._clock = SimpleNamespace(own=lambda: 40.0, wall=lambda: 720.0)
    with pytest.raises(preprocessors.MachineTooBusy, match="too busy"):
        asyncio.run(ex._async_handle_timeout(720, None))

    def starved(root, env, *argv, log=None):
        log.write("[AutogradeApp | ERROR] MachineTooBusy: a cell ran 720 s of wall time but only 40 s of its own\n")
        return SimpleNamespace(returncode=1)

    result = grading.grade_one(tmp_path, {}, "ann", "a1", retries=1, run=starved)
    assert not result.ok and result.attempts == 2
    assert "too busy" in result.error and "not the student's fault" in result.error, result.error


def fork_server_env() -> dict:
    return {**os.environ, PARENT_ENV: str(os.getpid()), DB_ENV: "",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def test_fork_server_runs_nbgrader_commands_and_reports_their_exit_codes(tmp_path):
    """Each command runs in a fork of the preloaded server, in the requested folder, output appended to the
    caller's log after what the caller wrote; a failing command's exit code comes back as it is."""
    env = fork_server_env()
    server = workers.ForkServer(env)
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
    server = workers.ForkServer(env)
    server.proc.kill()
    server.proc.wait()
    with open(tmp_path / "student.log", "a") as log:
        proc = server(tmp_path, env, "--version", log=log)
    assert proc.returncode == 0 and server.proc is None
    assert "the fork server stopped; this command runs in a fresh process" in (tmp_path / "student.log").read_text()


FORK_SERVER_PARENT = r"""
import os, sys
from cnngrader.constants import PARENT_ENV
from cnngrader.run import workers
env = {{**os.environ, PARENT_ENV: str(os.getpid())}}
server = workers.ForkServer(env)
print(server.proc.pid, flush=True)
sys.stdin.read()  # until killed
"""


def test_fork_server_dies_with_its_coordinator(tmp_path):
    coordinator = subprocess.Popen([sys.executable, "-c", FORK_SERVER_PARENT.format()],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    server_pid = int(coordinator.stdout.readline())
    time.sleep(1.0)  # the server has armed its parent-death signal
    coordinator.kill()
    coordinator.wait()
    coordinator.stdin.close()
    coordinator.stdout.close()
    for _ in range(100):
        if not processes.alive(server_pid):
            break
        time.sleep(0.05)
    else:
        os.kill(server_pid, 9)
        pytest.fail("the fork server outlived the coordinator that started it")


def test_parallel_runner_keeps_order_and_reports_progress():
    seen = []
    out = workers.run_parallel([3, 1, 2], lambda x: (time.sleep(x / 20), x)[1], 2, seen.append)
    assert out == [3, 1, 2] and sorted(seen) == [1, 2, 3]


LOCK_WORKER = r"""
import sys, time
from cnngrader.run import workers
workers.serialise_sqlite_sessions({url!r})
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
        url=url, out=str(tmp_path / f"w{n}.txt"), n=n)], env=env) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    spans = sorted(tuple(map(float, line.split())) for n in range(4)
                   for line in (tmp_path / f"w{n}.txt").read_text().splitlines())
    assert len(spans) == 32
    overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert not overlaps, f"{len(overlaps)} gradebook sessions overlapped"
    assert (tmp_path / "gradebook.db.lock").exists()


# -- end to end --------------------------------------------------------------------------------------

#: the students graded again on PostgreSQL (a cheaper subset: the point there is the database)
PG_STUDENTS = {"01_convolution": ["full", "blank"], "05_exercises": ["full", "blank"]}


def make_course(dest: Path, students: dict[str, list[str]] | None = None) -> Path:
    """A copy of the course (source/, release/, nbgrader_config.py) with the example classes submitted
    (``students``: assignment -> names; default: every student of every class)."""
    course_copy(dest)
    for assignment, a in CLASSES.items():
        names = sorted(a.STUDENTS) if students is None else students.get(assignment, [])
        if names:
            make_submissions.write_classes(dest / "submitted", dest, [assignment], names)
    return dest


def check_class(course: Path, db_url: str, students: dict[str, list[str]], proc: subprocess.CompletedProcess) -> None:
    """The gradebook, feedback, grades.csv and the printed table agree with each class's expected points."""
    from nbgrader.api import Gradebook

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "autograde: 100%" in proc.stdout  # the tqdm bar, on stdout
    got, want = {}, {}
    with Gradebook(db_url) as gb:
        for assignment, names in students.items():
            for student in names:
                submission = gb.find_submission(assignment, student)
                got[assignment, student] = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
                assert not any(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades), student
                want[assignment, student] = {k: float(v) for k, v in CLASSES[assignment].STUDENTS[student][2].items()}
    wrong = {f"{a}/{s}": {k: (got[a, s].get(k), v) for k, v in want[a, s].items() if got[a, s].get(k) != v}
             for a, s in want}
    assert got == want, f"(got, expected) per wrong cell: { {k: w for k, w in wrong.items() if w} }"

    with open(course / "grades.csv") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    for assignment, names in students.items():
        a = CLASSES[assignment]
        total = sum(a.POINTS.values())
        for student in names:
            html = course / "feedback" / student / assignment / f"{a.NOTEBOOK}.html"
            assert html.exists(), html
            text = html.read_text()
            assert "BEGIN HIDDEN TESTS" not in text, f"{html} shows hidden tests"
            assert str(course) not in text and str(ROOT) not in text, f"{html} shows the grading machine's paths"
            assert (course / "autograded" / student / assignment / f"{a.NOTEBOOK}.ipynb").exists()
            log = (course / "autograded" / student / f"{assignment}.log").read_text()
            assert "database is locked" not in log
            expected = sum(a.STUDENTS[student][2].values())
            row = rows[assignment, student]
            assert float(row["score"]) == expected and float(row["max_score"]) == total, row
            line = next(ln for ln in table_rows(proc.stdout, assignment) if ln.startswith(student + " "))
            assert f"{expected}/{total}" in line and line.rstrip().endswith("ok"), line


def table_rows(stdout: str, assignment: str) -> list[str]:
    """The rows of the printed score table's section of ``assignment``."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"{assignment}  (max: "))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.strip():
            break
        rows.append(ln)
    return rows


def every_student() -> dict[str, list[str]]:
    return {assignment: sorted(a.STUDENTS) for assignment, a in CLASSES.items()}


def test_autograde_example_classes_on_sqlite(tmp_path):
    students = every_student()
    course = make_course(tmp_path)
    start = time.perf_counter()
    proc = run_autograde(course, "-j", "2", timeout=3000)
    print(f"graded {sum(map(len, students.values()))} submissions with -j 2 in {time.perf_counter() - start:.0f} s")
    check_class(course, f"sqlite:///{course / 'gradebook.db'}", students, proc)
    assert "sqlite:///" in proc.stdout.splitlines()[0]
    # the cap on epochs reached the grading kernel
    if "capped_epochs" in CLASSES["05_exercises"].STUDENTS:
        graded = json.loads((course / "autograded" / "capped_epochs" / "05_exercises" / "exercises.ipynb").read_text())
        outputs = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                          for c in graded["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
        assert "CNNLIB_MAX_EPOCHS=30 caps training at 30 of the 100 epochs" in outputs
    # the phase times the grader logs are there, and consistent, for scripts/bench_grading.py's profile
    phases = load_script("bench_grading").profile(course)
    n = sum(map(len, students.values()))
    assert set(phases) == {"autograde", "generate_feedback", "kernel start", "cells", "kernel stop", "run"}
    assert all(v > 0 for v in phases.values()), phases
    assert phases["kernel start"] + phases["cells"] + phases["kernel stop"] <= phases["autograde"], phases
    assert (phases["autograde"] + phases["generate_feedback"]) * n <= phases["run"], phases


#: graded again with every core busy: the slowest correct answers (training) and a wrong one per class
LOADED_STUDENTS = {"01_convolution": ["full"], "05_exercises": ["full", "capped_epochs"]}


def test_autograde_grades_the_same_on_a_busy_machine(tmp_path):
    """With two busy processes per core beside the grader, every cell scores what it scores on an idle
    machine (the cell limits count the kernel's own time, not the time it waited for a CPU)."""
    students = {a: [s for s in names if s in CLASSES[a].STUDENTS] for a, names in LOADED_STUDENTS.items()}
    for assignment, a in CLASSES.items():  # one wrong answer of each class too
        wrong = [s for s, (_, _, e) in sorted(a.STUDENTS.items()) if s != "blank" and e != a.POINTS]
        students.setdefault(assignment, []).extend(wrong[:1])
    course = make_course(tmp_path, students)
    with cpu_hogs():
        proc = run_autograde(course, "-j", "2", timeout=3000)
    check_class(course, f"sqlite:///{course / 'gradebook.db'}", students, proc)
    # the premise: the machine was busy (cells waited for a CPU longer than they ran)
    import re

    cells = [(float(w), float(o)) for log in course.glob("autograded/*/*.log")
             for w, o in re.findall(r"cell \S+: ([\d.]+) s \(own ([\d.]+) s\)", log.read_text())]
    slow = [(w, o) for w, o in cells if o > 1.0]
    assert slow and sum(w for w, _ in slow) > 1.5 * sum(o for _, o in slow), \
        f"the machine was not busy: (wall, own) {slow[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_autograde_example_classes_on_postgres(tmp_path):
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
                "tests/submissions/a05_exercises.py", "cnngrader/apps/autograde.py", "cnngrader/run/staging.py",
                "source/05_exercises/exercises.ipynb",
                "cnngrader/preprocessors/guarded_execute.py", "cnngrader/sandbox/launcher.py",
                "cnngrader/sandbox/kernel_guard.py", "cnngrader/scan/rebuild.py", "tests/hostile/corpus.py", "tests/hostile/build.py",
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
