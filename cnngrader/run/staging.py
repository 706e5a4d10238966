"""Finding the submissions under submitted/ and staging each one: a private copy for nbgrader to grade.

Step 0 of a run (cnngrader/apps/autograde.py): copy every submission into a private staging copy that
nbgrader grades: the notebooks, nothing else of the submission folder. nbgrader's first sanitize
preprocessor (RebuildAndScan, cnngrader/preprocessors/rebuild_and_scan.py, as for the formgrader's
Autograde button) then rebuilds each notebook on the released one (locked and test cells from the
instructor, whatever the student did to them) and does not run student code that tampers with grading
(its exercise scores 0 and the student is listed for manual review; ``--trust STUDENT`` after a review
found it honest).

What is read from submitted/: only the notebooks of the released assignment, as regular files opened
without following links (cnngrader/scan ``read_regular``: a symbolic link anywhere in
submitted/<student>/<assignment>/, a named pipe, a device or an oversized file is refused, and that
notebook is graded as handed in blank and listed for review), and the exchange's submission_secret.txt,
which names the feedback file and nothing else. The submission time is never the student's: the grader
writes the staged timestamp.txt itself, from when the notebook reached submitted/ (its inode change time,
which no student process can set). The course sets no due date, so nothing is late; an instructor who
sets one gets lateness measured from that time (when the submission was collected), never from a file
the student wrote.

A student or assignment folder that is not a folder, a folder name that is not a valid student id and an
assignment that is not in source/ ("did you mean ...?") become that student's FAILED row with the reason
(``find_submissions``); everyone else is graded.
"""
from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
import threading
import time
from pathlib import Path

from cnngrader import scan as sc
from cnngrader.run.result import Result

#: what nbgrader's exchange writes next to a submission and the grader keeps: the secret that names the
#: feedback file (it affects no grade; read as a regular file of at most SECRET_BYTES)
EXCHANGE_FILES = ("submission_secret.txt",)
SECRET_BYTES = 4096


#: what nbgrader accepts as a student id and the exchange can carry ('+' separates the fields of its
#: folder names; a leading '.' is a hidden folder, whitespace nbgrader strips away)
STUDENT_ID = re.compile(r"\w[\w.@-]{0,99}")
STAGING = ".staging"  # autograded/.staging/: sanitised copies of the submissions being graded


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


def stage_submission(root: Path, student: str, assignment: str, trust: bool = False) -> tuple[Path, dict]:
    """A private copy of the submission for nbgrader to grade: each notebook of the assignment (as a regular
    file; nbgrader's RebuildAndScan preprocessor rebuilds and scans it from submitted/), the grader's
    timestamp and the exchange's secret, nothing else (files a
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
        if not problem and not os.path.lexists(path):
            continue  # nbgrader gives a missing notebook 0
        # nbgrader grades a notebook it finds here; what it grades is read from submitted/, rebuilt and
        # scanned by the RebuildAndScan sanitize preprocessor (which fills the review's "notebooks"). A
        # regular file is copied as it is; one refused (a link, a fifo, a folder that is not one) stands in
        # as the release, and RebuildAndScan grades it blank with the reason.
        data, _ = (None, "") if problem else sc.read_regular(path, sc.MAX_NOTEBOOK_BYTES, trusted=top)
        (dest / name).write_bytes(release_path.read_bytes() if data is None else data)
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
