"""Hostile and broken submissions (tests/hostile/corpus.py) graded end to end, with the sandbox, the scan
and the runtime guard of cnngrader/preprocessors, cnngrader/sandbox/launcher.py, cnngrader/sandbox/kernel_guard.py and
cnngrader/scan; then the run is repeated (idempotent) and a run is killed half way (resumed). A subset that
covers every promise (PG_STUDENTS) is graded again with the gradebook on PostgreSQL (scripts/pg.sh; skipped
where no server is installed, a failure under CI). The tests check the README's promises, not an attack's
symptom: nothing reached over the network (the test's listeners record every connection), no canary in any
output or feedback, the gradebook and the handed-in files as they deserve to be, nothing left behind by the
run's uids, no output or write past the limits. HOSTILE_STUDENTS=a,b grades only those (the tests of the
others skip): for iterating on a few.

The hostile class is graded with -j 2 and a 30 s cell timeout instead of the course's 120 s: the slowest
honest cell in this class is a 5-epoch training run (about 4 s on an idle core, under 15 s with the whole
test suite running beside it), so 30 s keeps a 2x margin while the two endless loops cost 30 s each, not 120.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, course_copy, load_script, run_autograde
from hostile import build, corpus


from cnngrader.run import fingerprint, staging
from cnngrader import scan as submission_check
from cnngrader import preprocessors
from cnngrader.preprocessors import hide_hidden_tests
from cnngrader.sandbox import processes

ASSIGNMENT, NOTEBOOK = build.ASSIGNMENT, build.NOTEBOOK
TIMEOUT = 30
IS_ROOT = os.geteuid() == 0


#: the hostile run grades these only, when set (HOSTILE_STUDENTS=net_scan,net_victim): for iterating on a few;
#: the tests of students left out skip
SELECTED = [s for s in os.environ.get("HOSTILE_STUDENTS", "").split(",") if s] or None
#: graded again with the gradebook on PostgreSQL: a subset that covers every promise, the gradebook's first
PG_STUDENTS = ["grade_writer", "net_listener", "net_scan", "net_victim", "proc_spy", "spy", "score_by_display",
               "gutted_tests", "daemon_leftover", "encode_history", "lone_surrogate", "output_flood"]
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


def make_course(dest: Path, students: list[str] | None = None, targets=()) -> Path:
    """A course copy with the hostile class handed in, and a canary line in the hidden tests of its source."""
    course_copy(dest)
    path = dest / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = json.loads(path.read_text())
    planted = 0
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS\n" in text:
            cell["source"] = text.replace("### BEGIN HIDDEN TESTS\n",
                                          f"### BEGIN HIDDEN TESTS\n# {corpus.HIDDEN_CANARY}\n")
            planted += 1
    assert planted, "no hidden tests in the source notebook to plant the canary in"
    path.write_text(json.dumps(nb, indent=1) + "\n")
    build.write_class(dest / "submitted", dest, students, targets)
    return dest


def gradebook_scores(course: Path, students, db_url: str | None = None) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    from nbgrader.api import MissingEntry

    def scores(gb, student):
        try:
            return {g.name: g.score for nb in gb.find_submission(ASSIGNMENT, student).notebooks for g in nb.grades}
        except MissingEntry:  # (a student whose grading failed)
            return {}

    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: scores(gb, s) for s in students}


def outputs(nb: dict, gid: str | None = None) -> str:
    """All output text of a notebook (or of one cell), errors included."""
    texts = []
    for cell in nb["cells"]:
        if gid and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") != gid:
            continue
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            texts.append(text if isinstance(text, str) else "".join(text))
            if out.get("output_type") == "error":
                texts.append(f"{out['ename']}: {out['evalue']}")
            for value in (out.get("data") or {}).values():
                if isinstance(value, str) and len(value) < 100_000:
                    texts.append(value)
    return "\n".join(texts)


def autograded(course: Path, student: str) -> dict:
    return json.loads((course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())


def grading_uids() -> range:
    base = int(os.environ.get("CNN_GRADING_UID_BASE", 61000))
    return range(base, base + 1000)


def grading_processes(uids=None) -> list[str]:
    uids = grading_uids() if uids is None else uids
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids and processes.alive(entry):
                    found.append(entry)
            except OSError:
                pass
    return found


def uid_in_use(uid: int) -> bool:
    """Whether a grader (this run's or a concurrent one's) holds ``uid`` now (its lock file, see allocate_uid)."""
    lock = processes.uid_lock_dir() / f"{uid}.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def leftover_processes(uids) -> list[str]:
    """Processes of ``uids`` that no running grader answers for: their uid is free, or they are orphans (every
    ancestor up to init is a grading process too: a daemon), so a concurrent grader that got the same uid
    again does not count."""
    grading = set(grading_uids())

    def orphan(pid: str) -> bool:
        while pid not in ("0", "1"):
            try:
                pid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
                if pid not in ("0", "1") and os.stat(f"/proc/{pid}").st_uid not in grading:
                    return False
            except (OSError, IndexError):
                return False
        return True

    left = []
    for pid in grading_processes(uids):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if not uid_in_use(uid) or orphan(pid):
            left.append(pid)
    return left


def run_uids(course: Path) -> set[int]:
    """The uids the run's kernels had (the grader logs each), so that a concurrent run's are not counted."""
    return {int(u) for log in course.glob("autograded/*/*.log")
            for u in re.findall(r"grading kernel: uid (\d+)", log.read_text(errors="ignore"))}


#: where a uid can leave something outside the file systems find(1) walks below
OTHER_FS = ("/dev/shm", "/dev/mqueue", "/run", "/run/lock", "/run/user", "/tmp", "/var/tmp", "/var/spool",
            "/var/crash", "/sys/fs/cgroup")


def files_of(uids, since: float = 0.0) -> list[str]:
    """Every file, folder, socket or fifo owned by one of ``uids`` on the machine (/proc and /sys aside), changed
    since ``since``; uids a grader holds now are left out (a concurrent run's kernel may own files)."""
    uids = sorted(u for u in set(uids) if not uid_in_use(u))
    if not uids:
        return []
    who = ["("] + [a for u in uids for a in ("-uid", str(u), "-o")][:-1] + [")"]
    found = []
    for top in ("/",) + OTHER_FS:
        if Path(top).is_dir():
            found += subprocess.run(["find", top, "-xdev", "(", "-path", "/proc", "-o", "-path", "/sys", ")",
                                     "-prune", "-o", *who, "-print"], capture_output=True, text=True,
                                    timeout=600).stdout.split("\n")
    def recent(f: str) -> bool:
        try:
            return os.lstat(f).st_ctime >= since
        except OSError:
            return False

    return sorted({f for f in found if f and recent(f)})


def of_this_run(path: str, course: Path) -> bool:
    """False for a file inside a kernel folder of another course's grader (a concurrent test run on this machine:
    the folder's root-only settings.json names the course it hides); True otherwise, unknown included."""
    for parent in Path(path).parents:
        settings = parent / "settings.json"
        if settings.is_file():
            try:
                return str(course) in settings.read_text(errors="ignore")
            except OSError:
                return True
    return True


def sysv_of(uids) -> list[str]:
    left = []
    for kind in ("shm", "msg", "sem"):
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        header = rows[0].split()
        left += [f"{kind}: {r}" for r in rows[1:] if int(r.split()[header.index("uid")]) in uids]
    return left


def need(run, *students: str) -> None:
    missing = [s for s in students if s not in run.students]
    if missing:
        pytest.skip(f"not graded in this run: {missing}")


def ipaddress_int(host: str) -> int:
    """An IPv4 address as /proc/net/tcp writes it (little-endian hex), as an int."""
    import ipaddress

    return int.from_bytes(ipaddress.IPv4Address(host).packed, "little")


def kernels_heard(heard) -> list:
    """What the listeners heard from grading kernels (as root: from the grading uids; a concurrent test run as
    root, say this file's own non-vacuity tests elsewhere on the machine, does not count)."""
    return [h for h in heard if not IS_ROOT or h[3] is None or h[3] in grading_uids()]


class Listeners:
    """Sockets on the grader's side of the machine that no grading kernel may reach: TCP on 127.0.0.1, on
    every address (0.0.0.0) and on ::1, UDP on every address, unix sockets (a path in /run and in /tmp, an
    abstract name). A thread records every connection and datagram; ``targets`` tells the attacks where."""

    def __init__(self):
        import socket
        import tempfile
        import threading

        self.sockets, self.targets, self.heard = [], [], []
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::1")):
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.bind((host, 0))
            except OSError:  # (no IPv6)
                continue
            s.listen(16)
            self.sockets.append(("tcp", s))
            self.targets.append(("tcp", host, s.getsockname()[1]))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 0))
        self.sockets.append(("udp", u))
        self.targets.append(("udp", "0.0.0.0", u.getsockname()[1]))
        self.folders = [Path(tempfile.mkdtemp(prefix="cnn-hostile-", dir="/run" if IS_ROOT else None)),
                        Path(tempfile.mkdtemp(prefix="cnn-hostile-"))]
        names = [str(f / "listener.sock") for f in self.folders] + [f"@cnn-hostile-listener-{os.getpid()}"]
        for name in names:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind("\0" + name[1:] if name.startswith("@") else name)
            if not name.startswith("@"):
                Path(name).parent.chmod(0o755)
                Path(name).chmod(0o777)
            s.listen(16)
            self.sockets.append(("unix", s))
            self.targets.append(("unix", "", name))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _peer_uid(conn, kind: str, peer) -> int | None:
        """The uid of whoever connected (a grading kernel's, or a concurrent test's own root): SO_PEERCRED for
        unix sockets, the owner of the other end in /proc/net/tcp for TCP."""
        import socket
        import struct

        if kind == "unix":
            return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        host, port = peer[0], peer[1]
        for name in ("tcp6",) if ":" in host else ("tcp",):
            for row in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                addr, row_port = row.split()[1].rsplit(":", 1)
                if int(row_port, 16) == port and (name == "tcp6" or int(addr, 16) == ipaddress_int(host)):
                    return int(row.split()[7])
        return None

    def _serve(self):
        import selectors

        sel = selectors.DefaultSelector()
        for kind, s in self.sockets:
            sel.register(s, selectors.EVENT_READ, kind)
        while not self._stop.is_set():
            for key, _ in sel.select(0.2):
                try:
                    if key.data == "udp":
                        data, peer = key.fileobj.recvfrom(4096)
                        self.heard.append(("udp", str(peer), data[:200], None))
                    else:
                        conn, peer = key.fileobj.accept()
                        try:
                            uid = self._peer_uid(conn, key.data, peer)
                        except (OSError, ValueError, IndexError):
                            uid = None
                        conn.settimeout(1)
                        try:
                            data = conn.recv(200)
                        except OSError:
                            data = b""
                        conn.close()
                        self.heard.append((key.data, str(peer), data, uid))
                except OSError:
                    pass

    def close(self):
        import shutil

        self._stop.set()
        self._thread.join(5)
        for _, s in self.sockets:
            s.close()
        for f in self.folders:
            shutil.rmtree(f, ignore_errors=True)


