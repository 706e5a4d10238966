"""Example class of 05_exercises (the format: tests/submissions/common.py): what each made-up student
wrote in the three solution cells, and the points an instructor reading the exercise text gives.

Each exercise is judged on its own: a mistake in Exercise 1 costs nothing in Exercises 2-3 (Exercise 2's
tests build their own blocks from ``conv``, Exercise 3 trains the given ``simple_cnn``), and correct code
in any style (modules or ``F.*`` calls, max or average pooling, pooling before or after a block) earns
the points. Each student carries one variant per exercise, so the class stays small: every notebook trains.

Points: ex1_shape 1, ex1_pooling 2, ex2_block 2 (conv with act), ex2_net 1 (the logits block, act=False),
ex3_history 2, ex3_best_epoch 1, ex3_figure 1.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "05_exercises"
NOTEBOOK = "exercises"

POINTS = {"ex1_shape": 1, "ex1_pooling": 2, "ex2_block": 2, "ex2_net": 1,
          "ex3_history": 2, "ex3_best_epoch": 1, "ex3_figure": 1}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- Exercise 1, pool_cnn: correct in other styles -----------------------------------------------------------

#: average pooling before the first and the second block (28 -> 14 -> 7 -> 3 -> 2 -> 1)
POOL_AVG_FIRST = '''
def pool_cnn():
    """simple_cnn with two conv blocks replaced by pooling layers that halve height and width."""
    return nn.Sequential(
        nn.AvgPool2d(2),          # 1 x 14 x 14
        conv(1, 8),               # 8 x 7 x 7
        nn.AvgPool2d(2),          # 8 x 3 x 3
        conv(8, 16),              # 16 x 2 x 2
        conv(16, 10, act=False),  # 10 x 1 x 1
        nn.Flatten(),
    )
'''
#: a module of its own, pooling with F.max_pool2d and F.avg_pool2d in forward
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
'''
#: two pooling layers in a row, the first rounding 7 up to 4, built from a list
POOL_TWO_IN_A_ROW = '''
def pool_cnn():
    layers = [conv(1, 8), conv(8, 16)]                               # 28 -> 14 -> 7
    layers += [nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2)]     # 7 -> 4 -> 2
    layers += [conv(16, 10, act=False), nn.Flatten()]                # 2 -> 1
    return nn.Sequential(*layers)
'''
#: a class used as the factory (pool_cnn() builds it), padded pooling 7 -> 4, torch.flatten
POOL_CLASS = '''
class pool_cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2, padding=1), nn.AvgPool2d(2))
        self.head = conv(8, 10, act=False)

    def forward(self, x):
        return torch.flatten(self.head(self.features(x)), 1)
'''

# --- Exercise 1: typical mistakes ------------------------------------------------------------------------------

#: one pooling layer in place of one block: four convolutions kept
POOL_FOUR_CONVS = '''
def pool_cnn():
    return nn.Sequential(conv(1, 4), conv(4, 8), nn.MaxPool2d(2), conv(8, 16), conv(16, 10, act=False),
                         nn.Flatten())
'''
#: a 4x4 pooling quarters 14x14 to 3x3 instead of halving it (the logits are still (N, 10))
POOL_NOT_HALVING = '''
def pool_cnn():
    return nn.Sequential(
        conv(1, 8),               # 14 x 14
        nn.MaxPool2d(4),          # 3 x 3
        conv(8, 16),              # 2 x 2
        nn.MaxPool2d(2),          # 1 x 1
        conv(16, 10, act=False),  # 1 x 1
        nn.Flatten(),
    )
'''
#: a stride-2 convolution of its own as the second "pooling": one pooling operation, four convolutions
POOL_CONV_AS_POOL = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.Conv2d(16, 16, 2, stride=2),
                         conv(16, 10, act=False), nn.Flatten())
'''
#: the pooling swap is right, but without nn.Flatten the logits have shape (N, 10, 1, 1)
POOL_NO_FLATTEN = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(8, 16), nn.MaxPool2d(2), conv(16, 10, act=False))
'''
#: channel counts that do not fit: the network does not run at all
POOL_CRASHES = '''
def pool_cnn():
    return nn.Sequential(conv(1, 8), nn.MaxPool2d(2), conv(16, 32), nn.MaxPool2d(2), conv(32, 10, act=False),
                         nn.Flatten())
'''

# --- Exercise 2, conv: correct in other styles ---------------------------------------------------------------

#: a module of its own with F.relu and F.dropout(x, 0.5, self.training)
CONV_FUNCTIONAL = '''
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, ic, oc, act):
        super().__init__()
        self.conv = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
        self.act = act

    def forward(self, x):
        x = self.conv(x)
        if self.act:
            x = F.dropout(F.relu(x), 0.5, self.training)
        return x


def conv(ic, oc, act=True):
    return Block(ic, oc, act)
'''
#: a list of layers, an in-place ReLU, the logits block a one-layer Sequential
CONV_LIST = '''
def conv(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, 2, 1)]
    if act:
        layers += [nn.ReLU(inplace=True), nn.Dropout(p=0.5)]
    return nn.Sequential(*layers)
'''
#: the lesson's block from cnnlib, with dropout appended
CONV_FROM_MODELS = '''
def conv(ic, oc, act=True):
    if not act:
        return models.conv(ic, oc, act=False)
    return nn.Sequential(models.conv(ic, oc), nn.Dropout(0.5))
'''
#: torch.relu and F.dropout with the module's training flag in a forward, as keyword arguments
CONV_TORCH_CALLS = '''
import torch.nn.functional as F


class DropBlock(nn.Conv2d):
    def __init__(self, ic, oc, act=True):
        super().__init__(ic, oc, kernel_size=3, stride=2, padding=1)
        self.act = act

    def forward(self, x):
        y = super().forward(x)
        return F.dropout(torch.relu(y), p=0.5, training=self.training) if self.act else y


conv = DropBlock
'''

# --- Exercise 2: typical mistakes ------------------------------------------------------------------------------

CONV_DROPOUT_BEFORE_RELU = '''
def conv(ic, oc, act=True):
    c = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
    if act:
        return nn.Sequential(c, nn.Dropout(0.5), nn.ReLU())
    return c
'''
CONV_P02 = '''
def conv(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, 2, 1)]
    if act:
        layers += [nn.ReLU(), nn.Dropout(p=0.2)]
    return nn.Sequential(*layers)
'''
CONV_DROPOUT_ON_LOGITS = '''
def conv(ic, oc, act=True):
    layers = [nn.Conv2d(ic, oc, 3, stride=2, padding=1)] + ([nn.ReLU()] if act else [])
    return nn.Sequential(*layers, nn.Dropout(0.5))
'''
CONV_RELU_ON_LOGITS = '''
def conv(ic, oc, act=True):
    block = nn.Sequential(nn.Conv2d(ic, oc, 3, stride=2, padding=1), nn.ReLU())
    return nn.Sequential(block, nn.Dropout(0.5)) if act else block
'''
#: F.dropout without the training flag: it drops in eval mode too
CONV_DROPOUT_ALWAYS = '''
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, ic, oc, act):
        super().__init__()
        self.conv, self.act = nn.Conv2d(ic, oc, 3, stride=2, padding=1), act

    def forward(self, x):
        x = self.conv(x)
        return F.dropout(F.relu(x), 0.5) if self.act else x


def conv(ic, oc, act=True):
    return Block(ic, oc, act)
'''
#: the lesson's block, unchanged: no dropout
CONV_NO_DROPOUT = '''
def conv(ic, oc, act=True):
    layer = nn.Conv2d(ic, oc, 3, 2, 1)
    return nn.Sequential(layer, nn.ReLU()) if act else layer
'''

# --- Exercise 3, the learning curve: correct in other styles ---------------------------------------------------

CURVE_CAPPED = '''
# Train for long, then read the curve
history = train.fit(net, mnist, num_epochs=100, lr=1e-2)
fig = plots.plot_history(history, title="100 epochs asked for")
best_epoch = history.best_epoch()
print("best epoch:", best_epoch)
'''
#: index of the minimum plus one; its own figure, plotted against the epoch numbers
CURVE_BY_HAND = '''
history = train.fit(net, mnist, num_epochs=8, lr=1e-2)
losses = history["val_loss"]
best_epoch = losses.index(min(losses)) + 1
fig, ax = plt.subplots()
ax.plot(history["epoch"], history["train_loss"], label="training")
ax.plot(history["epoch"], losses, label="validation")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy loss")
ax.legend()
'''
#: numpy's argmin plus one; pyplot's state machine
CURVE_NUMPY = '''
import numpy as np

history = train.fit(net, mnist, num_epochs=7, lr=1e-2)
best_epoch = int(np.argmin(history["val_loss"])) + 1
fig = plt.figure()
plt.plot(history["train_loss"])
plt.plot(history["val_loss"])
plt.xlabel("epoch")
plt.ylabel("loss")
'''
#: the epoch field of the row with the lowest validation loss
CURVE_ROWS = '''
history = train.fit(net, mnist, num_epochs=6, lr=1e-2, batch_size=50)
best_epoch = min(history.rows, key=lambda row: row["val_loss"])["epoch"]
fig = plots.plot_history(history)
'''

# --- Exercise 3: typical mistakes ------------------------------------------------------------------------------

#: the losses plotted without axis labels (best_epoch right)
CURVE_NO_LABELS = '''
history = train.fit(net, mnist, num_epochs=6, lr=1e-2)
fig, ax = plt.subplots()
ax.plot(history["train_loss"])
ax.plot(history["val_loss"])
best_epoch = history.best_epoch()
'''
#: a 0-based index: one epoch too early (the lowest validation loss of 8 epochs is at epoch 8)
CURVE_ZERO_BASED = '''
history = train.fit(net, mnist, num_epochs=8, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history["val_loss"].index(min(history["val_loss"]))
'''
#: argmax instead of argmin: the epoch of the highest validation loss (epoch 1)
CURVE_ARGMAX = '''
history = train.fit(net, mnist, num_epochs=6, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = int(torch.tensor(history["val_loss"]).argmax()) + 1
'''
#: measured on the test set; best_epoch and fig are right for that history
CURVE_TEST_SET = '''
import dataclasses

on_test = dataclasses.replace(mnist, X_val=mnist.X_test, y_val=mnist.y_test)
history = train.fit(net, on_test, num_epochs=6, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history.best_epoch("val_loss")
'''
#: the lowest training loss (epoch 20 of 20), not the lowest validation loss (epoch 10)
CURVE_TRAIN_LOSS = '''
history = train.fit(net, mnist, num_epochs=20, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history.best_epoch("train_loss")
'''
#: 3 epochs, fewer than the 5 asked for; best_epoch and fig are right for that history
CURVE_SHORT = '''
history = train.fit(net, mnist, num_epochs=3, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history.best_epoch("val_loss")
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
        "correct everywhere in functional style: F.max_pool2d/F.avg_pool2d and F.relu/F.dropout(x, 0.5, "
        "self.training) in forwards of its own, best_epoch by index + 1, a figure of its own",
        {"ex1_solution": POOL_FUNCTIONAL, "ex2_solution": CONV_FUNCTIONAL, "ex3_solution": CURVE_BY_HAND},
        points(),
    ),
    "avg_first": (
        "average pooling before the blocks (right); dropout before the ReLU (the text says after: the "
        "block's 2 points, the logits block is right); numpy argmin + 1 and a pyplot figure (right)",
        {"ex1_solution": POOL_AVG_FIRST, "ex2_solution": CONV_DROPOUT_BEFORE_RELU, "ex3_solution": CURVE_NUMPY},
        points(ex2_block=0),
    ),
    "two_pools_in_a_row": (
        "two poolings in a row, 7 -> 4 -> 2 (right); dropout p=0.2 instead of 0.5 (the block's 2 points); "
        "a loss plot without axis labels (the figure's point)",
        {"ex1_solution": POOL_TWO_IN_A_ROW, "ex2_solution": CONV_P02, "ex3_solution": CURVE_NO_LABELS},
        points(ex2_block=0, ex3_figure=0),
    ),
    "capped_epochs": (
        "four convolutions kept (one pooling: the pooling point); dropout also on the logits block (the "
        "logits block's point); asks for 100 epochs, which grading caps at 30 (CNNLIB_MAX_EPOCHS): full "
        "points for Exercise 3, at what 30 epochs cost",
        {"ex1_solution": POOL_FOUR_CONVS, "ex2_solution": CONV_DROPOUT_ON_LOGITS, "ex3_solution": CURVE_CAPPED},
        points(ex1_pooling=0, ex2_net=0),
    ),
    "pool_not_halving": (
        "a 4x4 pooling that quarters 14x14 (the pooling points; the logits shape is right); a list-built "
        "block with an in-place ReLU (right); a 0-based best_epoch, one epoch early (its point)",
        {"ex1_solution": POOL_NOT_HALVING, "ex2_solution": CONV_LIST, "ex3_solution": CURVE_ZERO_BASED},
        points(ex1_pooling=0, ex3_best_epoch=0),
    ),
    "conv_as_pool": (
        "a stride-2 convolution in place of the second pooling (the pooling points); a ReLU on the logits "
        "block (its point); argmax instead of argmin for best_epoch (its point)",
        {"ex1_solution": POOL_CONV_AS_POOL, "ex2_solution": CONV_RELU_ON_LOGITS, "ex3_solution": CURVE_ARGMAX},
        points(ex1_pooling=0, ex2_net=0, ex3_best_epoch=0),
    ),
    "ex1_crashes": (
        "Exercise 1 does not run (channel counts that do not fit): 0 there, and nothing lost elsewhere; "
        "cnnlib's block plus nn.Dropout (right); the curve measured on the test set (history's 2 points; "
        "best_epoch and fig are right for the history handed in)",
        {"ex1_solution": POOL_CRASHES, "ex2_solution": CONV_FROM_MODELS, "ex3_solution": CURVE_TEST_SET},
        points(ex1_shape=0, ex1_pooling=0, ex3_history=0),
    ),
    "no_flatten": (
        "no nn.Flatten, so the logits are (N, 10, 1, 1) (the shape point; the pooling swap itself is "
        "right); F.dropout without self.training, so it drops in eval mode too (the block's 2 points); "
        "best_epoch at the lowest training loss (its point)",
        {"ex1_solution": POOL_NO_FLATTEN, "ex2_solution": CONV_DROPOUT_ALWAYS, "ex3_solution": CURVE_TRAIN_LOSS},
        points(ex1_shape=0, ex2_block=0, ex3_best_epoch=0),
    ),
    "short_training": (
        "a pooling network written as a class (right); the lesson's block left without dropout (the block's "
        "2 points; its logits block is right); 3 epochs instead of at least 5 (history's 2 points)",
        {"ex1_solution": POOL_CLASS, "ex2_solution": CONV_NO_DROPOUT, "ex3_solution": CURVE_SHORT},
        points(ex2_block=0, ex3_history=0),
    ),
    "torch_calls": (
        "the instructor's pooling network; a Conv2d subclass with torch.relu and F.dropout(p=..., "
        "training=self.training) (right); best_epoch from the rows' epoch field (right)",
        {"ex1_solution": SOLUTION, "ex2_solution": CONV_TORCH_CALLS, "ex3_solution": CURVE_ROWS},
        points(),
    ),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
