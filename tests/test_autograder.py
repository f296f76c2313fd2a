"""The Gradescope bundle: what it holds, and run_autograder run locally in a folder laid out like
Gradescope's (/autograder/... mapped to a temporary root through AUTOGRADER_ROOT).

Run as root (as on Gradescope, and in CI), the bundle starts the learner's kernel as the
unprivileged user tfbook-learner. This machine's Python may live where that user cannot go (pyenv
under /root, mode 700); on Gradescope it is in /autograder/venv. The tests then run the bundle in a
mount namespace of its own where that folder shows only the interpreter (``kernel_can_run``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from tfbook.manifest import ROOT

HIDDEN = ROOT / "tests" / "hidden"
KERNEL_USER = "tfbook-learner"

# In a mount namespace of its own: the folder $1, which other users cannot enter, replaced by an
# empty one that they can, holding only $1/$2 (the Python); then run the rest of the command line.
SHOW_ONLY = """set -e
blocked=$1; keep=$2; shift 2
hold=$(mktemp -d)
mount --bind "$blocked/$keep" "$hold"
mount -t tmpfs -o mode=0711 tmpfs "$blocked"
mkdir "$blocked/$keep"
mount --move "$hold" "$blocked/$keep"
exec "$@"
"""


def _blocked_folder(path: Path) -> Path | None:
    """The first folder above ``path`` that other users cannot enter (None: all can)."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _wrapper() -> list[str]:
    """The command prefix that lets the kernel's user run this Python (empty: nothing needed)."""
    if os.geteuid() != 0:
        return []
    python = Path(os.path.realpath(sys.executable))
    blocked = _blocked_folder(python)
    if blocked is None:
        return []
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        SHOW_ONLY,
        "sh",
        str(blocked),
        python.relative_to(blocked).parts[0],
    ]