class DiskWatch:
    """The least free space seen on the file systems of / and the course while the class is graded."""

    def __init__(self, *paths: Path):
        import shutil
        import threading

        self.paths = sorted({str(p) for p in paths})
        self.start = {p: shutil.disk_usage(p).free for p in self.paths}
        self.least = dict(self.start)
        self._stop = threading.Event()

        def watch():
            while not self._stop.wait(0.3):
                for p in self.paths:
                    try:
                        self.least[p] = min(self.least[p], shutil.disk_usage(p).free)
                    except OSError:
                        pass

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()

    def close(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(5)
        return {p: self.start[p] - self.least[p] for p in self.paths}


#: secrets the grader's environment holds for the hostile runs (next to NBGRADER_DB_URL, which the grader
#: sets itself): the kernels must see none of them
GRADER_ENV = {"PGPASSWORD": corpus.GRADER_SECRET, "CNN_HOSTILE_CANARY": corpus.ENV_CANARY}


def grade_hostile_class(course_dir: Path, students, db_url: str | None = None, extra_targets=()):
    listeners = Listeners()
    course = make_course(course_dir, students, listeners.targets + list(extra_targets))
    names = list(students or corpus.STUDENTS)
    before = set(grading_processes())
    submitted = {p: p.read_bytes() for p in (course / "submitted").rglob("*")
                 if p.is_file() and not p.is_symlink() and not p.is_fifo()}
    disk = DiskWatch(Path("/"), course)
    start, started = time.perf_counter(), time.time()
    saved = {k: os.environ.get(k) for k in GRADER_ENV}
    os.environ.update(GRADER_ENV)
    try:
        args = ["-j", "2", "--timeout", str(TIMEOUT)] + (["--db", db_url] if db_url else [])
        args += [a for s in (students or []) for a in ("--student", s)]
        proc = run_autograde(course, *args)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        disk_drop = disk.close()
        time.sleep(1)  # (a connection made at the very end)
        listeners.close()
    seconds = time.perf_counter() - start
    print(f"graded the hostile class ({len(names)} students, -j 2, {TIMEOUT} s per cell"
          f"{', PostgreSQL' if db_url else ''}) in {seconds:.0f} s")
    return SimpleNamespace(course=course, proc=proc, seconds=seconds, started=started, before=before, students=names,
                           db_url=db_url or f"sqlite:///{course / 'gradebook.db'}", heard=listeners.heard,
                           targets=listeners.targets, submitted=submitted, disk_drop=disk_drop,
                           secrets=[corpus.GRADER_SECRET, corpus.ENV_CANARY, corpus.HIDDEN_CANARY]
                           + ([db_url.split("://", 1)[1].split("@")[0].split(":", 1)[1]] if db_url else []))


# -- the hostile class, graded once for the tests below (and a subset again on PostgreSQL) --------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_hostile_class(tmp_path_factory.mktemp("hostile"), SELECTED)


@pytest.fixture(scope="module")
def graded_pg(tmp_path_factory):
    """The PG_STUDENTS graded with the gradebook on a PostgreSQL server of scripts/pg.sh on 127.0.0.1 (its port
    is one of the attacks' targets)."""
    import shutil
    import socket
    import tempfile

    from conftest import missing_tool

    if not PG_BIN:
        missing_tool("no PostgreSQL server installed (no /usr/lib/postgresql/*/bin/pg_ctl); "
                     "`apt-get install postgresql` to run the hostile class on PostgreSQL too")
    # the server may run as the `postgres` user (when we are root): its folder must be reachable by it
    pgdir = Path(tempfile.mkdtemp(prefix="cnn-hostile-pg-"))
    pgdir.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PGDIR": str(pgdir), "PGPORT": str(port)}
    pg = str(ROOT / "scripts" / "pg.sh")
    try:
        subprocess.run([pg, "start"], env=env, check=True, capture_output=True, text=True)
        url = subprocess.run([pg, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        students = [s for s in PG_STUDENTS if not SELECTED or s in SELECTED] or PG_STUDENTS[:1]
        yield grade_hostile_class(tmp_path_factory.mktemp("hostile-pg"), students, url,
                                  [("tcp", "127.0.0.1", port)])
    finally:
        subprocess.run([pg, "stop"], env=env, capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def run(request):
    """Each hostile run: the whole corpus on SQLite, PG_STUDENTS on PostgreSQL."""
    return request.getfixturevalue("graded" if request.param == "sqlite" else "graded_pg")


def test_every_part_scores_what_it_deserves(run):
    """Promises 2, 3 and 4 in the gradebook: every cell of every student scores what its code deserves, whatever
    the others did to the gradebook, to the tests, to each other's kernels."""
    assert run.proc.returncode == 0, run.proc.stdout[-4000:] + run.proc.stderr[-4000:]
    got = gradebook_scores(run.course, run.students, run.db_url)
    want = {s: {k: float(v) for k, v in corpus.EXPECTED[s].items()} for s in run.students}
    wrong = {s: {k: (got[s].get(k), v) for k, v in want[s].items() if got[s].get(k) != v} for s in want}
    assert got == want, f"(got, expected) per wrong cell: { {s: w for s, w in wrong.items() if w} }"
    with open(run.course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    for student in run.students:
        assert float(rows[student]["score"]) == sum(corpus.EXPECTED[student].values()), rows[student]
        assert float(rows[student]["max_score"]) == 10.0  # edited points never reach the gradebook
    for student in run.students:  # everyone graded: no crash of nbgrader, no retry needed
        line = next(ln for ln in run.proc.stdout.splitlines() if ln.startswith(student + " "))
        assert re.search(r"\d+s  ok(, REVIEW)?$", line.rstrip()), line


def test_tampering_is_listed_for_review_and_explained_in_the_gradebook(graded):
    from nbgrader.api import Gradebook

    summary = graded.proc.stdout.split("needs manual review", 1)[1] if "needs manual review" in graded.proc.stdout else ""
    listed = set(re.findall(r"^  (\S+) \(" + ASSIGNMENT + r"\):$", summary, re.M))
    need(graded, "os_exit", "patch_checks", "patch_libraries", "runtime_tamper", "noisy_stderr")
    either = {s for s, st in corpus.STUDENTS.items() if st.review is None}
    assert listed - either == {s for s, st in corpus.STUDENTS.items() if st.review and s in graded.students}, listed
    for student in set(graded.students) - either:
        review = json.loads((graded.course / "autograded" / student / f"{ASSIGNMENT}.review.json").read_text())
        assert bool(review["needs_review"]) == corpus.STUDENTS[student].review, (student, review["needs_review"])
    with Gradebook(f"sqlite:///{graded.course / 'gradebook.db'}") as gb:
        def comment(student, cell):
            return gb.find_comment(cell, NOTEBOOK, ASSIGNMENT, student).auto_comment or ""

        assert "os._exit" in comment("os_exit", "ex1_solution")
        for cell, word in (("ex1_solution", "importlib.reload"), ("ex2_solution", "SystemExit"),
                           ("ex3_solution", "__eq__")):
            assert comment("patch_checks", cell).startswith("[autograder]") and word in comment("patch_checks", cell)
        assert "torch.allclose" in comment("patch_libraries", "ex1_solution")
        assert "tampered" in comment("runtime_tamper", "ex2_solution")
        assert comment("noisy_stderr", "ex1_solution") == ""
    # the flagged code was not run: the autograded notebook shows why instead
    ex1 = next(c for c in autograded(graded.course, "os_exit")["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex1_solution")
    assert "".join(ex1["source"]).startswith("# [autograder] This cell was not run")
    assert "GradingIntegrityError" in outputs(autograded(graded.course, "runtime_tamper"), "ex2_block")
    assert "NotRunByGrader" not in outputs(autograded(graded.course, "runtime_tamper"), "ex1_pooling")


def test_resource_limits_contain_the_greedy_and_the_endless(graded):
    need(graded, "memory_hog", "fork_bomb", "loop_forever", "stubborn_loop", "hidden_exit", "output_flood")
    course = graded.course
    hog = outputs(autograded(course, "memory_hog"), "ex2_solution")
    assert "MemoryError" in hog or "KernelDiedError" in hog, hog[-1000:]
    bomb = autograded(course, "fork_bomb")
    assert "BlockingIOError" in outputs(bomb, "ex2_solution")  # the process cap bit
    notes = bomb["metadata"]["cnn_grading"]["report"]["notes"]
    assert any("ex2_solution" in n and "leftover process" in n for n in notes), notes
    assert "CellTimeoutError" in outputs(autograded(course, "loop_forever"), "ex2_solution")
    for student, cell in (("stubborn_loop", "ex3_solution"), ("hidden_exit", "ex2_solution")):
        nb = autograded(course, student)
        assert "KernelDiedError" in outputs(nb, cell), student
        # the kernel was restarted and the earlier cells replayed: the tests after the crash ran
        assert "✓" in outputs(nb, "ex2_net" if student == "stubborn_loop" else "ex3_figure"), student
    flood = course / "autograded" / "output_flood" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert flood.stat().st_size < 10 * 2 ** 20, flood.stat().st_size
    # and nothing of the sandbox is left behind
    assert not leftover_processes(run_uids(course) or grading_uids()), "grading processes left running"
    assert not list((course / "autograded" / staging.STAGING).glob("*")), "staging copies left behind"
    if IS_ROOT:
        for uid in grading_uids()[:8]:
            lock = processes.uid_lock_dir() / f"{uid}.lock"
            if lock.exists():
                with open(lock, "a") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        fcntl.flock(handle, fcntl.LOCK_UN)
                    except BlockingIOError:
                        pass  # another grader (a concurrent test run) holds it
        leftovers = [p for p in Path("/sys/fs/cgroup").rglob("cnn-grading-*")
                     if p.is_dir() and (p / "cgroup.procs").exists() and (p / "cgroup.procs").read_text().strip()
                     and p.name.rsplit("-", 1)[1].isdigit() and not uid_in_use(int(p.name.rsplit("-", 1)[1]))]
        assert not leftovers, leftovers


def test_limits_cover_display_updates_replays_and_leftovers(graded):
    need(graded, "display_flood", "crash_replay", "ipc_plant")
    course = graded.course
    # 40 copies of one display_id rewritten 12 times with 3 MB: 1.4 GB uncapped; capped like printing
    flood = course / "autograded" / "display_flood" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert flood.stat().st_size < 10 * 2 ** 20, flood.stat().st_size
    assert "[grader: output beyond" in outputs(autograded(course, "display_flood"))
    # the restarts and the replays of the slow cell (3 s, replayed after each of two crashes) are in the budget
    report = autograded(course, "crash_replay")["metadata"]["cnn_grading"]["report"]
    assert len(report["crashes"]) == 2, report
    assert report["time"]["restarts_seconds"] >= 6 and report["time"]["own_seconds"] >= 9, report["time"]
    # SysV objects and files in world-writable folders: planted (in the kernel's view), gone after grading
    planted = re.search(r"IPC-PLANTED\s*\[(\d+), (\d+), (\d+)\]", outputs(autograded(course, "ipc_plant")))
    assert planted and all(int(n) >= 1 for n in planted.groups()), outputs(autograded(course, "ipc_plant"))[-1000:]
    if IS_ROOT:  # (as a normal user the kernel runs as the grader's own uid)
        uids = grading_uids()
        for kind in ("shm", "msg", "sem"):
            rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
            header = rows[0].split()
            left = [r for r in rows[1:] if int(r.split()[header.index("uid")]) in uids]
            assert not left, (kind, left)
        for folder in ("/run/lock", "/tmp", "/var/tmp", "/dev/shm"):
            if Path(folder).is_dir():
                left = [e.path for e in os.scandir(folder) if e.stat(follow_symlinks=False).st_uid in uids]
                assert not left, left


# -- attacks by kind: each promise checked as a promise, on every run ----------------------------------------


def test_every_kind_of_attack_has_a_student():
    """corpus.KINDS lists, for each of the README's seven promises, the kinds of attack and who tries them."""
    assert [k.split()[0] for k in corpus.KINDS] == [str(n) for n in range(1, 8)], list(corpus.KINDS)
    for promise, kinds in corpus.KINDS.items():
        assert kinds, promise
        for kind, students in kinds.items():
            assert students and set(students) <= set(corpus.STUDENTS), (promise, kind, students)
        # the PostgreSQL run covers every promise too
        assert {s for names in kinds.values() for s in names} & set(PG_STUDENTS), promise


def test_readme_counts_the_corpus_it_graded():
    """README's Security section states the size of the corpus and of its PostgreSQL subset: the real ones."""
    readme = (ROOT / "README.md").read_text()
    assert f"a corpus of {len(corpus.STUDENTS)} hostile students" in readme
    assert f"({len(PG_STUDENTS)} of them, covering every promise) on PostgreSQL" in readme


#: the network attacks and the line each prints when it has run to its end
NET_ATTACKS = {"net_listener": "NET-LISTENER-DONE", "net_scan": "NET-SCAN-DONE", "conn_files": "CONN-FILES-DONE"}


def test_no_kernel_reaches_anything_over_the_network(run):
    """Promises 1, 2 and 4 over the network: no kernel reaches the test's listeners (TCP on 127.0.0.1, on every
    interface address, on ::1, UDP, unix sockets: they record every connection), the PostgreSQL server,
    another kernel's sockets (found in /proc/net) or another kernel's connection file."""
    need(run, *NET_ATTACKS)
    ran = {s: outputs(autograded(run.course, s)) for s in NET_ATTACKS}
    for student, done in NET_ATTACKS.items():
        assert done in ran[student], f"{student} did not run to its end: {ran[student][-2000:]}"
    assert {k for k, _, _ in run.targets} >= {"tcp", "udp", "unix"}
    assert not kernels_heard(run.heard), f"the test's listeners were reached: {kernels_heard(run.heard)[:10]}"
    leaks = {s: [ln[:300] for ln in text.splitlines() if "LEAK" in ln][:10] for s, text in ran.items()}
    assert not any(leaks.values()), leaks


def test_no_secret_reaches_any_output_or_feedback(run):
    """Promises 1 and 5: the canaries planted where no student may reach (a line of the hidden tests, one
    student's answers, the grader's environment, the database password) are in no other student's outputs
    or feedback, whatever the attacks read (/proc, the gradebook, other kernels' IOPub, files)."""
    need(run, "proc_spy", "net_victim")
    assert "PROC-SPY-DONE" in outputs(autograded(run.course, "proc_spy"))
    import html as html_lib

    found = {}
    for student in run.students:
        texts = []
        nb = run.course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        if nb.exists():
            texts.append(outputs(json.loads(nb.read_text())))
        page = run.course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
        if page.exists():
            texts.append(html_lib.unescape(page.read_text()))
        secrets = run.secrets + ([] if student == "net_victim" else [corpus.ANSWER_CANARY])
        hits = [x for x in secrets if any(x in t for t in texts)]
        if hits:
            found[student] = hits
    assert not found, found
    printed = run.proc.stdout + run.proc.stderr  # nor does the grader print them
    assert not [x for x in run.secrets if x in printed]


def test_no_student_changes_another_students_files(run):
    """Promise 2 on disk: every notebook handed in is unchanged after the run and nothing was planted in the
    course (grade_writer and spy try to append to and write next to every notebook they find)."""
    need(run, "grade_writer", "spy")
    assert "GRADE-WRITER-DONE" in outputs(autograded(run.course, "grade_writer"))
    changed = [str(p) for p, data in run.submitted.items()
               if p.suffix == ".ipynb" and (not p.exists() or p.read_bytes() != data)]
    assert not changed, changed
    planted = [str(p) for p in run.course.rglob("*") if p.name.startswith(("planted-by-", "cnn-left-behind",
                                                                             "cnn-fill-", "cnn-daemon"))]
    assert not planted, planted


def test_nothing_is_left_behind(run):
    """Promise 6: after the run no process of the run's grading uids is alive (daemon_leftover's double-forked,
    renamed daemon and shell daemons included), and they own no file, folder or socket anywhere on the
    machine, no SysV object and no at or cron job."""
    if not IS_ROOT:
        pytest.skip("as a normal user the kernels run as the grader's own uid")
    need(run, "daemon_leftover", "ipc_plant") if run.db_url.startswith("sqlite") else need(run, "daemon_leftover")
    assert "DAEMON-DONE" in outputs(autograded(run.course, "daemon_leftover"))
    uids = run_uids(run.course)
    assert uids and uids <= set(grading_uids()), uids
    left = leftover_processes(uids)
    assert not left, [(p, Path(f"/proc/{p}/comm").read_text().strip()) for p in left if Path(f"/proc/{p}").exists()]
    assert not sysv_of(uids)
    assert not [f for f in files_of(uids, run.started) if of_this_run(f, run.course)]
    spools = [p for d in ("/var/spool/cron", "/var/spool/at", "/var/spool/cron/atjobs", "/var/spool/cron/crontabs")
              if Path(d).is_dir() for p in Path(d).iterdir()
              if p.stat().st_mtime >= time.time() - run.seconds - 60]
    assert not spools, spools


def test_no_output_channel_or_write_escapes_the_limits(run):
    """Promise 7: every cell of every student keeps at most the output cap (stdout, stderr, display,
    update_display, a huge image, clear_output, carriage returns), no folder a kernel can write takes more
    than 1 GiB and the machine's disks never lost 2 GiB while the class was graded, a sleeping cell and CPU
    spun in threads stop at the cell's budget."""
    from cnngrader import constants

    cap = constants.MAX_OUTPUT_MB * 2 ** 20
    big = []
    for student in run.students:
        path = run.course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        if path.exists():
            for i, cell in enumerate(json.loads(path.read_text())["cells"]):
                size = len(json.dumps(cell.get("outputs", [])))
                if size > 1.5 * cap:
                    big.append((student, i, size))
    assert not big, big
    assert max(run.disk_drop.values()) < 2 * 2 ** 30, run.disk_drop
    if "disk_fill" in run.students:
        done = run.course / "autograded" / "disk_fill" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        assert done.exists(), "disk_fill was not graded: " + next(
            ln for ln in run.proc.stdout.splitlines() if ln.startswith("disk_fill "))
        text = outputs(autograded(run.course, "disk_fill"))
        wrote = re.search(r"DISK-FILL (\{.*\})", text)  # (none: the kernel was stopped while it wrote)
        assert not wrote or max(json.loads(wrote.group(1)).values()) <= 2 ** 30, wrote.group(1)
    if "cpu_threads" in run.students:
        nb = autograded(run.course, "cpu_threads")
        assert "CPU-THREADS-DONE" in outputs(nb) and "CellTimeoutError" in outputs(nb), outputs(nb)[-2000:]
        assert nb["metadata"]["cnn_grading"]["report"]["time"]["own_seconds"] < 10 * TIMEOUT


def test_the_network_attack_reaches_the_listeners_where_nothing_protects_them():
    """The listeners and the network attack are not vacuous: run as the grader, outside the sandbox,
    net_listener reaches every kind of listener and the listeners record it."""
    listeners = Listeners()
    try:
        out = subprocess.run([sys.executable, "-c", corpus.NET_LISTENER.replace(corpus.TARGETS_TOKEN,
                              repr(listeners.targets))], capture_output=True, text=True, timeout=120).stdout
        time.sleep(0.5)
    finally:
        listeners.close()
    assert "NET-LISTENER-DONE" in out and "LEAK reached tcp 127.0.0.1:" in out, out[-2000:]
    assert {h[0] for h in listeners.heard} == {"tcp", "udp", "unix"}, listeners.heard
    assert {h[3] for h in listeners.heard if h[0] != "udp"} == {os.getuid()}, listeners.heard


def test_net_scan_and_conn_files_find_another_kernel_where_nothing_protects_it(tmp_path):
    """net_scan and conn_files are not vacuous: outside the sandbox, a stand-in for another kernel (a ZeroMQ
    PUB socket of another uid broadcasting the canary answer, and its connection file) is found, connected
    to, heard and its connection file read."""
    if not IS_ROOT or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root and setpriv to run the stand-in kernel as another uid")
    uid = grading_uids()[-2]
    assert not grading_processes([uid]), f"uid {uid} is in use"
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "kernel-other.json").write_text(json.dumps({"key": "k", "shell_port": port, "ip": "127.0.0.1",
                                                           "transport": "tcp"}))
    publisher = ("import time, zmq\nctx = zmq.Context()\npub = ctx.socket(zmq.PUB)\n"
                 f"pub.bind('tcp://127.0.0.1:{port}')\n"
                 f"for i in range(600):\n    pub.send(b'execute_input {corpus.ANSWER_CANARY}')\n    time.sleep(0.1)\n")
    other = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                              publisher], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        scan = subprocess.run([sys.executable, "-c", "import sys; exec(sys.stdin.read(), {'SCAN_SECONDS': 4, 'ONLY_PORTS': [int(sys.argv[1])]})",
                               str(port)],
                              input=corpus.NET_SCAN, capture_output=True, text=True, timeout=120).stdout
        files = subprocess.run([sys.executable, "-c", "import sys; exec(sys.stdin.read(), {'ROOTS': [sys.argv[1]]})",
                                str(tmp_path)], input=corpus.CONN_FILES, capture_output=True, text=True,
                               timeout=120).stdout
    finally:
        other.kill()
        other.wait()
        processes.kill_uid(uid)
    assert f"LEAK connected tcp 127.0.0.1:{port} (uid {uid})" in scan, scan[-2000:]
    assert "LEAK heard" in scan and corpus.ANSWER_CANARY in scan, scan[-2000:]
    assert f"LEAK connection file {tmp_path / 'kernel-other.json'}" in files, files[-2000:]


def test_proc_spy_finds_the_grader_s_secrets_where_nothing_protects_them():
    """proc_spy is not vacuous: started (with a clean environment of its own) by a process whose environment
    holds the canary, as the same user, it prints the canary from /proc/<parent>/environ."""
    parent = ("import subprocess, sys\ncode = sys.stdin.read()\nsubprocess.run([sys.executable, '-c', "
              "'import sys; exec(sys.stdin.read(), {\"ONLY_PARENT\": True})'], input=code, text=True, env={})\n")
    out = subprocess.run([sys.executable, "-c", parent], input=corpus.PROC_SPY, capture_output=True, text=True,
                         env={**os.environ, "CNN_HOSTILE_CANARY": corpus.ENV_CANARY}, timeout=120).stdout
    assert "PROC-SPY-DONE" in out and corpus.ENV_CANARY in out, out[-2000:]


def test_grade_writer_changes_grades_and_files_where_nothing_protects_them(tmp_path):
    """grade_writer is not vacuous: run as the grader, outside the sandbox, on a course copy (ROOTS), it sets the
    gradebook's grades to 0, reads its hidden tests, and changes and plants files next to the notebooks, which
    the checks of test_no_student_changes_another_students_files see."""
    import sqlite3

    course = make_course(tmp_path, ["exception_ex1"])
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("CREATE TABLE grade (manual_score FLOAT)")
        db.execute("INSERT INTO grade VALUES (1.0)")
        db.execute("CREATE TABLE source_cell (source TEXT)")
        db.execute("INSERT INTO source_cell VALUES (?)", (corpus.HIDDEN_CANARY,))
    notebook = course / "submitted" / "exception_ex1" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    before = notebook.read_bytes()
    code = corpus.GRADE_WRITER.replace(corpus.TARGETS_TOKEN, "[]")
    out = subprocess.run([sys.executable, "-c", "import sys; exec(sys.stdin.read(), {'ROOTS': [sys.argv[1]]})",
                          str(course)], input=code, capture_output=True, text=True, timeout=300).stdout
    assert "GRADE-WRITER-DONE" in out and corpus.HIDDEN_CANARY in out, out[-2000:]
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("SELECT manual_score FROM grade").fetchall() == [(0.0,)]
    assert notebook.read_bytes() != before
    assert list(course.rglob("planted-by-*"))


def test_the_leftover_checks_find_a_daemon_where_nothing_protects_it(tmp_path):
    """The checks of test_nothing_is_left_behind are not vacuous: daemon_leftover run as a spare grading uid
    outside the sandbox leaves a renamed process and files that grading_processes and files_of find."""
    if not IS_ROOT or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root and setpriv to run as a grading uid")
    uid = grading_uids()[-1]
    assert not grading_processes([uid]), f"uid {uid} is in use"
    tmp_path.chmod(0o777)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    try:
        with open(tmp_path / "out.txt", "w") as out:  # (the shell daemons keep the descriptors they inherit)
            subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                            corpus.DAEMON], env=env, cwd=tmp_path, stdout=out, stderr=out, timeout=120, check=True)
        assert "DAEMON-DONE" in (tmp_path / "out.txt").read_text()
        time.sleep(1)
        left = leftover_processes([uid])
        assert left and "kworker/0:1" in {Path(f"/proc/{p}/comm").read_text().strip() for p in left}, left
        files = files_of([uid])
        assert any("cnn-left-behind" in f for f in files) and any("cnn-daemon.sock" in f for f in files), files
    finally:
        processes.kill_uid(uid)
        for f in sorted(files_of([uid]), reverse=True):
            subprocess.run(["rm", "-rf", f], capture_output=True)


def test_nothing_outside_the_submission_is_reached(graded):
    if not IS_ROOT:
        pytest.skip("the grading kernel runs as another user, with the course hidden, only when grading runs as "
                    "root; as a normal user it can read what that user can (see the README's SECURITY section)")
    need(graded, "spy", "env_fd_spy", "planted_module")
    course = graded.course
    for student in graded.students:
        if not (course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").exists():
            continue  # (its grading failed: test_every_part_... says so)
        text = outputs(autograded(course, student))
        assert "LEAK" not in text, f"{student}: " + "\n".join(ln for ln in text.splitlines() if "LEAK" in ln)[:2000]
    spy = outputs(autograded(course, "spy"))
    assert "SPY-DONE" in spy, spy[-2000:]
    # the environments (own, launcher's, init's) and open descriptors were looked at: nothing of the grader's
    env_spy = outputs(autograded(course, "env_fd_spy"))
    assert "ENV-FD-SPY-DONE" in env_spy and "environ of self read" in env_spy, env_spy[-2000:]
    uid = int(re.search(r"uid (\d+)", spy).group(1))
    assert uid in grading_uids(), spy
    # the planted package and torch.py were never next to the notebook that ran
    assert not (course / "autograded" / "planted_module" / ASSIGNMENT / "cnnlib").exists()
    assert not list(course.rglob("planted-by-spy.txt"))


def test_files_handed_in_are_not_trusted(graded):
    """Links (to source/, to another student's notebook, a linked folder) and a named pipe are refused with
    the reason and graded blank (scores and review flags: test_every_part_...); a student's timestamp.txt
    sets nothing: the gradebook holds the grader's time of the submission."""
    from nbgrader.api import Gradebook

    need(graded, "link_to_source", "link_to_other", "linked_folder", "pipe_notebook", "early_timestamp")
    release = json.loads((graded.course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    for student, why in (("link_to_source", "symbolic link"), ("link_to_other", "symbolic link"),
                         ("linked_folder", "symbolic link"), ("pipe_notebook", "named pipe")):
        review = json.loads((graded.course / "autograded" / student / f"{ASSIGNMENT}.review.json").read_text())
        assert any(why in r and "blank" in r for r in review["needs_review"]), (student, review["needs_review"])
        # what ran is the released stub, not the linked solution
        stubs = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in release["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
        ran = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in autograded(graded.course, student)["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade_id") in stubs}
        assert ran == stubs, student
    with Gradebook(f"sqlite:///{graded.course / 'gradebook.db'}") as gb:
        stamp = gb.find_submission(ASSIGNMENT, "early_timestamp").timestamp
    handed_in = graded.course / "submitted" / "early_timestamp" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert stamp is not None and stamp.year != 2000, stamp
    # (the time the notebook reached submitted/, its inode change time; the gradebook keeps UTC)
    assert abs(stamp.replace(tzinfo=timezone.utc).timestamp() - handed_in.stat().st_ctime) < 2, stamp
    kept = (graded.course / "autograded" / "early_timestamp" / ASSIGNMENT / "timestamp.txt").read_text()
    assert "2000" not in kept, kept


def test_the_spy_finds_secrets_where_nothing_protects_them(tmp_path):
    """The spy of the corpus is not vacuous: run as the grader, outside the sandbox, it reports the hidden
    tests (DRY_RUN: it only reads)."""
    course = make_course(tmp_path, ["exception_ex1"])
    out = subprocess.run([sys.executable, "-c", "import sys; exec(sys.stdin.read(), {'DRY_RUN': True, "
                          f"'ROOTS': [{str(course)!r}], '__name__': 'spy'}})"], input=corpus.SPY, text=True,
                         capture_output=True, timeout=300, cwd=tmp_path).stdout
    assert f"LEAK read {course / 'source' / ASSIGNMENT / (NOTEBOOK + '.ipynb')}" in out, out[-2000:]


def test_feedback_never_shows_hidden_tests(run):
    """Promise 5: no hidden test line (the planted canary among them) in any student's feedback."""
    graded = run
    source = json.loads((graded.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    hidden = {ln for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
              for ln in hide_hidden_tests.hidden_test_lines("".join(c["source"]))
              if "HIDDEN TESTS" not in ln}
    assert hidden
    import html as html_lib

    assert any(corpus.HIDDEN_CANARY in h for h in hidden)
    for student in graded.students:
        page = graded.course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
        if not page.exists():  # (a student whose grading failed: test_every_part_... says so)
            continue
        html = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in html, student
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
        handed_in = graded.course / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        regular = not handed_in.parent.is_symlink() and handed_in.is_file() and not handed_in.is_symlink()
        own = handed_in.read_bytes().decode(errors="ignore") if regular else ""  # (never a pipe or a link)
        shown = [h for h in hidden if h in text and json.dumps(h)[1:-1] not in own]  # (the spy types one itself)
        assert not shown, f"{student}: {shown}"


def test_hidden_tests_printed_by_a_student_are_scrubbed_from_feedback():
    """A student's code can print the notebook's input history (hidden tests included) into any cell."""
    import nbformat

    src = "import importlib\n# Visible\nx = 1\n### BEGIN HIDDEN TESTS\n_g.check_secret(pool_cnn)\n### END HIDDEN TESTS\n"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(src, metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}}),
        nbformat.v4.new_code_cell("print(_ih)", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="['', 'import importlib\\n_g.check_secret(pool_cnn)\\n']\nok\n")]),
    ])
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="x",
                                                  traceback=["----> 5 _g.check_secret(pool_cnn)", "AssertionError"])]
    out, _ = hide_hidden_tests.HideHiddenTests().preprocess(nb, {})
    assert "check_secret" not in json.dumps([c.get("outputs", []) for c in out.cells])
    assert out.cells[1].outputs[0]["text"].endswith("ok\n")


