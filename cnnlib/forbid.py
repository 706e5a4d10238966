"""Run a student's function in a test and fail if it called what its exercise forbids.

Judged by behaviour, not by spelling: while the function runs, a profile hook (``sys.setprofile``) sees
every Python and C call, and a ``TorchFunctionMode`` every torch operation, so a forbidden function is
caught whatever name reached it (``np.convolve``, ``from numpy import convolve as c``,
``import scipy.signal as ss``, ``getattr(np, "convolve")``)::

    from cnnlib import forbid
    y, problem = forbid.run(my_conv1d, x, w, padding=2, case="padding=2",
                            forbidden=("numpy.convolve", "scipy", "torch", "cnnlib.conv"))
    assert problem is None, problem

A forbidden name is a module (``"scipy"``, ``"cnnlib.conv"``: any function defined in it or below it) or
one function (``"numpy.convolve"``, ``"cnnlib.shapes.conv_output_size"``). ``run`` also turns an
exception of the student's code into a message that names the case and the student's line, reports an
array or list argument the function modified, and sends what the function writes to stderr to stdout
(nbgrader scores a test cell with stderr output 0). The profiler and torch modes in place before are restored in
every case, so the grading kernel's integrity guard (cnngrader/sandbox/kernel_guard.py) sees nothing changed.
"""
from __future__ import annotations

import contextlib
import copy
import dis
import importlib
import sys
import traceback
import types
import warnings

import numpy as np


def _resolve(name: str):
    """(module prefix, None) for a module name, (None, code objects and the object) for a function."""
    try:
        importlib.import_module(name)
        return name, None
    except ImportError:
        pass
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"forbidden name {name!r} is neither a module nor a function of one") from err
    targets, keep, seen = set(), [], obj
    while seen is not None and id(seen) not in targets:  # numpy's dispatchers and functools.wraps keep
        targets.add(id(seen))                             # the real function underneath
        keep.append(seen)
        code = getattr(seen, "__code__", None)
        if code is not None:
            targets.add(id(code))
            keep.append(code)
            for kernel in _kernels(seen):  # np.convolve is multiarray.correlate underneath: that is forbidden too
                targets.add(id(kernel))
                keep.append(kernel)
        seen = getattr(seen, "__wrapped__", None) or getattr(seen, "_implementation", None)
    return None, (targets, keep)  # kept alive, so that no other object can take one of these ids


def _kernels(func) -> list:
    """The C functions a Python function calls as ``module.name`` (``multiarray.correlate`` in
    ``np.convolve``): calling one directly is calling the forbidden function without its wrapper."""
    found, module = [], None
    try:
        instructions = list(dis.get_instructions(func))
    except TypeError:
        return found
    for ins in instructions:
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and module is not None:
            obj = getattr(module, ins.argval, None)
            if isinstance(obj, types.BuiltinFunctionType):
                found.append(obj)
        value = func.__globals__.get(ins.argval) if ins.opname == "LOAD_GLOBAL" else None
        module = value if isinstance(value, types.ModuleType) else None
    return found


def _in(module: str | None, prefix: str) -> bool:
    return isinstance(module, str) and (module == prefix or module.startswith(prefix + "."))


class Watch:
    """What the code run inside :func:`watch` called of ``forbidden``: ``hits`` maps each forbidden name
    it reached to the first function through which it did."""

    def __init__(self, forbidden):
        self.forbidden = tuple(forbidden)
        self.hits: dict[str, str] = {}
        self._prefixes, self._ids, self._keep = [], {}, []
        for name in self.forbidden:
            prefix, found = _resolve(name)
            if prefix is not None:
                self._prefixes.append(prefix)
            else:
                ids, keep = found
                self._ids.update(dict.fromkeys(ids, name))
                self._keep += keep

    def _hit(self, name: str, where: str) -> None:
        self.hits.setdefault(name, where)

    def _check(self, module, qualname, key) -> None:
        name = self._ids.get(key)
        if name is not None:
            self._hit(name, qualname)
        for prefix in self._prefixes:
            if _in(module, prefix):
                self._hit(prefix, f"{module}.{qualname}")

    def profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_name == "<module>":  # a module run by its first import: no function of it called
                return
            self._check(frame.f_globals.get("__name__"), code.co_qualname, id(code))
        elif event == "c_call":
            try:
                module = getattr(arg, "__module__", None)
                owner = getattr(arg, "__self__", None)
                if module is None and isinstance(owner, types.ModuleType):
                    module = owner.__name__
                self._check(module, getattr(arg, "__qualname__", repr(arg)), id(arg))
            except Exception:  # noqa: BLE001 (a C callable with odd attributes is simply not forbidden)
                pass



