"""Chapter 01's text and helper cells say what is true and show what they mean to.

Each test pins one thing a reader once got wrong: the bands of the Distributions tab, the cost
of a histogram, the preset line, a cell that displayed `<function _stop_tensorboards>`, the
distribution figure without y labels or a key, and demo-bad's loss flattening the Scalars tab.
"""
from __future__ import annotations

import ast
import re

import jupytext
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from tfbook.manifest import ROOT, load_book
from test_checks_ch01 import runs, solution_ns  # noqa: F401 (fixtures)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def chapter():
    return jupytext.read(load_book().chapter("01").student)


def prose(nb) -> str:
    return " ".join(" ".join(c.source for c in nb.cells if c.cell_type == "markdown").split())


def code_cells(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))


def test_the_distribution_bands_are_the_right_standard_deviations(chapter):
    text = prose(chapter)
    # percentiles 7/16/31 of a normal distribution: -1.48, -0.99, -0.50 standard deviations
    from statistics import NormalDist
    assert [round(-NormalDist().inv_cdf(q), 1) for q in (0.07, 0.16, 0.31)] == [1.5, 1.0, 0.5]
    assert "about 1.5, 1 and 0.5 standard deviations" in text
    assert "one, two and three standard deviations" not in text


def test_the_cost_of_a_histogram_is_the_benchs(chapter):
    bench = re.search(r"tf\.summary\.histogram ([\d.]+) ms", (ROOT / "README.md").read_text())
    quoted = re.search(r"weights takes about (\d+) (ms|s) on two cores", prose(chapter))
    assert bench and quoted
    quoted_ms = float(quoted.group(1)) * (1000 if quoted.group(2) == "s" else 1)
    assert 0.5 <= quoted_ms / float(bench.group(1)) <= 2, (quoted.group(0), bench.group(0))


def test_no_cell_displays_a_function(chapter):
    """A cell's last expression is displayed: atexit.register(f) returns f."""
    for source in code_cells(chapter):
        tree = ast.parse(source)
        if tree.body and isinstance(tree.body[-1], ast.Expr) and isinstance(tree.body[-1].value, ast.Call):
            func = tree.body[-1].value.func
            assert not (isinstance(func, ast.Attribute) and func.attr == "register"), source[-200:]


def test_the_preset_line_shows_this_chapters_settings_only(chapter, runs, capsys):
    setup = next(s for s in code_cells(chapter) if "settings = tfbook.preset" in s)
    exec(setup, {})
    line = capsys.readouterr().out
    assert "fc_steps" in line and "description" not in line and "Adam" not in line, line


def test_the_text_says_how_to_find_runs_and_filter_the_demo_ones(chapter):
    text = prose(chapter)
    assert "`ch01/logs/1st`" in text and "make tensorboard PORT=" in text
    assert "`1st|2nd`" in text and "regular expression" in text


def test_the_distribution_figure_has_labels_a_key_and_a_log_scale_for_activations(solution_ns, chapter, tmp_path):
    import matplotlib.pyplot as plt
    cell = next(s for s in code_cells(chapter) if "def plot_distribution" in s)
    exec(cell, solution_ns)
    writer = tf.summary.create_file_writer(str(tmp_path))
    rng = np.random.default_rng(0)
    with writer.as_default():
        for step in (0, 10, 20):
            tf.summary.histogram("activations/h", np.maximum(rng.standard_normal(500) * 100, 0), step=step)
    writer.close()
    fig, ax = plt.subplots()
    solution_ns["plot_distribution"](ax, str(tmp_path), "activations/h", "demo: h", log_scale=True)
    labels = ax.get_legend_handles_labels()[1]
    assert ax.get_ylabel() == "value" and ax.get_xlabel() == "step" and ax.get_yscale() == "symlog"
    assert labels[-1] == "median" and len(labels) == 5 and any("31-69%" in label for label in labels)
    plt.close(fig)
