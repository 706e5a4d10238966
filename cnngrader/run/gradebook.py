"""The gradebook: its URL, recording the assignments and students (steps 1 and 2 of a run), the review
findings and their comments, and reading the scores back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cnngrader.constants import DB_ENV
from cnngrader.run import ROOT
from cnngrader.run.result import Result
from cnngrader.run.workers import nbgrader

def db_url_for(root: Path, db: str) -> str:
    """``sqlite`` (the default: <root>/gradebook.db), ``postgres`` (scripts/pg.sh, started if needed)
    or a full SQLAlchemy URL."""
    if db in ("", "sqlite"):
        return f"sqlite:///{root / 'gradebook.db'}"
    if db in ("postgres", "postgresql"):
        env = {**os.environ, "PGDIR": os.environ.get("PGDIR", str(root / ".pg"))}
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], check=True, env=env, stdout=subprocess.DEVNULL)
        return subprocess.run([str(ROOT / "scripts" / "pg.sh"), "url"], check=True, env=env, text=True,
                              capture_output=True).stdout.strip()
    return db


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}:***@{host}"


def sync_gradebook(root: Path, env: dict, assignment_ids: list[str], students: list[str]) -> dict[str, str]:
    """Record the assignments (notebooks, cells, points) and the students in the gradebook. Returns the
    assignments that could not be recorded, and why (their students are not graded; the others are)."""
    failed = {}
    with tempfile.TemporaryDirectory(prefix="nbgrader-sync-") as tmp:
        for assignment in assignment_ids:
            proc = nbgrader(root, env, "generate_assignment", assignment, "--force", "--log-level=ERROR",
                            f"--CourseDirectory.release_directory={tmp}")
            if proc.returncode:
                last = ((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-1:]
                failed[assignment] = "nbgrader could not record the assignment in the gradebook" + \
                    (f": {last[0][:300]}" if last else "")
                print(f"could not record {assignment} in the gradebook:\n{proc.stdout}{proc.stderr}", file=sys.stderr)
    from nbgrader.api import Gradebook

    with Gradebook(env[DB_ENV]) as gb:
        for student in students:
            gb.update_or_create_student(student)
    return failed


def annotate(root: Path, db_url: str, student: str, assignment: str) -> dict:
    """Merge what the runtime guard reported (in the autograded notebooks' metadata) into the student's
    review file, and explain each zeroed exercise in the gradebook: the comment of its solution cell
    (``auto_comment``, which the next autograde resets, so the comments never go stale)."""
    from nbgrader.api import Gradebook, MissingEntry

    review_path = root / "autograded" / student / f"{assignment}.review.json"
    review = json.loads(review_path.read_text()) if review_path.exists() else {"notebooks": {}}
    for nb_path in sorted((root / "autograded" / student / assignment).glob("*.ipynb")):
        meta = json.loads(nb_path.read_text()).get("metadata", {}).get("cnn_grading", {})
        entry = review.setdefault("notebooks", {}).setdefault(nb_path.stem, {})
        entry["runtime"] = meta.get("report", {})
    comments = {}
    for nb_name, entry in review.get("notebooks", {}).items():
        for solution, reason in (entry.get("scan") or {}).get("flagged_exercises", {}).items():
            comments[(nb_name, solution)] = reason
        owner = entry.get("owner", {})
        for event in (entry.get("runtime") or {}).get("integrity", []):
            solution = owner.get(event["cell"])
            if solution and (nb_name, solution) not in comments:
                comments[(nb_name, solution)] = ("the grading environment was tampered with while this exercise was "
                                                 "graded (" + "; ".join(event["changes"][:3]) + "): its tests and "
                                                 "all later ones score 0; flagged for manual review")
    review["needs_review"] = review_reasons(review)
    review_path.parent.mkdir(parents=True, exist_ok=True)
    review_path.write_text(json.dumps(review, indent=1))
    if comments:
        with Gradebook(db_url) as gb:
            for (nb_name, solution), reason in comments.items():
                try:
                    comment = gb.find_comment(solution, nb_name, assignment, student)
                except MissingEntry:
                    continue
                comment.auto_comment = f"[autograder] {reason}"
            gb.db.commit()
    return review


def review_reasons(review: dict) -> list[str]:
    """Why a student's submission needs a human look (``[]``: it does not)."""
    reasons = []
    for nb_name, entry in review.get("notebooks", {}).items():
        scan = entry.get("scan") or {}
        for label, items in scan.get("findings", {}).items():
            trusted = " (trusted: run as written)" if scan.get("trusted") else ""
            reasons.append(f"{nb_name}: {label}: {items[0]}{f' (+{len(items) - 1} more)' if len(items) > 1 else ''}"
                           f"{trusted}")
        if scan.get("readable") is False:
            why = next(iter(scan.get("notes") or []), "") or "the notebook could not be read"
            reasons.append(f"{nb_name}: {why} (graded as handed in blank)")
        runtime = entry.get("runtime") or {}
        for event in runtime.get("integrity", []):
            reasons.append(f"{nb_name}: tampering detected at run time before/while grading {event['cell']}: "
                           f"{event['changes'][0]}")
        for crash in runtime.get("crashes", []):
            reasons.append(f"{nb_name}: {crash['cell']}: {crash['why']}")
    return reasons


def read_scores(root: Path, db_url: str, results: list[Result]) -> None:
    """Fill each result's per-cell scores from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        for r in results:
            try:
                submission = gb.find_submission(r.assignment, r.student)
            except MissingEntry:
                r.ok, r.error = False, r.error or "no submission in the gradebook"
                continue
            except Exception as err:  # noqa: BLE001 (one student's rows, not the table)
                r.ok, r.error = False, r.error or f"scores not readable ({type(err).__name__})"
                gb.db.rollback()
                continue
            for nb in submission.notebooks:
                for grade in nb.grades:
                    graded = grade.auto_score is not None or grade.manual_score is not None
                    r.scores[grade.name] = grade.score if graded else None
                    r.max_scores[grade.name] = grade.max_score
            order = {name: i for i, name in enumerate(grade_order(root, gb, r.assignment))}
            r.scores = dict(sorted(r.scores.items(), key=lambda kv: order.get(kv[0], len(order))))


def grade_order(root: Path, gb, assignment: str) -> list[str]:
    """Grade cell ids of an assignment in notebook order (as in the source notebook)."""
    import json

    names = []
    for nb in gb.find_assignment(assignment).notebooks:
        path = root / "source" / assignment / f"{nb.name}.ipynb"
        cells = json.loads(path.read_text())["cells"] if path.exists() else []
        in_file = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        names += in_file or sorted(g.name for g in nb.grade_cells)
    return names
