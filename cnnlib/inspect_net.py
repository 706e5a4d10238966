"""Looking inside a network with forward hooks: the outputs of its layers, and their statistics in training.

A forward hook is a function PyTorch calls with (module, inputs, output) after every forward pass of a
module; it sees the activations without any change to the network or to the training loop that runs it.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

#: The columns of `ActivationStats.table`, one row per recorded batch.
STATS = ("mean", "std", "near_zero")


def blocks(net: nn.Module) -> dict[str, nn.Module]:
    """The direct children of ``net`` that hold parameters, named "1 Conv2d", "2 Sequential", ...

    For the course's ``nn.Sequential`` models these are the `models.conv` blocks (the Flatten is left out).
    """
    found = {f"{i + 1} {type(m).__name__}": m for i, m in enumerate(net.children())
             if any(True for _ in m.parameters())}
    if not found:
        raise ValueError(f"{type(net).__name__} has no child module with parameters; pass the layers to "
                         "watch as a dict of name -> module instead")
    return found


def _check_modules(modules) -> dict[str, nn.Module]:
    if isinstance(modules, nn.Module):
        modules = blocks(modules)
    if not isinstance(modules, Mapping) or not modules:
        raise ValueError("modules must be a network or a non-empty dict of name -> nn.Module, "
                         f"got {type(modules).__name__}")
    for name, m in modules.items():
        if not isinstance(m, nn.Module):
            raise TypeError(f"modules[{name!r}] is a {type(m).__name__}, not an nn.Module")
    return dict(modules)


@torch.inference_mode()
def layer_outputs(net: nn.Module, x: torch.Tensor, modules=None) -> dict[str, torch.Tensor]:
    """Run ``net`` on ``x`` in eval mode and return each watched module's output (on the CPU).

    ``modules`` is a dict of name -> module inside ``net``; by default its `blocks`. The mode is restored.
    """
    modules = _check_modules(net if modules is None else modules)
    outputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().cpu()))
               for name, m in modules.items()]
    was_training = net.training
    net.eval()
    try:
        net(x.to(next(net.parameters()).device))
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    missing = [name for name in modules if name not in outputs]
    if missing:
        raise ValueError(f"modules {missing} did not run in net's forward pass: are they inside net?")
    return {name: outputs[name] for name in modules}


class ActivationStats:
    """Per-batch statistics of each watched module's output, recorded by forward hooks.

    For every forward pass (in training mode only, unless ``training_only=False``) it stores the mean,
    the standard deviation (torch's default, unbiased) and the share of activations with
    ``|a| < threshold`` ("near zero": after a ReLU, the units that are off). Use as a context manager, or
    call `remove` when done::

        with inspect_net.ActivationStats(net) as stats:
            train.fit(net, data, ...)
        stats.table("1 Sequential")   # (batches, 3) array: mean, std, near_zero
    """

    def __init__(self, modules, threshold: float = 1e-2, training_only: bool = True):
        if not threshold > 0:
            raise ValueError(f"threshold must be a positive number (e.g. 1e-2), got {threshold!r}")
        self.modules = _check_modules(modules)
        self.threshold = float(threshold)
        self.training_only = training_only
        self.rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in self.modules}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.modules.items()]

    def _hook(self, name: str):
        def record(module, inputs, output):
            if self.training_only and not module.training:
                return
            a = output.detach().float()
            self.rows[name].append((a.mean().item(), a.std().item(),
                                    (a.abs() < self.threshold).float().mean().item()))
        return record

    @property
    def names(self) -> list[str]:
        return list(self.modules)

    def table(self, name: str) -> np.ndarray:
        """A (batches, 3) array of `STATS` (mean, std, near_zero) for the module called ``name``."""
        if name not in self.rows:
            raise KeyError(f"{name!r}: watched modules are {self.names}")
        return np.array(self.rows[name], dtype=float).reshape(-1, len(STATS))

    def remove(self) -> None:
        """Remove the hooks (the recorded numbers stay)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "ActivationStats":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        batches = {len(r) for r in self.rows.values()}
        return f"ActivationStats({self.names}, threshold={self.threshold}, batches={sorted(batches)})"
