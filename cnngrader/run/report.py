"""What a run reports: the score table, the submissions that need a manual review, the grades.csv export."""
from __future__ import annotations

import sys
from pathlib import Path

from cnngrader.run.result import Result
from cnngrader.run.workers import nbgrader

def print_table(results: list[Result], out=None) -> None:
    """One row per student and assignment: score per graded cell, total, time, status."""
    out = out or sys.stdout  # (the current one: tests capture it)
    for assignment in sorted({r.assignment for r in results}):
        rows = [r for r in results if r.assignment == assignment]
        cols = list(dict.fromkeys(k for r in rows for k in r.scores))
        if not cols and not any(r.ok for r in rows):  # nothing graded (not gradable, or not reached)
            print(f"\n{assignment if assignment != '-' else 'not gradable'}  (nothing graded)", file=out)
            for r in rows:
                print(f"{r.student} {r.seconds:5.0f}s  FAILED: {r.error}", file=out)
            continue
        maxes = next((r.max_scores for r in rows if r.max_scores), {})
        width = max([7] + [len(r.student) for r in rows])
        head = f"{'student':<{width}} " + " ".join(f"{c:>{max(len(c), 4)}}" for c in cols)
        head += f" {'total':>9} {'time':>6}  status"
        print(f"\n{assignment}  (max: " + ", ".join(f"{c} {maxes.get(c, 0):g}" for c in cols)
              + f"; total {sum(maxes.values()):g})", file=out)
        print(head, file=out)
        for r in rows:
            cells = " ".join(f"{'-' if r.scores.get(c) is None else format(r.scores[c], 'g'):>{max(len(c), 4)}}"
                             for c in cols)
            total = sum(v for v in r.scores.values() if v is not None)
            status = "ok" if r.ok else f"FAILED: {r.error}"
            if r.ok and r.attempts > 1:
                status = f"ok (retried: {r.attempts} attempts)"
            if r.ok and r.skipped:
                status = "ok (unchanged since the last run: not regraded)"
            if r.review:
                status += ", REVIEW"
            print(f"{r.student:<{width}} {cells} {total:>4g}/{sum(r.max_scores.values()):<4g} "
                  f"{r.seconds:5.0f}s  {status}", file=out)


def print_review(results: list[Result], out=None) -> None:
    """The submissions a person should look at, and why (scan findings, runtime tampering, crashes)."""
    out = out or sys.stdout  # (the current one: tests capture it)
    flagged = [r for r in results if r.review]
    if not flagged:
        return
    print(f"\nneeds manual review ({len(flagged)}): the affected exercises scored 0; the student's code is in "
          f"submitted/, what ran in autograded/, details in autograded/<student>/<assignment>.review.json "
          f"(after a review, `--trust STUDENT --student STUDENT` regrades running the code as written)", file=out)
    for r in flagged:
        print(f"  {r.student} ({r.assignment}):", file=out)
        for reason in r.review[:8]:
            print(f"    - {reason}", file=out)
        if len(r.review) > 8:
            print(f"    - ... {len(r.review) - 8} more", file=out)


def export_csv(root: Path, env: dict, dest: Path) -> None:
    proc = nbgrader(root, env, "export", f"--to={dest}", "--log-level=ERROR")
    if proc.returncode:
        raise SystemExit(f"nbgrader export failed:\n{proc.stdout}{proc.stderr}")
