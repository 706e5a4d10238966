"""Notebook 04's network `models.bn_cnn`, against the same network written out in plain torch layers."""
from __future__ import annotations

import torch
from torch import nn

from cnnlib import models

# (in, out, kernel) of each block; stride 2, padding kernel//2, no conv bias (batchnorm has one)
BLOCKS = [(1, 16, 5), (16, 32, 3), (32, 64, 3), (64, 128, 3), (128, 10, 3)]


def plain_bn_cnn() -> nn.Sequential:
    layers = []
    for i, (ic, oc, k) in enumerate(BLOCKS):
        layers += [nn.Conv2d(ic, oc, k, stride=2, padding=k // 2, bias=False), nn.BatchNorm2d(oc)]
        if i < len(BLOCKS) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers, nn.Flatten())


def test_bn_cnn_is_the_plain_network():
    torch.manual_seed(0)
    ours, plain = models.bn_cnn(), plain_bn_cnn()
    ours_params = [p for m in ours.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) for p in m.parameters()]
    with torch.no_grad():
        for src, dst in zip(ours_params, plain.parameters(), strict=True):
            dst.copy_(src)
    x = torch.randn(8, 1, 28, 28)
    for mode in (True, False):  # batch statistics in training, running statistics in evaluation
        ours.train(mode), plain.train(mode)
        torch.testing.assert_close(ours(x), plain(x))
    # parameters: k*k*in*out weights per convolution, a scale and a shift per batchnorm channel
    assert sum(p.numel() for p in ours.parameters()) == sum(k * k * ic * oc + 2 * oc for ic, oc, k in BLOCKS)


def test_bn_cnn_halves_the_image_at_every_block():
    sizes, size = [], 28
    for _, _, k in BLOCKS:
        size = (size + 2 * (k // 2) - k) // 2 + 1
        sizes.append(size)
    seen = []
    net = models.bn_cnn(num_classes=7)
    for block in net[:-1]:
        block.register_forward_hook(lambda m, i, out: seen.append(out.shape[-1]))
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 7)
    assert seen == sizes == [14, 7, 4, 2, 1]
