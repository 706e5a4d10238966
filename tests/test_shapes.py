"""cnnlib.shapes against real torch layers, torchinfo and measured receptive fields.

The seed models are rebuilt here with plain torch.nn exactly as the seed
course material (shared/seeds/000-004) writes them, and their printed
figures (parameter counts, output shapes, receptive fields) are checked;
where a seed is wrong the test says so and asserts the right value.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torchinfo import summary

from cnnlib.shapes import (
    batchnorm_params,
    conv2d_params,
    conv_output_size,
    layer_table,
    linear_params,
    receptive_field,
    same_padding,
)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def real_output_hw(layer, h, w):
    with torch.no_grad():
        return tuple(layer(torch.zeros(1, 1, h, w)).shape[-2:])


# ------------------------------------------------------------------ conv_output_size


@settings(deadline=None, max_examples=80)
@given(
    n=st.integers(1, 40), k=st.integers(1, 7), p=st.integers(0, 4), s=st.integers(1, 5),
    d=st.integers(1, 3),
)
def test_conv_output_size_matches_nn_conv2d(n, k, p, s, d):
    if d * (k - 1) + 1 > n + 2 * p:
        return
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    assert conv_output_size(n, k, p, s, d) == real_output_hw(layer, n, n)[0]


@settings(deadline=None, max_examples=60)
@given(n=st.integers(1, 40), k=st.integers(1, 6), p=st.integers(0, 3), s=st.integers(1, 5))
def test_conv_output_size_matches_nn_maxpool2d(n, k, p, s):
    p = min(p, k // 2)  # torch's pooling rule
    if k > n + 2 * p:
        return
    layer = nn.MaxPool2d(k, stride=s, padding=p)
    assert conv_output_size(n, k, p, s) == real_output_hw(layer, n, n)[0]


@settings(deadline=None, max_examples=40)
@given(
    h=st.integers(3, 30), w=st.integers(3, 30), kh=st.integers(1, 3), kw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2), sh=st.integers(1, 3), sw=st.integers(1, 3),
    dh=st.integers(1, 2), dw=st.integers(1, 2),
)
def test_conv_output_size_pairs_match_nn_conv2d(h, w, kh, kw, ph, pw, sh, sw, dh, dw):
    # only layers torch accepts: the dilated kernel fits in the padded input on both axes
    assume(dh * (kh - 1) + 1 <= h + 2 * ph and dw * (kw - 1) + 1 <= w + 2 * pw)
    layer = nn.Conv2d(1, 1, (kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    got = conv_output_size((h, w), (kh, kw), (ph, pw), (sh, sw), (dh, dw))
    assert isinstance(got, tuple)
    assert got == real_output_hw(layer, h, w)


def test_conv_output_size_mixes_ints_and_pairs():
    """An int next to pairs counts for both axes, as in nn.Conv2d(kernel_size=3, padding=(1, 0))."""
    layer = nn.Conv2d(1, 1, 3, stride=2, padding=(1, 0))
    assert conv_output_size((9, 12), 3, (1, 0), 2) == real_output_hw(layer, 9, 12) == (5, 5)
    assert conv_output_size(28, 3, 1, 2) == 14 and isinstance(conv_output_size(28, 3), int)


def test_conv_output_size_errors_where_torch_errors():
    with pytest.raises(ValueError, match=r"kernel \(5\) is larger than the padded input \(3 \+ 2\*0 = 3\): pad the input or use a smaller kernel"):
        conv_output_size(3, 5)
    with pytest.raises(RuntimeError):
        nn.Conv2d(1, 1, 5)(torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"dilated kernel \(5 = 2\*\(3-1\)\+1\) is larger than the padded input \(4 \+ 2\*0 = 4\)"):
        conv_output_size(4, 3, dilation=2)
    with pytest.raises(ValueError, match="along width"):
        conv_output_size((8, 2), 3)


@pytest.mark.parametrize("args, message", [
    ((28, 3, 0, 0), r"stride must be a positive integer \(>= 1\), got 0"),
    ((28, 0), r"kernel_size must be a positive integer"),
    ((28, 3, -1), r"padding must be a non-negative integer \(>= 0\), got -1"),
    ((28, 3, 0, 1, 0), r"dilation must be a positive integer"),
    ((0, 3), r"n must be a positive integer"),
    ((28.0, 3), r"n must be an integer, got 28\.0"),
    ((28, "3"), r"kernel_size must be an integer, got '3'"),
    ((28, (3, 3, 3)), r"kernel_size must be an int or a pair"),
    ((28, True), r"kernel_size must be an integer, got the boolean True"),
])
def test_conv_output_size_argument_errors(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


# ------------------------------------------------------------------ same_padding


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("n", [7, 16, 29])
def test_same_padding_keeps_the_size_of_a_real_layer(k, d, n):
    p = same_padding(k, d)
    if d * (k - 1) + 1 > n + 2 * p:
        return
    layer = nn.Conv2d(1, 1, k, padding=p, dilation=d)
    assert real_output_hw(layer, n, n + 3) == (n, n + 3)


def test_same_padding_pairs():
    layer = nn.Conv2d(1, 1, (3, 5), padding=same_padding((3, 5)))
    assert same_padding((3, 5)) == (1, 2)
    assert real_output_hw(layer, 10, 11) == (10, 11)


@pytest.mark.parametrize("k, d", [(2, 1), (4, 1), (6, 1), (4, 3)])
def test_same_padding_even_kernel_error(k, d):
    """An even effective kernel needs asymmetric padding: a real layer with k//2 grows by one."""
    with pytest.raises(ValueError, match=r"even number.*asymmetric padding.*Use an odd kernel size"):
        same_padding(k, d)
    span = d * (k - 1) + 1
    layer = nn.Conv2d(1, 1, k, padding=span // 2, dilation=d)
    assert real_output_hw(layer, 10, 10) == (11, 11)


def test_seed000_and_seed002_same_padding_claims():
    """Seed 000/004: padding ks//2 keeps the shape for odd ks.  Seed 002: a 3x3 kernel on a
    5x5 input needs one row/column of zeros on each side."""
    assert [same_padding(k) for k in (1, 3, 5, 7, 9)] == [k // 2 for k in (1, 3, 5, 7, 9)]
    assert same_padding(3) == 1
    assert conv_output_size(5, 3, padding=1) == 5


# ------------------------------------------------------------------ parameter counts


@pytest.mark.parametrize("c_in, c_out, k, bias, groups", [
    (1, 4, 3, True, 1), (4, 8, 3, True, 1), (3, 16, (3, 5), True, 1), (3, 16, 1, False, 1),
    (8, 12, 3, True, 4), (6, 6, (2, 7), False, 6), (32, 64, 3, True, 1),
])
def test_conv2d_params_match_torch(c_in, c_out, k, bias, groups):
    layer = nn.Conv2d(c_in, c_out, k, bias=bias, groups=groups)
    assert conv2d_params(c_in, c_out, k, bias=bias, groups=groups) == n_params(layer)


@pytest.mark.parametrize("n_in, n_out, bias", [(576, 64, True), (64, 10, True), (10, 3, False), (1, 1, True)])
def test_linear_params_match_torch(n_in, n_out, bias):
    assert linear_params(n_in, n_out, bias) == n_params(nn.Linear(n_in, n_out, bias=bias))


@pytest.mark.parametrize("c", [1, 4, 32, 100])
def test_batchnorm_params_match_torch_and_exclude_buffers(c):
    bn = nn.BatchNorm2d(c)
    trainable = sum(p.numel() for p in bn.parameters() if p.requires_grad)
    assert batchnorm_params(c) == trainable == n_params(bn)
    buffers = sum(b.numel() for name, b in bn.named_buffers() if name != "num_batches_tracked")
    assert buffers == 2 * c  # running_mean and running_var: not parameters


def test_param_count_errors():
    with pytest.raises(ValueError, match=r"divisible by groups \(4\)"):
        conv2d_params(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        conv2d_params(0, 8, 3)
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        linear_params(3, -1)
    with pytest.raises(ValueError, match="num_features must be an integer"):
        batchnorm_params(2.5)


# ------------------------------------------------------------------ receptive field


def _positive_weights(model):
    model = model.double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 0.1)
    return model


def _extent(mask):
    idx = np.flatnonzero(mask)
    return idx[0], idx[-1]


def measured_rf_by_gradient(model, in_channels, size, dims=2):
    """Gradient of the central output unit w.r.t. a ones input: span of the non-zero region.

    Weights are positive and biases zero, so every input pixel the unit
    depends on gets a positive gradient.  (Not for max pooling: its gradient
    reaches only the winning pixel of each window.)
    """
    model = _positive_weights(model)
    shape = (1, in_channels) + (size,) * dims
    x = torch.ones(shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre = (0, 0) + tuple(n // 2 for n in y.shape[2:])
    y[centre].backward()
    g = x.grad[0].abs().sum(0).numpy() > 0
    spans = []
    for axis in range(dims):
        other = tuple(a for a in range(dims) if a != axis)
        lo, hi = _extent(g.any(axis=other) if other else g)
        assert lo > 0 and hi < size - 1, "receptive field clipped by the border: use a larger input"
        spans.append(hi - lo + 1)
    return spans[0] if dims == 1 else tuple(spans)


def measured_rf_by_perturbation(model, in_channels, size):
    """Set one whole input column (or row) to 1 on a zero image and see if the central
    output unit moves.  Works for max pooling too: positive weights make any
    pixel inside the field raise the unit above zero."""
    model = _positive_weights(model)
    spans = []
    for axis in (2, 3):
        x = torch.zeros(size, in_channels, size, size, dtype=torch.float64)
        for b in range(size):
            if axis == 2:
                x[b, :, b, :] = 1.0
            else:
                x[b, :, :, b] = 1.0
        with torch.no_grad():
            y = model(x)
        hit = (y[:, 0, y.shape[2] // 2, y.shape[3] // 2] > 0).numpy()
        lo, hi = _extent(hit)
        assert lo > 0 and hi < size - 1, "receptive field clipped by the border: use a larger input"
        spans.append(hi - lo + 1)
    return tuple(spans)


def seed_conv_block(ic, oc, act=True, ks=3):
    """Seeds 000/004: ``nn.Conv2d(ic, oc, stride=2, kernel_size=ks, padding=ks//2)`` (+ ReLU)."""
    res = nn.Conv2d(ic, oc, stride=2, kernel_size=ks, padding=ks // 2)
    return nn.Sequential(res, nn.ReLU()) if act else res


CONV_STACKS = {
    "three 3x3 convs": (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 1, 3)), 31),
    "two stride-2 3x3 convs (seeds 000, 004)": (nn.Sequential(seed_conv_block(1, 2), seed_conv_block(2, 1)), 31),
    "seed 000 simple_cnn body": (
        nn.Sequential(seed_conv_block(1, 2), seed_conv_block(2, 2), seed_conv_block(2, 2),
                      seed_conv_block(2, 2), seed_conv_block(2, 1, act=False)), 161),
    "avg pooling": (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 1, 3), nn.AvgPool2d(3, 2)), 41),
    "dilated": (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.Conv2d(2, 1, 3, dilation=4)), 41),
    "1x1 stride-2 then 3x3": (nn.Sequential(nn.Conv2d(1, 1, 1, stride=2), nn.Conv2d(1, 1, 3)), 31),
    "non-square": (nn.Sequential(nn.Conv2d(1, 2, (3, 5), stride=(2, 1)), nn.Conv2d(2, 1, (1, 3), stride=(1, 2)),
                                 nn.Conv2d(1, 1, 3)), 41),
}


@pytest.mark.parametrize("name", list(CONV_STACKS))
def test_receptive_field_matches_gradient_measurement(name):
    model, size = CONV_STACKS[name]
    measured = measured_rf_by_gradient(model, 1, size)
    got = receptive_field(model)
    expected = measured[0] if measured[0] == measured[1] else measured
    assert got == expected


MAXPOOL_STACKS = {
    "seed 001 Net body (conv3, pool2, conv3, pool2, conv3)": nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(2, 2, 3), nn.ReLU(),
        nn.MaxPool2d(2, 2), nn.Conv2d(2, 1, 3), nn.ReLU()),
    "overlapping max pool": nn.Sequential(nn.Conv2d(1, 2, 5, stride=2), nn.MaxPool2d(3, 2), nn.Conv2d(2, 1, 3)),
    "padded max pool, dilated": nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(3, 2, padding=1, dilation=2)),
}


