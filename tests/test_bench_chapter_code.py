"""bench/chapter_code.py: the benchmark runs chapter 03's own code, loaded from its notebook."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from bench.chapter_code import chapter_cells, load_chapter

NOTEBOOK = textwrap.dedent('''\
    # %% [markdown]
    # # A chapter

    # %%
    import os
    runs, preset = os.environ["TFBOOK_RUNS"], os.environ["TFBOOK_PRESET"]
    def check(name): raise AssertionError("feedback cells are skipped")

    # %%
    # extra code: a plot
    raise AssertionError("extra code is skipped")

    # %%
    def double(x):
        return 2 * x

    def train(steps):
        return double(steps)

    # %%
    check("double")

    # %%
    for n in (1, 2):
        history = train(n)
    raise AssertionError("never reached: the cell above calls train")

    # %%
    after = True
    ''')


def test_cells_are_chosen_by_what_they_contain(tmp_path):
    path = tmp_path / "chapter.py"
    path.write_text(NOTEBOOK)
    verdicts = [verdict for verdict, _, _ in chapter_cells(path)]
    assert verdicts == ["run", "skip (extra code)", "run", "skip (feedback)", "stop (trains)"]
    chapter = load_chapter(path, preset="smoke")
    assert chapter.double(3) == 6 and chapter.train(2) == 4
    assert chapter.preset == "smoke" and "tfbook-bench-runs-" in chapter.runs  # not runs/
    assert not hasattr(chapter, "history") and not hasattr(chapter, "after")


def test_a_chapter_without_a_training_cell_is_an_error(tmp_path):
    path = tmp_path / "chapter.py"
    path.write_text("# %%\nx = 1\n")
    with pytest.raises(ValueError, match="no code cell calls train"):
        chapter_cells(path)


def test_chapter_03_loads_and_trains_one_step():
    import tensorflow as tf

    chapter = load_chapter(preset="quick")
    for name in ("init_params", "forward", "loss_fn", "accuracy_fn", "evaluate", "make_train_step", "train"):
        assert callable(getattr(chapter, name)), name
    assert chapter.settings["name"] == "quick"
    assert any(v == "stop (trains)" and "train(" in source for v, _, source in chapter.cell_plan)

    params = chapter.init_params(0.1, chapter.settings["seed"])
    before = params["W_fc2"].numpy().copy()  # all zeros: the first step moves it (W_fc1 gets no gradient yet)
    step = chapter.make_train_step(params, 1e-3)
    loss = float(step(chapter.x_train[:8], chapter.t_train[:8]))
    assert np.isfinite(loss) and loss > 0
    assert not np.array_equal(before, params["W_fc2"].numpy())  # the step updated the weights
    logits = chapter.forward(chapter.x_test[:8], params, chapter.KEEP_PROB_EVAL)["logits"]
    assert 0.0 <= float(chapter.accuracy_fn(logits, tf.constant(chapter.t_test[:8]))) <= 1.0
