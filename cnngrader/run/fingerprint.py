"""What a grade depends on, and the marker that says a student was graded from it.

Repeatable and resumable: a student whose submission, tests and grader are unchanged since their last
complete grading is not graded again (``--force`` regrades everyone); grading one student never touches
another's results, so a run that was killed half way resumes where it stopped when run again.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from cnngrader import scan as sc
from cnngrader.run import ROOT
from cnngrader.run.staging import MAX_ENTRIES

#: what decides a grade besides the submission and the assignment (globs relative to the repository):
#: the grader, every module of cnnlib (the notebooks' cells and tests import any of them) and the pinned
#: library versions. A change to any of these regrades.
GRADER_FILES = ("cnngrader/**/*.py", "cnnlib/*.py", "nbgrader_config.py", "requirements.txt", "pyproject.toml")


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
