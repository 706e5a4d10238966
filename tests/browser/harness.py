"""A temporary nbgrader course, a JupyterLab server started the way `make lab` starts it, and headless
Debian Chromium for Playwright. Used by tests/test_browser.py and tests/test_hub.py.

Everything here cleans up after itself: the server is shut down through its API, then SIGTERM, then
SIGKILL to its process group; the browser is closed by the caller's `with` block.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHROMIUM = Path(os.environ.get("CNN_COURSE_CHROMIUM", "/usr/bin/chromium"))

#: Flags for Chromium on a closed network: no sandbox (we run as root), no GPU, and none of the
#: background connections (component updates, sync, QUIC probes) that would be refused en masse.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
]

#: The nbgrader config of a course copy when the repository has none (the real one is copied if present).
MINIMAL_NBGRADER_CONFIG = """\
from pathlib import Path
c = get_config()  # noqa: F821
HERE = Path(__file__).resolve().parent
c.CourseDirectory.root = str(HERE)
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook.db'}"
c.Execute.timeout = 120
"""


def load_lab_launcher() -> ModuleType:
    """scripts/lab.py (the `make lab` launcher) as a module."""
    spec = importlib.util.spec_from_file_location("cnn_course_lab", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path, timeout: float = 300) -> str:
    """Run cmd, append its output to log, raise with the output's tail if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(cmd)}   # {time.perf_counter() - start:.1f} s, exit {proc.returncode}\n{proc.stdout}")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit {proc.returncode}:\n{proc.stdout[-3000:]}")
    return proc.stdout


def make_course(dest: Path, assignment: str, env: dict[str, str], log: Path) -> Path:
    """A course directory at dest: source/ and nbgrader_config.py copied from the repository, the
    gradebook made by `nbgrader generate_assignment`, release/<assignment> taken from the repository's
    release/ when that has the assignment (else the freshly generated one), and the assignment released
    to the exchange named in env's nbgrader config (so students can fetch it from the Assignment List)."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "source", dest / "source", ignore=ignore)
    config = ROOT / "nbgrader_config.py"
    if config.exists():
        shutil.copy2(config, dest / "nbgrader_config.py")
    else:
        (dest / "nbgrader_config.py").write_text(MINIMAL_NBGRADER_CONFIG)
    nbgrader = str(VENV_BIN / "nbgrader")
    run([nbgrader, "generate_assignment", assignment, "--force"], cwd=dest, env=env, log=log)
    committed = ROOT / "release" / assignment
    if any(committed.glob("*.ipynb")):
        shutil.rmtree(dest / "release" / assignment)
        shutil.copytree(committed, dest / "release" / assignment, ignore=ignore)
        with log.open("a") as f:
            f.write(f"\n# release/{assignment} copied from {committed}\n")
    run([nbgrader, "release_assignment", assignment, "--force"], cwd=dest, env=env, log=log)
    return dest


class PortTaken(RuntimeError):
    pass


class LabServer:
    """JupyterLab on 127.0.0.1:<free port> with a token, serving and running in `root`."""

    def __init__(self, root: Path, env: dict[str, str], log: Path, startup_timeout: float = 90):
        self.root, self.env, self.log_path = root, env, log
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> "LabServer":
        lab = load_lab_launcher()
        self._log = self.log_path.open("a")
        for attempt in range(3):  # another process may take the free port before the server binds it
            cmd = lab.lab_command(self.root, self.port, token=self.token)
            self._log.write(f"\n$ {' '.join(cmd)}\n")
            self._log.flush()
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            try:
                self._wait_ready()
                return self
            except PortTaken:
                self.proc.wait()
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
            except BaseException:
                self.__exit__(None, None, None)
                raise
        self.__exit__(None, None, None)
        raise RuntimeError(f"JupyterLab found no free port:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "already in use" in self.log_tail(1500):
                    raise PortTaken(self.port)
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status", timeout=2)
                self.api("/formgrader/api/assignments", timeout=10)  # nbgrader's server extension is up
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        if self._log:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-n:]

    def __exit__(self, *exc) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:  # a clean shutdown also shuts down the kernels (they run in sessions of their own)
                self.api("/api/shutdown", method="POST", timeout=5)
                proc.wait(timeout=20)
            except Exception:
                pass
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
        if self._log:
            self._log.close()
            self._log = None


def launch_chromium(playwright, user_data_dir: Path, viewport=(1400, 1000)):
    """A persistent Chromium context on a fresh profile, headless, with the closed-network flags."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": viewport[0], "height": viewport[1]},
    )


@contextlib.contextmanager
def lab_page(playwright, server: "LabServer", user_data_dir: Path, failure_png: Path):
    """A page of a fresh Chromium profile (30 s default timeouts), closed after the block; when the block
    fails, a screenshot goes to ``failure_png`` and the server's log tail to the test log."""
    from playwright.sync_api import expect

    context = launch_chromium(playwright, user_data_dir)
    page = context.new_page()
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    try:
        yield page
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(failure_png))
        print(f"\n--- jupyter log tail ---\n{server.log_tail()}")
        raise
    finally:
        context.close()


def launch_browser(playwright):
    """Headless Chromium with the closed-network flags, for several separate contexts (one per person)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def menu(page, top: str, item: str) -> None:
    """In JupyterLab: click menu bar entry `top`, then its item `item` (exact labels)."""
    page.locator(f".lm-MenuBar-itemLabel:text-is('{top}')").click()
    page.locator(f".lm-Menu:visible .lm-Menu-itemLabel:text-is('{item}')").click()


def png_report(path: Path) -> tuple[int, int, float]:
    """(width, height, standard deviation of the grey levels) of a PNG; raises if it is not a PNG."""
    import numpy as np
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    with Image.open(path) as im:
        grey = np.asarray(im.convert("L"), dtype=float)
    return grey.shape[1], grey.shape[0], float(grey.std())
