"""Load on the course's JupyterHub: N students at once fetch, save their answers, execute the notebook and
submit, while a probe times a hub page. Root only (local accounts), bounded, everything removed after.

    .venv/bin/python scripts/bench_hub.py [--students 10] [--assignment 03_shapes] [--timeout 900]

The hub is the one of `make hub` (scripts/hub.py, hub/jupyterhub_config.py) on free loopback ports, in a
temporary folder, with accounts named ``cnnhubb-*`` (removed at the end, and at the start if an interrupted
run left any). The instructor's release goes to the exchange first (nbgrader as the grader account); then
every student's server is started through the hub's API. Once all are up, one more student (``solo``)
runs alone, for the side-by-side figure, then one thread per student, all released at the same moment,
does the same: what the Assignment List and a notebook do, over HTTP through the hub's proxy with the
student's own API token:

  fetch     POST /user/<name>/assignments/fetch         (nbgrader's assignment-list server extension)
  save      PUT  /user/<name>/api/contents/<notebook>   (the instructor's solutions in the answer cells)
  execute   POST /user/<name>/assignments/validate      (nbgrader validate: the whole notebook, in a kernel)
  submit    POST /user/<name>/assignments/submit

Meanwhile the probe loads the hub's login page every 0.5 s. Printed: per phase the median and the slowest
student, the solo student's time and the ratio, the wall time, errors, and the probe's median, 95th
percentile and slowest load, alone and under the load (the course's target: under 5 s). Not a test: the figures go to BENCHMARKS.md ("JupyterHub"); tests/test_hub.py runs it
with 2 students to show it works.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hub as hub_tool  # noqa: E402

ROOT = hub_tool.ROOT
PREFIX = "cnnhubb-"
PAGE_TARGET_S = 5.0
PHASES = ("fetch", "save", "execute", "submit")


def request(url: str, token: str, method: str = "GET", data: bytes | None = None,
            content_type: str | None = None, timeout: float = 600):
    headers = {"Authorization": f"token {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


def form(**fields) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def solved(notebook: dict, assignment: str, name: str) -> dict:
    """The released notebook with each answer cell replaced by the instructor's solution (markers taken out)."""
    source = json.loads((ROOT / "source" / assignment / name).read_text())
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in source["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            text = solutions[grade_id] if isinstance(solutions[grade_id], str) else "".join(solutions[grade_id])
            cell["source"] = "\n".join(ln for ln in text.splitlines()
                                       if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return notebook


def student_run(hub, name: str, token: str, assignment: str, notebook: str, start: threading.Event,
                result: dict) -> None:
    base = f"{hub.url()}/user/{name}"
    course = hub.course_id
    start.wait()
    t_all = time.perf_counter()
    try:
        t = time.perf_counter()
        out = request(f"{base}/assignments/fetch", token, "POST", form(course_id=course, assignment_id=assignment))
        assert out["success"], out
        result["fetch"] = time.perf_counter() - t

        t = time.perf_counter()
        path = f"{assignment}/{notebook}"
        model = request(f"{base}/api/contents/{urllib.parse.quote(path)}?content=1", token)
        body = {"type": "notebook", "format": "json", "content": solved(model["content"], assignment, notebook)}
        request(f"{base}/api/contents/{urllib.parse.quote(path)}", token, "PUT", json.dumps(body).encode(),
                "application/json")
        result["save"] = time.perf_counter() - t

        t = time.perf_counter()
        out = request(f"{base}/assignments/validate", token, "POST", form(path=path))
        assert out["success"], str(out)[:2000]
        # validate answers with the nbgrader validator's report: a solved notebook has no failed cell
        report = json.loads(out["value"]) if isinstance(out["value"], str) else out["value"]
        assert not report.get("failed") and not report.get("changed"), str(report)[:2000]
        result["execute"] = time.perf_counter() - t

        t = time.perf_counter()
        out = request(f"{base}/assignments/submit", token, "POST", form(course_id=course, assignment_id=assignment))
        assert out["success"], out
        result["submit"] = time.perf_counter() - t
    except Exception as exc:  # reported, not raised: the other students go on
        result["error"] = f"{type(exc).__name__}: {exc}"[:3000]
    result["total"] = time.perf_counter() - t_all


def probe(url: str, stop: threading.Event, times: list[float], errors: list[str]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
            times.append(time.perf_counter() - t)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        stop.wait(0.5)


def wait_servers(hub, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            user = hub_tool.api(hub, f"/users/{name}")
            server = user.get("servers", {}).get("")
            if server and server.get("ready"):
                pending.discard(name)
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"servers not ready after {timeout:.0f} s: {sorted(pending)}")
            time.sleep(1)


def leftovers() -> list[str]:
    import pwd

    return [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(PREFIX)]


def bench(n_students: int, assignment: str, timeout: float, log: Path) -> dict:
    notebook = next((ROOT / "release" / assignment).glob("*.ipynb")).name
    hub_tool.remove_accounts(leftovers())
    base = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(base, 0o755)
    students = [f"{PREFIX}s{i:02d}" for i in range(1, n_students + 1)]
    solo = f"{PREFIX}solo"
    try:
        hub = hub_tool.Hub(base / "hub", course_id=f"{PREFIX}course", grader=f"{PREFIX}grader")
        hub_tool.setup(hub, port=hub_tool.free_port(), home_base=base / "home", free_ports=True,
                       assignments=[assignment])
        roster = base / "roster.csv"
        with open(roster, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(hub_tool.ROSTER_FIELDS)
            w.writerow([f"{PREFIX}teacher", "instructor", "T", "Eacher"])
            w.writerows([name, "student", "S", name] for name in students + [solo])
        hub_tool.add_class(hub, roster, home_base=base / "home")
        hub_tool.grader_nbgrader(hub, "release_assignment", assignment, "--force", "--log-level=WARN")
        with hub_tool.HubProcess(hub, log):
            tokens = {name: hub_tool.api(hub, f"/users/{name}/tokens", "POST",
                                         {"expires_in": 3600, "note": "bench_hub"})["token"]
                      for name in students + [solo]}
            t = time.perf_counter()
            for name in students + [solo]:
                hub_tool.api(hub, f"/users/{name}/server", "POST", {})
            wait_servers(hub, students + [solo], timeout)
            spawn_s = time.perf_counter() - t

            # one student alone, the probe running: the figures the load is compared with
            go, stop = threading.Event(), threading.Event()
            solo_result: dict = {}
            solo_probe: list[float] = []
            prober = threading.Thread(target=probe, args=(f"{hub.url()}/hub/login", stop, solo_probe, []))
            prober.start()
            go.set()
            student_run(hub, solo, tokens[solo], assignment, notebook, go, solo_result)
            stop.set()
            prober.join(timeout=60)

            start, stop = threading.Event(), threading.Event()
            results = {name: {} for name in students}
            probe_times: list[float] = []
            probe_errors: list[str] = []
            prober = threading.Thread(target=probe, args=(f"{hub.url()}/hub/login", stop, probe_times, probe_errors))
            workers = [threading.Thread(target=student_run, args=(hub, name, tokens[name], assignment, notebook,
                                                                  start, results[name])) for name in students]
            prober.start()
            for w in workers:
                w.start()
            t = time.perf_counter()
            start.set()
            for w in workers:
                w.join(timeout=max(1.0, timeout - (time.perf_counter() - t)))
            wall_s = time.perf_counter() - t
            stop.set()
            prober.join(timeout=60)
            hung = [name for name, w in zip(students, workers) if w.is_alive()]
            submitted = sorted(p.name.split("+")[0] for p in (hub.exchange / hub.course_id / "inbound").iterdir()
                               if not p.name.startswith(f"{solo}+"))
    finally:
        hub_tool.remove_accounts(students + [solo, f"{PREFIX}teacher", f"{PREFIX}grader"] + leftovers())
        shutil.rmtree(base, ignore_errors=True)
    return {"students": n_students, "assignment": assignment, "spawn_s": spawn_s, "wall_s": wall_s,
            "results": results, "hung": hung, "submitted": submitted, "probe_times": probe_times,
            "probe_errors": probe_errors, "cores": os.cpu_count(), "solo": solo_result, "solo_probe": solo_probe}


def report(r: dict) -> str:
    lines = [f"hub load: {r['students']} students at once, {r['assignment']}, {r['cores']} cores",
             f"  all servers started through the hub API in {r['spawn_s']:.1f} s",
             f"  fetch + save + execute + submit, all students: {r['wall_s']:.1f} s wall"]
    solo = r["solo"]
    for phase in PHASES + ("total",):
        vals = [res[phase] for res in r["results"].values() if phase in res]
        if vals:
            alone = (f"   alone {solo[phase]:6.1f} s   median/alone {statistics.median(vals) / solo[phase]:5.1f}x"
                     if solo.get(phase) else "")
            lines.append(f"  {phase:8s} median {statistics.median(vals):6.1f} s   slowest {max(vals):6.1f} s"
                         f"   ({len(vals)} students){alone}")
    if "error" in solo:
        lines.append(f"  the solo student failed: {solo['error']}")
    errors = {name: res["error"] for name, res in r["results"].items() if "error" in res}
    lines.append(f"  errors: {len(errors)}; hung: {len(r['hung'])}; submissions in the exchange: {len(r['submitted'])}")
    for name, err in errors.items():
        lines.append(f"    {name}: {err}")
    for label, times in (("alone", r["solo_probe"]), ("under the load", r["probe_times"])):
        pt = sorted(times)
        if not pt:
            continue
        p95 = pt[min(len(pt) - 1, int(0.95 * len(pt)))]
        lines.append(f"  hub page (/hub/login), {label}: {len(pt)} loads, median {statistics.median(pt):.3f} s,"
                     f" p95 {p95:.3f} s, slowest {pt[-1]:.3f} s (target < {PAGE_TARGET_S:.0f} s)")
    lines.append(f"  failed page loads under the load: {len(r['probe_errors'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--assignment", default="03_shapes")
    ap.add_argument("--timeout", type=float, default=900, help="bound for the servers' start and for the run")
    ap.add_argument("--log", type=Path, default=ROOT / "build" / "bench_hub.log")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_hub: run as root (it creates local accounts and the hub starts servers as them)",
              file=sys.stderr)
        return 2
    if args.students < 1:
        print("bench_hub: --students must be at least 1", file=sys.stderr)
        return 2
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.log.write_text("")
    r = bench(args.students, args.assignment, args.timeout, args.log)
    print(report(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    ok = (not r["hung"] and all("error" not in res for res in [*r["results"].values(), r["solo"]])
          and len(r["submitted"]) == args.students and r["probe_times"] and not r["probe_errors"]
          and max(r["probe_times"]) < PAGE_TARGET_S)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
