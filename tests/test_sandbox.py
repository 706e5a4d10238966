"""The grading sandbox as a plugin: cnngrader/sandbox/launcher.py (bubblewrap) as GuardedExecute starts it,
judged from inside a real grading kernel and from the grader's side of it (as root: a uid of its own per
kernel). What a kernel must not reach is stated here, not taken from the launcher's own lists.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import ROOT

from cnngrader import constants
from cnngrader.preprocessors.guarded_execute import GuardedExecute
from cnngrader.sandbox import launcher, processes

IS_ROOT = os.geteuid() == 0
BWRAP, WHY = processes.bwrap_check()
sandboxed = pytest.mark.skipif(not (IS_ROOT and BWRAP), reason="the sandbox runs kernels as a uid of their own "
                               f"only as root, and needs bubblewrap ({WHY or 'not root'})")
NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")
#: secrets in the grader's environment that no kernel may see (names and values)
SECRETS = {"NBGRADER_DB_URL": f"postgresql://grader:{secrets.token_hex(8)}@localhost/gradebook",
           "PGPASSWORD": secrets.token_hex(8), "CNN_TEST_SECRET": secrets.token_hex(8)}


class Kernel:
    """A grading kernel started as GuardedExecute starts it for a notebook (``begin``, ``running_kernel``),
    with code run in it cell by cell (``execute_cell``)."""

    def __init__(self, cwd: Path, **traits):
        self.ge = GuardedExecute(**{"timeout": 120, **traits})
        self.nb = nbformat.v4.new_notebook()
        self.resources = {"metadata": {"path": str(cwd)}, "nbgrader": {}}

    def __enter__(self) -> "Kernel":
        self.ge.begin(self.nb, self.resources)
        self._running = self.ge.running_kernel()
        self._running.__enter__()
        return self

    def __exit__(self, *exc):
        return self._running.__exit__(*exc)

    @property
    def pid(self) -> int:
        """ipykernel's pid (in the grader's pid namespace)."""
        return self.ge._main_pid

    def run(self, code: str) -> str:
        cell = nbformat.v4.new_code_cell(code)
        self.nb.cells.append(cell)
        self.ge.execute_cell(cell, len(self.nb.cells) - 1)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    def value(self, code: str):
        """The ``result`` that ``code`` sets in the kernel, through JSON."""
        out = self.run(code + "\nimport json as _json\nprint('RESULT' + _json.dumps(result))")
        return json.loads(out.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder as grading sees it (the working folder of nbgrader): solutions, gradebook, work."""
    course = tmp_path_factory.mktemp("course")
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text("the solution")
    (course / "submitted" / "ann" / "a1").mkdir(parents=True)
    (course / "gradebook.db").write_text("grades")
    return course


@pytest.fixture(scope="module")
def kernel(course):
    """One grading kernel for the read-only checks, started with secrets in the grader's environment."""
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    cwd = os.getcwd()
    os.chdir(course)  # (nbgrader runs in the course folder)
    try:
        with Kernel(course / "submitted" / "ann" / "a1") as k:
            yield k
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@sandboxed
def test_every_namespace_is_the_kernels_own(kernel):
    """User, mount, pid, network, IPC, UTS and cgroup namespaces: none shared with the grader."""
    shared = [ns for ns in NAMESPACES if os.readlink(f"/proc/{kernel.pid}/ns/{ns}") == os.readlink(f"/proc/self/ns/{ns}")]
    assert not shared, f"the kernel shares the grader's {shared} namespace(s)"
    status = dict(line.split(":", 1) for line in Path(f"/proc/{kernel.pid}/status").read_text().splitlines())
    uid = kernel.ge._uid
    assert status["Uid"].split() == [str(uid)] * 4 and status["Gid"].split() == [str(uid)] * 4, status["Uid"]
    assert status["Groups"].strip() == "" and status["NoNewPrivs"].strip() == "1", status


