"""Checks for the graded CNN exercises (pooling swap, dropout, learning curve).

They judge behaviour, not spelling. A network is run on real batches while a ``TorchFunctionMode``
records every torch operation it calls (convolution, pooling, activation, dropout), in order, with its
shapes and the layer it ran in; module classes do not matter, so ``nn.MaxPool2d`` and ``F.max_pool2d``,
``nn.ReLU`` and ``F.relu`` count the same. Exercise 1's stated shapes, parameter counts and receptive field
are compared with the network's own forward pass, its parameters and a gradient probe. Exercise 2's
``Dropout`` is judged by its statistics (fraction zeroed within a binomial bound, survivors scaled by
1/(1-p), a new mask per call, identity in eval mode) while torch's own dropout is watched for under any
name (``cnnlib.forbid`` and the torch function mode); the blocks are checked to run it after the ReLU.
Exercise 3's curve, best epoch and retrained network are compared with the recipe rerun by the check in
the grading kernel (same threads, same seeds): nothing here or elsewhere in cnnlib holds an answer a
student could call. Each exercise's checks judge only what that exercise asks. Every check prints what it
verified and raises ``AssertionError`` otherwise, naming the operation, layer and shape that failed (never
the answer, never a path of the grading machine). Test cells reload this module before use, so the checks
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

from cnnlib import data, forbid, models, train


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
                                                 "no_grad", "Generator", "zeros", "Tensor", "enable_grad", "arange")},
        "torch.autograd": {"grad": torch.autograd.grad},
        # torch.random's own: torch.manual_seed is rewrapped when torch._dynamo loads (an optimiser imports it)
        "torch.random": {k: getattr(torch.random, k) for k in ("get_rng_state", "set_rng_state", "manual_seed")},
        "torch.overrides": {"TorchFunctionMode": torch.overrides.TorchFunctionMode},
        "F": {k: getattr(F, k) for k in ("conv2d", "relu", "avg_pool2d")},
        "nn.Module": {k: getattr(nn.Module, k) for k in ("__call__", "_call_impl", "register_forward_hook",
                                                         "register_forward_pre_hook", "named_modules", "modules",
                                                         "children", "train", "state_dict", "parameters")},
        "math": {k: getattr(math, k) for k in ("isclose", "isfinite")},
        "train": {k: getattr(train, k) for k in ("History", "fingerprint", "signature_of", "weights_fingerprint",
                                                 "evaluate", "fit", "set_seed")},
        "models": {"simple_cnn": models.simple_cnn},
        "data": {"mnist_tensors": data.mnist_tensors},
        "forbid": {"watch": forbid.watch},
        "importlib": {"reload": importlib.reload},
        "matplotlib": {"Figure": Figure, "Line2D": Line2D, "Line2D.get_ydata": Line2D.get_ydata},
    }


#: captured at the first import, kept by ``importlib.reload`` (which re-runs this file in the same namespace)
_TRUSTED: dict = globals().get("_TRUSTED") or _capture()
_T = {f"{group}.{k}": v for group, items in _TRUSTED.items() for k, v in items.items()}
_LIVE = {"builtins": builtins, "torch": torch, "torch.random": torch.random, "torch.overrides": torch.overrides,
         "F": F, "nn.Module": nn.Module, "math": math, "train": train, "importlib": importlib,
         "torch.autograd": torch.autograd, "models": models, "data": data, "forbid": forbid}


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


# ---- Exercise 1: what the network is ----------------------------------------------------------------------
def _stages(net: nn.Module, what: str) -> list[Op]:
    ops, _ = _run(net, _batch(1, 1, 28, 28), what)
    return [op for op in ops if op.kind in ("conv", "pool")]


def _n_params(net: nn.Module) -> int:
    return sum(int(p.numel()) for p in nn.Module.parameters(net))


@_check
def check_shapes_and_params(factory, shapes, params_pool, params_simple, what: str = "pool_cnn()") -> None:
    """``shapes`` lists (C, H, W) after each convolution and each pooling of the network, in the order they
    run on a (1, 1, 28, 28) digit; ``params_pool`` / ``params_simple`` are the parameter counts of the
    network and of ``simple_cnn``. All checked against the networks themselves."""
    net = _build(factory, what)
    stages = _stages(net, what)
    if type(shapes) not in (list, tuple) or not all(type(s) in (list, tuple) for s in shapes):
        raise AssertionError(f"shapes must be a list of (C, H, W) tuples, got {type(shapes).__name__}")
    stated = [tuple(s) for s in shapes]
    if not all(len(s) == 3 and all(type(v) is int for v in s) for s in stated):
        raise AssertionError("each entry of shapes must be a tuple of three ints (C, H, W)")
    if len(stated) != len(stages):
        raise AssertionError(f"shapes has {len(stated)} entries; {what} runs {len(stages)} convolutions and "
                             f"poolings ({_flow(stages)}): one (C, H, W) after each, in order")
    for i, (s, op) in enumerate(zip(stated, stages), 1):
        if s != tuple(op.shape_out[1:]):
            raise AssertionError(f"shapes entry {i} (after the {op.name} in {op.where}) is {s}, not the shape "
                                 f"that layer outputs: redo the output-size formula for that layer")
    for name, value, model in (("params_pool", params_pool, net), ("params_simple", params_simple, None)):
        if type(value) is not int:
            raise AssertionError(f"{name} must be an int, got {type(value).__name__}")
        if model is None:
            with _quiet():
                model = _T["models.simple_cnn"]()
        if value != _n_params(model):
            which = what if name == "params_pool" else "simple_cnn()"
            raise AssertionError(f"{name} = {value} is not the number of parameters of {which}: count "
                                 f"(k*k*ic + 1)*oc for each convolution (weights and biases)")
    print(f"✓ shapes: the {len(stated)} shapes after each convolution and pooling of {what} are those it outputs")
    print(f"✓ params_pool and params_simple are the parameter counts of {what} and simple_cnn()")


_MAX_POOLS = {"max_pool2d", "max_pool2d_with_indices"}
_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def _probe_field(net: nn.Module, size: int, what: str) -> tuple[int, int, tuple]:
    """Side lengths (rows, cols) of the input region that one unit of the network's last convolution
    depends on, found by its gradient. Run linearised: activations act as the identity and max pooling as
    average pooling of the same window (same field, but a gradient on every position of the window), so
    that no input position of the field gets a zero gradient by chance."""
    _untampered()
    M = nn.Module
    outs: list = []

    class Probe(_T["torch.overrides.TorchFunctionMode"]):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            kind = KIND.get(name) if type(name) is str else None
            if kind in ("activation", "dropout"):
                return args[0] if args else kwargs.get("input")
            if name in _MAX_POOLS:
                a = dict(zip(_POOL_ARGS, args), **kwargs)
                k = a["kernel_size"]
                out = _T["F.avg_pool2d"](a["input"], k, a.get("stride") or k, a.get("padding", 0),
                                         a.get("ceil_mode", False), True)
                return out
            out = func(*args, **kwargs)
            if kind == "conv":
                outs.append(("conv", out))
            return out

    x = _T["torch.zeros"](1, 1, size, size).requires_grad_(True)
    was_training = net.training
    M.train(net, False)
    try:
        with _T["torch.enable_grad"](), _quiet(), Probe():
            M.__call__(net, x + _batch(1, 1, size, size))
    except Exception as err:  # noqa: BLE001 (a student's network may fail in any way)
        raise AssertionError(f"{what} fails on a batch of shape {tuple(x.shape)}: {type(err).__name__}: {err}")
    finally:
        M.train(net, was_training)
    convs = [o[1] for o in outs if type(o) is tuple]
    if not convs:
        raise AssertionError(f"{what} runs no convolution")
    last = convs[-1]
    h, w = last.shape[-2:]
    unit = last[0, 0, h // 2, w // 2]
    (grad,) = _T["torch.autograd.grad"](unit, x)
    nz = (grad[0, 0] != 0).nonzero()
    if len(nz) == 0:
        raise AssertionError(f"the last convolution of {what} does not depend on the input")
    r0, c0 = (int(v) for v in nz.min(0).values)
    r1, c1 = (int(v) for v in nz.max(0).values)
    if min(r0, c0) == 0 or max(r1, c1) == size - 1:
        raise AssertionError(f"the receptive field of {what} reaches the border of a {size}x{size} probe")
    return r1 - r0 + 1, c1 - c0 + 1, (h, w)


@_check
def check_receptive_field(factory, receptive_field, what: str = "pool_cnn()", size: int = 224) -> None:
    """``receptive_field`` is the side length of the input square one logit of the network depends on
    (the field of a unit of its last convolution, the image border aside), checked by a gradient probe."""
    net = _build(factory, what)
    if type(receptive_field) is not int:
        raise AssertionError(f"receptive_field must be an int (a side length in pixels), got "
                             f"{type(receptive_field).__name__}")
    rows, cols, _ = _probe_field(net, size, what)
    if rows != cols:
        raise AssertionError(f"the field of {what} is not square ({rows} rows, {cols} columns)")
    if receptive_field != rows:
        raise AssertionError(f"receptive_field = {receptive_field} is not the side of the input square a logit "
                             f"of {what} depends on: follow r <- r + (k - 1) * j, j <- j * s through every "
                             f"convolution and pooling (a gradient probe on a {size}x{size} input disagrees)")
    print(f"✓ receptive_field = {receptive_field}: a gradient probe on a {size}x{size} input finds that one "
          f"logit of {what} depends on a {rows}x{cols} square")


# ---- Exercise 2: dropout ---------------------------------------------------------------------------------
#: what the student's Dropout may not call: torch's own dropout, under any name (the torch function mode
#: of ``trace`` sees the operations, cnnlib.forbid the Python and C calls)
FORBIDDEN_DROPOUT = ("torch.nn.modules.dropout", "torch.nn.functional.dropout", "torch.nn.functional.dropout1d",
                     "torch.nn.functional.dropout2d", "torch.nn.functional.dropout3d",
                     "torch.nn.functional.alpha_dropout", "torch.nn.functional.feature_alpha_dropout",
                     "torch.dropout", "torch.feature_dropout", "torch.alpha_dropout")


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


def _dropout_class(Dropout) -> type:
    if type(Dropout) is not type or not _T["builtins.issubclass"](Dropout, nn.Module):
        raise AssertionError(f"Dropout must be your nn.Module class (class Dropout(nn.Module)), got "
                             f"{type(Dropout).__name__}")
    if Dropout.__module__.startswith(("torch", "cnnlib")):
        raise AssertionError(f"Dropout is {Dropout.__module__}.{Dropout.__qualname__}: write your own class")
    return Dropout


def _binomial_ok(fraction: float, p: float, n: int) -> bool:
    """``fraction`` of ``n`` independent draws is within 5 standard deviations of ``p``."""
    return abs(fraction - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1 / n


def _calls(module: nn.Module, x: torch.Tensor, train_mode: bool, times: int, what: str) -> list:
    """``module(x)`` ``times`` times in a row (one seed), watched: no torch dropout under any name."""
    _untampered()
    M = nn.Module
    seen: list[str] = []

    class Recorder(_T["torch.overrides.TorchFunctionMode"]):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if type(name) is str and KIND.get(name) == "dropout":
                seen.append(name)
            return func(*args, **(kwargs or {}))

    was_training, rng = module.training, _T["torch.random.get_rng_state"]()
    M.train(module, train_mode)
    outs = []
    try:
        _T["torch.random.manual_seed"](1234)
        with _T["forbid.watch"](FORBIDDEN_DROPOUT) as watch, _T["torch.no_grad"](), _quiet(), Recorder():
            for _ in range(times):
                outs.append(M.__call__(module, x))
    except Exception as err:  # noqa: BLE001 (a student's module may fail in any way)
        raise AssertionError(f"{what} fails on a batch of shape {tuple(x.shape)}: {type(err).__name__}: {err}")
    finally:
        M.train(module, was_training)
        _T["torch.random.set_rng_state"](rng)
    if seen or watch.hits:
        used = ", ".join(seen[:1] + list(watch.hits)[:2])
        raise AssertionError(f"{what} calls torch's own dropout ({used}): draw the mask and rescale yourself")
    for y in outs:
        if type(y) is not _T["torch.Tensor"]:
            raise AssertionError(f"{what} returns a {type(y).__name__}; it must return a tensor")
    return outs


@_check
def check_dropout(Dropout, ps: tuple = (0.5, 0.2), shape: tuple = (32, 8, 16, 16),
                  dtype: torch.dtype = torch.float32) -> None:
    """Your ``Dropout(p)`` in training mode zeroes each value with probability p (a binomial bound on the
    fraction), scales the others by exactly 1/(1-p), draws a new mask on every call; in eval mode it
    returns its input unchanged; shape and dtype are kept, the input is not modified. torch's dropout
    may not be called."""
    _dropout_class(Dropout)
    for p in ps:
        what = f"Dropout({p})"
        module = _build(lambda: Dropout(p), what)
        x = (_batch(*shape, seed=int(p * 100)).abs() + 0.5).to(dtype)
        before = x.clone()
        y1, y2 = _calls(module, x, True, 2, what)
        if not _T["torch.equal"](x, before):
            raise AssertionError(f"{what} modified its input in place: return a new tensor")
        if tuple(y1.shape) != tuple(x.shape) or y1.dtype != x.dtype:
            raise AssertionError(f"{what} maps a {x.dtype} batch of shape {tuple(x.shape)} to a {y1.dtype} one "
                                 f"of shape {tuple(y1.shape)}: dropout keeps shape and dtype")
        n = x.numel()
        zeroed = float((y1 == 0).double().mean())
        if not _binomial_ok(zeroed, p, n):
            hint = (" (is p the probability to keep? it is the probability to drop)" if _binomial_ok(zeroed, 1 - p, n)
                    else "")
            raise AssertionError(f"in training mode {what} zeroes {zeroed:.1%} of the values: each value must "
                                 f"be dropped with probability p = {p}{hint}")
        kept = y1 != 0
        if bool(kept.any()) and not _T["torch.allclose"](y1[kept], x[kept] / (1 - p), rtol=1e-5, atol=0.0):
            ratio = float((y1[kept] / x[kept]).median())
            raise AssertionError(f"in training mode {what} scales the values it keeps by {ratio:.4g}: they must "
                                 f"be scaled by 1/(1-p), so that the expected output equals the input")
        if 0 < p < 1 and _T["torch.equal"](y1 == 0, y2 == 0):
            raise AssertionError(f"{what} drops the same positions on two calls in a row: draw a new mask on "
                                 f"every call (in forward, from torch's random generator)")
        (y_eval,) = _calls(module, x, False, 1, what)
        if not _T["torch.equal"](y_eval, x):
            raise AssertionError(f"in eval mode {what} changes its input: after net.eval() dropout must return "
                                 f"its input unchanged (check self.training)")
    print(f"✓ Dropout(p) for p = {', '.join(map(str, ps))} on a {dtype} batch of shape {shape}: zeroes a "
          f"fraction p (binomial bound), scales the rest by 1/(1-p), a new mask per call, the input unchanged "
          f"in eval mode, no torch dropout called")


def _instances(block: nn.Module, Dropout) -> list:
    return [m for m in nn.Module.modules(block) if type(m) is Dropout]


@_check
def check_dropout_block(conv_fn, Dropout, p: float = 0.5, ic: int = 3, oc: int = 6, size: int = 16,
                        n: int = 32) -> None:
    """``conv(ic, oc)`` runs the 3x3 stride-2 padding-1 convolution, then ReLU, then one of your
    ``Dropout`` modules with p = 0.5, which gives the block its output (judged in training mode; how your
    Dropout itself behaves is check_dropout's)."""
    what = f"conv({ic}, {oc})"
    _redefined(conv_fn)
    _dropout_class(Dropout)
    block = _build(lambda: conv_fn(ic, oc), what)
    drops = _instances(block, Dropout)
    if len(drops) != 1:
        raise AssertionError(f"{what} contains {len(drops)} modules of your Dropout class; the block needs "
                             f"one, after the ReLU")
    seen: dict = {}

    def grab(mod, inputs, output):
        seen.setdefault("in", inputs[0] if inputs else None)
        seen.setdefault("out", output)

    handle = nn.Module.register_forward_hook(drops[0], grab)
    x = _batch(n, ic, size, size, seed=ic)
    try:
        ops, y = _run(block, x, what, train_mode=True)
    finally:
        handle.remove()
    builtin = [op for op in ops if op.kind == "dropout"]
    if builtin:
        raise AssertionError(f"{what} runs torch's {builtin[0]}: use your Dropout class")
    if "in" not in seen:
        raise AssertionError(f"{what} holds your Dropout but never runs it in forward")
    relu_conv = _T["F.relu"](_reference_conv(_the_conv(ops, what, ic, oc), x))
    got_in = seen["in"]
    if not (_T["torch.is_tensor"](got_in) and _close(got_in, relu_conv)):
        raise AssertionError(f"the input of your Dropout in {what} is not ReLU of the block's stride-2 "
                             f"padding-1 convolution: the block is Conv2d, then ReLU, then Dropout")
    if not (_T["torch.is_tensor"](seen["out"]) and _T["torch.equal"](y, seen["out"])):
        raise AssertionError(f"the output of {what} is not the output of its Dropout: dropout is the block's "
                             f"last step")
    positive = relu_conv > 0
    zeroed = float((y[positive] == 0).double().mean())
    if not _binomial_ok(zeroed, p, int(positive.sum())):
        raise AssertionError(f"in training mode the Dropout of {what} zeroes {zeroed:.1%} of the ReLU's positive "
                             f"outputs: build it with p = {p}")
    print(f"✓ {what} runs the 3x3 stride-2 convolution, ReLU, then your Dropout (which zeroes {zeroed:.1%} of "
          f"the ReLU's positive outputs in training mode, p = {p}), on a batch of shape {tuple(x.shape)}")


@_check
def check_logits_block(conv_fn, Dropout=None, ic: int = 16, oc: int = 10, size: int = 2, n: int = 8) -> None:
    """``conv(ic, oc, act=False)`` is the plain 3x3 stride-2 padding-1 convolution: no activation and no
    dropout (neither torch's nor yours; it produces the logits), the same output in training and eval mode."""
    what = f"conv({ic}, {oc}, act=False)"
    _redefined(conv_fn)
    block = _build(lambda: conv_fn(ic, oc, act=False), what)
    if Dropout is not None and type(Dropout) is type and _instances(block, Dropout):
        raise AssertionError(f"{what} contains your Dropout: the logits block gets no dropout, only the "
                             f"convolution")
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
#: the learning-curve setting of the notebook's locked cell (chosen so that the validation loss turns up
#: well before the last epoch for seeds 0-4 and 1 or 2 torch threads: see the notebook text)
CURVE = dict(n_train=300, val_size=2_000, split_seed=0, init_seed=0, epochs=15, lr=1e-2, batch_size=25)


def _curve_data():
    with _quiet():
        return _T["data.mnist_tensors"](val_size=CURVE["val_size"], n_train=CURVE["n_train"], seed=CURVE["split_seed"])


def _fresh():
    with _quiet():
        _T["train.set_seed"](CURVE["init_seed"])
        return _T["models.simple_cnn"]()


def _epoch(net, d, epoch: int, schedule: str = "constant") -> None:
    with _quiet():
        _T["train.fit"](net, d, num_epochs=1, lr=CURVE["lr"], batch_size=CURVE["batch_size"], seed=epoch,
                        schedule=schedule, progress=False)


def _reference(d, epochs: int, curves: bool = True) -> tuple[list, list, list]:
    """Validation and training losses after each epoch of the recipe from a fresh net, and its weights."""
    rng = _T["torch.random.get_rng_state"]()
    net, val, trn, weights = _fresh(), [], [], []
    try:
        for epoch in range(1, epochs + 1):
            _epoch(net, d, epoch)
            weights.append({k: v.detach().clone() for k, v in nn.Module.state_dict(net).items()})
            if curves:
                with _quiet():
                    val.append(_T["train.evaluate"](net, d.X_val, d.y_val)[0])
                    trn.append(_T["train.evaluate"](net, d.X_train, d.y_train)[0])
    finally:
        _T["torch.random.set_rng_state"](rng)
    return val, trn, weights


def _losses(values, name: str) -> list[float]:
    epochs = CURVE["epochs"]
    if type(values) is not list or not all(type(v) is float for v in values):
        raise AssertionError(f"{name} must be a list of floats (one loss per epoch), got {type(values).__name__}"
                             + ("" if type(values) is not list else " holding other values"))
    if len(values) != epochs:
        raise AssertionError(f"{name} has {len(values)} values; the loop trains {epochs} epochs, one loss after each")
    if not all(_T["math.isfinite"](v) for v in values):
        raise AssertionError(f"{name} holds values that are not finite numbers")
    return [float(v) for v in values]


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(_T["math.isclose"](x, y, rel_tol=1e-4, abs_tol=1e-6) for x, y in zip(a, b))


@_check
def check_curve(val_losses, train_losses) -> None:
    """Your loop's ``val_losses`` and ``train_losses`` are those of a fresh ``simple_cnn`` trained one epoch
    per ``train.fit`` call with the constant learning rate of the recipe, evaluated on the validation split
    and on the training subset after every epoch: the check reruns the recipe in this kernel."""
    _untampered()
    val, trn = _losses(val_losses, "val_losses"), _losses(train_losses, "train_losses")
    d = _curve_data()
    ref_val, ref_trn, _ = _reference(d, CURVE["epochs"])
    if not _same(val, ref_val):
        first = _T["math.isclose"](val[0], ref_val[0], rel_tol=1e-4, abs_tol=1e-6)
        rng = _T["torch.random.get_rng_state"]()
        try:
            probe = _fresh()
            _epoch(probe, d, 1, schedule="onecycle")
            with _quiet():
                onecycle = _T["train.evaluate"](probe, d.X_val, d.y_val)[0]
                _epoch(probe := _fresh(), d, 1)
                on_test = _T["train.evaluate"](probe, d.X_test, d.y_test)[0]
        finally:
            _T["torch.random.set_rng_state"](rng)
        if _T["math.isclose"](val[0], on_test, rel_tol=1e-4):
            why = "it was measured on the test set: evaluate on small.X_val, small.y_val"
        elif _T["math.isclose"](val[0], onecycle, rel_tol=1e-4):
            why = "it was trained with the one-cycle schedule: pass schedule=\"constant\""
        elif first:
            bad = next(i for i in range(len(val)) if not _T["math.isclose"](val[i], ref_val[i], rel_tol=1e-4,
                                                                              abs_tol=1e-6)) + 1
            why = (f"epoch 1 is right, epoch {bad} is not: every epoch is one train.fit call of the recipe "
                   f"with seed=epoch, on the same network")
        else:
            why = ("epoch 1 already differs: start from fresh_net() inside your cell (re-running it must not train "
                   "a network further) and use the recipe's train.fit call (constant learning rate, lr, "
                   "batch_size, seed=epoch)")
        raise AssertionError(f"val_losses is not the validation curve of the recipe: {why}")
    if not _same(trn, ref_trn):
        raise AssertionError("val_losses is right, train_losses is not: after each epoch evaluate the network "
                             "on the training subset small.X_train, small.y_train")
    print(f"✓ val_losses and train_losses: {len(val)} epochs of a fresh simple_cnn, one train.fit call per epoch "
          f"at a constant learning rate, evaluated on the validation split and the training subset (the check "
          f"reran the recipe and got the same curves)")


@_check
def check_best_epoch(best_epoch, val_losses, train_losses=None) -> None:
    """``best_epoch`` is the epoch (counting from 1) with the lowest value of your own ``val_losses``."""
    _untampered()
    val = _losses(val_losses, "val_losses")
    if type(best_epoch) is not int:
        raise AssertionError(f"best_epoch must be an int (an epoch number, counting from 1), got "
                             f"{type(best_epoch).__name__}")
    if not 1 <= best_epoch <= len(val):
        raise AssertionError(f"best_epoch = {best_epoch}, but the epochs are numbered 1 to {len(val)}")
    if val[best_epoch - 1] != min(val):
        hint = ""
        if best_epoch < len(val) and val[best_epoch] == min(val):
            hint = ": epochs count from 1 (val_losses[0] is epoch 1)"
        elif train_losses is not None and type(train_losses) is list and len(train_losses) == len(val) and \
                train_losses[best_epoch - 1] == min(train_losses):
            hint = ": that is where the training loss is lowest; the validation loss decides"
        elif best_epoch == len(val):
            hint = ": the last epoch is not where your validation curve is lowest"
        raise AssertionError(f"best_epoch = {best_epoch} is not the epoch with the lowest value of your "
                             f"val_losses{hint}")
    print(f"✓ best_epoch = {best_epoch}: the lowest value of your val_losses ({val[best_epoch - 1]:.4f}), "
          f"counting epochs from 1")


@_check
def check_retrained(final_net, best_epoch) -> None:
    """``final_net`` is a fresh ``simple_cnn`` trained with the recipe for exactly ``best_epoch`` epochs:
    its weights equal those of the check's own retraining."""
    _untampered()
    epochs = CURVE["epochs"]
    if type(best_epoch) is not int or not 1 <= best_epoch <= epochs:
        raise AssertionError(f"best_epoch must be an epoch number from 1 to {epochs} to retrain for")
    if not isinstance(final_net, nn.Module):
        raise AssertionError(f"final_net must be the retrained nn.Module, got {type(final_net).__name__}")
    state = {k: v.detach() for k, v in nn.Module.state_dict(final_net).items()}
    _, _, weights = _reference(_curve_data(), epochs, curves=False)

    def equal(ref: dict) -> bool:
        return (sorted(ref) == sorted(state)
                and all(tuple(ref[k].shape) == tuple(state[k].shape)
                        and _T["torch.allclose"](state[k].float(), ref[k].float(), rtol=1e-4, atol=1e-6)
                        for k in ref))

    if not equal(weights[best_epoch - 1]):
        other = [i + 1 for i, w in enumerate(weights) if equal(w)]
        if other:
            why = f"it was trained {other[0]} epochs, not best_epoch = {best_epoch}"
        else:
            why = ("it is not a fresh simple_cnn trained by the recipe: start from fresh_net() and run the same "
                   "train.fit call per epoch")
        raise AssertionError(f"final_net's weights are not those of fresh_net() retrained for best_epoch = "
                             f"{best_epoch} epochs: {why}")
    print(f"✓ final_net: a fresh simple_cnn retrained for best_epoch = {best_epoch} epochs (its weights equal "
          f"the check's own retraining)")


@_check
def check_curve_figure(fig, val_losses, train_losses, best_epoch) -> None:
    """``fig`` is your matplotlib figure: both loss curves against the epoch numbers 1, 2, ..., labelled
    axes, a legend, and the best epoch marked (a vertical line, a point or an annotation at it)."""
    _untampered()
    Figure, Line2D, get_ydata = _T["matplotlib.Figure"], _T["matplotlib.Line2D"], _T["matplotlib.Line2D.get_ydata"]
    if type(fig) is not Figure:
        raise AssertionError(f"fig must be the matplotlib Figure with your curves, got {type(fig).__name__}")
    val, trn = _losses(val_losses, "val_losses"), _losses(train_losses, "train_losses")
    if type(best_epoch) is not int:
        raise AssertionError("best_epoch must be an int to be marked on the figure")
    epochs = _T["torch.arange"](1, len(val) + 1, dtype=torch.float64)

    def as64(values):
        return _T["torch.as_tensor"](values, dtype=torch.float64).reshape(-1)

    def find(values):
        target = as64(values)
        for ax in Figure.get_axes(fig):
            for line in ax.get_lines():
                if type(line) is not Line2D:
                    continue
                y = as64(get_ydata(line))
                if y.shape == target.shape and _T["torch.allclose"](y, target, rtol=1e-6):
                    return ax, line
        return None, None

    for name, values in (("train_losses", trn), ("val_losses", val)):
        ax, line = find(values)
        if line is None:
            raise AssertionError(f"fig has no line with the values of {name}; plot both losses per epoch")
        x = as64(line.get_xdata())
        if x.shape != epochs.shape or not _T["torch.equal"](x, epochs):
            raise AssertionError(f"the {name} line is not plotted against the epoch numbers 1 to {len(val)}: "
                                 f"pass them as x")
    ax, _ = find(val)
    if not ax.get_xlabel() or not ax.get_ylabel():
        raise AssertionError("label the axes of the loss plot (epoch, loss)")
    legend = ax.get_legend()
    if legend is None or len(legend.get_texts()) < 2:
        raise AssertionError("the loss plot needs a legend naming the training and the validation curve")

    def marks(artist) -> bool:
        try:
            if type(artist) is Line2D:
                xs = as64(artist.get_xdata())
                return len(xs) > 0 and bool((xs == best_epoch).all())
            if hasattr(artist, "xy") and hasattr(artist, "get_text"):
                return float(artist.xy[0]) == best_epoch
            if hasattr(artist, "get_offsets"):
                offsets = as64(artist.get_offsets()).reshape(-1, 2) if len(artist.get_offsets()) else None
                return offsets is not None and bool((offsets[:, 0] == best_epoch).any())
        except Exception:  # noqa: BLE001 (an artist with odd data marks nothing)
            return False
        return False

    if not _T["builtins.any"](marks(a) for a in ax.get_children()):
        raise AssertionError(f"mark the best epoch on the plot (a vertical line, a point or an annotation at "
                             f"x = best_epoch = {best_epoch})")
    print(f"✓ fig: both loss curves against epochs 1-{len(val)}, labelled axes, a legend, best epoch "
          f"{best_epoch} marked")
