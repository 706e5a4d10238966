"""Grading one student: stage the submission, run nbgrader ``autograde`` and ``generate_feedback``, retry a
failed attempt once, write the marker; any error becomes that student's FAILED result.

Each graded student gets autograded/<student>/<assignment>.graded.json (what was graded: a fingerprint of
the submission, the tests and the grader; cnngrader/run/fingerprint.py) and .review.json (what the scan
and the runtime guard found).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from cnngrader.run.fingerprint import marker_path
from cnngrader.run.result import Result
from cnngrader.run.staging import stage_submission
from cnngrader.run.workers import STOP, nbgrader

def grade_one(root: Path, env: dict, student: str, assignment: str, retries: int = 1, feedback: bool = True,
              run=nbgrader, trust: bool = False, extra: tuple[str, ...] = (), fp: str = "") -> Result:
    """`grade_student`, any error contained: it becomes this student's FAILED result (with the reason, and
    the traceback in the student's log), and the run goes on with the others. After Ctrl-C: not started."""
    import traceback

    if STOP.is_set():
        return Result(student, assignment, error="not graded: the run was interrupted")
    start = time.perf_counter()
    try:
        return grade_student(root, env, student, assignment, retries, feedback, run, trust, extra, fp)
    except Exception as err:  # noqa: BLE001
        try:
            log_path = root / "autograded" / student / f"{assignment}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as log:
                log.write(f"=== grading failed:\n{traceback.format_exc()}")
        except OSError:
            pass
        return Result(student, assignment, error=f"grading failed ({type(err).__name__}: {str(err)[:200]})",
                      seconds=time.perf_counter() - start)


def grade_student(root: Path, env: dict, student: str, assignment: str, retries: int = 1, feedback: bool = True,
                  run=nbgrader, trust: bool = False, extra: tuple[str, ...] = (), fp: str = "") -> Result:
    """Autograde (and write feedback for) one student's assignment, retrying a failed attempt
    (``run`` executes one nbgrader command; tests pass a fake). On success the student's marker
    (autograded/<student>/<assignment>.graded.json, with the fingerprint ``fp``) is written last, so a
    run killed before that grades the student again next time."""
    result = Result(student, assignment)
    log_path = root / "autograded" / student / f"{assignment}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    marker_path(root, student, assignment).unlink(missing_ok=True)
    start = time.perf_counter()
    stage, review = stage_submission(root, student, assignment, trust)
    review_path = root / "autograded" / student / f"{assignment}.review.json"
    review_path.write_text(json.dumps(review, indent=1))
    log_path.write_text("")
    try:
        # append mode: the nbgrader commands write to this file too (a child process or a fork server's
        # child, through its own descriptor), and our own lines must land after theirs, not over them
        with open(log_path, "a") as log:
            for attempt in range(1, retries + 2):
                result.attempts = attempt
                log.write(f"=== attempt {attempt}: autograde {assignment} for {student}\n")
                log.flush()
                attempt_start = log.tell()
                steps = [("autograde", assignment, "--student", student, "--force",
                          f"--CourseDirectory.submitted_directory={stage}", *extra,
                          *([f"--RebuildAndScan.trusted_students={student}"] if trust else []))]
                if feedback:
                    steps.append(("generate_feedback", assignment, "--student", student, "--force"))
                result.error = ""
                for step in steps:
                    if STOP.is_set():
                        result.error = "not graded: the run was interrupted"
                        break
                    step_start = time.perf_counter()
                    proc = run(root, env, *step, log=log)
                    log.write(f"=== {step[0]}: exit code {proc.returncode}, {time.perf_counter() - step_start:.2f} s\n")
                    log.flush()
                    if proc.returncode:
                        result.error = f"nbgrader {step[0]} exited with {proc.returncode} (see {log_path.relative_to(root)})"
                        with open(log_path, errors="replace") as f:
                            f.seek(attempt_start)
                            if "MachineTooBusy" in f.read():
                                result.error = ("the grading machine was too busy to run a cell within its time "
                                                "(not the student's fault): grade this student again, on a "
                                                f"quieter machine (see {log_path.relative_to(root)})")
                        break
                if not result.error:
                    graded = list((root / "autograded" / student / assignment).glob("*.ipynb"))
                    html = list((root / "feedback" / student / assignment).glob("*.html"))
                    if not graded:
                        result.error = "no autograded notebook was written"
                    elif feedback and not html:
                        result.error = "no feedback was written"
                if not result.error:
                    result.ok = True
                    break
                log.write(f"=== attempt {attempt} failed: {result.error}\n")
                log.flush()
                if STOP.is_set():
                    result.error = "not graded: the run was interrupted"
                    break
                if attempt <= retries:
                    time.sleep(1)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if review_path.exists():
        result.review = json.loads(review_path.read_text()).get("needs_review") or []
    if result.ok and fp:
        marker_path(root, student, assignment).write_text(json.dumps(
            {"fingerprint": fp, "graded_at": time.strftime("%Y-%m-%d %H:%M:%S"), "feedback": feedback,
             "seconds": round(time.perf_counter() - start, 2)}))
    result.seconds = time.perf_counter() - start
    return result