@sandboxed
def test_no_network(kernel):
    """No interface but the namespace's own loopback (bubblewrap brings it up: it reaches only the kernel
    itself); a port listening on the grader's loopback and an abstract unix socket of the grader's (a
    classic way out of a sandbox that keeps the network) are unreachable."""
    listener = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    name = f"cnn-sandbox-test-{secrets.token_hex(4)}"
    abstract.bind("\0" + name)
    abstract.listen()
    with listener, abstract:
        port = listener.getsockname()[1]
        seen = kernel.value(f"""
import socket
names = [n for _, n in socket.if_nameindex()]
def reach(family, address):
    s = socket.socket(family)
    s.settimeout(5)
    try:
        s.connect(address)
        return "connected"
    except OSError as err:
        return type(err).__name__
result = {{"names": names, "tcp": reach(socket.AF_INET, ("127.0.0.1", {port})),
  "abstract": reach(socket.AF_UNIX, "\\0{name}")}}""")
    assert set(seen["names"]) <= {"lo"}, seen
    assert seen["tcp"] != "connected" and seen["abstract"] != "connected", seen


@sandboxed
def test_proc_shows_only_the_kernels_processes(kernel):
    seen = kernel.value("""
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
result = {"pids": pids, "me": os.getpid(), "cmdline": open("/proc/1/cmdline").read().split(chr(0)),
 "environ": open("/proc/1/environ").read()}""")
    # pid 1 is bubblewrap's (it reaps orphans), 2 the kernel: nothing of the grader's or other kernels'
    assert seen["pids"] == [1, 2] and seen["me"] == 2, seen["pids"]
    # and bubblewrap shows neither its options (binds, environment) nor an environment of its own
    assert seen["cmdline"][:4] == ["bwrap", "--args", "3", "--"] and "--bind" not in seen["cmdline"], seen["cmdline"]
    assert seen["environ"] == "", seen["environ"]


@sandboxed
def test_the_environment_is_the_allow_list(kernel):
    seen = kernel.value("""
result = open("/proc/self/environ").read()""")
    names = {item.split("=", 1)[0] for item in seen.split("\0") if item}
    # the kernel's own settings and what it may inherit (locale, torch and OpenMP thread settings, ...)
    own = {"PWD", "PATH", "HOME", "TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "IPYTHONDIR",
           "JUPYTER_RUNTIME_DIR", "MALLOC_ARENA_MAX", "PYDEVD_DISABLE_FILE_VALIDATION", "PYTHONNOUSERSITE"}
    assert names <= own | set(launcher.KEEP_ENV), names - own - set(launcher.KEEP_ENV)
    for key, value in SECRETS.items():
        assert key not in seen and value not in seen, key
    env = dict(item.split("=", 1) for item in seen.split("\0") if item)
    assert env["HOME"] == str(kernel.ge._home / launcher.HOME) and "/root" not in seen, env


@sandboxed
def test_nothing_of_the_course_or_the_homes_is_there(kernel, course):
    """Visible: the system, the Python installation and venv, cnnlib, the data, the kernel's own folders;
    not the course (solutions, submissions, the gradebook), the repository (source/, tests/, .git), /root
    (but the path to Python) or /home."""
    import cnnlib
    from cnnlib import data

    python = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    allowed = python + [Path(cnnlib.__file__).resolve().parent, Path(data.DATA_DIR).resolve(), kernel.ge._home]
    seen = kernel.value("""
import os
mounts = {line.split()[4] for line in open("/proc/self/mountinfo")}
leaves = []
def walk(folder):
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path) and path not in mounts:
            walk(path)
        else:
            leaves.append(path)
walk("/")
result = {"leaves": leaves, "etc": sorted(os.listdir("/etc"))}""")
    system = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev", "/tmp",
              "/sys/devices/system/cpu")
    stray = [p for p in seen["leaves"] if not p.startswith("/etc/") and p not in system and
             not any(Path(p) == a or a in Path(p).parents for a in allowed)]
    assert not stray, f"visible in the kernel, and not what it needs: {stray[:20]}"
    # of /etc only what the dynamic linker, Python, matplotlib and fontconfig read: no accounts, no keys
    harmless = {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "timezone", "mime.types",
                "alternatives", "nsswitch.conf"}
    assert set(seen["etc"]) <= harmless, set(seen["etc"]) - harmless
    absent = [course, course / "gradebook.db", course / "source", ROOT / "source", ROOT / "tests", ROOT / ".git",
              ROOT / "release", Path("/home"), Path("/root") / ".bashrc", Path("/etc/passwd"),
              Path("/etc/shadow"), Path("/run"), Path("/var")]
    present = kernel.value(f"""
import os
result = [p for p in {[str(p) for p in absent]!r} if os.path.lexists(p)]""")
    assert present == [], present


