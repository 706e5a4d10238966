"""The course on JupyterHub, for a class: the hub of `make hub` (hub/jupyterhub_config.py, scripts/hub.py)
played by an instructor and two students in a real browser, and the checks that need no browser.

The class test (root only: it creates local accounts, prefixed ``cnnhubt-``, removed at the end and before
the start if an interrupted run left any) runs everything in a temporary folder it removes:

1. scripts/hub.py sets up the hub folder (course copy owned by a grader account, exchange, config) and adds
   the class from a roster: an instructor and two students with generated passwords; JupyterHub starts on
   free loopback ports (its proxy from hub/node_modules).
2. The instructor logs in (PAM), opens the formgrader service's JupyterLab, Nbgrader > Formgrader, which must
   render inside Lab's frame (the frame-ancestors policy of hub/jupyter_server_config.py), and releases the
   assignment with the formgrader's release button.
3. Both students log in at the same time, each in a browser context of their own, fetch the assignment from
   the Assignment List, type their answers (Ada all right, Alan the first exercise wrong), run all cells
   (both notebooks running at once), Validate and submit.
4. scripts/hub.py grade: collect, the hardened grader (scripts/autograde.py), feedback released. The
   instructor's formgrader shows both submissions with their scores.
5. Each student fetches their feedback in the Assignment List and opens it: their own score.
6. Alan cannot reach Ada's work: not through the hub (her server, her files, the formgrader service answer
   403), not as his own account on the machine (the inbound submissions, Ada's submission folder and
   feedback file, her home, the course folder, the checkout's solutions all refuse him), while he reads
   his own feedback and the released notebook, so the probe can tell.

Every step's screenshot goes to tests/_out/hub/ and is checked to be a real, non-blank PNG.
"""
from __future__ import annotations

import csv
import json
import os
import pwd
import re
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, load_script, missing_tool
from browser.harness import CHROMIUM, launch_browser, menu, png_report

hub_tool = load_script("hub")
PREFIX = "cnnhubt-"
COURSE_ID = f"{PREFIX}course"
INSTRUCTOR, ADA, ALAN = f"{PREFIX}grace", f"{PREFIX}ada", f"{PREFIX}alan"
ASSIGNMENT, NOTEBOOK = "03_shapes", "shapes.ipynb"
OUT = ROOT / "tests" / "_out" / "hub"
VIEWPORT = {"width": 1400, "height": 1000}
#: Alan's Exercise 1 (out_size): the dilation forgotten, typed in for the `raise NotImplementedError()`
#: line of the released cell
OUT_SIZE_WRONG = "return (n + 2 * p - k) // s + 1"


