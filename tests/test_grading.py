"""The exercise checks accept every correct answer we can think of and reject the plausible wrong ones."""
from __future__ import annotations

import traceback

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib import grading, models, train

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


# ---- what the network is: shapes, parameters, receptive field ------------------------------------------
def field_by_recurrence(layers) -> int:
    """r <- r + (k - 1) j, j <- j s over (kernel, stride) pairs: the reference the probe is compared with."""
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


@pytest.mark.parametrize("factory, layers", [
    (pool_max, [(3, 2), (2, 2), (3, 2), (2, 2), (3, 2)]),
    (lambda: nn.Sequential(nn.AvgPool2d(2), conv(1, 8), nn.AvgPool2d(2), conv(8, 16), conv(16, 10, act=False),
                           nn.Flatten()), [(2, 2), (3, 2), (2, 2), (3, 2), (3, 2)]),
    (lambda: nn.Sequential(conv(1, 8), nn.MaxPool2d(4), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                           nn.Flatten()), [(3, 2), (4, 4), (3, 2), (2, 2), (3, 2)]),
    (models.simple_cnn, [(3, 2)] * 5),
])
def test_receptive_field_probe_agrees_with_the_recurrence(factory, layers, capsys):
    r = field_by_recurrence(layers)
    grading.check_receptive_field(factory, r)
    assert f"depends on a {r}x{r} square" in capsys.readouterr().out
    for wrong in (r - 2, r + 1, 1 + sum(k - 1 for k, _ in layers)):
        with pytest.raises(AssertionError, match=f"receptive_field = {wrong} is not the side"):
            grading.check_receptive_field(factory, wrong)
    with pytest.raises(AssertionError, match="must be an int"):
        grading.check_receptive_field(factory, float(r))


def test_shapes_and_params_come_from_the_network():
    net = pool_max()
    shapes, x = [], torch.zeros(1, 1, 28, 28)
    for layer in list(net)[:-1]:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    n_pool = sum(p.numel() for p in net.parameters())
    n_simple = sum(p.numel() for p in models.simple_cnn().parameters())
    grading.check_shapes_and_params(pool_max, shapes, n_pool, n_simple)
    wrong = list(shapes)
    wrong[2] = (16, 3, 3)
    with pytest.raises(AssertionError, match=r"shapes entry 3 \(after the conv2d"):
        grading.check_shapes_and_params(pool_max, wrong, n_pool, n_simple)
    with pytest.raises(AssertionError, match="shapes has 4 entries"):
        grading.check_shapes_and_params(pool_max, shapes[:4], n_pool, n_simple)
    without_biases = n_pool - (8 + 16 + 10)
    with pytest.raises(AssertionError, match=f"params_pool = {without_biases} is not"):
        grading.check_shapes_and_params(pool_max, shapes, without_biases, n_simple)
    with pytest.raises(AssertionError, match="params_simple = 9000 is not"):
        grading.check_shapes_and_params(pool_max, shapes, n_pool, 9000)


# ---- dropout -----------------------------------------------------------------------------------
class DropRand(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p) if self.training else x


class DropBernoulli(DropRand):
    def forward(self, x):
        if not self.training:
            return x
        return x * torch.bernoulli(torch.full_like(x, 1 - self.p)) / (1 - self.p)


class DropNoRescale(DropRand):
    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) if self.training else x


class DropAlways(DropRand):
    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


class DropSameMask(DropRand):
    def forward(self, x):
        if not self.training:
            return x
        torch.manual_seed(0)
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


class DropKeepProb(DropRand):
    def forward(self, x):
        return x * (torch.rand_like(x) < self.p) / self.p if self.training else x


class DropTorch(DropRand):
    def forward(self, x):
        return F.dropout(x, self.p, self.training)


class DropInPlace(DropRand):
    def forward(self, x):
        return x.mul_((torch.rand_like(x) >= self.p) / (1 - self.p)) if self.training else x


class DropSubclass(nn.Dropout):
    pass


@pytest.mark.parametrize("Dropout", [DropRand, DropBernoulli])
def test_dropout_accepts_correct_answers(Dropout, capsys):
    grading.check_dropout(Dropout)
    grading.check_dropout(Dropout, ps=(0.0, 0.8, 0.35), shape=(4, 3, 33, 17), dtype=torch.float64)
    assert capsys.readouterr().out.count("✓") == 2


def test_dropout_statistics_match_nn_dropout():
    """The bound the check applies holds for torch's own dropout (the reference), measured outside it."""
    for p in (0.2, 0.5, 0.8):
        x = torch.ones(32, 8, 16, 16)
        zeroed = float((nn.Dropout(p).train()(x) == 0).double().mean())
        assert grading._binomial_ok(zeroed, p, x.numel())
        assert not grading._binomial_ok(zeroed, 1 - p, x.numel()) or p == 0.5


