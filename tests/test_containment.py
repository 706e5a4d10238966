"""What a student hands in is not trusted, and one submission never stops the run (issue 12): reading
submitted files (cnngrader/scan ``read_regular``, ``load_submission``), the scan's bounds,
finding and staging submissions (cnngrader/run/staging.py), a whole run in which one student's staging fails,
and Ctrl-C. The hostile class (tests/hostile/corpus.py, tests/test_hostile.py) grades the same cases end to end.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, course_copy, load_script

from cnngrader.apps import autograde
from cnngrader.constants import PARENT_ENV
from cnngrader.run import fingerprint, grading, staging
from cnngrader import scan as submission_check
from cnngrader.sandbox import processes

ASSIGNMENT, NOTEBOOK = "05_exercises", "exercises"
IS_ROOT = os.geteuid() == 0  # (kernels get grading uids only then)


# -- reading a submitted file ------------------------------------------------------------------------------


@pytest.fixture
def submitted(tmp_path) -> Path:
    """submitted/ann/a1/ with a regular notebook, and a secret file next to it (outside submitted/)."""
    top = tmp_path / "submitted"
    (top / "ann" / "a1").mkdir(parents=True)
    (top / "ann" / "a1" / "nb.ipynb").write_bytes(b'{"cells": []}')
    (tmp_path / "secret.ipynb").write_text('{"cells": [{"source": "the solution"}]}')
    return top


def test_a_regular_file_is_read_as_it_is(submitted):
    data, why = submission_check.read_regular(submitted / "ann" / "a1" / "nb.ipynb", 100, trusted=submitted)
    assert (data, why) == ((submitted / "ann" / "a1" / "nb.ipynb").read_bytes(), "")


@pytest.mark.parametrize("where", ["notebook", "assignment folder", "student folder"])
def test_a_link_anywhere_below_submitted_is_refused(submitted, where):
    secret = submitted.parent / "secret.ipynb"
    if where == "notebook":
        (submitted / "ann" / "a1" / "nb.ipynb").unlink()
        (submitted / "ann" / "a1" / "nb.ipynb").symlink_to(secret)
    else:
        other = submitted.parent / "elsewhere"
        other.mkdir()
        shutil.copy(secret, other / "nb.ipynb")
        victim = submitted / "ann" / "a1" if where == "assignment folder" else submitted / "ann"
        shutil.rmtree(victim)
        if where == "assignment folder":
            victim.symlink_to(other)
        else:
            (other / "a1").mkdir()
            shutil.copy(secret, other / "a1" / "nb.ipynb")
            victim.symlink_to(other)
    data, why = submission_check.read_regular(submitted / "ann" / "a1" / "nb.ipynb", 1000, trusted=submitted)
    assert data is None and "symbolic link" in why, why


def test_a_named_pipe_is_refused_without_opening_it(submitted):
    """Opening a fifo for reading blocks until a writer comes: a check that opened it would hang here."""
    pipe = submitted / "ann" / "a1" / "pipe.ipynb"
    os.mkfifo(pipe)
    data, why = submission_check.read_regular(pipe, 1000, trusted=submitted)
    assert data is None and "named pipe" in why, why
    nb, why = submission_check.load_submission(pipe, trusted=submitted)
    assert nb is None and "named pipe" in why


def test_a_device_is_refused(submitted):
    (submitted / "ann" / "a1" / "nb.ipynb").unlink()
    os.symlink("/dev/zero", submitted / "ann" / "a1" / "nb.ipynb")  # a link to it: refused as a link
    assert "symbolic link" in submission_check.read_regular(submitted / "ann" / "a1" / "nb.ipynb", 10, submitted)[1]
    data, why = submission_check.read_regular(Path("/dev/zero"), 10, trusted=Path("/dev"))
    assert data is None and "device" in why, why


def test_a_file_over_the_limit_is_refused_unread(submitted):
    path = submitted / "ann" / "a1" / "nb.ipynb"
    path.write_bytes(b" " * 101)
    assert submission_check.read_regular(path, 101, submitted)[0] == b" " * 101
    data, why = submission_check.read_regular(path, 100, submitted)
    assert data is None and "larger than 100 bytes" in why, why


@pytest.mark.parametrize("raw, word", [
    (b'{"cells": [{"source": "\xff\xfe"}]}', "UnicodeDecodeError"),
    (b'{"cells": [{"cell_type": "code", "source": "x = \'\\ud800\'"}]}', "UnicodeEncodeError"),
    (b'{"cells": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "RecursionError"),
    (b'{"cells": [', "JSONDecodeError"),
])
def test_an_unreadable_notebook_says_why(submitted, raw, word):
    path = submitted / "ann" / "a1" / "nb.ipynb"
    path.write_bytes(raw)
    nb, why = submission_check.load_submission(path, trusted=submitted)
    assert nb is None and word in why, why
    # ... and json itself agrees that the bytes are not a notebook Python can write back as UTF-8
    with pytest.raises((UnicodeError, ValueError, RecursionError)):
        json.dumps(json.loads(raw.decode("utf-8")), ensure_ascii=False).encode("utf-8")


# -- the scan's bounds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["total = " + "1 + " * 20_000 + "1", "x = " + "-" * 20_000 + "1",
                                  "x = a" + ".b" * 20_000])
def test_code_nested_too_deeply_is_flagged_not_a_crash(code):
    with pytest.raises((RecursionError, MemoryError, SyntaxError)):  # what Python itself makes of it
        compile(code, "<cell>", "exec")
    findings = submission_check.scan(code)
    assert findings and "nested too deeply" in str(findings[0]), [str(f) for f in findings]


def test_a_huge_cell_is_not_scanned_and_its_exercise_not_run():
    huge = "TABLE = [" + "0, " * 2_200_000 + "]\n"
    assert len(huge) > submission_check.MAX_CELL_CHARS
    findings = submission_check.scan(huge)
    assert findings and "characters" in str(findings[0])
    release_nb = json.loads((ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    source_nb = json.loads((ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    submitted = json.loads(json.dumps(release_nb))
    cell = next(c for c in submitted["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex2_solution")
    cell["source"] = huge
    out, report = submission_check.sanitise(submitted, release_nb, source_nb)
    graded_of_ex2 = submission_check.exercises(source_nb)[0]["ex2_solution"]
    assert graded_of_ex2 and set(graded_of_ex2) <= set(report.not_graded), report.not_graded
    text = next("".join(c["source"]) for c in out["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                == "ex2_solution")
    assert text.startswith("# [autograder]") and len(text) < 2000


def test_a_scan_that_raises_flags_the_cell(monkeypatch):
    release_nb = json.loads((ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    source_nb = json.loads((ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())

    def broken(self, source):
        raise ValueError("a bug of the scan")

    monkeypatch.setattr(submission_check.NotebookScanner, "scan", broken)
    _, report = submission_check.sanitise(json.loads(json.dumps(release_nb)), release_nb, source_nb)
    assert report.findings and all("the scan failed" in f[0] for f in report.findings.values()), report.findings


# -- finding and staging submissions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return course_copy(tmp_path_factory.mktemp("containment"))


def blank(course: Path, student: str, assignment: str = ASSIGNMENT) -> Path:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", folder / f"{NOTEBOOK}.ipynb")
    return folder


def test_what_cannot_be_graded_becomes_a_row_with_the_reason(course, tmp_path):
    shutil.rmtree(course / "submitted", ignore_errors=True)
    blank(course, "ann")
    (course / "submitted" / "README.md").write_text("# the class\n")
    blank(course, "bob", "05_exercise")                              # a typo
    (course / "submitted" / "cat").mkdir()
    (course / "submitted" / "cat" / ASSIGNMENT).write_text("a file")  # not a folder
    blank(course, "bad+id")
    blank(course, ".ipynb_checkpoints")                              # hidden: not a student
    pairs, problems = staging.find_submissions(course, [], [])
    assert pairs == [("ann", ASSIGNMENT)]
    why = {(r.student, r.assignment): r.error for r in problems}
    assert all(not r.ok for r in problems)
    assert "not a folder" in why[("README.md", "-")]
    assert why[("bob", "05_exercise")] == "no such assignment: '05_exercise': did you mean 05_exercises?"
    assert "not a folder" in why[("cat", ASSIGNMENT)]
    assert "not a valid student id" in why[("bad+id", "-")]
    assert len(problems) == 4
    shutil.rmtree(course / "submitted")


def test_staging_writes_the_time_itself_and_keeps_only_the_secret(course):
    folder = blank(course, "dan")
    (folder / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC\n")
    (folder / "submission_secret.txt").write_text("abc123\n")
    os.mkfifo(folder / "extra.fifo")
    stage, review = staging.stage_submission(course, "dan", ASSIGNMENT)
    try:
        staged = stage / "dan" / ASSIGNMENT
        assert sorted(p.name for p in staged.iterdir()) == ["exercises.ipynb", "submission_secret.txt", "timestamp.txt"]
        assert (staged / "submission_secret.txt").read_text() == "abc123\n"
        stamp = (staged / "timestamp.txt").read_text()
        assert "2000" not in stamp
        from nbgrader.utils import parse_utc

        when = parse_utc(stamp.strip()).timestamp()
        assert abs(when - (folder / f"{NOTEBOOK}.ipynb").stat().st_ctime) < 2, stamp
        assert any("timestamp.txt" in n for n in review["notes"]), review["notes"]
        # submitted/ now holds the grader's time too (the formgrader compares it with the gradebook's), also
        # where the student's timestamp.txt was a link: replaced, never written through
        assert (folder / "timestamp.txt").read_text() == stamp
        decoy = course / "decoy.txt"
        decoy.write_text("untouched\n")
        (folder / "timestamp.txt").unlink()
        (folder / "timestamp.txt").symlink_to(decoy)
        shutil.rmtree(stage)
        stage, _ = staging.stage_submission(course, "dan", ASSIGNMENT)
        assert decoy.read_text() == "untouched\n" and not (folder / "timestamp.txt").is_symlink()
        assert (folder / "timestamp.txt").read_text() == stamp
    finally:
        shutil.rmtree(stage)
        shutil.rmtree(course / "submitted")


def test_a_failing_staging_is_that_students_failed_row(course, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(grading, "stage_submission", broken)
    result = grading.grade_one(course, {}, "eve", ASSIGNMENT, run=lambda *a, **k: pytest.fail("graded"))
    assert not result.ok and "No space left on device" in result.error, result
    assert "grading failed" in (course / "autograded" / "eve" / f"{ASSIGNMENT}.log").read_text()


# -- whole runs --------------------------------------------------------------------------------------------


def grading_processes() -> list[str]:
    base = int(os.environ.get("CNN_GRADING_UID_BASE", 61000))
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if base <= os.stat(f"/proc/{entry}").st_uid < base + 1000 and processes.alive(entry):
                    found.append(entry)
            except OSError:
                pass
    return found


def test_one_broken_student_does_not_stop_the_run(tmp_path, monkeypatch, capfd):
    """Staging that raises for one student, a README.md file and a typo'd assignment folder: the other
    students are graded, the table lists every row and grades.csv is written."""
    course = course_copy(tmp_path / "course")
    for student in ("ann", "bob", "cid"):
        blank(course, student)
    (course / "submitted" / "README.md").write_text("# the class\n")
    blank(course, "dan", "05_exercise")
    real = staging.stage_submission

    def flaky(root, student, assignment, trust=False):
        if student == "bob":
            raise RuntimeError("staging broke for bob")
        return real(root, student, assignment, trust)

    monkeypatch.setattr(grading, "stage_submission", flaky)
    code = autograde.main(["--root", str(course), "-j", "2", "--no-feedback"])
    out = capfd.readouterr().out
    assert code == 1, out[-3000:]
    rows = {ln.split()[0]: ln for ln in out.splitlines() if re.match(r"^(ann|bob|cid|dan|README\.md) ", ln)}
    assert set(rows) == {"ann", "bob", "cid", "dan", "README.md"}, out[-3000:]
    assert rows["ann"].rstrip().endswith("ok") and rows["cid"].rstrip().endswith("ok"), out[-3000:]
    assert "FAILED: grading failed (RuntimeError: staging broke for bob)" in rows["bob"]
    assert "did you mean 05_exercises?" in rows["dan"] and "not a folder" in rows["README.md"]
    with open(course / "grades.csv") as f:
        graded = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {"ann", "cid"} <= set(graded) and float(graded["ann"]["score"]) == 0.0, graded
    assert "dan" not in graded and "README.md" not in graded


def test_ctrl_c_stops_the_run_promptly(tmp_path):
    """SIGINT after the first student started: the run ends within seconds, non-zero, with the summary;
    the queued students are not graded and no grading process is left."""
    course = course_copy(tmp_path / "course")
    students = [f"s{i}" for i in range(4)]
    for student in students:
        blank(course, student)
    proc = subprocess.Popen([sys.executable, "-m", "cnngrader", "--root", str(course), "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = course / "autograded" / students[0] / f"{ASSIGNMENT}.log"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and "=== attempt 1" not in (
            log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    time.sleep(2)  # inside nbgrader: the kernel starting or running
    # the run's processes and its kernels' (by pid: other graders may run kernels of the same uid range)
    for _ in range(100):
        ours = set(processes.descendants(proc.pid))
        kernels = {pid for pid in ours if str(pid) in grading_processes()}
        if kernels or not IS_ROOT:
            break
        time.sleep(0.2)
    assert kernels or not IS_ROOT, "no grading kernel started"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running 60 s after SIGINT: {proc.communicate()[0][-3000:]}")
    took = time.monotonic() - sent
    assert took < 15, f"{took:.0f} s after SIGINT"
    assert proc.returncode == 130, out[-3000:]
    assert "INTERRUPTED" in out and re.search(r"^s0 .*(FAILED|ok)", out, re.M), out[-3000:]
    markers = [s for s in students if fingerprint.marker_path(course, s, ASSIGNMENT).exists()]
    assert len(markers) < len(students), markers
    assert re.search(r"^s3 .*not graded: the run was interrupted", out, re.M), out[-3000:]
    for _ in range(50):  # the kernels die with their nbgrader process (parent-death signals), at once
        left = {pid for pid in ours if processes.alive(pid)}
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes of the run left: {left} (kernels: {kernels})"
    assert not started_by(proc.pid, course), "fork servers or nbgrader processes of the run left running"


def started_by(coordinator: int, course: Path) -> list[int]:
    """Live fork servers of ``coordinator`` (their environment names it) and nbgrader processes working in
    ``course``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not processes.alive(entry):
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if f"{PARENT_ENV}={coordinator}\0".encode() in environ or (
                cwd == str(course) and b"cnngrader" in Path(f"/proc/{entry}/cmdline").read_bytes()):
            found.append(int(entry))
    return found
