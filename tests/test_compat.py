"""An unsupported Python or TensorFlow stops at ``import tfbook`` (every chapter's first line) with
a message naming the supported range and what is installed (tfbook/compat.py); the range is the
one pyproject.toml gives pip. Versions are simulated: nothing is installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tfbook import compat

ROOT = Path(__file__).resolve().parent.parent


def test_this_environment_is_supported():
    compat.check()
    assert compat.installed_tensorflow() is not None


@pytest.mark.parametrize("version", ["2.18.0", "2.18.1", "2.19.1", "2.21.0", "2.21.7"])
def test_supported_tensorflows_pass(version):
    compat.check(tensorflow=("tensorflow-cpu", version))


@pytest.mark.parametrize(
    "version", ["2.16.2", "2.17.1", "2.15.0.post1", "2.22.0", "2.22.0rc1", "2.23.0.dev20260301", "1.15.5", "3.0.0"]
)
def test_unsupported_tensorflows_name_the_range_and_the_installed_one(version, monkeypatch):
    monkeypatch.delenv(compat.OVERRIDE_ENV, raising=False)
    with pytest.raises(ImportError) as caught:
        compat.check(tensorflow=("tensorflow", version))
    message = str(caught.value)
    assert "supports TensorFlow 2.18 to 2.21" in message
    assert f"tensorflow {version} is installed" in message
    assert "pip install 'tensorflow>=2.18,<2.22'" in message


@pytest.mark.parametrize("version_info", [(3, 10, 13), (3, 14, 0), (3, 9, 18)])
def test_unsupported_pythons_name_the_range(version_info):
    with pytest.raises(
        ImportError,
        match=r"supports Python 3\.11 to 3\.13; this is Python " + re.escape(f"{version_info[0]}.{version_info[1]}"),
    ):
        compat.check(version_info=version_info, tensorflow=("tensorflow", "2.21.0"))


def test_no_tensorflow_installed_is_left_to_its_own_import():
    compat.check(tensorflow=None)


def test_the_override_turns_the_error_into_a_warning(monkeypatch):
    monkeypatch.setenv(compat.OVERRIDE_ENV, "1")
    with pytest.warns(UserWarning, match="tensorflow-cpu 2.22.0 is installed"):
        compat.check(tensorflow=("tensorflow-cpu", "2.22.0"))


def test_the_ranges_are_pyproject_tomls():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    low, high = compat.PYTHON
    assert project["requires-python"] == f">={low[0]}.{low[1]},<{high[0]}.{high[1]}"
    low, high = compat.TENSORFLOW
    ranges = {re.match(r"[\w-]+", d).group(): d for d in project["dependencies"]}
    for name in ("tensorflow-cpu", "tensorflow", "tensorboard"):
        assert ranges[name].startswith(f"{name}>={low[0]}.{low[1]},<{high[0]}.{high[1]}"), ranges[name]


def test_import_tfbook_fails_early_on_an_unsupported_tensorflow(tmp_path):
    """The whole path, in a fresh interpreter: a TensorFlow 2.16.2 (its metadata only, placed ahead
    of the real one on sys.path) makes ``import tfbook`` raise before anything else happens."""
    info = tmp_path / "tensorflow_cpu-2.16.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow-cpu\nVersion: 2.16.2\n")
    env = {k: v for k, v in os.environ.items() if k != compat.OVERRIDE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", "import tfbook"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "ImportError: the TensorFlow book supports TensorFlow 2.18 to 2.21; tensorflow-cpu 2.16.2 is installed."
    ), done.stderr
