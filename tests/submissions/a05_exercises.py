"""Example class of 05_exercises (the format: tests/submissions/common.py): what each made-up student
wrote in the three solution cells, and the points an instructor reading the exercise text gives.

Each exercise is judged on its own: a mistake in Exercise 1 costs nothing in Exercises 2-3 (Exercise 2's
tests build their own blocks from ``conv``, Exercise 3 trains ``simple_cnn``), and correct code in any
style earns the points. Within an exercise each test cell judges one part: Exercise 1's numbers are
checked against the student's own network, ``best_epoch`` against the student's own curve, the retrained
network against the student's own ``best_epoch``, so a part that is right scores even where another part
of the same exercise is wrong. Each student carries one variant per exercise, so the class stays small.

Points: ex1_pooling 1, ex1_shape 1 (shapes, parameter counts), ex1_field 1 (receptive field); ex2_dropout 1
(the student's Dropout), ex2_block 1 (conv with act), ex2_net 1 (the logits block); ex3_curve 1,
ex3_best_epoch 1, ex3_retrain 1, ex3_figure 1.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "05_exercises"
NOTEBOOK = "exercises"

POINTS = {"ex1_pooling": 1, "ex1_shape": 1, "ex1_field": 1, "ex2_dropout": 1, "ex2_block": 1, "ex2_net": 1,
          "ex3_curve": 1, "ex3_best_epoch": 1, "ex3_retrain": 1, "ex3_figure": 1}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- Exercise 1: correct in other styles -----------------------------------------------------------------------

#: average pooling before the first and the second block; numbers written out by hand
POOL_AVG_FIRST = '''
def pool_cnn():
    return nn.Sequential(
        nn.AvgPool2d(2),          # 1 x 14 x 14
        conv(1, 8),               # 8 x 7 x 7
        nn.AvgPool2d(2),          # 8 x 3 x 3
        conv(8, 16),              # 16 x 2 x 2
        conv(16, 10, act=False),  # 10 x 1 x 1
        nn.Flatten(),
    )


shapes = [(1, 14, 14), (8, 7, 7), (8, 3, 3), (16, 2, 2), (10, 1, 1)]
params_pool = 80 + 1168 + 1450
params_simple = 40 + 296 + 1168 + 4640 + 2890
receptive_field = 58   # pool 2, conv 6, pool 10, conv 26, conv 58
'''
#: a module of its own pooling with F.max_pool2d / F.avg_pool2d; counts by numel, the field by a loop
POOL_FUNCTIONAL = '''
import torch.nn.functional as F


class PoolCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1, self.block2 = conv(1, 8), conv(8, 16)
        self.logits = conv(16, 10, act=False)

    def forward(self, x):
        x = F.max_pool2d(self.block1(x), 2)                  # 14 -> 7
        x = F.avg_pool2d(self.block2(x), 2, ceil_mode=True)  # 4 -> 2
        return self.logits(x).flatten(1)


def pool_cnn():
    return PoolCNN()


shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool = sum(p.numel() for p in pool_cnn().parameters())
params_simple = sum(p.numel() for p in models.simple_cnn().parameters())
r, j = 1, 1
for k, s in [(3, 2), (2, 2), (3, 2), (2, 2), (3, 2)]:
    r, j = r + (k - 1) * j, j * s
receptive_field = r
'''
#: two pooling layers in a row, the first rounding 7 up to 4; the shapes by the output-size formula
POOL_TWO_IN_A_ROW = '''
import math


def pool_cnn():
    layers = [conv(1, 8), conv(8, 16)]                               # 28 -> 14 -> 7
    layers += [nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2)]     # 7 -> 4 -> 2
    layers += [conv(16, 10, act=False), nn.Flatten()]                # 2 -> 1
    return nn.Sequential(*layers)


size, shapes = 28, []
for channels, halve in [(8, "conv"), (16, "conv"), (16, "ceil"), (16, "floor"), (10, "conv")]:
    size = (size + 1) // 2 if halve in ("conv", "ceil") else size // 2
    shapes.append((channels, size, size))
params_pool = (9 + 1) * 8 + (72 + 1) * 16 + (144 + 1) * 10
params_simple = sum((9 * ic + 1) * oc for ic, oc in [(1, 4), (4, 8), (8, 16), (16, 32), (32, 10)])
receptive_field = 1 + 2 * 1 + 2 * 2 + 1 * 4 + 1 * 8 + 2 * 16
'''
#: a class used as the factory, padded pooling 7 -> 4; shapes from a forward pass with hooks
POOL_CLASS = '''
class pool_cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2, padding=1), nn.AvgPool2d(2))
        self.head = conv(8, 10, act=False)

    def forward(self, x):
        return torch.flatten(self.head(self.features(x)), 1)


net1 = pool_cnn()
shapes = []
layers = list(net1.features) + [net1.head]
for layer in layers:
    layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
net1(torch.zeros(1, 1, 28, 28))
params_pool = sum(p.numel() for p in net1.parameters())
params_simple = 9034
receptive_field = 51
'''

# --- Exercise 1: typical mistakes ------------------------------------------------------------------------------

#: one pooling layer in place of one block: four convolutions kept (its numbers are right for it)
POOL_FOUR_CONVS = '''
def pool_cnn():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(4, 14, 14), (8, 7, 7), (8, 3, 3), (16, 2, 2), (10, 1, 1)]
params_pool = 40 + 296 + 1168 + 1450
params_simple = 9034
receptive_field = 59
'''
#: a 4x4 pooling quarters 14x14 to 3x3 instead of halving it (its numbers are right for it)
POOL_NOT_HALVING = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(4), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 3, 3), (16, 2, 2), (16, 1, 1), (10, 1, 1)]
params_pool, params_simple = 2698, 9034
receptive_field = 105
'''
#: the right network, but 7x7 through the stride-2 convolution taken as 3x3 (it is 4x4)
POOL_WRONG_SHAPES = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 7, 7), (16, 3, 3), (16, 1, 1), (10, 1, 1)]
params_pool, params_simple = 2698, 9034
receptive_field = 53
'''
#: the right network and shapes, parameter counts without the biases
POOL_NO_BIASES = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool = 9 * 1 * 8 + 9 * 8 * 16 + 9 * 16 * 10
params_simple = 9 * (1 * 4 + 4 * 8 + 8 * 16 + 16 * 32 + 32 * 10)
receptive_field = 53
'''
#: the receptive field as the sum of the kernels, ignoring the strides (1 + 2 + 1 + 2 + 1 + 2)
POOL_WRONG_FIELD = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool, params_simple = 2698, 9034
receptive_field = 1 + 2 + 1 + 2 + 1 + 2
'''
#: the pooling swap is right, but without nn.Flatten the logits have shape (N, 10, 1, 1)
POOL_NO_FLATTEN = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False))


shapes = [(8, 14, 14), (8, 7, 7), (16, 4, 4), (16, 2, 2), (10, 1, 1)]
params_pool, params_simple = 2698, 9034
receptive_field = 53
'''
#: channel counts that do not fit: the network does not run at all
POOL_CRASHES = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(16, 32), nn.MaxPool2d(2), conv(32, 10, act=False),
                         nn.Flatten())


shapes = [(8, 14, 14), (8, 7, 7), (32, 4, 4), (32, 2, 2), (10, 1, 1)]
params_pool, params_simple = 8042, 9034
receptive_field = 53
'''

# --- Exercise 2: correct in other styles ---------------------------------------------------------------

#: torch.bernoulli mask; the block as a module of its own with F.relu
DROP_BERNOULLI = '''
import torch.nn.functional as F


class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.training:
            mask = torch.bernoulli(torch.full_like(x, 1 - self.p))
            return x * mask / (1 - self.p)
        return x


class Block(nn.Module):
    def __init__(self, ic, oc, act):
        super().__init__()
        self.conv = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
        self.drop = Dropout(0.5) if act else None

    def forward(self, x):
        x = self.conv(x)
        return self.drop(F.relu(x)) if self.drop is not None else x


def conv(ic, oc, act=True):
    return Block(ic, oc, act)
'''
#: torch.where on uniform draws, a clone in eval mode; the block from a list with an in-place ReLU
DROP_WHERE = '''
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.rate = float(p)

    def forward(self, x):
        if not self.training:
            return x.clone()
        dropped = torch.rand(x.shape, device=x.device) < self.rate
        return torch.where(dropped, torch.zeros_like(x), x / (1 - self.rate))


def conv(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, 2, 1)]
    if act:
        layers += [nn.ReLU(inplace=True), Dropout(0.5)]
    return nn.Sequential(*layers)
'''
#: an in-place uniform_ on a new tensor, the scale folded into the mask; the lesson's block plus Dropout
DROP_UNIFORM = '''
class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        scale = (torch.empty_like(x).uniform_() > self.p).to(x.dtype) / (1 - self.p)
        return x.mul(scale)


def conv(ic, oc, act=True):
    if not act:
        return models.conv(ic, oc, act=False)
    return nn.Sequential(models.conv(ic, oc), Dropout(0.5))
'''
#: numpy draws the mask (a new one per call from torch's seed); a Conv2d subclass with torch.relu
DROP_NUMPY = '''
import numpy as np


class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        rng = np.random.default_rng(int(torch.randint(0, 2**31, ())))
        keep = torch.from_numpy(rng.random(tuple(x.shape)) >= self.p)
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))


class DropBlock(nn.Conv2d):
    def __init__(self, ic, oc, act=True):
        super().__init__(ic, oc, kernel_size=3, stride=2, padding=1)
        self.drop = Dropout(0.5) if act else None

    def forward(self, x):
        y = super().forward(x)
        return self.drop(torch.relu(y)) if self.drop is not None else y


conv = DropBlock
'''

# --- Exercise 2: typical mistakes ------------------------------------------------------------------------------

#: the mask without the 1/(1-p) rescale (the blocks use it rightly)
DROP_NO_RESCALE = '''
class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) >= self.p)


def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5)) if act else layer
'''
#: no self.training: it drops in eval mode too
DROP_ALWAYS = '''
class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5)) if act else layer
'''
#: the mask drawn once and kept: the same positions dropped on every call
DROP_SAME_MASK = '''
class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p, self.mask = p, None

    def forward(self, x):
        if not self.training:
            return x
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = torch.rand_like(x) >= self.p
        return x * self.mask / (1 - self.p)


def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5)) if act else layer
'''
#: p taken as the probability to keep (right at p = 0.5 only)
DROP_KEEP_PROB = '''
class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) < self.p) / self.p if self.p > 0 else torch.zeros_like(x)


def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5)) if act else layer
'''
#: a right Dropout, also put on the logits block
DROP_ON_LOGITS = '''
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


def conv(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, stride=2, padding=1)] + ([nn.ReLU()] if act else [])
    return nn.Sequential(*layers, Dropout(0.5))
'''
#: a right Dropout, placed before the ReLU
DROP_BEFORE_RELU = '''
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p) if self.training else x


def conv(ic, oc, act=True):
    c = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
    return nn.Sequential(c, Dropout(0.5), nn.ReLU()) if act else c
'''
#: a right Dropout; a ReLU on the logits block
DROP_RELU_ON_LOGITS = '''
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p) if self.training else x


def conv(ic, oc, act=True):
    block = nn.Sequential(nn.Conv2d(ic, oc, 3, stride=2, padding=1), nn.ReLU())
    return nn.Sequential(block, Dropout(0.5)) if act else block
'''
#: torch's own dropout under another name (forbidden): the class and the block that runs it
DROP_TORCH = '''
import torch.nn.functional as F
dropout_fn = F.dropout


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout_fn(x, self.p, self.training)


def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, stride=2, padding=1)
    return nn.Sequential(layer, nn.ReLU(), Dropout(0.5)) if act else layer
'''

# --- Exercise 3: correct in other styles ---------------------------------------------------------------

#: a while loop, numpy argmin, a deep copy kept at the best epoch instead of retraining, pyplot and a point
CURVE_CHECKPOINT = '''
import copy

import numpy as np

net = fresh_net()
val_losses, train_losses, snapshots = [], [], []
epoch = 1
while epoch <= EPOCHS:
    train.fit(net, small, num_epochs=1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, schedule="constant",
              progress=False)
    loss, _ = train.evaluate(net, small.X_val, small.y_val)
    val_losses.append(loss)
    train_losses.append(train.evaluate(net, small.X_train, small.y_train)[0])
    snapshots.append(copy.deepcopy(net))
    epoch += 1
best_epoch = int(np.argmin(val_losses)) + 1
final_net = snapshots[best_epoch - 1]
fig = plt.figure()
plt.plot(range(1, EPOCHS + 1), train_losses, label="train")
plt.plot(range(1, EPOCHS + 1), val_losses, label="validation")
plt.scatter([best_epoch], [val_losses[best_epoch - 1]], color="red", zorder=3)
plt.xlabel("epoch")
plt.ylabel("loss")
plt.legend()
'''
#: functools.partial for the epoch, min over the epoch numbers, an annotation marks the best epoch
CURVE_PARTIAL = '''
import functools

epoch_of = functools.partial(train.fit, num_epochs=1, lr=LR, batch_size=BATCH_SIZE, schedule="constant",
                             progress=False)
net = fresh_net()
curve = []
for e in range(1, EPOCHS + 1):
    epoch_of(net, small, seed=e)
    curve.append((train.evaluate(net, small.X_train, small.y_train)[0],
                  train.evaluate(net, small.X_val, small.y_val)[0]))
train_losses = [t for t, _ in curve]
val_losses = [v for _, v in curve]
best_epoch = min(range(1, EPOCHS + 1), key=lambda e: val_losses[e - 1])
final_net = fresh_net()
for e in range(1, best_epoch + 1):
    epoch_of(final_net, small, seed=e)
fig, ax = plt.subplots()
xs = list(range(1, EPOCHS + 1))
ax.plot(xs, val_losses, label="val")
ax.plot(xs, train_losses, label="train")
ax.annotate("stop here", xy=(best_epoch, val_losses[best_epoch - 1]), xytext=(best_epoch + 2, 1.5),
            arrowprops=dict(arrowstyle="->"))
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.legend()
'''
#: tensors of losses converted with tolist, torch argmin, plt.axvline on the current axes
CURVE_TORCH = '''
def run(epochs, record):
    net = fresh_net()
    val, trn = [], []
    for epoch in range(1, epochs + 1):
        train.fit(net, small, num_epochs=1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, schedule="constant",
                  progress=False)
        if record:
            val.append(train.evaluate(net, small.X_val, small.y_val)[0])
            trn.append(train.evaluate(net, small.X_train, small.y_train)[0])
    return net, val, trn


_, val_losses, train_losses = run(EPOCHS, True)
val_t = torch.tensor(val_losses)
val_losses = val_t.tolist()
best_epoch = int(val_t.argmin()) + 1
final_net, _, _ = run(best_epoch, False)
fig = plt.figure(figsize=(5, 3))
plt.plot(torch.arange(1, EPOCHS + 1).numpy(), train_losses, "s-", label="training loss")
plt.plot(torch.arange(1, EPOCHS + 1).numpy(), val_losses, "o-", label="validation loss")
plt.axvline(best_epoch, color="k", linestyle=":")
plt.xlabel("epoch")
plt.ylabel("loss")
plt.legend()
'''
#: the rows of the Histories train.fit returns are not used; the loss kept as Python floats by float()
CURVE_DICT = '''
log = {"epoch": [], "train": [], "val": []}
net = fresh_net()
for epoch in range(1, EPOCHS + 1):
    train.fit(net, small, 1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, schedule="constant", progress=False)
    log["epoch"].append(epoch)
    log["train"].append(float(train.evaluate(net, small.X_train, small.y_train)[0]))
    log["val"].append(float(train.evaluate(net, small.X_val, small.y_val)[0]))
val_losses, train_losses = log["val"], log["train"]
best_epoch = log["epoch"][val_losses.index(min(val_losses))]
final_net = fresh_net()
for epoch in log["epoch"][:best_epoch]:
    train.fit(final_net, small, 1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, schedule="constant",
              progress=False)
fig, ax = plt.subplots()
ax.plot(log["epoch"], log["train"], label="train")
ax.plot(log["epoch"], log["val"], label="val")
ax.plot([best_epoch], [min(val_losses)], "r*", markersize=12, label="best")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.legend()
'''


def curve(*, fresh: str = "net = fresh_net()", schedule: str = 'schedule="constant", ', val: str = "small.X_val, small.y_val",
          best: str = "val_losses.index(min(val_losses)) + 1", retrain: str = "best_epoch", legend: str = "ax.legend()\n",
          loops: int = 1, head: str = "") -> str:
    """The instructor's loop, with one thing changed (a typical mistake)."""
    one = (f"    train.fit(NET, small, num_epochs=1, lr=LR, batch_size=BATCH_SIZE, seed=epoch, {schedule}"
           f"progress=False)\n")
    loop = ("val_losses, train_losses = [], []\n"
            "for epoch in range(1, EPOCHS + 1):\n" + one.replace("NET", "net")
            + f"    val_losses.append(train.evaluate(net, {val})[0])\n"
            "    train_losses.append(train.evaluate(net, small.X_train, small.y_train)[0])\n")
    return (head + fresh + "\n" + loop * loops
            + f"best_epoch = {best}\n"
            + "final_net = fresh_net()\n"
            + f"for epoch in range(1, {retrain} + 1):\n" + one.replace("NET", "final_net")
            + "epochs = range(1, EPOCHS + 1)\n"
            + "fig, ax = plt.subplots()\n"
            + "ax.plot(epochs, train_losses, label='training')\n"
            + "ax.plot(epochs, val_losses, label='validation')\n"
            + "ax.axvline(best_epoch, linestyle='--')\n"
            + "ax.set_xlabel('epoch')\nax.set_ylabel('loss')\n" + legend)