@pytest.mark.parametrize("name", list(MAXPOOL_STACKS))
def test_receptive_field_with_max_pooling_matches_perturbation_measurement(name):
    model = MAXPOOL_STACKS[name]
    measured = measured_rf_by_perturbation(model, 1, 61)
    assert receptive_field(model) == measured[0] == measured[1]


def test_both_measurements_agree_on_a_conv_stack():
    """The perturbation probe is itself checked against the gradient probe."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.AvgPool2d(2), nn.Conv2d(2, 1, 3))
    assert measured_rf_by_perturbation(model, 1, 41) == measured_rf_by_gradient(model, 1, 41)


def test_receptive_field_from_tuples_matches_measurement():
    layers = [(3, 2), (3, 1, 2), (2, 2), ((3, 1), (1, 1))]
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, dilation=2),
        nn.AvgPool2d(2, 2), nn.Conv2d(1, 1, (3, 1)),
    )
    measured = measured_rf_by_gradient(model, 1, 41)
    assert measured[0] != measured[1]
    assert receptive_field(layers) == measured


def test_receptive_field_conv1d_stack():
    model = nn.Sequential(nn.Conv1d(1, 2, 5, stride=2), nn.ReLU(), nn.Conv1d(2, 1, 3, stride=1, dilation=3))
    got = receptive_field(model)
    assert isinstance(got, int)
    assert got == measured_rf_by_gradient(model, 1, 51, dims=1)


def test_seed000_and_seed004_receptive_field_is_7():
    """Seeds 000 and 004: two stride-2 3x3 convs see a 7x7 input area."""
    assert receptive_field([(3, 2), (3, 2)]) == 7
    assert measured_rf_by_gradient(CONV_STACKS["two stride-2 3x3 convs (seeds 000, 004)"][0], 1, 31) == (7, 7)


def test_receptive_field_ignores_non_spatial_layers():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1), nn.ReLU(), nn.Dropout(), nn.Flatten())
    assert receptive_field(model) == 3
    assert receptive_field([]) == 1


def test_receptive_field_errors():
    with pytest.raises(ValueError, match=r"layer 1 is \(3,\): give \(kernel, stride\) or \(kernel, stride, dilation\)"):
        receptive_field([(3, 1), (3,)])
    with pytest.raises(ValueError, match=r"layer 0 stride must be a positive integer"):
        receptive_field([(3, 0)])
    with pytest.raises(ValueError, match="expects an nn.Module or a list"):
        receptive_field("conv3")


# ------------------------------------------------------------------ seed models


class Flatten(nn.Module):
    """Seed 000's custom Flatten."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def seed000_simple_cnn(bn=False):
    def conv(ic, oc, act=True):
        layers = [nn.Conv2d(ic, oc, stride=2, kernel_size=3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(oc))
        if act:
            layers.append(nn.ReLU())
        return nn.Sequential(*layers) if (bn or act) else layers[0]

    return nn.Sequential(conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 32), conv(32, 2, act=False), Flatten())


