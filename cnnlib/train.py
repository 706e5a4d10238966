"""Training and evaluation on in-memory tensors: seeding, device choice, `fit`, `evaluate`, `History`.

Why in-memory: MNIST is 47 MB of pixels. Keeping it as one normalised tensor and cutting batches by
index slicing avoids the per-sample `ToTensor` work of a `DataLoader`. On a CPU the rest of a step is the
network's own arithmetic and memory traffic, so `fit` also uses channels-last convolutions and keeps
freed memory for reuse (`tune_cpu`); bfloat16 autocast is opt-in (`PRECISIONS`). Measured side by side
in scripts/bench_training.py; figures in BENCHMARKS.md.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

#: Environment variable that caps the epochs of every `fit` call (set while grading, so that the
#: cost of a submission is predictable whatever number of epochs a student asked for).
MAX_EPOCHS_ENV = "CNNLIB_MAX_EPOCHS"


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so runs repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device() -> torch.device:
    """CUDA if available, else Apple MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def tune_cpu() -> bool:
    """Keep freed memory in the process instead of returning it to the OS after every batch.

    glibc's malloc hands each large tensor (a 150x32x26x26 activation is 13 MB) back to the kernel
    when it is freed, so the next batch page-faults the same memory in again: about a third of a CPU
    training step for the course's networks. Raising glibc's mmap and trim thresholds makes those
    blocks reusable (measured in scripts/bench_training.py). No effect on results; a no-op (returning
    False) where the C library is not glibc. Called by `fit`; process-wide, done once (cached).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # from glibc's malloc.h
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
                and libc.mallopt(M_TOP_PAD, 64 << 20))


#: ``fit``'s precisions. "bf16" (bfloat16 autocast) is opt-in: about 1.6x faster epochs on a CPU with AMX
#: (scripts/bench_training.py), but with torch 2.14.1 its convolution weight gradient is wrong
#: (uninitialised memory, sometimes NaN) wherever oneDNN computes bfloat16 (AVX-512 BF16 or AMX CPUs) for a
#: 3x3, stride-2, padding-1 convolution over a 1x1 input, a network students do build
#: (tests/test_train.py::test_bf16_conv_weight_gradient_matches_fp32 records it).
#: Grading and the course notebooks train in float32.
PRECISIONS = ("fp32", "bf16")


@dataclass
class History:
    """Per-epoch training record: one dict per epoch with epoch, train_loss, train_acc,
    val_loss, val_acc, seconds. ``data`` names the evaluation set and ``val_fingerprint`` identifies
    its exact images (used by the grading checks)."""

    rows: list[dict] = field(default_factory=list)
    data: str = "validation"
    val_fingerprint: str = ""
    signature: str = ""
    precision: str = "fp32"

    def sign(self, net: nn.Module) -> None:
        """Seal the rows to the trained weights (see `signature_of`); `fit` calls this at the end."""
        self.signature = signature_of(self.rows, self.val_fingerprint, net)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: str) -> list[float]:
        """``history["val_loss"]`` is the list of that metric, one value per epoch."""
        if not self.rows or key not in self.rows[0]:
            raise KeyError(f"{key!r}: a History holds {list(self.rows[0]) if self.rows else 'no epochs yet'}")
        return [row[key] for row in self.rows]

    def best_epoch(self, metric: str = "val_loss") -> int:
        """The 1-based epoch with the lowest loss (or highest accuracy, for ``*_acc`` metrics)."""
        values = self[metric]
        best = max(values) if metric.endswith("acc") else min(values)
        return values.index(best) + 1

    def __repr__(self) -> str:
        lines = [f"{'epoch':>5} {'train_loss':>10} {'train_acc':>9} {'val_loss':>9} {'val_acc':>8} {'s':>6}"]
        for r in self.rows:
            lines.append(f"{r['epoch']:>5} {r['train_loss']:>10.4f} {r['train_acc']:>9.4f} "
                         f"{r['val_loss']:>9.4f} {r['val_acc']:>8.4f} {r['seconds']:>6.1f}")
        return "\n".join(lines)


def fingerprint(X: torch.Tensor) -> str:
    """A short content hash of a tensor (which images a history was measured on)."""
    return hashlib.sha1(X.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def weights_fingerprint(net: nn.Module) -> str:
    """A short content hash of all parameters and buffers of ``net``."""
    h = hashlib.sha1()
    for name, tensor in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def signature_of(rows: list[dict], val_fingerprint: str, net: nn.Module) -> str:
    """Hash tying a history's numbers to the validation images and the weights they came from,
    so an edited history, or one that belongs to another network, can be told apart."""
    payload = json.dumps([rows, val_fingerprint, weights_fingerprint(net)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    """Index tensors covering range(n) in batches; shuffled when a generator is given."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return order.split(batch_size)


