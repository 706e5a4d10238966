"""The integrity guard that the grader installs in each grading kernel before the first cell runs.

Not imported by the grader: ``GuardedExecute`` (cnngrader/preprocessors/guarded_execute.py) sends this file's text to the
fresh kernel, where ``install(key, name, watch)`` runs before any student code. It imports the modules that
tests and checks rely on and keeps references to them (a snapshot), then stores a guard function in the
notebook namespace under a random name. Before and after every graded cell the grader calls the guard with
a fresh challenge; the guard answers with what changed since the snapshot, sealed with an HMAC of a key only
the grader and the guard know:

- functions and classes of builtins, torch, torch.nn, numpy, numpy.testing, math, importlib, cnnlib, the
  matplotlib figure classes, IPython and ipykernel (replaced, added over or deleted attributes);
- methods patched on the IPython shell, the kernel, sys.stdout/stderr and the display hooks; input, AST
  and event hooks; custom exception handlers; sys.excepthook/displayhook; trace and profile functions;
  import machinery (sys.meta_path, sys.modules entries, where cnnlib.grading is loaded from);
- global torch forward hooks and torch function/dispatch modes;
- Python threads started by the notebook.

The guard also moves, for the duration of a graded cell only, notebook variables that shadow builtins the
tests use (``print = ...``) out of the way, and puts them back after.

What it cannot do: run before a student who knows it is there. Python has no in-process sandbox, so a
student who reads this file can find the guard's closure (gc, frames) and forge its answers. The guard
turns casual and generic tampering into a detected, zero-scored, flagged event; the static scan
(cnngrader/scan) and the manual review of flagged submissions cover the rest.
"""


