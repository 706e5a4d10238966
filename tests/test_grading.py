"""The exercise checks accept every correct answer we can think of and reject the plausible wrong ones."""
from __future__ import annotations

import re
import traceback

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib import grading, models, plots, train
from test_train import Toy

matplotlib.use("Agg")


def conv(ic, oc, act=True):
    """The exercise's starting block (stride-2 3x3 convolution, padding 1, ReLU)."""
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU()) if act else layer


# ---- what a network computes -----------------------------------------------------------------
class Functional(nn.Module):
    """Convolution, ReLU, dropout and pooling as function calls in a forward of its own."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, 2, 1)

    def forward(self, x):
        x = F.dropout(F.relu(self.c(x)), 0.5, self.training)
        return torch.flatten(F.avg_pool2d(F.max_pool2d(x, 2), 7), 1)


def test_trace_sees_modules_and_function_calls_alike():
    modules = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Dropout(0.5), nn.MaxPool2d(2),
                            nn.AvgPool2d(7), nn.Flatten())
    x = torch.randn(2, 1, 28, 28)
    for net in (modules, Functional()):
        ops, out = grading.trace(net, x, train_mode=True)
        assert [op.name for op in ops] == ["conv2d", "relu", "dropout", "max_pool2d", "avg_pool2d"]
        assert [op.kind for op in ops] == ["conv", "activation", "dropout", "pool", "pool"]
        assert [op.shape_out for op in ops] == [(2, 4, 14, 14)] * 3 + [(2, 4, 7, 7), (2, 4, 1, 1)]
        assert out.shape == (2, 4)
    ops, _ = grading.trace(modules, x)
    assert [op.where for op in ops] == ["`0` (Conv2d)", "`1` (ReLU)", "`2` (Dropout)", "`3` (MaxPool2d)",
                                        "`4` (AvgPool2d)"]


def test_trace_restores_the_mode_and_the_random_state():
    net = nn.Sequential(nn.Dropout(0.5))
    net.eval()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    grading.trace(net, torch.ones(4, 4), train_mode=True)
    assert not net.training
    assert torch.equal(torch.rand(3), expected)


def test_checks_stay_trusted_when_an_optimiser_loads_dynamo():
    """torch.manual_seed is rewrapped when torch._dynamo loads: the checks rely on torch.random's own."""
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    assert grading.tampered() == []


def test_failures_show_no_path_of_the_grading_machine():
    with pytest.raises(AssertionError) as info:
        grading.check_logits_shape(lambda: nn.Flatten())
    frames = traceback.extract_tb(info.tb)
    assert frames[-1].filename == "<cnnlib.grading>"  # the frame IPython shows last
    assert all(f.filename == "<cnnlib.grading>" or f.name == "run" or f.filename == __file__ for f in frames), frames
    assert "grading.py" not in str(info.value) and "/" not in str(info.value).split("shape")[0]


# ---- pooling swap ------------------------------------------------------------------------------
def pool_max():
    return nn.Sequential(conv(1, 4), nn.MaxPool2d(2), conv(4, 16), nn.MaxPool2d(2),
                         conv(16, 10, act=False), nn.Flatten())


def pool_avg_ceil():
    return nn.Sequential(conv(1, 8), nn.AvgPool2d(2, ceil_mode=True), conv(8, 16),
                         nn.MaxPool2d(2), conv(16, 10, act=False), nn.Flatten())


def pool_first():
    return nn.Sequential(nn.AvgPool2d(2), conv(1, 8), nn.AvgPool2d(2), conv(8, 16), conv(16, 10, act=False),
                         nn.Flatten())


def pool_in_a_row():
    return nn.Sequential(conv(1, 8), conv(8, 16), nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2),
                         conv(16, 10, act=False), nn.Flatten())


