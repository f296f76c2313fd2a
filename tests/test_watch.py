"""`tfbook watch`: a save re-checks the exercise whose cell changed, with the inline check's
report, running the notebook only up to that exercise. A copy of chapter 03's solution is
watched and "saved" by writing the file; the test calls one iteration (poll), not the loop."""

from __future__ import annotations

import io
import os
import re

import jupytext
import pytest

from booktools import watch
from booktools.cli import build_parser, cmd_watch
from booktools.watch import Watcher, changed_code_cells, last_cell_of, owners
from tfbook.manifest import load_book

CELLS = [
    ("code", "import math"),  # 0: setup, no exercise
    ("markdown", "### Exercise 9.1: first\nWrite it."),  # 1
    ("code", "def first(): return 1"),  # 2
    ("code", 'check("first")'),  # 3
    ("code", "demo = first()"),  # 4: after the check, still 9.1's
    ("markdown", "### Exercise 9.2: second"),  # 5
    ("code", "def second(): return 2"),  # 6
    ("code", "CONSTANT = 3"),  # 7
    ("code", 'check("second")'),  # 8
    ("code", "train()"),  # 9
]


def test_cells_belong_to_the_exercise_heading_before_them():
    assert owners(CELLS) == [None, "first", "first", "first", "first", "second", "second", "second", "second", "second"]


def test_an_exercise_runs_up_to_its_last_cell_before_its_check():
    assert last_cell_of(CELLS, "first") == 2
    assert last_cell_of(CELLS, "second") == 7  # both of its code cells, never the training cell


def test_edited_inserted_and_deleted_cells_are_found():
    edited = list(CELLS)
    edited[6] = ("code", "def second(): return 20")
    assert changed_code_cells(CELLS, edited) == [6]
    inserted = CELLS[:3] + [("code", "def helper(): pass")] + CELLS[3:]
    assert changed_code_cells(CELLS, inserted) == [3]  # the cells after it are not "changed"
    deleted = CELLS[:7] + CELLS[8:]
    assert changed_code_cells(CELLS, deleted) == [6]
    markdown_only = list(CELLS)
    markdown_only[1] = ("markdown", "### Exercise 9.1: first\nWrite it well.")
    assert changed_code_cells(CELLS, markdown_only) == []


@pytest.fixture
def chapter_copy(tmp_path, monkeypatch):
    """Chapter 03's solution as a jupytext pair in a folder of its own, and a runs folder."""
    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TFBOOK_PRESET", "smoke")
    solution = load_book().chapter("03").solution
    py = tmp_path / "03_cnn_training.py"
    py.write_text(solution.read_text())
    jupytext.write(jupytext.read(py), py.with_suffix(".ipynb"))
    return py


def save(path, old: str, new: str) -> None:
    """What an editor does: new contents, and a modification time that moved on."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_a_save_rechecks_the_edited_exercise_only(chapter_copy):
    out = io.StringIO()
    watcher = Watcher("03", [chapter_copy, chapter_copy.with_suffix(".ipynb")], out=out)
    assert watcher.poll() == []  # nothing saved yet

    save(chapter_copy, 'strides=1, padding="SAME") + b)', 'strides=2, padding="SAME") + b)')
    assert watcher.poll() == ["conv_layer"]
    text = out.getvalue()
    assert "checking 3.3 conv_layer" in text
    # the inline report (the probe's batch size is drawn at random: any N)
    assert "FAIL  3.3 conv_layer" in text and re.search(r"expected: \(\d+, 28, 28, 32\)", text), text
    assert "hint: padding='SAME' with stride 1" in text
    assert "3.6 forward" not in text and "Traceback" not in text
    runs = chapter_copy.parent / "runs"
    assert not (runs / "ch03" / "logs").exists() and not (runs / "ch03" / "checkpoint").exists()  # no training

    assert watcher.poll() == []  # no new save: nothing again


def test_a_save_of_the_ipynb_is_seen_too(chapter_copy):
    out = io.StringIO()
    ipynb = chapter_copy.with_suffix(".ipynb")
    watcher = Watcher("03", [chapter_copy, ipynb], out=out)
    save(ipynb, "KEEP_PROB_EVAL = 1.0", "KEEP_PROB_EVAL = 0.5")
    assert watcher.poll() == ["dense_dropout"]
    assert "FAIL  3.5 dense_dropout" in out.getvalue() and "KEEP_PROB_EVAL is not right" in out.getvalue()


def test_a_cell_that_raises_is_named_above_the_report(chapter_copy):
    out = io.StringIO()
    watcher = Watcher("03", [chapter_copy], out=out)
    save(chapter_copy, "def flatten(h):", "def flatten(h)")  # a syntax error
    assert watcher.poll() == ["flatten"]
    text = out.getvalue()
    assert "raised SyntaxError" in text and "`flatten` is not defined" in text


def test_a_change_outside_every_exercise_checks_nothing(chapter_copy):
    out = io.StringIO()
    watcher = Watcher("03", [chapter_copy], out=out)
    save(chapter_copy, "import json\n", "import json  # for metrics.json\n")
    assert watcher.poll() == []
    assert "belongs to no exercise" in out.getvalue()


def test_ctrl_c_stops_the_loop_cleanly(chapter_copy, monkeypatch):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(watch.time, "sleep", interrupted)
    out = io.StringIO()
    assert Watcher("03", [chapter_copy], out=out).run_forever() == 0
    assert "Stopped watching" in out.getvalue()


def test_the_cli_has_watch():
    args = build_parser().parse_args(["watch", "03"])
    assert args.func is cmd_watch and args.notebook is None and args.interval == 1.0
    assert watch.notebook_paths("03") == [
        load_book().chapter("03").student,
        load_book().chapter("03").student.with_suffix(".ipynb"),
    ]
