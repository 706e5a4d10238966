"""Self-checks print what matched and fail with what differs."""
import numpy as np
import pytest
import torch

from cnnlib import checks


def test_check_close_prints_the_largest_difference(capsys):
    assert checks.check_close("y", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-8])) is None
    out = capsys.readouterr().out
    assert out.startswith("✓ y: shape (2,)") and "max |difference| = 1.00e-08" in out


def test_check_close_reports_where_and_by_how_much():
    with pytest.raises(AssertionError, match=r"y: differs by up to 0.5 at index \(1, 0\) \(got 3.5, expected 3"):
        checks.check_close("y", [[1, 2], [3.5, 4]], [[1, 2], [3, 4]])
    with pytest.raises(AssertionError, match=r"shape \(3,\), expected \(2,\)"):
        checks.check_close("y", [1, 2, 3], [1, 2])
    with pytest.raises(AssertionError, match="expected numbers, got str"):
        checks.check_close("y", "abc", [1, 2])


def test_check_equal(capsys):
    checks.check_equal("shape", (1, 2), (1, 2))
    assert "✓ shape: (1, 2)" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"got 3, expected 4"):
        checks.check_equal("n", 3, 4)
