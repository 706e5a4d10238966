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
import glob
import os
import sys
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput,
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

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

c.Execute.interrupt_on_timeout = True
# (nbgrader 0.9.6 declares Execute.execute_retries but never uses it: python -m cnngrader retries a
# failed student once instead, e.g. after a rare port collision between parallel kernels.)

# HTML is sanitised wherever an instructor or a student opens a notebook as HTML (feedback, formgrader):
# a submission's Markdown or outputs could carry <script>, event handlers or javascript: links.
c.HTMLExporter.sanitize_html = True

# The course's nbgrader plugins are the cnngrader package (installed by `make`, beside cnnlib).
try:
    from cnngrader import constants as _grading
    from cnngrader.preprocessors import GuardedExecute, HideHiddenTests, RebuildAndScan
    from cnngrader.scan.exporter import SubmissionExporter
    from cnngrader.scan.review_hook import GraderReview
    from cnngrader.scan.timestamp_hook import GraderTimestamp
except ImportError as _err:  # a copy of the release without the grader: students validating need none of it
    print(f"nbgrader_config.py: the course grader is unavailable ({_err}); autograding and feedback are disabled",
          file=sys.stderr)
    c.Autograde.autograde_preprocessors = ["cnngrader.preprocessors.GuardedExecute"]  # fails loudly, never unguarded
    c.Autograde.sanitize_preprocessors = ["cnngrader.preprocessors.RebuildAndScan"]  # (never unscanned either)
    c.GenerateFeedback.preprocessors = ["cnngrader.preprocessors.HideHiddenTests"]
else:
    # Own-time seconds per cell (cnngrader/constants.py: an endless loop costs that, not forever; the longest
    # allowed training, CNNLIB_MAX_EPOCHS epochs, stays well inside it). `python -m cnngrader --timeout`
    # changes it for one run.
    c.Execute.timeout = _grading.CELL_TIMEOUT
    # Every `nbgrader autograde` (the formgrader's Autograde button, a command line, python -m cnngrader)
    # grades the same thing. First the submission is read safely and rebuilt and scanned:
    # - nbconvert reads the notebook as a regular file: no link followed, no fifo, size capped
    #   (cnngrader/scan/exporter.py; anything refused is read as blank);
    # - the first sanitize preprocessor reads the submission itself the same way, rebuilds it on the
    #   released notebook and scans the student's code (cnngrader/preprocessors/rebuild_and_scan.py;
    #   `python -m cnngrader --trust STUDENT` runs a flagged student's code as written); nbgrader's own
    #   sanitize steps follow;
    # - the submission time is the grader's, not a timestamp.txt of the student's (pre-convert hook,
    #   cnngrader/scan/timestamp_hook.py); after grading, the review file and the gradebook comments
    #   explain what was flagged (post-convert hook, cnngrader/scan/review_hook.py);
    # - nbgrader copies no other file of a submitted/<student>/<assignment>/ folder: its copy follows links
    #   and reads devices, and a file beside the notebook (a fake cnnlib/) would reach the grading kernel.
    #   Its only switch is CourseDirectory.ignore: nbgrader joins each glob to the folder being copied, and
    #   an absolute glob stays itself, so this one names the submission folders themselves (nbgrader skips
    #   an ignored folder whole). The exchange's copies match the globs against bare names, which an
    #   absolute glob never matches. The grader's timestamp.txt and the exchange's secret are written by
    #   RebuildAndScan instead (python -m cnngrader grades a staging copy, which nbgrader copies as usual).
    c.Autograde.exporter_class = SubmissionExporter
    c.Autograde.sanitize_preprocessors = [RebuildAndScan, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                          OverwriteCells, CheckCellMetadata]
    c.RebuildAndScan.submitted_directory = c.CourseDirectory.submitted_directory
    c.Autograde.pre_convert_hook = GraderTimestamp(HERE / c.CourseDirectory.submitted_directory)
    c.Autograde.post_convert_hook = GraderReview(HERE, HERE / c.CourseDirectory.submitted_directory,
                                                 c.CourseDirectory.db_url)
    c.CourseDirectory.ignore = [*CourseDirectory().ignore,  # (nbgrader's defaults, and:)
                                glob.escape(str(HERE / c.CourseDirectory.submitted_directory)) + "/*/*"]
    # Then each submission runs in the sandboxed grading kernel, cell by cell under the grader's
    # control (cnngrader/preprocessors/guarded_execute.py; cnngrader/sandbox/). Test cells the
    # student deleted are put back from the gradebook (the locked cells they edited are restored anyway).
    c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.OverwriteCells.add_missing_cells = True
    # Feedback shows the visible tests and the output of every test (what passed, what failed and why)
    # but not the code of the hidden tests: neither in the cells, nor quoted in any output.
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