def test_a_graded_cell_scores_pass_or_fail_only():
    """nbgrader (its determine_grade, the reference) reads an execute_result as the score: a student function
    that puts a string on the display hook before the test fails gets full marks, a number partial credit.
    After GuardedExecute._pass_fail only whether the cell raised counts."""
    import nbformat
    from nbgrader.utils import determine_grade

    def cell(*outputs):
        return nbformat.v4.new_code_cell("check(f)", outputs=list(outputs), metadata={
            "nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 2}})

    said = nbformat.v4.new_output("execute_result", data={"text/plain": "'all tests passed'"}, execution_count=1)
    two = nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"}, execution_count=1)
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[])
    printed = nbformat.v4.new_output("stream", name="stdout", text="checked\n")
    failing, partial = cell(said, printed, error), cell(two)
    assert determine_grade(failing)[0] == 2 and determine_grade(partial)[0] == 0.5  # the hole
    ex = preprocessors.GuardedExecute()
    ex.nb = nbformat.v4.new_notebook(cells=[failing, partial])
    ex._last_reply = {"content": {"status": "error", "ename": "AssertionError", "evalue": "wrong"}}
    ex._pass_fail(failing, 0)
    ex._last_reply = {"content": {"status": "ok"}}
    ex._pass_fail(partial, 1)
    assert determine_grade(failing)[0] == 0 and determine_grade(partial)[0] == 2
    assert [o.output_type for o in failing.outputs] == ["stream", "error"]  # the printed text stays
    # an error the student's code hid from the outputs (clear_output) still fails the cell
    cleared = cell()
    ex._last_reply = {"content": {"status": "error", "ename": "AssertionError", "evalue": "wrong"}}
    ex._pass_fail(cleared, 0)
    assert determine_grade(cleared)[0] == 0


def test_feedback_holds_no_encoded_hidden_test_and_no_script(graded):
    """encode_history prints its input history and the calling test's source base64-encoded (wrapped and
    not) and displays them as HTML entities, from the function the hidden tests call; its Markdown and an
    output carry <script>, event handlers, a javascript: link and an iframe."""
    import base64
    import html as html_lib

    need(graded, "encode_history")
    source = json.loads((graded.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    hidden = {ln for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
              for ln in hide_hidden_tests.hidden_test_lines("".join(c["source"])) if "HIDDEN TESTS" not in ln}
    page = (graded.course / "feedback" / "encode_history" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    runs = re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text)

    def b64(run: str) -> str:
        run = run.rstrip("=")
        run = run[:len(run) - 1] if len(run) % 4 == 1 else run
        return base64.b64decode(run + "=" * (-len(run) % 4)).decode(errors="ignore")

    decoded = [text, html_lib.unescape(text)] + [b64(r) for r in runs] + [b64("".join(r.rstrip("=") for r in runs))]
    assert not [h for h in hidden if any(h in d for d in decoded)]
    # the student's code did print something encoded (the test is not vacuous): the visible lines decode
    nb = autograded(graded.course, "encode_history")
    printed = "".join(b64(r) for r in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", outputs(nb, "ex1_pooling")))
    assert "check_logits_shape" in printed, outputs(nb, "ex1_pooling")[:500]
    assert "LEAK-XSS" in page  # the planted HTML reached the page, as text
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=|javascript:", t, re.I)], "event handler or javascript:"
    assert not re.search(r"<(script|iframe)[^>]*>[^<]*LEAK-XSS", page) and "<iframe" not in page


def test_feedback_shows_no_path_of_the_grading_machine():
    """Tracebacks through cnnlib or the libraries name files relative to the course and the Python install."""
    import nbformat

    grading = str(ROOT / "cnnlib" / "grading.py")
    torch_file = f"{sys.prefix}/lib/python3.11/site-packages/torch/nn/modules/module.py"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "check(net)", metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}}, outputs=[
            nbformat.v4.new_output("error", ename="AssertionError", evalue=f"see {grading}",
                                   traceback=[f"File {grading}:12, in check", f"File {torch_file}:1, in _call_impl"]),
            nbformat.v4.new_output("stream", name="stdout", text=f"loaded {ROOT}/data/MNIST\n")])])
    out, _ = hide_hidden_tests.HideHiddenTests().preprocess(nb, {})
    text = json.dumps(out.cells[0].outputs)
    assert str(ROOT) not in text and sys.prefix not in text, text
    assert "cnnlib/grading.py:12" in text and "torch/nn/modules/module.py" in text and "data/MNIST" in text


