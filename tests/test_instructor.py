"""What an instructor relies on: grading a folder in parallel, and chapters that re-run cleanly."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from tfbook.manifest import ROOT

pytestmark = pytest.mark.slow


def test_grade_a_folder_against_the_solution(tmp_path):
    shutil.copy(ROOT / "solutions" / "03_cnn_training.ipynb", tmp_path / "ada.ipynb")
    shutil.copy(ROOT / "chapters" / "03_cnn_training.ipynb", tmp_path / "bob.ipynb")
    proc = subprocess.run([sys.executable, "-m", "tfbook.cli", "grade", "03", str(tmp_path), "--jobs", "2",
                           "--preset", "smoke"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {row["submission"]: row for row in csv.DictReader(open(tmp_path / "grades-ch03.csv"))}
    assert set(rows) == {"(solution)", "ada.ipynb", "bob.ipynb"}
    total = rows["(solution)"]["points"]
    assert rows["(solution)"]["earned"] == total and rows["ada.ipynb"]["earned"] == total
    assert rows["bob.ipynb"]["earned"] == "0"
    assert rows["bob.ipynb"]["loss"] == "0/2*" and rows["ada.ipynb"]["loss"] == "2/2"
    assert (tmp_path / "grades" / "bob.json").exists()


def test_chapter_03_runs_twice_in_the_same_kernel(tmp_path, monkeypatch):
    """Re-running every cell (as a learner does after an edit) must not fail or change shapes."""
    monkeypatch.setenv("TFBOOK_PRESET", "smoke")
    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path))
    nb = nbformat.read(ROOT / "solutions" / "03_cnn_training.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "solutions")}})
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)  # raises CellExecutionError on any error
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "test accuracy" in outputs and "saved " in outputs
    assert sorted(p.name for p in (tmp_path / "ch03" / "logs").iterdir()) == ["smoke"]
