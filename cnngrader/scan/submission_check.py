"""Sanitise a submitted notebook before grading, and scan the student's code for tampering.

    python -m cnngrader.scan.submission_check submitted/bob/05_exercises/exercises.ipynb   # what the scan finds

``sanitise()`` (used by python -m cnngrader for every submission) rebuilds the notebook on the released
one, so that whatever the student did to its structure, nbgrader grades the instructor's cells:

- every locked cell (setup, read-only code, tests) comes from release/ in the instructor's order; nbgrader
  then restores the hidden tests as usual. Deleted, edited, duplicated, moved or retyped locked cells
  change nothing;
- each solution cell takes the student's code (the last copy if the cell was duplicated, as nbgrader
  does; a solution cell turned into Markdown is code again); a deleted one is the released stub;
- cells the student added (and earlier copies of a duplicated solution cell) stay, after the instructor
  cell they followed; raw cells and outputs are dropped; a notebook that cannot be read is graded as
  handed in blank.

``scan()`` reads the student-written code (solution and added cells, IPython magics included) and
reports constructs that tamper with grading rather than solve the exercise: changing attributes of
modules, classes and functions the tests use (torch, numpy, cnnlib, builtins, importlib, sys, IPython,
...) by assignment, setattr/delattr or reflection; shadowing the builtins and modules the tests read;
sys.modules, __builtins__, excepthook/displayhook, trace hooks, IPython hooks and magics, shell commands;
raising SystemExit/KeyboardInterrupt; exiting, killing, forking, threads, signals, ctypes, subprocesses,
sockets; exec/eval/compile; interpreter frames and the notebook's input history (which hold the hidden
tests); fake comparison or type-check methods; paths outside the submission's own folder.

A flagged cell is not run: its code is replaced by a comment that says why (the student's code stays in
submitted/ for the manual review), and the graded cells of its exercise score 0 (``not_graded`` in the
notebook metadata, honoured by GuardedExecute). ``trust=True`` (``autograde.py --trust STUDENT``, after a
review found the code honest) runs the code as written.

Reading is bounded: ``read_regular`` never follows a symbolic link anywhere below the course's
``submitted/`` folder (the student folder, the assignment folder or the notebook), never opens a fifo,
device or socket, and reads at most ``MAX_NOTEBOOK_BYTES``; a notebook that is refused, is not UTF-8 JSON,
holds a lone surrogate or is nested too deeply is graded as handed in blank, with the reason. A cell of
more than ``MAX_CELL_CHARS`` characters, or one nested too deeply for Python's parser or the scan
(``1+1+...`` 20,000 times), is not scanned and not run: it is flagged like tampering (its exercise scores
0, the student is listed for review), since no answer needs it and the kernel could not compile it either.

What a scan cannot do: see through obfuscation (strings built at run time, code downloaded or decoded).
That is what the sandboxed kernel and the runtime integrity guard are for.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnngrader.constants import META

ROOT = Path(__file__).resolve().parents[2]
MAX_NOTEBOOK_BYTES = 50 * 2 ** 20
#: a longer cell is not scanned nor run (the longest answer of the course is under 3,000 characters; a
#: 6.6 MB cell took the scan 79 s and 1.1 GB)
MAX_CELL_CHARS = 100_000

#: modules whose attributes the tests and checks rely on (by their real dotted names)
FOREIGN_MODULES = ("torch", "numpy", "cnnlib", "builtins", "importlib", "sys", "os", "IPython", "ipykernel",
                   "math", "matplotlib", "inspect", "warnings", "functools", "types", "gc", "json", "hashlib",
                   "dataclasses", "operator", "traceback", "tqdm", "io", "contextlib", "random", "time", "pathlib",
                   "copy", "abc", "typing", "collections", "itertools", "re", "string", "unittest", "pytest",
                   "nbgrader", "nbformat", "jupyter_client", "zmq", "scipy", "PIL", "torchvision", "torchinfo")
#: harmless configuration a student may set on those modules
ALLOWED_TARGETS = ("torch.backends.", "matplotlib.rcParams", "matplotlib.pyplot.rcParams", "os.environ")
#: imports that have no place in an exercise and that tampering or escaping needs
FORBIDDEN_IMPORTS = {
    "ctypes": "ctypes (raw memory and C calls)", "cffi": "cffi (C calls)", "subprocess": "subprocess",
    "multiprocessing": "multiprocessing", "signal": "signal handlers", "pty": "pty", "socket": "sockets",
    "threading": "threads", "_thread": "threads", "asyncio": "asyncio", "atexit": "exit hooks",
    "gc": "the garbage collector's object lists", "builtins": "the builtins module", "sqlite3": "databases",
    "psycopg2": "databases", "sqlalchemy": "databases", "nbgrader": "nbgrader", "nbformat": "nbformat",
    "nbclient": "nbclient", "jupyter_client": "jupyter_client", "ipykernel": "ipykernel", "zmq": "zmq",
    "urllib": "the network", "http": "the network", "requests": "the network", "ftplib": "the network",
    "smtplib": "the network", "code": "interpreter internals", "codeop": "interpreter internals",
    "marshal": "code objects", "unittest.mock": "mocking", "mock": "mocking", "pytest": "pytest (monkeypatch)",
    "importlib.machinery": "the import machinery", "importlib.abc": "the import machinery",
    "resource": "resource limits", "fcntl": "file locks", "mmap": "memory maps", "shutil": "file operations",
    "IPython.core": "IPython internals", "sys.monitoring": "interpreter hooks",
    "cnnlib.grading": "the grader's checks (their reference answers are for the test cells only)",
}
GRADER_MODULE = "cnnlib.grading"
#: calls that end or escape the kernel, or run code the scan cannot see (dotted, after alias resolution)
FORBIDDEN_CALLS = {
    "os._exit": "exits the kernel", "os.abort": "aborts the kernel", "os.kill": "sends signals",
    "os.killpg": "sends signals", "os.fork": "forks", "os.forkpty": "forks", "os.system": "runs shell commands",
    "os.popen": "runs shell commands", "os.setsid": "detaches processes", "os.chdir": "changes folder",
    "os.remove": "deletes files", "os.unlink": "deletes files", "os.rmdir": "deletes folders",
    "os.rename": "moves files", "os.replace": "moves files", "os.chmod": "changes permissions",
    "os.walk": "walks the file system", "os.listdir": "lists folders", "os.scandir": "lists folders",
    "sys.exit": "exits", "exit": "exits", "quit": "exits", "exec": "runs code built at run time",
    "eval": "runs code built at run time", "compile": "compiles code at run time",
    "__import__": "imports by name at run time", "importlib.import_module": "imports by name at run time",
    "sys._getframe": "inspects interpreter frames", "inspect.currentframe": "inspects interpreter frames",
    "inspect.stack": "inspects interpreter frames", "inspect.getouterframes": "inspects interpreter frames",
    "inspect.trace": "inspects interpreter frames", "sys.settrace": "installs a trace function",
    "sys.setprofile": "installs a profile function", "sys.addaudithook": "installs an audit hook",
    "sys.setrecursionlimit": "changes interpreter limits", "glob.glob": "lists folders",
    "torch.nn.modules.module.register_module_forward_hook": "installs a global forward hook",
    "torch.nn.modules.module.register_module_forward_pre_hook": "installs a global forward hook",
    "torch.nn.modules.module.register_module_full_backward_hook": "installs a global hook",
}
FORBIDDEN_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn", "os.set", "signal.", "ctypes.", "subprocess.",
                      "multiprocessing.", "threading.", "_thread.", "gc.", "socket.", "atexit.", "sys.monitoring.")
#: names whose mere use means reaching into the interpreter or the notebook's history (hidden tests)
FORBIDDEN_NAMES = {"__builtins__": "the builtins namespace", "__import__": "dynamic imports",
                   "_ih": "the notebook's input history", "_oh": "the output history", "In": "the input history",
                   "Out": "the output history", "_i": "the input history", "_ii": "the input history",
                   "_iii": "the input history", "__loader__": "the import machinery", "__spec__": "module specs"}
FORBIDDEN_ATTRS = {"modules": "sys.modules", "meta_path": "the import machinery", "path_hooks": "the import machinery",
                   "excepthook": "the exception hook", "displayhook": "the display hook",
                   "f_back": "interpreter frames", "f_globals": "interpreter frames", "f_locals": "interpreter frames",
                   "f_builtins": "interpreter frames", "f_code": "interpreter frames", "gi_frame": "interpreter frames",
                   "cr_frame": "interpreter frames", "tb_frame": "interpreter frames",
                   "__globals__": "function internals", "__code__": "function internals",
                   "__closure__": "function internals", "__subclasses__": "class internals", "__mro__": "class internals",
                   "__bases__": "class internals", "__dict__": "object internals", "__defaults__": "function internals",
                   "__kwdefaults__": "function internals", "__builtins__": "the builtins namespace",
                   "_getframe": "interpreter frames", "showtraceback": "IPython's error display",
                   "_showtraceback": "IPython's error display", "showsyntaxerror": "IPython's error display",
                   "set_custom_exc": "IPython's error handling", "run_cell": "IPython's cell execution",
                   "run_cell_async": "IPython's cell execution", "run_code": "IPython's cell execution",
                   "run_ast_nodes": "IPython's cell execution", "events": "IPython's event hooks",
                   "input_transformers_post": "IPython's input transformers",
                   "input_transformers_cleanup": "IPython's input transformers",
                   "ast_transformers": "IPython's AST transformers", "user_ns": "the notebook namespace",
                   "user_global_ns": "the notebook namespace", "kernel": "the kernel",
                   "register_magic_function": "IPython magics", "_global_forward_hooks": "torch's global hooks"}
#: special methods that let an object fake comparisons, type checks or attribute lookups
FAKE_DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__index__",
                "__int__", "__float__", "__instancecheck__", "__subclasscheck__", "__subclasshook__",
                "__getattribute__", "__class__", "__del__", "__torch_function__", "__torch_dispatch__",
                "__array_function__", "__array_ufunc__", "__init_subclass__", "__set_name__", "__prepare__"}
EXITS = {"SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseException"}
SAFE_LINE_MAGICS = {"matplotlib", "time", "timeit", "who", "whos", "pinfo", "pinfo2", "precision", "pprint",
                    "lsmagic", "magic", "page", "pdoc", "pdef", "psource"}
SAFE_CELL_MAGICS = {"time", "timeit", "capture", "markdown", "html", "latex", "svg"}
#: shadowing these builtins is tampering (the guard also moves any shadowing name away while tests run)
HOSTILE_SHADOWS = {"isinstance", "issubclass", "print", "len", "any", "all", "getattr", "hasattr", "callable",
                   "repr", "AssertionError", "Exception", "BaseException", "__import__", "exec", "eval", "vars",
                   "globals", "id", "object", "super", "open"}
#: module aliases the course's locked cells define (setup cell), used when a cell does not import them itself
COURSE_ALIASES = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "np": "numpy", "plt": "matplotlib.pyplot",
                  "mpl": "matplotlib", "data": "cnnlib.data", "models": "cnnlib.models", "plots": "cnnlib.plots",
                  "train": "cnnlib.train", "checks": "cnnlib.checks", "grading": "cnnlib.grading", "_g": "cnnlib.grading",
                  "cnnlib": "cnnlib", "importlib": "importlib", "inspect": "inspect", "math": "math", "sys": "sys",
                  "os": "os", "builtins": "builtins", "IPython": "IPython", "get_ipython": "IPython.get_ipython"}
COURSE_PATHS = re.compile(r"(^|/)(source|submitted|autograded|feedback|release|tests|scripts|\.pg|\.git)(/|$)|"
                          r"gradebook|\.ipynb\b|^(/|~)|\.\./")


@dataclass
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


# ------------------------------------------------------------------------------------------------
# the scan


def python_source(cell_source: str) -> str:
    """The cell as the kernel would run it (IPython magics and ``!`` commands made explicit)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(cell_source)
    except Exception:  # noqa: BLE001 (without IPython: plain Python)
        return cell_source


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name (subscripts and calls end it)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def root_of(node: ast.AST) -> ast.AST:
    """The expression an attribute/subscript/call chain starts from."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def chain_attrs(node: ast.AST) -> list[str]:
    out = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        if isinstance(node, ast.Attribute):
            out.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    return out


class Scanner(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str], protected_names: set[str]):
        self.aliases = dict(aliases)       # local name -> real dotted module (or object) name
        self.expected = dict(aliases)      # what the instructor's cells bind those names to
        self.protected_names = protected_names
        self.findings: list[Finding] = []
        self.depth = 0                     # function nesting (module-level bindings matter for shadowing)
        self.globals_declared: set[str] = set()

    def flag(self, node: ast.AST, what: str) -> None:
        f = Finding(getattr(node, "lineno", 0), what)
        if not any(x.line == f.line and x.what == f.what for x in self.findings):
            self.findings.append(f)

    def resolve(self, name: str | None) -> str | None:
        """A dotted name with its first part replaced by the module it is an alias of."""
        if not name:
            return None
        head, _, rest = name.partition(".")
        real = self.aliases.get(head)
        return (real + ("." + rest if rest else "")) if real else name

    def is_foreign(self, resolved: str | None) -> bool:
        return bool(resolved) and resolved.split(".")[0] in FOREIGN_MODULES

    # -- imports -----------------------------------------------------------------------------------
    def _check_import(self, node: ast.AST, module: str) -> None:
        for bad, why in FORBIDDEN_IMPORTS.items():
            if module == bad or module.startswith(bad + "."):
                self.flag(node, f"imports {module} ({why})")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import(node, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            real = alias.name if alias.asname else alias.name.split(".")[0]
            self._bind(node, local, real)
            self.aliases[local] = real

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        self._check_import(node, module)
        for alias in node.names:
            self._check_import(node, f"{module}.{alias.name}")
            if alias.name == "*":
                if module.split(".")[0] in FOREIGN_MODULES:
                    self.flag(node, f"imports everything from {module} over the notebook's names")
                continue
            local = alias.asname or alias.name
            self._bind(node, local, f"{module}.{alias.name}")
            self.aliases[local] = f"{module}.{alias.name}"

    # -- bindings: shadowing what the tests read ---------------------------------------------------
    def _bind(self, node: ast.AST, name: str, real: str | None = None) -> None:
        if self.depth and name not in self.globals_declared:
            return
        if name in self.protected_names:
            # re-importing what the instructor's cells import under that name (`import scipy`, `import
            # numpy as np`) binds the same object: harmless
            if real is not None and real == self.expected.get(name, name):
                return
            self.flag(node, f"rebinds `{name}`, which the tests use")

    def _bind_target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._bind(target, target.id)
            self.aliases.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            self._check_store(target)

    def _check_store(self, target: ast.AST) -> None:
        """An assignment/deletion to ``x.attr`` or ``x[...]``: tampering when x is library code."""
        root = root_of(target)
        attrs = chain_attrs(target)
        name = dotted(target) if isinstance(target, ast.Attribute) else dotted(target.value) if \
            isinstance(target, ast.Subscript) else None
        resolved = self.resolve(name)
        dunders = [a for a in attrs if a.startswith("__") and a.endswith("__")]
        if dunders:
            self.flag(target, f"changes the special attribute `{dunders[-1]}`")
            return
        if isinstance(root, ast.Call):
            func = self.resolve(dotted(root.func)) or ""
            self.flag(target, f"changes attributes of an object reached through `{func or 'a call'}()`")
            return
        if isinstance(root, ast.Name):
            base = self.resolve(root.id) or root.id
            if base.split(".")[0] in FOREIGN_MODULES or root.id in self.protected_names:
                full = resolved or base
                if any(full.startswith(a) for a in ALLOWED_TARGETS):
                    if full.startswith("os.environ") and "CNNLIB" in ast.unparse(target):
                        self.flag(target, "changes the grader's CNNLIB_* settings")
                    return
                self.flag(target, f"changes `{full}` (library code the tests use)")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._bind_target(t)
        # `ip = get_ipython()`, `t = torch`, `m = __import__("torch")`: the name is that object from now on
        value = node.value
        real = None
        if isinstance(value, ast.Call):
            func = self.resolve(dotted(value.func)) or ""
            if func.endswith("get_ipython"):
                real = "IPython.shell"
            elif func in ("__import__", "importlib.import_module") and value.args and \
                    isinstance(value.args[0], ast.Constant):
                real = str(value.args[0].value)
        else:
            resolved = self.resolve(dotted(value))
            if resolved and (resolved.split(".")[0] in FOREIGN_MODULES or resolved.startswith("IPython")):
                real = resolved
        if real:
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.aliases[t.id] = real
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind_target(node.target)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if isinstance(t, (ast.Attribute, ast.Subscript)):
                self._check_store(t)
            elif isinstance(t, ast.Name) and t.id in self.protected_names:
                self.flag(t, f"deletes `{t.id}`, which the tests use")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._bind_target(node.target)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_Global(self, node: ast.Global) -> None:
        self.globals_declared |= set(node.names)

    def _scope(self, node: ast.AST, name: str) -> None:
        self._bind(node, name)
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        self.depth += 1
        saved = set(self.globals_declared)
        for child in ast.iter_child_nodes(node):
            if child not in getattr(node, "decorator_list", []):
                self.visit(child)
        self.globals_declared = saved
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for kw in node.keywords:
            if kw.arg == "metaclass":
                self.flag(node, f"class {node.name} sets a metaclass")
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in FAKE_DUNDERS:
                self.flag(item, f"class {node.name} defines {item.name}, which can fake comparisons or type checks")
            if isinstance(item, ast.Assign):
                for t in item.targets:
                    if isinstance(t, ast.Name) and t.id in FAKE_DUNDERS:
                        self.flag(item, f"class {node.name} sets {t.id}, which can fake comparisons or type checks")
        self._scope(node, node.name)

    # -- uses ---------------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES or re.fullmatch(r"_i\d+|_\d+", node.id):
            self.flag(node, f"uses `{node.id}` ({FORBIDDEN_NAMES.get(node.id, 'the notebook history')})")
        elif isinstance(node.ctx, ast.Load) and (self.resolve(node.id) or "").startswith(GRADER_MODULE):
            self._flag_grader_use(node, node.id)

    def _flag_grader_use(self, node: ast.AST, text: str) -> None:
        """Reading cnnlib.grading: one finding per cell (none after its import was flagged), so that the
        reasons shown stay the distinct ones."""
        if not any(GRADER_MODULE in f.what for f in self.findings):
            self.flag(node, f"uses `{text}` ({GRADER_MODULE}: {FORBIDDEN_IMPORTS[GRADER_MODULE]})")

    #: attributes that are everyday names on other objects (``net.modules()``, ``layer.kernel_size``):
    #: flagged only on the interpreter, IPython or sys
    CONTEXTUAL = {"modules", "kernel", "events", "run_cell", "run_code", "user_ns", "user_global_ns", "displayhook",
                  "excepthook"}

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self.resolve(dotted(node)) or ""
        if (full == GRADER_MODULE or full.startswith(GRADER_MODULE + ".")) and isinstance(node.ctx, ast.Load):
            self._flag_grader_use(node, ast.unparse(node))
            return
        if node.attr in FORBIDDEN_ATTRS:
            base = self.resolve(dotted(node.value)) or ""
            text = ast.unparse(node.value)
            special = base.split(".")[0] in ("sys", "IPython", "builtins", "torch", "ipykernel") or "get_ipython" in text
            if node.attr not in self.CONTEXTUAL or special:
                self.flag(node, f"reaches into {FORBIDDEN_ATTRS[node.attr]} (`.{node.attr}`)")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = self.resolve(dotted(exc)) if exc is not None else None
        if name and name.split(".")[-1] in EXITS:
            self.flag(node, f"raises {name.split('.')[-1]}, which nbgrader's tests cannot catch as a failure")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = self.resolve(dotted(node.func))
        if isinstance(node.func, ast.Attribute):
            owner = self.resolve(dotted(node.func.value)) or ast.unparse(node.func.value)
            if node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput", "magic") and \
                    ("get_ipython" in owner or owner.startswith("IPython")):
                self._check_magic(node, node.func.attr)
            if node.func.attr in ("register", "unregister") and owner.endswith("events"):
                self.flag(node, "registers an IPython event hook")
        if func:
            why = FORBIDDEN_CALLS.get(func)
            if why is None and func.startswith(FORBIDDEN_PREFIXES):
                why = "uses " + func.split(".")[0]
            if why:
                self.flag(node, f"calls {func}() ({why})")
            if func in ("setattr", "delattr", "object.__setattr__", "type.__setattr__", "object.__delattr__"):
                target = node.args[0] if node.args else None
                attr = node.args[1] if len(node.args) > 1 else None
                root = root_of(target) if target is not None else None
                base = self.resolve(root.id) if isinstance(root, ast.Name) else None
                dunder = isinstance(attr, ast.Constant) and isinstance(attr.value, str) and attr.value.startswith("__")
                if dunder or isinstance(root, ast.Call) or (base and (base.split(".")[0] in FOREIGN_MODULES or
                                                                     root.id in self.protected_names)):
                    self.flag(node, f"{func}() on library code or special attributes")
            if func in ("open", "pathlib.Path", "Path", "io.open", "numpy.load", "torch.load", "torch.save",
                        "numpy.save", "os.open"):
                self._check_paths(node)
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and COURSE_PATHS.search(arg.value) \
                    and "/" in arg.value:
                self.flag(node, f"uses the path {arg.value!r} (outside its own folder)")
        self.generic_visit(node)

    def _check_paths(self, node: ast.Call) -> None:
        for arg in node.args[:1]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and COURSE_PATHS.search(arg.value):
                self.flag(node, f"opens {arg.value!r} (outside its own folder)")

    def _check_magic(self, node: ast.Call, kind: str) -> None:
        name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
        arg = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
        if kind in ("system", "getoutput"):
            self.flag(node, "runs a shell command (!)")
        elif kind == "run_line_magic" and name not in SAFE_LINE_MAGICS and not (
                name == "config" and str(arg).startswith("InlineBackend")):
            self.flag(node, f"uses the %{name} magic")
        elif kind == "run_cell_magic" and name not in SAFE_CELL_MAGICS:
            self.flag(node, f"uses the %%{name} magic")


def scan(cell_source: str, aliases: dict[str, str] | None = None,
         protected_names: set[str] | None = None) -> list[Finding]:
    """Tampering constructs in one cell of student code (``[]``: none)."""
    return NotebookScanner(aliases, protected_names).scan(cell_source)


class NotebookScanner:
    """Scans the student cells of one notebook in order: imports and aliases carry from cell to cell."""

    def __init__(self, aliases: dict[str, str] | None = None, protected_names: set[str] | None = None):
        self.scanner = Scanner(COURSE_ALIASES if aliases is None else aliases,
                               default_protected() if protected_names is None else protected_names)

    def scan(self, cell_source: str) -> list[Finding]:
        if len(cell_source) > MAX_CELL_CHARS:
            return [Finding(1, f"the cell holds {len(cell_source):,} characters, more than the {MAX_CELL_CHARS:,} "
                               f"the grader scans: not run")]
        self.scanner.findings = []
        try:
            tree = ast.parse(python_source(cell_source))
            self.scanner.visit(tree)
        except SyntaxError:
            return []  # the kernel refuses it as well: a SyntaxError, like any wrong answer
        except (RecursionError, MemoryError) as err:  # the kernel's compiler would fail the same way
            return [Finding(1, f"the code is nested too deeply to be scanned ({type(err).__name__}): not run")]
        return sorted(self.scanner.findings, key=lambda f: f.line)


def course_aliases_for(source_nb: dict) -> dict[str, str]:
    """COURSE_ALIASES and the names the instructor's (non-solution) code cells of ``source_nb`` import."""
    aliases = dict(COURSE_ALIASES)
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or meta.get("solution"):
            continue
        try:
            tree = ast.parse(python_source(_text(cell)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def default_protected() -> set[str]:
    return set(HOSTILE_SHADOWS) | {"torch", "nn", "get_ipython"}


def names_tests_read(source_nb: dict) -> set[str]:
    """Names that graded cells of the source notebook (hidden tests included) read without defining them
    themselves, except the answers the students are asked to define (names assigned in solution cells)."""
    read, answers = set(), set()
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(python_source(_text(cell)))
        except SyntaxError:
            continue
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        stored |= {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in n.names}
        stored |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if meta.get("solution"):
            answers |= stored
        elif meta.get("grade"):
            read |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - stored
    return read - answers


def protected_names_for(source_nb: dict) -> set[str]:
    """What a student may not rebind at module level: the modules and helpers the tests read, and the
    builtins whose shadowing is clearly tampering (the data the tests check, such as ``net``, may be
    rebuilt by the student)."""
    import builtins

    read = names_tests_read(source_nb)
    return ({n for n in read if not hasattr(builtins, n)} - {"net", "mnist", "device", "data", "X", "y"}) | \
        {n for n in read if n in HOSTILE_SHADOWS} | default_protected()


# ------------------------------------------------------------------------------------------------
# rebuilding the notebook


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src)


def _gid(cell: dict) -> str | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int, trusted: Path | None = None) -> tuple[bytes | None, str]:
    """The bytes of the regular file ``path``, or (None, why not). Every component below ``trusted`` (default:
    the file's own folder) is opened relative to its parent with O_NOFOLLOW: a symbolic link anywhere
    there is refused, not followed; a fifo, device or socket is refused from its lstat, never opened
    (O_NONBLOCK in case it is swapped in between); a file over ``limit`` bytes is refused unread."""
    trusted = path.parent if trusted is None else trusted
    parts = path.relative_to(trusted).parts
    fds: list[int] = []
    try:
        fds.append(os.open(trusted, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for i, part in enumerate(parts):
            shown, last = "/".join((trusted.name, *parts[:i + 1])), i == len(parts) - 1
            st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                return None, f"{shown} is a symbolic link (not followed: hand in the file itself)"
            if not last and not stat.S_ISDIR(st.st_mode):
                return None, f"{shown} is not a folder but {_kind(st.st_mode)}"
            if last and not stat.S_ISREG(st.st_mode):
                return None, f"{shown} is {_kind(st.st_mode)}, not a regular file"
            if last and st.st_size > limit:
                return None, f"{shown} is larger than {limit:,} bytes"
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            fds.append(os.open(part, flags, dir_fd=fds[-1]))
        if not stat.S_ISREG(os.fstat(fds[-1]).st_mode):
            return None, f"{path.name} is not a regular file"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fds[-1], min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, f"{path.name} is larger than {limit:,} bytes"
        return b"".join(chunks), ""
    except OSError as err:
        return None, f"{path.name} cannot be opened ({err.strerror or type(err).__name__})"
    finally:
        for fd in fds:
            os.close(fd)


def load_submission(path: Path, trusted: Path | None = None) -> tuple[dict | None, str]:
    """The submitted notebook as JSON, or (None, why not); read with ``read_regular`` (links below
    ``trusted`` refused, size capped)."""
    data, why = read_regular(path, MAX_NOTEBOOK_BYTES, trusted)
    if data is None:
        return None, f"the notebook cannot be read: {why}"
    try:
        nb = json.loads(data.decode("utf-8"))
        json.dumps(nb, ensure_ascii=False).encode("utf-8")  # a lone surrogate (JSON "\\ud800") cannot be written as UTF-8
    except (UnicodeError, ValueError, RecursionError, MemoryError) as err:
        return None, f"the notebook cannot be read ({type(err).__name__}: {str(err)[:100]})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "the file is not a Jupyter notebook"
    return nb, ""


def exercises(source_nb: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(solution cell -> the graded cells that follow it up to the next solution cell,
    every cell id -> the solution cell of its exercise (cells before the first: the first exercise))."""
    grades: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    ids = [(_gid(c), c.get("metadata", {}).get("nbgrader", {})) for c in source_nb["cells"]]
    solutions = [gid for gid, meta in ids if meta.get("solution") and not meta.get("grade")]
    current = solutions[0] if solutions else None
    for gid, meta in ids:
        if gid is None:
            continue
        if meta.get("solution") and not meta.get("grade"):
            current = gid
            grades.setdefault(gid, [])
        elif meta.get("grade") and current is not None:
            grades.setdefault(current, []).append(gid)
        if current is not None:
            owner[gid] = current
    return grades, owner


def neutralised(findings: list[Finding]) -> str:
    lines = ["# [autograder] This cell was not run: its code tampers with the grading or escapes the notebook:"]
    lines += [f"#   {f}" for f in findings[:10]]
    if len(findings) > 10:
        lines.append(f"#   ... and {len(findings) - 10} more")
    lines += ["# Your code is kept as you submitted it, for the instructor's review.",
              'raise RuntimeError("not run by the autograder: see the comment at the top of this cell")']
    return "\n".join(lines)


@dataclass
class Report:
    readable: bool = True
    notes: list[str] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)   # cell label -> findings
    flagged_exercises: dict[str, str] = field(default_factory=dict)  # solution cell id -> reason
    not_graded: dict[str, str] = field(default_factory=dict)        # grade cell id -> reason
    trusted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def sanitise(submitted: dict | None, release_nb: dict, source_nb: dict, trust: bool = False) -> tuple[dict, Report]:
    """The notebook nbgrader should grade (see the module docstring), and what was found."""
    report = Report(trusted=trust)
    out = copy.deepcopy(release_nb)
    release_ids = [_gid(c) for c in release_nb["cells"]]
    solution_ids = {_gid(c) for c in release_nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                    and not c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    grades_of, owner = exercises(source_nb)
    if submitted is None:
        report.readable = False
        submitted = {"cells": []}
    cells = [c for c in submitted["cells"] if isinstance(c, dict)]

    last = {}
    for i, cell in enumerate(cells):
        gid = _gid(cell)
        if gid in release_ids:
            last[gid] = i
    answers: dict[str, str] = {}
    extras: dict[str | None, list[dict]] = {}
    anchor: str | None = None
    n_extra = 0
    for i, cell in enumerate(cells):
        gid = _gid(cell)
        kind = cell.get("cell_type")
        text = _text(cell)
        if gid in release_ids:
            if gid in solution_ids and last[gid] == i:
                answers[gid] = text
                anchor = gid
                continue
            if gid not in solution_ids:
                if last[gid] == i:
                    anchor = gid
                elif text.strip():
                    report.notes.append(f"a copy of the locked cell {gid} was dropped")
                continue
        if kind not in ("code", "markdown") or (kind == "markdown" and not text.strip()):
            continue
        n_extra += 1
        new = {"cell_type": kind, "id": f"student-added-{n_extra}", "metadata": {}, "source": text}
        if kind == "code":
            new.update(execution_count=None, outputs=[])
        extras.setdefault(anchor, []).append(new)

    scanner = NotebookScanner(course_aliases_for(source_nb), protected_names_for(source_nb))
    rebuilt = list(extras.get(None, []))
    for cell in out["cells"]:
        cell.pop("attachments", None)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        gid = _gid(cell)
        if gid in answers:
            cell["source"] = answers[gid]
            cell["cell_type"] = "code"
        rebuilt.append(cell)
        rebuilt.extend(extras.get(gid, []))
    # anchor of each added cell: the instructor cell before it
    current = None
    for cell in rebuilt:
        gid = _gid(cell)
        if gid is not None:
            current = gid
            if gid not in solution_ids:
                continue
        elif cell.get("cell_type") != "code":
            continue
        label = gid or f"a cell you added (after {current or 'the top'})"
        if gid is None and cell.get("cell_type") == "code" and not _text(cell).strip():
            continue
        try:
            findings = scanner.scan(_text(cell))
        except Exception as err:  # noqa: BLE001 (a scan that fails must not run the cell unseen)
            findings = [Finding(1, f"the scan failed ({type(err).__name__}): not run")]
        if not findings:
            continue
        exercise = owner.get(gid or current) or next(iter(grades_of), None)
        report.findings[label] = [str(f) for f in findings]
        if trust:
            continue
        cell["source"] = neutralised(findings)
        shown = "; ".join(map(str, findings[:5])) + (f"; and {len(findings) - 5} more" if len(findings) > 5 else "")
        reason = f"the code of this exercise ({label}) was not run and scores 0: {shown}; flagged for manual review"
        if exercise is not None:
            report.flagged_exercises.setdefault(exercise, reason)
            for g in grades_of.get(exercise, []):
                report.not_graded.setdefault(g, reason)
    out["cells"] = rebuilt
    if not report.readable:
        report.notes.append("the submitted notebook could not be read: graded as handed in blank")
    out.setdefault("metadata", {})[META] = {"not_graded": report.not_graded}
    return out, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", type=Path, nargs="+")
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder with source/ and release/")
    args = ap.parse_args(argv)
    flagged = 0
    for path in args.notebook:
        assignment = path.resolve().parent.name
        release_nb = json.loads((args.root / "release" / assignment / path.name).read_text())
        source_nb = json.loads((args.root / "source" / assignment / path.name).read_text())
        nb, reason = load_submission(path)
        _, report = sanitise(nb, release_nb, source_nb)
        print(f"{path}: {'flagged' if report.findings else 'nothing found'}{'; ' + reason if reason else ''}")
        for label, items in report.findings.items():
            print(f"  {label}:")
            for item in items:
                print(f"    {item}")
        flagged += bool(report.findings)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
