"""Checks for the graded CNN exercises (pooling swap, dropout, learning curve).

They judge behaviour, not spelling. A network is run on real batches while a ``TorchFunctionMode``
records every torch operation it calls (convolution, pooling, activation, dropout), in order, with its
shapes and the layer it ran in; module classes do not matter, so ``nn.MaxPool2d`` and ``F.max_pool2d``,
``nn.ReLU`` and ``F.relu``, ``nn.Dropout`` and ``F.dropout(x, p, self.training)`` in a module of your own
all count the same. Outputs are compared with a reference computed from the network's own weights
(ReLU of the convolution; dropout: about half zeroed, the rest doubled, in training mode only). Each
exercise's checks judge only what that exercise asks: Exercise 2 builds its own blocks with ``conv``,
Exercise 3 trains a network that does not come from Exercises 1-2. Every check prints what it verified
and raises ``AssertionError`` otherwise, naming the operation, layer and shape that failed (never the
answer, never a path of the grading machine). Test cells reload this module before use, so the checks
that run are the ones on disk.

Hardened against submissions that try to pass without solving (see also scripts/course_nbgrader.py):
the library functions and methods the checks rely on are captured when this module is first imported
(in the grading kernel: before any student code runs) and kept across reloads; each check first verifies
they are still the same objects, and calls the captured ones. Answers are taken at their exact type
(``History``, ``int``, ``Figure``, ``Tensor``), so a subclass cannot fake lengths, comparisons or curves;
networks are run through ``nn.Module``'s own methods, whatever a student's module overrides. Output a
student's code writes to stderr while a check runs goes to stdout (nbgrader would score stderr 0).
"""
from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import linecache
import math
import sys
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torch.overrides
from torch import nn

from cnnlib import models, train


def _capture() -> dict:
    """The objects the checks rely on, as they are now (the first import)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    return {
        "builtins": {k: getattr(builtins, k) for k in ("isinstance", "issubclass", "len", "type", "print", "any",
                                                        "all", "min", "max", "abs", "sorted", "list", "dict",
                                                        "tuple", "int", "float", "str", "id", "getattr",
                                                        "callable", "AssertionError", "Exception")},
        "torch": {k: getattr(torch, k) for k in ("allclose", "equal", "tensor", "as_tensor", "is_tensor", "randn",
                                                 "no_grad", "Generator", "zeros", "Tensor")},
        # torch.random's own: torch.manual_seed is rewrapped when torch._dynamo loads (an optimiser imports it)
        "torch.random": {k: getattr(torch.random, k) for k in ("get_rng_state", "set_rng_state", "manual_seed")},
        "torch.overrides": {"TorchFunctionMode": torch.overrides.TorchFunctionMode},
        "F": {k: getattr(F, k) for k in ("conv2d", "relu")},
        "nn.Module": {k: getattr(nn.Module, k) for k in ("__call__", "_call_impl", "register_forward_hook",
                                                         "register_forward_pre_hook", "named_modules", "modules",
                                                         "children", "train", "state_dict", "parameters")},
        "math": {k: getattr(math, k) for k in ("isclose", "isfinite")},
        "train": {k: getattr(train, k) for k in ("History", "fingerprint", "signature_of", "weights_fingerprint",
                                                 "evaluate")},
        "importlib": {"reload": importlib.reload},
        "matplotlib": {"Figure": Figure, "Line2D": Line2D, "Line2D.get_ydata": Line2D.get_ydata},
    }


#: captured at the first import, kept by ``importlib.reload`` (which re-runs this file in the same namespace)
_TRUSTED: dict = globals().get("_TRUSTED") or _capture()
_T = {f"{group}.{k}": v for group, items in _TRUSTED.items() for k, v in items.items()}
_LIVE = {"builtins": builtins, "torch": torch, "torch.random": torch.random, "torch.overrides": torch.overrides,
         "F": F, "nn.Module": nn.Module, "math": math, "train": train, "importlib": importlib}


def tampered() -> list[str]:
    """What the checks rely on and no longer is the object captured at the first import."""
    changed = []
    for group, items in _TRUSTED.items():
        live = _LIVE.get(group)
        if live is None:
            continue
        for k, v in items.items():
            if getattr(live, k, None) is not v:
                changed.append(f"{group}.{k}")
    return changed


def _untampered() -> None:
    changed = tampered()
    if changed:
        raise AssertionError("the grading environment was modified (" + ", ".join(changed[:5]) + "): "
                             "these tests cannot be trusted and fail")


@contextlib.contextmanager
def _quiet():
    """While a student's code runs inside a check: warnings off, stderr to stdout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sys.stdout):
            yield


