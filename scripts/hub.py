"""The course on JupyterHub for a class on one server (`make hub`): setup, the class list, grading.

    sudo .venv/bin/python scripts/hub.py add-class hub/roster.example.csv   # accounts, passwords, gradebook
    sudo .venv/bin/python scripts/hub.py start [--port 8000]                # the hub on 127.0.0.1
    sudo .venv/bin/python scripts/hub.py grade 03_shapes                    # collect, grade, release feedback

All three run as root (the hub starts each person's server as their own account). Everything lives in the
hub folder (--dir, default .hub/ of the checkout, git-ignored):

    hub.json          the layout hub/jupyterhub_config.py reads (ports, folders, accounts)
    roster.csv        the class: username,role,first_name,last_name (role: instructor or student)
    state/            root only: hub database, cookie secret, proxy and admin tokens, passwords.csv, logs
    config/           the Jupyter config every server reads: course id and exchange (scripts/lab.py), the
                      formgrader frame policy and the private exchange (hub/*.py)
    exchange/         nbgrader's filesystem exchange (0777 + sticky)
    course/           the course as the grader account sees it, private (0700): source/, release/, the
                      gradebook, submitted/, autograded/, feedback/; the formgrader service runs here

`setup` (run by every command) also makes the checkout private to root but for what the students' kernels
need (.venv, cnnlib/, data/, hub/, scripts/, release/): it holds the solutions (source/, tests/, .git).

`grade` runs the course's hardened grader (python -m cnngrader: rebuild and scan, sandboxed kernels), not
the formgrader's Autograde button, then releases the feedback with each file owned by its student (0400):
nbgrader's own release leaves feedback world-readable under an unguessable name.
"""
from __future__ import annotations

import argparse
import csv
import grp
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
HUB_SRC = ROOT / "hub"
PROXY = HUB_SRC / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_DIR = ROOT / ".hub"
ROLES = ("instructor", "student")
ROSTER_FIELDS = ("username", "role", "first_name", "last_name")
#: what students' servers and kernels (and the sandboxed grading kernels) read in the checkout, and the
#: default hub folder (its own modes are set by setup); the rest (solutions, tests, history, grades) is root's
STUDENT_READABLE = (".venv", "cnnlib", "data", "hub", "scripts", "release", "pyproject.toml", ".hub")
#: the configuration files of hub/ copied into the servers' config folder
SERVER_CONFIG = ("jupyter_server_config.py", "nbgrader_config.py", "course_exchange.py")
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")  # what useradd and nbgrader both accept


def load_lab():
    """scripts/lab.py (course id, kernel check, the generated nbgrader config of `make lab`)."""
    spec = importlib.util.spec_from_file_location("cnn_course_lab", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the class list ----------------------------------------------------------------------------------
def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's rows, checked: the columns, a role per person, valid and unique user names."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = [{k: (v or "").strip() for k, v in row.items()} for row in reader]
            header = reader.fieldnames or []
    except OSError as exc:
        raise SystemExit(f"hub: cannot read the roster {path}: {exc}")
    if tuple(header) != ROSTER_FIELDS:
        raise SystemExit(f"hub: {path}: the header must be {','.join(ROSTER_FIELDS)}, not {','.join(header)}")
    seen = set()
    for n, row in enumerate(rows, start=2):
        name, role = row["username"], row["role"]
        if not USERNAME.match(name):
            raise SystemExit(f"hub: {path} line {n}: user name {name!r} must be lower-case letters, digits, "
                             "'-' or '_', starting with a letter, at most 31 characters")
        if role not in ROLES:
            raise SystemExit(f"hub: {path} line {n}: role {role!r} must be one of {', '.join(ROLES)}")
        if name in seen:
            raise SystemExit(f"hub: {path} line {n}: {name!r} is listed twice")
        seen.add(name)
    if not any(r["role"] == "instructor" for r in rows):
        raise SystemExit(f"hub: {path}: no instructor listed (role instructor)")
    return rows


# ---- layout ------------------------------------------------------------------------------------------
class Hub:
    """The hub folder and what is in it (see the module docstring)."""

    def __init__(self, base: Path, course_id: str | None = None, grader: str | None = None):
        self.base = base.resolve()
        self.state = self.base / "state"
        self.config = self.base / "config"
        self.exchange = self.base / "exchange"
        self.course = self.base / "course"
        self.roster = self.base / "roster.csv"
        self.passwords = self.state / "passwords.csv"
        self.layout_path = self.base / "hub.json"
        self.course_id = course_id or load_lab().COURSE_ID
        self.grader = grader or f"{self.course_id}-grader"[:31]  # owns the course folder, runs the formgrader

    def jupyter_env(self) -> dict[str, str]:
        """What nbgrader run by hand for this hub needs: the servers' config (course id, exchange)."""
        return {"JUPYTER_CONFIG_PATH": os.pathsep.join([str(self.config / "hub"), str(self.config / "lab")])}

    def layout(self) -> dict:
        return json.loads(self.layout_path.read_text())

    def admin_token(self) -> str:
        return (self.state / "admin_token").read_text().strip()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.layout()['port']}"