class PoolModule(nn.Module):
    """A hand-written module (not nn.Sequential) with padded pooling: 7 -> 4."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.p1 = conv(1, 4), conv(4, 8), nn.MaxPool2d(2, padding=1)
        self.p2, self.c3 = nn.MaxPool2d(2), conv(8, 10, act=False)

    def forward(self, x):
        return self.c3(self.p2(self.p1(self.c2(self.c1(x))))).flatten(1)


class PoolFunctional(nn.Module):
    """Pooling as F.max_pool2d / torch.avg_pool2d calls: no pooling module anywhere."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = conv(1, 8), conv(8, 16), conv(16, 10, act=False)

    def forward(self, x):
        x = F.max_pool2d(self.c1(x), kernel_size=2)
        x = torch.nn.functional.avg_pool2d(self.c2(x), 2, 2)
        return self.c3(x).reshape(len(x), -1)


@pytest.mark.parametrize("factory", [pool_max, pool_avg_ceil, pool_first, pool_in_a_row, PoolModule,
                                     PoolFunctional])
def test_pool_swap_accepts_correct_answers(factory, capsys):
    grading.check_logits_shape(factory)
    grading.check_pool_swap(factory)
    out = capsys.readouterr().out
    assert "runs 2 pooling operations, each halving height and width" in out and "3 convolutions" in out


def no_halving():
    return nn.Sequential(conv(1, 4), nn.MaxPool2d(3, stride=1, padding=1), conv(4, 8), nn.MaxPool2d(2),
                         conv(8, 16), conv(16, 10, act=False), nn.Flatten())


def quartering():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(4), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


def one_pool():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), conv(16, 10, act=False),
                         nn.Flatten(), nn.Linear(10, 10))


def conv_as_pool():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.Conv2d(16, 16, 2, stride=2),
                         conv(16, 10, act=False), nn.Flatten())


def four_convs():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2),
                         conv(16, 10, act=False), nn.Flatten())


@pytest.mark.parametrize("factory, message", [
    (no_halving, r"the pooling max_pool2d in `1` \(MaxPool2d\) maps 14x14 to 14x14: each pooling layer must halve"),
    (quartering, r"max_pool2d in `1` \(MaxPool2d\) maps 14x14 to 3x3"),
    (one_pool, r"runs 1 pooling operations \(max_pool2d in `2` \(MaxPool2d\)\)"),
    (conv_as_pool, r"runs 1 pooling operations"),
    (four_convs, r"runs 4 convolutions \(conv2d in `0.0` \(Conv2d\), .*so 3 remain"),
    (lambda: "not a network", r"must be an nn.Module"),
])
def test_pool_swap_rejects_wrong_answers(factory, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_pool_swap(factory)


def test_logits_shape_and_pooling_are_judged_apart(capsys):
    """A right pooling swap without nn.Flatten loses the shape point only."""
    def no_flatten():
        return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False))

    with pytest.raises(AssertionError, match=r"to shape \(1, 10, 1, 1\); it must give \(1, 10\) logits"):
        grading.check_logits_shape(no_flatten)
    grading.check_pool_swap(no_flatten)
    grading.check_logits_shape(quartering)  # and the other way round


def test_a_crashing_network_is_reported_not_raised():
    broken = nn.Sequential(nn.Conv2d(3, 4, 3))  # expects 3 channels
    with pytest.raises(AssertionError, match=r"fails on a batch of shape \(1, 1, 28, 28\): RuntimeError"):
        grading.check_logits_shape(broken)


# ---- dropout -----------------------------------------------------------------------------------
def drop_right(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.5)) if act else layer


def drop_list_style(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)]
    if act:
        layers += [nn.ReLU(inplace=True), nn.Dropout(p=0.5)]
    return nn.Sequential(*layers)


def drop_2d(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout2d(0.5)) if act else layer


