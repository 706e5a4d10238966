"""The formgrader's Autograde button grades exactly as `make autograde` does (issue 12): the rebuild and the
scan are nbgrader sanitize preprocessors (cnngrader/preprocessors/rebuild_and_scan.py, nbgrader_config.py),
so a plain ``nbgrader autograde ASSIGNMENT --student X`` — nbgrader's own app, which the formgrader button
runs — and ``python -m cnngrader`` give the same scores, cell by cell, for an honest full solution, a blank
notebook, a tampering one, a trusted one, a notebook that is a link to source/ and one that is a named pipe.
The expected points are the example class's own (tests/submissions/a01_convolution.py), not our code's."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, course_copy, load_script, run_autograde

from cnngrader import scan
from cnngrader.constants import DB_ENV

ASSIGNMENT, NOTEBOOK = "01_convolution", "convolution"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
#: read the checks' reference answers (tampering: the scan flags it and the exercise scores 0)
TAMPER = "from cnnlib import grading as _reference\n"
#: flagged by the scan (threads) but harmless: run as written once trusted
FLAGGED_HONEST = "import threading\n"
STUDENTS = ("full", "blank", "tamper", "trusted", "linked", "piped")


def plain_nbgrader(course: Path, *argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``nbgrader ARGV`` in the course folder, as an instructor (or the formgrader) runs it: nbgrader's own
    app with the course's nbgrader_config.py, nothing of python -m cnngrader around it."""
    env = {k: v for k, v in os.environ.items() if k != DB_ENV}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env["PATH"] = f"{Path(NBGRADER).parent}{os.pathsep}{env.get('PATH', '')}"  # (nbgrader runs alembic from there)
    return subprocess.run([NBGRADER, *argv], cwd=course, env=env, text=True, capture_output=True, timeout=timeout)


def scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: {g.name: g.score for g in gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, s).grades}
                for s in STUDENTS}