# -- the static scan on its own ----------------------------------------------------------------------------

TAMPERING = {
    "the checks' reference answers": "import cnnlib.grading as G\nref = G._reference()",
    "the checks through the course alias": "curve = _g.CURVE",
    "the checks through cnnlib": "import cnnlib\nprint(cnnlib.grading.CURVE)",
    "the checks imported by name": "from cnnlib import grading",
    "patch a check": "import cnnlib.grading as G\nG.check_pool_swap = lambda *a: None",
    "patch reload": "import importlib\nimportlib.reload = lambda m: m",
    "patch torch": "torch.allclose = lambda *a, **k: True",
    "patch torch (aliased)": "import torch as T\nT.equal = lambda *a: True",
    "patch np.testing": "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None",
    "setattr on a module": "setattr(torch, 'allclose', print)",
    "builtins": "import builtins\nbuiltins.print = lambda *a: None",
    "__builtins__": "__builtins__.isinstance = lambda *a: True",
    "shadow isinstance": "def isinstance(a, b):\n    return True",
    "shadow print": "print = lambda *a, **k: None",
    "shadow AssertionError": "AssertionError = Warning",
    "rebind torch": "import numpy as torch",
    "sys.modules": "import sys\nsys.modules['cnnlib.grading'] = None",
    "excepthook": "import sys\nsys.excepthook = lambda *a: None",
    "showtraceback": "get_ipython().showtraceback = lambda *a, **k: None",
    "showtraceback (aliased)": "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None",
    "run_cell": "ip = get_ipython()\nip.run_cell = lambda *a, **k: None",
    "event hook": "get_ipython().events.register('post_run_cell', print)",
    "input transformer": "get_ipython().input_transformers_post.append(lambda lines: [])",
    "custom exception handler": "get_ipython().set_custom_exc((Exception,), lambda *a: None)",
    "SystemExit": "def conv(ic, oc, act=True):\n    raise SystemExit",
    "KeyboardInterrupt": "raise KeyboardInterrupt()",
    "sys.exit": "import sys\nsys.exit(0)",
    "os._exit": "import os\nos._exit(0)",
    "fork": "import os\nos.fork()",
    "signal": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
    "ctypes": "import ctypes",
    "subprocess": "import subprocess\nsubprocess.run(['ls'])",
    "thread": "import threading\nthreading.Thread(target=print).start()",
    "shell escape": "!ls /",
    "magic": "%load ../../source/05_exercises/exercises.ipynb",
    "cell magic": "%%bash\nls",
    "exec": "exec('x = 1')",
    "__import__": "__import__('os')",
    "frames": "import inspect\ninspect.currentframe().f_back.f_globals['x'] = 1",
    "input history": "print(_ih[-1])",
    "fake comparisons": "class H(list):\n    def __eq__(self, other):\n        return True",
    "fake isinstance": "class M(type):\n    def __instancecheck__(cls, obj):\n        return True",
    "function internals": "def f():\n    pass\nf.__code__ = (lambda: 1).__code__",
    "hidden tests on disk": "open('../../source/05_exercises/exercises.ipynb').read()",
    "gradebook": "open('/work/main/gradebook.db', 'rb')",
    "epoch cap": "import os\nos.environ['CNNLIB_MAX_EPOCHS'] = '1000'",
    "global hook": "torch.nn.modules.module.register_module_forward_hook(print)",
    "vars() write": "vars(torch)['allclose'] = print",
}

