"""The Korean edition (issue 18): chapters with a catalogue in i18n/ko/ are released in Korean from
the English solution (booktools/l10n.py, booktools/release.py); a stale or missing translation
fails with the cell's name and is never filled in with English; the glossary's terms are used."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest

from booktools.l10n import (
    ID_KEY,
    Entry,
    TranslationError,
    catalogue_path,
    edition_path,
    english_hash,
    load_catalogue,
    problems,
    translate,
)
from booktools.release import planned_files, release
from tfbook.manifest import load_book, parse_book

ROOT = Path(__file__).resolve().parents[1]
BOOK = load_book(ROOT / "book.toml")
LANGUAGE = "ko"
GLOSSARY = tomllib.loads((ROOT / "i18n" / LANGUAGE / "glossary.toml").read_text(encoding="utf-8"))
HANGUL = re.compile("[\uac00-\ud7a3]")


def korean_chapters():
    return [c for c in BOOK.ready_chapters() if catalogue_path(ROOT, LANGUAGE, c.solution).exists()]


def english_cells(chapter) -> dict[str, str]:
    nb = nbformat.read(chapter.solution.with_suffix(".ipynb"), as_version=4)
    return {c.metadata[ID_KEY]: c.source for c in nb.cells if c.cell_type == "markdown"}


# --- every chapter with a catalogue: complete, current, released ------------------------------


@pytest.mark.parametrize("chapter_id", [c.id for c in BOOK.ready_chapters()])
def test_the_korean_catalogue_translates_every_cell_of_the_current_english(chapter_id):
    chapter = BOOK.chapter(chapter_id)
    path = catalogue_path(ROOT, LANGUAGE, chapter.solution)
    if not path.exists():
        pytest.skip(f"chapter {chapter_id} has no Korean edition yet (no {path.relative_to(ROOT)})")
    import jupytext

    found = problems(
        jupytext.read(chapter.solution),
        load_catalogue(path),
        str(chapter.solution.relative_to(ROOT)),
        str(path.relative_to(ROOT)),
    )
    assert found == [], "\n".join(found)


def test_chapter_04_has_a_korean_edition():
    assert "04" in [c.id for c in korean_chapters()]


def edition_pairs():
    for chapter in korean_chapters():
        for english in (chapter.solution, chapter.student):
            yield english.with_suffix(".ipynb"), edition_path(english, LANGUAGE).with_suffix(".ipynb")


@pytest.mark.parametrize("english, korean", list(edition_pairs()), ids=lambda p: str(p.relative_to(ROOT)))
def test_korean_notebooks_have_the_english_code_cells_and_korean_markdown(english, korean):
    en, ko = (json.loads(p.read_text(encoding="utf-8")) for p in (english, korean))
    assert ko["metadata"]["language"] == LANGUAGE and "language" not in en["metadata"]
    assert [c["cell_type"] for c in ko["cells"]] == [c["cell_type"] for c in en["cells"]]
    for number, (a, b) in enumerate(zip(en["cells"], ko["cells"]), 1):
        if a["cell_type"] == "code":
            assert b == a, f"{korean.name}, cell {number}: a code cell differs from the English"
        else:
            assert b["metadata"] == a["metadata"]
            assert HANGUL.search("".join(b["source"])), (
                f"{korean.name}, cell {number} ({a['metadata'].get(ID_KEY)}): no Korean in it"
            )


# --- stale and missing translations are named, never replaced by English ------------------------


def tiny_notebook(*texts: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i, text in enumerate(texts):
        nb.cells.append(nbformat.v4.new_markdown_cell(text, metadata={ID_KEY: f"cell-{i}"}))
        nb.cells.append(nbformat.v4.new_code_cell(f"x = {i}"))
    return nb


def test_problems_name_the_missing_stale_and_unused_cells():
    nb = tiny_notebook("# One", "Two", "Three")
    catalogue = {
        "cell-0": Entry(english_hash("# One"), "# 하나"),
        "cell-1": Entry(english_hash("Two, before an edit"), "둘"),
        "old-cell": Entry(english_hash("Gone"), "사라짐"),
    }
    found = problems(nb, catalogue, "en.py", "ko.toml")
    assert len(found) == 3
    assert "[cells.cell-1] stale" in found[0] and "cell 3" in found[0]
    assert "[cells.cell-2] missing" in found[1] and "'Three'" in found[1]
    assert "[cells.old-cell] translates no cell" in found[2]


def test_a_markdown_cell_without_an_id_is_named():
    nb = tiny_notebook("# One", "Two")
    del nb.cells[2].metadata[ID_KEY]
    with pytest.raises(TranslationError, match=r"en.py, cell 3 \('Two'\): no valid i18n id"):
        problems(nb, {}, "en.py", "ko.toml")


def test_translate_refuses_rather_than_keep_english():
    nb = tiny_notebook("# One", "Two")
    catalogue = {"cell-0": Entry(english_hash("# One"), "# 하나"), "cell-1": Entry(english_hash("2"), "둘")}
    with pytest.raises(TranslationError, match="cell-1"):
        translate(nb, catalogue, LANGUAGE, "en.py")
    catalogue["cell-1"] = Entry(english_hash("Two"), "둘")
    ko = translate(nb, catalogue, LANGUAGE, "en.py")
    assert [c.source for c in ko.cells] == ["# 하나", "x = 0", "둘", "x = 1"]
    assert ko.metadata["language"] == LANGUAGE and nb.cells[0].source == "# One"


def copy_book(tmp_path: Path, chapter_id: str = "04") -> tuple:
    """A book in tmp_path with one chapter: its solution and its Korean catalogue."""
    chapter = BOOK.chapter(chapter_id)
    data = tomllib.loads((ROOT / "book.toml").read_text(encoding="utf-8"))
    data["chapters"] = [c for c in data["chapters"] if c["id"] == chapter_id]
    solution = tmp_path / chapter.solution.relative_to(ROOT)
    solution.parent.mkdir(parents=True)
    shutil.copy(chapter.solution, solution)
    catalogue = catalogue_path(tmp_path, LANGUAGE, solution)
    catalogue.parent.mkdir(parents=True)
    shutil.copy(catalogue_path(ROOT, LANGUAGE, chapter.solution), catalogue)
    return parse_book(data, tmp_path), solution, catalogue


def test_an_edited_english_cell_stops_the_korean_edition_and_names_the_cell(tmp_path):
    book, solution, _ = copy_book(tmp_path)
    text = solution.read_text(encoding="utf-8")
    edited = text.replace("restoring fails.", "restoring fails loudly.")
    assert edited != text
    solution.write_text(edited, encoding="utf-8")
    with pytest.raises(TranslationError, match=r"\[cells\.mismatch\] stale") as error:
        release(book=book)
    assert "[cells." not in str(error.value).replace("[cells.mismatch]", "")  # that cell only
    chapter = book.chapter("04")
    assert chapter.student.exists()  # the English editions are written all the same
    assert not edition_path(chapter.student, LANGUAGE).exists()  # no English in a Korean edition
    with pytest.raises(TranslationError, match=r"\[cells\.mismatch\] stale"):
        release(check=True, book=book)


def test_a_missing_translation_stops_the_korean_edition_and_names_the_cell(tmp_path):
    book, _, catalogue = copy_book(tmp_path)
    text = catalogue.read_text(encoding="utf-8")
    start = text.index("[cells.summary]")
    catalogue.write_text(text[:start] + text[text.index("[cells.", start + 1) :], encoding="utf-8")
    with pytest.raises(TranslationError, match=r"\[cells\.summary\] missing"):
        planned_files(book)


def test_the_drift_check_covers_the_korean_files(tmp_path):
    book, _, _ = copy_book(tmp_path)
    assert release(book=book)  # writes both editions in both languages
    korean = edition_path(book.chapter("04").student, LANGUAGE)
    assert release(check=True, book=book) == []
    korean.write_text(korean.read_text(encoding="utf-8").replace("연습 문제", "연습"), encoding="utf-8")
    assert release(check=True, book=book) == [korean]


# --- the glossary ------------------------------------------------------------------------------

CODE = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+")  # code spans and link targets: not prose


def prose(text: str) -> str:
    return CODE.sub(" ", text)


def uses(text: str, term: dict) -> bool:
    forms = [term["en"], *term.get("forms", [])]
    return re.search(r"\b(?:" + "|".join(map(re.escape, forms)) + r")\b", prose(text), re.I) is not None


def exceptions() -> set[tuple[str, str, str]]:
    return {(e["chapter"], e["cell"], e["en"]) for e in GLOSSARY.get("exceptions", [])}


def glossary_misses() -> list[tuple[str, str, str]]:
    """(chapter, cell, English term) where the English uses a term and the Korean lacks it."""
    misses = []
    for chapter in korean_chapters():
        catalogue = load_catalogue(catalogue_path(ROOT, LANGUAGE, chapter.solution))
        for cell_id, english in english_cells(chapter).items():
            for term in GLOSSARY["terms"]:
                if uses(english, term) and term["ko"] not in prose(catalogue[cell_id].text):
                    misses.append((chapter.id, cell_id, term["en"]))
    return misses


def test_the_glossary_is_well_formed():
    heads = [t["en"].lower() for t in GLOSSARY["terms"]]
    assert len(heads) == len(set(heads)), "a term appears twice"
    for term in GLOSSARY["terms"]:
        assert set(term) <= {"en", "forms", "ko", "note"} and term["ko"].strip() and HANGUL.search(term["ko"])


def test_every_glossary_term_is_translated_the_glossary_way():
    unexplained = [m for m in glossary_misses() if m not in exceptions()]
    assert unexplained == [], "\n".join(
        f"chapter {c}, cell {cell}: the English says {en!r}, the Korean lacks "
        f"{next(t['ko'] for t in GLOSSARY['terms'] if t['en'] == en)!r} "
        "(use it, or add an [[exceptions]] table with a reason to i18n/ko/glossary.toml)"
        for c, cell, en in unexplained
    )


def test_every_glossary_exception_is_still_needed():
    assert exceptions() - set(glossary_misses()) == set()


def test_the_glossary_check_reads_prose_only():
    term = {"en": "checkpoint", "forms": ["checkpoints"], "ko": "체크포인트"}
    assert uses("Two Checkpoints here.", term)
    assert not uses("Call `tf.train.Checkpoint` now; see [docs](https://x/checkpoint).", term)
    assert not uses("a checkpointing tool", term)


def test_tfbook_release_reports_a_stale_translation_without_a_traceback(monkeypatch, capsys):
    """The author sees the cell to translate again, not a traceback (tfbook release)."""
    from booktools import cli, release as release_module
    from booktools.l10n import TranslationError

    def stale(check=False):
        raise TranslationError("i18n/ko/04_prediction.toml: [cells.restore] stale: translate it again")

    monkeypatch.setattr(release_module, "release", stale)
    assert cli.main(["release", "--check"]) == 2
    err = capsys.readouterr().err
    assert "[cells.restore] stale" in err and "Traceback" not in err


# --- the titles a learner reads (tfbook list, tfbook start) -------------------------------------


def catalogue_heading(chapter, catalogue: Path | None = None) -> str:
    """The '# ' heading of the translation of the chapter's first markdown cell (its title)."""
    first = next(iter(english_cells(BOOK.chapter(chapter.id))))
    text = load_catalogue(catalogue or catalogue_path(ROOT, LANGUAGE, chapter.solution))[first].text
    return next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))


