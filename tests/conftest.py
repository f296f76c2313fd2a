"""Shared fixtures. The whole session writes its runs/ into a temporary folder, and notebooks
executed by nbmake use the `smoke` preset unless TFBOOK_PRESET says otherwise."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Set before any test (and before nbmake's kernels start), so nothing touches the real runs/.
# Idempotent: a second import of this file (as a module) must not pick another folder.
if "TFBOOK_TEST_RUNS" not in os.environ:
    os.environ["TFBOOK_TEST_RUNS"] = tempfile.mkdtemp(prefix="tfbook-test-runs-")
SESSION_RUNS = Path(os.environ["TFBOOK_TEST_RUNS"])
os.environ["TFBOOK_RUNS"] = str(SESSION_RUNS)
os.environ.setdefault("TFBOOK_PRESET", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist():
    from tfbook.data import load_mnist
    return load_mnist()


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """A runs folder of its own for the trained chapter-03 solution: nbmake's smoke runs write
    to SESSION_RUNS, and must never replace the checkpoint other tests rely on, whatever the
    order in which pytest runs the files."""
    return tmp_path_factory.mktemp("trained-runs")


@pytest.fixture(scope="session")
def solution_grade_03(trained_runs):
    """Chapter 03's solution graded in a fresh kernel with the `quick` preset; its runs (the
    trained checkpoint) stay in `trained_runs`, where chapter 04's tests find them."""
    from checks.grader import grade_notebook
    return grade_notebook("03", ROOT / "solutions" / "03_cnn_training.ipynb", preset="quick",
                          keep_runs=trained_runs)


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