HONEST = {
    "pooling": "def pool_cnn():\n    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2),\n"
               "                         conv(16, 10, act=False), nn.Flatten())",
    "own module": "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.c1 = conv(1, 8)\n        setattr(self, 'p1', nn.MaxPool2d(2))\n"
                  "    def forward(self, x):\n        return self.p1(self.c1(x))\n    def __repr__(self):\n"
                  "        return 'Net'",
    "imports": "import torch\nfrom torch import nn\nimport torch.nn.functional as F\nimport numpy as np\n"
               "import matplotlib.pyplot as plt\nfrom IPython.display import display\nimport math, copy, dataclasses",
    "config": "torch.backends.cudnn.benchmark = True\nplt.rcParams['figure.figsize'] = (8, 4)\n"
              "import os\nos.environ['OMP_NUM_THREADS'] = '1'\n%matplotlib inline\n%config InlineBackend.figure_format = 'svg'",
    "warnings and stderr": "import sys, warnings\nwarnings.filterwarnings('ignore')\nprint('x', file=sys.stderr)",
    "own variables": "type_ = 'max'\nmodel = pool_cnn()\nmodel.fc = nn.Linear(10, 10)\nfor m in model.modules():\n"
                     "    print(m)\nlosses = {}\nlosses['a'] = 1\nhistory = train.fit(net, mnist, num_epochs=5)",
    "timing": "%%time\nx = sum(range(10))",
    "saving a figure": "fig.savefig('curve.png')\nwith open('notes.txt', 'w') as f:\n    f.write('done')",
    "data split": "import dataclasses\non_test = dataclasses.replace(mnist, X_val=mnist.X_test, y_val=mnist.y_test)",
    "eval mode": "net.eval()\nnet.train()\nimport re\nre.compile('a')",
}


