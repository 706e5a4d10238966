"""cnnlib.schedules, cnnlib.runs and cnnlib.torch_calls against torch's own schedulers, a plain torch loop and
train.fit, and torch's own operations."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib import models, runs, schedules, torch_calls, train


@pytest.mark.parametrize("total, pct_start, div, final_div", [(100, 0.3, 25.0, 1e4), (7, 0.3, 25.0, 1e4),
                                                              (60, 0.25, 10.0, 100.0), (3, 0.5, 25.0, 1e4),
                                                              (10, 0.05, 25.0, 1e4), (451, 0.4, 5.0, 1e3)])
def test_onecycle_matches_torch_onecyclelr(total, pct_start, div, final_div):
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, pct_start=pct_start,
                                                div_factor=div, final_div_factor=final_div)
    used = []
    for _ in range(total):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    mine = schedules.onecycle(total, 0.1, pct_start=pct_start, div_factor=div, final_div_factor=final_div)
    assert mine == pytest.approx(used, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("kwargs, message", [(dict(step=0, total_steps=1), "total_steps"),
                                             (dict(step=10, total_steps=10), "step must be"),
                                             (dict(step=-1, total_steps=10), "step must be"),
                                             (dict(step=0, total_steps=10, pct_start=1.0), "pct_start")])
def test_onecycle_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        schedules.onecycle_lr(max_lr=0.1, **kwargs)


def _data(n_train=120, n_val=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_train + n_val, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n_train + n_val,), generator=g)
    return SimpleNamespace(X_train=X[:n_train], y_train=y[:n_train], X_val=X[n_train:], y_val=y[n_train:])


def test_train_run_is_a_plain_torch_loop():
    data = _data()
    torch.manual_seed(0)
    net = models.simple_cnn()
    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    run = runs.train_run(net, opt, data, num_epochs=2, batch_size=32, seed=3)

    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(3)
    losses, val = [], []
    for _ in range(2):
        for idx in torch.randperm(120, generator=g).split(32):
            loss = F.cross_entropy(ref(data.X_train[idx]), data.y_train[idx])
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            val.append(F.cross_entropy(ref(data.X_val), data.y_val).item())
    assert run.steps_per_epoch == 4 and len(run.step_loss) == 8
    assert run.step_loss == pytest.approx(losses, abs=1e-5)
    assert run.val_loss == pytest.approx(val, abs=1e-5)
    assert run.epoch_loss() == pytest.approx([sum(losses[:4]) / 4, sum(losses[4:]) / 4], abs=1e-5)
    assert run.lr == [0.05] * 8
    for a, b in zip(net.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_train_run_with_adam_follows_fit_and_records_the_scheduler():
    data = _data()
    torch.manual_seed(1)
    net = models.simple_cnn()
    twin = copy.deepcopy(net)
    run = runs.train_run(net, torch.optim.Adam(net.parameters(), lr=3e-3), data, num_epochs=2, batch_size=40)
    history = train.fit(twin, data, num_epochs=2, lr=3e-3, batch_size=40, schedule="constant",
                        channels_last=False, progress=False, device=torch.device("cpu"))
    assert run.val_loss == pytest.approx(history["val_loss"], abs=1e-5)
    assert run.val_acc == pytest.approx(history["val_acc"])

    net = models.simple_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=6)
    run = runs.train_run(net, opt, data, num_epochs=2, batch_size=40, scheduler=sched)
    assert run.lr == pytest.approx(schedules.onecycle(6, 1e-2), rel=1e-12)


def test_train_run_refuses_bad_input():
    with pytest.raises(ValueError, match="num_epochs"):
        runs.train_run(nn.Linear(2, 2), None, _data(), num_epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        runs.train_run(nn.Linear(2, 2), None, _data(), num_epochs=1, batch_size=0)


CE_OPS = {"softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss"}


@pytest.mark.parametrize("fn, used", [
    (lambda z, t: F.cross_entropy(z, t), "cross_entropy"),
    (lambda z, t: nn.CrossEntropyLoss()(z, t), "cross_entropy"),
    (lambda z, t: -z.log_softmax(1)[torch.arange(4), t].mean(), "log_softmax"),
    (lambda z, t: -torch.log_softmax(z, 1)[torch.arange(4), t].mean(), "log_softmax"),
    (lambda z, t: (torch.logsumexp(z, 1) - z[torch.arange(4), t]).mean(), "logsumexp"),
    (lambda z, t: -torch.log(z.softmax(1))[torch.arange(4), t].mean(), "softmax"),
    (lambda z, t: F.nll_loss(z, t), "nll_loss"),
])
def test_torch_calls_catches_an_operation_in_every_form(fn, used):
    z, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    result, problem = torch_calls.run(fn, z, t, case="case 1", forbidden_ops=CE_OPS)
    assert result is None and problem.startswith("case 1:") and used in problem


def test_torch_calls_lets_other_operations_through():
    z, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])

    def by_hand(z, t):
        m = z.max(1, keepdim=True).values
        return (m.squeeze(1) + (z - m).exp().sum(1).log() - z[torch.arange(4), t]).mean()

    result, problem = torch_calls.run(by_hand, z, t, case="c", forbidden_ops=CE_OPS)
    assert problem is None and torch.isclose(result, F.cross_entropy(z, t))
    with torch_calls.record() as names:
        torch.exp(z)
        z.sum()
    assert names == ["exp", "sum"]


def test_torch_calls_also_applies_forbid():
    result, problem = torch_calls.run(lambda x: nn.Dropout(0.5)(x), torch.ones(3), case="c",
                                      forbidden=("torch.nn.modules.dropout",))
    assert result is None and "torch.nn.modules.dropout" in problem
    result, problem = torch_calls.run(lambda x: 1 / 0, torch.ones(3), case="c")
    assert result is None and "ZeroDivisionError" in problem
