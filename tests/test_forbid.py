"""cnnlib.forbid catches real numpy, scipy, torch and cnnlib calls whatever name reached them, lets honest
code through, names the case in every failure and leaves the profiler and torch modes as it found them."""
from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest
import torch
from torch.overrides import _get_current_function_mode_stack

from cnnlib import forbid

CONV_RULES = ("numpy.convolve", "numpy.correlate", "scipy", "torch", "cnnlib.conv")
X = np.array([1, 3, 2, 4, 5, 6, 1, 3], dtype=float)
W = np.array([1, 0, 3], dtype=float)


def loops(x, w):
    return np.array([np.dot(x[i:i + len(w)], w[::-1]) for i in range(len(x) - len(w) + 1)])


def windows(x, w):
    from numpy.lib.stride_tricks import sliding_window_view
    return np.einsum("ij,j->i", sliding_window_view(x, len(w)), w[::-1])


def alias_from_import(x, w):
    from numpy import convolve as c
    return c(x, w, "valid")


def getattr_name(x, w):
    return getattr(np, "con" + "volve")(x, w, "valid")


def scipy_alias(x, w):
    import scipy.signal as ss
    return ss.convolve(x, w, "valid")


def scipy_ndimage(x, w):
    from scipy import ndimage
    return ndimage.convolve1d(x, w)[1:-1]


def correlate_reversed(x, w):
    return np.correlate(x, w[::-1], "valid")


def numpy_internal_kernel(x, w):
    # what np.convolve runs underneath, reached without np.convolve (any spelling of numpy's C module)
    kernel = getattr(np.convolve, "__wrapped__", np.convolve).__globals__["multiarray"].correlate
    return kernel(x, w[::-1], 0)


def numpy_internal_kernel2(x, w):
    import importlib
    return importlib.import_module("numpy._core._multiarray_umath").correlate2(x, w[::-1], 0)


def torch_functional(x, w):
    import torch.nn.functional as tf
    return tf.conv1d(torch.as_tensor(x).view(1, 1, -1), torch.as_tensor(w[::-1].copy()).view(1, 1, -1))[0, 0].numpy()


def cnnlib_conv(x, w):
    from cnnlib.conv import conv1d as mine
    return mine(x, w)


TENSOR = torch.arange(8.0)


def tensor_method_only(x, w):
    return np.full(len(x) - len(w) + 1, float(TENSOR.max()))


@pytest.mark.parametrize("fn", [loops, windows])
def test_honest_code_passes_and_returns_its_result(fn):
    got = forbid.call(fn, X, W, case="n=8", forbidden=CONV_RULES)
    np.testing.assert_allclose(got, np.convolve(X, W, "valid"))


@pytest.mark.parametrize("fn, rule", [
    (alias_from_import, "numpy.convolve"), (getattr_name, "numpy.convolve"), (scipy_alias, "scipy"),
    (scipy_ndimage, "scipy"), (correlate_reversed, "numpy.correlate"), (torch_functional, "torch"),
    (numpy_internal_kernel, "numpy.convolve"), (numpy_internal_kernel2, "numpy.correlate"),
    (cnnlib_conv, "cnnlib.conv"), (tensor_method_only, "torch"),
])
def test_forbidden_calls_fail_whatever_name_reached_them(fn, rule):
    with pytest.raises(AssertionError) as err:
        forbid.call(fn, X, W, case="n=8, padding=0", forbidden=CONV_RULES)
    message = str(err.value)
    assert message.startswith(f"n=8, padding=0: {fn.__name__} called ") and rule in message, message


def test_one_function_of_a_module_is_forbidden_and_its_neighbours_are_not():
    from cnnlib import shapes
    rules = ("torch", "cnnlib.shapes.conv_output_size")
    assert forbid.call(shapes.conv2d_params, 3, 16, 5, case="c", forbidden=rules) == 16 * (3 * 25 + 1)
    with pytest.raises(AssertionError, match="cnnlib.shapes.conv_output_size"):
        forbid.call(lambda n, k: shapes.conv_output_size(n, k), 28, 3, case="n=28", forbidden=rules)


def test_building_a_network_calls_torch():
    def build(c):
        return sum(p.numel() for p in torch.nn.Conv2d(3, c, 3).parameters())
    with pytest.raises(AssertionError, match="torch"):
        forbid.call(build, 16, case="c=16", forbidden=("torch",))


def test_an_exception_becomes_an_assertion_naming_the_case():
    def broken(x, w):
        return x[len(x) + 5]
    with pytest.raises(AssertionError, match=r"^n=8, stride=3: broken raised IndexError: index 13") as err:
        forbid.call(broken, X, W, case="n=8, stride=3")
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert "(line " in str(err.value) and "return x[len(x) + 5]" in str(err.value)


def test_run_returns_the_result_or_the_problem():
    assert forbid.run(loops, X, W, case="c", forbidden=CONV_RULES)[1] is None
    result, problem = forbid.run(alias_from_import, X, W, case="n=8", forbidden=CONV_RULES)
    assert result is None and problem.startswith("n=8: alias_from_import called numpy.convolve")


@pytest.mark.parametrize("args", [(X.copy(), W.copy()), (list(X), list(W))])
def test_modified_inputs_fail(args):
    def flips_in_place(x, w):
        w.reverse() if isinstance(w, list) else w.__setitem__(slice(None), w[::-1].copy())
        return loops(np.asarray(x), np.asarray(w)[::-1])
    with pytest.raises(AssertionError, match="modified its argument 2"):
        forbid.call(flips_in_place, *args, case="lists")


def test_stderr_of_the_student_goes_to_stdout(capsys):
    def chatty():
        print("debug", file=sys.stderr)
        np.float64(1.0) / 0.0  # a RuntimeWarning, silenced
        return 1
    assert forbid.call(chatty, case="c") == 1
    out, err = capsys.readouterr()
    assert "debug" in out and err == ""


@pytest.mark.parametrize("fn", [loops, torch_functional, getattr_name])
def test_the_previous_profiler_and_torch_modes_are_restored(fn):
    calls = []

    def outer(frame, event, arg):
        calls.append(event)

    modes = len(_get_current_function_mode_stack())
    sys.setprofile(outer)
    try:
        with pytest.raises(AssertionError) if fn is not loops else contextlib.nullcontext():
            forbid.call(fn, X, W, case="c", forbidden=CONV_RULES)
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)
    assert len(_get_current_function_mode_stack()) == modes
    assert sys.getprofile() is None


def test_nothing_is_left_installed_after_an_exception_inside_watch():
    with pytest.raises(KeyError):
        with forbid.watch(("torch",)):
            raise KeyError("x")
    assert sys.getprofile() is None and len(_get_current_function_mode_stack()) == 0


def test_switching_the_watch_off_fails():
    def unwatched(x, w):
        sys.setprofile(None)
        return np.convolve(x, w, "valid")
    with pytest.raises(AssertionError, match="sys.setprofile"):
        forbid.call(unwatched, X, W, case="c", forbidden=CONV_RULES)
    assert sys.getprofile() is None


def test_an_unknown_forbidden_name_is_refused():
    with pytest.raises(ValueError, match="neither a module nor a function"):
        forbid.call(loops, X, W, case="c", forbidden=("numpy.no_such_function",))