def run_as(user: str, cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 600,
           check: bool = True) -> subprocess.CompletedProcess:
    """cmd as the account `user` (its own groups, home and umask 022), output captured."""
    pw = pwd.getpwnam(user)
    full_env = {"PATH": os.pathsep.join([str(VENV_BIN), "/usr/bin", "/bin"]), "HOME": pw.pw_dir,
                "USER": user, "LOGNAME": user, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=[g.gr_gid for g in grp.getgrall() if user in g.gr_mem],
                          umask=0o022, text=True, capture_output=True, timeout=timeout)
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} (as {user}) exited with {proc.returncode}:\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
    return proc


def grader_nbgrader(hub: Hub, *args: str) -> subprocess.CompletedProcess:
    """An nbgrader command as the grader account, in the course folder, with the hub's course id and exchange."""
    return run_as(hub.grader, [str(VENV_BIN / "nbgrader"), *args], cwd=hub.course, env=hub.jupyter_env())


def ensure_account(name: str, home_base: Path | None) -> bool:
    """Create the local account `name` (home 0700) unless it exists; True if it was created."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    cmd = ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group"]
    if home_base is not None:
        home_base.mkdir(parents=True, exist_ok=True)
        cmd += ["--home-dir", str(home_base / name)]
    subprocess.run(cmd + [name], check=True, capture_output=True, text=True)
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    return True


def protect_checkout(root: Path = ROOT) -> None:
    """The checkout readable (by path only) for the students' servers and kernels, nothing else of it:
    its top folder 0711, each entry not in STUDENT_READABLE go-rwx. Root's own use is unchanged."""
    os.chmod(root, 0o711)
    for entry in root.iterdir():
        if entry.name in STUDENT_READABLE or entry.is_symlink():
            continue
        mode = entry.stat().st_mode
        os.chmod(entry, mode & ~0o077)
    make_passable(root)


def make_passable(path: Path) -> list[Path]:
    """Give every folder on the way to `path` o+x (passing through, not listing), so that the class's
    accounts reach it; returns the folders changed. (The course's Python may live in root's home.)"""
    changed = []
    for parent in [path, *path.parents] if path.is_dir() else path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
            changed.append(parent)
    return changed


