"""What a student hands in, made safe to grade: reading it (files.py: regular files only, no links, size
capped), scanning the student's code for tampering (scanner.py, with the tables of rules.py) and rebuilding
the notebook on the released one (rebuild.py). Run for every graded notebook by the RebuildAndScan sanitize
preprocessor (cnngrader/preprocessors/rebuild_and_scan.py); `python -m cnngrader.apps.scan NOTEBOOK` shows
what the scan finds."""
from cnngrader.scan.files import MAX_NOTEBOOK_BYTES, load_submission, read_regular
from cnngrader.scan.rebuild import Report, exercises, sanitise
from cnngrader.scan.rules import COURSE_ALIASES, FORBIDDEN_CALLS, MAX_CELL_CHARS
from cnngrader.scan.scanner import (Finding, NotebookScanner, course_aliases_for, protected_names_for,
                                    scan)

__all__ = ["MAX_NOTEBOOK_BYTES", "load_submission", "read_regular", "Report", "exercises", "sanitise", "COURSE_ALIASES",
           "FORBIDDEN_CALLS", "MAX_CELL_CHARS", "Finding", "NotebookScanner", "course_aliases_for",
           "protected_names_for", "scan"]
