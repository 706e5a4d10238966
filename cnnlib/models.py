"""The course's networks, built from one `conv` block.

``conv(ic, oc)`` is the block of the first MNIST lesson: a 3x3 convolution with stride 2 and
padding 1 (so each block halves height and width, rounding up), followed by a ReLU unless
``act=False``. Every model here is an ``nn.Sequential`` so students can index, slice and swap layers.
"""
from __future__ import annotations

from torch import nn


def conv(ic: int, oc: int, act: bool = True, ks: int = 3, stride: int = 2, bn: bool = False) -> nn.Module:
    """Conv2d(ic -> oc, kernel ``ks``, ``stride``, padding ks//2) [+ BatchNorm2d] [+ ReLU]."""
    layers: list[nn.Module] = [nn.Conv2d(ic, oc, kernel_size=ks, stride=stride, padding=ks // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(oc))
    if act:
        layers.append(nn.ReLU())
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def simple_cnn(num_classes: int = 10) -> nn.Sequential:
    """Five stride-2 `conv` blocks, 28 -> 14 -> 7 -> 4 -> 2 -> 1, then flatten to ``num_classes`` logits."""
    return nn.Sequential(
        conv(1, 4),                          # 4 x 14 x 14
        conv(4, 8),                          # 8 x 7 x 7
        conv(8, 16),                         # 16 x 4 x 4
        conv(16, 32),                        # 32 x 2 x 2
        conv(32, num_classes, act=False),    # num_classes x 1 x 1
        nn.Flatten(),
    )


def bn_cnn(num_classes: int = 10) -> nn.Sequential:
    """`simple_cnn` four times as wide, with batch normalization in every block and a 5x5 first convolution.

    Notebook 04's fast MNIST recipe: batchnorm allows a high peak learning rate, so three one-cycle epochs
    with batches of 512 reach >= 99 % test accuracy (scripts/bench_training.py; figures in BENCHMARKS.md).
    """
    return nn.Sequential(
        conv(1, 16, ks=5, bn=True),                     # 16 x 14 x 14
        conv(16, 32, bn=True),                          # 32 x 7 x 7
        conv(32, 64, bn=True),                          # 64 x 4 x 4
        conv(64, 128, bn=True),                         # 128 x 2 x 2
        conv(128, num_classes, act=False, bn=True),     # num_classes x 1 x 1
        nn.Flatten(),
    )


def conv_pool_net(num_classes: int = 10, hidden: int = 64, p_drop: float = 0.5, bn: bool = False) -> nn.Sequential:
    """The classic conv32-pool-conv64-pool-conv64-dense network (valid 3x3 convolutions, 2x2 max pools).

    ``bn=True`` puts a BatchNorm2d after each convolution (which then needs no bias of its own):
    the course's MNIST recipe, which trains to >= 99 % test accuracy in two epochs on a CPU.
    """
    def block(ic, oc):
        return [nn.Conv2d(ic, oc, 3, bias=not bn)] + ([nn.BatchNorm2d(oc)] if bn else []) + [nn.ReLU()]

    return nn.Sequential(
        *block(1, 32), nn.MaxPool2d(2),      # 32 x 13 x 13
        *block(32, 64), nn.MaxPool2d(2),     # 64 x 5 x 5
        *block(64, 64),                      # 64 x 3 x 3
        nn.Flatten(),                        # 576
        nn.Linear(576, hidden), nn.ReLU(), nn.Dropout(p_drop),
        nn.Linear(hidden, num_classes),
    )