def setup(hub: Hub, port: int = 8000, home_base: Path | None = None, free_ports: bool = False,
          assignments: list[str] | None = None) -> Hub:
    """Create or refresh the hub folder: layout, secrets, config, exchange, the grader account and the
    private course folder (source/ and release/ from the checkout, the gradebook kept, `assignments`,
    default all, recorded in it so the formgrader can release them). Idempotent."""
    if os.geteuid() != 0:
        raise SystemExit("hub: run as root (sudo): the hub starts every person's server as their own account")
    if not PROXY.exists():
        raise SystemExit(f"hub: {PROXY} not found: run `npm ci --prefix hub` (make hub does)")
    lab = load_lab()
    problem = lab.kernel_problem()
    if problem:
        raise SystemExit(f"hub: {problem}")
    hub.base.mkdir(parents=True, exist_ok=True)
    os.chmod(hub.base, 0o711)
    hub.state.mkdir(mode=0o700, exist_ok=True)
    os.chmod(hub.state, 0o700)
    for name in ("proxy_token", "admin_token"):
        if not (hub.state / name).exists():
            (hub.state / name).write_text(secrets.token_hex(32) + "\n")
            os.chmod(hub.state / name, 0o600)
    # the exchange: writable by all, sticky so that nobody removes what another created
    hub.exchange.mkdir(exist_ok=True)
    os.chmod(hub.exchange, 0o1777)
    # the servers' config: course id + exchange (scripts/lab.py's generated config) and hub/*.py
    lab.write_config_dir(hub.config / "lab", hub.course_id, hub.exchange)
    (hub.config / "hub").mkdir(parents=True, exist_ok=True)
    for name in SERVER_CONFIG:
        shutil.copy(HUB_SRC / name, hub.config / "hub" / name)
    for path in [hub.config, *hub.config.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    # the grader account and its private course folder
    ensure_account(hub.grader, home_base)
    pw = pwd.getpwnam(hub.grader)
    hub.course.mkdir(mode=0o700, exist_ok=True)
    for folder in ("source", "release"):
        shutil.copytree(ROOT / folder, hub.course / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    # the course's own config, read last by nbgrader in the course folder, with this hub's course id
    (hub.course / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text()
        + f"\n# scripts/hub.py: the course id of this hub (its exchange and the students' config use it)\n"
        f"c.CourseDirectory.course_id = {hub.course_id!r}\n")
    chown_tree(hub.course, pw.pw_uid, pw.pw_gid)
    os.chmod(hub.course, 0o700)
    record_assignments(hub, assignments or sorted(p.name for p in (ROOT / "release").iterdir() if p.is_dir()))
    if not hub.roster.exists():
        hub.roster.write_text(",".join(ROSTER_FIELDS) + "\n")
    old = json.loads(hub.layout_path.read_text()) if hub.layout_path.exists() else {}
    ports = {"port": port, "hub_port": 8081, "proxy_api_port": 8001, "service_port": 9999}
    if free_ports:
        ports = {k: (port if k == "port" else free_port()) for k in ports}
    layout = {
        **old, **ports, "course_id": hub.course_id, "state": str(hub.state), "venv_bin": str(VENV_BIN),
        "proxy": str(PROXY), "roster": str(hub.roster), "course": str(hub.course), "grader": hub.grader,
        "grader_home": pw.pw_dir, "exchange": str(hub.exchange),
        "config_path": hub.jupyter_env()["JUPYTER_CONFIG_PATH"].split(os.pathsep),
        "lab_args": [a for a in lab.lab_command(ROOT, 0) if a.startswith("--LabApp.")],
    }
    hub.layout_path.write_text(json.dumps(layout, indent=1) + "\n")
    protect_checkout()
    # the students' servers and kernels run .venv's Python, whose installation may sit in root's home
    base_prefix = Path(os.path.realpath(VENV_BIN / "python")).parents[1]
    for folder in make_passable(base_prefix):
        print(f"hub: made {folder} passable (o+x) for the class: the course's Python is under it", file=sys.stderr)
    return hub


def record_assignments(hub: Hub, assignments: list[str]) -> None:
    """Record each assignment missing from the gradebook (nbgrader generate_assignment as the grader, into
    a scratch folder: release/ stays the committed one)."""
    from nbgrader.api import Gradebook

    db = hub.course / "gradebook.db"
    known = set()
    if db.exists():
        with Gradebook(f"sqlite:///{db}", hub.course_id) as gb:
            known = {a.name for a in gb.assignments}
    scratch = hub.course / ".generate"
    for assignment in assignments:
        if assignment in known:
            continue
        grader_nbgrader(hub, "generate_assignment", assignment, "--force", "--log-level=ERROR",
                        f"--CourseDirectory.release_directory={scratch}")
    shutil.rmtree(scratch, ignore_errors=True)


def chown_tree(top: Path, uid: int, gid: int) -> None:
    for path in [top, *top.rglob("*")]:
        os.lchown(path, uid, gid)


def add_class(hub: Hub, roster: Path, home_base: Path | None = None) -> list[tuple[str, str]]:
    """Accounts for everyone on the roster (new ones get a random password, written to
    state/passwords.csv), the roster merged into the hub's, students added to the gradebook.
    Returns the (username, password) of the accounts created."""
    rows = read_roster(roster)
    known = {r["username"]: r for r in read_roster_file_or_empty(hub.roster)}
    known.update({r["username"]: r for r in rows})
    created = []
    for row in rows:
        if ensure_account(row["username"], home_base):
            password = secrets.token_urlsafe(12)
            subprocess.run(["chpasswd"], input=f"{row['username']}:{password}\n", text=True, check=True)
            created.append((row["username"], password))
    with open(hub.roster, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ROSTER_FIELDS)
        writer.writeheader()
        writer.writerows(known.values())
    if created:
        new_file = not hub.passwords.exists()
        with open(hub.passwords, "a", newline="") as f:
            os.chmod(hub.passwords, 0o600)
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["username", "password"])
            writer.writerows(created)
    for row in rows:
        if row["role"] == "student":
            grader_nbgrader(hub, "db", "student", "add", row["username"], f"--first-name={row['first_name']}",
                            f"--last-name={row['last_name']}", "--log-level=WARN")
    return created


def read_roster_file_or_empty(path: Path) -> list[dict[str, str]]:
    if not path.exists() or path.read_text().strip() in ("", ",".join(ROSTER_FIELDS)):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def remove_accounts(names: list[str]) -> None:
    """Remove local accounts (and their homes), after killing what still runs as them."""
    from cnngrader.sandbox import launcher as module  # its process helpers
    for name in names:
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        module.kill_uid_processes(uid)
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)


