"""The static scan of a submission and its rebuild on the released notebook (see submission_check.py)."""
from cnngrader.scan.submission_check import (COURSE_ALIASES, FORBIDDEN_CALLS, MAX_CELL_CHARS, MAX_NOTEBOOK_BYTES,  # noqa: F401
                                             NotebookScanner, Report, course_aliases_for, exercises, load_submission,
                                             protected_names_for, read_regular, sanitise, scan)
