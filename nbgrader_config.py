# nbgrader configuration of the cnn-course (read by every `nbgrader` command run from this folder,
# by `make release / autograde / feedback / export` and by the formgrader in `make lab`).
#
# Layout (nbgrader's defaults, spelled out):
#   source/<assignment>/*.ipynb                 instructor notebooks (solutions + hidden tests)
#   release/<assignment>/*.ipynb                student version (committed; `make release`)
#   submitted/<student>/<assignment>/*.ipynb    what students hand in            (git-ignored)
#   autograded/<student>/<assignment>/*.ipynb   executed and scored submissions  (git-ignored)
#   feedback/<student>/<assignment>/*.html      feedback for the students        (git-ignored)
#   gradebook.db                                the SQLite gradebook             (git-ignored)
import os
from pathlib import Path

from nbconvert.filters import strip_ansi
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 (injected by traitlets)

HERE = Path(__file__).resolve().parent

c.CourseDirectory.root = str(HERE)
# A course id is required with PostgreSQL: with nbgrader's default (empty) id the assignment rows point
# at a course that is never created, which SQLite lets pass and PostgreSQL's foreign keys refuse.
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# The gradebook: SQLite next to this file unless NBGRADER_DB_URL names another database, e.g.
# `postgresql+psycopg2://nbgrader:...@127.0.0.1:5433/gradebook` (set by `make autograde DB=postgres`;
# passed through the environment so a password never shows in a process list).
c.CourseDirectory.db_url = os.environ.get("NBGRADER_DB_URL") or f"sqlite:///{HERE / 'gradebook.db'}"

# Execution while autograding and validating. nbgrader's default of 30 s per cell can be too short for the
# learning-curve cell of 05_exercises (train.fit on 10,000 digits). scripts/autograde.py also sets
# CNNLIB_MAX_EPOCHS=30 for the grading kernels, so the longest allowed training (30 epochs: about 15 s
# on 2 cores, 30-40 s on a busy machine) stays well inside this bound, and an endless loop costs
# 120 s, not forever.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# (nbgrader 0.9.6 declares Execute.execute_retries but never uses it: scripts/autograde.py retries a
# failed student once instead, e.g. after a rare port collision between parallel kernels.)


class HideHiddenTestsInTracebacks(Preprocessor):
    """In the error output of a grade cell, replace the lines that quote a hidden test (IPython shows the
    failing line and its neighbours) by a placeholder; runs before ClearHiddenTests, which still sees
    the hidden region in the cell's source."""

    enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            return cell, resources
        hidden, inside = [], False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            if inside and len(line.strip()) >= 4:
                hidden.append(line.strip())
            if "END HIDDEN TESTS" in line:
                inside = False
        if not hidden:
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = ["\n".join("      (hidden test)" if any(h in strip_ansi(ln) for h in hidden) else ln
                                              for ln in entry.split("\n")) for entry in out["traceback"]]
        return cell, resources


# Feedback shows the visible tests and the output of every test (what passed, what failed and why)
# but not the code of the hidden tests, neither in the cells nor quoted in tracebacks.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTestsInTracebacks, ClearHiddenTests,
                                    CSSHTMLHeaderPreprocessor]