@sandboxed
def test_the_root_is_read_only(kernel):
    """Writes fail everywhere (read-only file system, whatever the permissions) but in the kernel's own
    folder (its sockets), HOME, /tmp and /dev/shm; HOME, /tmp and /dev/shm are sized tmpfs."""
    import cnnlib

    folder, home = str(kernel.ge._home), str(kernel.ge._home / launcher.HOME)
    places = ["/", "/etc", "/usr", "/usr/local", "/root", "/dev", sys.prefix, str(Path(cnnlib.__file__).parent),
              str(Path(sys.base_prefix) / "lib")]
    seen = kernel.value(f"""
import errno, os
def attempt(folder):
    try:
        with open(os.path.join(folder, "cnn-sandbox-probe"), "w"):
            pass
        return "written"
    except OSError as err:
        return errno.errorcode[err.errno]
writable = [line.split()[4] for line in open("/proc/self/mountinfo") if "rw" in line.split()[5].split(",")]
sized = [line.split()[4] for line in open("/proc/self/mountinfo") if " tmpfs " in line and "size=" in line]
result = {{"tries": {{p: attempt(p) for p in {places!r} + [{folder!r}, {home!r}, "/tmp", "/dev/shm"]}},
          "writable": writable, "sized": sized}}""")
    tries = seen["tries"]
    assert {p: tries[p] for p in places} == {p: "EROFS" for p in places}, tries
    assert [tries[p] for p in (folder, home, "/tmp", "/dev/shm")] == ["written"] * 4, tries
    devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts"}
    sockets = str(kernel.ge._home / launcher.HOME / launcher.SOCKETS_IN_HOME)
    assert set(seen["writable"]) - devices == {"/proc", "/tmp", "/dev/shm", folder, home, sockets}, seen["writable"]
    assert {"/tmp", "/dev/shm", home} <= set(seen["sized"]), seen["sized"]


@sandboxed
def test_the_kernel_holds_no_descriptor_of_the_graders(kernel):
    """Every open file of the sandbox's processes, seen by root from outside: no file of the grader's (its
    stdout and stderr, nbgrader's log), regular files only inside the kernel's folder."""
    grader = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/self/fd/{fd}")
            if not os.path.samestat(st, os.stat(os.devnull)):
                grader.add((st.st_dev, st.st_ino))
    sandbox = [kernel.pid, *processes.ancestors(kernel.pid)[:2]]  # ipykernel, bwrap's pid 1, bwrap
    assert [psutil.Process(p).name() for p in sandbox[1:]] == ["bwrap", "bwrap"], sandbox
    for pid in sandbox:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):
                target, st = os.readlink(f"/proc/{pid}/fd/{fd}"), os.stat(f"/proc/{pid}/fd/{fd}")
                if target.startswith("anon_inode:"):
                    continue  # (eventfds, epoll: one inode for all of them, nothing to share)
                assert (st.st_dev, st.st_ino) not in grader, f"process {pid} holds the grader's {target} (fd {fd})"
                if target.startswith("/") and target != os.devnull:
                    assert target.startswith(str(kernel.ge._home) + "/"), f"process {pid} holds {target}"


@sandboxed
def test_its_sockets_are_for_it_and_root_only(kernel):
    """The kernel talks over unix sockets in its folder (0700, its uid's): another uid cannot connect."""
    info = json.loads(Path(kernel.ge.km.connection_file).read_text())
    home = kernel.ge._home
    assert info["transport"] == "ipc" and home in Path(info["ip"]).parents, info
    for folder in (home, Path(info["ip"]).parent):
        st = folder.stat()
        assert (st.st_mode & 0o777, st.st_uid) == (0o700, kernel.ge._uid), folder
    shell = f"{info['ip']}-{info['shell_port']}"
    assert Path(shell).is_socket()
    code = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\n"
            "    print('connected')\nexcept OSError as err:\n    print(type(err).__name__)")
    for uid in (65534, kernel.ge._uid + 1):
        out = subprocess.run([sys.executable, "-S", "-c", code, shell], capture_output=True, text=True,
                             user=uid, group=uid, extra_groups=[], timeout=60).stdout.strip()
        assert out == "PermissionError", (uid, out)


