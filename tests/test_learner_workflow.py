"""What a learner does from a terminal: edit either file of the pair, grade, move on to the
chapter that needs the last one's checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import jupytext
import pytest

from checks.cli import pick_edited
from checks.grader import missing_needs, needs_source, provide_needs
from tfbook.manifest import ROOT


def _pair(tmp_path):
    py = tmp_path / "03_cnn_training.py"
    shutil.copy(ROOT / "chapters" / "03_cnn_training.py", py)
    ipynb = tmp_path / "03_cnn_training.ipynb"
    shutil.copy(ROOT / "chapters" / "03_cnn_training.ipynb", ipynb)
    return py, ipynb


def _touch_later(path):
    later = time.time() + 5
    os.utime(path, (later, later))


def test_an_unchanged_pair_grades_the_file_asked_for(tmp_path):
    py, ipynb = _pair(tmp_path)
    _touch_later(py)  # newer but identical: nothing to say
    assert pick_edited(ipynb) == (ipynb, "")


def test_a_py_edited_after_the_ipynb_is_the_one_graded(tmp_path):
    py, ipynb = _pair(tmp_path)
    py.write_text(py.read_text().replace("FLATTEN_SIZE = ...", "FLATTEN_SIZE = 7 * 7 * 32"))
    _touch_later(py)
    graded, note = pick_edited(ipynb)
    assert graded == py
    assert "03_cnn_training.py is newer" in note and f"jupytext --sync {py}" in note


def test_an_ipynb_edited_after_the_py_is_the_one_graded(tmp_path):
    py, ipynb = _pair(tmp_path)
    nb = jupytext.read(ipynb)
    nb.cells.append(jupytext.reads("x = 1", fmt="py:percent").cells[0])
    jupytext.write(nb, ipynb)
    _touch_later(ipynb)
    graded, note = pick_edited(py)
    assert graded == ipynb and "03_cnn_training.ipynb is newer" in note


def test_a_missing_need_names_the_chapter_and_the_command_that_makes_it(tmp_path):
    (message,) = missing_needs("04", tmp_path)
    assert message.startswith("chapter 04 needs runs/ch03/checkpoint")
    assert "`python -m checks 03`" in message and "make book" not in message
    assert missing_needs("03", tmp_path) == []


def test_needs_are_copied_read_only_into_the_grading_run(tmp_path):
    learner, grading = tmp_path / "runs", tmp_path / "grading"
    (learner / "ch03" / "checkpoint").mkdir(parents=True)
    (learner / "ch03" / "checkpoint" / "ckpt.index").write_bytes(b"index")
    assert provide_needs("04", grading, learner) == []
    copied = grading / "ch03" / "checkpoint" / "ckpt.index"
    assert copied.read_bytes() == b"index"
    assert oct(copied.stat().st_mode & 0o777) == oct(0o444)


def test_a_kept_runs_folder_that_holds_the_needs_is_not_overwritten_from_the_learners(tmp_path, monkeypatch):
    # make book and the suite grade chapter 04 in a runs folder that already holds the checkpoint
    # they trained; the learner's runs/ (another checkpoint, or none) must not replace it
    learner, kept = tmp_path / "learner-runs", tmp_path / "kept-runs"
    for folder, content in ((learner, b"learner's"), (kept, b"trained")):
        (folder / "ch03" / "checkpoint").mkdir(parents=True)
        (folder / "ch03" / "checkpoint" / "ckpt.index").write_bytes(content)
    monkeypatch.setenv("TFBOOK_RUNS", str(learner))
    source = needs_source("04", keep_runs=kept, needs_from=None)
    assert source == kept
    assert provide_needs("04", kept, source) == []
    assert (kept / "ch03" / "checkpoint" / "ckpt.index").read_bytes() == b"trained"
    # a kept folder without the needs still takes them from the learner's runs/, and an explicit
    # needs_from always wins
    assert needs_source("04", keep_runs=tmp_path / "empty", needs_from=None) == learner
    assert needs_source("04", keep_runs=kept, needs_from=learner) == learner


def _checks(*args, runs):
    env = dict(os.environ, TFBOOK_RUNS=str(runs), TFBOOK_PRESET="smoke")
    return subprocess.run(
        [sys.executable, "-m", "checks", *args], capture_output=True, text=True, env=env, timeout=900, cwd=ROOT
    )


@pytest.mark.slow
def test_chapter_04_without_chapter_03_says_so_on_the_first_line(tmp_path):
    proc = _checks("04", str(ROOT / "solutions" / "04_prediction.ipynb"), runs=tmp_path / "runs")
    first = proc.stdout.splitlines()[0]
    assert first.startswith("MISSING: chapter 04 needs runs/ch03/checkpoint"), proc.stdout[:500]
    assert "python -m checks 03" in first and proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_grading_03_then_04_gives_full_marks_on_the_learners_own_checkpoint(tmp_path):
    """A learner who solved both chapters: `python -m checks 03`, then `python -m checks 04`."""
    work, runs = tmp_path / "chapters", tmp_path / "runs"
    work.mkdir()
    for name in ("03_cnn_training.ipynb", "04_prediction.ipynb"):
        shutil.copy(ROOT / "solutions" / name, work / name)
    first = _checks("03", str(work / "03_cnn_training.ipynb"), runs=runs)
    assert first.returncode == 0, first.stdout[-3000:]
    assert any((runs / "ch03" / "checkpoint").glob("*.index")), "grading 03 kept no checkpoint"
    second = _checks("04", str(work / "04_prediction.ipynb"), runs=runs)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "MISSING" not in second.stdout
    assert "Score" in second.stdout and "exercises passed" in second.stdout


@pytest.mark.slow  # starts a kernel that imports TensorFlow, about 5 s
def test_importing_tfbook_first_keeps_tensorflow_start_up_lines_out_of_the_notebook(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import tfbook\nimport tensorflow as tf\n"
            "f = tf.function(lambda x: x * 2, jit_compile=True)\n"
            "print(float(f(tf.constant(2.0))))"
        )
    ]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "4.0" in shown
    assert "oneDNN" not in shown and "I0000" not in shown and "absl" not in shown, shown


def test_a_function_without_return_is_named_as_such(tmp_path):
    from checks.engine import NamespaceLearner
    from checks.registry import load_chapter_checks

    chapter = load_chapter_checks("03")

    def reshape_input(x):
        x.numpy().reshape(-1, 28, 28, 1)  # computed, never returned

    learner = NamespaceLearner({"reshape_input": reshape_input}, tmp_path, "smoke")
    results = [chapter.run(c, learner) for c in chapter.checks_for("reshape_input")]
    assert results and all(not r.passed for r in results)
    assert any("returned None: is its `return` statement missing?" in r.message for r in results), [
        r.message for r in results
    ]


def test_scalar_differences_show_both_numbers():
    import numpy as np
    from checks.engine import CheckFailed, expect_close

    with pytest.raises(CheckFailed) as info:
        expect_close(np.float64(115.1), np.float64(2.302), "the loss")
    assert info.value.message == "the loss is 115.1, expected 2.302"