class Seed001Net(nn.Module):
    """Seed 001, Step 2: the convnet with the classifier on top."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3, padding=0)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3, padding=0)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(in_channels=64, out_channels=64, kernel_size=3, padding=0)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(576, 64)  # seed comment: "64 channels, 7x7 spatial dimension"
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        x = self.flatten(x)
        x = self.relu4(self.fc1(x))
        x = self.dropout(x)
        return self.fc2(x)


def seed002_keras_mnist():
    """Seed 002's Keras MNIST model (Conv2D 32/64/128, MaxPooling2D 2, Dense 10) in torch."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(3 * 3 * 128, 10), nn.Softmax(dim=1),
    )


class Seed003ConvNet(nn.Module):
    """Seed 003's ConvNet: pooling through F.max_pool2d, so it is not a module."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(x, 1)
        return F.relu(self.fc2(F.relu(self.fc1(x))))


def seed004_simple_cnn(ks_first=3, out=1):
    """Seed 004: the same blocks; its first version ends in conv(32, 1), its second in
    conv(64, 10) after a 5x5 first layer."""
    if out == 1:
        return nn.Sequential(seed_conv_block(1, 4), seed_conv_block(4, 8), seed_conv_block(8, 16),
                             seed_conv_block(16, 32), seed_conv_block(32, 1, act=False), nn.Flatten())
    return nn.Sequential(seed_conv_block(1, 8, ks=ks_first), seed_conv_block(8, 16), seed_conv_block(16, 32),
                         seed_conv_block(32, 64), seed_conv_block(64, out, act=False), nn.Flatten())


SEED_MODELS = {
    "seed000 simple_cnn": (lambda: seed000_simple_cnn(), (1, 1, 28, 28)),
    "seed000 simple_cnn + batchnorm": (lambda: seed000_simple_cnn(bn=True), (3, 1, 28, 28)),
    "seed001 Net": (Seed001Net, (1, 1, 28, 28)),
    "seed002 Keras MNIST": (seed002_keras_mnist, (2, 1, 28, 28)),
    "seed003 ConvNet": (Seed003ConvNet, (4, 1, 28, 28)),
    "seed004 simple_cnn": (seed004_simple_cnn, (64, 1, 28, 28)),
    "seed004 simple_cnn ks=5": (lambda: seed004_simple_cnn(ks_first=5, out=10), (2, 1, 28, 28)),
}


@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_layer_table_matches_torchinfo(name):
    make, size = SEED_MODELS[name]
    model = make()
    table = layer_table(model, size)
    stats = summary(model, input_size=size, verbose=0)
    leaves = [layer for layer in stats.summary_list if layer.is_leaf_layer]
    assert [row.type for row in table] == [layer.class_name for layer in leaves]
    assert [row.output_shape for row in table] == [tuple(layer.output_size) for layer in leaves]
    assert [row.params for row in table] == [layer.num_params for layer in leaves]
    assert table.total_params == stats.total_params
    assert table.trainable_params == stats.trainable_params


def test_layer_table_trainable_params_with_frozen_layer():
    model = seed000_simple_cnn()
    for p in model[0][0].parameters():
        p.requires_grad_(False)
    table = layer_table(model, (1, 1, 28, 28))
    stats = summary(model, input_size=(1, 1, 28, 28), verbose=0)
    assert (table.total_params, table.trainable_params) == (stats.total_params, stats.trainable_params)
    assert table.total_params - table.trainable_params == 40
    assert "Non-trainable params: 40" in str(table)


def test_layer_table_restores_modes_and_removes_hooks():
    model = seed000_simple_cnn(bn=True)
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    before = {name: m.training for name, m in model.named_modules()}
    running_mean = model[0][1].running_mean.clone()
    layer_table(model, (2, 1, 28, 28))
    assert {name: m.training for name, m in model.named_modules()} == before
    assert all(not m._forward_hooks for m in model.modules())
    assert torch.equal(model[0][1].running_mean, running_mean)  # eval pass: stats untouched


def test_layer_table_cleans_up_when_forward_fails():
    model = Seed001Net()
    model.train()
    with pytest.raises(RuntimeError):
        layer_table(model, (1, 1, 32, 32))  # 32x32 gives 4x4x64 = 1024 features, not 576
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())


def test_layer_table_text_and_html():
    table = layer_table(seed000_simple_cnn(), (1, 1, 28, 28))
    text = str(table)
    header = text.splitlines()[0].split()
    assert header == ["Layer", "Type", "Output", "shape", "Params"]
    assert "Total params: 6,722" in text and "Trainable params: 6,722" in text
    assert "(1, 4, 14, 14)" in text and "1,168" in text
    assert repr(table) == text
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + len(table) and "Total params: 6,722" in html


def test_layer_table_bad_input_size():
    with pytest.raises(ValueError, match=r"input_size must be a tuple such as \(1, 3, 32, 32\)"):
        layer_table(seed000_simple_cnn(), 28)
    with pytest.raises(ValueError, match=r"input_size\[0\] must be a positive integer"):
        layer_table(seed000_simple_cnn(), (0, 1, 28, 28))


# ------------------------------------------------------------------ seed figures


def conv_rows(table):
    return [row for row in table if row.type == "Conv2d"]


def test_seed000_simple_cnn_summary_figures():
    """Seed 000's torchsummary: params 40, 296, 1,168, 4,640, 578 (total 6,722);
    conv outputs 14x14, 7x7, 4x4, 2x2, 1x1; final shape [1, 2]."""
    table = layer_table(seed000_simple_cnn(), (1, 1, 28, 28))
    convs = conv_rows(table)
    assert [r.params for r in convs] == [40, 296, 1168, 4640, 578]
    assert [r.output_shape for r in convs] == [(1, 4, 14, 14), (1, 8, 7, 7), (1, 16, 4, 4), (1, 32, 2, 2), (1, 2, 1, 1)]
    assert table[-1].output_shape == (1, 2)
    assert table.total_params == table.trainable_params == 6722
    # the seed's formula oc*(ic*ks*ks+1), as conv2d_params computes it
    chans = [(1, 4), (4, 8), (8, 16), (16, 32), (32, 2)]
    assert [conv2d_params(ic, oc, 3) for ic, oc in chans] == [40, 296, 1168, 4640, 578]
    sizes, n = [], 28
    for _ in range(5):
        n = conv_output_size(n, 3, padding=1, stride=2)
        sizes.append(n)
    assert sizes == [14, 7, 4, 2, 1]


def test_seed000_batchnorm_model_output_shape():
    """Seed 000's batchnorm cell runs a batch of 3 and prints torch.Size([3, 2]); its comment
    '# Should print: torch.Size([1, 2])' is wrong: the batch size is 3.  Batchnorm adds
    2 parameters per channel: 6,722 + 2*(4+8+16+32+2) = 6,846."""
    table = layer_table(seed000_simple_cnn(bn=True), (3, 1, 28, 28))
    assert table[-1].output_shape == (3, 2) != (1, 2)
    assert [r.params for r in table if r.type == "BatchNorm2d"] == [batchnorm_params(c) for c in (4, 8, 16, 32, 2)]
    assert table.total_params == 6722 + 2 * (4 + 8 + 16 + 32 + 2) == 6846


def test_seed000_output_size_claims():
    """Seed 000: 4x4 image, 3x3 kernel -> 2x2 (h-2 by w-2); 5x5 input, 4x4 kernel, padding 2 ->
    6x6; 3x3 kernel on 5x5 with stride 2, padding 1 -> 3x3; padding 1, stride 2 (ks=3) gives
    (h+1)//2."""
    assert conv_output_size(4, 3) == 2
    assert conv_output_size((7, 9), 3) == (5, 7)
    assert conv_output_size(5, 4, padding=2) == 6 == real_output_hw(nn.Conv2d(1, 1, 4, padding=2), 5, 5)[0]
    assert conv_output_size(5, 3, padding=1, stride=2) == 3
    for h in range(1, 40):
        layer = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        assert conv_output_size(h, 3, 1, 2) == (h + 1) // 2 == real_output_hw(layer, h, h)[0]


