"""The grader of an earlier commit against this checkout's, side by side in one session (same machine, same load).

    python scripts/bench_versions.py --before 27e73d7

Grades 4 blank students with -j 1 twice for each (interleaved: the fixed cost per student), then a class of
20 (the example class of 05_exercises) with -j 2 once each, on SQLite; prints both and the ratios. The earlier
commit is checked out into a temporary git worktree; a grader still in scripts/ (before cnngrader) is run as
scripts/autograde.py.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]

def make(tree, dest, n, only=None):
    code = f"""
import sys, shutil; sys.path.insert(0, {str(tree / 'scripts')!r})
from pathlib import Path
import bench_grading as b
b.make_course(Path({str(dest)!r}), {n}, only={only!r})
"""
    subprocess.run([PY, "-c", code], check=True, cwd=tree)

def grade(tree, course, jobs):
    if not (tree / "cnngrader").is_dir():
        argv = [PY, str(tree / "scripts" / "autograde.py")]
        env = {**os.environ, "PYTHONPATH": str(tree / "scripts")}
    else:
        argv, env = [PY, "-m", "cnngrader"], dict(os.environ)
    t = time.perf_counter()
    p = subprocess.run(argv + ["--root", str(course), "-j", str(jobs)], capture_output=True, text=True, env=env, cwd=tree)
    dt = time.perf_counter() - t
    ok = p.returncode == 0
    run = sum(json.loads(m.read_text())["seconds"] for m in (course / "autograded").glob("*/*.graded.json"))
    n = len(list((course / "autograded").glob("*/*.graded.json")))
    return dt, run, n, ok, p.stdout[-300:]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--before", required=True, help="the earlier commit")
args = ap.parse_args()
tmp = Path(tempfile.mkdtemp(prefix="bench-versions-"))
subprocess.run(["git", "worktree", "add", "-f", "--detach", str(tmp / "before-tree"), args.before], cwd=ROOT,
               check=True, capture_output=True)
TREES = {"before": tmp / "before-tree", "now": ROOT}
res = {k: {"blank": [], "class": []} for k in TREES}
for rnd in range(2):
    for name, tree in (TREES.items() if rnd == 0 else reversed(list(TREES.items()))):
        c = tmp / f"{name}-blank-{rnd}"
        make(tree, c, 4, "blank")
        dt, run, n, ok, out = grade(tree, c, 1)
        res[name]["blank"].append(run / max(n, 1))
        print(f"{name:6s} 4 blank -j1: {dt:6.1f} s, {run / max(n,1):.2f} s per student (graded {n}, ok={ok})", flush=True)
        if not ok: print(out)
for name, tree in TREES.items():
    c = tmp / f"{name}-class"
    make(tree, c, 20)
    dt, run, n, ok, out = grade(tree, c, 2)
    res[name]["class"].append(dt)
    print(f"{name:6s} 20 students -j2: {dt:6.1f} s (graded {n}, ok={ok})", flush=True)
    if not ok: print(out)
b = {k: sum(v["blank"]) / len(v["blank"]) for k, v in res.items()}
print(f"fixed cost per blank student: before {b['before']:.2f} s, now {b['now']:.2f} s, ratio now/before {b['now']/b['before']:.2f}")
print(f"class of 20, -j 2: before {res['before']['class'][0]:.1f} s, now {res['now']['class'][0]:.1f} s, ratio {res['now']['class'][0]/res['before']['class'][0]:.2f}")
subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "before-tree")], cwd=ROOT, capture_output=True)
shutil.rmtree(tmp, ignore_errors=True)
