"""nbgrader plugins of the course (configured in nbgrader_config.py).

``GuardedExecute`` replaces nbgrader's ``Execute`` in ``nbgrader autograde``: every submission runs in the
                    grading kernel of cnngrader/sandbox/launcher.py (bubblewrap: own namespaces, no network,
                    nothing of the course; own uid, resource limits), cell by cell under the grader's control:

  - the kernel talks to the grader over unix sockets (ipc transport) in its private folder (mode 0700, the
    kernel's uid): it has no network, and no other kernel can reach its sockets;
  - integrity probes: before and after every graded cell the grader asks the guard it installed in the
    kernel before the first cell (cnngrader/sandbox/kernel_guard.py) what changed; once something the tests rely on
    was tampered with, the graded cells run from then on score 0 (``GradingIntegrityError`` output) and
    the rest of the notebook is not run;
  - graded cells of exercises that the static scan zeroed (notebook metadata ``cnn_grading``, written by
    cnngrader/scan) are not run and score 0;
  - a cell that kills the kernel (``os._exit``, a resource limit) or keeps it busy after the timeout's
    interrupt scores like a failing cell: the kernel is restarted, the cells that ran before are replayed
    (outputs untouched) and grading continues with the next cell;
  - processes a cell leaves behind are killed after the cell; a watchdog kills the kernel's processes
    when together they hold more memory than the limit (cgroups do it exactly where available);
  - per-cell output is capped (and messages from the kernel larger than 64 MB are refused), and comm
    messages (widgets) are ignored, so a cell cannot reroute the output of a later cell;
  - time limits count the kernel's own time (cnngrader/cell_clock.py: wall time minus its waits for a busy
    CPU), so a grade does not depend on what else the machine runs: a cell whose own time passes the cell
    timeout is interrupted (and its kernel restarted if it does not stop), and the notebook has an own-time
    budget. Wall time is only a backstop (``wall_factor`` x the timeout): a cell that reaches it while its
    own time is within budget was starved by the machine, not slow: the student's grading fails (and is
    retried, then reported as failed by python -m cnngrader) instead of scoring 0.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode, default

from cnngrader import constants
from cnngrader.cell_clock import CellClock, kernel_process, run_delay
from cnngrader.constants import KERNEL_NAME, META
from cnngrader.sandbox import launcher as sandbox_kernel
from cnngrader.preprocessors.hide_hidden_tests import hidden_test_lines, sanitize_markdown_cells
from cnngrader.sandbox.processes import (IS_ROOT, allocate_uid, bwrap_check, cgroup_processes,
                                         descendants, folder_usage, kill_all, kill_uid, make_cgroups,
                                         processes_of, pss_bytes, remove_cgroups, remove_uid_leftovers)

PACKAGE = Path(__file__).resolve().parents[1]  # cnngrader/
INTEGRITY = "GradingIntegrityError"
NOT_RUN = "NotRunByGrader"
KERNEL_DIED = "KernelDiedError"


class MachineTooBusy(RuntimeError):
    """A cell reached the wall-time backstop within its own-time budget: regrade, do not score."""


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


# ------------------------------------------------------------------------------------------------
# the grading Execute preprocessor


def builtin_names_read(sources: list[str]) -> list[str]:
    """Names that the given (test) cells read without defining them: builtins (the guard moves notebook
    variables shadowing them away while a graded cell runs) and modules (the guard checks they still name
    the modules)."""
    names = set()
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        stored |= {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                   if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - stored
    return sorted(names)


def content_size(content: dict) -> int:
    """Bytes an output message adds to the notebook (text, data of every mime type, traceback)."""
    size = len(content.get("text", "")) + sum(len(v) if isinstance(v, str) else len(json.dumps(v))
                                              for v in (content.get("data") or {}).values())
    return size + sum(len(line) for line in content.get("traceback", []) or [])


class GuardedExecute(Execute):
    """nbgrader's Execute, in the sandbox kernel, under the grader's control (see the module docstring)."""

    sandbox = Bool(True, help="run the notebook in the sandbox kernel (cnngrader/sandbox/launcher.py)").tag(config=True)
    limits = Unicode("", help="JSON overrides of sandbox_kernel.Limits, e.g. '{\"memory_mb\": 2048}'").tag(config=True)
    notebook_timeout = Integer(constants.NOTEBOOK_TIMEOUT, help="wall-time budget of a whole notebook, seconds").tag(config=True)
    max_output_mb = Float(constants.MAX_OUTPUT_MB, help="output kept per cell").tag(config=True)
    max_message_mb = Integer(constants.MAX_MESSAGE_MB, help="largest message accepted from the kernel").tag(config=True)
    max_restarts = Integer(constants.MAX_RESTARTS, help="kernel restarts (after a crash or a stuck cell) per notebook").tag(config=True)
    uid_base = Integer(constants.UID_BASE,
                       help="first uid reserved for grading kernels (run as root)").tag(config=True)
    uid_count = Integer(constants.UID_COUNT, help="how many uids from uid_base").tag(config=True)
    probe_timeout = Integer(60, help="seconds the kernel has to answer an integrity probe").tag(config=True)
    wall_factor = Float(constants.WALL_FACTOR, help="wall-time backstop of a cell, as a multiple of its own-time timeout (a cell "
                        "that reaches it within its own-time budget fails the student's grading, for a "
                        "retry, instead of scoring 0)").tag(config=True)
    interrupt_grace = Integer(10, help="own-time seconds a cell has to stop after the timeout's interrupt, "
                              "before its kernel is restarted").tag(config=True)

    @default("startup_timeout")
    def _default_startup_timeout(self) -> int:
        # the kernel imports torch before it answers: on a busy machine that takes far more than nbclient's 60 s
        return 600

    @default("iopub_timeout")
    def _default_iopub_timeout(self) -> int:
        # a cell's outputs (its error, which decides the score) may trail its reply on a busy machine
        return constants.CELL_TIMEOUT

    @default("raise_on_iopub_timeout")
    def _default_raise_on_iopub_timeout(self) -> bool:
        return True  # outputs lost would make a failing test cell pass

    @default("shutdown_kernel")
    def _default_shutdown_kernel(self) -> str:
        # A graceful shutdown waits about 1 s per notebook for ipykernel to wind down; the sandbox kills
        # every process of the kernel's uid right after anyway, so nothing is lost by not waiting.
        return "immediate"

    # -- sandbox life cycle ------------------------------------------------------------------------

    def _sandbox_limits(self) -> sandbox_kernel.Limits:
        base = sandbox_kernel.Limits.from_env()
        return sandbox_kernel.Limits(**{**base.__dict__, **(json.loads(self.limits) if self.limits else {})})

    def _hide_paths(self) -> list[str]:
        paths = [Path.cwd(), PACKAGE.parent]
        root = self.config.get("CourseDirectory", {}).get("root")
        if isinstance(root, str) and root:
            paths.append(Path(root))
        db_url = (self.resources or {}).get("nbgrader", {}).get("db_url", "")
        if db_url.startswith("sqlite:///"):
            db = Path(db_url[len("sqlite:///"):].split("?")[0])
            paths += [db, Path(str(db) + ".lock"), Path(str(db) + "-journal")]
        build = (self.resources or {}).get("metadata", {}).get("path")
        if build:
            paths.append(Path(build))
        return [str(p.resolve()) for p in dict.fromkeys(paths)]

    def _sandbox_start(self) -> None:
        self._lim = self._sandbox_limits()
        # root's folder (0711: the kernel's uid may pass, not look) holding the kernelspec and the launcher's
        # settings (0700, 0600) and the kernel's private folder (its uid's, 0700: HOME, working folder and
        # the unix sockets it talks over; bound into its sandbox, the rest never is)
        self._spec_dir = Path(tempfile.mkdtemp(prefix="cnn-grading-"))
        self._spec_dir.chmod(0o711)
        spec = self._spec_dir / "kernelspec" / KERNEL_NAME
        spec.mkdir(parents=True)
        spec.parent.chmod(0o700)
        self._home = self._spec_dir / "kernel"
        self._home.mkdir(mode=0o700)
        (self._home / sandbox_kernel.SOCKETS).mkdir(mode=0o700)
        self._uid, self._uid_lock, self._cgroups = None, None, []
        if IS_ROOT:
            self._uid, self._uid_lock = allocate_uid(self.uid_base, self.uid_count)
            os.chown(self._home, self._uid, self._uid)
            os.chown(self._home / sandbox_kernel.SOCKETS, self._uid, self._uid)
            self._cgroups = make_cgroups(f"cnn-grading-{self._uid}", self._lim.memory_mb << 20, self._lim.processes)
        bwrap, why = bwrap_check()
        if not bwrap:
            self.log.warning("grading kernel without bubblewrap: %s", why)
        # the launcher's settings go through a file (root's, 0600, never in the sandbox), never the
        # environment: the kernel could read that back from /proc
        settings = self._spec_dir / "settings.json"
        fd = os.open(settings, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"uid": self._uid, "home": str(self._home), "bwrap": bwrap, "hide": self._hide_paths(),
                       "cgroups": [str(c) for c in self._cgroups], "limits": self._lim.__dict__}, f)
        argv = [sys.executable, "-I", "-m", "cnngrader.sandbox.launcher", sandbox_kernel.SETTINGS_FLAG, str(settings),
                "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:"]
        # interrupts as messages: a signal to the launcher's process group would not reach ipykernel in its
        # own session and pid namespace (and would stop bubblewrap)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": argv, "display_name": "cnn-course grading sandbox", "language": "python",
            "interrupt_mode": "message", "metadata": {"debugger": False}}))
        self._main_pid = None
        self._watchdog_stop = threading.Event()
        self._watchdog_note = ""
        self._watchdog = threading.Thread(target=self._watch_memory, name="grading-memory-watchdog", daemon=True)
        self._watchdog.start()
        self.log.info("grading kernel: uid %s, sandbox %s, cgroups %s, limits %s", self._uid, bwrap or "none",
                      [str(c) for c in self._cgroups] or "none", self._lim)

    def _sandbox_stop(self) -> None:
        self._watchdog_stop.set()
        if self._uid is not None:
            kill_uid(self._uid)
            left = remove_uid_leftovers(self._uid)
            if left:
                self.log.info("removed what the kernel's uid left behind: %s", ", ".join(left[:20]))
        remove_cgroups(self._cgroups)
        if self._uid_lock is not None:
            self._uid_lock.close()
        shutil.rmtree(self._spec_dir, ignore_errors=True)

    def _kernel_pid(self) -> int | None:
        """The process nbclient started: the launcher (as root: its supervising half), or bubblewrap."""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    def _kernel_processes(self) -> list[int]:
        """Every process of the kernel: its cgroup's, else its uid's, else the launcher's descendants."""
        if self._cgroups:
            return cgroup_processes(self._cgroups)
        if self._uid is not None:
            return processes_of(self._uid)
        pid = self._kernel_pid()
        return ([pid] + descendants(pid)) if pid else []

    def _reap_strays(self) -> int:
        """Kill the processes a cell left behind: all the kernel's but those that ran when it had started,
        before any student code (the launcher, bubblewrap, its pid 1, ipykernel)."""
        return kill_all(self._kernel_processes, keep=getattr(self, "_kernel_chain", set()))

    def _oom_note(self) -> str:
        """Why the kernel died, when its memory cgroup says it ran out (and resets the count)."""
        for folder in self._cgroups:
            for name, key in (("memory.events", "oom_kill"), ("memory.failcnt", None)):
                path = folder / name
                try:
                    text = path.read_text()
                    count = int(dict(line.split() for line in text.splitlines()).get(key, 0)) if key else int(text)
                    if count:
                        if key is None:
                            path.write_text("0")
                        return (f"the kernel was killed: its processes used more than the {self._lim.memory_mb} "
                                f"MiB of memory allowed")
                except (OSError, ValueError):
                    pass
        return ""

    def _watch_memory(self) -> None:
        """Kill the kernel's processes when they hold more than allowed: memory together (without a memory
        cgroup; the address-space limit stops a single process first: a MemoryError, the kernel lives on),
        and the private folder's disk space (the one folder outside the sandbox the kernel can write to;
        its /tmp is a sized tmpfs)."""
        cgroup_memory = any("memory" in str(c) or (c / "memory.max").exists() for c in self._cgroups)
        limit, disk = self._lim.memory_mb << 20, self._lim.tmp_mb << 20
        while not self._watchdog_stop.wait(0.5):
            try:
                note = ""
                used = 0 if cgroup_memory else pss_bytes(self._kernel_processes())
                if used > limit:
                    note = (f"the kernel's processes used {used >> 20} MiB, more than the {self._lim.memory_mb} "
                            f"MiB allowed: they were killed")
                size, count = folder_usage(self._home)
                if size > disk or count >= 20_000:
                    note = (f"the kernel wrote {size >> 20} MiB in {count} files into its folder, more than "
                            f"the {self._lim.tmp_mb} MiB allowed: its processes were killed")
                if note:
                    self._watchdog_note = note
                    self.log.warning(note)
                    kill_all(self._kernel_processes)
            except Exception as err:  # noqa: BLE001 (never let the watchdog die silently)
                self.log.warning("memory watchdog: %s", err)

    # -- kernel start: the sandbox kernelspec, environment and message size limit --------------------

    def create_kernel_manager(self):
        if not self.sandbox:
            return super().create_kernel_manager()
        from jupyter_client.kernelspec import KernelSpecManager

        self.kernel_name = KERNEL_NAME
        ksm = KernelSpecManager(kernel_dirs=[str(self._spec_dir / "kernelspec")], ensure_native_kernel=False)
        # unix sockets in the kernel's private folder (its network namespace has no interface to reach)
        self.km = self.kernel_manager_class(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, config=self.config,
                                            transport="ipc",
                                            ip=str(self._home / sandbox_kernel.SOCKETS / "kernel"))
        try:
            import zmq

            self.km.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_mb << 20)
        except Exception as err:  # noqa: BLE001
            self.log.warning("could not limit the kernel's message size: %s", err)
        return self.km

    async def async_start_new_kernel(self, **kwargs):
        if self.sandbox:  # an allow-list built from scratch: nothing of the grader's environment (db URL, ...)
            kwargs["env"] = sandbox_kernel.launcher_env()
        try:
            await super().async_start_new_kernel(**kwargs)
        except Exception:
            self._log_kernel_output()
            raise

    def _log_kernel_output(self) -> None:
        """What the kernel (or bubblewrap, or the launcher) wrote to its stdout and stderr, for a kernel that
        did not start: read without following a link (the folder is the kernel's)."""
        try:
            fd = os.open(self._home / sandbox_kernel.HOME / sandbox_kernel.STDERR_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4000))
                self.log.error("the grading kernel's output:\n%s", f.read().decode(errors="replace"))
        except (OSError, AttributeError):
            pass

    start_new_kernel = run_sync(async_start_new_kernel)

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets are not part of grading; an output widget could reroute a later cell's output."""
        return None

    def _within_cap(self, cell_index: int | None, size: int, outs=None) -> bool:
        """Count ``size`` bytes against the cell's output cap (cumulative: clearing the output does not
        give the budget back); False, with a note in the cell's output once, when it is used up."""
        if cell_index is None:
            return True
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        if used <= self.max_output_mb * 2 ** 20:
            return True
        if cell_index not in self._output_capped:
            self._output_capped.add(cell_index)
            outs = self.nb.cells[cell_index].outputs if outs is None else outs
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[grader: output beyond {self.max_output_mb:g} MB dropped]\n"))
        return False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if not self._within_cap(cell_index, content_size(content), outs):
            if msg["msg_type"] != "error":
                return None
            # the error decides the score: kept, cut to a size that says what it was
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            content["traceback"] = [line[:2000] for line in (content.get("traceback") or [])[-20:]]
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        """``update_display`` (and a new ``display`` with the same display_id) rewrites every earlier output
        with that id, in any cell: each copy counts against the running cell's output cap."""
        copies = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        if copies and not self._within_cap(self._cell_index, copies * content_size(msg.get("content", {}))):
            return None
        return super()._update_display_id(display_id, msg)

    # -- integrity probes ----------------------------------------------------------------------------

    async def _async_probe_raw(self, expression: str) -> dict:
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"r": expression},
                                 stop_on_error=False, allow_stdin=False)
        deadline = time.monotonic() + self.probe_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the kernel did not answer the integrity probe")
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=min(left, 1.0))
            except Exception:  # noqa: BLE001 (queue.Empty)
                if not await self.km.is_alive():
                    raise DeadKernelError("Kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"].get("user_expressions", {}).get("r", {})
            cell = (self._last_reply or {}).get("parent_header", {}).get("msg_id")
            if msg.get("msg_type") == "execute_reply" and cell and msg["parent_header"].get("msg_id") == cell:
                # a second reply to the cell just run: the kernel answers each request once, so the first was
                # sent by the cell's code (it has the session key) and this one, sent after, is the kernel's
                self._second_replies.append(msg)

    _probe_raw = run_sync(_async_probe_raw)

    def _install_guard(self) -> None:
        self._guard_key = secrets.token_bytes(32)
        self._guard_name = "_grading_guard_" + secrets.token_hex(6)
        source = (PACKAGE / "sandbox" / "kernel_guard.py").read_text()
        expr = (f"(lambda ns: (exec(compile({source!r}, '<grading-guard>', 'exec'), ns), "
                f"ns['install']({self._guard_key!r}, {self._guard_name!r}, {self._watch!r}))[1])"
                f"({{'__name__': '_grading_guard', '__builtins__': __builtins__}})")
        reply = self._probe_raw(expr)
        if reply.get("status") != "ok":
            raise RuntimeError(f"could not install the integrity guard in the kernel: {reply}")

    def _probe(self, action: str) -> list[str]:
        """What the guard reports as changed (``[]``: nothing); a missing or forged answer is a change too."""
        challenge = secrets.token_hex(16)
        try:
            reply = self._probe_raw(f"{self._guard_name}({challenge!r}, {action!r})")
        except TimeoutError:
            return ["the kernel did not answer the integrity probe"]
        if reply.get("status") != "ok":
            return [f"the integrity guard is gone ({reply.get('ename', '?')}: {reply.get('evalue', '')})"]
        try:
            answer = json.loads(ast.literal_eval(reply["data"]["text/plain"]))
            payload, mac = answer["payload"], answer["mac"]
        except Exception:  # noqa: BLE001
            return ["the integrity guard gave an answer that is not its own"]
        expected = hmac.new(self._guard_key, (challenge + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return ["the integrity guard's answer was forged"]
        result = json.loads(payload)
        forged = []
        if self._second_replies:  # (the probe's reply comes after the cell's real one: same channel, in order)
            real = self._second_replies[-1]["content"].get("status")
            forged = [f"the cell's code sent a forged reply to the grader (the kernel's own said: {real})"]
            self._second_replies.clear()
        if result.get("moved"):
            self.log.info("names shadowing builtins moved away for a graded cell: %s", result["moved"])
        return forged + list(result.get("changes", []))

    # -- running the notebook ------------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self.begin(nb, resources, km)
        t0 = time.monotonic()
        try:
            with self.running_kernel():
                t1 = time.monotonic()
                self._run_cells()
                t2 = time.monotonic()
        finally:
            self.timeout = self._budget
        # the fixed cost of a notebook, for scripts/bench_grading.py's profile (kernel start includes the
        # integrity guard's imports: torch, matplotlib, cnnlib, which the notebook's setup cell needs anyway)
        self.log.info("timing: kernel start %.2f s, cells %.2f s, kernel stop %.2f s",
                      t1 - t0, t2 - t1, time.monotonic() - t2)
        self.set_widgets_metadata()
        sanitize_markdown_cells(self.nb)  # (the formgrader shows the autograded notebook's Markdown as it is)
        self.nb.metadata.setdefault(META, {})["report"] = self.report
        return self.nb, self.resources

    def begin(self, nb, resources=None, km=None) -> None:
        """The state of one notebook's grading (preprocess, and tests/test_sandbox.py's kernels)."""
        from nbclient.client import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._output_bytes, self._output_capped = {}, set()
        self._cell_index, self._last_reply, self._second_replies = None, None, []
        self._watch = builtin_names_read([c.source for c in nb.cells if utils.is_grade(c) and c.cell_type == "code"])
        self.report = {"integrity": [], "crashes": [], "not_run": [], "notes": []}
        self._uid, self._uid_lock, self._cgroups, self._watchdog_note = None, None, [], ""
        self._budget, self._clock = self.timeout or constants.CELL_TIMEOUT, None
        self.timeout = int(self._budget * self.wall_factor)  # nbclient's own (wall-time) limit: the backstop

    @contextlib.contextmanager
    def running_kernel(self):
        """The sandbox and its kernel, started, with the integrity guard in; stopped and cleaned up after."""
        if self.sandbox:
            self._sandbox_start()
        try:
            with self.setup_kernel():
                self._after_kernel_start()
                yield
        finally:
            if self.sandbox:
                self._sandbox_stop()

    def _after_kernel_start(self) -> None:
        info_msg = self.wait_for_reply(self.kc.kernel_info())
        # the process that runs the cells, found while nothing of the student's has run (a process of theirs
        # could look like it later)
        launcher = self._kernel_pid()
        self._main_pid = kernel_process(launcher) if launcher else None
        self._kernel_chain = {launcher, *descendants(launcher)} if launcher else set()
        self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
        self._install_guard()

    def _restart(self) -> bool:
        """A fresh kernel (same sandbox) with the cells that ran before replayed; False if that failed."""
        try:
            self.kc.stop_channels()
            pid = self._kernel_pid()
            self._main_pid = None
            kill_all(self._kernel_processes, keep=set())
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self._empty_home()  # a fresh kernel, a fresh folder (the replay writes again what the cells wrote)
            run_sync(self.km.restart_kernel)(now=True)
            self.start_new_kernel_client()
            self._after_kernel_start()
        except Exception as err:  # noqa: BLE001
            self.log.error("could not restart the kernel: %s", err)
            return False
        for index in self._replay:
            source = self.nb.cells[index].source
            try:
                reply = run_sync(self._async_run_silently)(source)
            except Exception as err:  # noqa: BLE001
                self.log.error("replaying cell %d failed: %s", index, err)
                return False
            if reply is None:
                return False
        self._reap_strays()
        return True

    def _empty_home(self) -> None:
        """Remove what the kernel left in its private folder (links removed, never followed)."""
        home = getattr(self, "_home", None)
        if home is None:
            return
        with os.scandir(home) as entries:
            for entry in list(entries):
                try:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)
                except OSError as err:
                    self.log.warning("could not remove %s from the kernel's folder: %s", entry.path, err)

    async def _async_run_silently(self, source: str):
        msg_id = self.kc.execute(source, store_history=True, stop_on_error=False, allow_stdin=False)
        deadline = time.monotonic() + (self.timeout or constants.CELL_TIMEOUT)
        while time.monotonic() < deadline:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=1.0)
            except Exception:  # noqa: BLE001
                if not await self.km.is_alive():
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def _run_cells(self) -> None:
        meta = self.nb.metadata.get(META, {})
        not_graded = meta.get("not_graded", {})
        own_total = restart_total = 0.0
        self._replay: list[int] = []
        restarts, tampered, stopped = 0, "", ""
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
            is_grade = utils.is_grade(cell)
            cell.outputs = []
            if tampered or stopped:
                if is_grade:
                    cell.outputs.append(error_output(INTEGRITY if tampered else NOT_RUN,
                                                     f"not graded: {tampered or stopped}"))
                self.report["not_run"].append(grade_id)
                continue
            if is_grade and grade_id in not_graded:
                cell.outputs.append(error_output(INTEGRITY, f"not graded: {not_graded[grade_id]}"))
                continue
            if own_total > self.notebook_timeout:
                stopped = f"the notebook ran out of its {self.notebook_timeout} s time budget"
                self.report["notes"].append(stopped)
                if is_grade:
                    cell.outputs.append(error_output(NOT_RUN, f"not graded: {stopped}"))
                continue
            crash, changes = "", []
            self._watchdog_note = self._cell_note = ""
            try:
                if is_grade:
                    changes = self._probe("enter")
                if not changes:
                    self._cell_index, self._last_reply = index, None
                    with self._timed(grade_id):
                        # a graded cell stays out of the input history (In, _ih): student code cannot read it back
                        self.execute_cell(cell, index, store_history=not is_grade)
                    if is_grade:
                        self._pass_fail(cell, index)
                        changes = self._probe("leave")
                    else:
                        self._replay.append(index)
            except DeadKernelError:
                crash = self._watchdog_note or self._oom_note() or \
                    "the kernel died while running this cell (a resource limit, os._exit, or a crash)"
            except CellTimeoutError as err:
                if "IOPub" in str(err):
                    raise MachineTooBusy(f"{grade_id}: the kernel's output did not arrive within "
                                         f"{self.iopub_timeout} s of its reply") from None
                crash = f"this cell did not finish within {self._budget} s and did not stop when interrupted"
            own = self._clock.own() if self._clock else 0.0
            own_total += own
            self.log.info("cell %s: %.1f s (own %.1f s)%s", grade_id, self._clock.wall() if self._clock else 0.0,
                          own, f" ({crash})" if crash else "")
            if self._cell_note and not crash:
                cell.outputs.append(error_output("CellTimeoutError", self._cell_note))
            if changes:
                tampered = self._tampering(changes, grade_id)
                cell.outputs.append(error_output(INTEGRITY, f"not graded: {tampered}"))
            killed = self._reap_strays()
            if killed:
                self.report["notes"].append(f"{grade_id}: {killed} leftover process(es) killed after the cell")
            if crash:
                cell.outputs.append(error_output(KERNEL_DIED, crash))
                self.report["crashes"].append({"cell": grade_id, "why": crash})
                restarts += 1
                if restarts > self.max_restarts:
                    ok = False
                else:
                    t0 = time.monotonic()
                    ok = self._restart()
                    # the restart and the replay count toward the notebook's budget: own time (wall time
                    # minus the new kernel's waits for a CPU, since it was started within this wall time)
                    pid = self._kernel_main_pid()
                    own = max(0.0, time.monotonic() - t0 - ((run_delay(pid) or 0.0) if pid else 0.0))
                    own_total += own
                    restart_total += own
                    self.log.info("restart and replay after %s: own %.1f s", grade_id, own)
                if not ok:
                    stopped = f"the kernel crashed or hung {restarts} time(s); the rest of the notebook was not run"
                    self.report["notes"].append(stopped)
        self.report["time"] = {"own_seconds": round(own_total, 2), "restarts_seconds": round(restart_total, 2)}

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        self._last_reply = exec_reply  # whether the cell raised: what a graded cell's score depends on
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def _pass_fail(self, cell, index: int) -> None:
        """A graded cell scores pass/fail only: nbgrader reads an ``execute_result`` as the score (a number:
        partial credit; anything else: full marks, even before an error) and stderr as a failure, so what
        decides is whether the cell raised. Its stream text stays (as stdout); in a cell with hidden tests
        nothing rich that the student's code displayed stays (it could carry the tests, encoded)."""
        hidden = bool(hidden_test_lines(cell.source))
        keep = []
        for out in cell.outputs:
            kind = out.get("output_type")
            if kind == "execute_result" or (kind == "display_data" and hidden):
                continue
            if kind == "stream" and out.get("name") == "stderr":
                out["name"] = "stdout"
            keep.append(out)
        content = (self._last_reply or {}).get("content", {})
        if content.get("status") == "error" and not any(o.get("output_type") == "error" for o in keep):
            keep.append(error_output(str(content.get("ename", "Error")), str(content.get("evalue", ""))))
        cell.outputs = keep
        self.clear_display_id_mapping(index)  # (indices changed; and no later cell may rewrite these outputs)

    # -- the cell clock: own time, not wall time ---------------------------------------------------

    def _kernel_main_pid(self) -> int | None:
        """The process that runs the cells: ipykernel, below the launcher and bubblewrap (found at its start)."""
        return getattr(self, "_main_pid", None) or self._kernel_pid()

    @contextlib.contextmanager
    def _timed(self, grade_id: str):
        """Run a cell under its own-time limit (see the module docstring)."""
        self._clock = clock = CellClock(self._kernel_main_pid())
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_cell, args=(clock, done), daemon=True,
                                   name=f"cell-clock-{grade_id}")
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def _watch_cell(self, clock: CellClock, done: threading.Event) -> None:
        interrupted = False
        while not done.wait(0.25):
            own = clock.own()
            if not interrupted and own > self._budget:
                interrupted = True
                self._cell_note = (f"this cell ran for more than {self._budget} s and was interrupted (its own time: "
                                   f"time spent waiting for a busy CPU is not counted)")
                self.log.warning("%s (wall %.0f s)", self._cell_note, clock.wall())
                try:
                    os.kill(clock.pid, signal.SIGINT)
                except (OSError, TypeError):
                    pass
            elif interrupted and own > self._budget + self.interrupt_grace:
                self._watchdog_note = (f"this cell ran for more than {self._budget} s and did not stop when "
                                       f"interrupted: its kernel was restarted")
                kill_all(self._kernel_processes)
                return

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient's wall-time limit (the backstop): the machine starved the cell if its own time is in budget."""
        if self._clock is not None and self._clock.own() < self._budget:
            raise MachineTooBusy(f"a cell ran {self._clock.wall():.0f} s of wall time but only {self._clock.own():.0f} "
                                 f"s of its own: the grading machine is too busy; grade this student again")
        return await super()._async_handle_timeout(timeout, cell)

    def _tampering(self, changes: list[str], grade_id: str) -> str:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        self.report["integrity"].append({"cell": grade_id, "changes": changes})
        self.log.warning("grading integrity: %s (at %s)", shown, grade_id)
        return (f"the grading environment was tampered with ({shown}); graded cells from here on score 0 "
                f"and the submission is flagged for manual review")


