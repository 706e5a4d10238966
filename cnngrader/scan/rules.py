"""What the scan of student code flags (cnngrader/scan/scanner.py walks the code; these tables say what
tampers with grading rather than solves an exercise, and why)."""
from __future__ import annotations

import re

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
