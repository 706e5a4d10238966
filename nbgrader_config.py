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
import importlib.util
import os
import sys
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, GetGrades,
                                    IgnorePattern, LimitOutput, SaveAutoGrades)

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
# CNNLIB_MAX_EPOCHS=30 for the grading kernels, so the longest allowed training (30 epochs: 18 s on one
# idle core, 40-50 s on a busy machine) stays well inside this bound, and an endless loop costs 120 s,
# not forever (scripts/autograde.py --timeout changes it for one run).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# (nbgrader 0.9.6 declares Execute.execute_retries but never uses it: scripts/autograde.py retries a
# failed student once instead, e.g. after a rare port collision between parallel kernels.)

# HTML is sanitised wherever an instructor or a student opens a notebook as HTML (feedback, formgrader):
# a submission's Markdown or outputs could carry <script>, event handlers or javascript: links.
c.HTMLExporter.sanitize_html = True

# The course's nbgrader plugins live in scripts/course_nbgrader.py: next to this file, or in the checkout
# cnnlib is installed from (when this file was copied to another course folder, as the tests do).
_spec = importlib.util.find_spec("cnnlib")
for _scripts in (HERE / "scripts", Path(_spec.origin).resolve().parents[1] / "scripts" if _spec else HERE):
    if (_scripts / "course_nbgrader.py").exists() and str(_scripts) not in sys.path:
        sys.path.append(str(_scripts))
try:
    from course_nbgrader import GuardedExecute, HideHiddenTests  # noqa: E402
except ImportError as _err:  # a copy of the release without scripts/: students validating need none of it
    print(f"nbgrader_config.py: course plugins unavailable ({_err}); autograding and feedback are disabled",
          file=sys.stderr)
    c.Autograde.autograde_preprocessors = ["course_nbgrader.GuardedExecute"]  # fails loudly, never unguarded
    c.GenerateFeedback.preprocessors = ["course_nbgrader.HideHiddenTests"]
else:
    # Autograding runs each submission in the sandboxed grading kernel, cell by cell under the grader's
    # control (scripts/course_nbgrader.py: GuardedExecute; scripts/sandbox_kernel.py). Test cells the
    # student deleted are put back from the gradebook (the locked cells they edited are restored anyway).
    # `make autograde` (scripts/autograde.py) also rebuilds and scans every submission first
    # (scripts/submission_check.py); the formgrader's Autograde button skips that step.
    c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.OverwriteCells.add_missing_cells = True
    # Feedback shows the visible tests and the output of every test (what passed, what failed and why)
    # but not the code of the hidden tests: neither in the cells, nor quoted in any output.
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