def test_seed001_net_figures_and_the_7x7_comment():
    """Seed 001 Net: params 320, 18,496, 36,928 (conv) and 36,928, 650 (fc), total 93,322.

    Its comment on fc1 says '64 channels, 7x7 spatial dimension'; the spatial
    size before the flatten is really 3x3 (28 -> 26 -> 13 -> 11 -> 5 -> 3), and
    64*3*3 = 576 is why nn.Linear(576, 64) works (64*7*7 would be 3,136).
    """
    table = layer_table(Seed001Net(), (1, 1, 28, 28))
    by_name = {r.name: r for r in table}
    assert [by_name[n].params for n in ("conv1", "conv2", "conv3", "fc1", "fc2")] == [320, 18496, 36928, 36928, 650]
    assert table.total_params == 93322
    assert by_name["conv3"].output_shape == (1, 64, 3, 3)
    assert by_name["flatten"].output_shape == (1, 576) != (1, 64 * 7 * 7)
    assert [by_name[n].output_shape[-1] for n in ("conv1", "pool1", "conv2", "pool2", "conv3")] == [26, 13, 11, 5, 3]
    assert conv2d_params(1, 32, 3) == 320 and conv2d_params(32, 64, 3) == 18496
    assert linear_params(576, 64) == 36928 and linear_params(64, 10) == 650