# --- Exercise 3: typical mistakes ------------------------------------------------------------------------------

#: the cell run twice: the second curve continues training the same net (what the kernel holds after a re-run)
CURVE_RERUN = curve(loops=2)
#: the curve measured on the test set (best_epoch, the retraining and the figure follow it consistently)
CURVE_TEST_SET = curve(val="small.X_test, small.y_test")
#: train.fit's default one-cycle schedule in every one-epoch call (and in the retraining)
CURVE_ONECYCLE = curve(schedule="")
#: best_epoch as a 0-based index (retrained and marked consistently with it)
CURVE_ZERO_BASED = curve(best="val_losses.index(min(val_losses))")
#: best_epoch guessed as the last epoch
CURVE_LAST_EPOCH = curve(best="EPOCHS")
#: the epoch of the lowest training loss
CURVE_TRAIN_LOSS = curve(best="train_losses.index(min(train_losses)) + 1")
#: retrained one epoch longer than best_epoch
CURVE_RETRAIN_LONGER = curve(retrain="best_epoch + 1")
#: the figure without a legend
CURVE_NO_LEGEND = curve(legend="")
#: one train.fit of 100 epochs (grading caps it at 30), one-cycle, its History taken as the curve
CURVE_CAPPED = '''
history = train.fit(fresh_net(), small, num_epochs=100, lr=LR, batch_size=BATCH_SIZE)
val_losses, train_losses = history["val_loss"], history["train_loss"]
best_epoch = history.best_epoch()
final_net = fresh_net()
train.fit(final_net, small, num_epochs=best_epoch, lr=LR, batch_size=BATCH_SIZE)
fig = plots.plot_history(history)
'''

