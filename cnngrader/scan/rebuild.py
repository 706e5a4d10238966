"""Rebuild a submitted notebook on the released one, so that whatever the student did to its structure,
nbgrader grades the instructor's cells (``sanitise``, run by the RebuildAndScan sanitize preprocessor,
cnngrader/preprocessors/rebuild_and_scan.py):

- every locked cell (setup, read-only code, tests) comes from release/ in the instructor's order; nbgrader
  then restores the hidden tests as usual. Deleted, edited, duplicated, moved or retyped locked cells
  change nothing;
- each solution cell takes the student's code (the last copy if the cell was duplicated, as nbgrader
  does; a solution cell turned into Markdown is code again); a deleted one is the released stub;
- cells the student added (and earlier copies of a duplicated solution cell) stay, after the instructor
  cell they followed; raw cells and outputs are dropped; a notebook that cannot be read is graded as
  handed in blank.

The student-written code is scanned on the way (cnngrader/scan/scanner.py). A flagged cell is not run: its
code is replaced by a comment that says why (the student's code stays in submitted/ for the manual
review), and the graded cells of its exercise score 0 (``not_graded`` in the notebook metadata, honoured
by GuardedExecute). ``trust=True`` (``python -m cnngrader --trust STUDENT``, after a review found the code
honest) runs the code as written.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from cnngrader.constants import META
from cnngrader.scan.scanner import Finding, NotebookScanner, cell_text, course_aliases_for, protected_names_for


def _gid(cell: dict) -> str | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def exercises(source_nb: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(solution cell -> the graded cells that follow it up to the next solution cell,
    every cell id -> the solution cell of its exercise (cells before the first: the first exercise))."""
    grades: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    ids = [(_gid(c), c.get("metadata", {}).get("nbgrader", {})) for c in source_nb["cells"]]
    solutions = [gid for gid, meta in ids if meta.get("solution") and not meta.get("grade")]
    current = solutions[0] if solutions else None
    for gid, meta in ids:
        if gid is None:
            continue
        if meta.get("solution") and not meta.get("grade"):
            current = gid
            grades.setdefault(gid, [])
        elif meta.get("grade") and current is not None:
            grades.setdefault(current, []).append(gid)
        if current is not None:
            owner[gid] = current
    return grades, owner


def neutralised(findings: list[Finding]) -> str:
    lines = ["# [autograder] This cell was not run: its code tampers with the grading or escapes the notebook:"]
    lines += [f"#   {f}" for f in findings[:10]]
    if len(findings) > 10:
        lines.append(f"#   ... and {len(findings) - 10} more")
    lines += ["# Your code is kept as you submitted it, for the instructor's review.",
              'raise RuntimeError("not run by the autograder: see the comment at the top of this cell")']
    return "\n".join(lines)


@dataclass
class Report:
    readable: bool = True
    notes: list[str] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)   # cell label -> findings
    flagged_exercises: dict[str, str] = field(default_factory=dict)  # solution cell id -> reason
    not_graded: dict[str, str] = field(default_factory=dict)        # grade cell id -> reason
    trusted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def sanitise(submitted: dict | None, release_nb: dict, source_nb: dict, trust: bool = False) -> tuple[dict, Report]:
    """The notebook nbgrader should grade (see the module docstring), and what was found."""
    report = Report(trusted=trust)
    out = copy.deepcopy(release_nb)
    release_ids = [_gid(c) for c in release_nb["cells"]]
    solution_ids = {_gid(c) for c in release_nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                    and not c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    grades_of, owner = exercises(source_nb)
    if submitted is None:
        report.readable = False
        submitted = {"cells": []}
    cells = [c for c in submitted["cells"] if isinstance(c, dict)]

    last = {}
    for i, cell in enumerate(cells):
        gid = _gid(cell)
        if gid in release_ids:
            last[gid] = i
    answers: dict[str, str] = {}
    extras: dict[str | None, list[dict]] = {}
    anchor: str | None = None
    n_extra = 0
    for i, cell in enumerate(cells):
        gid = _gid(cell)
        kind = cell.get("cell_type")
        text = cell_text(cell)
        if gid in release_ids:
            if gid in solution_ids and last[gid] == i:
                answers[gid] = text
                anchor = gid
                continue
            if gid not in solution_ids:
                if last[gid] == i:
                    anchor = gid
                elif text.strip():
                    report.notes.append(f"a copy of the locked cell {gid} was dropped")
                continue
        if kind not in ("code", "markdown") or (kind == "markdown" and not text.strip()):
            continue
        n_extra += 1
        new = {"cell_type": kind, "id": f"student-added-{n_extra}", "metadata": {}, "source": text}
        if kind == "code":
            new.update(execution_count=None, outputs=[])
        extras.setdefault(anchor, []).append(new)

    scanner = NotebookScanner(course_aliases_for(source_nb), protected_names_for(source_nb))
    rebuilt = list(extras.get(None, []))
    for cell in out["cells"]:
        cell.pop("attachments", None)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        gid = _gid(cell)
        if gid in answers:
            cell["source"] = answers[gid]
            cell["cell_type"] = "code"
        rebuilt.append(cell)
        rebuilt.extend(extras.get(gid, []))
    # anchor of each added cell: the instructor cell before it
    current = None
    for cell in rebuilt:
        gid = _gid(cell)
        if gid is not None:
            current = gid
            if gid not in solution_ids:
                continue
        elif cell.get("cell_type") != "code":
            continue
        label = gid or f"a cell you added (after {current or 'the top'})"
        if gid is None and cell.get("cell_type") == "code" and not cell_text(cell).strip():
            continue
        try:
            findings = scanner.scan(cell_text(cell))
        except Exception as err:  # noqa: BLE001 (a scan that fails must not run the cell unseen)
            findings = [Finding(1, f"the scan failed ({type(err).__name__}): not run")]
        if not findings:
            continue
        exercise = owner.get(gid or current) or next(iter(grades_of), None)
        report.findings[label] = [str(f) for f in findings]
        if trust:
            continue
        cell["source"] = neutralised(findings)
        shown = "; ".join(map(str, findings[:5])) + (f"; and {len(findings) - 5} more" if len(findings) > 5 else "")
        reason = f"the code of this exercise ({label}) was not run and scores 0: {shown}; flagged for manual review"
        if exercise is not None:
            report.flagged_exercises.setdefault(exercise, reason)
            for g in grades_of.get(exercise, []):
                report.not_graded.setdefault(g, reason)
    out["cells"] = rebuilt
    if not report.readable:
        report.notes.append("the submitted notebook could not be read: graded as handed in blank")
    out.setdefault("metadata", {})[META] = {"not_graded": report.not_graded}
    return out, report