# ---- the hub process ---------------------------------------------------------------------------------
def hub_env(hub: Hub) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "JUPYTER_CONFIG_PATH")}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(PROXY.parent), env.get("PATH", "/usr/bin:/bin")])
    env["CNN_HUB_DIR"] = str(hub.base)
    return env


def hub_command(hub: Hub) -> list[str]:
    return [str(VENV_BIN / "jupyterhub"), "-f", str(HUB_SRC / "jupyterhub_config.py")]


def api(hub: Hub, path: str, method: str = "GET", body: dict | None = None, token: str | None = None,
        timeout: float = 30):
    """A call of the hub's REST API (the admin service's token unless another is given)."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(f"{hub.url()}/hub/api{path}", data=data, method=method,
                                 headers={"Authorization": f"token {token or hub.admin_token()}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


class HubProcess:
    """The hub started in the background (tests, benchmark): a context manager that stops it, its proxy,
    the formgrader service and every server it started, whatever happens."""

    def __init__(self, hub: Hub, log: Path, startup_timeout: float = 180):
        self.hub, self.log_path, self.startup_timeout = hub, log, startup_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "HubProcess":
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(hub_command(self.hub), cwd=self.hub.state, env=hub_env(self.hub),
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:  # the hub's API, then the formgrader service's server itself
                api(self.hub, "/services", timeout=5)
                port = self.hub.layout()["service_port"]
                urllib.request.urlopen(f"http://127.0.0.1:{port}/services/{self.hub.course_id}/api", timeout=5)
                return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"jupyterhub did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 5000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-n:]

    def __exit__(self, *exc) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # SIGTERM: the hub stops the users' servers and its service (cleanup_servers), then the proxy
            for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
        if proc is not None:
            try:  # the proxy and service run in the hub's process group; anything left of it goes too
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()


# ---- grading -----------------------------------------------------------------------------------------
def grade(hub: Hub, assignment: str, jobs: int = 2, release_feedback: bool = True) -> str:
    """Collect the submissions (as the grader), grade them with python -m cnngrader (as root: sandboxed
    kernels with uids of their own), give the results back to the grader, release the feedback (as the
    grader) and make each released file its student's alone. Returns the grader's report."""
    pw = pwd.getpwnam(hub.grader)
    grader_nbgrader(hub, "collect", assignment, "--update", "--log-level=WARN")
    proc = subprocess.run([sys.executable, "-m", "cnngrader", "--root", str(hub.course),
                           "--assignment", assignment, "-j", str(jobs), "--db", "sqlite"],
                          text=True, capture_output=True, timeout=3600)
    chown_tree(hub.course, pw.pw_uid, pw.pw_gid)  # the formgrader (the grader account) works on it next
    if proc.returncode:
        raise RuntimeError(f"python -m cnngrader exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    if release_feedback:
        grader_nbgrader(hub, "release_feedback", assignment, "--log-level=WARN")
        protect_feedback(hub, assignment)
    return proc.stdout


def feedback_owners(hub: Hub, assignment: str) -> dict[Path, str]:
    """Each released feedback file of `assignment` and the student it belongs to (its name is nbgrader's
    hash of the submission's secret and the notebook)."""
    from nbgrader.utils import notebook_hash

    outbound = hub.exchange / hub.course_id / "feedback"
    owners = {}
    for folder in sorted((hub.course / "feedback").glob(f"*/{assignment}")):
        secret_file = folder / "submission_secret.txt"
        if not secret_file.exists():
            continue
        secret = secret_file.read_text()
        for html in folder.glob("*.html"):
            owners[outbound / f"{notebook_hash(secret=secret, notebook_id=html.stem)}.html"] = folder.parent.name
    return owners


def protect_feedback(hub: Hub, assignment: str) -> None:
    for path, student in feedback_owners(hub, assignment).items():
        if path.exists():
            pw = pwd.getpwnam(student)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o400)