class FunctionalBlock(nn.Module):
    """F.relu and F.dropout(x, 0.5, self.training) in a forward of its own."""

    def __init__(self, ic, oc, act=True, training_flag=True):
        super().__init__()
        self.conv, self.act, self.training_flag = nn.Conv2d(ic, oc, 3, stride=2, padding=1), act, training_flag

    def forward(self, x):
        x = self.conv(x)
        if not self.act:
            return x
        return F.dropout(F.relu(x), 0.5, self.training) if self.training_flag else F.dropout(F.relu(x), 0.5)


class ConvSubclass(nn.Conv2d):
    """A Conv2d subclass: torch.relu and F.dropout with keyword arguments."""

    def __init__(self, ic, oc, act=True):
        super().__init__(ic, oc, kernel_size=3, stride=2, padding=1)
        self.act = act

    def forward(self, x):
        y = super().forward(x)
        return F.dropout(torch.relu(y), p=0.5, training=self.training) if self.act else y


class MaskedBlock(FunctionalBlock):
    """Dropout written by hand (a Bernoulli mask, scaled by 2): no dropout function is called at all."""

    def forward(self, x):
        x = self.conv(x)
        if not self.act:
            return x
        x = F.relu(x)
        return x * (torch.rand_like(x) >= 0.5) * 2 if self.training else x


def drop_models(ic, oc, act=True):
    return nn.Sequential(models.conv(ic, oc), nn.Dropout(0.5)) if act else models.conv(ic, oc, act=False)


@pytest.mark.parametrize("conv_fn", [drop_right, drop_list_style, drop_2d, FunctionalBlock, ConvSubclass,
                                     MaskedBlock, drop_models])
def test_dropout_accepts_correct_answers(conv_fn, capsys):
    grading.check_dropout_block(conv_fn)
    grading.check_dropout_block(conv_fn, ic=1, oc=8, size=28, n=32)
    grading.check_logits_block(conv_fn)
    out = capsys.readouterr().out
    assert "in eval mode it computes ReLU of its 3x3 stride-2 convolution" in out
    assert "is the plain 3x3 stride-2 convolution: no activation, no dropout" in out


def test_dropout_statistics_are_those_of_nn_dropout():
    """The check's measure on a real nn.Dropout(p): a fraction p zeroed, the rest scaled by 1/(1-p)."""
    for p in (0.2, 0.5, 0.7):
        def block(ic, oc, act=True, p=p):
            layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
            return nn.Sequential(layer, nn.ReLU(), nn.Dropout(p)) if act else layer

        grading.check_dropout_block(block, p=p)
        if p != 0.5:
            with pytest.raises(AssertionError, match=f"scales the others by {1 / (1 - p):.3g}") as info:
                grading.check_dropout_block(block)
            zeroed = float(re.search(r"zeroes (\d+)%", str(info.value)).group(1)) / 100
            assert abs(zeroed - p) < 0.03, info.value


def drop_before_act(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.Dropout(0.5), nn.ReLU()) if act else layer


def drop_wrong_p(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.2)) if act else layer


def drop_on_logits(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, stride=2, padding=1)] + ([nn.ReLU()] if act else [])
    return nn.Sequential(*layers, nn.Dropout(0.5))


def relu_on_logits(ic, oc, act=True):
    block = nn.Sequential(nn.Conv2d(ic, oc, 3, stride=2, padding=1), nn.ReLU())
    return nn.Sequential(block, nn.Dropout(0.5)) if act else block


class FunctionalReluOnLogits(FunctionalBlock):
    def forward(self, x):
        x = F.relu(self.conv(x))
        return F.dropout(x, 0.5, self.training) if self.act else x


def drop_missing(ic, oc, act=True):
    return conv(ic, oc, act)


def drop_stride_lost(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.5)) if act else layer


def drop_leaky(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.LeakyReLU(0.1), nn.Dropout(0.5)) if act else layer


class FakeDropout(nn.Dropout):
    """Claims p=0.5 but never drops anything."""

    def forward(self, x):
        return x