def install(key, name, watch):  # noqa: C901 (one closure on purpose: nothing of it is reachable by name)
    import builtins
    import hashlib
    import hmac
    import importlib
    import json
    import sys
    import threading

    _vars, _id, _len, _list, _dict, _set, _sorted, _getattr, _type, _callable, _isinstance, _repr = (
        vars, id, len, list, dict, set, sorted, getattr, type, callable, isinstance, repr)
    _hmac_new, _sha256, _dumps = hmac.new, hashlib.sha256, json.dumps
    _gettrace, _getprofile = sys.gettrace, sys.getprofile
    _enumerate_threads = threading.enumerate
    MISSING = object()

    modules = ["builtins", "math", "operator", "functools", "importlib", "importlib.util", "json", "hashlib",
               "dataclasses", "inspect", "traceback", "warnings", "contextlib", "io", "numpy", "numpy.testing",
               "torch", "torch._dynamo", "torch.optim", "torch.optim.lr_scheduler", "torch.nn",
               "torch.nn.functional", "torch.nn.modules.module", "torch.nn.init",
               "matplotlib", "matplotlib.figure", "matplotlib.axes", "matplotlib.lines", "matplotlib.pyplot",
               "cnnlib", "cnnlib.train", "cnnlib.data", "cnnlib.models", "cnnlib.plots", "cnnlib.grading",
               "IPython", "IPython.core.interactiveshell", "ipykernel.ipkernel", "ipykernel.zmqshell",
               "ipykernel.kernelbase", "ipykernel.iostream"]
    loaded = {}
    for mod_name in modules:
        try:
            loaded[mod_name] = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001 (a course without one of them)
            pass
    # module attributes that legitimately change while a notebook runs
    volatile = {"builtins": {"_", "__", "___"}, "matplotlib.pyplot": None, "matplotlib": None,
                "IPython": None, "cnnlib.grading": None, "sys": None}
    snap_modules = {}
    for mod_name, mod in loaded.items():
        if volatile.get(mod_name, set()) is None:
            continue
        skip = volatile.get(mod_name, set())
        snap_modules[mod_name] = (mod, {k: v for k, v in _vars(mod).items() if k not in skip and not
                                        (k.startswith("__") and k.endswith("__") and k not in
                                         ("__import__", "__build_class__", "__call__"))})
    sys_keys = ("excepthook", "displayhook", "stdout", "stderr", "__stdout__", "__stderr__", "__excepthook__",
                "__displayhook__", "meta_path", "path_hooks", "modules", "settrace", "setprofile", "exit",
                "audit", "addaudithook")
    snap_sys = {k: _getattr(sys, k, MISSING) for k in sys_keys}
    snap_sys_modules = {k: v for k, v in sys.modules.items() if k in loaded}
    meta_path, path_hooks = _list(sys.meta_path), _list(sys.path_hooks)

    from IPython import get_ipython

    shell = get_ipython()
    torch = loaded.get("torch")
    nn = loaded.get("torch.nn")
    classes = set()
    if nn is not None:
        for v in _vars(nn).values():
            if _isinstance(v, type) and issubclass(v, nn.Module):
                classes.add(v)
        classes.add(torch.Tensor)
    for mod_name, attr in (("cnnlib.train", "History"), ("matplotlib.figure", "Figure"),
                           ("matplotlib.axes", "Axes"), ("matplotlib.lines", "Line2D")):
        if mod_name in loaded and hasattr(loaded[mod_name], attr):
            classes.add(_getattr(loaded[mod_name], attr))
    instances = {"shell": shell, "kernel": _getattr(shell, "kernel", None), "displayhook": shell.displayhook,
                 "display_pub": shell.display_pub, "events": shell.events, "stdout": sys.stdout,
                 "stderr": sys.stderr, "compile": shell.compile,
                 "input_transformer_manager": shell.input_transformer_manager}
    for inst in _list(instances.values()):
        if inst is not None:
            for cls in _type(inst).__mro__:
                if cls is not object:
                    classes.add(cls)
    snap_classes = {cls: _dict(_vars(cls)) for cls in classes}
    snap_instances = {k: (v, {a: x for a, x in _vars(v).items() if _callable(x)} if hasattr(v, "__dict__") else {})
                      for k, v in instances.items() if v is not None}

    def hook_lists():
        tm = shell.input_transformer_manager
        lists = {"input_transformers_cleanup": shell.input_transformers_cleanup,
                 "input_transformers_post": shell.input_transformers_post,
                 "ast_transformers": shell.ast_transformers,
                 "custom_exceptions": _list(shell.custom_exceptions) if shell.custom_exceptions else [],
                 "CustomTB": [shell.CustomTB] if _getattr(shell, "CustomTB", None) else [],
                 "transformer_manager.cleanup_transforms": _getattr(tm, "cleanup_transforms", []),
                 "transformer_manager.line_transforms": _getattr(tm, "line_transforms", []),
                 "transformer_manager.token_transformers": _getattr(tm, "token_transformers", [])}
        for event, callbacks in shell.events.callbacks.items():
            # matplotlib's inline backend registers its own callbacks when the first figure is drawn
            lists[f"events.{event}"] = [cb for cb in callbacks if not _trusted_origin(cb)]
        return {k: [_id(x) for x in v] for k, v in lists.items()}

    def _trusted_origin(obj):
        module = _getattr(obj, "__module__", None) or _getattr(_getattr(obj, "__func__", None), "__module__", "")
        return _isinstance(module, str) and module.split(".")[0] in ("matplotlib_inline", "matplotlib",
                                                                      "ipykernel", "IPython")

    snap_hooks = hook_lists()

    def torch_globals():
        out = {}
        if torch is None:
            return out
        mm = loaded.get("torch.nn.modules.module")
        for attr in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                     "_global_backward_pre_hooks", "_global_forward_hooks_always_called",
                     "_global_module_registration_hooks", "_global_parameter_registration_hooks",
                     "_global_buffer_registration_hooks"):
            hooks = _getattr(mm, attr, None)
            if hooks is not None:
                out[attr] = _len(hooks)
        try:
            from torch.overrides import _get_current_function_mode_stack
            out["torch function modes"] = _len(_get_current_function_mode_stack())
        except Exception:  # noqa: BLE001
            pass
        try:
            from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
            out["torch dispatch modes"] = _len(_get_current_dispatch_mode_stack())
        except Exception:  # noqa: BLE001
            pass
        return out

    snap_torch = torch_globals()
    grading = loaded.get("cnnlib.grading")
    grading_origin = (_getattr(grading, "__file__", None), _getattr(getattr(grading, "__spec__", None), "origin", None))
    cnnlib_path = _list(_getattr(loaded.get("cnnlib"), "__path__", []))
    threads = {_id(t) for t in _enumerate_threads()}
    user_ns = shell.user_ns
    builtin_dict = _vars(builtins)
    stash = {}

    def changes():
        found = []

        def add(text):
            if text not in found:
                found.append(text)

        for mod_name, (mod, snap) in snap_modules.items():
            current = _vars(mod)
            for k, v in snap.items():
                now = current.get(k, MISSING)
                if now is not v:
                    add(f"{mod_name}.{k} was {'deleted' if now is MISSING else 'replaced'}")
        for k, v in snap_sys.items():
            if _getattr(sys, k, MISSING) is not v:
                add(f"sys.{k} was replaced")
        for k, v in snap_sys_modules.items():
            if sys.modules.get(k, MISSING) is not v:
                add(f"sys.modules[{k!r}] was replaced")
        if [_id(x) for x in sys.meta_path] != [_id(x) for x in meta_path] or \
                [_id(x) for x in sys.path_hooks] != [_id(x) for x in path_hooks]:
            add("the import machinery (sys.meta_path / sys.path_hooks) was changed")
        for cls, snap in snap_classes.items():
            current = _vars(cls)
            for k, v in snap.items():
                if current.get(k, MISSING) is not v:
                    add(f"{cls.__module__}.{cls.__qualname__}.{k} was replaced")
            for k in current:
                if k not in snap and not k.startswith("_abc_"):
                    add(f"{cls.__module__}.{cls.__qualname__}.{k} was added")
        for label, (inst, snap) in snap_instances.items():
            for k, x in _vars(inst).items():
                if _callable(x) and snap.get(k, MISSING) is not x and k not in ("_parent_header",):
                    add(f"{label}.{k} was replaced")
        hooks = hook_lists()
        for k in _set(hooks) | _set(snap_hooks):
            if hooks.get(k, []) != snap_hooks.get(k, []):
                add(f"the IPython hooks {k} were changed")
        if _gettrace() is not None or sys.gettrace is not _gettrace:
            add("a trace function was set (sys.settrace)")
        if _getprofile() is not None or sys.getprofile is not _getprofile:
            add("a profile function was set (sys.setprofile)")
        for k, v in torch_globals().items():
            if v != snap_torch.get(k, 0):
                add(f"{k} were added to torch")
        if grading is not None:
            mod = sys.modules.get("cnnlib.grading")
            spec = _getattr(mod, "__spec__", None)
            if mod is not grading or (_getattr(mod, "__file__", None), _getattr(spec, "origin", None)) != grading_origin:
                add("cnnlib.grading is not the module on disk any more")
            if _list(_getattr(sys.modules.get("cnnlib"), "__path__", [])) != cnnlib_path:
                add("cnnlib.__path__ was changed")
        for k in watch:  # module names the tests read (``torch.zeros``) still name those modules
            if k in user_ns and k in sys.modules and not hasattr(builtins, k) and user_ns[k] is not sys.modules[k]:
                add(f"the notebook rebound `{k}`, which the tests use as the module {k}")
        for t in _enumerate_threads():
            if _id(t) not in threads:
                target = _getattr(t, "_target", None)
                origin = _getattr(target, "__module__", None) or _type(t).__module__
                if origin in ("__main__", None) or origin.startswith("ipykernel_") or _type(t).__module__ == "__main__":
                    add(f"the notebook started a thread ({t.name})")
        return found

    class ForwardToStdout:
        """sys.stderr while a graded cell runs: what the student's code writes there (debug prints,
        warnings) shows on stdout, so it does not zero the test (nbgrader scores a test with stderr 0)."""

        def write(self, text):
            return sys.stdout.write(text)

        def flush(self):
            sys.stdout.flush()

        def isatty(self):
            return False

        def __getattr__(self, name):
            return _getattr(real_stderr, name)

    real_stderr = sys.stderr
    forward = ForwardToStdout()

    def enter():
        """Move notebook variables that shadow builtins used by the tests out of the way, and send
        stderr to stdout, for the duration of one graded cell."""
        moved = []
        for k in watch:
            if k in user_ns and k in builtin_dict:
                stash[k] = user_ns.pop(k)
                moved.append(k)
        sys.stderr = forward
        return moved

    def leave():
        if sys.stderr is forward:
            sys.stderr = real_stderr
        for k, v in _list(stash.items()):
            user_ns.setdefault(k, v)
        stash.clear()

    def guard(challenge, action="check"):
        moved = []
        if action == "leave":
            leave()
        found = changes()
        if action == "enter":
            moved = enter()
        payload = _dumps({"changes": found, "moved": moved}, sort_keys=True)
        mac = _hmac_new(key, (challenge + payload).encode(), _sha256).hexdigest()
        return _dumps({"payload": payload, "mac": mac})

    user_ns[name] = guard
    shell.user_ns_hidden[name] = guard  # not listed by %who
    return "installed"
