"""Grading a class, step by step (the machinery of ``python -m cnngrader``, cnngrader/apps/autograde.py):

    staging.py      find the submissions under submitted/, stage a private copy of each for nbgrader
    gradebook.py    the gradebook: its URL, recording assignments and students, review comments, scores
    workers.py      nbgrader commands in fork servers or fresh processes, run in parallel
    grading.py      one student: stage, autograde, feedback, retry, marker
    fingerprint.py  what a grade depends on (a student graded from the same is not regraded)
    report.py       the score table, the review list, the grades.csv export
    result.py       one student's result
"""
from pathlib import Path

#: the repository (the default course folder, and what fingerprint.GRADER_FILES are relative to)
ROOT = Path(__file__).resolve().parents[2]
