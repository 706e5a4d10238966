"""Self-checks for notebooks: compare, print what matched and by how much, fail loudly otherwise.

Everything prints to stdout (never stderr) and raises ``AssertionError`` with a message that says
what differs, so the same checks serve students' self-checks and nbgrader test cells.
"""
from __future__ import annotations

import numpy as np


def _as_array(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{name}: expected numbers, got {type(value).__name__}") from err


def check_close(name: str, got, expected, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Assert ``got`` matches ``expected`` in shape and value; print the largest difference.

    Returns nothing, so a check as the last line of a cell shows only its printed line.
    """
    got_a, exp_a = _as_array(got, name), _as_array(expected, name)
    if got_a.shape != exp_a.shape:
        raise AssertionError(f"{name}: shape {got_a.shape}, expected {exp_a.shape}")
    diff = float(np.max(np.abs(got_a - exp_a))) if got_a.size else 0.0
    if not np.allclose(got_a, exp_a, atol=atol, rtol=rtol):
        where = np.unravel_index(np.argmax(np.abs(got_a - exp_a)), got_a.shape)
        raise AssertionError(f"{name}: differs by up to {diff:.3g} at index {tuple(int(i) for i in where)} "
                             f"(got {got_a[where]:.6g}, expected {exp_a[where]:.6g}; tolerance {atol:g})")
    print(f"✓ {name}: shape {got_a.shape}, max |difference| = {diff:.2e}")


def check_equal(name: str, got, expected) -> None:
    """Assert ``got == expected`` (numbers, tuples, strings) and print the match."""
    if got != expected:
        raise AssertionError(f"{name}: got {got!r}, expected {expected!r}")
    print(f"✓ {name}: {got!r}")
