"""The scan as nbgrader plugins, one by one (issue 12): reading what is handed in (cnngrader/scan/files.py),
nbconvert's read (cnngrader/scan/exporter.py), the RebuildAndScan sanitize preprocessor
(cnngrader/preprocessors/rebuild_and_scan.py), the submission-time hook (cnngrader/scan/timestamp_hook.py)
and how nbgrader_config.py wires them into nbgrader. The scan's rules themselves are tested in
tests/test_hostile.py (the corpus) and tests/test_containment.py (bounds); end to end, with nbgrader's own
app against python -m cnngrader, in tests/test_formgrader_path.py."""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT

from cnngrader import scan
from cnngrader.constants import META
from cnngrader.preprocessors import RebuildAndScan
from cnngrader.scan.exporter import SubmissionExporter
from cnngrader.scan.review_hook import GraderReview
from cnngrader.scan.timestamp_hook import GraderTimestamp

ASSIGNMENT, NOTEBOOK = "01_convolution", "convolution"
SOURCE = ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
RELEASE = ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"


def cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def text(c: dict) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


@pytest.fixture
def course(tmp_path) -> Path:
    """source/ and release/ of one assignment, and an empty submitted/ and autograded/."""
    for step, path in (("source", SOURCE), ("release", RELEASE)):
        (tmp_path / step / ASSIGNMENT).mkdir(parents=True)
        shutil.copy(path, tmp_path / step / ASSIGNMENT)
    (tmp_path / "submitted").mkdir()
    (tmp_path / "autograded").mkdir()
    return tmp_path


def hand_in(course: Path, student: str, answer: str | None = None) -> Path:
    """The released notebook with ``answer`` as the conv1d solution, in submitted/<student>/."""
    nb = json.loads(RELEASE.read_text())
    if answer is not None:
        cell(nb, "conv1d_solution")["source"] = answer
    path = course / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def rebuild_and_scan(course: Path, student: str, nb=None, **traits):
    """RebuildAndScan.preprocess as nbgrader calls it: below an exporter below nbgrader's Autograde converter
    (where it finds the course folders), with the resources nbgrader passes."""
    import nbformat
    from nbgrader.converters import Autograde

    config = Config({"RebuildAndScan": traits})
    converter = Autograde(coursedir=CourseDirectory(root=str(course)), config=config)
    pp = RebuildAndScan(parent=SubmissionExporter(parent=converter, config=config), config=config)
    resources = {"nbgrader": {"student": student, "assignment": ASSIGNMENT, "notebook": NOTEBOOK}}
    return pp.preprocess(nb if nb is not None else nbformat.v4.new_notebook(), resources)[0]


def review_of(course: Path, student: str) -> dict:
    return json.loads((course / "autograded" / student / f"{ASSIGNMENT}.review.json").read_text())


# -- files.py ----------------------------------------------------------------------------------------------


def test_a_linked_folder_is_refused_as_a_folder(tmp_path):
    (tmp_path / "submitted" / "real" / "a1").mkdir(parents=True)
    (tmp_path / "submitted" / "real" / "a1" / "nb.ipynb").write_text("{}")
    (tmp_path / "submitted" / "eve").symlink_to(tmp_path / "submitted" / "real")
    data, why = scan.read_regular(tmp_path / "submitted" / "eve" / "a1" / "nb.ipynb", 100, tmp_path / "submitted")
    assert data is None and why == "submitted/eve is a symbolic link (not followed: hand in the folder itself)"


def test_a_file_where_a_folder_should_be_says_so(tmp_path):
    (tmp_path / "submitted" / "eve").mkdir(parents=True)
    (tmp_path / "submitted" / "eve" / "a1").write_text("not a folder")
    data, why = scan.read_regular(tmp_path / "submitted" / "eve" / "a1" / "nb.ipynb", 100, tmp_path / "submitted")
    assert data is None and why == "submitted/eve/a1 is not a folder but a file"


# -- exporter.py: nbconvert's read --------------------------------------------------------------------------


def test_the_exporter_reads_a_regular_notebook_as_nbformat_does(course):
    import nbformat

    path = hand_in(course, "ann", "def my_conv1d(x, w):\n    return x\n")
    nb, resources = SubmissionExporter().from_filename(str(path))
    assert json.loads(nb) == json.loads(nbformat.writes(nbformat.read(path, as_version=4)))
    assert resources["metadata"]["name"] == NOTEBOOK and resources["metadata"]["path"] == str(path.parent)


@pytest.mark.parametrize("kind", ["link", "fifo", "deep", "folder link"])
def test_the_exporter_reads_anything_refused_as_a_blank_notebook(course, kind):
    path = course / "submitted" / "eve" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True)
    if kind == "link":
        path.symlink_to(SOURCE)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "deep":
        path.write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        hand_in(course, "real")
        shutil.rmtree(course / "submitted" / "eve")
        (course / "submitted" / "eve").symlink_to(course / "submitted" / "real")
    got = []
    # (in a thread: a fifo opened for reading blocks until a writer comes, so a regression fails, not hangs)
    reader = threading.Thread(target=lambda: got.append(SubmissionExporter().from_filename(str(path))), daemon=True)
    reader.start()
    reader.join(60)
    assert got, "the read blocked"
    assert json.loads(got[0][0])["cells"] == [], "not blank"


