"""Example class of 05_exercises (the format: tests/submissions/common.py): what each made-up student
wrote in the three solution cells, and the points the autograder must give each graded cell.

Points: ex1_shape 1, ex1_pooling 2, ex2_block 2, ex2_net 1, ex3_history 2, ex3_best_epoch 1, ex3_figure 1.
Students train for 6 epochs (at least 5 are required) to keep grading the class quick.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "05_exercises"
NOTEBOOK = "exercises"

POINTS = {"ex1_shape": 1, "ex1_pooling": 2, "ex2_block": 2, "ex2_net": 1,
          "ex3_history": 2, "ex3_best_epoch": 1, "ex3_figure": 1}

#: A correct learning-curve cell with a short run (6 epochs).
CURVE_6 = '''
# Train net, plot the curves, read the best epoch
history = train.fit(net, mnist, num_epochs=6, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history.best_epoch("val_loss")
'''


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


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
    "capped_epochs": (
        "correct, but asks for 100 epochs: grading caps train.fit at 30 (CNNLIB_MAX_EPOCHS), so this "
        "submission costs what 30 epochs cost, whatever the student typed",
        {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": '''
# Train for long, then read the curve
history = train.fit(net, mnist, num_epochs=100, lr=1e-2)
fig = plots.plot_history(history, title="100 epochs asked for")
best_epoch = history.best_epoch()
print("best epoch:", best_epoch)
'''},
        points(),
    ),
    "dropout_before_relu": (
        "pooling right (average pooling), but the dropout comes before the activation",
        {"ex1_solution": '''
def pool_cnn():
    """simple_cnn with two conv blocks replaced by pooling layers that halve height and width."""
    return nn.Sequential(
        conv(1, 8), nn.AvgPool2d(2),    # 14 -> 7
        conv(8, 16), nn.AvgPool2d(2),   # 4 -> 2
        conv(16, 10, act=False), nn.Flatten(),
    )
''', "ex2_solution": '''
def conv(ic, oc, act=True):
    """3x3 stride-2 convolution; with act: then ReLU, then dropout with p = 0.5."""
    c = nn.Conv2d(ic, oc, kernel_size=3, stride=2, padding=1)
    if act:
        return nn.Sequential(c, nn.Dropout(0.5), nn.ReLU())
    return c
''', "ex3_solution": CURVE_6},
        points(ex2_block=0, ex2_net=0, ex3_history=0),
    ),
    "dropout_p02": (
        "dropout with p=0.2 instead of 0.5, and a loss plot without axis labels",
        {"ex1_solution": SOLUTION, "ex2_solution": '''
def conv(ic, oc, act=True):
    """3x3 stride-2 convolution; with act: then ReLU, then dropout with p = 0.5."""
    layers = [nn.Conv2d(ic, oc, 3, 2, 1)]
    if act:
        layers += [nn.ReLU(), nn.Dropout(p=0.2)]
    return nn.Sequential(*layers)
''', "ex3_solution": '''
# Train net, plot the curves, read the best epoch
history = train.fit(net, mnist, num_epochs=6, lr=1e-2)
fig, ax = plt.subplots()
ax.plot(history["train_loss"])
ax.plot(history["val_loss"])
best_epoch = history.best_epoch()
'''},
        points(ex2_block=0, ex2_net=0, ex3_history=0, ex3_figure=0),
    ),
    "best_epoch_argmax": (
        "reads best_epoch with argmax instead of argmin: the epoch of the highest validation loss (1)",
        {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": '''
# Train net, plot the curves, read the best epoch
history = train.fit(net, mnist, num_epochs=6, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = int(torch.tensor(history["val_loss"]).argmax()) + 1
'''},
        points(ex3_best_epoch=0),
    ),
    "test_set_curve": (
        "measures the learning curve on the test set instead of the validation split",
        {"ex1_solution": SOLUTION, "ex2_solution": SOLUTION, "ex3_solution": '''
# Train net, plot the curves, read the best epoch (on the real test digits)
import dataclasses
on_test = dataclasses.replace(mnist, X_val=mnist.X_test, y_val=mnist.y_test)
history = train.fit(net, on_test, num_epochs=6, lr=1e-2)
fig = plots.plot_history(history)
best_epoch = history.best_epoch("val_loss")
'''},
        points(ex3_history=0),
    ),
    "pool_not_halving": (
        "a 4x4 pooling that quarters 14x14 to 3x3 instead of halving (logits still (N, 10))",
        {"ex1_solution": '''
def pool_cnn():
    """simple_cnn with two conv blocks replaced by pooling layers that halve height and width."""
    return nn.Sequential(
        conv(1, 8),               # 14 x 14
        nn.MaxPool2d(4),          # 3 x 3
        conv(8, 16),              # 2 x 2
        nn.MaxPool2d(2),          # 1 x 1
        conv(16, 10, act=False),  # 1 x 1
        nn.Flatten(),
    )
''', "ex2_solution": SOLUTION, "ex3_solution": CURVE_6},
        points(ex1_pooling=0, ex2_net=0),
    ),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