# A failure is raised from a frame compiled here under a short name, so the traceback a student sees ends
# in "<cnnlib.grading>", not in this file's path on the grading machine (IPython shows the raising frame).
_FAIL_SOURCE = "def fail(err):\n    raise err  # the check failed: the message below says why\n"
linecache.cache["<cnnlib.grading>"] = (len(_FAIL_SOURCE), None, _FAIL_SOURCE.splitlines(True), "<cnnlib.grading>")
_fail_ns: dict = {}
exec(compile(_FAIL_SOURCE, "<cnnlib.grading>", "exec"), _fail_ns)
_fail = _fail_ns["fail"]


def _check(fn):
    """A public check: any failure, or an error of the student's code inside it, surfaces as one
    ``AssertionError`` with the check's message and no frames of this file."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841 (read by IPython: the frame is not shown)
        try:
            return fn(*args, **kwargs)
        except AssertionError as err:
            failure = AssertionError(*err.args)
        except Exception as err:  # noqa: BLE001 (a student's network may fail in any way)
            failure = AssertionError(f"{type(err).__name__}: {err}")
        failure.__cause__, failure.__suppress_context__ = None, True
        _fail(failure)
    return run


# ---- what a network computes ---------------------------------------------------------------------------
#: torch operations by kind, by function name (``F.relu``, ``torch.relu``, ``Tensor.relu`` are all "relu")
OPS = {
    "conv": {"conv2d", "convolution", "_convolution", "conv_transpose2d"},
    "pool": {"max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "lp_pool2d", "adaptive_max_pool2d",
             "adaptive_max_pool2d_with_indices", "adaptive_avg_pool2d", "fractional_max_pool2d",
             "fractional_max_pool2d_with_indices"},
    "activation": {"relu", "relu_", "leaky_relu", "leaky_relu_", "relu6", "elu", "elu_", "selu", "selu_", "celu",
                   "celu_", "gelu", "silu", "mish", "tanh", "tanh_", "sigmoid", "sigmoid_", "softplus", "hardswish",
                   "hardsigmoid", "hardtanh", "hardtanh_", "prelu", "rrelu", "rrelu_", "threshold", "threshold_",
                   "clamp", "clamp_", "clamp_min", "clamp_min_", "softmax", "log_softmax", "logsigmoid",
                   "softsign", "tanhshrink"},
    "dropout": {"dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "feature_dropout",
                "feature_dropout_", "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout"},
    "linear": {"linear", "addmm", "matmul", "mm", "bilinear"},
}
KIND = {name: kind for kind, names in OPS.items() for name in names}


@dataclass
class Op:
    """One torch operation a network ran: its name and kind, the layer it ran in, shapes in and out."""

    name: str
    kind: str
    where: str
    shape_in: tuple
    shape_out: tuple
    args: tuple = field(repr=False, default=())
    kwargs: dict = field(repr=False, default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} in {self.where}"

    def hw(self, out: bool = False) -> str:
        shape = self.shape_out if out else self.shape_in
        return "x".join(map(str, shape[-2:]))


def _shape(value) -> tuple:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    return tuple(value.shape) if _T["torch.is_tensor"](value) else ()


def trace(net: nn.Module, x: torch.Tensor, train_mode: bool = False, what: str = "the network",
          seed: int = 0) -> tuple[list[Op], torch.Tensor]:
    """Run ``net`` on ``x`` and list the convolutions, poolings, activations, dropouts and linear maps it
    calls, in order, each with the layer (module) it ran in. Train mode draws dropout masks from ``seed``;
    the global random state is restored after, as is the network's mode."""
    _untampered()
    M = nn.Module  # its own methods: a student's module may override them, these do what they say
    names = {id(m): n for n, m in M.named_modules(net)}
    stack: list[tuple[str, str]] = []  # (name, class) of the modules running, innermost last
    ops: list[Op] = []

    def where() -> str:
        name, kind = stack[-1] if stack else ("", "")
        return f"`{name}` ({kind})" if name else what

    class Recorder(_T["torch.overrides.TorchFunctionMode"]):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            kind = KIND.get(name) if type(name) is str else None
            if kind:
                ops.append(Op(name, kind, where(), _shape(args[0]) if args else (), _shape(out), args, kwargs))
            return out

    def enter(mod, inputs) -> None:
        stack.append((names.get(id(mod), ""), type(mod).__name__))

    def leave(mod, inputs, output) -> None:  # returns None: a hook's result would replace the output
        if stack:
            stack.pop()

    handles = []
    for module in M.modules(net):
        handles += [M.register_forward_pre_hook(module, enter), M.register_forward_hook(module, leave)]
    was_training, rng = net.training, _T["torch.random.get_rng_state"]()
    M.train(net, train_mode)
    try:
        _T["torch.random.manual_seed"](seed)
        with _T["torch.no_grad"](), _quiet(), Recorder():
            out = M.__call__(net, x)
    finally:
        M.train(net, was_training)
        _T["torch.random.set_rng_state"](rng)
        for h in handles:
            h.remove()
    if type(out) is not _T["torch.Tensor"]:
        raise AssertionError(f"{what} returns a {type(out).__name__}; it must return a tensor")
    return ops, out