@sandboxed
def test_sysv_ipc_and_tmp_are_private_and_die_with_the_kernel(tmp_path):
    """SysV objects and files in /tmp and /dev/shm a kernel makes are in its namespaces only (the grader's
    machine never sees them) and gone for the next kernel of the same uid."""
    uid = 61000 + 900 + os.getpid() % 90  # (one uid for both kernels; other graders use the lowest free)
    plant = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
made = [libc.shmget(0x5eed, 4096, 0o1600), libc.msgget(0x5eed, 0o1600), libc.semget(0x5eed, 1, 0o1600)]
for folder in ("/tmp", "/dev/shm"):
    open(os.path.join(folder, "cnn-planted"), "w").write("x")
result = made"""
    look = """
import os
rows = {k: open(f"/proc/sysvipc/{k}").read().splitlines()[1:] for k in ("shm", "msg", "sem")}
planted = [f for f in ("/tmp/cnn-planted", "/dev/shm/cnn-planted") if os.path.exists(f)]
result = {"rows": rows, "planted": planted}"""
    with Kernel(tmp_path, uid_base=uid, uid_count=1) as first:
        assert first.ge._uid == uid
        assert all(i >= 0 for i in first.value(plant))
        assert all(first.value(look)["rows"].values()), "the kernel could not make SysV objects"
        for kind in ("shm", "msg", "sem"):  # the grader's view, while the kernel lives
            rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
            header = rows[0].split()
            mine = [r for r in rows[1:] if int(r.split()[header.index("uid")]) == uid]
            assert not mine, f"the kernel's {kind} is in the grader's IPC namespace: {mine}"
        assert not Path("/tmp/cnn-planted").exists() and not Path("/dev/shm/cnn-planted").exists()
    with Kernel(tmp_path, uid_base=uid, uid_count=1) as second:
        assert second.ge._uid == uid
        assert second.value(look) == {"rows": {"shm": [], "msg": [], "sem": []}, "planted": []}


@sandboxed
def test_a_double_forked_process_dies_with_the_kernel(tmp_path):
    """A process the kernel double-forks into a session of its own is still in the kernel's pid namespace
    and dies with it: killing ipykernel alone (no cleanup by the grader) takes it."""
    token = f"cnn-orphan-{secrets.token_hex(4)}"
    with Kernel(tmp_path) as k:
        k.run(f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {token!r}])
    os._exit(0)""")
        orphan = None
        for _ in range(100):
            orphan = next((p for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])), None)
            if orphan:
                break
            time.sleep(0.1)
        assert orphan, "the double-forked process did not start"
        assert os.readlink(f"/proc/{orphan.pid}/ns/pid") == os.readlink(f"/proc/{k.pid}/ns/pid") != \
            os.readlink("/proc/self/ns/pid"), "the orphan left the kernel's pid namespace"
        assert orphan.ppid() != k.pid  # (re-parented: to bubblewrap's pid 1)
        os.kill(k.pid, 9)
        with contextlib.suppress(psutil.NoSuchProcess):
            orphan.wait(10)
        assert not processes.alive(orphan.pid), "the orphan outlived its kernel"


@sandboxed
def test_memory_and_process_limits_hold(tmp_path):
    with Kernel(tmp_path, limits='{"memory_mb": 1200, "processes": 48}') as k:
        # all the kernel's processes together: a child that touches 1.5 GB is killed (the cgroup), the
        # kernel lives (its exit status is lost: the kernel reaps its children at once, see REAP_CHILDREN)
        out = k.value("""
import subprocess, sys
hog = "b = bytearray(1_500_000_000)\\nfor i in range(0, len(b), 4096): b[i] = 1\\nprint('survived')"
result = subprocess.run([sys.executable, "-c", hog], capture_output=True, text=True).stdout""")
        assert "survived" not in out, out
        kills = 0
        for folder in k.ge._cgroups:
            for name in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    kills += int(dict(line.split() for line in (folder / name).read_text().splitlines())["oom_kill"])
        assert kills >= 1, "no process of the kernel was killed for its memory"
        forked = k.value("""
import os, signal, time
pids, error = [], ""
try:
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        pids.append(pid)
except OSError as err:
    error = type(err).__name__
for pid in pids:
    os.kill(pid, signal.SIGKILL)
result = [len(pids), error]""")
        assert forked[1] == "BlockingIOError" and forked[0] < 48, forked