@pytest.mark.parametrize("name", TAMPERING)
def test_scan_flags_tampering(name):
    assert submission_check.scan(TAMPERING[name]), f"not flagged: {TAMPERING[name]!r}"


@pytest.mark.parametrize("name", HONEST)
def test_scan_spares_honest_code(name):
    assert not submission_check.scan(HONEST[name]), [str(f) for f in submission_check.scan(HONEST[name])]


@pytest.mark.parametrize("code, flagged", [
    ("import scipy\nimport scipy.signal", False), ("import numpy as np", False),
    ("from torch.nn import functional as F", False), ("import torch.nn.functional as F", False),
    ("import numpy as scipy", True), ("scipy = None", True), ("import torch as np", True),
    ("from numpy import linalg as scipy", True)])
def test_scan_judges_an_import_by_what_it_binds(code, flagged):
    """Importing what the instructor's cells import, under the same name, binds the same object: harmless.
    Binding another object to a name the tests read is not (01's tests read ``scipy``)."""
    source_nb = json.loads((ROOT / "source" / "01_convolution" / "convolution.ipynb").read_text())
    scanner = submission_check.NotebookScanner(submission_check.course_aliases_for(source_nb),
                                               submission_check.protected_names_for(source_nb))
    assert bool(scanner.scan(code)) == flagged, [str(f) for f in scanner.scan(code)]


