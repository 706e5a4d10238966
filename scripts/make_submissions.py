"""Build the example classes (tests/submissions/a<NN>_<assignment>.py, one per graded assignment) from
the released notebooks.

    python scripts/make_submissions.py                    # every class into submitted/<student>/<assignment>/
    python scripts/make_submissions.py --dest /tmp/class  # elsewhere
    python scripts/make_submissions.py --assignment 01_convolution --student full --student blank

Each student's notebook is release/<assignment>/<notebook>.ipynb with the source of its solution cells
replaced by that student's answers (the instructor's solution from source/ for ``SOLUTION``, the
released stub for ``BLANK``), as a student would hand it in from JupyterLab (unexecuted here: nbgrader
clears outputs before grading anyway). The format of a class: tests/submissions/common.py.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ROOT / "tests" / "submissions"
ANSWERS = CLASSES / "a05_exercises.py"


def class_paths(folder: Path = CLASSES) -> list[Path]:
    """The example class modules, in assignment order."""
    return sorted(folder.glob("a[0-9][0-9]_*.py"))


def load_answers(path: Path = ANSWERS):
    """The example class module at ``path`` (it imports tests/submissions/common.py as ``submissions.common``)."""
    tests = str(Path(path).resolve().parents[1])
    if tests not in sys.path:
        sys.path.insert(0, tests)
    name = f"submissions.{Path(path).stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_classes(folder: Path = CLASSES) -> dict[str, object]:
    """assignment -> its example class module."""
    classes = {}
    for path in class_paths(folder):
        module = load_answers(path)
        classes[module.ASSIGNMENT] = module
    return classes


def solution_source(cell: dict) -> str:
    """A source solution cell without its ``### BEGIN/END SOLUTION`` marker lines."""
    lines = "".join(cell["source"]).splitlines()
    return "\n".join(ln for ln in lines if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def build(release_nb: dict, source_nb: dict, answers: dict[str, str], solution: str, blank: str) -> dict:
    """The released notebook with ``answers`` (solution grade_id -> code) in its solution cells."""
    nb = json.loads(json.dumps(release_nb))
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c for c in source_nb["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise SystemExit(f"answers for solution cells the released notebook does not have: {unknown} "
                         f"(it has {sorted(cells)}); update tests/submissions/answers.py")
    for grade_id, answer in answers.items():
        if answer == blank:
            continue
        code = solution_source(solutions[grade_id]) if answer == solution else textwrap.dedent(answer).strip("\n")
        cells[grade_id]["source"] = code
    return nb


def course_copy(dest: Path, root: Path = ROOT) -> Path:
    """A gradable copy of the course in ``dest``: source/, release/, nbgrader_config.py and an empty
    autograded/ (what python -m cnngrader --root needs; the tests and bench_grading.py grade such copies)."""
    import shutil

    for folder in ("source", "release"):
        shutil.copytree(root / folder, dest / folder)
    shutil.copy(root / "nbgrader_config.py", dest)
    (dest / "autograded").mkdir()
    return dest


def write_class(dest: Path, root: Path = ROOT, students: list[str] | None = None,
                answers_path: Path = ANSWERS) -> list[Path]:
    """Write every (or the named) example student's notebook under dest/<student>/<assignment>/."""
    a = load_answers(answers_path)
    release_nb = json.loads((root / "release" / a.ASSIGNMENT / f"{a.NOTEBOOK}.ipynb").read_text())
    source_nb = json.loads((root / "source" / a.ASSIGNMENT / f"{a.NOTEBOOK}.ipynb").read_text())
    written = []
    for name, (_, answers, _) in a.STUDENTS.items():
        if students and name not in students:
            continue
        nb = build(release_nb, source_nb, answers, a.SOLUTION, a.BLANK)
        path = dest / name / a.ASSIGNMENT / f"{a.NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def write_classes(dest: Path, root: Path = ROOT, assignments: list[str] | None = None,
                  students: list[str] | None = None) -> list[Path]:
    """Every example class (or those of ``assignments``) under dest/<student>/<assignment>/."""
    written = []
    for path in class_paths():
        if assignments and load_answers(path).ASSIGNMENT not in assignments:
            continue
        written += write_class(dest, root, students, path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder with release/ and source/")
    ap.add_argument("--dest", type=Path, help="where to write (default: <root>/submitted)")
    ap.add_argument("--assignment", action="append", default=[], help="only this assignment's class (repeatable)")
    ap.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    dest = args.dest or root / "submitted"
    classes = load_classes()
    unknown = sorted(set(args.assignment) - set(classes))
    if unknown:
        raise SystemExit(f"no example class for {unknown}; there are: {sorted(classes)}")
    for path in write_classes(dest, root, args.assignment, args.student):
        name, assignment = path.relative_to(dest).parts[:2]
        why = classes[assignment].STUDENTS[name][0]
        print(f"{path.relative_to(root) if path.is_relative_to(root) else path}  ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