def drop_fake(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), FakeDropout(0.5)) if act else layer


class UnscaledMask(FunctionalBlock):
    """Zeroes half of the activations but does not scale the rest."""

    def forward(self, x):
        x = F.relu(self.conv(x))
        return x * (torch.rand_like(x) >= 0.5) if self.training and self.act else x


@pytest.mark.parametrize("conv_fn, message", [
    (drop_before_act, r"conv\(3, 6\) runs conv2d -> dropout -> relu: the dropout \(dropout in `1` \(Dropout\)\) "
                      r"must come after the ReLU"),
    (drop_wrong_p, r"zeroes 2\d% of the ReLU's positive outputs and scales the others by 1.25"),
    (drop_missing, r"zeroes none of the ReLU's outputs"),
    (drop_stride_lost, r"to \(64, 6, 16, 16\); the 3x3 stride-2 padding-1 convolution gives \(64, 6, 8, 8\)"),
    (drop_leaky, r"in eval mode conv\(3, 6\) \(running conv2d -> leaky_relu -> dropout\) does not compute ReLU"),
    (drop_fake, r"zeroes none of the ReLU's outputs"),
    (UnscaledMask, r"scales the others by 1:"),
    (lambda ic, oc, act=True: FunctionalBlock(ic, oc, act, training_flag=False),
     r"in eval mode conv\(3, 6\) still zeroes 5\d% of the ReLU's positive outputs: dropout must act in training"),
])
def test_dropout_rejects_wrong_answers(conv_fn, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_dropout_block(conv_fn)


@pytest.mark.parametrize("conv_fn, message", [
    (drop_on_logits, r"in training mode conv\(16, 10, act=False\) runs conv2d -> dropout: the logits block must "
                     r"have no dropout \(dropout in `1` \(Dropout\)\)"),
    (relu_on_logits, r"runs conv2d -> relu: the logits block must have no activation \(relu in `1` \(ReLU\)\)"),
    (FunctionalReluOnLogits, r"runs conv2d -> relu: the logits block must have no activation \(relu in "
                             r"conv\(16, 10, act=False\)\)"),
    (drop_stride_lost, r"is not its stride-2 padding-1 convolution"),
])
def test_logits_block_rejects_activation_and_dropout(conv_fn, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_logits_block(conv_fn)


def test_the_lessons_block_earns_nothing():
    """A cell that never redefined conv (it timed out, or crashed first) leaves the lesson's block."""
    for check in (grading.check_dropout_block, grading.check_logits_block):
        with pytest.raises(AssertionError, match=r"conv is still the lesson's block \(cnnlib.models.conv\)"):
            check(models.conv)
    grading.check_logits_block(drop_missing)  # the same code, written again, is an answer (without dropout)


def test_block_and_logits_block_are_judged_apart():
    """Each mistake costs its own check: dropout before the ReLU leaves the logits block right, and
    dropout on the logits leaves the block right."""
    grading.check_logits_block(drop_before_act)
    grading.check_logits_block(drop_wrong_p)
    grading.check_dropout_block(drop_on_logits)
    grading.check_dropout_block(relu_on_logits)


# ---- learning curve ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    data = Toy(n=400)
    torch.manual_seed(0)
    net = nn.Sequential(drop_right(1, 8), nn.MaxPool2d(2), drop_right(8, 16), nn.MaxPool2d(2),
                        drop_right(16, 10, act=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    history = train.fit(net, data, num_epochs=5, lr=1e-2, batch_size=50, progress=False)
    return data, net, history


def test_learning_curve_accepts_a_real_history(trained, capsys):
    data, net, history = trained
    grading.check_learning_curve(history, net, data)
    grading.check_best_epoch(history.best_epoch(), history)
    fig = plots.plot_history(history)
    grading.check_curve_figure(fig, history)
    out = capsys.readouterr().out
    assert out.count("✓") == 3


def test_learning_curve_rejects_fabricated_numbers(trained):
    data, net, history = trained
    forged = train.History(rows=[dict(r, val_loss=r["val_loss"] * 0.5) for r in history.rows],
                           val_fingerprint=history.val_fingerprint, signature=history.signature)
    with pytest.raises(AssertionError, match="numbers were changed"):
        grading.check_learning_curve(forged, net, data)
    with pytest.raises(AssertionError, match="must be the train.History"):
        grading.check_learning_curve({"train_loss": [1, 0.5], "val_loss": [1, 0.6]}, net, data)


def test_learning_curve_rejects_the_test_set(trained):
    data, net, _ = trained

    class OnTest:
        X_train, y_train = data.X_train, data.y_train
        X_val, y_val = data.X_test, data.y_test

    history = train.fit(net, OnTest, num_epochs=5, lr=1e-3, batch_size=50, progress=False)
    with pytest.raises(AssertionError, match="measured on the test set"):
        grading.check_learning_curve(history, net, data)


def test_learning_curve_rejects_a_net_trained_further(trained):
    data, net, history = trained
    copy = nn.Sequential(*[m for m in net])  # same modules
    with torch.no_grad():
        params = list(copy.parameters())
        saved = params[0].clone()
        params[0].add_(0.01)
    try:
        with pytest.raises(AssertionError, match="does not match the trained net"):
            grading.check_learning_curve(history, copy, data)
    finally:
        with torch.no_grad():
            params[0].copy_(saved)


def test_learning_curve_needs_enough_epochs(trained):
    data, net, history = trained
    short = train.History(rows=history.rows[:2])
    with pytest.raises(AssertionError, match="has 2 epochs; train for at least 5"):
        grading.check_learning_curve(short, net, data)


@pytest.mark.parametrize("best, message", [
    (True, "must be an int"), (2.0, "must be an int"), ("3", "must be an int"),
    (0, r"best_epoch = 0, but history has epochs 1 to 5"), (6, "epochs 1 to 5"),
])
def test_best_epoch_rejects_wrong_answers(trained, best, message):
    _, _, history = trained
    with pytest.raises(AssertionError, match=message):
        grading.check_best_epoch(best, history)


def test_best_epoch_must_be_the_lowest_validation_loss():
    """1-based, the lowest validation loss only (the text asks for it), and the failure does not tell."""
    h = train.History(rows=[dict(epoch=i + 1, val_loss=v, val_acc=a, train_loss=t)
                            for i, (v, a, t) in enumerate([(0.9, 0.5, 1.0), (0.4, 0.7, 0.5), (0.6, 0.8, 0.3),
                                                           (0.7, 0.6, 0.2)])])
    grading.check_best_epoch(2, h)
    for wrong in (1,    # 0-based
                  3,    # the highest validation accuracy
                  4):   # the lowest training loss
        with pytest.raises(AssertionError, match=f"best_epoch = {wrong}: the validation loss of epoch {wrong}") as info:
            grading.check_best_epoch(wrong, h)
        assert "epoch 2" not in str(info.value) and "0.4000" not in str(info.value)


def test_curve_figure_needs_both_curves(trained):
    import matplotlib.pyplot as plt

    _, _, history = trained
    fig, ax = plt.subplots()
    ax.plot(history["epoch"], history["train_loss"])
    with pytest.raises(AssertionError, match=r"no line with the values of history\['val_loss'\]"):
        grading.check_curve_figure(fig, history)
    ax.plot(history["epoch"], history["val_loss"])
    with pytest.raises(AssertionError, match="label the axes"):
        grading.check_curve_figure(fig, history)
    ax.set_xlabel("epoch"), ax.set_ylabel("loss")
    grading.check_curve_figure(fig, history)
    with pytest.raises(AssertionError, match="must be the matplotlib Figure"):
        grading.check_curve_figure(ax, history)
    plt.close("all")