@pytest.mark.parametrize("Dropout, message", [
    (DropNoRescale, r"scales the values it keeps by 1:"),
    (DropAlways, r"in eval mode Dropout\(0.5\) changes its input"),
    (DropSameMask, r"drops the same positions on two calls in a row"),
    (DropKeepProb, r"zeroes 8\d.\d% of the values.*probability to keep"),
    (DropTorch, r"calls torch's own dropout"),
    (DropSubclass, r"calls torch's own dropout|write your own class"),
    (DropInPlace, r"modified its input in place"),
    (nn.Dropout, r"write your own class"),
])
def test_dropout_rejects_wrong_answers(Dropout, message):
    with pytest.raises(AssertionError, match=message):
        grading.check_dropout(Dropout)


def block_with(Dropout, before_relu=False, on_logits=False, relu_on_logits=False, p=0.5):
    def make(ic, oc, act=True):
        layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
        if not act:
            tail = ([nn.ReLU()] if relu_on_logits else []) + ([Dropout(p)] if on_logits else [])
            return nn.Sequential(layer, *tail) if tail else layer
        return nn.Sequential(layer, Dropout(p), nn.ReLU()) if before_relu else nn.Sequential(layer, nn.ReLU(), Dropout(p))
    return make


def test_blocks_accept_the_students_dropout_and_reject_misplaced_ones(capsys):
    grading.check_dropout_block(block_with(DropRand), DropRand)
    grading.check_dropout_block(block_with(DropRand), DropRand, ic=1, oc=8, size=28, n=16)
    grading.check_logits_block(block_with(DropRand), DropRand)
    grading.check_dropout_block(block_with(DropNoRescale), DropNoRescale)  # the Dropout's own mistake is not the block's
    assert capsys.readouterr().out.count("✓") == 4
    with pytest.raises(AssertionError, match="is not ReLU of the block's"):
        grading.check_dropout_block(block_with(DropRand, before_relu=True), DropRand)
    with pytest.raises(AssertionError, match="build it with p = 0.5"):
        grading.check_dropout_block(block_with(DropRand, p=0.2), DropRand)
    with pytest.raises(AssertionError, match="contains 0 modules of your Dropout"):
        grading.check_dropout_block(block_with(nn.Dropout), DropRand)
    with pytest.raises(AssertionError, match="runs torch's dropout"):
        grading.check_dropout_block(block_with(DropTorch), DropTorch)
    with pytest.raises(AssertionError, match="contains your Dropout"):
        grading.check_logits_block(block_with(DropRand, on_logits=True), DropRand)
    with pytest.raises(AssertionError, match="must have no activation"):
        grading.check_logits_block(block_with(DropRand, relu_on_logits=True), DropRand)
    for check in (grading.check_dropout_block, grading.check_logits_block):
        with pytest.raises(AssertionError, match=r"conv is still the lesson's block"):
            check(models.conv, DropRand)


# ---- learning curve ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recipe():
    """The recipe run here as the exercise text states it: the reference the checks are compared with."""
    from cnnlib import data

    c = grading.CURVE
    small = data.mnist_tensors(val_size=c["val_size"], n_train=c["n_train"], seed=c["split_seed"])

    def fresh():
        train.set_seed(c["init_seed"])
        return models.simple_cnn()

    def epoch(net, e, schedule="constant"):
        train.fit(net, small, num_epochs=1, lr=c["lr"], batch_size=c["batch_size"], seed=e, schedule=schedule,
                  progress=False)

    net, val, trn, test = fresh(), [], [], []
    for e in range(1, c["epochs"] + 1):
        epoch(net, e)
        val.append(train.evaluate(net, small.X_val, small.y_val)[0])
        trn.append(train.evaluate(net, small.X_train, small.y_train)[0])
    return dict(small=small, fresh=fresh, epoch=epoch, val=val, trn=trn)


def test_the_validation_loss_turns_up_well_before_the_last_epoch(recipe):
    val, trn = recipe["val"], recipe["trn"]
    best = val.index(min(val)) + 1
    assert 3 <= best <= 8 and val[-1] - min(val) > 0.2, val
    assert trn.index(min(trn)) + 1 != best, trn


