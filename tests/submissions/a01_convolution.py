"""Example class of 01_convolution (the format: tests/submissions/common.py): what each made-up student
wrote for my_conv1d (conv1d_solution) and my_corr2d (corr2d_solution), and the points an instructor
reading the exercise text gives: correct code in any style earns them, a wrong result, a changed input or
a call of what the text forbids (np.convolve, np.correlate, scipy, torch, cnnlib.conv) under any name
does not.

Points: conv1d_tests 2, corr2d_tests 2.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "01_convolution"
NOTEBOOK = "convolution"

POINTS = {"conv1d_tests": 2, "corr2d_tests": 2}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- my_conv1d: correct in four more styles -------------------------------------------------------------

CONV1D_LOOPS = '''
# Exercise 1: my_conv1d (your solution)
import numpy as np


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    xs = [0.0] * padding + [float(v) for v in x] + [0.0] * padding
    ws = [float(v) for v in w]
    m = len(ws)
    out = []
    start = 0
    while start + m <= len(xs):
        total = 0.0
        for k in range(m):
            total += xs[start + k] * ws[m - 1 - k]
        out.append(total)
        start += stride
    return np.array(out)
'''

CONV1D_WINDOWS = '''
# Exercise 1: my_conv1d (your solution)
import scipy  # imported for later, not called
from numpy.lib.stride_tricks import sliding_window_view


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    windows = sliding_window_view(np.pad(np.asarray(x, dtype=float), padding), len(w))[::stride]
    return np.einsum("ik,k->i", windows, np.asarray(w, dtype=float)[::-1])
'''

CONV1D_INDEX = '''
# Exercise 1: my_conv1d (your solution): one fancy-indexing gather of all windows
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    xp = np.concatenate([np.zeros(padding), np.asarray(x, dtype=float), np.zeros(padding)])
    w = np.flip(np.asarray(w, dtype=float))
    n_out = int((len(xp) - len(w)) / stride) + 1
    idx = stride * np.arange(n_out)[:, None] + np.arange(len(w))[None, :]
    return (xp[idx] * w).sum(axis=1)
'''

CONV1D_RECURSIVE = '''
# Exercise 1: my_conv1d (your solution), recursively: first window, then the rest of the input
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    def rest(xp, wf):
        if len(xp) < len(wf):
            return []
        return [float(np.dot(xp[:len(wf)], wf))] + rest(xp[stride:], wf)

    return np.array(rest(np.pad(np.array(x, dtype=float), padding), np.array(w, dtype=float)[::-1]))
'''

# --- my_conv1d: wrong ------------------------------------------------------------------------------------

CONV1D_NO_FLIP = '''
# Exercise 1: my_conv1d (your solution)
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    x_pad = np.pad(np.asarray(x, dtype=float), padding)
    w = np.asarray(w, dtype=float)
    n_out = (len(x_pad) - len(w)) // stride + 1
    return np.array([x_pad[i * stride:i * stride + len(w)] @ w for i in range(n_out)])
'''

CONV1D_BUGGY_RANGE = '''
# Exercise 1: my_conv1d (your solution), the loop bound from the published notes
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    x_pad = np.pad(np.asarray(x, dtype=float), padding)
    w_flip = np.asarray(w, dtype=float)[::-1]
    m = len(w_flip)
    return np.array([x_pad[i:i + m] @ w_flip for i in range(0, (len(x_pad) - m + 1) // stride, stride)])
'''

CONV1D_ONE_SIDE = '''
# Exercise 1: my_conv1d (your solution)
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    x_pad = np.concatenate([np.zeros(padding), np.asarray(x, dtype=float)])
    w_flip = np.asarray(w, dtype=float)[::-1]
    n_out = (len(x_pad) - len(w_flip)) // stride + 1
    return np.array([x_pad[i * stride:i * stride + len(w_flip)] @ w_flip for i in range(n_out)])
'''

CONV1D_FLIPS_INPUT = '''
# Exercise 1: my_conv1d (your solution): flips the caller's kernel in place
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    if isinstance(w, list):
        w.reverse()
        w_flip = np.array(w, dtype=float)
    else:
        w_flip = w
        w_flip[:] = w_flip[::-1].copy()
    x_pad = np.pad(np.asarray(x, dtype=float), padding)
    n_out = (len(x_pad) - len(w_flip)) // stride + 1
    return np.array([x_pad[i * stride:i * stride + len(w_flip)] @ w_flip for i in range(n_out)])
'''

CONV1D_LIST = '''
# Exercise 1: my_conv1d (your solution), returns a Python list
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    x_pad = np.pad(np.asarray(x, dtype=float), padding)
    w_flip = np.asarray(w, dtype=float)[::-1]
    n_out = (len(x_pad) - len(w_flip)) // stride + 1
    return [float(x_pad[i * stride:i * stride + len(w_flip)] @ w_flip) for i in range(n_out)]
'''

CONV1D_NP_CONVOLVE_ALIAS = '''
# Exercise 1: my_conv1d (your solution) through numpy's own convolution, imported under another name
from numpy import convolve as slide


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    return slide(np.pad(np.asarray(x, dtype=float), padding), w, "valid")[::stride]
'''

CONV1D_SCIPY_ALIAS = '''
# Exercise 1: my_conv1d (your solution) through scipy
import scipy.signal as ss


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    return ss.convolve(np.pad(np.asarray(x, dtype=float), padding), np.asarray(w, dtype=float), "valid")[::stride]
'''

CONV1D_CNNLIB_ALIAS = '''
# Exercise 1: my_conv1d (your solution) through the course library
from cnnlib.conv import conv1d as reference


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    return reference(np.asarray(x, dtype=float), np.asarray(w, dtype=float), padding=padding, stride=stride)
'''

CONV1D_CORRELATE_GETATTR = '''
# Exercise 1: my_conv1d (your solution) through np.correlate with the reversed kernel, found by name
def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    slide = getattr(np, "correlate")
    return slide(np.pad(np.asarray(x, dtype=float), padding), np.asarray(w, dtype=float)[::-1], "valid")[::stride]
'''

CONV1D_TORCH_ALIAS = '''
# Exercise 1: my_conv1d (your solution) through torch
import torch.nn.functional as tnf


def my_conv1d(x, w, padding=0, stride=1):
    """True 1D convolution of x with kernel w, with zero padding on each side and a stride."""
    xt = torch.as_tensor(np.asarray(x, dtype=float)).view(1, 1, -1)
    wt = torch.as_tensor(np.asarray(w, dtype=float)[::-1].copy()).view(1, 1, -1)
    return tnf.conv1d(xt, wt, padding=padding, stride=stride)[0, 0].numpy()
'''

# --- my_corr2d: correct in four more styles -------------------------------------------------------------

CORR2D_WINDOWS = '''
# Exercise 2: my_corr2d (your solution)
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    K = np.asarray(K, dtype=float)
    windows = sliding_window_view(np.pad(np.asarray(X, dtype=float), padding), K.shape)[::stride, ::stride]
    return np.einsum("ijuv,uv->ij", windows, K)
'''

CORR2D_LISTS = '''
# Exercise 2: my_corr2d (your solution) with Python lists
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    rows = [[float(v) for v in row] for row in np.asarray(X).tolist()]
    width = len(rows[0]) + 2 * padding
    rows = ([[0.0] * width] * padding + [[0.0] * padding + r + [0.0] * padding for r in rows]
            + [[0.0] * width] * padding)
    kern = np.asarray(K, dtype=float).tolist()
    kh, kw = len(kern), len(kern[0])
    out = []
    for i in range(0, len(rows) - kh + 1, stride):
        out.append([sum(rows[i + u][j + v] * kern[u][v] for u in range(kh) for v in range(kw))
                    for j in range(0, width - kw + 1, stride)])
    return np.array(out)
'''

CORR2D_SHIFTS = '''
# Exercise 2: my_corr2d (your solution): add up one shifted, strided slice per kernel weight
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    Xp = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)
    kh, kw = K.shape
    h_out = (Xp.shape[0] - kh) // stride + 1
    w_out = (Xp.shape[1] - kw) // stride + 1
    Y = np.zeros((h_out, w_out))
    for u in range(kh):
        for v in range(kw):
            Y += K[u, v] * Xp[u:u + stride * h_out:stride, v:v + stride * w_out:stride]
    return Y
'''

CORR2D_TENSORDOT = '''
# Exercise 2: my_corr2d (your solution): gather the windows by index arrays, then one tensordot
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    Xp = np.pad(np.asarray(X, dtype=float), ((padding, padding), (padding, padding)))
    K = np.asarray(K, dtype=float)
    rows = np.arange(0, Xp.shape[0] - K.shape[0] + 1, stride)
    cols = np.arange(0, Xp.shape[1] - K.shape[1] + 1, stride)
    r = rows[:, None, None, None] + np.arange(K.shape[0])[None, None, :, None]
    c = cols[None, :, None, None] + np.arange(K.shape[1])[None, None, None, :]
    return np.tensordot(Xp[r, c], K, axes=([2, 3], [0, 1]))
'''

# --- my_corr2d: wrong ------------------------------------------------------------------------------------

CORR2D_FLIPPED = '''
# Exercise 2: my_corr2d (your solution): rotates the kernel as a convolution does
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    X_pad = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)[::-1, ::-1]
    kh, kw = K.shape
    h_out = (X_pad.shape[0] - kh) // stride + 1
    w_out = (X_pad.shape[1] - kw) // stride + 1
    return np.array([[np.sum(X_pad[i * stride:i * stride + kh, j * stride:j * stride + kw] * K)
                      for j in range(w_out)] for i in range(h_out)])
'''

CORR2D_NO_STRIDE = '''
# Exercise 2: my_corr2d (your solution): the stride is never used
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    X_pad = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)
    kh, kw = K.shape
    Y = np.zeros((X_pad.shape[0] - kh + 1, X_pad.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(X_pad[i:i + kh, j:j + kw] * K)
    return Y
'''

CORR2D_SQUARE_KERNEL = '''
# Exercise 2: my_corr2d (your solution): takes the kernel's height for its width too
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    X_pad = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)
    k = K.shape[0]
    h_out = (X_pad.shape[0] - k) // stride + 1
    w_out = (X_pad.shape[1] - k) // stride + 1
    Y = np.zeros((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            Y[i, j] = np.sum(X_pad[i * stride:i * stride + k, j * stride:j * stride + k] * K)
    return Y
'''

CORR2D_ONE_SIDE = '''
# Exercise 2: my_corr2d (your solution): pads the top and left only
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    X_pad = np.pad(np.asarray(X, dtype=float), ((padding, 0), (padding, 0)))
    K = np.asarray(K, dtype=float)
    kh, kw = K.shape
    h_out = (X_pad.shape[0] - kh) // stride + 1
    w_out = (X_pad.shape[1] - kw) // stride + 1
    return np.array([[np.sum(X_pad[i * stride:i * stride + kh, j * stride:j * stride + kw] * K)
                      for j in range(w_out)] for i in range(h_out)])
'''

CORR2D_SCIPY_ALIAS = '''
# Exercise 2: my_corr2d (your solution) through scipy, imported under another name
from scipy.signal import correlate2d as xcorr


def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    return xcorr(np.pad(np.asarray(X, dtype=float), padding), K, mode="valid")[::stride, ::stride]
'''

CORR2D_TORCH_ALIAS = '''
# Exercise 2: my_corr2d (your solution) through torch, what nn.Conv2d computes
import torch as th
from torch.nn import functional as fn


def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    x = th.tensor(np.asarray(X, dtype=float))[None, None]
    k = th.tensor(np.asarray(K, dtype=float))[None, None]
    return fn.conv2d(x, k, padding=padding, stride=stride)[0, 0].numpy()
'''

CORR2D_CNNLIB_ALIAS = '''
# Exercise 2: my_corr2d (your solution) through the course library
from cnnlib import conv as course_conv


def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    return course_conv.corr2d(np.asarray(X, dtype=float), np.asarray(K, dtype=float),
                              padding=(padding, padding), stride=(stride, stride))
'''

CORR2D_CONVOLVE_ROWS = '''
# Exercise 2: my_corr2d (your solution): one np.convolve per kernel row, kernel rows reversed
def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    Xp = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)
    kh = K.shape[0]
    rows = [sum(np.convolve(Xp[i + u], K[u, ::-1], "valid") for u in range(kh))
            for i in range(0, Xp.shape[0] - kh + 1, stride)]
    return np.array(rows)[:, ::stride]
'''

CORR2D_CORRELATE_ALIAS = '''
# Exercise 2: my_corr2d (your solution): one 1D correlation per kernel row
from numpy import correlate as corr1


def my_corr2d(X, K, padding=0, stride=1):
    """2D cross-correlation of X with kernel K, with zero padding on all sides and a stride."""
    Xp = np.pad(np.asarray(X, dtype=float), padding)
    K = np.asarray(K, dtype=float)
    kh = K.shape[0]
    rows = [sum(corr1(Xp[i + u], K[u], "valid") for u in range(kh)) for i in range(0, Xp.shape[0] - kh + 1, stride)]
    return np.array(rows)[:, ::stride]
'''

#: student -> (what is special about the submission, answers by solution cell, expected points by graded cell)
STUDENTS: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
    "full": ("the instructor's solution in both cells",
             {"conv1d_solution": SOLUTION, "corr2d_solution": SOLUTION}, points()),
    "blank": ("the released notebook, handed in untouched",
              {"conv1d_solution": BLANK, "corr2d_solution": BLANK}, {cell: 0 for cell in POINTS}),
    # a correct my_conv1d in another style, next to a typical my_corr2d mistake
    "loops_flipped": ("1D correct with pure-Python loops over lists; 2D flips the kernel (a convolution)",
                      {"conv1d_solution": CONV1D_LOOPS, "corr2d_solution": CORR2D_FLIPPED}, points(corr2d_tests=0)),
    "windows_no_stride": ("1D correct with sliding_window_view + einsum (and an unused `import scipy`); "
                          "2D ignores the stride",
                          {"conv1d_solution": CONV1D_WINDOWS, "corr2d_solution": CORR2D_NO_STRIDE},
                          points(corr2d_tests=0)),
    "index_square_kernel": ("1D correct with one fancy-index gather and int(a / b); 2D takes the kernel's height "
                            "as its width",
                            {"conv1d_solution": CONV1D_INDEX, "corr2d_solution": CORR2D_SQUARE_KERNEL},
                            points(corr2d_tests=0)),
    "recursive_one_side": ("1D correct by recursion over the windows; 2D pads the top and left only",
                           {"conv1d_solution": CONV1D_RECURSIVE, "corr2d_solution": CORR2D_ONE_SIDE},
                           points(corr2d_tests=0)),
    # a typical my_conv1d mistake, next to a correct my_corr2d in another style
    "no_flip_windows": ("1D forgets the flip (cross-correlation); 2D correct with sliding_window_view + einsum",
                        {"conv1d_solution": CONV1D_NO_FLIP, "corr2d_solution": CORR2D_WINDOWS},
                        points(conv1d_tests=0)),
    "buggy_range_lists": ("1D loops over range(0, .. // s, s), the bound of the published notes: windows missing "
                          "at stride > 1; 2D correct with nested Python lists",
                          {"conv1d_solution": CONV1D_BUGGY_RANGE, "corr2d_solution": CORR2D_LISTS},
                          points(conv1d_tests=0)),
    "one_side_shifts": ("1D pads the left side only; 2D correct, one shifted strided slice per kernel weight",
                        {"conv1d_solution": CONV1D_ONE_SIDE, "corr2d_solution": CORR2D_SHIFTS},
                        points(conv1d_tests=0)),
    "flips_input_tensordot": ("1D flips the caller's kernel in place (right values, changed input); 2D correct "
                              "with index arrays + tensordot",
                              {"conv1d_solution": CONV1D_FLIPS_INPUT, "corr2d_solution": CORR2D_TENSORDOT},
                              points(conv1d_tests=0)),
    "list_full": ("1D right values but a Python list, where the text asks for a numpy array; 2D the solution",
                  {"conv1d_solution": CONV1D_LIST, "corr2d_solution": SOLUTION}, points(conv1d_tests=0)),
    # what the text forbids, reached under other names: right values, no points
    "convolve_alias_scipy_alias": ("`from numpy import convolve as slide` (1D); "
                                   "`from scipy.signal import correlate2d as xcorr` (2D)",
                                   {"conv1d_solution": CONV1D_NP_CONVOLVE_ALIAS,
                                    "corr2d_solution": CORR2D_SCIPY_ALIAS},
                                   points(conv1d_tests=0, corr2d_tests=0)),
    "scipy_alias_torch_alias": ("`import scipy.signal as ss` (1D); `import torch as th`, `functional as fn` (2D)",
                                {"conv1d_solution": CONV1D_SCIPY_ALIAS, "corr2d_solution": CORR2D_TORCH_ALIAS},
                                points(conv1d_tests=0, corr2d_tests=0)),
    "cnnlib_aliases": ("the course library: `from cnnlib.conv import conv1d as reference` (1D), "
                       "`from cnnlib import conv as course_conv` (2D)",
                       {"conv1d_solution": CONV1D_CNNLIB_ALIAS, "corr2d_solution": CORR2D_CNNLIB_ALIAS},
                       points(conv1d_tests=0, corr2d_tests=0)),
    "getattr_correlate_convolve_rows": ("`getattr(np, \"correlate\")` with the kernel reversed (1D); "
                                        "np.convolve per kernel row (2D)",
                                        {"conv1d_solution": CONV1D_CORRELATE_GETATTR,
                                         "corr2d_solution": CORR2D_CONVOLVE_ROWS},
                                        points(conv1d_tests=0, corr2d_tests=0)),
    "torch_alias_correlate_alias": ("`import torch.nn.functional as tnf` (1D); "
                                    "`from numpy import correlate as corr1` per kernel row (2D)",
                                    {"conv1d_solution": CONV1D_TORCH_ALIAS, "corr2d_solution": CORR2D_CORRELATE_ALIAS},
                                    points(conv1d_tests=0, corr2d_tests=0)),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
