"""GraderTimestamp: nbgrader's ``Autograde.pre_convert_hook`` (nbgrader_config.py), so that the submission
time nbgrader records is the grader's, never a file of the student's.

``nbgrader autograde`` reads submitted/<student>/<assignment>/timestamp.txt with a plain open() before
anything else of the submission: a student's own file there sets the submission time, a link makes it
read whatever it points to, a named pipe hangs it (in the formgrader: the Jupyter server). Before that,
this hook replaces the file, a link included and never written through, with the time the grader
writes (when the notebook reached submitted/: its inode change time), as python -m cnngrader does
(cnngrader/run/staging.py ``record_submitted_time``). Folders other than ``submitted`` (python -m
cnngrader's staging copies, which hold the grader's own timestamp.txt) are left alone."""
from __future__ import annotations

from pathlib import Path


class GraderTimestamp:
    """The pre-convert hook: ``hook(assignment=..., student=..., notebooks=[paths of one submission])``."""

    def __init__(self, submitted: Path):
        self.submitted = Path(submitted).absolute()

    def __call__(self, assignment: str = "", student: str = "", notebooks: list | tuple = ()) -> None:
        from cnngrader.run.staging import record_submitted_time, submitted_time

        if not notebooks:
            return
        first = Path(sorted(notebooks)[0]).absolute()
        if first.parent.parent.parent != self.submitted:
            return
        record_submitted_time(first.parent, submitted_time(first) + "\n")
