"""Checks for the graded CNN exercises (pooling swap, dropout, learning curve).

They judge behaviour, not spelling: a network is run on a real batch with forward hooks that record
which layers ran, in which order, on which shapes. Any correct answer passes (max or average pooling,
``nn.Sequential`` or a module of your own, any valid layer order); each failure says what is wrong in
*your* network: which layer, which shape. Every check prints what it verified and raises
``AssertionError`` otherwise. Test cells reload this module before use, so the checks that run are
the ones on disk.

Hardened against submissions that try to pass without solving (see also scripts/course_nbgrader.py):
the library functions and methods the checks rely on are captured when this module is first imported
(in the grading kernel: before any student code runs) and kept across reloads; each check first verifies
they are still the same objects, and calls the captured ones. Answers are taken at their exact type
(``History``, ``int``, ``Figure``), so a subclass cannot fake lengths, comparisons or curves; networks
are run through ``nn.Module``'s own methods, whatever a student's module overrides. Output a student's
code writes to stderr while a check runs goes to stdout (nbgrader would score stderr 0).
"""
from __future__ import annotations

import builtins
import contextlib
import importlib
import math
import sys
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from cnnlib import train


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
                                                 "no_grad", "Generator", "zeros")},
        "nn.Module": {k: getattr(nn.Module, k) for k in ("__call__", "_call_impl", "register_forward_hook",
                                                         "named_modules", "modules", "children", "train",
                                                         "state_dict", "parameters")},
        "math": {k: getattr(math, k) for k in ("isclose", "isfinite")},
        "train": {k: getattr(train, k) for k in ("History", "fingerprint", "signature_of", "weights_fingerprint",
                                                 "evaluate")},
        "importlib": {"reload": importlib.reload},
        "matplotlib": {"Figure": Figure, "Line2D": Line2D, "Line2D.get_ydata": Line2D.get_ydata},
    }


#: captured at the first import, kept by ``importlib.reload`` (which re-runs this file in the same namespace)
_TRUSTED: dict = globals().get("_TRUSTED") or _capture()
_T = {f"{group}.{k}": v for group, items in _TRUSTED.items() for k, v in items.items()}
_LIVE = {"builtins": builtins, "torch": torch, "nn.Module": nn.Module, "math": math, "train": train,
         "importlib": importlib}


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

POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d,
              nn.FractionalMaxPool2d)
DROPOUT_TYPES = (nn.Dropout, nn.Dropout2d)
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
                    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardswish, nn.PReLU)
LEARNED_TYPES = (nn.Conv2d, nn.Linear)


@dataclass
class Call:
    """One leaf layer that ran: its name in the network, the module, input and output shapes."""

    name: str
    module: nn.Module
    shape_in: tuple
    shape_out: tuple

    def __str__(self) -> str:
        return f"{type(self.module).__name__} `{self.name}`"


def trace(net: nn.Module, x: torch.Tensor, train_mode: bool = False) -> tuple[list[Call], torch.Tensor]:
    """Run ``net`` on ``x`` and list the leaf layers in the order they ran (hooks removed after)."""
    _untampered()
    M = nn.Module  # its own methods: a student's module may override them, these do what they say
    calls: list[Call] = []
    handles = []
    named = list(M.named_modules(net))
    names = {id(m): n for n, m in named}
    for _, module in named:
        if not list(M.children(module)):
            def hook(mod, inputs, output):
                shape_in = tuple(inputs[0].shape) if inputs and _T["torch.is_tensor"](inputs[0]) else ()
                shape_out = tuple(output.shape) if _T["torch.is_tensor"](output) else ()
                calls.append(Call(names.get(id(mod), "?") or type(mod).__name__, mod, shape_in, shape_out))
            handles.append(M.register_forward_hook(module, hook))
    was_training = net.training
    M.train(net, train_mode)
    try:
        with _T["torch.no_grad"](), _quiet():
            out = M.__call__(net, x)
    finally:
        M.train(net, was_training)
        for h in handles:
            h.remove()
    return calls, out


def _build(factory, what: str) -> nn.Module:
    _untampered()
    with _quiet():
        net = factory() if callable(factory) and not isinstance(factory, nn.Module) else factory
    if not isinstance(net, nn.Module):
        raise AssertionError(f"{what} must be an nn.Module, got {type(net).__name__}")
    return net


