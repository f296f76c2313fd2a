"""tfbook/chapter_code.py: tests and benchmarks run a chapter's own code, the cells picked by
their tags, and the chapters carry those tags in both editions."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap

import numpy as np
import pytest

from booktools.release import BEGIN
from tfbook.chapter_code import TAGS, ChapterCodeError, code_cells, load_chapter, redefine
from tfbook.manifest import load_book

NOTEBOOK = textwrap.dedent("""\
    # %% [markdown]
    # # A chapter

    # %% tags=["support"]
    import os
    runs, preset = os.environ["TFBOOK_RUNS"], os.environ["TFBOOK_PRESET"]
    def check(name): raise AssertionError("feedback cells are skipped")

    # %% tags=["extra"]
    # extra code: a plot
    raise AssertionError("extra cells are skipped")

    # %%
    def double(x):
        return 2 * x

    def train(steps):
        return double(steps)

    # %% tags=["exercise"]
    def triple(x):
        ### BEGIN SOLUTION
        return 3 * x
        ### END SOLUTION

    # %% tags=["feedback"]
    check("triple")

    # %% tags=["train"]
    def report(history):
        return f"{len(history)} steps"

    for n in (1, 2):
        history = train(n)
    raise AssertionError("only a training cell's definitions are loaded")

    # %% tags=["exercise"]
    raise NotImplementedError("Exercise 9.2: a stub")

    # %%
    after = triple(2)
    """)


@pytest.fixture
def notebook(tmp_path):
    path = tmp_path / "chapter.py"
    path.write_text(NOTEBOOK)
    return path


def test_cells_are_chosen_by_their_tags(notebook):
    chapter = load_chapter(notebook, preset="smoke")
    assert [verdict for verdict, _ in chapter.plan] == [
        "run",
        "skip (extra)",
        "run",
        "run",
        "skip (feedback)",
        "definitions (train)",
        "run",
        "run",
    ]
    assert chapter.double(3) == 6 and chapter.train(2) == 4 and chapter.after == 6
    assert chapter.report([1, 2]) == "2 steps"  # a training cell's definitions, not its statements
    assert not hasattr(chapter, "history") and not hasattr(chapter, "n")
    assert chapter.preset == "smoke" and "tfbook-chapter-runs-" in chapter.runs  # not runs/
    assert chapter.not_done == [f"<{notebook} cell 7>"]  # a stub stops its cell only, as in a kernel


def test_the_exercises_part_is_the_support_and_exercise_cells(notebook):
    chapter = load_chapter(notebook, part="exercises")
    assert [verdict for verdict, _ in chapter.plan] == [
        "run",
        "skip (not exercises)",
        "skip (not exercises)",
        "run",
        "skip (not exercises)",
        "skip (not exercises)",
        "run",
        "skip (not exercises)",
    ]
    assert chapter.triple(2) == 6 and "check" in chapter.namespace and "double" not in chapter.namespace


def test_cells_keep_their_names_for_tracebacks_and_inspect(notebook):
    chapter = load_chapter(notebook)
    assert "return 2 * x" in inspect.getsource(chapter.double)  # AutoGraph reads a function's source
    solution, student = code_cells("03")[3], code_cells("03", "student")[3]  # files of the same name
    assert solution.name == "<solutions/03_cnn_training.py cell 4>" and student.name != solution.name
    assert inspect.getsourcefile(chapter.double) == f"<{notebook} cell 3>"


def test_a_raising_cell_is_named(tmp_path):
    path = tmp_path / "chapter.py"
    path.write_text('# %% tags=["support"]\nx = 1\n\n# %%\nraise ValueError("no data")\n')
    with pytest.raises(ChapterCodeError, match=r"chapter.py cell 2> \(untagged\) raised ValueError: no data"):
        load_chapter(path)


def test_a_chapter_without_tags_is_an_error(tmp_path):
    path = tmp_path / "chapter.py"
    path.write_text("# %%\nx = 1\n\n# %%\ntrain()\n")
    with pytest.raises(ChapterCodeError, match=r"not tagged for the loader \(tags found: none\)"):
        load_chapter(path)
    path.write_text('# %% tags=["train"]\ntrain()\n')
    with pytest.raises(ChapterCodeError, match="part 'exercises' runs the cells tagged support or exercise"):
        load_chapter(path, part="exercises")


def test_redefine_runs_the_cell_that_defines_a_name_among_a_namespace(notebook):
    ns = load_chapter(notebook).namespace
    copy = dict(ns, triple=lambda x: -x)
    redefine(copy, "after", notebook)  # the cell that sets `after` calls the replaced triple
    assert copy["after"] == -2 and ns["after"] == 6
    with pytest.raises(ChapterCodeError, match="0 code cells define 'nowhere'"):
        redefine(copy, "nowhere", notebook)


# --- the book's chapters carry the tags --------------------------------------------------------

# Chapters whose code cells are not tagged yet (but for the install cell every chapter has); their
# tests still load them their own way. None: every ready chapter is tagged.
UNTAGGED: set[str] = set()


def tagged_chapters() -> list[str]:
    return [
        ch.id
        for ch in load_book().ready_chapters()
        if any(set(cell.tags) & (set(TAGS) - {"install"}) for cell in code_cells(ch.id))
    ]


def test_every_ready_chapter_but_the_listed_ones_is_tagged():
    assert {ch.id for ch in load_book().ready_chapters()} - set(tagged_chapters()) == UNTAGGED


def _only_feedback(source: str) -> bool:
    """Whether every statement of the cell is a bare `check(...)` or `check_all()` call."""
    body = ast.parse(source).body
    return bool(body) and all(
        isinstance(s, ast.Expr)
        and isinstance(s.value, ast.Call)
        and isinstance(s.value.func, ast.Name)
        and s.value.func.id in ("check", "check_all")
        for s in body
    )


@pytest.mark.parametrize("chapter_id", tagged_chapters())
def test_the_tags_say_what_the_cells_hold(chapter_id):
    """exercise: exactly the cells with a solution block; feedback: exactly the check cells;
    support and exercise never on the same cell."""
    cells = code_cells(chapter_id)
    assert [c.number for c in cells if "exercise" in c.tags] == [c.number for c in cells if BEGIN in c.source]
    assert [c.number for c in cells if "feedback" in c.tags] == [c.number for c in cells if _only_feedback(c.source)]
    assert not [c.number for c in cells if {"support", "exercise"} <= set(c.tags)]


@pytest.mark.parametrize("chapter_id", tagged_chapters())
def test_make_release_carries_the_tags_into_every_edition(chapter_id):
    chapter = load_book().chapter(chapter_id)
    tags = [cell.tags for cell in code_cells(chapter_id)]
    assert [cell.tags for cell in code_cells(chapter_id, "student")] == tags
    for path in (chapter.solution.with_suffix(".ipynb"), chapter.student.with_suffix(".ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert [tuple(c["metadata"].get("tags", ())) for c in cells if c["cell_type"] == "code"] == tags, path


@pytest.mark.parametrize("chapter_id", tagged_chapters())
def test_the_unsolved_edition_loads_its_exercises_part(chapter_id):
    """The stubs of chapters/ leave their names undefined or raising, never stop the loading."""
    student = load_chapter(chapter_id, "student", part="exercises")
    solution = load_chapter(chapter_id, part="exercises")
    assert set(student.namespace) <= set(solution.namespace)


def test_chapter_03_loads_and_trains_one_step():
    import tensorflow as tf

    chapter = load_chapter("03", preset="quick")
    for name in ("init_params", "forward", "loss_fn", "accuracy_fn", "evaluate", "make_train_step", "train"):
        assert callable(getattr(chapter, name)), name
    assert chapter.settings["name"] == "quick"
    assert any(v == "definitions (train)" and "train(" in cell.source for v, cell in chapter.plan)
    assert not hasattr(chapter, "history")  # the training cell's statements did not run

    params = chapter.init_params(0.1, chapter.settings["seed"])
    before = params["W_fc2"].numpy().copy()  # all zeros: the first step moves it (W_fc1 gets no gradient yet)
    step = chapter.make_train_step(params, 1e-3)
    loss = float(step(chapter.x_train[:8], chapter.t_train[:8]))
    assert np.isfinite(loss) and loss > 0
    assert not np.array_equal(before, params["W_fc2"].numpy())  # the step updated the weights
    logits = chapter.forward(chapter.x_test[:8], params, chapter.KEEP_PROB_EVAL)["logits"]
    assert 0.0 <= float(chapter.accuracy_fn(logits, tf.constant(chapter.t_test[:8]))) <= 1.0