def test_curve_accepts_the_recipe_and_names_the_mistakes(recipe, capsys):
    val, trn = recipe["val"], recipe["trn"]
    grading.check_curve(list(val), list(trn))
    assert "✓ val_losses and train_losses" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="train_losses is not"):
        grading.check_curve(val, val)
    with pytest.raises(AssertionError, match="has 14 values"):
        grading.check_curve(val[:-1], trn[:-1])
    with pytest.raises(AssertionError, match="list of floats"):
        grading.check_curve(torch.tensor(val), trn)
    small, epoch = recipe["small"], recipe["epoch"]
    net = recipe["fresh"]()
    epoch(net, 1, schedule="onecycle")
    onecycle = [train.evaluate(net, small.X_val, small.y_val)[0]] + val[1:]
    with pytest.raises(AssertionError, match="one-cycle"):
        grading.check_curve(onecycle, trn)
    net = recipe["fresh"]()
    epoch(net, 1)
    on_test = [train.evaluate(net, small.X_test, small.y_test)[0]] + val[1:]
    with pytest.raises(AssertionError, match="test set"):
        grading.check_curve(on_test, trn)
    with pytest.raises(AssertionError, match="epoch 1 is right, epoch 4 is not"):
        grading.check_curve(val[:3] + [v * 1.01 for v in val[3:]], trn)
    with pytest.raises(AssertionError, match="epoch 1 already differs: start from fresh_net"):
        grading.check_curve(val[1:] + val[:1], trn)  # as from a network trained further


def test_best_epoch_is_the_one_based_minimum_of_the_students_curve(recipe, capsys):
    val, trn = recipe["val"], recipe["trn"]
    best = min(range(1, len(val) + 1), key=lambda e: val[e - 1])
    grading.check_best_epoch(best, val, trn)
    assert f"best_epoch = {best}" in capsys.readouterr().out
    cases = [(best - 1, "epochs count from 1"), (len(val), "not where your validation curve is lowest"),
             (trn.index(min(trn)) + 1, "lowest"), (0, "numbered 1 to 15"), (float(best), "must be an int")]
    for wrong, message in cases:
        with pytest.raises(AssertionError, match=message) as info:
            grading.check_best_epoch(wrong, val, trn)
        assert f"{min(val):.4f}" not in str(info.value)
    shifted = [1.0] * len(val)
    shifted[len(val) - 1] = 0.5  # another student's curve: its own minimum counts
    grading.check_best_epoch(len(val), shifted)


def test_retrained_network_is_compared_with_a_fresh_retraining(recipe):
    net = recipe["fresh"]()
    for e in range(1, 5):
        recipe["epoch"](net, e)
    grading.check_retrained(net, 4)
    with pytest.raises(AssertionError, match="it was trained 4 epochs, not best_epoch = 5"):
        grading.check_retrained(net, 5)
    recipe["epoch"](net, 1)
    with pytest.raises(AssertionError, match="not a fresh simple_cnn trained by the recipe"):
        grading.check_retrained(net, 4)
    with pytest.raises(AssertionError, match="an epoch number from 1 to 15"):
        grading.check_retrained(net, 0)


def test_curve_figure_needs_curves_labels_legend_and_the_mark(recipe):
    import matplotlib.pyplot as plt

    val, trn = recipe["val"], recipe["trn"]
    epochs = range(1, len(val) + 1)
    fig, ax = plt.subplots()
    ax.plot(epochs, trn, label="train")
    with pytest.raises(AssertionError, match="no line with the values of val_losses"):
        grading.check_curve_figure(fig, val, trn, 5)
    ax.plot(list(range(len(val))), val, label="val")
    with pytest.raises(AssertionError, match="not plotted against the epoch numbers"):
        grading.check_curve_figure(fig, val, trn, 5)
    ax.lines[-1].set_xdata(list(epochs))
    with pytest.raises(AssertionError, match="label the axes"):
        grading.check_curve_figure(fig, val, trn, 5)
    ax.set_xlabel("epoch"), ax.set_ylabel("loss")
    with pytest.raises(AssertionError, match="legend"):
        grading.check_curve_figure(fig, val, trn, 5)
    ax.legend()
    with pytest.raises(AssertionError, match="mark the best epoch"):
        grading.check_curve_figure(fig, val, trn, 5)
    ax.axvline(5)
    grading.check_curve_figure(fig, val, trn, 5)
    with pytest.raises(AssertionError, match="mark the best epoch"):
        grading.check_curve_figure(fig, val, trn, 6)
    ax.scatter([6], [val[5]])
    grading.check_curve_figure(fig, val, trn, 6)
    ax.annotate("here", xy=(7, val[6]))
    grading.check_curve_figure(fig, val, trn, 7)
    with pytest.raises(AssertionError, match="must be the matplotlib Figure"):
        grading.check_curve_figure(ax, val, trn, 5)
    plt.close("all")