def test_seed001_output_size_example():
    """Seed 001: n=10, m=5, p=2, s=1 gives o = 10 ('same')."""
    assert conv_output_size(10, 5, padding=2, stride=1) == 10
    assert same_padding(5) == 2


def test_seed002_keras_model_shapes():
    """Seed 002: 'After the last Conv2D layer, we end up with an output of shape (3, 3, 128)'
    (channels last); in torch (128, 3, 3), flattened to 1,152 for Dense(10)."""
    table = layer_table(seed002_keras_mnist(), (1, 1, 28, 28))
    convs = conv_rows(table)
    assert convs[-1].output_shape == (1, 128, 3, 3)
    assert [r.params for r in convs] == [320, 18496, 73856]
    assert table.total_params == 320 + 18496 + 73856 + 11530 == 104202
    assert table[-1].output_shape == (1, 10)


def test_seed003_output_size_and_fc1_inputs():
    """Seed 003: c_out * (h_in - k + 1) * (w_in - k + 1) = 8 * 25 * 25 = 5000 for k=4 on 28x28;
    ConvNet's fc1 takes 1600 = 64 * 5 * 5 inputs (28 -> 26 -> 13 -> 11 -> 5)."""
    assert 8 * conv_output_size(28, 4) ** 2 == 5000
    with torch.no_grad():
        assert nn.Conv2d(1, 8, 4)(torch.zeros(1, 1, 28, 28))[0].numel() == 5000
    n = conv_output_size(conv_output_size(conv_output_size(conv_output_size(28, 3), 2, stride=2), 3), 2, stride=2)
    assert 64 * n * n == 1600
    table = layer_table(Seed003ConvNet(), (1, 1, 28, 28))
    assert [r.name for r in table] == ["conv1", "conv2", "fc1", "fc2"]  # F.max_pool2d is no module
    assert table[1].output_shape == (1, 64, 11, 11)