def graded(tmp_path, sources: list[str], **traits) -> tuple[nbformat.NotebookNode, dict]:
    """A notebook of ``sources`` run through GuardedExecute.preprocess (as grading runs it; with a wall-time
    backstop far enough that on a loaded machine the own-time limits decide, as they do in grading)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    ge = GuardedExecute(**traits)
    nb, _ = ge.preprocess(nb, {"metadata": {"path": str(tmp_path)}, "nbgrader": {}})
    return nb, nb.metadata["cnn_grading"]["report"]


def texts(cell) -> str:
    return "\n".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs)


@sandboxed
def test_an_endless_cell_is_interrupted_and_the_next_cell_runs(tmp_path):
    nb, report = graded(tmp_path, ["x = 41", "while True:\n    pass", "print('next', x + 1)"], timeout=5,
                        wall_factor=60)
    assert "CellTimeoutError" in texts(nb.cells[1]) and "KernelDied" not in texts(nb.cells[1]), texts(nb.cells[1])
    assert texts(nb.cells[2]).strip() == "next 42" and not report["crashes"], (texts(nb.cells[2]), report)


@sandboxed
def test_a_cell_that_ignores_interrupts_gets_its_kernel_restarted(tmp_path):
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    nb, report = graded(tmp_path, ["x = 41", stubborn, "print('after', x + 1)"], timeout=5, interrupt_grace=3,
                        wall_factor=60)
    assert "KernelDiedError" in texts(nb.cells[1]) and len(report["crashes"]) == 1, report
    # (killed by the own-time watcher after its grace, not by the wall-time backstop)
    assert "did not stop when interrupted: its kernel was restarted" in report["crashes"][0]["why"], report
    assert texts(nb.cells[2]).strip() == "after 42", texts(nb.cells[2])  # (the first cell was replayed)


@pytest.fixture
def no_bubblewrap(monkeypatch):
    """The machine as one without bubblewrap (the tool's name changed to one that is not installed)."""
    monkeypatch.setattr(constants, "SANDBOX_TOOL", "bwrap-not-installed-here")
    processes.bwrap_check.cache_clear()
    yield
    processes.bwrap_check.cache_clear()


def test_the_run_header_says_when_there_is_no_bubblewrap(no_bubblewrap):
    line = processes.sandbox_summary()
    assert "NO bubblewrap" in line and "apt-get install bubblewrap" in line, line
    assert ("permissions only" in line and "network" in line) if IS_ROOT else "what this user can" in line, line


@pytest.mark.skipif(not IS_ROOT, reason="kernels get a uid of their own only when grading runs as root")
def test_without_bubblewrap_a_kernel_still_runs_as_its_uid_with_the_allow_list(tmp_path, no_bubblewrap):
    with Kernel(tmp_path) as k:
        seen = k.value("import os\nresult = [os.getuid(), sorted(os.environ)]")
    assert seen[0] == k.ge._uid and seen[0] != 0
    assert not {"NBGRADER_DB_URL", "PGPASSWORD"} & set(seen[1]), seen[1]


def test_kernels_get_the_grading_bounds_whoever_starts_the_grading():
    """The formgrader's Autograde button starts nbgrader without `make autograde`'s environment: the grading
    kernels still get the epoch cap of cnngrader/constants.py and no warnings on stderr; an app's own
    choice (`--max-epochs`) is kept."""
    from cnngrader import constants
    from cnngrader.sandbox import launcher as sandbox_launcher

    bare = sandbox_launcher.launcher_env({"LANG": "C.UTF-8"})
    assert bare["CNNLIB_MAX_EPOCHS"] == str(constants.MAX_EPOCHS) and bare["PYTHONWARNINGS"] == "ignore"
    chosen = sandbox_launcher.launcher_env({"CNNLIB_MAX_EPOCHS": "7", "PYTHONWARNINGS": "default"})
    assert chosen["CNNLIB_MAX_EPOCHS"] == "7" and chosen["PYTHONWARNINGS"] == "default"