def with_answer_prefix(nb_path: Path, solution: str, prefix: str) -> None:
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == solution)
    cell["source"] = prefix + "".join(cell["source"])
    nb_path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course copy with the six students, graded first by plain nbgrader, then by python -m cnngrader.
    Returns (course, scores by plain nbgrader, scores by python -m cnngrader, the plain runs' outputs, what
    plain nbgrader left in autograded/full/<assignment>/, full's submission time in the gradebook, and how
    plain nbgrader explained the tampering student)."""
    make = load_script("make_submissions")
    course = course_copy(tmp_path_factory.mktemp("formgrader") / "course")
    submitted = course / "submitted"
    answers = make.CLASSES / "a01_convolution.py"
    make.write_class(submitted, students=["full", "blank"], answers_path=answers)
    full = submitted / "full" / ASSIGNMENT
    for name, prefix in (("tamper", TAMPER), ("trusted", FLAGGED_HONEST)):
        shutil.copytree(full, submitted / name / ASSIGNMENT)
        with_answer_prefix(submitted / name / ASSIGNMENT / f"{NOTEBOOK}.ipynb", "conv1d_solution", prefix)
    (submitted / "linked" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "linked" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").symlink_to(
        course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    (submitted / "piped" / ASSIGNMENT).mkdir(parents=True)
    os.mkfifo(submitted / "piped" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    # what else a student may put beside the notebook: nbgrader must copy none of it
    (full / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC\n")
    (full / "submission_secret.txt").write_text("s3cret\n")
    (full / "solution.txt").symlink_to(course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    (full / "zeros").symlink_to("/dev/zero")
    os.mkfifo(full / "extra.fifo")
    (full / "cnnlib").mkdir()
    (full / "cnnlib" / "__init__.py").write_text("raise SystemExit('a fake cnnlib')\n")

    # the gradebook, as an instructor records an assignment (into a scratch release folder)
    proc = plain_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force",
                          f"--CourseDirectory.release_directory={course / 'scratch-release'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = {}
    for student in STUDENTS:
        trust = [f"--RebuildAndScan.trusted_students={student}"] if student == "trusted" else []
        runs[student] = plain_nbgrader(course, "autograde", ASSIGNMENT, "--student", student, "--force", *trust)
        assert runs[student].returncode == 0, runs[student].stdout + runs[student].stderr
    plain = scores(course)
    copied = sorted(p.name for p in (course / "autograded" / "full" / ASSIGNMENT).iterdir())
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        stamp = gb.find_submission(ASSIGNMENT, "full").timestamp
        comment = gb.find_comment("conv1d_solution", NOTEBOOK, ASSIGNMENT, "tamper").auto_comment
    review = json.loads((course / "autograded" / "tamper" / f"{ASSIGNMENT}.review.json").read_text())
    explained = {"comment": comment, "needs_review": review.get("needs_review")}
    app = run_autograde(course, "--assignment", ASSIGNMENT, "--force", "--trust", "trusted", "--no-feedback")
    assert app.returncode == 0, app.stdout[-3000:] + app.stderr[-3000:]
    return course, plain, scores(course), runs, copied, stamp, explained


def expected() -> dict[str, dict[str, float]]:
    """Each student's points from the example class and the scan's rules: a flagged exercise scores 0 on
    its graded cells, a link or a fifo is graded as the blank notebook."""
    a01 = load_script("make_submissions").load_answers(ROOT / "tests" / "submissions" / "a01_convolution.py")
    full, blank = dict(a01.STUDENTS["full"][2]), dict(a01.STUDENTS["blank"][2])
    source_nb = json.loads((ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    zeroed = scan.exercises(source_nb)[0]["conv1d_solution"]
    return {"full": full, "blank": blank, "tamper": {c: 0 if c in zeroed else p for c, p in full.items()},
            "trusted": full, "linked": blank, "piped": blank}


def test_plain_nbgrader_and_the_grader_give_the_same_scores_cell_by_cell(graded):
    _, plain, app, *_ = graded
    assert plain == app


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_scores_what_the_example_class_says(graded, student):
    _, plain, app, *_ = graded
    assert plain[student] == app[student] == expected()[student]


def test_a_linked_notebook_is_graded_blank_with_the_reason(graded):
    course, _, _, runs, *_ = graded
    review = json.loads((course / "autograded" / "linked" / f"{ASSIGNMENT}.review.json").read_text())
    scan_entry = review["notebooks"][NOTEBOOK]["scan"]
    assert scan_entry["readable"] is False and "symbolic link" in scan_entry["notes"][0], scan_entry
    graded_nb = (course / "autograded" / "linked" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    source_answer = next("".join(c["source"]) for c in json.loads(
        (ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "conv1d_solution")
    assert source_answer.strip() and json.dumps(source_answer)[1:-1] not in graded_nb, "the solution was graded"
    assert "symbolic link" in runs["linked"].stdout + runs["linked"].stderr


def test_the_tampering_cell_is_not_run_and_its_exercise_explained(graded):
    course, *_ = graded
    review = json.loads((course / "autograded" / "tamper" / f"{ASSIGNMENT}.review.json").read_text())
    entry = review["notebooks"][NOTEBOOK]["scan"]
    assert "conv1d_solution" in entry["flagged_exercises"] and "cnnlib.grading" in str(entry["findings"])
    assert review["needs_review"], review  # (python -m cnngrader ran last: its runtime merge and reasons)
    nb = json.loads((course / "autograded" / "tamper" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "conv1d_solution")
    assert "[autograder] This cell was not run" in "".join(cell["source"])
    trusted = json.loads((course / "autograded" / "trusted" / f"{ASSIGNMENT}.review.json").read_text())
    assert trusted["trusted"] is True and trusted["notebooks"][NOTEBOOK]["scan"]["findings"], trusted


def test_plain_nbgrader_copies_nothing_the_student_put_beside_the_notebook(graded):
    """No link followed, no fifo or device read, no fake package next to the graded notebook; the grader's
    timestamp and the exchange's secret are there for feedback and release_feedback."""
    course, _, _, _, copied, stamp, _ = graded
    assert copied == [f"{NOTEBOOK}.ipynb", "submission_secret.txt", "timestamp.txt"], copied
    assert stamp.year != 2000, stamp  # the submission time is the grader's, not the student's timestamp.txt
    folder = course / "submitted" / "full" / ASSIGNMENT
    assert (folder / "timestamp.txt").read_text() != "2000-01-01 00:00:00.000000 UTC\n"


def test_plain_nbgrader_explains_a_flagged_exercise_as_the_grader_does(graded):
    """The formgrader shows the reason in the gradebook (the exercise's comment), and the review file lists
    the student for review, before python -m cnngrader ever ran."""
    *_, explained = graded
    assert explained["comment"].startswith("[autograder] the code of this exercise") and \
        "cnnlib.grading" in explained["comment"], explained
    assert any("cnnlib.grading" in reason for reason in explained["needs_review"]), explained
