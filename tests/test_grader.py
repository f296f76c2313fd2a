"""The grader through a real kernel: the solution passes, the unsolved edition fails, and
nothing done inside the learner's kernel turns a fail into a pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from checks.grader import grade_notebook
from tfbook.manifest import ROOT

pytestmark = pytest.mark.slow

RESHAPE = "import tensorflow as tf\ndef reshape_input(x):\n    return tf.reshape(x, [-1, 28, 28, 1])"


def notebook(tmp_path, *cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    return path


def by_exercise(grade):
    out = {}
    for r in grade.results:
        out.setdefault(r.exercise, []).append(r)
    return out


def test_the_solution_passes_every_check(solution_grade_03):
    failed = [(r.check, r.message) for r in solution_grade_03.results if not r.passed]
    assert not failed and not solution_grade_03.stopped
    assert not solution_grade_03.cell_errors
    assert sum(r.earned for r in solution_grade_03.results) == sum(r.points for r in solution_grade_03.results)


def test_the_unsolved_chapter_lists_every_exercise_as_not_done(tmp_path):
    out = tmp_path / "grade.json"
    # The learner's runs/ holds a checkpoint from an earlier, solved run: grading the unsolved
    # notebook (which saves none) must keep it (it replaced it with an empty folder once).
    earlier = tmp_path / "runs" / "ch03" / "checkpoint" / "cnn.index"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"earlier run")
    env = dict(os.environ, TFBOOK_RUNS=str(tmp_path / "runs"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "checks",
            "03",
            str(ROOT / "chapters" / "03_cnn_training.ipynb"),
            "--json",
            str(out),
            "--preset",
            "quick",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert earlier.read_bytes() == b"earlier run"
    data = json.loads(out.read_text())
    assert data["earned"] == 0 and data["exercises_passed"] == []
    for exercise in (
        "reshape_input",
        "output_size",
        "conv_layer",
        "flatten",
        "dense_dropout",
        "forward",
        "loss",
        "accuracy",
        "checkpoint",
    ):
        assert f" {exercise} " in proc.stdout
    assert proc.stdout.count("TODO") >= 15 and proc.stdout.count("hint:") >= 9  # one hint per exercise
    assert "Traceback" not in proc.stdout + proc.stderr


def test_tricks_inside_the_kernel_do_not_pass(tmp_path):
    path = notebook(
        tmp_path,
        # patch the checks module inside the kernel, so that every inline check "passes"
        "import checks.engine\nchecks.engine.Chapter.run = lambda self, check, learner: None",
        'print("PASS  3.1 reshape_input  2/2\\nScore 33/33 points; exercises passed 9/9")',
        # constants of a plausible shape instead of a computation
        "import tensorflow as tf\ndef reshape_input(x):\n    return tf.zeros([3, 28, 28, 1])",
        'check = lambda name: None\ncheck("reshape_input")',
        # objects equal to everything
        "class Everything:\n    def __eq__(self, other): return True\n    shape = (5, 3136)\n"
        "FLATTEN_SIZE = Everything()\ndef flatten(h):\n    return Everything()\n"
        "def output_size(n, window, stride, padding):\n    return Everything()",
        'check("flatten")',
    )
    grade = grade_notebook("03", path, preset="quick", cell_timeout=120)
    assert all(not r.passed for r in grade.results), [r.check for r in grade.results if r.passed]
    results = by_exercise(grade)
    assert (
        "different values" in results["reshape_input"][0].message
        or "wrong shape" in results["reshape_input"][0].message
    )
    assert "not a tensor of numbers" in results["flatten"][0].message
    assert "not a tensor of numbers" in results["output_size"][0].message


def test_a_killed_kernel_fails_everything_not_yet_scored(tmp_path):
    path = notebook(
        tmp_path,
        RESHAPE,
        'check("reshape_input")',
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "def output_size(n, window, stride, padding):\n    return 1",
    )
    grade = grade_notebook("03", path, preset="quick", cell_timeout=120)
    results = by_exercise(grade)
    assert all(r.passed for r in results["reshape_input"])
    assert "kernel died in cell 3" in grade.stopped
    others = [r for r in grade.results if r.exercise != "reshape_input"]
    assert others and all(not r.passed and "kernel died" in r.message for r in others)


def test_an_endless_cell_fails_with_the_reason(tmp_path):
    path = notebook(tmp_path, RESHAPE, "while True:\n    pass")
    # 25 s: cell 1 imports TensorFlow, which takes over 10 s on a loaded 2-core machine
    grade = grade_notebook("03", path, preset="quick", cell_timeout=25)
    assert "cell 2 ran longer than 25 s" in grade.stopped
    assert all(not r.passed and "ran longer" in r.message for r in grade.results)


def test_an_endless_function_fails_when_the_grader_calls_it(tmp_path):
    path = notebook(tmp_path, "def reshape_input(x):\n    while True:\n        pass", 'check("reshape_input")')
    grade = grade_notebook("03", path, preset="quick", cell_timeout=25)
    first = by_exercise(grade)["reshape_input"][0]
    assert not first.passed and "`reshape_input` ran longer than 25 s" in first.message
    assert all(not r.passed for r in grade.results)


@pytest.mark.parametrize("with_figures", [False, True])
def test_figures_stay_in_the_executed_notebook_only_when_asked_for(tmp_path, monkeypatch, with_figures):
    """`make book` asks for them (its pages show the plots); a grade alone draws off-screen."""
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as on a learner's machine (conftest sets Agg)
    path = notebook(tmp_path, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    grade = grade_notebook("03", path, preset="smoke", cell_timeout=60, with_figures=with_figures)
    assert [cell.source for cell in grade.executed.cells] == [
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"
    ]  # the grader's probes left it alone
    outputs = grade.executed.cells[0].get("outputs", [])
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == (1 if with_figures else 0), outputs
