"""cnnlib.pool.pool2d against torch.nn.functional.max_pool2d / avg_pool2d.

Also the pooling figures printed in the seed course material (seed 002).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib.pool import pool2d

TORCH_POOL = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def torch_pool(X, size, stride, padding, mode):
    """torch's pooling with its defaults; (H, W) arrays get a channel axis and lose it again."""
    x = torch.from_numpy(np.asarray(X).copy())
    squeeze = x.ndim == 2
    if squeeze:
        x = x[None]
    out = TORCH_POOL[mode](x, size, stride=stride, padding=padding)
    return (out[0] if squeeze else out).numpy()


@settings(deadline=None, max_examples=80)
@given(
    ndim=st.sampled_from([2, 3, 4]), h=st.integers(1, 11), w=st.integers(1, 11),
    kh=st.integers(1, 4), kw=st.integers(1, 4),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    ph=st.integers(0, 2), pw=st.integers(0, 2), mode=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_pool2d_matches_torch(ndim, h, w, kh, kw, stride, ph, pw, mode, seed):
    """Overlapping (stride < size), non-overlapping and gapped windows; padding; non-square."""
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    shape = {2: (h, w), 3: (3, h, w), 4: (2, 3, h, w)}[ndim]
    X = np.random.default_rng(seed).standard_normal(shape)
    expected = torch_pool(X, (kh, kw), stride, (ph, pw), mode)
    got = pool2d(X, (kh, kw), stride=stride, padding=(ph, pw), mode=mode)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    "size, stride, padding",
    [(2, None, 0), (2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), ((2, 3), (1, 2), (1, 1)), (3, 3, 0)],
)
def test_pool2d_batch_matches_torch(mode, size, stride, padding):
    X = np.random.default_rng(0).standard_normal((4, 5, 13, 10))
    expected = torch_pool(X, size, stride, padding, mode)
    np.testing.assert_allclose(pool2d(X, size, stride, padding, mode), expected, rtol=1e-12, atol=1e-12)


def test_max_pool_pads_with_minus_infinity():
    """With all-negative inputs zero padding would win the max; torch pads with -inf."""
    X = -1.0 - np.arange(25.0).reshape(5, 5)
    expected = torch_pool(X, 3, 2, 1, "max")
    got = pool2d(X, 3, stride=2, padding=1)
    np.testing.assert_array_equal(got, expected)
    assert (got < 0).all()


def test_avg_pool_counts_padding_like_torch_default():
    """count_include_pad=True: a corner window with 4 ones and 5 padded zeros averages 4/9."""
    X = np.ones((4, 4))
    got = pool2d(X, 3, stride=1, padding=1, mode="avg")
    np.testing.assert_allclose(got, torch_pool(X, 3, 1, 1, "avg"))
    assert got[0, 0] == pytest.approx(4 / 9)


def test_pool2d_float32_stays_float32():
    X = np.random.default_rng(1).standard_normal((1, 2, 6, 6)).astype(np.float32)
    got = pool2d(X, 2)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, torch_pool(X, 2, None, 0, "max"))


def test_pool2d_integer_input():
    X = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(pool2d(X, 2), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(pool2d(X, 2, mode="avg"), [[2.5, 4.5], [10.5, 12.5]])


# ------------------------------------------------------------------ seed 002 figures


def test_seed002_maxpool_2x2_stride1_valid():
    """Seed 002: MaxPooling2D((2,2), strides=(1,1), 'valid') on [[1,2,3],[4,5,6],[7,8,9]] -> [[5,6],[8,9]]."""
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    np.testing.assert_array_equal(pool2d(X, 2, stride=1), [[5, 6], [8, 9]])
    np.testing.assert_array_equal(torch_pool(X, 2, 1, 0, "max"), [[5, 6], [8, 9]])


def test_seed002_maxpool_2x2_stride2_valid():
    """Seed 002: 2x2 max pool, stride 2 on the 3x4 matrix 1..12 -> [[6, 8]] (last row dropped)."""
    X = np.arange(1.0, 13.0).reshape(3, 4)
    np.testing.assert_array_equal(pool2d(X, 2), [[6, 8]])
    np.testing.assert_array_equal(torch_pool(X, 2, 2, 0, "max"), [[6, 8]])


def test_seed002_maxpool_same_padding_is_asymmetric():
    """Seed 002: Keras 'same' 2x2 max pool, stride 1, on 1..9 -> [[5,6,6],[8,9,9],[8,9,9]].

    A 2x2 window needs one padded row/column in total, which Keras adds at the
    bottom/right.  Symmetric padding (pool2d's, like torch's) cannot express
    that, but padding the bottom/right with -inf by hand and pooling gives the
    seed's figure.
    """
    X = np.arange(1.0, 10.0).reshape(3, 3)
    padded = np.pad(X, ((0, 1), (0, 1)), constant_values=-np.inf)
    np.testing.assert_array_equal(pool2d(padded, 2, stride=1), [[5, 6, 6], [8, 9, 9], [8, 9, 9]])


# ------------------------------------------------------------------ errors


def test_error_padding_more_than_half_the_size():
    X = np.ones((1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"padding \(2\) must be at most half the pool size \(3\)"):
        pool2d(X, 3, padding=2)
    with pytest.raises(RuntimeError, match="pad should be"):  # torch refuses the same input
        F.max_pool2d(torch.ones(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(ValueError, match=r"padding \(2\) must be at most half the pool size \(2\) along width"):
        pool2d(X, (5, 2), padding=(2, 2), mode="avg")
    pool2d(X, 3, padding=1)  # exactly half (rounded down) is fine


def test_error_unknown_mode():
    with pytest.raises(ValueError, match=r"mode must be 'max' or 'avg', got 'mean'"):
        pool2d(np.ones((4, 4)), 2, mode="mean")


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=0), r"size must be a positive integer \(>= 1\), got 0"),
    (dict(size=(2, 0)), r"size\[1\] must be a positive integer"),
    (dict(size=2, stride=0), r"stride must be a positive integer"),
    (dict(size=2, padding=-1), r"padding must be a non-negative integer"),
    (dict(size=2.5), r"size must be an integer, got 2\.5"),
    (dict(size=(2, 2, 2)), r"size must be an int or a pair"),
    (dict(size=5), r"pool size \(5\) is larger than the padded input along height \(4 \+ 2\*0 = 4\)"),
])
def test_error_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool2d(np.ones((4, 4)), **kwargs)


def test_error_wrong_rank():
    with pytest.raises(ValueError, match=r"pool2d expects X to be a 2D or 3D or 4D array, got shape \(4,\)"):
        pool2d(np.ones(4), 2)
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 1, 4, 4\)"):
        pool2d(np.ones((1, 1, 1, 4, 4)), 2)


def test_error_non_numeric():
    with pytest.raises(ValueError, match="X must contain real numbers"):
        pool2d(np.array([["a", "b"], ["c", "d"]]), 2)
