"""Max and average pooling in plain numpy.

A ``kh x kw`` window slides over each channel with stride ``(sh, sw)``::

    max: Y[i, j] = max  over u < kh, v < kw of Xpad[i*sh + u, j*sw + v]
    avg: Y[i, j] = mean over u < kh, v < kw of Xpad[i*sh + u, j*sw + v]

so ``H_out = floor((H + 2*ph - kh) / sh) + 1`` (same for widths).  Padding
adds ``-inf`` for max pooling (it can never win) and zeros for average
pooling, and the average always divides by ``kh*kw`` -- exactly what
torch.nn.functional.max_pool2d and avg_pool2d do by default
(count_include_pad=True, ceil_mode=False).  Pooling has no parameters and
keeps the number of channels.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _args

_REDUCE = {"max": np.max, "avg": np.mean}
_FILL = {"max": -np.inf, "avg": 0.0}


def pool2d(X, size, stride=None, padding=0, mode="max"):
    """Max or average pooling of ``X``.

    X: (H, W), (C, H, W) or (N, C, H, W); each channel is pooled separately.
    size: window size, int or pair (kh, kw).
    stride: int or pair; defaults to ``size`` (non-overlapping windows).
    padding: int or pair, at most half the window size (torch's rule: a
        window must never hold padding only).
    mode: "max" or "avg".
    """
    X = _args.check_ndim(
        _args.as_array(X, "X"), (2, 3, 4), "X", "pool2d",
        "pass (H, W), (C, H, W) or (N, C, H, W)",
    )
    if mode not in _REDUCE:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    kh, kw = _args.positive_pair(size, "size")
    sh, sw = (kh, kw) if stride is None else _args.positive_pair(stride, "stride")
    ph, pw = _args.nonneg_pair(padding, "padding")
    for p, k, n, dim in ((ph, kh, X.shape[-2], "height"), (pw, kw, X.shape[-1], "width")):
        if 2 * p > k:
            raise ValueError(
                f"padding ({p}) must be at most half the pool size ({k}) along {dim}: "
                "otherwise a window could cover padding only (torch refuses this too); "
                f"use padding <= {k // 2} or a larger pool size"
            )
        _args.check_fits(k, n, p, p, what="pool size", dim=dim)

    pads = [(0, 0)] * (X.ndim - 2) + [(ph, ph), (pw, pw)]
    Xpad = np.pad(X, pads, constant_values=_FILL[mode])
    # windows[..., i, j, :, :] is the (kh, kw) window under output pixel (i, j)
    windows = sliding_window_view(Xpad, (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :]
    return _REDUCE[mode](windows, axis=(-2, -1))
