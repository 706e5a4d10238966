"""What every example class (tests/submissions/a<NN>_<assignment>.py) is written with.

An example class module defines ``ASSIGNMENT`` and ``NOTEBOOK`` (release/<ASSIGNMENT>/<NOTEBOOK>.ipynb),
``POINTS`` (graded cell -> points) and ``STUDENTS``: student -> (one line on what the submission is and why
it earns its points, answers by solution cell id, expected points by graded cell). An answer is the
student's code, ``SOLUTION`` (the instructor's solution from source/, markers removed) or ``BLANK`` (the
released stub). scripts/make_submissions.py writes the classes into submitted/; tests/test_autograde.py
grades them all through scripts/autograde.py (the path of `make autograde`) and compares every cell.
"""
from __future__ import annotations

SOLUTION = "<the instructor's solution>"
BLANK = "<the released stub>"


def full_points(points: dict[str, int], **got: int) -> dict[str, int]:
    """Full points except the cells given (cell=points obtained)."""
    unknown = set(got) - set(points)
    if unknown:
        raise KeyError(f"not graded cells of this assignment: {sorted(unknown)}")
    return {**points, **got}