def exercises() -> list[dict]:
    """The assignment's exercises in order: the released answer cell's text, the instructor's solution
    (source/ with the solution markers taken out: what a student who got it right types) and the points of
    the test cells that follow it, up to the next exercise (from the nbgrader metadata)."""
    release = json.loads((ROOT / "release" / ASSIGNMENT / NOTEBOOK).read_text())["cells"]
    source = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
              for c in json.loads((ROOT / "source" / ASSIGNMENT / NOTEBOOK).read_text())["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    found = []
    for cell in release:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            solution = "\n".join(line for line in source[meta["grade_id"]].splitlines()
                                  if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
            found.append({"released": "".join(cell["source"]), "solution": solution, "points": 0.0, "tests": []})
        elif meta.get("grade") and found:
            found[-1]["points"] += meta["points"]
            found[-1]["tests"].append("".join(cell["source"]).splitlines()[0])
    assert len(found) >= 2, f"{ASSIGNMENT} needs two exercises for a right and a partly wrong student"
    return found


# ---- checks without a hub ------------------------------------------------------------------------------
def test_roster_errors_say_what_is_wrong(tmp_path):
    cases = {
        "username,role\nx,student\n": "the header must be username,role,first_name,last_name",
        "username,role,first_name,last_name\nBad Name,student,a,b\n": "user name 'Bad Name'",
        "username,role,first_name,last_name\nann,teacher,a,b\n": "role 'teacher' must be one of",
        "username,role,first_name,last_name\nann,instructor,a,b\nann,student,a,b\n": "'ann' is listed twice",
        "username,role,first_name,last_name\nann,student,a,b\n": "no instructor listed",
    }
    for text, message in cases.items():
        path = tmp_path / "roster.csv"
        path.write_text(text)
        with pytest.raises(SystemExit, match=message.replace("(", r"\(")):
            hub_tool.read_roster(path)
    rows = hub_tool.read_roster(ROOT / "hub" / "roster.example.csv")
    assert {r["role"] for r in rows} == {"instructor", "student"}


def test_server_config_lets_lab_frame_the_formgrader():
    """The servers' Jupyter config names a frame policy: jupyterhub-singleuser then keeps it instead of its
    `frame-ancestors 'none'` (the blank formgrader), and it allows the same origin only."""
    from traitlets.config import Config

    config = Config()
    code = (ROOT / "hub" / "jupyter_server_config.py").read_text()
    exec(compile(code, "jupyter_server_config.py", "exec"), {"get_config": lambda: config})
    policy = config.ServerApp.tornado_settings["headers"]["Content-Security-Policy"]
    assert policy == "frame-ancestors 'self'"
    from jupyterhub.singleuser import extension  # the default it replaces is set with setdefault
    assert "headers.setdefault(\"Content-Security-Policy\", \"frame-ancestors 'none'\")" in \
        Path(extension.__file__).read_text()


def test_z2jh_values_parse_and_image_requirements_match():
    """hub/z2jh/values.yaml parses, its Python parts compile, it carries the formgrader's frame policy and
    the ngshare exchange; the single-user image installs the course's requirements.txt as it is, plus
    pinned extras that requirements.txt does not have (so nothing can be pinned twice, differently)."""
    values = yaml.safe_load((ROOT / "hub" / "z2jh" / "values.yaml").read_text())
    single = values["singleuser"]
    assert single["image"]["name"] and single["image"]["tag"]
    headers = single["extraFiles"]["jupyter-server-config"]["data"]["ServerApp"]["tornado_settings"]["headers"]
    assert headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    nbgrader_config = single["extraFiles"]["nbgrader-config"]["stringData"]
    compile(nbgrader_config, "nbgrader_config.py", "exec")
    assert "configureExchange" in nbgrader_config and "ngshare" in values["hub"]["services"]
    for name, code in values["hub"]["extraConfig"].items():
        compile(code, name, "exec")
    assert not values["hub"]["config"]["Authenticator"]["admin_users"]

    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                name, sep, ver = line.partition("==")
                assert sep, f"{path.name}: {line!r} is not pinned with =="
                out[re.sub(r"[-_.]+", "-", name.strip()).lower()] = ver.strip()
        return out

    extras, course = pins(ROOT / "hub" / "z2jh" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert extras and not set(extras) & set(course), f"pinned in both files: {set(extras) & set(course)}"
    assert "jupyterhub" in course, "the single-user image needs jupyterhub (jupyterhub-singleuser)"
    dockerfile = (ROOT / "hub" / "z2jh" / "Dockerfile").read_text()
    for line in ("COPY requirements.txt ", "COPY hub/z2jh/requirements.txt ", "-r /opt/cnn-course/requirements.txt",
                 "-r /opt/cnn-course/hub-requirements.txt", "--name cnn-course"):
        assert line in dockerfile, f"hub/z2jh/Dockerfile lacks {line!r}"
    assert "python-3.11" in dockerfile.split("FROM", 1)[1].splitlines()[0], "the image's Python is not 3.11"


def test_proxy_is_pinned_and_locked():
    package = json.loads((ROOT / "hub" / "package.json").read_text())
    lock = json.loads((ROOT / "hub" / "package-lock.json").read_text())
    pin = package["dependencies"]["configurable-http-proxy"]
    assert pin[0].isdigit(), f"hub/package.json: configurable-http-proxy {pin!r} is not an exact version"
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == pin


# ---- the class in a browser ---------------------------------------------------------------------------
def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the class test creates local accounts and starts servers as them: run as root"
    if not hub_tool.PROXY.exists():
        return f"{hub_tool.PROXY} missing (npm ci --prefix hub)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (Debian: apt-get install -y chromium)"
    if shutil.which("useradd") is None:
        return "useradd not found"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def leftover_accounts() -> list[str]:
    return [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(PREFIX)]


#: run as Alan: what of Ada's and the instructor's must refuse him, what of his own must not
PROBE = textwrap.dedent("""
    import json, os, sys
    refused, readable = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    out = {}
    for path in refused + readable:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                open(path, "rb").read(1)
            out[path] = "read"
        except PermissionError:
            out[path] = "refused"
        except OSError as exc:
            out[path] = f"error: {exc}"
    print(json.dumps(out))
""")


def test_a_class_on_the_hub():
    reason = _missing()
    if reason:
        missing_tool(reason)
    from playwright.sync_api import expect, sync_playwright

    hub_tool.remove_accounts(leftover_accounts())  # an interrupted earlier run
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    base = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(base, 0o755)  # the accounts' homes are in here
    shots: list[Path] = []
    timings: list[str] = []
    last = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings.append(f"{now - last:5.1f} s  {name}")
        last = now

    def shot(page, name: str) -> None:
        path = OUT / f"{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    try:
        hub = hub_tool.Hub(base / "hub", course_id=COURSE_ID, grader=f"{PREFIX}grader")
        homes = base / "home"
        hub_tool.setup(hub, port=hub_tool.free_port(), home_base=homes, free_ports=True, assignments=[ASSIGNMENT])
        roster = base / "roster.csv"
        with open(roster, "w", newline="") as f:
            w = csv.writer(f)
            w.writerows([hub_tool.ROSTER_FIELDS, [INSTRUCTOR, "instructor", "Grace", "Hopper"],
                         [ADA, "student", "Ada", "Lovelace"], [ALAN, "student", "Alan", "Turing"]])
        passwords = dict(hub_tool.add_class(hub, roster, home_base=homes))
        assert set(passwords) == {INSTRUCTOR, ADA, ALAN}
        phase("setup: hub folder, accounts, gradebook")
        log = OUT / "hub.log"
        log.write_text("")
        with hub_tool.HubProcess(hub, log) as server, sync_playwright() as pw:
            phase("hub start")
            browser = launch_browser(pw)
            try:
                _play_class(hub, server, browser, passwords, expect, shot, phase)
            except BaseException:
                print(f"\n--- hub log tail ---\n{server.log_tail(8000)}")
                raise
            finally:
                browser.close()
        phase("hub stop")
    finally:
        hub_tool.remove_accounts([INSTRUCTOR, ADA, ALAN, f"{PREFIX}grader"] + leftover_accounts())
        shutil.rmtree(base, ignore_errors=True)
    assert not leftover_accounts()
    for path in shots:
        width, height, std = png_report(path)
        assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"]), (path, width, height)
        assert std > 10, f"{path} looks blank (grey-level std {std:.1f})"
    assert len(shots) >= 14, [p.name for p in shots]
    print("\n".join(timings))


def _login(context, hub, name: str, password: str, expect):
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub.url()}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    return page


def _type_cell(page, cell, text: str) -> None:
    """Replace a notebook cell's code by `text`, typed into its editor as a person pasting it would."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    from playwright.sync_api import expect
    expect(cell.locator(".cm-content")).to_contain_text(lines[-1].strip())


def _play_class(hub, server, browser, passwords, expect, shot, phase):
    expect.set_options(timeout=60_000)
    url = hub.url()
    ex = exercises()
    total = sum(e["points"] for e in ex)
    # what each student types into each exercise's cell: Ada the solutions, Alan a wrong Exercise 1
    alan_ex1 = ex[0]["released"].replace("raise NotImplementedError()", OUT_SIZE_WRONG)
    assert alan_ex1 != ex[0]["released"] and "def out_size(" in alan_ex1, ex[0]["released"]
    contexts = {name: browser.new_context(viewport=VIEWPORT) for name in (INSTRUCTOR, ADA, ALAN)}

    # -- 1. the instructor: formgrader (in Lab's frame, not blank) and release
    teacher = _login(contexts[INSTRUCTOR], hub, INSTRUCTOR, passwords[INSTRUCTOR], expect)
    expect(teacher.locator("#login_submit")).to_have_count(0)
    teacher.goto(f"{url}/services/{COURSE_ID}/lab")
    expect(teacher.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible(timeout=120_000)
    menu(teacher, "Nbgrader", "Formgrader")
    fg = teacher.frame_locator("#formgrader-iframe iframe")
    row = fg.locator("tr", has_text=ASSIGNMENT)
    expect(row).to_be_visible()
    shot(teacher, "instructor_formgrader")
    # what keeps it from being blank: the formgrader's page may be framed by its own origin
    headers = contexts[INSTRUCTOR].request.get(f"{url}/services/{COURSE_ID}/formgrader").headers
    assert headers.get("content-security-policy") == "frame-ancestors 'self'", headers
    row.locator("td.release a").click()
    expect(fg.locator(".modal-title", has_text="Success")).to_be_visible(timeout=120_000)
    shot(teacher, "instructor_released")
    fg.locator(".modal-footer button", has_text="OK").first.click()
    released = hub.exchange / COURSE_ID / "outbound" / ASSIGNMENT / NOTEBOOK
    assert released.exists(), "the formgrader's release put nothing in the exchange"
    phase("instructor: formgrader, release")

    # -- 2. both students log in at once and fetch
    students = {ADA: ([e["solution"] for e in ex], total),
                ALAN: ([alan_ex1] + [e["solution"] for e in ex[1:]], total - ex[0]["points"])}
    pages = {name: _login(contexts[name], hub, name, passwords[name], expect) for name in students}
    for name, page in pages.items():
        expect(page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible(timeout=180_000)
        assert f"/user/{name}/lab" in page.url, page.url
    for name, page in pages.items():
        menu(page, "Nbgrader", "Assignment List")
        item = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
        expect(item).to_be_visible()
        shot(page, f"{name}_assignment_list")
        item.get_by_role("button", name="fetch").click()
    panels = {}
    for name, page in pages.items():
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
        expect(fetched).to_be_visible()
        home = Path(pwd.getpwnam(name).pw_dir)
        assert (home / ASSIGNMENT / NOTEBOOK).exists(), f"fetch put no notebook in {name}'s home"
        fetched.locator("a.assignment-notebooks-link").click()
        fetched.get_by_role("link", name=Path(NOTEBOOK).stem, exact=True).click()
        panels[name] = page.locator(".jp-NotebookPanel:visible")
    phase("students: log in, fetch")

    # -- 3. answers typed, all cells run in both notebooks at once, Validate, submit
    for name, page in pages.items():
        panel = panels[name]
        expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text("Python (cnn-course)", timeout=120_000)
        expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle",
                                                                                   timeout=120_000)
        for exercise, answer in zip(ex, students[name][0]):
            first_line = exercise["released"].splitlines()[0]
            cell = panel.locator(".jp-CodeCell").filter(has=page.locator(".cm-content", has_text=first_line))
            expect(cell).to_have_count(1)
            _type_cell(page, cell, answer)
        menu(page, "Run", "Run All Cells")
    for name, page in pages.items():
        # Ada's run goes to the last cell; Alan's stops at the test of his wrong out_size (Lab's Run All
        # stops at an error), which reports the case it got wrong
        panel = panels[name]
        code = panel.locator(".jp-CodeCell")
        if name == ADA:
            expect(code.last.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=240_000)
        else:
            errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            expect(errors.filter(has_text="AssertionError")).to_have_count(1, timeout=240_000)
        expect(panel.locator(".jp-InputArea-prompt", has_text="[*]")).to_have_count(0, timeout=240_000)
        expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle",
                                                                                   timeout=240_000)
        shot(page, f"{name}_after_run")
    phase("students: type answers, run all (both at once)")
    for name, page in pages.items():
        panels[name].locator(".validate-button button, button.validate-button").first.click()
    for name, page in pages.items():
        dialog = page.locator(".jp-Dialog").filter(has=page.locator("#validation-message"))
        expect(dialog).to_be_visible(timeout=240_000)
        message = dialog.locator("#validation-message")
        text = message.inner_text()
        shot(page, f"{name}_validate")
        if name == ADA:
            assert "validation-failed" not in (message.get_attribute("class") or ""), text
            assert "Success" in text or "passed" in text, text
        else:
            assert "validation-failed" in (message.get_attribute("class") or ""), text
            assert text.count("The following cell failed:") >= 1, text
            assert any(first in text for first in ex[0]["tests"]), f"Exercise 1's tests not reported:\n{text}"
            assert not any(first in text for first in ex[1]["tests"]), f"the right Exercise 2 is reported:\n{text}"
        dialog.get_by_role("button", name="Ok").click()
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Assignments").click()
        page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first.get_by_role(
            "button", name="Submit").click()
    for name, page in pages.items():
        expect(page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first).to_be_visible()
        shot(page, f"{name}_submitted")
    phase("students: Validate, submit")

    # -- 4. grading with the course's hardened grader; the formgrader shows it
    report = hub_tool.grade(hub, ASSIGNMENT)
    assert ADA in report and ALAN in report, report[-2000:]
    for name in students:
        # what only scripts/autograde.py writes: the scan of the rebuilt submission, the grading marker
        folder = hub.course / "autograded" / name
        review = json.loads((folder / f"{ASSIGNMENT}.review.json").read_text())
        assert review["student"] == name and review["notebooks"][Path(NOTEBOOK).stem]["scan"], review
        assert json.loads((folder / f"{ASSIGNMENT}.graded.json").read_text())["fingerprint"]
    phase("hub.py grade: collect, scripts/autograde.py, release feedback")
    teacher.reload()
    expect(teacher.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible(timeout=120_000)
    menu(teacher, "Nbgrader", "Formgrader")
    fg = teacher.frame_locator("#formgrader-iframe iframe")
    row = fg.locator("tr", has_text=ASSIGNMENT)
    expect(row.locator("td.num-submissions")).to_have_text("2")
    row.locator("td.num-submissions a").click()
    for name, (_, score) in students.items():
        sub = fg.locator("tbody tr", has_text=name)
        expect(sub).to_contain_text(f"{score:g} / {total:g}")
    shot(teacher, "instructor_scores")
    phase("instructor: formgrader scores")

    # -- 5. each student fetches and reads their own feedback
    feedback = {}
    for name, page in pages.items():
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Assignments").click()
        item = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first
        item.get_by_role("button", name="Fetch Feedback").click()
        home = Path(pwd.getpwnam(name).pw_dir)
        deadline = time.monotonic() + 60
        while not list(home.glob(f"{ASSIGNMENT}/feedback/*/{Path(NOTEBOOK).stem}.html")):
            assert time.monotonic() < deadline, f"no feedback fetched into {home}"
            time.sleep(0.5)
        shot(page, f"{name}_feedback_fetched")
        html = next(home.glob(f"{ASSIGNMENT}/feedback/*/{Path(NOTEBOOK).stem}.html"))
        feedback[name] = html
        view = contexts[name].new_page()
        view.goto(f"{url}/user/{name}/files/{html.relative_to(home)}")
        expect(view.locator("body")).to_contain_text(f"Score: {students[name][1]:.1f} / {total:.1f}")
        shot(view, f"{name}_feedback")
        view.close()
    phase("students: fetch and read feedback")

    # -- 6. Alan cannot reach Ada's work, through the hub or on the machine
    alan = contexts[ALAN].new_page()
    ada_home = Path(pwd.getpwnam(ADA).pw_dir)
    for path in (f"/user/{ADA}/files/{feedback[ADA].relative_to(ada_home)}", f"/user/{ADA}/lab",
                 f"/user/{ADA}/api/contents/{ASSIGNMENT}", f"/services/{COURSE_ID}/formgrader"):
        response = alan.goto(url + path)
        body = alan.locator("body").inner_text()
        assert response.status in (403, 404) or "403" in body, (path, response.status, body[:300])
        assert "Score:" not in body and "out_size" not in body, (path, body[:300])
    shot(alan, f"{ALAN}_refused_ada_feedback")
    inbound = hub.exchange / COURSE_ID / "inbound"
    ada_submission = next(p for p in inbound.iterdir() if p.name.startswith(f"{ADA}+"))
    released_feedback = {student: path for path, student in hub_tool.feedback_owners(hub, ASSIGNMENT).items()}
    refused = [inbound, ada_submission / NOTEBOOK, ada_submission / "submission_secret.txt",
               released_feedback[ADA], hub.exchange / COURSE_ID / "feedback", ada_home,
               feedback[ADA], hub.course, hub.course / "source" / ASSIGNMENT / NOTEBOOK,
               hub.course / "gradebook.db", ROOT / "source" / ASSIGNMENT / NOTEBOOK, ROOT / "tests"]
    readable = [released_feedback[ALAN], released, ROOT / ".venv" / "bin" / "python"]
    proc = hub_tool.run_as(ALAN, [sys.executable, "-c", PROBE, json.dumps([str(p) for p in refused]),
                                  json.dumps([str(p) for p in readable])], cwd=Path("/"))
    seen = json.loads(proc.stdout)
    assert all(seen[str(p)] == "refused" for p in refused), {p: seen[str(p)] for p in map(str, refused)}
    assert all(seen[str(p)] == "read" for p in readable), {p: seen[str(p)] for p in map(str, readable)}
    phase("isolation checks")
    for context in contexts.values():
        context.close()


def test_load_benchmark_runs_small():
    """scripts/bench_hub.py (the load figure of BENCHMARKS.md) works: 2 students at once complete, every
    submission reaches the exchange, the hub page answers meanwhile, and it leaves no account behind."""
    reason = _missing()
    if reason:
        missing_tool(reason)
    import subprocess

    OUT.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_hub.py"), "--students", "2",
                           "--timeout", "600", "--log", str(OUT / "bench_hub.log")],
                          text=True, capture_output=True, timeout=1200)
    print(proc.stdout[-3000:], proc.stderr[-3000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "errors: 0; hung: 0; submissions in the exchange: 2" in proc.stdout
    assert "under the load:" in proc.stdout
    assert not [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith("cnnhubb-")]
