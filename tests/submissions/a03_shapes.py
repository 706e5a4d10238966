"""Example class of 03_shapes (the format: tests/submissions/common.py): what each made-up student wrote
for out_size (outsize_solution) and count (nparams_solution), and the points an instructor reading the
exercise text gives: correct code in any style earns them; a wrong count, a float where the text asks for
an int, or a call of what the text forbids (torch, shapes.conv_output_size; building the network, which
calls torch) under any name does not.

Points: outsize_tests 2, nparams_tests 2.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "03_shapes"
NOTEBOOK = "shapes"

POINTS = {"outsize_tests": 2, "nparams_tests": 2}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- out_size: correct in four more styles ---------------------------------------------------------------

OUT_FLOOR = '''
# Exercise 1: output length of a convolution along one axis
import math


def out_size(n, k, p=0, s=1, d=1):
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
'''

OUT_RANGE = '''
# Exercise 1: output length of a convolution along one axis: count the window starts, as in section 1
def out_size(n, k, p=0, s=1, d=1):
    span = d * (k - 1) + 1
    return len(range(0, n + 2 * p - span + 1, s))
'''

OUT_LOOP = '''
# Exercise 1: output length of a convolution along one axis: slide a window until it falls off
def out_size(n, k, p=0, s=1, d=1):
    count, start = 0, 0
    while start + d * (k - 1) < n + 2 * p:
        count += 1
        start += s
    return count
'''

OUT_NUMPY = '''
# Exercise 1: output length of a convolution along one axis, with numpy (int() of a numpy integer)
import numpy as np


def out_size(n, k, p=0, s=1, d=1):
    return int(np.floor_divide(n + 2 * p - d * (k - 1) - 1, s)) + 1
'''

# --- out_size: wrong -------------------------------------------------------------------------------------

OUT_NO_DILATION = '''
# Exercise 1: output length of a convolution along one axis
def out_size(n, k, p=0, s=1, d=1):
    return (n + 2 * p - k) // s + 1
'''

OUT_TRUE_DIVISION = '''
# Exercise 1: output length of a convolution along one axis (a float: / instead of //)
def out_size(n, k, p=0, s=1, d=1):
    return (n + 2 * p - d * (k - 1) - 1) / s + 1
'''

OUT_ONE_SIDE = '''
# Exercise 1: output length of a convolution along one axis
def out_size(n, k, p=0, s=1, d=1):
    return (n + p - d * (k - 1) - 1) // s + 1
'''

OUT_CEIL = '''
# Exercise 1: output length of a convolution along one axis, rounding up
import math


def out_size(n, k, p=0, s=1, d=1):
    return math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1
'''

OUT_SHAPES_ALIAS = '''
# Exercise 1: output length of a convolution along one axis, by the course library under another name
from cnnlib.shapes import conv_output_size as size_of


def out_size(n, k, p=0, s=1, d=1):
    return size_of(n, k, padding=p, stride=s, dilation=d)
'''

OUT_TORCH_ALIAS = '''
# Exercise 1: output length of a convolution along one axis, measured on a real layer
import torch as T
from torch import nn as layers


def out_size(n, k, p=0, s=1, d=1):
    conv = layers.Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
    with T.no_grad():
        return conv(T.zeros(1, 1, n)).shape[-1]
'''

# --- count: correct in four more styles ------------------------------------------------------------------

COUNT_BY_HAND = '''
# Exercise 2: features after Flatten and the total parameter count, by hand
def count(c1, c2, side):
    side = side // 2 // 2          # same-padded convs keep the side, each 2x2 pool halves it (rounding down)
    n_features = c2 * side * side
    conv1 = c1 * 3 * 5 * 5 + c1    # weights + biases
    bn1 = 2 * c1                   # gamma and beta
    conv2 = c2 * c1 * 3 * 3        # bias=False
    bn2 = 2 * c2
    fc = 10 * n_features + 10
    return n_features, conv1 + bn1 + conv2 + bn2 + fc
'''

COUNT_TABLE = '''
# Exercise 2: features after Flatten and the total parameter count from a table of layers
def count(c1, c2, side):
    layers = [("conv", 3, c1, 5, 2, True), ("bn", c1), ("pool",), ("conv", c1, c2, 3, 1, False), ("bn", c2), ("pool",)]
    total, channels = 0, 3
    for layer in layers:
        if layer[0] == "conv":
            _, c_in, c_out, k, p, bias = layer
            total += shapes.conv2d_params(c_in, c_out, k, bias=bias)
            side = shapes.conv_output_size(side, k, padding=p)
            channels = c_out
        elif layer[0] == "bn":
            total += shapes.batchnorm_params(layer[1])
        else:
            side = shapes.conv_output_size(side, 2, stride=2)
    n_features = channels * side ** 2
    return n_features, total + shapes.linear_params(n_features, 10)
'''

COUNT_NUMPY = '''
# Exercise 2: features after Flatten and the total parameter count (numpy integers)
import numpy as np


def count(c1, c2, side):
    n_features = np.int64(c2) * (np.int64(side) // 4) ** 2
    per_layer = np.array([3 * 25 * c1 + c1, 2 * c1, c1 * 9 * c2, 2 * c2, 10 * n_features + 10])
    return n_features, per_layer.sum()
'''

COUNT_OUT_SIZE = '''
# Exercise 2: features after Flatten and the total parameter count, with my own out_size from Exercise 1
def count(c1, c2, side):
    for k, p, s in [(5, 2, 1), (2, 0, 2), (3, 1, 1), (2, 0, 2)]:
        side = out_size(side, k, p, s)
    n_features = c2 * side * side
    weights = {"conv1": 3 * c1 * 25, "conv2": c1 * c2 * 9, "linear": n_features * 10}
    biases = {"conv1": c1, "linear": 10}
    batch_norm = {"bn1": 2 * c1, "bn2": 2 * c2}
    return n_features, sum(weights.values()) + sum(biases.values()) + sum(batch_norm.values())
'''

# --- count: wrong ----------------------------------------------------------------------------------------

COUNT_BUFFERS = '''
# Exercise 2: features after Flatten and the total parameter count
def count(c1, c2, side):
    n_features = c2 * (side // 4) ** 2
    bn = lambda c: 4 * c + 1  # weight, bias, running mean, running var, num_batches_tracked
    return n_features, (3 * 25 + 1) * c1 + bn(c1) + 9 * c1 * c2 + bn(c2) + (n_features + 1) * 10
'''

COUNT_NO_BATCHNORM = '''
# Exercise 2: features after Flatten and the total parameter count (batch norm has no weights, I thought)
def count(c1, c2, side):
    n_features = c2 * (side // 4) ** 2
    return n_features, (3 * 25 + 1) * c1 + 9 * c1 * c2 + (n_features + 1) * 10
'''

COUNT_CONV2_BIAS = '''
# Exercise 2: features after Flatten and the total parameter count
def count(c1, c2, side):
    n_features = c2 * (side // 4) ** 2
    return n_features, (3 * 25 + 1) * c1 + 2 * c1 + (9 * c1 + 1) * c2 + 2 * c2 + (n_features + 1) * 10
'''

COUNT_SIDE_32 = '''
# Exercise 2: features after Flatten and the total parameter count, for the 32x32 images of the example
def count(c1, c2, side):
    n_features = c2 * 8 * 8
    return n_features, (3 * 25 + 1) * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2 + (n_features + 1) * 10
'''

COUNT_BUILDS = '''
# Exercise 2: features after Flatten and the total parameter count: build it and ask torch
import torch.nn as tnn


def count(c1, c2, side):
    body = tnn.Sequential(tnn.Conv2d(3, c1, 5, padding=2), tnn.BatchNorm2d(c1), tnn.ReLU(), tnn.MaxPool2d(2),
                          tnn.Conv2d(c1, c2, 3, padding=1, bias=False), tnn.BatchNorm2d(c2), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten())
    n_features = body.eval()(torch.zeros(1, 3, side, side)).shape[1]
    net = tnn.Sequential(body, tnn.Linear(n_features, 10))
    return n_features, sum(p.numel() for p in net.parameters())
'''

COUNT_LAYER_TABLE = '''
# Exercise 2: features after Flatten and the total parameter count from shapes.layer_table (runs the network)
from cnnlib.shapes import layer_table as table


def count(c1, c2, side):
    body = nn.Sequential(nn.Conv2d(3, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten())
    rows = table(body, (1, 3, side, side))
    n_features = rows[-1].output_shape[-1]
    return n_features, sum(r.params for r in rows) + 10 * n_features + 10
'''

#: student -> (what is special about the submission, answers by solution cell, expected points by graded cell)
STUDENTS: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
    "full": ("the instructor's solution in both cells",
             {"outsize_solution": SOLUTION, "nparams_solution": SOLUTION}, points()),
    "blank": ("the released notebook, handed in untouched",
              {"outsize_solution": BLANK, "nparams_solution": BLANK}, {cell: 0 for cell in POINTS}),
    # a correct out_size in another style, next to a typical counting mistake
    "floor_buffers": ("out_size correct with math.floor(a / b); count adds the batch-norm buffers",
                      {"outsize_solution": OUT_FLOOR, "nparams_solution": COUNT_BUFFERS}, points(nparams_tests=0)),
    "range_no_batchnorm": ("out_size correct as len(range(...)) of the window starts; count leaves out "
                           "BatchNorm2d's scale and shift",
                           {"outsize_solution": OUT_RANGE, "nparams_solution": COUNT_NO_BATCHNORM},
                           points(nparams_tests=0)),
    "loop_conv2_bias": ("out_size correct by sliding a window in a loop; count gives the bias-free second "
                        "convolution a bias",
                        {"outsize_solution": OUT_LOOP, "nparams_solution": COUNT_CONV2_BIAS},
                        points(nparams_tests=0)),
    "numpy_side_32": ("out_size correct with int(np.floor_divide(...)); count hard-codes the 8x8 map of a "
                      "32x32 image, whatever the side",
                      {"outsize_solution": OUT_NUMPY, "nparams_solution": COUNT_SIDE_32}, points(nparams_tests=0)),
    # a typical out_size mistake, next to a correct count in another style
    "no_dilation_by_hand": ("out_size ignores the dilation; count correct by hand (side // 2 // 2)",
                            {"outsize_solution": OUT_NO_DILATION, "nparams_solution": COUNT_BY_HAND},
                            points(outsize_tests=0)),
    "true_division_table": ("out_size returns a float (/ instead of //); count correct from a table of "
                            "layers with the shapes.* helpers",
                            {"outsize_solution": OUT_TRUE_DIVISION, "nparams_solution": COUNT_TABLE},
                            points(outsize_tests=0)),
    "one_side_numpy": ("out_size counts the padding once; count correct with numpy integers",
                       {"outsize_solution": OUT_ONE_SIDE, "nparams_solution": COUNT_NUMPY}, points(outsize_tests=0)),
    "ceil_full": ("out_size rounds up; count the solution",
                  {"outsize_solution": OUT_CEIL, "nparams_solution": SOLUTION}, points(outsize_tests=0)),
    "full_out_size": ("out_size the solution; count correct, calling the student's own out_size",
                      {"outsize_solution": SOLUTION, "nparams_solution": COUNT_OUT_SIZE}, points()),
    # what the text forbids, under other names: right numbers, no points
    "shapes_alias_builds": ("out_size through `conv_output_size as size_of`; count builds the network "
                            "(`import torch.nn as tnn`) and counts its parameters",
                            {"outsize_solution": OUT_SHAPES_ALIAS, "nparams_solution": COUNT_BUILDS},
                            points(outsize_tests=0, nparams_tests=0)),
    "torch_alias_layer_table": ("out_size measured on a real Conv1d (`import torch as T`); count runs the "
                                "network through `shapes.layer_table as table`",
                                {"outsize_solution": OUT_TORCH_ALIAS, "nparams_solution": COUNT_LAYER_TABLE},
                                points(outsize_tests=0, nparams_tests=0)),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