# -- RebuildAndScan -----------------------------------------------------------------------------------------


def test_the_notebook_graded_is_the_submission_rebuilt_not_what_nbconvert_read(course):
    answer = "def my_conv1d(x, w):\n    return [0.0]\n"
    hand_in(course, "ann", answer)
    import nbformat

    solutions = nbformat.read(SOURCE, as_version=4)  # what a link would have made nbconvert read
    out = rebuild_and_scan(course, "ann", solutions)
    release = json.loads(RELEASE.read_text())
    assert text(cell(out, "conv1d_solution")) == answer
    assert text(cell(out, "corr2d_solution")) == text(cell(release, "corr2d_solution"))  # the stub
    locked = [c for c in release["cells"] if not c["metadata"].get("nbgrader", {}).get("solution")]
    assert [text(c) for c in out.cells if c["id"] in {x["id"] for x in locked}] == [text(c) for c in locked]
    assert all(isinstance(c.source, str) for c in out.cells)  # as nbformat reads a file (nbgrader checksums it)
    assert out.metadata[META] == {"not_graded": {}}
    entry = review_of(course, "ann")["notebooks"][NOTEBOOK]
    assert entry["scan"]["readable"] and not entry["scan"]["findings"]
    assert entry["owner"]["conv1d_solution"] == "conv1d_solution"


@pytest.mark.parametrize("how", ["notebook link", "folder link", "fifo", "missing"])
def test_a_submission_that_cannot_be_read_is_graded_blank_with_the_reason(course, how):
    path = course / "submitted" / "eve" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if how == "folder link":
        hand_in(course, "ann", "def my_conv1d(x, w):\n    return x\n")
        (course / "submitted" / "eve").symlink_to(course / "submitted" / "ann")
    else:
        path.parent.mkdir(parents=True)
        if how == "notebook link":
            path.symlink_to(SOURCE)
        elif how == "fifo":
            os.mkfifo(path)
    out = rebuild_and_scan(course, "eve")
    release = json.loads(RELEASE.read_text())
    assert [text(c) for c in out.cells] == [text(c) for c in release["cells"]]
    entry = review_of(course, "eve")["notebooks"][NOTEBOOK]["scan"]
    why = {"notebook link": "convolution.ipynb is a symbolic link", "folder link": "submitted/eve is a symbolic link",
           "fifo": "is a named pipe", "missing": "No such file"}[how]
    assert entry["readable"] is False and why in entry["notes"][0], entry


def test_tampering_is_not_run_and_recorded_for_the_rest_of_the_pipeline(course):
    hand_in(course, "mal", "import cnnlib.grading as g\ndef my_conv1d(x, w):\n    return g\n")
    out = rebuild_and_scan(course, "mal")
    source_nb = json.loads(SOURCE.read_text())
    zeroed = {c["metadata"]["nbgrader"]["grade_id"] for c in source_nb["cells"]
              if c["metadata"].get("nbgrader", {}).get("grade")} & set(scan.exercises(source_nb)[0]["conv1d_solution"])
    assert zeroed and set(out.metadata[META]["not_graded"]) == zeroed
    assert "cnnlib.grading" not in text(cell(out, "conv1d_solution")).split("raise")[-1]
    assert text(cell(out, "conv1d_solution")).startswith("# [autograder] This cell was not run")
    review = review_of(course, "mal")
    assert review["trusted"] is False and review["notebooks"][NOTEBOOK]["scan"]["flagged_exercises"]


def test_a_trusted_student_runs_as_written_and_only_that_student(course):
    answer = "import threading\ndef my_conv1d(x, w):\n    return x\n"
    for student in ("tess", "mal"):
        hand_in(course, student, answer)
    trusted = rebuild_and_scan(course, "tess", trusted_students=["tess"])
    other = rebuild_and_scan(course, "mal", trusted_students=["tess"])
    assert text(cell(trusted, "conv1d_solution")) == answer and trusted.metadata[META]["not_graded"] == {}
    assert text(cell(other, "conv1d_solution")) != answer and other.metadata[META]["not_graded"]
    assert review_of(course, "tess")["trusted"] is True
    assert review_of(course, "tess")["notebooks"][NOTEBOOK]["scan"]["findings"]  # still listed for review


