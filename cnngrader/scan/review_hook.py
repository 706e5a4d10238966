"""GraderReview: nbgrader's ``Autograde.post_convert_hook`` (nbgrader_config.py), so that a submission graded
by the formgrader's Autograde button (or a plain ``nbgrader autograde``) is explained as python -m cnngrader
explains it: the runtime guard's findings merged into autograded/<student>/<assignment>.review.json beside
the scan's (written by RebuildAndScan), the reasons it needs a manual review, and a comment on each zeroed
exercise in the gradebook (cnngrader/run/gradebook.py ``annotate``). python -m cnngrader grades staging
copies and annotates each student itself: folders other than ``submitted`` are left alone."""
from __future__ import annotations

from pathlib import Path


class GraderReview:
    """The post-convert hook: ``hook(assignment=..., student=..., notebooks=[paths of one submission])``."""

    def __init__(self, root: Path, submitted: Path, db_url: str):
        self.root, self.submitted, self.db_url = Path(root).absolute(), Path(submitted).absolute(), db_url

    def __call__(self, assignment: str = "", student: str = "", notebooks: list | tuple = ()) -> None:
        from cnngrader.run.gradebook import annotate

        if not notebooks:
            return
        folder = Path(sorted(notebooks)[0]).absolute().parent
        if folder.parent.parent != self.submitted:
            return
        annotate(self.root, self.db_url, folder.parent.name, folder.name)