#: student -> (what is special about the submission, answers by solution cell, expected points by graded cell)
STUDENTS: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
    "full": (
        "the instructor's solution in every cell",
        {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": SOLUTION},
        points(),
    ),
    "blank": (
        "the released notebook, handed in untouched",
        {"ex1_solution": BLANK, "ex2_solution": BLANK, "ex3_solution": BLANK},
        {cell: 0 for cell in POINTS},
    ),
    "functional": (
        "correct everywhere: F.max_pool2d/F.avg_pool2d in a forward of its own with counts by numel and the "
        "field by a loop; a torch.bernoulli Dropout in a block module; a while loop keeping a deep copy at the "
        "best epoch, a pyplot figure with a point",
        {"ex1_solution": POOL_FUNCTIONAL, "ex2_solution": DROP_BERNOULLI, "ex3_solution": CURVE_CHECKPOINT},
        points(),
    ),
    "avg_first": (
        "average pooling before the blocks, numbers by hand (right); torch.where Dropout and a list-built "
        "block (right); functools.partial and an annotation (right)",
        {"ex1_solution": POOL_AVG_FIRST, "ex2_solution": DROP_WHERE, "ex3_solution": CURVE_PARTIAL},
        points(),
    ),
    "two_pools_in_a_row": (
        "two poolings in a row, shapes by the formula (right); a uniform_ Dropout on the lesson's block "
        "(right); a helper that trains and records, torch argmin and plt.axvline (right)",
        {"ex1_solution": POOL_TWO_IN_A_ROW, "ex2_solution": DROP_UNIFORM, "ex3_solution": CURVE_TORCH},
        points(),
    ),
    "torch_calls": (
        "a class as the factory, shapes by forward hooks (right); a numpy-drawn mask in a Conv2d subclass "
        "(right); a dict of curves and a star at the best epoch (right)",
        {"ex1_solution": POOL_CLASS, "ex2_solution": DROP_NUMPY, "ex3_solution": CURVE_DICT},
        points(),
    ),
    "capped_epochs": (
        "four convolutions kept (the pooling point; its numbers are right for it); dropout without the "
        "1/(1-p) rescale (the Dropout point); one train.fit asking for 100 epochs (capped at 30) with its "
        "one-cycle History as the curve: 30 values, not the loop's, so every Exercise 3 part fails",
        {"ex1_solution": POOL_FOUR_CONVS, "ex2_solution": DROP_NO_RESCALE, "ex3_solution": CURVE_CAPPED},
        points(ex1_pooling=0, ex2_dropout=0, ex3_curve=0, ex3_best_epoch=0, ex3_retrain=0, ex3_figure=0),
    ),
    "pool_not_halving": (
        "a 4x4 pooling that quarters 14x14 (the pooling point; its numbers are right for it); dropout active "
        "in eval mode (the Dropout point); the cell run twice, training the same net further (the curve "
        "point; best_epoch, retraining and figure follow the curve handed in)",
        {"ex1_solution": POOL_NOT_HALVING, "ex2_solution": DROP_ALWAYS, "ex3_solution": CURVE_RERUN},
        points(ex1_pooling=0, ex2_dropout=0, ex3_curve=0),
    ),
    "wrong_shapes": (
        "7x7 through a stride-2 convolution taken as 3x3 (the shapes point); the same mask on every call "
        "(the Dropout point); the curve on the test set (the curve point, the rest follows it)",
        {"ex1_solution": POOL_WRONG_SHAPES, "ex2_solution": DROP_SAME_MASK, "ex3_solution": CURVE_TEST_SET},
        points(ex1_shape=0, ex2_dropout=0, ex3_curve=0),
    ),
    "no_biases": (
        "parameter counts without biases (the shapes-and-counts point); p as the keep probability (the "
        "Dropout point: right at 0.5 only, so the blocks are right); one-cycle in each epoch's train.fit "
        "(the curve point, and the retraining, done the same way)",
        {"ex1_solution": POOL_NO_BIASES, "ex2_solution": DROP_KEEP_PROB, "ex3_solution": CURVE_ONECYCLE},
        points(ex1_shape=0, ex2_dropout=0, ex3_curve=0, ex3_retrain=0),
    ),
    "wrong_field": (
        "the receptive field as the sum of the kernels (its point); dropout on the logits block too (its "
        "point); best_epoch as a 0-based index (its point; retrained and marked consistently)",
        {"ex1_solution": POOL_WRONG_FIELD, "ex2_solution": DROP_ON_LOGITS, "ex3_solution": CURVE_ZERO_BASED},
        points(ex1_field=0, ex2_net=0, ex3_best_epoch=0),
    ),
    "no_flatten": (
        "no nn.Flatten, logits (N, 10, 1, 1) (the pooling-and-logits point; its numbers are right); dropout "
        "before the ReLU (the block point); best_epoch guessed as the last epoch (its point)",
        {"ex1_solution": POOL_NO_FLATTEN, "ex2_solution": DROP_BEFORE_RELU, "ex3_solution": CURVE_LAST_EPOCH},
        points(ex1_pooling=0, ex2_block=0, ex3_best_epoch=0),
    ),
    "ex1_crashes": (
        "Exercise 1 does not run (channel counts that do not fit): 0 there, nothing lost elsewhere; a ReLU on "
        "the logits block (its point); best_epoch at the lowest training loss (its point)",
        {"ex1_solution": POOL_CRASHES, "ex2_solution": DROP_RELU_ON_LOGITS, "ex3_solution": CURVE_TRAIN_LOSS},
        points(ex1_pooling=0, ex1_shape=0, ex1_field=0, ex2_net=0, ex3_best_epoch=0),
    ),
    "torch_dropout": (
        "the instructor's Exercise 1; Dropout calling F.dropout under another name (forbidden: the Dropout "
        "point, and the block that runs it; the logits block is right); retrained one epoch too long (its "
        "point)",
        {"ex1_solution": SOLUTION, "ex2_solution": DROP_TORCH, "ex3_solution": CURVE_RETRAIN_LONGER},
        points(ex2_dropout=0, ex2_block=0, ex3_retrain=0),
    ),
    "no_legend": (
        "the instructor's Exercises 1 and 2; a figure without a legend (its point)",
        {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": CURVE_NO_LEGEND},
        points(ex3_figure=0),
    ),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
