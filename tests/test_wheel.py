"""The wheel and the sdist: `python -m build` makes them; the wheel holds the library, the checks,
the instructor tools, the service and the student edition (tfbook/edition/), never the solutions
or the tests; installed alone outside this checkout, `tfbook start DIR` and `tfbook list` work.

The wheel goes into a fresh venv (no pip, no site packages) with --no-deps; the dependencies come
from this .venv through a .pth line naming its site-packages, so TensorFlow is not downloaded
again. A plain path line does not run the .pth files of that folder, so this checkout's editable
install stays inactive there: every import of the book comes from the wheel (the test checks)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tfbook.data import CACHE_DIR, _verified_idx_dir
from tfbook.manifest import ROOT, load_book

pytestmark = pytest.mark.slow  # builds in an isolated env and installs: about 30 s on 2 cores

FORBIDDEN = ("solutions/", "tests/", "hidden/")


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    return out


def test_the_wheel_holds_the_book_and_no_answers(dist):
    (wheel,) = dist.glob("tfbook-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("tfbook", "checks", "booktools", "cloudlog"):
        assert f"{package}/__init__.py" in names
    assert "checks/ch03.py" in names and "booktools/start.py" in names
    assert "tfbook/locale/ko/LC_MESSAGES/tfbook.mo" in names  # the learner's messages in Korean (tfbook/i18n.py)
    edition = {n.removeprefix("tfbook/edition/") for n in names if n.startswith("tfbook/edition/")}
    assert "book.toml" in edition and "assets/canvas/canvas.js" in edition
    for chapter in load_book(ROOT / "book.toml").ready_chapters():
        for path in (chapter.student, chapter.notebook("student")):
            assert path.relative_to(ROOT).as_posix() in edition
    for translated in (ROOT / "chapters").glob("*/*_*.ipynb"):  # chapters/ko/: the Korean edition
        assert translated.relative_to(ROOT).as_posix() in edition
    leaked = [n for n in names if any(part in n for part in FORBIDDEN)]
    assert leaked == [], f"the wheel would give learners these: {leaked}"


def test_the_sdist_holds_no_answers_either(dist):
    (sdist,) = dist.glob("tfbook-*.tar.gz")
    names = [n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n]
    assert "book.toml" in names and "constraints.txt" in names and "chapters/03_cnn_training.ipynb" in names
    assert [n for n in names if any(n.startswith(part) for part in FORBIDDEN)] == []


def test_the_installed_wheel_starts_a_book_outside_the_checkout(dist, tmp_path):
    (wheel,) = dist.glob("tfbook-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "dependencies_from_dot_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TFBOOK_RUNS", "TFBOOK_MNIST_DIR")}
    if _verified_idx_dir(CACHE_DIR) is None:  # MNIST from the loader's first source, offline
        env["TFBOOK_MNIST_DIR"] = str(CACHE_DIR)
    tfbook = str(venv / "bin" / "tfbook")
    started = run([tfbook, "start", "book"], cwd=tmp_path, env=env)
    book = tmp_path / "book"
    assert "MNIST: ready (" in started.stdout and "tfbook list" in started.stdout
    assert (book / "chapters" / "03_cnn_training.ipynb").read_bytes() == (
        ROOT / "chapters" / "03_cnn_training.ipynb"
    ).read_bytes()
    assert not (book / "solutions").exists()

    where = run(
        [
            str(python),
            "-c",
            "import tfbook, checks, booktools, cloudlog, tfbook.paths as p; "
            "print(tfbook.__file__, checks.__file__, booktools.__file__, cloudlog.__file__); "
            "print(p.book_root(), p.runs_root())",
        ],
        cwd=book / "chapters",
        env=env,
    ).stdout.split()
    assert all(Path(f).is_relative_to(site) for f in where[:4]), where  # the wheel, not this checkout
    assert where[4:] == [str(book), str(book / "runs")]

    listed = run([tfbook, "list"], cwd=book, env=env)
    assert "03 Training a CNN on MNIST" in listed.stdout and "3.7 loss" in listed.stdout
    hint = run([tfbook, "hint", "03", "loss"], cwd=book, env=env)
    assert "Exercise 3.7: loss" in hint.stdout
    wrong = subprocess.run([str(python), "-m", "checks", "09"], cwd=book, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "no chapter '09'" in wrong.stderr  # `python -m checks` resolves here

    # Outside any book folder, the edition installed with the package is the book.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = run([tfbook, "list"], cwd=elsewhere, env=env)
    assert "04 Predicting the digits you draw" in listed.stdout


def test_a_chapters_install_cell_installs_the_book_in_a_bare_venv(dist, tmp_path):
    """The cell a chapter opened on its own starts with (booktools/release.py: install_cell), with
    book.toml's `install` naming the built wheel: in a venv without the book it installs the
    book; run again, it does nothing. (Colab cannot be reached from here; the wheel's dependencies
    are pip's to resolve there, so this venv gets the book alone: --no-deps.)"""
    import dataclasses

    from booktools.release import install_cell

    (wheel,) = dist.glob("tfbook-*.whl")
    venv = tmp_path / "bare"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = "\nimport importlib.util\nprint(importlib.util.find_spec('tfbook').origin)\n"

    book = dataclasses.replace(load_book(ROOT / "book.toml"), install=f"--no-deps --no-index {wheel}")
    installed = run([python, "-c", install_cell(book) + where], cwd=tmp_path, env=env)
    assert Path(installed.stdout.split()[-1]).is_relative_to(venv), installed.stdout

    wheel.rename(wheel.with_suffix(".gone"))  # had the cell run pip again, it would fail now
    try:
        again = run([python, "-c", install_cell(book) + where], cwd=tmp_path, env=env)
    finally:
        wheel.with_suffix(".gone").rename(wheel)
    assert again.stdout == installed.stdout
