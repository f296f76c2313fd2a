"""The Gradescope bundle: what it holds, and run_autograder run locally in a folder laid out like
Gradescope's (/autograder/... mapped to a temporary root through AUTOGRADER_ROOT)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

from tfbook.manifest import ROOT

HIDDEN = ROOT / "tests" / "hidden"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "ch03-autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "booktools.cli", "autograder", "03", "--out", str(out),
                           "--preset", "smoke", "--timeout", "120", "--hidden", str(HIDDEN)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def gradescope_root(tmp_path, bundle):
    """/autograder as Gradescope makes it: the zip in source/, run_autograder copied up."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # zipfile drops the mode bits: restore them
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, stat.S_IMODE(mode))
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root):
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "TFBOOK_MNIST_DIR": str(ROOT / "data" / "mnist")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True,
                          timeout=900, env=env, cwd=str(root))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_the_bundle_holds_setup_run_autograder_and_the_pinned_book(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read("autograder.json"))
    assert {"setup.sh", "run_autograder", "autograder.json", "pyproject.toml", "constraints.txt",
            "book.toml", "booktools/autograder.py", "checks/ch03.py", "tfbook/data.py",
            "hidden/ch03.py"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert "pip install" in setup and "-c constraints.txt" in setup and "venv" in setup
    assert config == {"chapter": "03", "preset": "smoke", "cell_timeout": 120, "memory_mb": 4096,
                      "hidden": True}
    assert not any("__pycache__" in n for n in names)


def test_no_submission_still_gets_a_results_json(tmp_path, bundle):
    from booktools.gradescope import validate
    root = gradescope_root(tmp_path, bundle)
    results = run_autograder(root)
    assert validate(results) == [] and results["score"] == 0
    assert "no notebook found" in results["output"]


@pytest.mark.slow
def test_run_autograder_grades_a_known_submission(tmp_path, bundle):
    from booktools.gradescope import validate
    from booktools.compare import solution_exercises
    from checks.registry import load_chapter_checks
    solution = nbformat.read(ROOT / "solutions" / "03_cnn_training.ipynb", 4)
    student = nbformat.read(ROOT / "chapters" / "03_cnn_training.ipynb", 4)
    solved = ["reshape_input", "output_size", "parameter_count"]
    for name, exercise in solution_exercises(solution).items():
        if name in solved:
            for cell in exercise.cells:
                student.cells[cell - 1].source = solution.cells[cell - 1].source
    root = gradescope_root(tmp_path, bundle)
    nbformat.write(student, root / "submission" / "03_cnn_training.ipynb")
    results = run_autograder(root)
    assert validate(results) == [], validate(results)
    checks = load_chapter_checks("03").checks  # the solution passes them all (tests/test_checks_ch03.py)
    assert results["score"] == sum(c.points for c in checks if c.exercise in solved)
    assert sum(t["max_score"] for t in results["tests"]) == sum(c.points for c in checks) + 1  # + hidden
    assert len(results["tests"]) == len(checks) + 1
    hidden = [t for t in results["tests"] if "hidden" in t["tags"]]
    assert len(hidden) == 1 and hidden[0]["visibility"] == "after_published" and hidden[0]["score"] == 0
    passed = {t["tags"][0] for t in results["tests"] if t["status"] == "passed"}
    assert passed == set(solved)
    failed = next(t for t in results["tests"] if t["tags"][0] == "loss")
    assert "not written yet" in failed["output"] and "hint:" in failed["output"]