def test_the_review_is_merged_not_replaced(course):
    hand_in(course, "ann")
    path = course / "autograded" / "ann" / f"{ASSIGNMENT}.review.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"notes": ["kept"], "notebooks": {"other": {"runtime": {"crashes": []}},
                                                                  NOTEBOOK: {"runtime": {"stale": 1}}}}))
    rebuild_and_scan(course, "ann")
    review = review_of(course, "ann")
    assert review["notes"] == ["kept"] and review["notebooks"]["other"] == {"runtime": {"crashes": []}}
    assert set(review["notebooks"][NOTEBOOK]) == {"scan", "owner"}  # this notebook's old run is gone
    assert review["student"] == "ann" and review["assignment"] == ASSIGNMENT


def test_the_grader_writes_the_time_and_the_secret_beside_the_graded_notebook(course):
    from nbgrader.utils import parse_utc

    path = hand_in(course, "ann")
    (path.parent / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC\n")
    (path.parent / "submission_secret.txt").write_text("abc\n")
    rebuild_and_scan(course, "ann")
    graded = course / "autograded" / "ann" / ASSIGNMENT
    when = parse_utc((graded / "timestamp.txt").read_text().strip()).timestamp()
    assert abs(when - path.lstat().st_ctime) < 2
    assert (graded / "submission_secret.txt").read_text() == "abc\n"
    # a secret that is a link is not followed
    (path.parent / "submission_secret.txt").unlink()
    (path.parent / "submission_secret.txt").symlink_to(SOURCE)
    (graded / "submission_secret.txt").unlink()
    rebuild_and_scan(course, "ann")
    assert not (graded / "submission_secret.txt").exists()


def test_a_missing_release_says_what_to_run(course):
    hand_in(course, "ann")
    (course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="make release"):
        rebuild_and_scan(course, "ann")


# -- the submission-time hook ------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["file", "link", "fifo"])
def test_the_hook_replaces_the_students_timestamp_without_reading_it(course, planted):
    path = hand_in(course, "ann")
    stamp = path.parent / "timestamp.txt"
    decoy = course / "decoy.txt"
    decoy.write_text("2000-01-01 00:00:00.000000 UTC\n")
    {"file": lambda: stamp.write_text(decoy.read_text()), "link": lambda: stamp.symlink_to(decoy),
     "fifo": lambda: os.mkfifo(stamp)}[planted]()
    GraderTimestamp(course / "submitted")(assignment=ASSIGNMENT, student="ann", notebooks=[str(path)])
    assert not stamp.is_symlink() and stamp.is_file() and "2000" not in stamp.read_text()
    assert decoy.read_text().startswith("2000")  # never written through the link


def test_the_hook_leaves_other_folders_alone(tmp_path):
    staged = tmp_path / "stage" / "ann" / ASSIGNMENT
    staged.mkdir(parents=True)
    (staged / "timestamp.txt").write_text("the grader's\n")
    GraderTimestamp(tmp_path / "submitted")(notebooks=[str(staged / f"{NOTEBOOK}.ipynb")])
    assert (staged / "timestamp.txt").read_text() == "the grader's\n"


# -- nbgrader_config.py ------------------------------------------------------------------------------------


@pytest.fixture
def course_config(tmp_path) -> tuple[Path, Config]:
    """A course folder holding a copy of nbgrader_config.py, and its configuration as nbgrader loads it."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    return tmp_path, PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()


def test_the_config_reads_and_scans_first(course_config):
    _, config = course_config
    assert config.Autograde.sanitize_preprocessors[0] is RebuildAndScan
    assert config.Autograde.exporter_class is SubmissionExporter
    assert config.RebuildAndScan.submitted_directory == config.CourseDirectory.submitted_directory
    assert isinstance(config.Autograde.pre_convert_hook, GraderTimestamp)
    assert isinstance(config.Autograde.post_convert_hook, GraderReview)


def test_nbgrader_copies_nothing_from_a_submitted_folder_and_the_rest_as_before(course_config):
    """The ignore glob, checked with nbgrader's own copy functions (find_all_files for the converters,
    ignore_patterns for the exchange): a submitted folder is skipped whole, nothing else changes."""
    from nbgrader.utils import find_all_files, ignore_patterns

    root, config = course_config
    ignore = list(config.CourseDirectory.ignore)
    submitted = root / config.CourseDirectory.submitted_directory / "ann" / ASSIGNMENT
    staged = root / "autograded" / ".staging" / "ann" / ASSIGNMENT
    for folder in (submitted, staged):
        (folder / "sub").mkdir(parents=True)
        for name in ("data.csv", "timestamp.txt", "sub/x.py", f"{NOTEBOOK}.ipynb"):
            (folder / name).write_text("x")
    assert find_all_files(str(submitted), ignore + ["*.ipynb"]) == []
    assert sorted(Path(f).name for f in find_all_files(str(staged), ignore + ["*.ipynb"])) == \
        ["data.csv", "timestamp.txt", "x.py"]
    names = ["data.csv", f"{NOTEBOOK}.ipynb", "ann", ASSIGNMENT, "__pycache__"]
    assert set(ignore_patterns(exclude=ignore)(str(submitted.parent), names)) == {"__pycache__"}
