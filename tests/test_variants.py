"""Through a real kernel (the grade that counts): chapter 03's exercises alone, no training.

The in-process tests (tests/test_checks_ch03.py, test_checks_ch04.py) prove each check against
right and wrong variants quickly; this one proves the same on the grader's path, where the
learner's functions run in a kernel and the traced probes go through KernelLearner.call_traced.
"""

from __future__ import annotations

import nbformat
import pytest

from booktools.release import BEGIN, END
from tfbook.chapter_code import code_cells

SETUP = "import math\nimport numpy as np\nimport tensorflow as tf\ncheck = lambda name: None"


def exercises_notebook(path, *replacements: str, chapter="03", setup=SETUP):
    """The solution's cells tagged `exercise` of a chapter (markers removed), then ``replacements``."""
    cells = [setup]
    for cell in code_cells(chapter):
        if "exercise" in cell.tags:
            cells.append("\n".join(line for line in cell.source.split("\n") if line.strip() not in (BEGIN, END)))
    cells.extend(replacements)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_traced_probes_in_a_kernel(tmp_path):
    from checks.grader import grade_notebook

    path = exercises_notebook(
        tmp_path / "nb.ipynb",
        # works eagerly, fails inside the traced training step
        "def loss_fn(logits, labels):\n    return np.mean(-np.sum(labels * tf.nn.log_softmax(logits), axis=1))",
        # a correct alternative: save() instead of write()
        "def save_checkpoint(params, prefix):\n    return tf.train.Checkpoint(**params).save(prefix)",
    )
    grade = grade_notebook("03", path, preset="quick", cell_timeout=120)
    results = {r.check.split(".", 1)[1]: r for r in grade.results}
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    assert results["loss_value"].status == "failed"
    assert "works eagerly but fails inside tf.function" in results["loss_value"].message
    assert results["loss_confident"].passed  # eagerly, as evaluate() runs it, the NumPy loss is fine
    passed_elsewhere = [
        name for name, r in results.items() if name not in ("loss_value", "checkpoint_accuracy") and not r.passed
    ]
    assert not passed_elsewhere, {n: results[n].message for n in passed_elsewhere}
    assert "no checkpoint" in results["checkpoint_accuracy"].message  # nothing was trained here


@pytest.mark.slow
def test_chapter_02_is_graded_without_any_setup_line_for_the_grader(tmp_path):
    """The grader defines its door to the learner's Flask routes and client functions itself:
    a notebook of the exercise cells alone (no Setup, no server) passes every check."""
    from checks.grader import grade_notebook

    path = exercises_notebook(
        tmp_path / "nb.ipynb",
        chapter="02",
        setup="import json, uuid\nfrom flask import request\ncheck = lambda name: None",
    )
    assert "door" not in path.read_text()
    grade = grade_notebook("02", path, preset="smoke", cell_timeout=120)
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    failed = {r.check: r.message for r in grade.results if not r.passed}
    assert not failed, failed
