"""Build, check and validate the student version of the course (release/).

    python scripts/release.py            # lock unmarked source cells, then generate release/ from source/
    python scripts/release.py lock       # only give every unmarked source cell locked nbgrader metadata
    python scripts/release.py check      # release/ is up to date with source/ and leaks no solution
    python scripts/release.py validate   # source notebooks pass their tests, released ones fail them

``generate`` runs ``nbgrader generate_assignment --no-db`` for every assignment, so it only writes
files: the gradebook learns the assignments when ``make autograde`` syncs it (python -m cnngrader).
The functions are also used by tests/test_release.py.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Markers that must never reach a student (nbgrader removes the regions they delimit).
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")
#: Notebook metadata that may differ between two generations of the same source (none does today:
#: generate_assignment neither executes nor timestamps, but editors and nbformat upgrades touch these).
VOLATILE_NB_METADATA = ("language_info", "widgets", "toc", "varInspector")
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed", "editable",
                          "deletable", "trusted")


def assignments(root: Path = ROOT) -> list[str]:
    """The assignment folders of source/ (those holding at least one notebook), sorted."""
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def lock(nb: dict) -> list[str]:
    """Give every cell without nbgrader metadata the metadata of a locked, read-only instructor cell
    (``grade_id`` from the cell's own id, so it stays put when other cells move). Returns the ids added.

    Students may not edit such cells (JupyterLab shows them locked), the grader restores them from
    release/, and the pre-grading scan knows them for the instructor's: an unmarked cell would be taken
    for one the student added, its code scanned and an unmarked helper cell dropped in grading."""
    added = []
    for i, cell in enumerate(nb["cells"]):
        if cell.get("metadata", {}).get("nbgrader"):
            continue
        gid = f"locked_{cell.get('id') or i}"
        cell.setdefault("metadata", {})["nbgrader"] = {
            "grade": False, "grade_id": gid, "locked": True, "schema_version": 3, "solution": False, "task": False}
        added.append(gid)
    return added


def unlocked_cells(nb: dict) -> list[int]:
    """Indices of the cells a student may edit that are not exercise answers (none may be)."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution") and not meta.get("locked"):
            out.append(i)
    return out


def lock_sources(root: Path = ROOT) -> list[str]:
    """``lock`` every source notebook in place (written only when a cell was added). Returns what changed."""
    changed = []
    for path in sorted((root / "source").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        added = lock(nb)
        if added:
            path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            changed.append(f"{path.relative_to(root)}: locked {len(added)} unmarked cell(s)")
    return changed


def generate(root: Path = ROOT, out: Path | None = None, assignment: str = "*", quiet: bool = True) -> Path:
    """``nbgrader generate_assignment`` for ``assignment`` (a name or ``*``) of the course at ``root``
    into ``out`` (default: root/release). Files only (``--no-db``). Returns the release folder."""
    out = Path(out) if out is not None else root / "release"
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--no-db",
           f"--CourseDirectory.root={root}", f"--CourseDirectory.release_directory={out}",
           f"--log-level={'ERROR' if quiet else 'INFO'}"]
    subprocess.run(cmd, cwd=root, check=True)
    # generate_assignment leaves assignments that no longer exist in source/: remove them
    for stale in sorted(p for p in out.iterdir() if p.is_dir() and p.name not in assignments(root)):
        print(f"removing {stale.relative_to(root) if stale.is_relative_to(root) else stale}: "
              f"no longer in source/")
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    return out


def _normal(nb: dict) -> dict:
    """A notebook without the metadata that may change between two generations."""
    nb = json.loads(json.dumps(nb))
    for key in VOLATILE_NB_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb["cells"]:
        for key in VOLATILE_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def compare(expected_dir: Path, actual_dir: Path) -> list[str]:
    """Differences between two release folders: missing/extra files, then notebooks cell by cell."""
    def files(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}

    want, have = files(expected_dir), files(actual_dir)
    problems = [f"missing from {actual_dir.name}/: {f}" for f in sorted(want - have)]
    problems += [f"not generated from source/: {actual_dir.name}/{f}" for f in sorted(have - want)]
    for rel in sorted(want & have):
        a, b = expected_dir / rel, actual_dir / rel
        if not rel.endswith(".ipynb"):
            if a.read_bytes() != b.read_bytes():
                problems.append(f"{rel}: differs")
            continue
        na, nb_ = _normal(json.loads(a.read_text())), _normal(json.loads(b.read_text()))
        if na["metadata"] != nb_["metadata"]:
            problems.append(f"{rel}: notebook metadata differs")
        if len(na["cells"]) != len(nb_["cells"]):
            problems.append(f"{rel}: {len(nb_['cells'])} cells, expected {len(na['cells'])}")
        for i, (ca, cb) in enumerate(zip(na["cells"], nb_["cells"])):
            differ = [key for key in sorted(set(ca) | set(cb)) if ca.get(key) != cb.get(key)]
            if differ:
                gid = ca.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
                problems.append(f"{rel}: cell {i}{f' ({gid})' if gid else ''}: {', '.join(differ)} differ")
    return problems


