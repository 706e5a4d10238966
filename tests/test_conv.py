"""cnnlib.conv against independent references: numpy, scipy.signal and torch.

Nothing here compares cnnlib with itself.  The seed-figure tests at the end
check the numbers printed in the seed course material (shared/seeds/001 and
003) and show the right answer where the seed is wrong.
"""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import conv
from cnnlib.conv import conv1d, conv2d, conv_forward, corr1d, corr2d

MODES = ["full", "same", "valid"]
FAST = settings(deadline=None, max_examples=60)


def rng_for(seed):
    return np.random.default_rng(seed)


def t(a):
    return torch.from_numpy(np.asarray(a).copy())  # copy: torch refuses negative strides


def torch_corr1d(x, w, padding, stride):
    return F.conv1d(t(x)[None, None], t(w)[None, None], padding=padding, stride=stride)[0, 0].numpy()


def torch_corr2d(X, K, padding, stride):
    return F.conv2d(t(X)[None, None], t(K)[None, None], padding=padding, stride=stride)[0, 0].numpy()


# ------------------------------------------------------------------ 1D vs numpy


@pytest.mark.parametrize("ours, reference", [(conv1d, np.convolve), (corr1d, np.correlate)],
                         ids=["conv1d-numpy.convolve", "corr1d-numpy.correlate"])