# ---- command line -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="hub folder (default .hub/ of the checkout)")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("add-class", help="accounts and gradebook entries for everyone on a roster CSV")
    p.add_argument("roster", type=Path)
    p.add_argument("--home-base", type=Path, help="create new accounts' homes here (default: useradd's)")
    p = sub.add_parser("start", help="start JupyterHub on 127.0.0.1 (foreground; Ctrl-C stops it and all servers)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--roster", type=Path, help="add this roster first (as add-class)")
    p = sub.add_parser("grade", help="collect, grade (python -m cnngrader), release the feedback of an assignment")
    p.add_argument("assignment")
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--no-feedback", dest="feedback", action="store_false")
    args = ap.parse_args(argv)

    hub = Hub(args.dir)
    if args.command == "add-class":
        setup(hub, port=hub.layout()["port"] if hub.layout_path.exists() else 8000)
        created = add_class(hub, args.roster, args.home_base)
        print(f"hub: {len(created)} new account(s); their passwords are in {hub.passwords} (root only). "
              "Restart the hub to let new people in.")
    elif args.command == "start":
        setup(hub, port=args.port)
        if args.roster:
            add_class(hub, args.roster)
        people = read_roster_file_or_empty(hub.roster)
        if not people:
            print("hub: nobody can log in yet: add the class first (make hub ROSTER=hub/roster.example.csv)",
                  file=sys.stderr)
        print(f"hub: JupyterHub on {hub.url()} for {hub.course_id}: {len(people)} people; instructors open "
              f"{hub.url()}/services/{hub.course_id}/lab (Nbgrader > Formgrader). Stop with Ctrl-C", flush=True)
        cmd = hub_command(hub)
        os.chdir(hub.state)
        os.execve(cmd[0], cmd, hub_env(hub))
    elif args.command == "grade":
        setup(hub, port=hub.layout()["port"])
        print(grade(hub, args.assignment, args.jobs, args.feedback))
    return 0


if __name__ == "__main__":
    sys.exit(main())