@pytest.mark.parametrize("chapter_id", [c.id for c in korean_chapters()])
def test_a_chapters_korean_title_is_the_heading_of_its_translated_first_cell(chapter_id):
    """One place holds a chapter's Korean title: the heading of its catalogue's first cell, as the
    English solution's heading is book.toml's title; the released editions carry it."""
    chapter = BOOK.chapter(chapter_id)
    first = next(iter(english_cells(chapter).values()))
    assert first.splitlines()[0] == f"# {chapter.title}"
    title = catalogue_heading(chapter)
    assert HANGUL.search(title) and title != chapter.title
    assert chapter.title_in(LANGUAGE) == title
    assert chapter.title_in("en") == chapter.title and chapter.title_in() == chapter.title  # conftest.py: en


def test_the_book_title_is_the_message_the_catalogue_translates():
    """book.toml's title is the msgid that tfbook/manifest.py marks (BOOK_TITLE): renamed in one
    place only, the Korean learner would silently read the English title."""
    from tfbook.manifest import BOOK_TITLE

    assert BOOK.title == BOOK_TITLE
    assert HANGUL.search(BOOK.title_in(LANGUAGE)) and BOOK.title_in("en") == BOOK.title == BOOK.title_in()


def test_a_chapter_without_a_korean_edition_keeps_its_english_title_until_released(tmp_path):
    book, _, catalogue = copy_book(tmp_path)
    chapter = book.chapter("04")
    assert chapter.title_in(LANGUAGE) == chapter.title  # no chapters/ko/ yet: English, never empty
    text = catalogue.read_text(encoding="utf-8")
    heading = catalogue_heading(chapter, catalogue)
    catalogue.write_text(text.replace(f"# {heading}\n", "# 새 제목\n", 1), encoding="utf-8")
    release(book=book)
    assert chapter.title_in(LANGUAGE) == "새 제목"  # what the catalogue says, through the release


def test_tfbook_list_and_start_show_the_titles_in_the_learners_language(tmp_path, monkeypatch, capsys):
    import argparse

    from booktools import cli
    from booktools.start import run_start

    def listed() -> str:
        assert cli.main(["list"]) == 0
        return capsys.readouterr().out

    english = listed()
    assert english.startswith(f"{BOOK.title}\n") and not HANGUL.search(english.split("\n", 1)[0])
    monkeypatch.setenv("TFBOOK_LANG", LANGUAGE)
    korean = listed()
    for chapter in korean_chapters():
        assert f"  {chapter.id} {catalogue_heading(chapter)}  (" in korean, korean
        assert chapter.title not in korean
    book_title = korean.split("\n", 1)[0]
    assert HANGUL.search(book_title) and book_title == BOOK.title_in(LANGUAGE), korean

    # a learner's folder: the edition it was given carries the titles
    folder = tmp_path / "mine"
    assert run_start(argparse.Namespace(folder=str(folder), no_mnist=True)) == 0
    assert capsys.readouterr().out.startswith(f"{book_title}: ")
    monkeypatch.chdir(folder)
    assert listed() == korean
