import gzip
import shutil

import numpy as np
import pytest

from tfbook.data import CACHE_DIR, IDX_SHA256, MnistUnavailable, load_mnist, one_hot, read_idx


def test_standard_split_with_verified_files(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8
    assert np.bincount(mnist.y_test).tolist()[:3] == [980, 1135, 1032]  # MNIST's known class counts
    x, y = mnist.flat("test")
    assert x.shape == (10000, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1


def test_explicit_directory_with_gzipped_files(tmp_path, mnist):
    for name in IDX_SHA256:
        with open(CACHE_DIR / name, "rb") as src, gzip.open(tmp_path / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    loaded = load_mnist(tmp_path, use_keras=False, use_npm=False)
    assert loaded.source.startswith("directory")
    assert np.array_equal(loaded.y_train, mnist.y_train)


def test_every_failed_source_is_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras cache here
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in IDX_SHA256:
        (bad / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(MnistUnavailable) as error:
        load_mnist(bad, use_keras=False, use_npm=False, cache=tmp_path / "empty")
    message = str(error.value)
    assert "explicit directory" in message and "does not match the expected" in message
    assert "project cache" in message and "is not a directory" in message
    assert "TFBOOK_MNIST_DIR" in message  # the fix


def test_read_idx_rejects_other_files(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"PK\x03\x04whatever")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(path)


def test_one_hot():
    assert one_hot(np.array([2, 0])).tolist() == [[0, 0, 1] + [0] * 7, [1] + [0] * 9]