def _mnist_batch(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def check_logits_shape(factory, what: str = "pool_cnn()") -> None:
    """The network maps an (N, 1, 28, 28) batch to (N, 10) logits, for N = 1 and N = 3."""
    net = _build(factory, what)
    for n in (1, 3):
        try:
            _, out = trace(net, _mnist_batch(n))
        except Exception as err:  # a student's network may fail in any way
            raise AssertionError(f"{what} fails on a batch of shape ({n}, 1, 28, 28): "
                                 f"{type(err).__name__}: {err}") from None
        if tuple(out.shape) != (n, 10):
            raise AssertionError(f"{what} maps a ({n}, 1, 28, 28) batch to shape {tuple(out.shape)}; "
                                 f"it must give ({n}, 10) logits")
    print(f"✓ {what} maps (N, 1, 28, 28) to (N, 10) logits")


def _halves(n_in: int, n_out: int) -> bool:
    return n_out in (n_in // 2, (n_in + 1) // 2)


def check_pool_swap(factory, what: str = "pool_cnn()", n_convs: int = 3, n_pools: int = 2) -> None:
    """Exactly ``n_pools`` pooling layers, each halving height and width, and ``n_convs`` convolutions."""
    check_logits_shape(factory, what)
    calls, _ = trace(_build(factory, what), _mnist_batch())
    pools = [c for c in calls if isinstance(c.module, POOL_TYPES)]
    convs = [c for c in calls if isinstance(c.module, nn.Conv2d)]
    if len(pools) != n_pools:
        found = ", ".join(map(str, pools)) or "none"
        raise AssertionError(f"{what} runs {len(pools)} pooling layers ({found}); replace exactly {n_pools} "
                             f"of simple_cnn's convolutional blocks by nn.MaxPool2d or nn.AvgPool2d layers")
    for c in pools:
        (h, w), (h2, w2) = c.shape_in[-2:], c.shape_out[-2:]
        if not (_halves(h, h2) and _halves(w, w2)):
            raise AssertionError(f"pooling layer {c} maps {h}x{w} to {h2}x{w2}: it must halve height and "
                                 f"width (to {h // 2} or {(h + 1) // 2}); try kernel_size=2, stride=2")
    if len(convs) != n_convs:
        raise AssertionError(f"{what} runs {len(convs)} convolutions; simple_cnn has 5 and two are replaced "
                             f"by pooling, so {n_convs} should remain")
    shapes = " -> ".join(f"{c.shape_out[-2]}x{c.shape_out[-1]}" for c in pools)
    print(f"✓ {len(pools)} pooling layers, each halving its input ({shapes}), and {len(convs)} convolutions")


def _kinds(calls: list[Call]) -> str:
    return " -> ".join(type(c.module).__name__ for c in calls)


def check_dropout_block(conv_fn, p: float = 0.5) -> None:
    """``conv(ic, oc)`` runs Conv2d, activation, Dropout(p) in that order; ``act=False`` has no dropout."""
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    block = _build(lambda: conv_fn(3, 6), "conv(3, 6)")
    calls, out = trace(block, x, train_mode=True)
    if tuple(out.shape) != (8, 6, 8, 8):
        raise AssertionError(f"conv(3, 6) maps (8, 3, 16, 16) to {tuple(out.shape)}; keep the stride-2, "
                             f"3x3, padding-1 convolution so it gives (8, 6, 8, 8)")
    kinds = _kinds(calls)
    drops = [i for i, c in enumerate(calls) if isinstance(c.module, DROPOUT_TYPES)]
    acts = [i for i, c in enumerate(calls) if isinstance(c.module, ACTIVATION_TYPES)]
    convs = [i for i, c in enumerate(calls) if isinstance(c.module, nn.Conv2d)]
    if len(drops) != 1:
        raise AssertionError(f"conv(3, 6) runs {kinds}: it needs exactly one nn.Dropout layer, found {len(drops)}")
    drop = calls[drops[0]].module
    if not math.isclose(drop.p, p):
        raise AssertionError(f"the dropout in conv(3, 6) has p={drop.p}; the exercise asks for p={p}")
    if not (convs and acts and convs[0] < acts[0] < drops[0]):
        raise AssertionError(f"conv(3, 6) runs {kinds}: dropout must come after the activation "
                             f"(Conv2d -> ReLU -> Dropout)")
    if drops[0] != len(calls) - 1:
        raise AssertionError(f"conv(3, 6) runs {kinds}: dropout must be the block's last layer, "
                             f"right before the next block")
    # behaviour: in training mode about a fraction p of the positive activations are zeroed and the
    # rest scaled by 1/(1-p); in eval mode the block is deterministic
    torch.manual_seed(0)
    xb = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    _, y_train = trace(block, xb, train_mode=True)
    _, y_eval = trace(block, xb, train_mode=False)
    positive = y_eval > 0
    dropped = float((y_train[positive] == 0).float().mean())
    kept = y_train[positive] != 0
    if not (abs(dropped - p) < 0.1 and _T["torch.allclose"](y_train[positive][kept], y_eval[positive][kept] / (1 - p),
                                                             rtol=1e-4, atol=1e-6)):
        raise AssertionError(f"in training mode conv(3, 6) zeroes {dropped:.0%} of its positive outputs; "
                             f"dropout with p={p} should zero about {p:.0%} and scale the rest by {1 / (1 - p):g}")
    last = _build(lambda: conv_fn(3, 6, act=False), "conv(3, 6, act=False)")
    calls_last, a = trace(last, x, train_mode=True)
    _, b = trace(last, x, train_mode=True)
    if any(isinstance(c.module, DROPOUT_TYPES) for c in calls_last) or not _T["torch.equal"](a, b):
        raise AssertionError(f"conv(3, 6, act=False) runs {_kinds(calls_last)}: the last block produces the "
                             f"logits and must have no dropout (and no activation)")
    print(f"✓ conv(3, 6) runs {kinds}; dropout zeroes {dropped:.1%} of positive outputs in training, "
          f"none in eval; conv(..., act=False) has no dropout")


def check_dropout_net(net: nn.Module, p: float = 0.5, what: str = "net") -> None:
    """Every dropout in ``net`` follows an activation, has probability p, and none acts on the logits."""
    calls, _ = trace(_build(net, what), _mnist_batch(), train_mode=True)
    drops = [i for i, c in enumerate(calls) if isinstance(c.module, DROPOUT_TYPES)]
    if not drops:
        raise AssertionError(f"{what} has no dropout layer: build it with your new conv")
    last_learned = max(i for i, c in enumerate(calls) if isinstance(c.module, LEARNED_TYPES))
    if drops[-1] > last_learned:
        raise AssertionError(f"{calls[drops[-1]]} in {what} acts on the logits (after the last layer with "
                             f"weights); remove it from the final block")
    for i in drops:
        c = calls[i]
        if not math.isclose(c.module.p, p):
            raise AssertionError(f"{c} in {what} has p={c.module.p}; use p={p}")
        if i == 0 or not isinstance(calls[i - 1].module, ACTIVATION_TYPES):
            prev = type(calls[i - 1].module).__name__ if i else "nothing"
            raise AssertionError(f"{c} in {what} follows {prev}; dropout must come right after an activation")
    print(f"✓ {what}: {len(drops)} dropout layers, each after an activation, none on the logits")


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
    print(f"✓ history: {len(rows)} epochs from train.fit on the validation split; re-evaluating net "
          f"gives the last validation loss {val_loss:.4f} again")


def check_best_epoch(best_epoch, history) -> None:
    """``best_epoch`` (1-based) is where the validation loss is lowest (or validation accuracy highest)."""
    _untampered()
    if type(best_epoch) is not int:
        raise AssertionError(f"best_epoch must be an int (an epoch number, counting from 1), got {best_epoch!r}")
    rows = _rows(history)
    losses, accs = _column(rows, "val_loss"), _column(rows, "val_acc")
    by_loss = [i + 1 for i, v in enumerate(losses) if v == min(losses)]
    by_acc = [i + 1 for i, v in enumerate(accs) if v == max(accs)]
    if best_epoch not in by_loss + by_acc:
        raise AssertionError(f"best_epoch = {best_epoch}, but the validation loss is lowest at epoch "
                             f"{by_loss[0]} ({min(losses):.4f}); read it from history['val_loss']")
    print(f"✓ best_epoch = {best_epoch}: validation loss {losses[best_epoch - 1]:.4f} "
          f"(lowest {min(losses):.4f}), accuracy {accs[best_epoch - 1]:.4f}")


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