@pytest.fixture(scope="module")
def kernel_can_run():
    """The command prefix for run_autograder; skips where the kernel's user could not run Python."""
    prefix = _wrapper()
    if prefix and subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip(
            f"this Python is under {_blocked_folder(Path(os.path.realpath(sys.executable)))}, "
            "which the kernel's unprivileged user cannot enter, and `unshare --mount` is not "
            "allowed here (needs CAP_SYS_ADMIN)"
        )
    return prefix


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "ch03-autograder.zip"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "booktools.cli",
            "autograder",
            "03",
            "--out",
            str(out),
            "--preset",
            "smoke",
            "--timeout",
            "120",
            "--hidden",
            str(HIDDEN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def bundle_02(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle02") / "ch02-autograder.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "booktools.cli", "autograder", "02", "--out", str(out), "--preset", "smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture
def gradescope_root():
    """/autograder as Gradescope makes it: the zip in source/, run_autograder copied up. Outside
    pytest's own temporary folders, which only root may enter (the kernel's user reads source/)."""
    made = []

    def make(bundle):
        root = Path(tempfile.mkdtemp(prefix="tfbook-gradescope-")) / "autograder"
        made.append(root.parent)
        root.parent.chmod(0o755)
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(root / "source")
            for info in archive.infolist():  # zipfile drops the mode bits: restore them
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(root / "source" / info.filename, stat.S_IMODE(mode))
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        (root / "submission").mkdir()
        return root

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def readable_mnist(tmp_path_factory, mnist):
    """MNIST in a folder the kernel's user can read (the project cache's files are root's)."""
    folder = Path(tempfile.mkdtemp(prefix="tfbook-mnist-"))
    folder.chmod(0o755)
    for path in (ROOT / "data" / "mnist").glob("*-ubyte"):
        shutil.copy(path, folder / path.name)
        (folder / path.name).chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_autograder(root, prefix=(), mnist_dir=None):
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    if mnist_dir:
        env["TFBOOK_MNIST_DIR"] = str(mnist_dir)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [*prefix, str(root / "run_autograder")], capture_output=True, text=True, timeout=900, env=env, cwd=str(root)
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def solution_lines(chapter_py: str) -> list[str]:
    """Lines of the solution's answers (between the markers) that the student edition lacks."""
    solution = (ROOT / "solutions" / chapter_py).read_text()
    student = (ROOT / "chapters" / chapter_py).read_text()
    blocks = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", solution, flags=re.DOTALL)
    lines = {line.strip() for block in blocks for line in block.splitlines()}
    return sorted(line for line in lines if len(line) > 20 and line not in student)


def test_the_bundle_holds_setup_run_autograder_and_the_pinned_book(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read("autograder.json"))
    assert {
        "setup.sh",
        "run_autograder",
        "autograder.json",
        "pyproject.toml",
        "constraints.txt",
        "book.toml",
        "booktools/autograder.py",
        "checks/ch03.py",
        "tfbook/data.py",
        "hidden/ch03.py",
        "chapters/03_cnn_training.ipynb",
    } <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert "pip install" in setup and "-c constraints.txt" in setup and "venv" in setup
    assert "booktools.autograder setup" in setup  # the kernel's user, MNIST readable by it
    assert config == {"chapter": "03", "preset": "smoke", "cell_timeout": 120, "memory_mb": 4096, "hidden": True}
    assert not any("__pycache__" in n for n in names)


def test_the_bundle_holds_every_package_pyproject_declares_and_no_solution(bundle_02):
    from booktools.autograder import PLACEHOLDER, package_dirs

    assert {"tfbook", "checks", "booktools", "cloudlog"} <= set(package_dirs())
    with zipfile.ZipFile(bundle_02) as archive:
        names = set(archive.namelist())
        texts = {n: archive.read(n).decode(errors="replace") for n in names}
    for package in package_dirs():  # chapter 02's checks import cloudlog, left out before
        assert f"{package}/__init__.py" in names, package
    assert "chapters/02_log_collector.ipynb" in names and "chapters/03_cnn_training.ipynb" not in names
    assert {n for n in names if n.startswith("solutions/")} == {
        str(c.solution.relative_to(ROOT)) for c in __import__("tfbook").load_book().ready_chapters()
    }
    assert all(texts[n] == PLACEHOLDER for n in names if n.startswith("solutions/"))
    answers = solution_lines("02_log_collector.py")
    assert answers
    for name, text in texts.items():
        assert not re.search(r"### BEGIN SOLUTION\n.*### END SOLUTION", text, flags=re.DOTALL), name
        assert not [line for line in answers if line in text], name


def test_a_cells_error_text_never_reaches_the_learner():
    from booktools.gradescope import MAX_CELL_ERRORS, results_json, validate

    errors = [f"cell {i} (`x = steal()`): ValueError: SECRET-{i} def hidden_check(...)" for i in range(1, 30)]
    data = results_json(
        {"chapter": "03", "preset": "smoke", "earned": 0, "points": 1, "results": [], "cell_errors": errors}
    )
    assert validate(data) == []
    assert "SECRET" not in json.dumps(data)
    assert "cell 1 raised ValueError" in data["output"]
    assert data["output"].count("raised ValueError") == MAX_CELL_ERRORS
    assert f"and {29 - MAX_CELL_ERRORS} more" in data["output"]


@pytest.mark.slow  # runs run_autograder in a subprocess that imports TensorFlow, about 7 s
def test_no_submission_still_gets_a_results_json(gradescope_root, bundle):
    from booktools.gradescope import validate

    root = gradescope_root(bundle)
    results = run_autograder(root)
    assert validate(results) == [] and results["score"] == 0
    assert "no notebook found" in results["output"]


# A submission that tries to read the hidden checks, the solutions and the grader's own files, and
# to hand what it read back: printed, raised from a cell, raised from the graded functions.
STEAL = """
import os, pathlib
root = pathlib.Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
work = pathlib.Path(os.environ.get("TFBOOK_RUNS", "/")).parents[2]
targets = [root / "source" / "hidden" / "ch03.py", *sorted((root / "source" / "solutions").glob("*")),
           *(work / name for name in ("partial.json", "spec.json", "worker.log"))]
stolen, failed = [], []
for path in targets:
    try:
        stolen.append(path.read_text())
    except OSError as e:
        failed.append(f"{path.name}: {type(e).__name__}")
secret = "\\n".join(stolen)
if "rng = " in secret:
    secret = secret[secret.index("rng = "):]
print(secret)
pathlib.Path(PROBE).write_text(f"{os.getuid()}\\n" + "\\n".join(failed) + "\\n" + secret)
"""
FUNCTIONS = """
def reshape_input(x):
    raise ValueError(secret[:280])

def accuracy_fn(logits, labels):
    raise ValueError(secret[:280])
"""


@pytest.mark.slow  # runs run_autograder with a real kernel, about 20 s
def test_a_submission_cannot_read_hidden_checks_or_solutions(gradescope_root, bundle, kernel_can_run):
    if os.geteuid() != 0:
        pytest.skip("the kernel runs as another user only when the autograder runs as root (as on Gradescope)")
    probe_dir = Path(tempfile.mkdtemp(prefix="tfbook-probe-"))
    probe_dir.chmod(0o1777)  # the kernel's user writes what it saw here
    probe = probe_dir / "seen.txt"
    try:
        nb = nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(STEAL.replace("PROBE", repr(str(probe)))),
                nbformat.v4.new_code_cell(FUNCTIONS),
                nbformat.v4.new_code_cell('check("reshape_input")'),
                nbformat.v4.new_code_cell("raise RuntimeError(secret[:280])"),
            ]
        )
        root = gradescope_root(bundle)
        nbformat.write(nb, root / "submission" / "03_cnn_training.ipynb")
        results = run_autograder(root, kernel_can_run)
        seen = probe.read_text().splitlines()
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    text = json.dumps(results)
    hidden_source = [
        line.strip()
        for line in (HIDDEN / "ch03.py").read_text().splitlines()
        if line.strip().startswith(("rng = ", "logits = ", "labels = eye", "one = learner"))
    ]
    assert len(hidden_source) == 4
    assert not [line for line in hidden_source if line in text]
    assert not [line for line in solution_lines("03_cnn_training.py") if line in text]
    assert "hidden_check" not in text
    assert seen[0] != "0"  # the kernel ran as the unprivileged user
    assert "ch03.py: PermissionError" in seen and "spec.json: PermissionError" in seen
    # the functions were called, and what they raised is all the learner sees of it
    reshape = next(t for t in results["tests"] if t["tags"][0] == "reshape_input")
    assert reshape["status"] == "failed" and "raised ValueError" in reshape["output"]
    assert "raised RuntimeError" in results["output"]


@pytest.mark.slow  # grades chapter 03's notebook with training (smoke preset), about a minute
def test_run_autograder_grades_a_known_submission(gradescope_root, bundle, kernel_can_run, readable_mnist):
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
    root = gradescope_root(bundle)
    nbformat.write(student, root / "submission" / "03_cnn_training.ipynb")
    results = run_autograder(root, kernel_can_run, readable_mnist)
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


@pytest.mark.slow  # grades chapter 02's whole solution through the bundle, about a minute
def test_the_chapter_02_bundle_gives_the_solution_full_marks(gradescope_root, bundle_02, kernel_can_run):
    from booktools.gradescope import validate
    from checks.registry import load_chapter_checks

    root = gradescope_root(bundle_02)
    shutil.copy(ROOT / "solutions" / "02_log_collector.ipynb", root / "submission" / "02_log_collector.ipynb")
    results = run_autograder(root, kernel_can_run)
    assert validate(results) == [], validate(results)
    failed = [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert failed == [], (failed, results["output"])
    assert results["score"] == sum(c.points for c in load_chapter_checks("02").checks), results["output"]
