"""cnnlib.inspect_net against activations computed directly with torch on a fixed batch."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnlib import inspect_net, models


@pytest.fixture
def net_and_batch():
    torch.manual_seed(0)
    net = models.bn_cnn()
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return net, x


def direct_outputs(net, x):
    """Each block's output by running the blocks one after another by hand."""
    outs, a = [], x
    for m in net:
        a = m(a)
        outs.append(a)
    return outs[:5]  # the five conv blocks; the Flatten is not watched


def test_blocks_names_the_parameterised_children():
    names = list(inspect_net.blocks(models.bn_cnn()))
    assert names == ["1 Sequential", "2 Sequential", "3 Sequential", "4 Sequential", "5 Sequential"]
    assert list(inspect_net.blocks(models.simple_cnn()))[-1] == "5 Conv2d"


def test_layer_outputs_match_a_hand_run_in_eval_mode(net_and_batch):
    net, x = net_and_batch
    net.train()
    got = inspect_net.layer_outputs(net, x)
    assert net.training, "mode is restored"
    net.eval()
    with torch.no_grad():
        want = direct_outputs(net, x)
    assert [tuple(t.shape) for t in got.values()] == [(16, 16, 14, 14), (16, 32, 7, 7), (16, 64, 4, 4),
                                                      (16, 128, 2, 2), (16, 10, 1, 1)]
    for g, w in zip(got.values(), want):
        torch.testing.assert_close(g, w)


def test_activation_stats_match_torch_on_a_fixed_batch(net_and_batch):
    net, x = net_and_batch
    net.train()
    threshold = 0.05
    with inspect_net.ActivationStats(net, threshold=threshold) as stats:
        net(x)
        net.eval()
        net(x)  # eval passes are not recorded by default
    net.train()
    with torch.no_grad():
        # same batch in training mode: batchnorm uses the batch statistics, as in the recorded pass
        want = direct_outputs(net, x)
    for name, a in zip(stats.names, want):
        table = stats.table(name)
        assert table.shape == (1, 3)
        a = a.numpy().astype(np.float64)
        expected = [a.mean(), a.std(ddof=1), (np.abs(a) < threshold).mean()]
        np.testing.assert_allclose(table[0], expected, rtol=1e-4, atol=1e-6)
    # after a ReLU in a train-mode batchnorm block about half the units are off
    assert 0.3 < stats.table("1 Sequential")[0, 2] < 0.7


def test_hooks_are_removed_and_eval_passes_recorded_on_request(net_and_batch):
    net, x = net_and_batch
    net.eval()
    stats = inspect_net.ActivationStats({"first": net[0]}, training_only=False)
    net(x)
    net(x)
    stats.remove()
    net(x)
    assert stats.table("first").shape == (2, 3)
    assert not net[0]._forward_hooks


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="threshold"):
        inspect_net.ActivationStats(models.simple_cnn(), threshold=0)
    with pytest.raises(TypeError, match="not an nn.Module"):
        inspect_net.ActivationStats({"x": 3})
    with pytest.raises(ValueError, match="no child module with parameters"):
        inspect_net.ActivationStats(nn.Sequential(nn.ReLU()))
    with pytest.raises(KeyError, match="watched modules"):
        inspect_net.ActivationStats(models.simple_cnn()).table("nope")
    with pytest.raises(ValueError, match="did not run"):
        inspect_net.layer_outputs(models.simple_cnn(), torch.zeros(1, 1, 28, 28), {"other": nn.Conv2d(1, 1, 3)})