def _prepare(X: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    X = X.to(device)
    return X.contiguous(memory_format=torch.channels_last) if channels_last and X.dim() == 4 else X


@torch.inference_mode()
def evaluate(net: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
             device: torch.device | None = None) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``net`` on (X, y), in eval mode (mode restored after)."""
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    total_loss, correct = 0.0, 0
    try:
        for idx in _batches(len(X), batch_size, None):
            xb, yb = X[idx].to(device), y[idx].to(device)
            logits = net(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    finally:
        net.train(was_training)
    return total_loss / len(X), correct / len(X)


@torch.inference_mode()
def predict(net: nn.Module, X: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of every row of X (eval mode, mode restored after)."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        return torch.cat([net(X[idx].to(device)).argmax(1).cpu() for idx in _batches(len(X), batch_size, None)])
    finally:
        net.train(was_training)


def _epoch_cap(num_epochs: int) -> int:
    cap = os.environ.get(MAX_EPOCHS_ENV)
    if cap and num_epochs > int(cap):
        print(f"note: {MAX_EPOCHS_ENV}={cap} caps training at {cap} of the {num_epochs} epochs asked for")
        return int(cap)
    return num_epochs


def fit(net: nn.Module, data, num_epochs: int = 2, lr: float = 4e-3, batch_size: int = 100,
        seed: int = 0, schedule: str = "onecycle", weight_decay: float = 0.0,
        device: torch.device | None = None, channels_last: bool = True, progress: bool = True,
        precision: str = "fp32") -> History:
    """Train ``net`` on ``data.X_train/y_train`` with Adam; evaluate on ``data.X_val/y_val`` every epoch.

    ``data`` is a `cnnlib.data.MnistTensors` (or anything with those six attributes).
    ``schedule`` is "onecycle" (learning rate warms up to ``lr`` then anneals to ~0 over all
    steps) or "constant". ``precision="bf16"`` runs the training forward pass under bfloat16 autocast
    (weights, optimiser and evaluation stay float32): faster on CPUs with AMX only; see `PRECISIONS` for
    its known bug. Returns a `History`; a tqdm bar (to stdout) shows progress per epoch.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant', got {schedule!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = device or get_device()
    num_epochs = _epoch_cap(num_epochs)
    if device.type == "cpu":
        tune_cpu()
    channels_last = channels_last and device.type == "cpu"
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    X_train, y_train = _prepare(data.X_train, device, channels_last), data.y_train.to(device)
    X_val, y_val = _prepare(data.X_val, device, channels_last), data.y_val.to(device)

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks repeat too
    steps = (len(X_train) + batch_size - 1) // batch_size
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=num_epochs * steps)
                 if schedule == "onecycle" else None)
    history = History(val_fingerprint=fingerprint(data.X_val), precision=precision)

    for epoch in range(1, num_epochs + 1):
        start = time.perf_counter()
        net.train()
        loss_sum, correct = 0.0, 0
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{num_epochs}", file=sys.stdout, disable=not progress,
                   mininterval=1.0, ncols=110, unit="batch")
        for idx in _batches(len(X_train), batch_size, generator):
            xb, yb = X_train[idx], y_train[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = net(xb)
                loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            bar.update()
        val_loss, val_acc = evaluate(net, X_val, y_val, device=device)
        row = dict(epoch=epoch, train_loss=loss_sum / len(X_train), train_acc=correct / len(X_train),
                   val_loss=val_loss, val_acc=val_acc, seconds=time.perf_counter() - start)
        history.rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.4f}")
        bar.close()
    history.sign(net)
    return history


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """Counts C[i, j] of examples of true class i predicted as class j."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
