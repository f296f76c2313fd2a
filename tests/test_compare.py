"""`tfbook compare`: exercises matched by the names they define, not by where their cells are.
(The comparison with grades, on a graded class, is in tests/test_instructor.py.)"""

from __future__ import annotations

import copy
import subprocess
import sys

import nbformat

from tfbook.manifest import ROOT

SOLUTION = ROOT / "solutions" / "03_cnn_training.ipynb"


def messy_solution():
    """The solution with exercise 3.7 moved to the top, 3.8 merged with more code, 3.10 deleted,
    and 3.1's heading renamed."""
    from booktools.compare import solution_exercises

    solution = nbformat.read(SOLUTION, 4)
    cells = {name: ex.cells[0] - 1 for name, ex in solution_exercises(solution).items()}
    nb = copy.deepcopy(solution)
    nb.cells[cells["accuracy"]].source += "\n\nextra = 1"
    del nb.cells[cells["parameter_count"]]
    moved = nb.cells.pop(cells["loss"])
    nb.cells.insert(2, moved)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("Exercise 3.1", "Task one")
    return solution, nb


def test_exercises_are_matched_by_the_names_they_define_not_by_position():
    from booktools.compare import match_exercises, solution_exercises

    solution, nb = messy_solution()
    matched = match_exercises(solution, nb)
    assert set(matched) == set(solution_exercises(solution))
    assert matched["loss"].cells == [3] and "def loss_fn" in matched["loss"].code
    assert "def reshape_input" in matched["reshape_input"].code  # its heading renamed
    assert "extra = 1" in matched["accuracy"].code and not matched["accuracy"].missing
    assert matched["parameter_count"].missing and "CONV2_PARAMS" in matched["parameter_count"].how


def test_a_split_exercise_and_a_heading_without_definitions():
    from booktools.compare import match_exercises

    solution = nbformat.read(SOLUTION, 4)
    nb = copy.deepcopy(solution)
    index = next(i for i, c in enumerate(nb.cells) if "def conv_layer" in c.source)
    first, second = nb.cells[index].source.split("def max_pool_2x2", 1)
    nb.cells[index].source = first
    nb.cells.insert(index + 5, nbformat.v4.new_code_cell("def max_pool_2x2" + second))  # split, moved later
    flatten = next(i for i, c in enumerate(nb.cells) if "def flatten" in c.source)
    nb.cells[flatten].source = "SIZE = 3136\ndef my_flatten(h):\n    return h"  # renamed: falls back to the heading
    matched = match_exercises(solution, nb)
    assert matched["conv_layer"].cells == [index + 1, index + 6]
    assert "the code cells after" in matched["flatten"].how and "my_flatten" in matched["flatten"].code


def test_compare_without_running_shows_code_side_by_side_in_100_columns(tmp_path):
    _, nb = messy_solution()
    nbformat.write(nb, tmp_path / "ada.ipynb")
    page = tmp_path / "ada.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "booktools.cli",
            "compare",
            "03",
            str(tmp_path / "ada.ipynb"),
            "--no-run",
            "--html",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    missing = proc.stdout.split("Exercise 3.10: parameter_count")[1]
    assert "MISSING: no cell defines CONV2_PARAMS, TOTAL_PARAMS" in " ".join(missing.split())
    loss = proc.stdout.split("Exercise 3.7: loss")[1].split("--- Exercise 3.8")[0]
    assert "cell 3:" in loss and "def loss_fn" in loss
    accuracy = proc.stdout.split("Exercise 3.8: accuracy")[1].split("--- Exercise 3.9")[0]
    assert any(line.rstrip().endswith("> extra = 1") or "> extra = 1" in line for line in accuracy.splitlines())
    html = page.read_text()
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "MISSING" in html and "diff_add" in html and "Exercise 3.7: loss" in html


def test_compare_a_file_that_is_not_a_notebook(tmp_path):
    (tmp_path / "x.ipynb").write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "booktools.cli", "compare", "03", str(tmp_path / "x.ipynb"), "--no-run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "not a valid notebook" in proc.stderr and "Traceback" not in proc.stderr


def test_the_older_file_of_a_pair_is_compared_as_graded_and_notes_are_said_once(tmp_path):
    """`tfbook grade` grades the newer file of a .py/.ipynb pair; compare on the older one must
    show the newer one's code beside that file's grades, not the older code (issue 22)."""
    import json
    import os
    import jupytext
    from booktools.compare import compare
    from checks.cli import pick_edited

    solution = nbformat.read(SOLUTION, 4)
    nbformat.write(solution, tmp_path / "ada.ipynb")
    edited = copy.deepcopy(solution)
    index = next(i for i, c in enumerate(edited.cells) if c.source.startswith("def reshape_input"))
    edited.cells[index].source += "\n# EDITED_IN_THE_PY_FILE"
    (tmp_path / "ada.py").write_text(jupytext.writes(edited, fmt="py:percent"))
    os.utime(tmp_path / "ada.ipynb", (1, 1))
    _, note = pick_edited(tmp_path / "ada.ipynb")  # the note `tfbook grade` keeps
    grades = tmp_path / "grades"
    grades.mkdir()
    blank = {"earned": 0, "points": 0, "by_exercise": {}, "results": []}
    (grades / "_solution.json").write_text(json.dumps(blank))
    (grades / "ada.json").write_text(json.dumps({**blank, "submission": "ada.py", "notes": [note]}))
    text, page = compare("03", tmp_path / "ada.ipynb")
    assert "EDITED_IN_THE_PY_FILE" in text and "EDITED_IN_THE_PY_FILE" in page
    assert "note: note:" not in text and "note: note:" not in page
    assert " ".join(text.split()).count("is newer") == 1 and "comparing ada.py" in " ".join(text.split())


def test_a_korean_learners_compare_page_says_each_status_in_korean(tmp_path, monkeypatch):
    """The results on the compare page speak the learner's language, as the feedback pages do
    (checks.report.status_text), whatever the instructor's: the grade of a Korean notebook."""
    import json
    import os
    from booktools.compare import compare
    from tfbook.i18n import of_file

    monkeypatch.setenv("TFBOOK_LANG", "en")  # an English-speaking instructor
    korean = ROOT / "solutions" / "ko" / "03_cnn_training.ipynb"
    assert of_file(korean) == "ko"
    nbformat.write(nbformat.read(korean, 4), tmp_path / "ada.ipynb")
    os.utime(tmp_path / "ada.ipynb", (1, 1))  # the grades below are newer: they are used

    def grade(status, earned, **extra):
        result = {
            "check": "03.reshape_shape",
            "exercise": "reshape_input",
            "number": "3.1",
            "points": 1,
            "earned": earned,
            "status": status,
            "description": "reshape_input: shape",
            "message": "",
            "expected": "",
            "got": "",
            "hint": "",
        }
        by_exercise = {"reshape_input": {"number": "3.1", "earned": earned, "points": 1}}
        return {"earned": earned, "points": 1, "by_exercise": by_exercise, "results": [result], **extra}

    grades = tmp_path / "grades"
    grades.mkdir()
    (grades / "_solution.json").write_text(json.dumps(grade("passed", 1)))
    (grades / "ada.json").write_text(json.dumps(grade("failed", 0, submission="ada.ipynb", language="ko")))
    _, page = compare("03", tmp_path / "ada.ipynb")
    # the submission's status, then the solution's
    assert "<td class='zero'>실패 0/1</td><td>통과</td>" in page
    assert ">failed " not in page and "<td>passed</td>" not in page