def test_seed004_final_conv_shape_is_64x1x1x1_not_64x2x1x1():
    """Seed 004 builds its simple_cnn with conv(32, 1, act=False) but then says 'the output of
    the final Conv2d layer is 64 x 2 x 1 x 1'.  With one output channel it is 64 x 1 x 1 x 1
    (the 2 comes from fastai's version, which ends in conv(32, 2))."""
    table = layer_table(seed004_simple_cnn(), (64, 1, 28, 28))
    assert conv_rows(table)[-1].output_shape == (64, 1, 1, 1)
    assert conv_rows(layer_table(seed000_simple_cnn(), (64, 1, 28, 28)))[-1].output_shape == (64, 2, 1, 1)


def test_seed004_broken_cnn_and_5x5_first_layer():
    """Seed 004: broken_cnn (3x3, padding 1) keeps 28x28 -> [64, 1, 28, 28]; the second
    simple_cnn with a 5x5 first layer still goes 14, 7, 4, 2, 1."""
    assert conv_output_size(28, 3, padding=1) == 28 and same_padding(3) == 1
    table = layer_table(seed004_simple_cnn(ks_first=5, out=10), (2, 1, 28, 28))
    assert [r.output_shape[-1] for r in conv_rows(table)] == [14, 7, 4, 2, 1]
    assert conv_rows(table)[0].params == conv2d_params(1, 8, 5) == 208
    assert table[-1].output_shape == (2, 10)


def test_layer_table_row_names_are_named_modules_keys():
    """Notebooks look layers up with dict(model.named_modules())[row.name]."""
    model = Seed001Net()
    modules = dict(model.named_modules())
    table = layer_table(model, (1, 1, 28, 28))
    assert all(type(modules[row.name]).__name__ == row.type for row in table)
    single = nn.Conv2d(1, 3, 3)
    table = layer_table(single, (1, 1, 5, 5))
    assert [tuple(row) for row in table] == [("", "Conv2d", (1, 3, 3, 3), 30)]
    assert "(model)" in str(table)
