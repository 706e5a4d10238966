"""The exercise checks accept every correct answer we can think of and reject the plausible wrong ones."""
from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

from cnnlib import grading, plots, train
from test_train import Toy

matplotlib.use("Agg")


def conv(ic, oc, act=True):
    """The exercise's starting block (stride-2 3x3 convolution, padding 1, ReLU)."""
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU()) if act else layer


# ---- pooling swap ------------------------------------------------------------------------------
def pool_max():
    return nn.Sequential(conv(1, 4), nn.MaxPool2d(2), conv(4, 16), nn.MaxPool2d(2),
                         conv(16, 10, act=False), nn.Flatten())


def pool_avg_ceil():
    return nn.Sequential(conv(1, 8), nn.AvgPool2d(2, ceil_mode=True), conv(8, 16),
                         nn.MaxPool2d(2), conv(16, 10, act=False), nn.Flatten())


class PoolModule(nn.Module):
    """A hand-written module (not nn.Sequential) with padded pooling: 7 -> 4."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.p1 = conv(1, 4), conv(4, 8), nn.MaxPool2d(2, padding=1)
        self.p2, self.c3 = nn.MaxPool2d(2), conv(8, 10, act=False)

    def forward(self, x):
        return self.c3(self.p2(self.p1(self.c2(self.c1(x))))).flatten(1)


@pytest.mark.parametrize("factory", [pool_max, pool_avg_ceil, PoolModule])
def test_pool_swap_accepts_correct_answers(factory, capsys):
    grading.check_pool_swap(factory)
    assert "2 pooling layers" in capsys.readouterr().out


def no_halving():
    return nn.Sequential(conv(1, 4), nn.MaxPool2d(3, stride=1, padding=1), conv(4, 8), nn.MaxPool2d(2),
                         conv(8, 16), conv(16, 10, act=False), nn.Flatten())


def one_pool():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), conv(16, 10, act=False),
                         nn.Flatten(), nn.Linear(10, 10))


def wrong_shape():
    return nn.Sequential(conv(1, 4), nn.MaxPool2d(2), conv(4, 8), nn.MaxPool2d(2), nn.Conv2d(8, 10, 1),
                         nn.Flatten())


def four_convs():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2),
                         conv(16, 10, act=False), nn.Flatten())


@pytest.mark.parametrize("factory, message", [
    (no_halving, r"MaxPool2d `1` maps 14x14 to 14x14: it must halve"),
    (one_pool, r"runs 1 pooling layers"),
    (wrong_shape, r"to shape \(1, 40\); it must give \(1, 10\)"),
    (four_convs, r"runs 4 convolutions"),
    (lambda: "not a network", r"must be an nn.Module"),
])
def test_pool_swap_rejects_wrong_answers(factory, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_pool_swap(factory)


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
        layers += [nn.LeakyReLU(), nn.Dropout(p=0.5)]
    return nn.Sequential(*layers)


def drop_2d(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout2d(0.5)) if act else layer


@pytest.mark.parametrize("conv_fn", [drop_right, drop_list_style, drop_2d])
def test_dropout_accepts_correct_answers(conv_fn, capsys):
    grading.check_dropout_block(conv_fn)
    assert "dropout zeroes" in capsys.readouterr().out


def drop_before_act(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.Dropout(0.5), nn.ReLU()) if act else layer


def drop_wrong_p(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.2)) if act else layer


def drop_on_logits(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, stride=2, padding=1)] + ([nn.ReLU()] if act else [])
    return nn.Sequential(*layers, nn.Dropout(0.5))


def drop_missing(ic, oc, act=True):
    return conv(ic, oc, act)


def drop_stride_lost(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, padding=1)
    return nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.5)) if act else layer


class FakeDropout(nn.Dropout):
    """Claims p=0.5 but never drops anything."""

    def forward(self, x):
        return x


def drop_fake(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), FakeDropout(0.5)) if act else layer


@pytest.mark.parametrize("conv_fn, message", [
    (drop_before_act, r"Conv2d -> Dropout -> ReLU: dropout must come after the activation"),
    (drop_wrong_p, r"has p=0.2; the exercise asks for p=0.5"),
    (drop_on_logits, r"act=False\) runs Conv2d -> Dropout: the last block"),
    (drop_missing, r"needs exactly one nn.Dropout layer, found 0"),
    (drop_stride_lost, r"gives \(8, 6, 8, 8\)"),
    (drop_fake, r"zeroes 0% of its positive outputs"),
])
def test_dropout_rejects_wrong_answers(conv_fn, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_dropout_block(conv_fn)


def test_dropout_net_checks_every_dropout():
    good = nn.Sequential(drop_right(1, 4), nn.MaxPool2d(2), drop_right(4, 16), drop_right(16, 32),
                         nn.MaxPool2d(2), drop_right(32, 10, act=False), nn.Flatten())
    grading.check_dropout_net(good)
    on_logits = nn.Sequential(*good, nn.Dropout(0.5))
    with pytest.raises(AssertionError, match="acts on the logits"):
        grading.check_dropout_net(on_logits)
    with pytest.raises(AssertionError, match="has no dropout layer"):
        grading.check_dropout_net(pool_max())
    before = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.Dropout(0.5), nn.ReLU(), nn.Conv2d(4, 10, 14), nn.Flatten())
    with pytest.raises(AssertionError, match="follows Conv2d; dropout must come right after an activation"):
        grading.check_dropout_net(before)


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
    grading.check_best_epoch(history.best_epoch("val_acc"), history)
    fig = plots.plot_history(history)
    grading.check_curve_figure(fig, history)
    out = capsys.readouterr().out
    assert out.count("✓") == 4


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
    (True, "must be an int"), (2.0, "must be an int"), ("3", "must be an int"), (0, "best_epoch = 0"),
])
def test_best_epoch_rejects_wrong_answers(trained, best, message):
    _, _, history = trained
    with pytest.raises(AssertionError, match=message):
        grading.check_best_epoch(best, history)


def test_best_epoch_must_match_the_curve():
    h = train.History(rows=[dict(epoch=i + 1, val_loss=v, val_acc=a)
                            for i, (v, a) in enumerate([(0.9, 0.5), (0.4, 0.8), (0.6, 0.7), (0.7, 0.6)])])
    grading.check_best_epoch(2, h)
    with pytest.raises(AssertionError, match="lowest at epoch 2"):
        grading.check_best_epoch(4, h)


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