def _build(factory, what: str) -> nn.Module:
    _untampered()
    with _quiet():
        net = factory() if callable(factory) and not isinstance(factory, nn.Module) else factory
    if not isinstance(net, nn.Module):
        raise AssertionError(f"{what} must be an nn.Module, got {type(net).__name__}")
    return net


def _run(net: nn.Module, x: torch.Tensor, what: str, train_mode: bool = False, seed: int = 0):
    """``trace``, with an error of the student's network reported as what it is."""
    try:
        return trace(net, x, train_mode, what, seed)
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 (a student's network may fail in any way)
        raise AssertionError(f"{what} fails on a batch of shape {tuple(x.shape)}: "
                             f"{type(err).__name__}: {err}") from None


def _batch(*shape: int, seed: int = 0) -> torch.Tensor:
    return _T["torch.randn"](*shape, generator=_T["torch.Generator"]().manual_seed(seed))


def _flow(ops: list[Op]) -> str:
    return " -> ".join(op.name for op in ops) or "no convolution, pooling, activation or dropout"


# ---- Exercise 1: pooling swap ----------------------------------------------------------------------------
@_check
def check_logits_shape(factory, what: str = "pool_cnn()", sizes: tuple = (1, 3)) -> None:
    """The network maps an (N, 1, 28, 28) batch to (N, 10) logits, for each N in ``sizes``."""
    net = _build(factory, what)
    for n in sizes:
        _, out = _run(net, _batch(n, 1, 28, 28), what)
        if tuple(out.shape) != (n, 10):
            raise AssertionError(f"{what} maps a ({n}, 1, 28, 28) batch to shape {tuple(out.shape)}; "
                                 f"it must give ({n}, 10) logits")
    print(f"✓ {what} maps (N, 1, 28, 28) to (N, 10) logits (N = {', '.join(map(str, sizes))})")


def _halves(n_in: int, n_out: int) -> bool:
    return n_out in (n_in // 2, (n_in + 1) // 2)


@_check
def check_pool_swap(factory, what: str = "pool_cnn()", n: int = 2, n_convs: int = 3, n_pools: int = 2) -> None:
    """Exactly ``n_pools`` pooling operations (modules or functional), each halving height and width,
    and ``n_convs`` convolutions (simple_cnn's five conv blocks, two of them replaced), on an
    (n, 1, 28, 28) batch."""
    net = _build(factory, what)
    ops, _ = _run(net, _batch(n, 1, 28, 28, seed=n), what)  # the logits' shape is check_logits_shape's
    pools = [op for op in ops if op.kind == "pool"]
    convs = [op for op in ops if op.kind == "conv"]
    if len(pools) != n_pools:
        found = ", ".join(map(str, pools)) or "none"
        raise AssertionError(f"{what} runs {len(pools)} pooling operations ({found}); the exercise replaces "
                             f"{n_pools} of simple_cnn's conv blocks by pooling layers")
    for op in pools:
        (h, w), (h2, w2) = op.shape_in[-2:], op.shape_out[-2:]
        if not (_halves(h, h2) and _halves(w, w2)):
            halved = {f"{h // 2}x{w // 2}", f"{(h + 1) // 2}x{(w + 1) // 2}"}
            raise AssertionError(f"the pooling {op} maps {op.hw()} to {op.hw(out=True)}: each pooling layer "
                                 f"must halve height and width ({h}x{w} to {' or '.join(sorted(halved))})")
    if len(convs) != n_convs:
        found = ", ".join(map(str, convs)) or "none"
        raise AssertionError(f"{what} runs {len(convs)} convolutions ({found}); simple_cnn has 5 conv blocks and "
                             f"the pooling layers replace 2 of them, so {n_convs} remain")
    shapes = ", ".join(f"{op.name} {op.hw()} -> {op.hw(out=True)}" for op in pools)
    print(f"✓ {what} runs {len(pools)} pooling operations, each halving height and width ({shapes}), "
          f"and {len(convs)} convolutions")


# ---- Exercise 2: dropout ---------------------------------------------------------------------------------
def _the_conv(ops: list[Op], what: str, ic: int, oc: int) -> Op:
    """The block's one convolution, checked to be 3x3 from ic to oc channels."""
    convs = [op for op in ops if op.kind == "conv"]
    if len(convs) != 1:
        raise AssertionError(f"{what} runs {_flow(ops)}: it must run exactly one convolution, found {len(convs)}")
    op = convs[0]
    weight = op.args[1] if len(op.args) > 1 else op.kwargs.get("weight")
    if not _T["torch.is_tensor"](weight) or tuple(weight.shape) != (oc, ic, 3, 3):
        found = tuple(weight.shape) if _T["torch.is_tensor"](weight) else type(weight).__name__
        raise AssertionError(f"the convolution {op} has weights of shape {found}: keep the 3x3 convolution "
                             f"from {ic} to {oc} channels")
    return op


def _reference_conv(op: Op, x: torch.Tensor) -> torch.Tensor:
    """What the block's convolution computes with stride 2 and padding 1 (the exercise's convolution)."""
    weight = op.args[1] if len(op.args) > 1 else op.kwargs.get("weight")
    bias = op.args[2] if len(op.args) > 2 else op.kwargs.get("bias")
    with _T["torch.no_grad"]():
        return _T["F.conv2d"](x, weight.detach(), None if bias is None else bias.detach(), stride=2, padding=1)


def _redefined(conv_fn) -> None:
    """Exercise 2's points are for a block written for it: the lesson's own conv earns none."""
    if conv_fn is models.conv:
        raise AssertionError("conv is still the lesson's block (cnnlib.models.conv): redefine it in "
                             "Exercise 2's cell")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return tuple(a.shape) == tuple(b.shape) and _T["torch.allclose"](a, b, rtol=1e-4, atol=1e-5)


@_check
def check_dropout_block(conv_fn, p: float = 0.5, ic: int = 3, oc: int = 6, size: int = 16, n: int = 64) -> None:
    """``conv(ic, oc)`` runs the 3x3 stride-2 padding-1 convolution, then ReLU, then dropout with
    probability ``p``: in training mode about a fraction p of the ReLU's positive outputs is zeroed and
    the rest scaled by 1/(1-p); in eval mode the block computes ReLU(convolution), nothing dropped."""
    what = f"conv({ic}, {oc})"
    _redefined(conv_fn)
    block = _build(lambda: conv_fn(ic, oc), what)
    x = _batch(n, ic, size, size, seed=ic)
    out_size = (size + 1) // 2
    ops, y_train = _run(block, x, what, train_mode=True)
    if tuple(y_train.shape) != (n, oc, out_size, out_size):
        raise AssertionError(f"{what} maps a batch of shape {tuple(x.shape)} to {tuple(y_train.shape)}; the "
                             f"3x3 stride-2 padding-1 convolution gives {(n, oc, out_size, out_size)}")
    _the_conv(ops, what, ic, oc)
    eval_ops, y_eval = _run(block, x, what)
    relu_conv = _T["F.relu"](_reference_conv(_the_conv(eval_ops, what, ic, oc), x))
    if not _close(y_eval, relu_conv):
        zeroed = float(((y_eval == 0) & (relu_conv > 0)).float().mean() / max(float((relu_conv > 0).float().mean()), 1e-9))
        if zeroed > 0.05:
            raise AssertionError(f"in eval mode {what} still zeroes {zeroed:.0%} of the ReLU's positive outputs: "
                                 f"dropout must act in training mode only (net.train()), not after net.eval()")
        raise AssertionError(f"in eval mode {what} (running {_flow(eval_ops)}) does not compute ReLU of its "
                             f"stride-2 padding-1 convolution: the block must be Conv2d, then ReLU, then dropout")
    flow = [op for op in ops if op.kind in ("conv", "activation", "dropout", "pool", "linear")]
    kinds = [op.kind for op in flow]
    drops = [op for op in flow if op.kind == "dropout"]
    if len(drops) > 1:
        raise AssertionError(f"{what} runs {_flow(flow)}: one dropout after the ReLU, found {len(drops)}")
    if drops and kinds != ["conv", "activation", "dropout"]:
        raise AssertionError(f"{what} runs {_flow(flow)}: the dropout ({drops[0]}) must come after the ReLU, "
                             f"as the block's last step")
    positive = relu_conv > 0
    zeroed = float((y_train[positive] == 0).float().mean())
    kept = positive & (y_train != 0)
    if zeroed < 0.01:
        raise AssertionError(f"in training mode {what} (running {_flow(flow)}) zeroes none of the ReLU's "
                             f"outputs: it needs dropout with p={p} after the ReLU")
    scale = float((y_train[kept] / relu_conv[kept]).median())
    if not (abs(zeroed - p) < 0.1 and _T["torch.allclose"](y_train[kept], relu_conv[kept] / (1 - p), rtol=1e-4,
                                                            atol=1e-5)
            and _T["torch.equal"](y_train[~positive], relu_conv[~positive])):
        raise AssertionError(f"in training mode {what} zeroes {zeroed:.0%} of the ReLU's positive outputs and "
                             f"scales the others by {scale:.3g}: dropout with p={p} zeroes about {p:.0%} and "
                             f"scales the rest by {1 / (1 - p):g}")
    print(f"✓ {what} runs {_flow(flow)}: in eval mode it computes ReLU of its 3x3 stride-2 convolution, "
          f"in training mode it zeroes {zeroed:.1%} of the ReLU's positive outputs and scales the rest by "
          f"{scale:.3g} (dropout p={p}), on a batch of shape {tuple(x.shape)}")


@_check
def check_logits_block(conv_fn, ic: int = 16, oc: int = 10, size: int = 2, n: int = 8) -> None:
    """``conv(ic, oc, act=False)`` is the plain 3x3 stride-2 padding-1 convolution: no activation and no
    dropout (it produces the logits), the same output in training and in eval mode."""
    what = f"conv({ic}, {oc}, act=False)"
    _redefined(conv_fn)
    block = _build(lambda: conv_fn(ic, oc, act=False), what)
    x = _batch(n, ic, size, size, seed=ic + 1)
    for mode, train_mode in (("training", True), ("eval", False)):
        ops, y = _run(block, x, what, train_mode=train_mode)
        extra = [op for op in ops if op.kind in ("activation", "dropout", "pool", "linear")]
        if extra:
            raise AssertionError(f"in {mode} mode {what} runs {_flow(ops)}: the logits block must have no "
                                 f"{'activation' if extra[0].kind == 'activation' else extra[0].kind} "
                                 f"({extra[0]}), only the convolution")
        conv_op = _the_conv(ops, what, ic, oc)
        ref = _reference_conv(conv_op, x)
        if not _close(y, ref):
            changed = "shape " + str(tuple(y.shape)) if tuple(y.shape) != tuple(ref.shape) else "values"
            raise AssertionError(f"in {mode} mode the output of {what} ({changed}) is not its stride-2 padding-1 "
                                 f"convolution, unchanged: the logits block must be the plain convolution")
    print(f"✓ {what} is the plain 3x3 stride-2 convolution: no activation, no dropout, the same output in "
          f"training and eval mode")


# ---- Exercise 3: learning curve ----------------------------------------------------------------------------
def _rows(history) -> list[dict]:
    """The epochs of a ``train.History`` as plain dicts of plain numbers (exact types only: a subclass
    could fake lengths, items or comparisons)."""
    History = _T["train.History"]
    if type(history) is not History:
        raise AssertionError(f"history must be the train.History returned by train.fit, got {type(history).__name__}")
    rows = history.rows
    if type(rows) is not list or not all(type(r) is dict for r in rows):
        raise AssertionError("history.rows was replaced: it must be the list train.fit recorded")
    out = []
    for r in rows:
        if not all(type(v) in (int, float) for v in r.values()):
            raise AssertionError("history holds values that are not plain numbers: it must be what train.fit recorded")
        out.append(dict(r))
    return out


def _column(rows: list[dict], key: str) -> list[float]:
    if not rows or key not in rows[0]:
        raise AssertionError(f"history has no {key!r}: it must be what train.fit recorded")
    return [r[key] for r in rows]


@_check
def check_learning_curve(history, net: nn.Module, data, min_epochs: int = 5, split: dict | None = None) -> None:
    """``history`` comes from ``train.fit(net, data, ...)``: unedited, measured on the validation
    split (not the test set), long enough to read, and it matches the trained ``net`` now.

    ``split`` (the arguments of ``cnnlib.data.mnist_tensors``) makes the check load that validation split
    itself, so it does not depend on the notebook's ``data`` having been left alone."""
    _untampered()
    rows = _rows(history)
    if len(rows) < min_epochs:
        raise AssertionError(f"history has {len(rows)} epochs; train for at least {min_epochs} to see a curve")
    for key in ("train_loss", "val_loss"):
        if not all(_T["math.isfinite"](v) for v in _column(rows, key)):
            raise AssertionError(f"history[{key!r}] has values that are not finite numbers: {_column(rows, key)}")
    if split is not None:
        from cnnlib import data as data_module

        data = data_module.mnist_tensors(**split)
    fingerprint = _T["train.fingerprint"]
    if history.val_fingerprint == fingerprint(data.X_test):
        raise AssertionError("history was measured on the test set; pass the data whose X_val is the "
                             "validation split (the test set is kept for the final evaluation only)")
    if history.val_fingerprint != fingerprint(data.X_val):
        raise AssertionError("history was measured on other images than the validation split data.X_val")
    if history.signature != _T["train.signature_of"](rows, history.val_fingerprint, net):
        raise AssertionError("history does not match the trained net: either its numbers were changed after "
                             "train.fit, or net was rebuilt or trained further; re-run the training cell")
    with _quiet():
        val_loss, val_acc = _T["train.evaluate"](net, data.X_val, data.y_val)
    last = rows[-1]
    if not (_T["math.isclose"](val_loss, last["val_loss"], rel_tol=1e-4, abs_tol=1e-6)
            and _T["math.isclose"](val_acc, last["val_acc"], abs_tol=1e-9)):
        raise AssertionError(f"evaluating net on the validation split gives loss {val_loss:.4f}, accuracy "
                             f"{val_acc:.4f}, but the last epoch of history says {last['val_loss']:.4f}, "
                             f"{last['val_acc']:.4f}")
    loaded = " (loaded again by the check)" if split is not None else ""
    print(f"✓ history: {len(rows)} epochs from train.fit on the validation split{loaded}; re-evaluating net "
          f"gives the last validation loss {val_loss:.4f} again")


@_check
def check_best_epoch(best_epoch, history) -> None:
    """``best_epoch`` (1-based, as in ``history["epoch"]``) is an epoch with the lowest validation loss."""
    _untampered()
    if type(best_epoch) is not int:
        raise AssertionError(f"best_epoch must be an int (an epoch number, counting from 1), got {best_epoch!r}")
    rows = _rows(history)
    losses = _column(rows, "val_loss")
    if not 1 <= best_epoch <= len(losses):
        raise AssertionError(f"best_epoch = {best_epoch}, but history has epochs 1 to {len(losses)} "
                             f"(history['epoch'] counts from 1)")
    if losses[best_epoch - 1] != min(losses):
        raise AssertionError(f"best_epoch = {best_epoch}: the validation loss of epoch {best_epoch} is "
                             f"{losses[best_epoch - 1]:.4f}, not the lowest value in history['val_loss'] "
                             f"(epochs count from 1, as in history['epoch'])")
    print(f"✓ best_epoch = {best_epoch}: its validation loss {losses[best_epoch - 1]:.4f} is the lowest of the "
          f"{len(losses)} epochs, counting from 1")


@_check
def check_curve_figure(fig, history) -> None:
    """``fig`` is a matplotlib figure with the training and the validation loss curves of ``history``."""
    _untampered()
    Figure, Line2D, get_ydata = _T["matplotlib.Figure"], _T["matplotlib.Line2D"], _T["matplotlib.Line2D.get_ydata"]
    if type(fig) is not Figure:
        raise AssertionError(f"fig must be the matplotlib Figure with your curves, got {type(fig).__name__}")
    rows = _rows(history)

    def plotted(values):
        target = _T["torch.tensor"](values, dtype=torch.float64)
        for ax in Figure.get_axes(fig):
            for line in ax.get_lines():
                if type(line) is not Line2D:
                    continue
                y = _T["torch.as_tensor"](get_ydata(line), dtype=torch.float64)
                if y.shape == target.shape and _T["torch.allclose"](y, target, rtol=1e-6):
                    return ax
        return None

    missing = [k for k in ("train_loss", "val_loss") if plotted(_column(rows, k)) is None]
    if missing:
        raise AssertionError(f"fig has no line with the values of history[{missing[0]!r}]; plot both the "
                             f"training and the validation loss per epoch")
    ax = plotted(_column(rows, "val_loss"))
    if not ax.get_xlabel() or not ax.get_ylabel():
        raise AssertionError("label the axes of the loss plot (epoch, loss)")
    print("✓ fig shows the training and validation loss curves, with labelled axes")