def _source_lines(cell: dict) -> list[str]:
    src = cell["source"]
    return ("".join(src) if isinstance(src, list) else src).splitlines()


def secret_lines(source_nb: dict) -> set[str]:
    """Code lines that appear only inside solutions or hidden tests of a source notebook (stripped;
    trivial lines such as ``)`` left out): none of them may appear in the released notebook."""
    secret, public = set(), set()
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        lines = _source_lines(cell)
        has_markers = any("BEGIN SOLUTION" in ln or "BEGIN HIDDEN TESTS" in ln for ln in lines)
        whole_cell_secret = meta.get("solution") and not has_markers and cell["cell_type"] == "code"
        inside = False
        for line in lines:
            s = line.strip()
            if "BEGIN SOLUTION" in s or "BEGIN HIDDEN TESTS" in s:
                inside = True
            elif "END SOLUTION" in s or "END HIDDEN TESTS" in s:
                inside = False
            elif inside or whole_cell_secret:
                secret.add(s)
            else:
                public.add(s)
    return {s for s in secret - public if len(s) >= 8 and any(ch.isalnum() for ch in s) and not s.startswith("#")}


def leaks(release_dir: Path, source_dir: Path) -> list[str]:
    """Solution or hidden-test content found in released notebooks."""
    problems = []
    for rel_nb in sorted(release_dir.glob("*/*.ipynb")):
        rel = rel_nb.relative_to(release_dir)
        text = rel_nb.read_text()
        released = json.loads(text)
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{rel}: contains {marker!r}")
        src = source_dir / rel
        if not src.exists():
            continue
        secrets = secret_lines(json.loads(src.read_text()))
        for i, cell in enumerate(released["cells"]):
            for line in _source_lines(cell):
                if line.strip() in secrets:
                    problems.append(f"{rel}: cell {i} holds a solution or hidden-test line: {line.strip()!r}")
    return problems


def check(root: Path = ROOT) -> list[str]:
    """Problems with root/release: out of date with source/ (regenerated into a temporary course
    folder and compared), or leaking solutions/hidden tests."""
    with tempfile.TemporaryDirectory(prefix="release-check-") as tmp:
        fresh = generate(root, Path(tmp) / "release")
        problems = compare(fresh, root / "release")
    return problems + leaks(root / "release", root / "source")


def graded_cells(nb: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]


def validator(timeout: int = 720):
    """An nbgrader Validator (``nbgrader validate`` exits 0 even when tests fail, so the checks here read
    the Validator's results instead). Its per-cell limit is wall time: 6x the grader's 120 s of own time,
    the grader's own backstop, so a busy machine slows validation without failing it."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    cfg = Config()
    cfg.Execute.timeout = timeout
    return Validator(config=cfg)


def validate(root: Path = ROOT, verbose: bool = True) -> list[str]:
    """Source notebooks with graded cells must pass every test; released ones must fail every test."""
    problems = []
    v = validator()
    for folder, should_pass in (("source", True), ("release", False)):
        for path in sorted((root / folder).glob("*/*.ipynb")):
            graded = graded_cells(json.loads(path.read_text()))
            if not graded:
                continue
            rel = path.relative_to(root)
            results = v.validate(str(path))
            failed = len(results.get("failed", []))
            if should_pass and results:
                first = next(iter(results.values()))[0]
                problem = (f"{rel}: fails validation ({ {k: len(x) for k, x in results.items()} }); first: "
                           f"{(first.get('raw_error') or first.get('source', ''))[-400:]}")
            elif not should_pass and failed != len(graded):
                problem = (f"{rel}: only {failed} of {len(graded)} graded cells fail on the blank release "
                           f"({sorted(results)}); every graded cell must fail until the student answers")
            else:
                problem = None
            if verbose:
                print(f"{'FAIL' if problem else 'ok  '} {rel}: {len(graded)} graded cells "
                      f"{'pass' if should_pass else 'fail'}{'' if problem else ' as expected'}")
            if problem:
                problems.append(problem)
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="generate", choices=("generate", "lock", "check", "validate"))
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this repository)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if args.command in ("generate", "lock"):
        for line in lock_sources(root):
            print(line)
    if args.command == "lock":
        return 0
    if args.command == "generate":
        out = generate(root)
        for name in assignments(root):
            print(f"release/{name}: " + ", ".join(p.name for p in sorted((out / name).glob("*.ipynb"))))
        problems = leaks(out, root / "source")
    elif args.command == "check":
        problems = check(root)
        if not problems:
            print(f"release/ is up to date with source/ ({len(assignments(root))} assignments) and leaks nothing")
    else:
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        problems = validate(root)
    for p in problems:
        print("ERROR:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