def test_scan_spares_every_solution_and_example_answer():
    """No false alarm on the instructor's solutions (every assignment) and the example class."""
    classes = load_script("make_submissions").load_classes()

    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        scanner = submission_check.NotebookScanner(submission_check.COURSE_ALIASES,
                                                   submission_check.protected_names_for(nb))
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("solution"):
                findings = scanner.scan("".join(cell["source"]))
                assert not findings, (path.name, meta["grade_id"], [str(f) for f in findings])
    for assignment, a in classes.items():
        rel = f"{a.ASSIGNMENT}/{a.NOTEBOOK}.ipynb"
        source_nb = json.loads((ROOT / "source" / rel).read_text())
        aliases = submission_check.course_aliases_for(source_nb)
        protected = submission_check.protected_names_for(source_nb)
        for student, (_, code, _) in a.STUDENTS.items():
            scanner = submission_check.NotebookScanner(aliases, protected)
            for cell, text in code.items():
                if text not in (a.SOLUTION, a.BLANK):
                    assert not scanner.scan(text), (assignment, student, cell, [str(f) for f in scanner.scan(text)])


# -- repeating and resuming ------------------------------------------------------------------------------


def gradebook_counts(course: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(course / "gradebook.db") as db:
        return {t: db.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")}


def test_rerunning_changes_nothing(graded):
    need(graded, *corpus.STUDENTS)
    course = graded.course
    scores = gradebook_scores(course, corpus.STUDENTS)
    counts = gradebook_counts(course)
    grades_csv = (course / "grades.csv").read_text()
    start = time.perf_counter()
    proc = run_autograde(course, "-j", "2", "--timeout", str(TIMEOUT))
    assert proc.returncode == 0, proc.stdout[-3000:]
    failed = [ln.split()[0] for ln in graded.proc.stdout.splitlines() if "FAILED" in ln and ln.split()[0] in corpus.STUDENTS]
    assert f"{len(corpus.STUDENTS) - len(failed)} submission(s) unchanged" in proc.stdout  # (the failed are retried)
    assert time.perf_counter() - start < 120
    assert gradebook_scores(course, corpus.STUDENTS) == scores
    assert gradebook_counts(course) == counts and counts["student"] == len(corpus.STUDENTS)
    assert (course / "grades.csv").read_text() == grades_csv
    # regrading (--force) gives the same scores, still one submission each
    some = ["noisy_stderr", "runtime_tamper", "patch_libraries"]
    proc = run_autograde(course, "-j", "2", "--timeout", str(TIMEOUT), "--force",
                         *[a for s in some for a in ("--student", s)])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert gradebook_scores(course, corpus.STUDENTS) == scores
    assert gradebook_counts(course) == counts


def test_a_killed_run_keeps_what_was_graded_and_resumes(tmp_path):
    students = ["exception_ex1", "gutted_tests", "not_a_notebook", "planted_module"]
    course = make_course(tmp_path, students)
    cmd = [sys.executable, "-m", "cnngrader", "--root", str(course), "-j", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = fingerprint.marker_path(course, students[0], ASSIGNMENT)
    deadline = time.monotonic() + 600
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first.exists(), "the first student was never graded"
    proc.send_signal(signal.SIGKILL)  # the coordinator, mid-run: its workers and kernels die with it
    proc.wait(timeout=30)
    time.sleep(2)
    graded_before = [s for s in students if fingerprint.marker_path(course, s, ASSIGNMENT).exists()]
    assert graded_before and len(graded_before) < len(students), graded_before
    workers = subprocess.run(["pgrep", "-f", f"cnngrader.apps.autograde --nbgrader autograde {ASSIGNMENT}"],
                             capture_output=True, text=True).stdout.split()
    stray = [w for w in workers if str(course) in Path(f"/proc/{w}/cwd").resolve().as_posix()] if workers else []
    assert not stray, f"workers of the killed run still running: {stray}"
    before = gradebook_scores(course, graded_before)

    resumed = run_autograde(course, "-j", "2")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert f"{len(graded_before)} submission(s) unchanged" in resumed.stdout
    for student in graded_before:  # kept, not regraded
        line = next(ln for ln in resumed.stdout.splitlines() if ln.startswith(student + " "))
        assert "unchanged" in line, line
    after = gradebook_scores(course, students)
    assert {s: after[s] for s in graded_before} == before
    assert after == {s: {k: float(v) for k, v in corpus.EXPECTED[s].items()} for s in students}
    assert gradebook_counts(course)["submitted_assignment"] == len(students)
    assert not list((course / "autograded" / staging.STAGING).glob("*"))
