"""One student's grading result: a row of the score table (cnngrader/run/report.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

@dataclass
class Result:
    student: str
    assignment: str
    ok: bool = False
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    review: list[str] = field(default_factory=list)
