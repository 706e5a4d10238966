"""Learning-rate schedules as plain functions of the step, for plotting and for reasoning about them.

``onecycle_lr`` is the one-cycle schedule `train.fit` uses (through ``torch.optim.lr_scheduler.OneCycleLR``,
cosine annealing, torch's defaults), written out so a notebook can draw it without an optimiser: a warm-up
from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of the steps, then annealing down to
``max_lr / (div_factor * final_div_factor)``. tests/test_schedules.py compares it with torch's scheduler.
"""
from __future__ import annotations

import math


def _cos(start: float, end: float, fraction: float) -> float:
    """From ``start`` (fraction 0) to ``end`` (fraction 1) along half a cosine."""
    return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)


def onecycle_lr(step: int, total_steps: int, max_lr: float, pct_start: float = 0.3,
                div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """The learning rate of one-cycle at ``step`` (0-based, the rate used by the step's update)."""
    if total_steps < 2:
        raise ValueError(f"total_steps must be at least 2, got {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be between 0 and {total_steps - 1} (total_steps - 1), got {step}")
    if not 0 < pct_start < 1:
        raise ValueError(f"pct_start must be between 0 and 1 (a fraction of the steps), got {pct_start}")
    initial = max_lr / div_factor
    final = initial / final_div_factor
    peak = float(pct_start * total_steps) - 1  # the step at which torch reaches max_lr
    if step <= peak:
        return _cos(initial, max_lr, step / peak) if peak > 0 else max_lr
    return _cos(max_lr, final, (step - peak) / (total_steps - 1 - peak))


def onecycle(total_steps: int, max_lr: float, **kwargs) -> list[float]:
    """``onecycle_lr`` for every step 0 .. total_steps - 1."""
    return [onecycle_lr(step, total_steps, max_lr, **kwargs) for step in range(total_steps)]
