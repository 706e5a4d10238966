"""Example class of 02_pooling (the format: tests/submissions/common.py): what each made-up student
wrote for my_max_pool2d (maxpool_solution), and the points an instructor reading the exercise text gives:
correct code in any style earns them; a wrong result, a list instead of a numpy array, or a call of what
the text forbids (torch, scipy, cnnlib.pool) under any name does not.

Points: maxpool_tests 2.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "02_pooling"
NOTEBOOK = "pooling"

POINTS = {"maxpool_tests": 2}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- correct, in four more styles -----------------------------------------------------------------------

WINDOWS = '''
# Exercise: max pooling of a 2D array, no padding
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def my_max_pool2d(X, size, stride):
    return sliding_window_view(np.asarray(X), (size, size))[::stride, ::stride].max(axis=(-2, -1))
'''

LISTS = '''
# Exercise: max pooling of a 2D array, no padding (Python lists)
def my_max_pool2d(X, size, stride):
    rows = np.asarray(X).tolist()
    H, W = len(rows), len(rows[0])
    out = []
    for top in range(0, H - size + 1, stride):
        out.append([max(rows[top + u][left + v] for u in range(size) for v in range(size))
                    for left in range(0, W - size + 1, stride)])
    return np.array(out, dtype=float)
'''

AS_STRIDED = '''
# Exercise: max pooling of a 2D array, no padding: a strided view of all windows
from numpy.lib.stride_tricks import as_strided


def my_max_pool2d(X, size, stride):
    X = np.ascontiguousarray(X, dtype=float)
    H_out = (X.shape[0] - size) // stride + 1
    W_out = (X.shape[1] - size) // stride + 1
    s0, s1 = X.strides
    windows = as_strided(X, shape=(H_out, W_out, size, size), strides=(stride * s0, stride * s1, s0, s1),
                         writeable=False)
    return windows.reshape(H_out, W_out, -1).max(axis=2)
'''

SHIFTED_MAXIMUM = '''
# Exercise: max pooling of a 2D array, no padding: the maximum over one strided slice per window offset
import functools


def my_max_pool2d(X, size, stride):
    X = np.asarray(X, dtype=float)
    H_out = (X.shape[0] - size) // stride + 1
    W_out = (X.shape[1] - size) // stride + 1
    slices = [X[u:u + stride * (H_out - 1) + 1:stride, v:v + stride * (W_out - 1) + 1:stride]
              for u in range(size) for v in range(size)]
    return functools.reduce(np.maximum, slices[1:], slices[0].copy())  # a new array, even for size 1
'''

# --- wrong -----------------------------------------------------------------------------------------------

STARTS_AT_ZERO = '''
# Exercise: max pooling of a 2D array, no padding
def my_max_pool2d(X, size, stride):
    H_out = (X.shape[0] - size) // stride + 1
    W_out = (X.shape[1] - size) // stride + 1
    Y = np.zeros((H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            best = 0
            for u in range(size):
                for v in range(size):
                    best = max(best, X[i * stride + u, j * stride + v])
            Y[i, j] = best
    return Y
'''

STRIDE_IS_SIZE = '''
# Exercise: max pooling of a 2D array, no padding: non-overlapping windows only
def my_max_pool2d(X, size, stride):
    H_out, W_out = X.shape[0] // size, X.shape[1] // size
    blocks = np.asarray(X, dtype=float)[:H_out * size, :W_out * size].reshape(H_out, size, W_out, size)
    return blocks.max(axis=(1, 3))
'''

SIZE_BY_STRIDE = '''
# Exercise: max pooling of a 2D array, no padding: H // stride windows (too many as soon as size > stride)
def my_max_pool2d(X, size, stride):
    X = np.asarray(X, dtype=float)
    H_out, W_out = X.shape[0] // stride, X.shape[1] // stride
    Y = np.empty((H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            Y[i, j] = X[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return Y
'''

SQUARE_OUTPUT = '''
# Exercise: max pooling of a 2D array, no padding: the height's output count for both axes
def my_max_pool2d(X, size, stride):
    X = np.asarray(X, dtype=float)
    n_out = (X.shape[0] - size) // stride + 1
    Y = np.empty((n_out, n_out))
    for i in range(n_out):
        for j in range(n_out):
            Y[i, j] = X[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return Y
'''

RETURNS_LIST = '''
# Exercise: max pooling of a 2D array, no padding (returns nested lists)
def my_max_pool2d(X, size, stride):
    H, W = X.shape
    return [[float(X[i:i + size, j:j + size].max()) for j in range(0, W - size + 1, stride)]
            for i in range(0, H - size + 1, stride)]
'''

# --- what the text forbids, under other names ------------------------------------------------------------

TORCH_ALIAS = '''
# Exercise: max pooling of a 2D array, no padding, through torch
import torch.nn.functional as tf


def my_max_pool2d(X, size, stride):
    t = torch.from_numpy(np.asarray(X, dtype=float))[None, None]
    return tf.max_pool2d(t, size, stride)[0, 0].numpy()
'''

SCIPY_ALIAS = '''
# Exercise: max pooling of a 2D array, no padding, through scipy's maximum filter
from scipy import ndimage as ndi


def my_max_pool2d(X, size, stride):
    X = np.asarray(X, dtype=float)
    H_out = (X.shape[0] - size) // stride + 1
    W_out = (X.shape[1] - size) // stride + 1
    filtered = ndi.maximum_filter(X, size=size, origin=-(size // 2), mode="nearest")
    return filtered[:stride * (H_out - 1) + 1:stride, :stride * (W_out - 1) + 1:stride].copy()
'''

CNNLIB_ALIAS = '''
# Exercise: max pooling of a 2D array, no padding, through the course library
from cnnlib.pool import pool2d as course_pool


def my_max_pool2d(X, size, stride):
    return course_pool(np.asarray(X, dtype=float), size, stride=stride, mode="max")
'''

#: student -> (what is special about the submission, answers by solution cell, expected points by graded cell)
STUDENTS: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
    "full": ("the instructor's solution", {"maxpool_solution": SOLUTION}, points()),
    "blank": ("the released notebook, handed in untouched", {"maxpool_solution": BLANK}, {"maxpool_tests": 0}),
    "windows": ("correct: sliding_window_view, every stride-th window, one max (integer output for integer X)",
                {"maxpool_solution": WINDOWS}, points()),
    "lists": ("correct: Python lists and a generator max per window", {"maxpool_solution": LISTS}, points()),
    "as_strided": ("correct: an as_strided view of all windows, reshaped and reduced",
                   {"maxpool_solution": AS_STRIDED}, points()),
    "shifted_maximum": ("correct: functools.reduce(np.maximum) over one strided slice per window offset",
                        {"maxpool_solution": SHIFTED_MAXIMUM}, points()),
    "starts_at_zero": ("the running maximum starts at 0, so an all-negative window gives 0",
                       {"maxpool_solution": STARTS_AT_ZERO}, points(maxpool_tests=0)),
    "stride_is_size": ("reshapes into non-overlapping blocks: ignores the stride (right only when stride = size)",
                       {"maxpool_solution": STRIDE_IS_SIZE}, points(maxpool_tests=0)),
    "size_by_stride": ("H // stride outputs instead of (H - size) // stride + 1: extra, truncated windows",
                       {"maxpool_solution": SIZE_BY_STRIDE}, points(maxpool_tests=0)),
    "square_output": ("the output count of the height used for the width too: wrong on non-square inputs",
                      {"maxpool_solution": SQUARE_OUTPUT}, points(maxpool_tests=0)),
    "returns_list": ("right values as nested Python lists, where the text asks for a numpy array",
                     {"maxpool_solution": RETURNS_LIST}, points(maxpool_tests=0)),
    "torch_alias": ("through `import torch.nn.functional as tf` (forbidden)", {"maxpool_solution": TORCH_ALIAS},
                    points(maxpool_tests=0)),
    "scipy_alias": ("through `from scipy import ndimage as ndi` (forbidden)", {"maxpool_solution": SCIPY_ALIAS},
                    points(maxpool_tests=0)),
    "cnnlib_alias": ("through `from cnnlib.pool import pool2d as course_pool` (forbidden)",
                     {"maxpool_solution": CNNLIB_ALIAS}, points(maxpool_tests=0)),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
