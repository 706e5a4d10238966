"""Convolution and cross-correlation in plain numpy.

Two operations slide a kernel ``w`` (length m) over an input ``x`` (length n):

* cross-correlation, what deep-learning "convolution" layers compute::

      y[i] = sum_k xpad[i*s + k] * w[k]

* true convolution, the same with the kernel flipped (``w[::-1]``)::

      y[i] = sum_k xpad[i*s + k] * w[m-1-k]  =  sum_k x[i - k] * w[k]

``xpad`` is the input with ``p`` zeros added on each side and ``s`` is the
stride, so the output has ``floor((n + 2p - m) / s) + 1`` values.  In 2D the
same happens along both axes.

Padding can also be given by name, as in numpy.convolve (1D) and
scipy.signal.convolve2d (2D):

* ``"valid"``: no padding, only positions where the kernel fits inside x;
* ``"full"``:  ``m - 1`` zeros on each side, every position with any overlap;
* ``"same"``:  as many outputs as inputs; numpy (1D) returns ``max(n, m)``
  values and scipy (2D) returns ``X.shape``.  For an even kernel the zeros
  cannot be split evenly; we put the extra zero on the same side as
  numpy/scipy do (see ``_numpy_same`` and ``_scipy_same``).

Unlike numpy.convolve, which silently swaps x and w when w is longer,
``"valid"`` here needs a kernel no longer than the input.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _args

MODES = ("full", "same", "valid")


def _check_mode(padding):
    if padding not in MODES:
        raise ValueError(
            f"unknown padding mode {padding!r}: use a non-negative int or one of "
            "'full', 'same', 'valid'"
        )
    return padding


def _numpy_same(n, m, flip):
    """(left, right) zeros numpy.convolve/correlate(mode='same') use.

    numpy returns ``max(n, m)`` values of the full result, starting at
    ``start``; a full result needs ``m - 1`` zeros on the left, so
    ``left = m - 1 - start``.
    """
    if flip:
        start = (min(n, m) - 1) // 2
    else:
        start = (m - 1) // 2 if m <= n else n // 2
    left = m - 1 - start
    right = max(n, m) + m - 1 - n - left
    return left, right


def _scipy_same(n, m, flip):
    """(left, right) zeros scipy.signal.convolve2d/correlate2d(mode='same') use.

    Output size n.  Even kernels: convolve2d puts the extra zero on the
    left/top, correlate2d on the right/bottom.
    """
    left = m // 2 if flip else (m - 1) // 2
    return left, m - 1 - left


def _mode_padding(mode, n, m, flip, same_rule):
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return m - 1, m - 1
    return same_rule(n, m, flip)


# ---------------------------------------------------------------- 1D


def _slide_1d(x, w, padding, stride, flip, func):
    hint = "for 2D arrays use conv2d/corr2d"
    x = _args.check_ndim(_args.as_array(x, "x"), 1, "x", func, hint)
    w = _args.check_ndim(_args.as_array(w, "w"), 1, "w", func, hint)
    s = _args.positive_int(stride, "stride")
    n, m = len(x), len(w)
    if isinstance(padding, str):
        left, right = _mode_padding(_check_mode(padding), n, m, flip, _numpy_same)
    else:
        left = right = _args.nonneg_int(padding, "padding")
    _args.check_fits(m, n, left, right)

    xpad = np.pad(x, (left, right))
    if flip:
        w = w[::-1]
    windows = sliding_window_view(xpad, m)[::s]  # row i is xpad[i*s : i*s + m]
    return windows @ w


def conv1d(x, w, padding=0, stride=1):
    """True 1D convolution (kernel flipped) of ``x`` with ``w``.

    ``y[i] = sum_k xpad[i*s + k] * w[m-1-k]``, with
    ``len(y) = floor((n + 2p - m) / s) + 1``.

    padding: zeros added on each side (int), or "full", "same", "valid" with
    numpy.convolve's meaning; ``conv1d(x, w, "same")`` equals
    ``np.convolve(x, w, "same")``.  stride: step between windows.
    """
    return _slide_1d(x, w, padding, stride, flip=True, func="conv1d")


def corr1d(x, w, padding=0, stride=1):
    """1D cross-correlation (no flip), what torch's conv1d computes.

    ``y[i] = sum_k xpad[i*s + k] * w[k]``; padding and stride as in
    :func:`conv1d`, named modes as in numpy.correlate.
    """
    return _slide_1d(x, w, padding, stride, flip=False, func="corr1d")


# ---------------------------------------------------------------- 2D


def _slide_2d(X, K, padding, stride, flip, func, kname):
    hint = "for batches use conv_forward"
    X = _args.check_ndim(_args.as_array(X, "X"), 2, "X", func, hint)
    K = _args.check_ndim(_args.as_array(K, kname), 2, kname, func, hint)
    sh, sw = _args.positive_pair(stride, "stride")
    if isinstance(padding, str):
        mode = _check_mode(padding)
        pads = [_mode_padding(mode, n, m, flip, _scipy_same) for n, m in zip(X.shape, K.shape)]
    else:
        ph, pw = _args.nonneg_pair(padding, "padding")
        pads = [(ph, ph), (pw, pw)]
    for n, m, (before, after), dim in zip(X.shape, K.shape, pads, ("height", "width")):
        _args.check_fits(m, n, before, after, dim=dim)

    Xpad = np.pad(X, pads)
    if flip:
        K = K[::-1, ::-1]
    windows = sliding_window_view(Xpad, K.shape)[::sh, ::sw]  # (H_out, W_out, kh, kw)
    return np.einsum("ijuv,uv->ij", windows, K)


def conv2d(X, W, padding=(0, 0), stride=(1, 1)):
    """True 2D convolution (kernel rotated by 180 degrees) of 2D arrays.

    ``Y[i, j] = sum_{u,v} Xpad[i*sh + u, j*sw + v] * W[kh-1-u, kw-1-v]``

    padding/stride: an int or a pair (rows, columns).  padding may also be
    "full", "same" or "valid" with scipy.signal.convolve2d's meaning
    ("same" gives ``X.shape``).
    """
    return _slide_2d(X, W, padding, stride, flip=True, func="conv2d", kname="W")


def corr2d(X, K, padding=(0, 0), stride=(1, 1)):
    """2D cross-correlation, what nn.Conv2d computes for one channel.

    ``Y[i, j] = sum_{u,v} Xpad[i*sh + u, j*sw + v] * K[u, v]``

    Arguments as in :func:`conv2d`; named modes follow
    scipy.signal.correlate2d (whose "same" differs from convolve2d's for
    even kernels).
    """
    return _slide_2d(X, K, padding, stride, flip=False, func="corr2d", kname="K")


# ---------------------------------------------------------------- layer


def conv_forward(X, W, b=None, padding=0, stride=1):
    """Forward pass of a conv layer, like torch.nn.functional.conv2d.

    X: (N, C_in, H, W) batch of images, W: (C_out, C_in, kh, kw) filters,
    b: (C_out,) biases or None.  Returns (N, C_out, H_out, W_out)::

        Y[n, o, i, j] = b[o] + sum_{c,u,v} Xpad[n, c, i*sh + u, j*sw + v] * W[o, c, u, v]

    with ``H_out = floor((H + 2*ph - kh) / sh) + 1`` (same for widths).
    padding/stride: an int or a pair (rows, columns).
    """
    func = "conv_forward"
    X = _args.check_ndim(
        _args.as_array(X, "X"), 4, "X", func,
        "X must have shape (N, C_in, H, W); for one image use X[None]",
    )
    W = _args.check_ndim(
        _args.as_array(W, "W"), 4, "W", func, "W must have shape (C_out, C_in, kh, kw)"
    )
    c_out, c_in, kh, kw = W.shape
    if X.shape[1] != c_in:
        raise ValueError(
            f"X has {X.shape[1]} input channels but W expects {c_in}: "
            f"W must have shape (C_out, {X.shape[1]}, kh, kw)"
        )
    if b is not None:
        b = _args.as_array(b, "b")
        if b.shape != (c_out,):
            raise ValueError(
                f"b has shape {b.shape} but W has {c_out} filters: "
                f"b must have shape ({c_out},), one bias per output channel"
            )
    ph, pw = _args.nonneg_pair(padding, "padding")
    sh, sw = _args.positive_pair(stride, "stride")
    _args.check_fits(kh, X.shape[2], ph, ph, dim="height")
    _args.check_fits(kw, X.shape[3], pw, pw, dim="width")

    Xpad = np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # windows[n, c, i, j] is the (kh, kw) patch under output pixel (i, j)
    windows = sliding_window_view(Xpad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    Y = np.einsum("ncijuv,ocuv->noij", windows, W, optimize=True)
    if b is not None:
        Y = Y + b[:, None, None]
    return Y


def image_kernels() -> dict[str, np.ndarray]:
    """Notebook 01's hand-made image kernels (true-convolution kernels, as in the image-processing
    literature), a fresh copy on every call: a 7x7 box blur, sharpen, a Laplacian-style edge kernel and
    the two Sobel gradients. Notebook 04 sets the filters a CNN learns beside them."""
    return {
        "blur 7x7": np.ones((7, 7)) / 49,
        "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
        "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=float),
        "Sobel x": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float),
        "Sobel y": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float),
    }