@FAST
@given(n=st.integers(1, 12), m=st.integers(1, 12), mode=st.sampled_from(MODES), seed=st.integers(0, 2**32 - 1))
def test_1d_matches_numpy(ours, reference, n, m, mode, seed):
    """All three modes, odd and even kernels, kernels longer than x for 'full'/'same'."""
    if mode == "valid" and m > n:
        return  # numpy swaps x and w here; we refuse (tested below)
    rng = rng_for(seed)
    x, w = rng.standard_normal(n), rng.standard_normal(m)
    expected = reference(x, w, mode)
    got = ours(x, w, padding=mode)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_even_kernel_same_mode_numpy_alignment():
    """For an even kernel 'same' must drop one more value of the full result on one side.

    numpy keeps full[(m-1)//2 : (m-1)//2 + n]; the other choice, full[m//2 : m//2 + n],
    is a different answer, so matching numpy really tests the side.
    """
    x = np.arange(1.0, 7.0)
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    n, m = len(x), len(w)
    for ours, ref in ((conv1d, np.convolve), (corr1d, np.correlate)):
        full = ref(x, w, "full")
        np.testing.assert_array_equal(ours(x, w, "same"), ref(x, w, "same"))
        np.testing.assert_array_equal(ours(x, w, "same"), full[(m - 1) // 2 : (m - 1) // 2 + n])
        assert not np.array_equal(ours(x, w, "same"), full[m // 2 : m // 2 + n])


def test_full_mode_kernel_longer_than_signal():
    x = np.array([1.0, 2.0])
    w = np.array([1.0, -1.0, 2.0, 0.5, 3.0])
    assert conv1d(x, w, "full").shape == (6,)
    np.testing.assert_allclose(conv1d(x, w, "full"), np.convolve(x, w, "full"))
    np.testing.assert_allclose(corr1d(x, w, "same"), np.correlate(x, w, "same"))


def test_integer_inputs_give_float_results_like_numpy_values():
    x, w = [1, 2, 3, 4], [1, 1]
    got = conv1d(x, w)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.convolve(x, w, "valid"))


# ------------------------------------------------------------------ 1D vs torch


@FAST
@given(
    n=st.integers(1, 20), m=st.integers(1, 7), p=st.integers(0, 3), s=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_corr1d_and_conv1d_match_torch_with_stride_and_padding(n, m, p, s, seed):
    if m > n + 2 * p:
        return
    rng = rng_for(seed)
    x, w = rng.standard_normal(n), rng.standard_normal(m)
    expected = torch_corr1d(x, w, p, s)
    np.testing.assert_allclose(corr1d(x, w, padding=p, stride=s), expected, rtol=1e-12, atol=1e-12)
    # torch cross-correlates; a true convolution is torch with the kernel flipped
    expected_conv = torch_corr1d(x, w[::-1], p, s)
    np.testing.assert_allclose(conv1d(x, w, padding=p, stride=s), expected_conv, rtol=1e-12, atol=1e-12)


def test_conv1d_output_length_formula():
    """floor((n + 2p - m)/s) + 1 for n=10, m=3, p=1, s=3 is floor(9/3)+1 = 4."""
    assert conv1d(np.ones(10), np.ones(3), padding=1, stride=3).shape == (4,)


# ------------------------------------------------------------------ 2D vs scipy


@FAST
@given(
    h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 5), kw=st.integers(1, 5),
    mode=st.sampled_from(MODES), seed=st.integers(0, 2**32 - 1),
)
def test_conv2d_and_corr2d_match_scipy(h, w, kh, kw, mode, seed):
    """All modes, odd/even and non-square kernels; correlate2d's 'same' differs from convolve2d's."""
    if mode == "valid" and (kh > h or kw > w):
        return
    rng = rng_for(seed)
    X, K = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    for ours, ref in ((conv2d, scipy.signal.convolve2d), (corr2d, scipy.signal.correlate2d)):
        expected = ref(X, K, mode)
        got = ours(X, K, padding=mode)
        assert got.shape == expected.shape, (ours.__name__, mode)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_even_kernel_same_mode_scipy_alignment():
    """scipy's convolve2d and correlate2d pad an even kernel on opposite sides."""
    X = np.arange(20.0).reshape(4, 5)
    K = np.array([[1.0, 2.0], [3.0, 40.0]])
    np.testing.assert_array_equal(conv2d(X, K, "same"), scipy.signal.convolve2d(X, K, "same"))
    np.testing.assert_array_equal(corr2d(X, K, "same"), scipy.signal.correlate2d(X, K, "same"))
    assert not np.array_equal(
        scipy.signal.convolve2d(X, K, "same"), scipy.signal.correlate2d(X, K[::-1, ::-1], "same")
    )


# ------------------------------------------------------------------ 2D vs torch


@FAST
@given(
    h=st.integers(1, 12), w=st.integers(1, 12), kh=st.integers(1, 5), kw=st.integers(1, 5),
    ph=st.integers(0, 2), pw=st.integers(0, 2), sh=st.integers(1, 3), sw=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_corr2d_and_conv2d_match_torch(h, w, kh, kw, ph, pw, sh, sw, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = rng_for(seed)
    X, K = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    expected = torch_corr2d(X, K, (ph, pw), (sh, sw))
    np.testing.assert_allclose(corr2d(X, K, (ph, pw), (sh, sw)), expected, rtol=1e-12, atol=1e-12)
    expected_conv = torch_corr2d(X, K[::-1, ::-1], (ph, pw), (sh, sw))
    np.testing.assert_allclose(conv2d(X, K, (ph, pw), (sh, sw)), expected_conv, rtol=1e-12, atol=1e-12)


def test_corr2d_accepts_int_padding_and_stride():
    X = np.arange(35.0).reshape(5, 7)
    K = np.array([[1.0, -1.0, 2.0], [0.5, 0.0, 3.0]])
    np.testing.assert_allclose(corr2d(X, K, padding=1, stride=2), torch_corr2d(X, K, 1, 2))


# ------------------------------------------------------------------ conv_forward vs torch


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 3), c_in=st.integers(1, 4), c_out=st.integers(1, 4),
    h=st.integers(1, 10), w=st.integers(1, 10), kh=st.integers(1, 4), kw=st.integers(1, 4),
    ph=st.integers(0, 2), pw=st.integers(0, 2), sh=st.integers(1, 3), sw=st.integers(1, 3),
    bias=st.booleans(), seed=st.integers(0, 2**32 - 1),
)
def test_conv_forward_matches_torch_conv2d(n, c_in, c_out, h, w, kh, kw, ph, pw, sh, sw, bias, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = rng_for(seed)
    X = rng.standard_normal((n, c_in, h, w))
    W = rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out) if bias else None
    expected = F.conv2d(t(X), t(W), None if b is None else t(b), stride=(sh, sw), padding=(ph, pw)).numpy()
    got = conv_forward(X, W, b, padding=(ph, pw), stride=(sh, sw))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conv_forward_matches_nn_conv2d_layer():
    """The same numbers as a real nn.Conv2d layer with its own (random) weights and bias."""
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 5, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)).double()
    X = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    with torch.no_grad():
        expected = layer(t(X)).numpy()
    got = conv_forward(X, layer.weight.detach().numpy(), layer.bias.detach().numpy(), padding=(1, 0), stride=(2, 1))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conv_forward_is_fast_enough_for_a_cifar_batch():
    """64x3x32x32 through 16 3x3 filters must be quick (vectorised, no Python loops over pixels)."""
    import time

    rng = rng_for(2)
    X = rng.standard_normal((64, 3, 32, 32))
    W = rng.standard_normal((16, 3, 3, 3))
    b = rng.standard_normal(16)
    start = time.perf_counter()
    got = conv_forward(X, W, b, padding=1)
    elapsed = time.perf_counter() - start
    expected = F.conv2d(t(X), t(W), t(b), padding=1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert elapsed < 2.0, f"conv_forward took {elapsed:.2f} s"


def test_conv_forward_float32_stays_float32():
    rng = rng_for(3)
    X = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    got = conv_forward(X, W)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, F.conv2d(t(X), t(W)).numpy(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ seed figures


SEED_X = [1, 3, 2, 4, 5, 6, 1, 3]
SEED_W = [1, 0, 3, 1, 2]


def seed001_conv1d(x, w, p, s=1):
    """Copied verbatim from seed 001 (Example 1) to show its stride bug."""
    w_rot = np.array(w[::-1])
    x_padded = np.array(x)
    if p > 0:
        zero_pad = np.zeros(shape=p)
        x_padded = np.concatenate([zero_pad, x_padded, zero_pad])
    res = []
    for i in range(0, int(len(x) / s), s):
        res.append(np.sum(x_padded[i : i + w_rot.shape[0]] * w_rot))
    return np.array(res)


def seed001_conv2d(X, W, p=(0, 0), s=(1, 1)):
    """Copied verbatim from seed 001 (Example 2) to show its stride bug."""
    W_rot = np.array(W)[::-1, ::-1]
    X_orig = np.array(X)
    n1 = X_orig.shape[0] + 2 * p[0]
    n2 = X_orig.shape[1] + 2 * p[1]
    X_padded = np.zeros(shape=(n1, n2))
    X_padded[p[0] : p[0] + X_orig.shape[0], p[1] : p[1] + X_orig.shape[1]] = X_orig
    res = []
    for i in range(0, int((X_padded.shape[0] - W_rot.shape[0]) / s[0]) + 1, s[0]):
        res.append([])
        for j in range(0, int((X_padded.shape[1] - W_rot.shape[1]) / s[1]) + 1, s[1]):
            X_sub = X_padded[i : i + W_rot.shape[0], j : j + W_rot.shape[1]]
            res[-1].append(np.sum(X_sub * W_rot))
    return np.array(res)


def test_seed001_conv1d_example():
    """Seed 001 prints [5 14 16 26 24 34 19 22] for p=2, s=1, equal to np.convolve 'same'."""
    expected = [5, 14, 16, 26, 24, 34, 19, 22]
    np.testing.assert_array_equal(conv1d(SEED_X, SEED_W, padding=2), expected)
    np.testing.assert_array_equal(conv1d(SEED_X, SEED_W, padding="same"), expected)
    np.testing.assert_array_equal(np.convolve(SEED_X, SEED_W, "same"), expected)


def test_seed001_conv1d_stride2_is_wrong_in_the_seed():
    """Seed 001's loop ``for i in range(0, int(len(x)/s), s)`` is wrong for s > 1.

    It counts outputs as len(x)/s (ignoring padding and kernel size) and then
    steps through that count by s again, so for p=2, s=2 it returns 2 values.
    The right answer has floor((8 + 4 - 5)/2) + 1 = 4 values: every second
    value of the stride-1 result, [5, 16, 24, 19], as torch confirms.
    """
    expected = torch_corr1d(np.array(SEED_X, float), np.array(SEED_W[::-1], float), 2, 2)
    np.testing.assert_array_equal(expected, [5, 16, 24, 19])
    np.testing.assert_array_equal(conv1d(SEED_X, SEED_W, padding=2, stride=2), expected)
    assert seed001_conv1d(SEED_X, SEED_W, p=2, s=2).tolist() == [5, 16]  # the seed's wrong result


def test_seed001_conv1d_index_formula_is_off_by_one():
    """Seed 001 writes y[i] = sum_k xp[i + m - k] w[k]; the right index is i + m - 1 - k.

    With k = 0..m-1 the seed's formula reads xp[m] for i = 0 and skips xp[0];
    the corrected formula reproduces numpy.convolve and conv1d.
    """
    x, w, p = np.array(SEED_X, float), np.array(SEED_W, float), 2
    m = len(w)
    xp = np.concatenate([np.zeros(p), x, np.zeros(p + 1)])  # one extra zero so the seed's index exists
    right = [sum(xp[i + m - 1 - k] * w[k] for k in range(m)) for i in range(len(x))]
    seeds = [sum(xp[i + m - k] * w[k] for k in range(m)) for i in range(len(x))]
    np.testing.assert_array_equal(right, np.convolve(x, w, "same"))
    np.testing.assert_array_equal(conv1d(x, w, padding=p), right)
    assert not np.array_equal(seeds, right)


def test_seed001_raschka_figure_stride2_example():
    """x=(3,2,1,7,1,2,5,4), w=(1/2,3/4,1,1/4), p=0, s=2 (seed 001 figure): 3 outputs.

    By hand with the rotated filter (1/4, 1, 3/4, 1/2):
    y0 = 3/4 + 2 + 3/4 + 7/2 = 7, y1 = 1/4 + 7 + 3/4 + 1 = 9, y2 = 1/4 + 2 + 15/4 + 2 = 8.
    """
    x = [3, 2, 1, 7, 1, 2, 5, 4]
    w = [1 / 2, 3 / 4, 1, 1 / 4]
    np.testing.assert_allclose(conv1d(x, w, stride=2), [7, 9, 8])
    np.testing.assert_allclose(torch_corr1d(np.array(x, float), np.array(w[::-1]), 0, 2), [7, 9, 8])


SEED_X2 = [[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]]
SEED_W2 = [[1, 0, 3], [1, 2, 1], [0, 1, 1]]


def test_seed001_conv2d_example_valid_and_same():
    """Seed 001 prints [[25 24] [28 25]] (p=0) and scipy's 'same' 4x4 result."""
    np.testing.assert_array_equal(conv2d(SEED_X2, SEED_W2), [[25, 24], [28, 25]])
    np.testing.assert_array_equal(conv2d(SEED_X2, SEED_W2, "valid"), [[25, 24], [28, 25]])
    same = [[11, 25, 32, 13], [19, 25, 24, 13], [13, 28, 25, 17], [11, 17, 14, 9]]
    np.testing.assert_array_equal(scipy.signal.convolve2d(SEED_X2, SEED_W2, "same"), same)
    np.testing.assert_array_equal(conv2d(SEED_X2, SEED_W2, "same"), same)


def test_seed001_conv2d_stride2_is_wrong_in_the_seed():
    """Seed 001's 2D loop ``range(0, int((n1 - m1)/s) + 1, s)`` divides by s twice.

    It computes the right number of outputs, (n1 - m1)//s + 1, but then
    steps through that count by s, keeping only every s-th of them.  For its
    own text example (3x3 input, p=(1,1), s=(2,2), "the result will be the
    2x2 matrix Y") it returns a 1x1 matrix.  Correct answers, from torch:
    2x2 for the 3x3 case, and 2x2 for the seed's 4x4 X with p=1, s=2.
    """
    rng = rng_for(4)
    X3, W3 = rng.integers(0, 5, (3, 3)).astype(float), rng.integers(0, 5, (3, 3)).astype(float)
    expected = torch_corr2d(X3, W3[::-1, ::-1], 1, 2)
    assert expected.shape == (2, 2)
    np.testing.assert_array_equal(conv2d(X3, W3, padding=(1, 1), stride=(2, 2)), expected)
    assert seed001_conv2d(X3, W3, p=(1, 1), s=(2, 2)).shape == (1, 1)

    X, W = np.array(SEED_X2, float), np.array(SEED_W2, float)
    expected = torch_corr2d(X, W[::-1, ::-1], 1, 2)
    np.testing.assert_array_equal(conv2d(X, W, padding=1, stride=2), expected)
    assert seed001_conv2d(X, W, p=(1, 1), s=(2, 2)).shape == (1, 1) != expected.shape


def test_seed003_forward_convolution_example():
    """Seed 003: input [[-2,-2,-2],[4,2,-4],[-3,2,4]], identity 2x2 filter, bias 0 -> [[0,-6],[6,6]]."""
    data = np.array([[[-2, -2, -2], [4, 2, -4], [-3, 2, 4]]], float)
    W = np.array([[np.identity(2)]])
    expected = [[0, -6], [6, 6]]
    np.testing.assert_array_equal(conv_forward(data[None], W, np.zeros(1))[0, 0], expected)
    np.testing.assert_array_equal(corr2d(data[0], np.identity(2)), expected)
    np.testing.assert_array_equal(F.conv2d(t(data[None]), t(W)).numpy()[0, 0], expected)


def test_seed002_keras_conv2d_shape():
    """Seed 002: Conv2D(32, 3, 'valid') on (4, 10, 10, 128) channels-last gives (4, 8, 8, 32).

    In torch's channels-first layout that is (4, 128, 10, 10) -> (4, 32, 8, 8).
    """
    rng = rng_for(5)
    X = rng.standard_normal((4, 128, 10, 10))
    W = rng.standard_normal((32, 128, 3, 3))
    got = conv_forward(X, W)
    assert got.shape == (4, 32, 8, 8)
    np.testing.assert_allclose(got, F.conv2d(t(X), t(W)).numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ errors


def test_error_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel \(5\) is larger than the padded input \(3 \+ 2\*0 = 3\)"):
        conv1d([1, 2, 3], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="pad the input or use a smaller kernel"):
        corr2d(np.ones((4, 4)), np.ones((3, 7)), padding=1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_forward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))


def test_error_valid_mode_with_longer_kernel():
    """numpy.convolve would silently swap x and w; we say what is wrong instead."""
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv1d([1, 2], [1, 2, 3], "valid")
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(np.ones((2, 5)), np.ones((3, 3)), "valid")


@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_error_stride_below_one(stride):
    with pytest.raises(ValueError, match=r"stride.*positive integer"):
        conv2d(np.ones((4, 4)), np.ones((2, 2)), stride=stride)
    if not isinstance(stride, tuple):
        with pytest.raises(ValueError, match=r"stride.*positive integer"):
            conv1d(np.ones(4), np.ones(2), stride=stride)
        with pytest.raises(ValueError, match=r"stride.*positive integer"):
            conv_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=stride)


def test_error_non_integer_sizes():
    with pytest.raises(ValueError, match=r"stride must be an integer, got 1\.5"):
        conv1d(np.ones(4), np.ones(2), stride=1.5)
    with pytest.raises(ValueError, match="padding must be an integer"):
        conv_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding=0.5)


def test_error_negative_padding():
    with pytest.raises(ValueError, match=r"padding must be a non-negative integer.*got -1"):
        conv1d(np.ones(4), np.ones(2), padding=-1)
    with pytest.raises(ValueError, match=r"padding\[1\] must be a non-negative integer"):
        conv2d(np.ones((4, 4)), np.ones((2, 2)), padding=(0, -2))


def test_error_unknown_mode():
    with pytest.raises(ValueError, match=r"unknown padding mode 'sme'.*'full', 'same', 'valid'"):
        conv1d(np.ones(4), np.ones(2), padding="sme")
    with pytest.raises(ValueError, match="unknown padding mode 'SAME'"):
        corr2d(np.ones((4, 4)), np.ones((2, 2)), padding="SAME")


def test_error_channel_mismatch():
    with pytest.raises(
        ValueError,
        match=r"X has 3 input channels but W expects 4: W must have shape \(C_out, 3, kh, kw\)",
    ):
        conv_forward(np.ones((2, 3, 5, 5)), np.ones((8, 4, 3, 3)))


def test_error_bias_length():
    with pytest.raises(ValueError, match=r"b has shape \(5,\) but W has 8 filters.*\(8,\)"):
        conv_forward(np.ones((2, 3, 5, 5)), np.ones((8, 3, 3, 3)), b=np.ones(5))


def test_error_wrong_ranks():
    with pytest.raises(ValueError, match=r"conv2d expects X to be a 2D array, got shape \(2, 3, 4\); for batches use conv_forward"):
        conv2d(np.ones((2, 3, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"corr2d expects K to be a 2D array"):
        corr2d(np.ones((3, 4)), np.ones(2))
    with pytest.raises(ValueError, match=r"conv1d expects x to be a 1D array, got shape \(2, 2\)"):
        conv1d(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"conv_forward expects X to be a 4D array.*X\[None\]"):
        conv_forward(np.ones((3, 5, 5)), np.ones((1, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"conv_forward expects W to be a 4D array"):
        conv_forward(np.ones((1, 3, 5, 5)), np.ones((3, 3, 3)))


def test_error_non_numeric_input():
    with pytest.raises(ValueError, match="x must contain real numbers"):
        conv1d(["a", "b", "c"], [1, 2])
    with pytest.raises(ValueError, match="W must contain real numbers"):
        conv2d(np.ones((3, 3)), np.array([[1, None], [2, 3]], dtype=object))
    with pytest.raises(ValueError, match="could not be turned into a numeric array"):
        corr1d([1, [2, 3]], [1])
    with pytest.raises(ValueError, match="x must contain real numbers"):
        conv1d(np.ones(3) * 1j, [1])
    with pytest.raises(ValueError, match="w is empty"):
        corr1d([1, 2], [])


def test_image_kernels_are_the_textbook_kernels():
    """Notebook 01's kernels (cnnlib.conv.image_kernels), built independently: Sobel as the outer product
    of smoothing and difference, the Laplacian-style kernel as 9 * delta - ones, sharpen as delta plus the
    4-neighbour Laplacian; each call returns fresh arrays."""
    k = conv.image_kernels()
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    four = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    np.testing.assert_array_equal(k["Sobel x"], np.outer([1, 2, 1], [1, 0, -1]))
    np.testing.assert_array_equal(k["Sobel y"], np.outer([1, 0, -1], [1, 2, 1]))
    np.testing.assert_array_equal(k["edges"], 9 * delta - np.ones((3, 3)))
    np.testing.assert_array_equal(k["sharpen"], delta - four)
    np.testing.assert_allclose(k["blur 7x7"], np.full((7, 7), 1 / 49))
    k["sharpen"][0, 0] = 99
    assert conv.image_kernels()["sharpen"][0, 0] == 0
