"""End to end in a real browser: a student and an instructor use the course in JupyterLab.

JupyterLab is started the way `make lab` starts it (scripts/lab.py), on a temporary copy of the course
(source/, nbgrader_config.py, a gradebook, release/ and an exchange), on a free port of 127.0.0.1 with a
token. Headless Debian Chromium, driven by Playwright, then

1. as the student: opens Nbgrader > Assignment List, fetches 05_exercises, opens exercises.ipynb, writes
   `pool_cnn`, runs all cells, clicks Validate and reads the dialog, submits;
2. as the instructor (after `nbgrader collect` + `nbgrader autograde`): opens Nbgrader > Formgrader and
   sees the assignment and the student's graded submission.

A second browser test opens notebook 04 (the student's copy, cut after its drawing pad), runs it, clears
the pad, draws a 7 and then a 1 with real mouse events and reads the network's answer under the pad.

Screenshots go to tests/_out/browser/ and are checked to be real, non-blank PNGs. The kernel tests below
check that notebooks, JupyterLab and nbgrader all run the course's .venv Python.

Needs /usr/bin/chromium (Debian's `chromium` package) and the `playwright` Python package (its bundled
driver; no `playwright install`); skipped with the reason when either is missing.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import missing_tool
from browser.harness import (CHROMIUM, ROOT, VENV_BIN, LabServer, lab_page, load_lab_launcher,
                             make_course, png_report, run)

KERNEL = "cnn-course"
ASSIGNMENT = "05_exercises"
NOTEBOOK = "exercises.ipynb"
#: The correct body of the first exercise, typed into the `pool_cnn` solution cell.
POOL_CNN_BODY = ("return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), "
                 "conv(16, 10, act=False), nn.Flatten())")
#: ... and what that network is, typed over the cell's second `raise NotImplementedError()`
POOL_CNN_NUMBERS = ("shapes, params_pool, params_simple, receptive_field = "
                    "[(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)], 2698, 9034, 53")
OUT = ROOT / "tests" / "_out" / "browser"
SCREENSHOTS = ["student_assignment_list", "notebook_after_run", "validate_result", "student_submitted",
               "formgrader_assignments", "formgrader_submissions"]

NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb")) + sorted(ROOT.glob("release/*/*.ipynb"))


# ---- the kernel every notebook names is .venv's Python ------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_notebook_names_the_course_kernel(path):
    spec = json.loads(path.read_text())["metadata"].get("kernelspec", {})
    assert spec.get("name") == KERNEL, f"{path.relative_to(ROOT)}: kernelspec {spec!r}, expected name {KERNEL!r}"


def test_course_kernel_resolves_to_the_venv_python():
    """`jupyter kernelspec list` (what JupyterLab and nbgrader use) finds `cnn-course` and it starts
    .venv's Python: no other Python can be picked for the course notebooks."""
    out = subprocess.run([str(VENV_BIN / "jupyter"), "kernelspec", "list", "--json"], check=True,
                         capture_output=True, text=True).stdout
    specs = json.loads(out)["kernelspecs"]
    assert KERNEL in specs, f"kernel {KERNEL!r} is not registered (found {sorted(specs)}); run `make`"
    resource_dir = Path(specs[KERNEL]["resource_dir"])
    argv = json.loads((resource_dir / "kernel.json").read_text())["argv"]
    python = Path(argv[0])
    assert python.is_absolute() and python.parent.resolve() == (VENV_BIN).resolve(), (
        f"{resource_dir / 'kernel.json'} starts {argv[0]!r}, not {VENV_BIN / 'python'}; run `make`")
    assert argv[1:] and "ipykernel_launcher" in argv, argv
    prefix = subprocess.run([argv[0], "-c", "import sys, ipykernel; print(sys.prefix)"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert Path(prefix).resolve() == (ROOT / ".venv").resolve(), f"the kernel's Python has sys.prefix {prefix}"
    # the launcher of `make lab` agrees
    assert load_lab_launcher().kernel_problem() is None


# ---- the browser test ----------------------------------------------------------------------------
def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (Debian: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; no `playwright install`)"
    return None


def shot(page, name: str) -> Path:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _title(cell_source: str) -> str:
    """The `# Visible test: ...` line of a test cell (else its first line)."""
    lines = cell_source.splitlines() or [""]
    return next((ln for ln in lines if "Visible test" in ln), lines[0])


def menu(page, top: str, item: str) -> None:
    """Click menu bar entry `top`, then its item `item` (exact labels)."""
    page.locator(f".lm-MenuBar-itemLabel:text-is('{top}')").click()
    page.locator(f".lm-Menu:visible .lm-Menu-itemLabel:text-is('{item}')").click()


def lab_test_env(tmp_path: Path) -> dict[str, str]:
    """The environment `make lab` gives JupyterLab (scripts/lab.py), with every Jupyter folder in tmp_path."""
    lab = load_lab_launcher()
    config_dir = lab.write_config_dir(tmp_path / "lab-config", lab.COURSE_ID, tmp_path / "exchange")
    env = lab.lab_env(config_dir)
    env.pop("NBGRADER_DB_URL", None)  # the course copy's own SQLite gradebook
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter_data")  # no user-level kernels or settings leak in
    return env


def test_student_and_instructor_in_jupyterlab(tmp_path):
    reason = _browser_missing()
    if reason:
        missing_tool(reason)
    from playwright.sync_api import expect, sync_playwright

    started = last = time.perf_counter()
    timings: list[str] = []

    def phase(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings.append(f"{now - last:5.1f} s  {name}")
        last = now

    student = pwd.getpwuid(os.getuid()).pw_name  # nbgrader's exchange submits as the OS user
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    log = OUT / "jupyter.log"
    log.write_text("")

    course = tmp_path / "course"
    env = lab_test_env(tmp_path)
    make_course(course, ASSIGNMENT, env, log)
    phase("course copy: generate + release to the exchange")
    nbgrader = str(VENV_BIN / "nbgrader")

    with LabServer(course, env, log) as server, sync_playwright() as pw:
        with lab_page(pw, server, tmp_path / "chromium-profile", OUT / "failure.png") as page:
            phase("JupyterLab server start")
            # -- student: fetch the assignment from the Assignment List
            page.goto(f"{server.url}/lab?token={server.token}")
            expect(page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible(timeout=60_000)
            menu(page, "Nbgrader", "Assignment List")
            released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
            expect(released).to_be_visible()
            shot(page, "student_assignment_list")
            released.get_by_role("button", name="fetch").click()
            fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
            expect(fetched).to_be_visible()
            assert (course / ASSIGNMENT / NOTEBOOK).exists(), "fetch did not put the notebook in the course root"

            phase("student: Lab page, Assignment List, fetch")
            # -- open the notebook from the list and wait for the course kernel
            fetched.locator("a.assignment-notebooks-link").click()
            fetched.get_by_role("link", name=Path(NOTEBOOK).stem, exact=True).click()
            panel = page.locator(".jp-NotebookPanel:visible")
            expect(panel.locator(".jp-Notebook")).to_be_visible()
            expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text("Python (cnn-course)", timeout=90_000)
            expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                "data-status", "idle", timeout=90_000)

            phase("open notebook, kernel ready")
            # -- write pool_cnn: replace `raise NotImplementedError()` in its solution cell
            cell = panel.locator(".jp-CodeCell").filter(has=page.locator(".cm-content", has_text="def pool_cnn():"))
            expect(cell).to_have_count(1)
            for text in (POOL_CNN_BODY, POOL_CNN_NUMBERS):
                cell.locator(".cm-line", has_text="raise NotImplementedError()").first.click()
                page.keyboard.press("End")
                page.keyboard.press("Shift+Home")
                page.keyboard.insert_text(text)
            page.keyboard.press("Escape")
            source = cell.locator(".cm-content").inner_text()
            assert POOL_CNN_BODY in source and POOL_CNN_NUMBERS in source and "NotImplementedError" not in source, source

            # -- run all cells: Exercise 1's tests pass; the run stops at the first error, Exercise 2's still
            #    unwritten Dropout (NotImplementedError)
            menu(page, "Run", "Run All Cells")
            pool_test = panel.locator(".jp-CodeCell").filter(
                has=page.locator(".cm-content", has_text="_g.check_pool_swap(pool_cnn)"))
            expect(pool_test.locator(".jp-OutputArea-output")).to_contain_text("runs 2 pooling operations",
                                                                               timeout=120_000)
            expect(panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                   .filter(has_text="NotImplementedError")).to_have_count(1, timeout=120_000)
            expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                "data-status", "idle", timeout=60_000)
            cell.scroll_into_view_if_needed()
            shot(page, "notebook_after_run")
            phase("edit pool_cnn, run all cells")

            # -- Validate (saves, then runs nbgrader's validator on the server)
            panel.locator(".validate-button button, button.validate-button").first.click()
            dialog = page.locator(".jp-Dialog").filter(has=page.locator("#validation-message"))
            expect(dialog).to_be_visible(timeout=170_000)
            message = dialog.locator("#validation-message")
            text = message.inner_text()
            shot(page, "validate_result")
            phase("Validate")
            assert "validation-failed" in (message.get_attribute("class") or ""), text
            failed_sources = [message.locator(f"pre >> nth={i}").inner_text()
                              for i in range(0, message.locator("pre").count(), 2)]
            assert text.count("The following cell failed:") == len(failed_sources) >= 1, text
            print("\nValidate reports failing:", *[_title(src) for src in failed_sources], sep="\n  ")
            assert any("check_dropout(Dropout)" in s for s in failed_sources), failed_sources
            assert any("check_curve(val_losses, train_losses)" in s for s in failed_sources), failed_sources
            assert not any("pool_cnn" in s for s in failed_sources), (
                f"the solved pool_cnn exercise is reported as failing:\n{text}")
            dialog.get_by_role("button", name="Ok").click()
            expect(dialog).to_have_count(0)

            # -- submit from the Assignment List
            page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Assignments").click()
            fetched.get_by_role("button", name="Submit").click()
            submitted = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first
            expect(submitted).to_be_visible()
            shot(page, "student_submitted")
            phase("submit")

            # -- instructor: collect and autograde (CLI), then the formgrader
            run([nbgrader, "db", "student", "add", student, "--first-name=Ada", "--last-name=Lovelace"],
                cwd=course, env=env, log=log)
            run([nbgrader, "collect", ASSIGNMENT], cwd=course, env=env, log=log)
            assert (course / "submitted" / student / ASSIGNMENT / NOTEBOOK).exists(), "collect found no submission"
            run([nbgrader, "autograde", ASSIGNMENT], cwd=course, env=env, log=log, timeout=240)
            phase("collect + autograde (CLI)")
            menu(page, "Nbgrader", "Formgrader")
            fg = page.frame_locator("#formgrader-iframe iframe")
            row = fg.locator("tr", has_text=ASSIGNMENT)
            expect(row).to_be_visible(timeout=60_000)
            count = row.locator("td.num-submissions")
            expect(count).to_have_text("1")
            shot(page, "formgrader_assignments")
            count.locator("a").click()
            sub_row = fg.locator("tbody tr").filter(has_text="graded")
            expect(sub_row).to_have_count(1, timeout=60_000)
            sub_text = sub_row.inner_text()
            shot(page, "formgrader_submissions")
            phase("formgrader")
            # Exercise 1 (3 points) solved; Exercises 2 and 3 (7 points) not
            assert "Lovelace, Ada" in sub_text and student in sub_text, sub_text
            assert "3 / 10" in sub_text, sub_text

    # -- the screenshots are real, non-blank PNGs
    for name in SCREENSHOTS:
        path = OUT / f"{name}.png"
        assert path.exists() and path.stat().st_size > 10_000, f"{path} missing or tiny"
        width, height, std = png_report(path)
        assert (width, height) == (1400, 1000), (path, width, height)
        assert std > 10, f"{path} looks blank (grey-level std {std:.1f})"
    phase("shutdown, screenshot checks")
    print(f"\nbrowser test: {time.perf_counter() - started:.0f} s; screenshots in {OUT}")
    print("\n".join(timings))


# ---- notebook 04: a digit drawn with the mouse -----------------------------------------------------
DRAW_NOTEBOOK = ROOT / "release" / "04_mnist" / "mnist.ipynb"
DRAW_OUT = OUT / "04_mnist"
#: The pad's own check cell: the copy of notebook 04 ends there (the sections after it are not needed).
PAD_CHECK = "# Check: the example went through the pad's mouse handlers"
#: Mouse paths in canvas pixels (the pad is 280 x 280): a 7 (bar, then the long diagonal) and a 1.
SEVEN = [(60, 50), (220, 50), (110, 240)]
ONE = [(140, 35), (140, 245)]


def draw_with_mouse(page, canvas, path) -> None:
    """Press at path[0], drag through the other points in small steps, release: real mouse events."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + path[0][0], box["y"] + path[0][1])
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    page.mouse.up()


def test_student_draws_a_digit_in_notebook_04(tmp_path):
    reason = _browser_missing()
    if reason:
        missing_tool(reason)
    from playwright.sync_api import expect, sync_playwright
    import nbformat
    import numpy as np
    from PIL import Image

    DRAW_OUT.mkdir(parents=True, exist_ok=True)
    for old in DRAW_OUT.glob("*.png"):
        old.unlink()
    log = DRAW_OUT / "jupyter.log"
    log.write_text("")
    course = tmp_path / "course"
    (course / "04_mnist").mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nb = nbformat.read(DRAW_NOTEBOOK, as_version=4)
    end = next(i for i, c in enumerate(nb.cells) if c.source.startswith(PAD_CHECK))
    nb.cells = nb.cells[:end + 1]
    nbformat.write(nb, course / "04_mnist" / "mnist.ipynb")

    with LabServer(course, lab_test_env(tmp_path), log) as server, sync_playwright() as pw:
        with lab_page(pw, server, tmp_path / "chromium-profile", DRAW_OUT / "failure.png") as page:
            page.goto(f"{server.url}/lab/tree/04_mnist/mnist.ipynb?token={server.token}")
            panel = page.locator(".jp-NotebookPanel:visible")
            expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text("Python (cnn-course)", timeout=90_000)
            expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                "data-status", "idle", timeout=90_000)
            menu(page, "Run", "Run All Cells")  # loads MNIST, trains the network, opens the pad

            # the pad, with its example stroke read as a 1 and the pad's check cell passed
            pad = panel.locator(".jp-OutputArea-output").filter(has=page.locator("canvas.mnist-drawing-pad"))
            canvas = pad.locator("canvas.mnist-drawing-pad")
            expect(canvas).to_be_visible(timeout=240_000)
            result = pad.locator(".widget-html")
            expect(result).to_contain_text("predicted: 1", timeout=60_000)
            expect(panel.locator(".jp-OutputArea-output", has_text="stroke of 21 points; predicted 1")
                   ).to_be_visible(timeout=60_000)
            expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                "data-status", "idle", timeout=60_000)
            errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            expect(errors).to_have_count(0)
            canvas.scroll_into_view_if_needed()

            for digit, path in ((7, SEVEN), (1, ONE)):
                pad.get_by_role("button", name="Clear").click()
                expect(result).to_contain_text("draw a digit")
                draw_with_mouse(page, canvas, path)
                expect(result).to_contain_text(f"predicted: {digit}", timeout=60_000)
                expect(pad.locator(".widget-output img")).to_have_count(1)  # the centred digit and probabilities
                print(f"drew a {digit}: the pad says {result.inner_text()!r}")
                pad.screenshot(path=str(DRAW_OUT / f"drawn_{digit}.png"))
                canvas.screenshot(path=str(DRAW_OUT / f"canvas_{digit}.png"))

    for digit in (7, 1):
        path = DRAW_OUT / f"drawn_{digit}.png"
        width, height, std = png_report(path)
        assert width > 500 and height > 250 and std > 10, (path, width, height, std)
        # the browser shows the strokes: the canvas is white where the mouse went, black elsewhere
        grey = np.asarray(Image.open(DRAW_OUT / f"canvas_{digit}.png").convert("L"), dtype=float)
        assert abs(grey.shape[0] - 280) <= 1 and abs(grey.shape[1] - 280) <= 1, grey.shape  # sub-pixel layout
        white = grey > 200
        assert 0.03 < white.mean() < 0.3, f"canvas_{digit}.png: {white.mean():.1%} of it is ink"
        for x, y in SEVEN if digit == 7 else ONE:
            assert white[y - 3:y + 4, x - 3:x + 4].all(), f"canvas_{digit}.png: no ink at ({x}, {y})"
    print(f"screenshots in {DRAW_OUT}")
