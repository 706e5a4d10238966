"""The static scan of student code: an AST walk of each solution or added cell (IPython magics included)
that reports constructs which tamper with grading rather than solve the exercise (the tables of what is
flagged and why: cnngrader/scan/rules.py): changing attributes of modules, classes and functions the tests
use (torch, numpy, cnnlib, builtins, importlib, sys, IPython, ...) by assignment, setattr/delattr or
reflection; shadowing the builtins and modules the tests read; sys.modules, __builtins__,
excepthook/displayhook, trace hooks, IPython hooks and magics, shell commands; raising
SystemExit/KeyboardInterrupt; exiting, killing, forking, threads, signals, ctypes, subprocesses, sockets;
exec/eval/compile; interpreter frames and the notebook's input history (which hold the hidden tests); fake
comparison or type-check methods; paths outside the submission's own folder; reading cnnlib.grading.

A cell of more than ``MAX_CELL_CHARS`` characters, or one nested too deeply for Python's parser or the
scan (``1+1+...`` 20,000 times), is not scanned: it is reported like tampering, since no answer needs it
and the kernel could not compile it either.

What a scan cannot do: see through obfuscation (strings built at run time, code downloaded or decoded).
That is what the sandboxed kernel and the runtime integrity guard are for.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from cnngrader.scan.rules import (ALLOWED_TARGETS, COURSE_ALIASES, COURSE_PATHS, EXITS, FAKE_DUNDERS,
                                  FORBIDDEN_ATTRS, FORBIDDEN_CALLS, FORBIDDEN_IMPORTS, FORBIDDEN_NAMES,
                                  FORBIDDEN_PREFIXES, FOREIGN_MODULES, GRADER_MODULE, HOSTILE_SHADOWS,
                                  MAX_CELL_CHARS, SAFE_CELL_MAGICS, SAFE_LINE_MAGICS)


@dataclass
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"



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


def cell_text(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    return "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src)


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
            tree = ast.parse(python_source(cell_text(cell)))
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
            tree = ast.parse(python_source(cell_text(cell)))
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