@contextlib.contextmanager
def watch(forbidden):
    """Record calls into ``forbidden`` made inside the block; yields the :class:`Watch`."""
    w = Watch(forbidden)
    previous = sys.getprofile()
    with contextlib.ExitStack() as modes:
        if "torch" in w._prefixes:  # tensor methods and operators: torch ops that are no call into torch
            modes.enter_context(_torch_recorder(w))
        hook = w.profile  # one bound method, so that it can be recognised afterwards
        sys.setprofile(hook)
        try:
            yield w
        finally:
            if sys.getprofile() is not hook:  # switched off from inside: nothing it did was seen
                w._hit("sys.setprofile", "the watch on calls was switched off")
            sys.setprofile(previous)


def torch_mode(on_call):
    """A ``TorchFunctionMode`` that calls ``on_call(func)`` for every torch operation run inside it (also
    tensor methods and operators, which are no Python call into torch), then runs the operation."""
    from torch.overrides import TorchFunctionMode

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            on_call(func)
            return func(*args, **(kwargs or {}))

    return Record()


def _torch_recorder(w: Watch):
    return torch_mode(lambda func: w._hit("torch", getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))))


def _snapshot(value):
    if isinstance(value, (np.ndarray, list, tuple, dict)):
        try:
            return copy.deepcopy(value)
        except Exception:  # noqa: BLE001 (nothing to compare then)
            return None
    return None


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and np.array_equal(before, after, equal_nan=True))
    return type(before) is type(after) and before == after


def _where(error: BaseException, fn) -> str:
    """`` (line N: code)`` of the deepest frame of the traceback in the file that defines ``fn``."""
    filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (line {frame.lineno}: {frame.line.strip()})" if frame.line else f" (line {frame.lineno})"


def run(fn, *args, case: str, forbidden=(), **kwargs):
    """``(fn(*args, **kwargs), None)``, or ``(None, problem)``: a message naming ``case`` if ``fn`` raised,
    called anything of ``forbidden`` or modified an array or list argument. A test cell asserts on the
    problem itself, so its traceback ends in the test, not in this module or the student's stack."""
    name = getattr(fn, "__name__", "your function")
    before = [(i, _snapshot(a)) for i, a in enumerate(args)] + [(k, _snapshot(a)) for k, a in kwargs.items()]
    error, result = None, None
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        with watch(forbidden) as w:
            try:
                result = fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 (reported as a message, without the traceback)
                error = err
    if w.hits:
        used = ", ".join(f"{rule} ({where})" if where != rule.rpartition(".")[2] else rule
                         for rule, where in w.hits.items())
        return None, (f"{case}: {name} called {used}, which this exercise does not allow "
                      f"(not allowed: {', '.join(forbidden)})")
    if error is not None:
        text = f": {error}" if str(error) else ""
        return None, f"{case}: {name} raised {type(error).__name__}{text}{_where(error, fn)}"
    for key, old in before:
        new = args[key] if isinstance(key, int) else kwargs[key]
        if old is not None and not _unchanged(old, new):
            which = f"argument {key + 1}" if isinstance(key, int) else f"argument {key}="
            return None, f"{case}: {name} modified its {which}; it must leave its inputs unchanged"
    return result, None


def call(fn, *args, case: str, forbidden=(), **kwargs):
    """:func:`run`, raising ``AssertionError`` with the problem if there is one; else the result."""
    result, problem = run(fn, *args, case=case, forbidden=forbidden, **kwargs)
    if problem is not None:
        raise AssertionError(problem)
    return result
