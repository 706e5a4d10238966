"""Comparison runs: train one network with a given optimiser (and optionally a scheduler), recording the loss
of every step and the validation loss and accuracy after every epoch.

`train.fit` always uses Adam; the training notebook compares optimisers and schedules on the same network,
data and batch order, so it needs the optimiser as an argument and the curve step by step. Batches are cut
in the order `train.fit` uses (a ``torch.Generator`` seeded with ``seed`` shuffles each epoch), so a run with
Adam and no scheduler follows `train.fit(..., schedule="constant", channels_last=False)` step for step
(tests/test_runs.py checks it, and checks the steps against a plain torch loop).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from cnnlib import train


@dataclass
class Run:
    """What `train_run` recorded: per step ``step_loss`` and ``lr``, per epoch ``val_loss`` and ``val_acc``."""

    step_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0

    def epoch_loss(self) -> list[float]:
        """Mean training loss of each epoch (the mean of its steps' batch losses)."""
        n = self.steps_per_epoch
        return [sum(self.step_loss[i:i + n]) / n for i in range(0, len(self.step_loss), n)]


def train_run(net: nn.Module, optimizer: torch.optim.Optimizer, data, num_epochs: int, batch_size: int = 100,
              seed: int = 0, scheduler=None) -> Run:
    """Train ``net`` on ``data.X_train/y_train`` with ``optimizer`` (and ``scheduler``, stepped after every
    batch); evaluate on ``data.X_val/y_val`` after every epoch with `train.evaluate`. Returns a `Run`."""
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks repeat too
    n = len(data.X_train)
    run = Run(steps_per_epoch=(n + batch_size - 1) // batch_size)
    for _ in range(num_epochs):
        net.train()
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            run.lr.append(optimizer.param_groups[0]["lr"])
            loss = F.cross_entropy(net(data.X_train[idx]), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            run.step_loss.append(loss.item())
        val_loss, val_acc = train.evaluate(net, data.X_val, data.y_val)
        run.val_loss.append(val_loss)
        run.val_acc.append(val_acc)
    return run
