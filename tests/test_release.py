import jupytext
import pytest

from checks.grader import load_chapter_checks
from tfbook.manifest import load_book
from booktools.release import BEGIN, END, ReleaseError, planned_files, release, stub_cell_source


def test_committed_editions_are_exactly_what_release_generates():
    changed = release(check=True)
    assert changed == [], f"run `make release` and commit: {changed}"


def test_function_bodies_become_a_raise_with_the_exercise_label():
    source = f"def f(x):\n    {BEGIN}\n    y = x + 1\n    return y\n    {END}\n"
    assert (
        stub_cell_source(source, "Exercise 9.1: f", "here")
        == 'def f(x):\n    raise NotImplementedError("Exercise 9.1: f")\n'
    )


def test_plain_assignments_become_ellipsis():
    source = f"{BEGIN}\nA = 7 * 7 * 64\nB = 0.5\n{END}"
    assert (
        stub_cell_source(source, "Exercise 9.2: v", "here")
        == "A = ...  # Exercise 9.2: v: your value here\nB = ...  # Exercise 9.2: v: your value here"
    )


@pytest.mark.parametrize(
    "source, message",
    [
        (f"{BEGIN}\nx = 1\n", "without ### END"),
        (f"x = 1\n{END}\n", "without ### BEGIN"),
        (f"{BEGIN}\n{BEGIN}\n{END}\n", "inside another"),
    ],
)
def test_malformed_markers_name_the_place(source, message):
    with pytest.raises(ReleaseError, match=message):
        stub_cell_source(source, "Exercise 9.3: x", "solutions/x.py, cell 4")


def test_cells_outside_exercises_are_identical_between_editions():
    for chapter in load_book().ready_chapters():
        solution, student = jupytext.read(chapter.solution), jupytext.read(chapter.student)
        assert len(solution.cells) == len(student.cells)
        stubbed = 0
        for a, b in zip(solution.cells, student.cells):
            if BEGIN in a.source:
                stubbed += 1
                assert BEGIN not in b.source and ("NotImplementedError" in b.source or "= ..." in b.source)
            else:
                assert a.source == b.source and a.cell_type == b.cell_type
        exercises = load_chapter_checks(chapter.id).exercises
        assert stubbed >= len(exercises)


def test_no_answer_leaks_into_the_student_edition():
    chapter = load_book().chapter("03")
    text = chapter.student.read_text()
    for answer in (
        "tf.nn.conv2d(x, W, strides=1",
        "7 * 7 * 64\n",
        "rate=1.0 - keep_prob",
        "softmax_cross_entropy_with_logits(labels=labels, logits=logits))",
    ):
        assert answer not in text


def test_a_chapter_with_a_korean_catalogue_is_released_in_korean_too():
    import tomllib

    from booktools.l10n import catalogue_path, edition_path
    from tfbook.manifest import parse_book

    root = load_book().root
    data = tomllib.loads((root / "book.toml").read_text(encoding="utf-8"))
    data["chapters"] = [c for c in data["chapters"] if c["id"] == "04"]  # one chapter: faster
    book = parse_book(data, root)
    chapter = book.chapter("04")
    assert catalogue_path(root, "ko", chapter.solution).exists()
    planned = planned_files(book)
    for english in (chapter.solution, chapter.student):
        for suffix in (".py", ".ipynb"):
            korean = edition_path(english, "ko").with_suffix(suffix)
            assert korean in planned and "ko" in korean.parts
            assert korean.read_text(encoding="utf-8") == planned[korean]


# --- the install cell: a chapter opened on its own installs the book --------------------------

import dataclasses  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402

from booktools.release import install_cell  # noqa: E402


def test_every_chapter_starts_with_the_install_cell_book_toml_describes():
    book = load_book()
    for chapter in book.ready_chapters():
        for path in (chapter.solution, chapter.student):
            first = next(c for c in jupytext.read(path).cells if c.cell_type == "code")
            assert first.metadata.get("tags") == ["install"] and first.source == install_cell(book), path


def _run_install_cell(book, monkeypatch, importable: bool) -> list:
    calls = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if importable else None)
    monkeypatch.setattr(subprocess, "run", lambda argv, check: calls.append(argv))
    exec(compile(install_cell(book), "<install cell>", "exec"), {})
    return calls


def test_the_install_cell_does_nothing_where_the_book_is_importable(monkeypatch):
    book = dataclasses.replace(load_book(), repository="https://github.com/someone/tfbook")
    assert _run_install_cell(book, monkeypatch, importable=True) == []


def test_the_install_cell_installs_from_the_repository_at_the_version_tag_or_what_book_toml_says(monkeypatch):
    from importlib.metadata import version

    book = dataclasses.replace(load_book(), repository="https://github.com/someone/tfbook/tree/dev/")
    (argv,) = _run_install_cell(book, monkeypatch, importable=False)
    assert argv[1:] == [
        "-m",
        "pip",
        "install",
        "--quiet",
        f"tfbook @ git+https://github.com/someone/tfbook@v{version('tfbook')}",
    ]
    book = dataclasses.replace(book, install="tfbook==0.1.0 --no-cache-dir")  # a package index wins
    (argv,) = _run_install_cell(book, monkeypatch, importable=False)
    assert argv[-2:] == ["tfbook==0.1.0", "--no-cache-dir"]


def test_without_a_source_the_install_cell_says_how_to_install_the_book(monkeypatch):
    book = dataclasses.replace(load_book(), repository="", install="")
    with pytest.raises(ModuleNotFoundError, match="pip install it"):
        _run_install_cell(book, monkeypatch, importable=False)
