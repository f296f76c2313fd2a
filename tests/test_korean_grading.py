"""The Korean edition graded (issue 18): each chapter's Korean solution, as `tfbook release` wrote it
(solutions/ko/), runs in a fresh kernel and earns every point with its results in Korean; a wrong
answer in a Korean notebook gets Korean feedback and the score the same code gets in English.

The Korean notebooks have the English code cells byte for byte (tests/test_korean_edition.py), so
a Korean grade must be the English solution's grade exercise by exercise. Each chapter is graded
under the cheapest preset under which the English solution earns every point, and that grade is
what the Korean one is held to (grading the English again here would double the cost):

* 01 under `quick`: under `smoke` its 30-step bad-initialisation demo diverges (NaN) and both
  editions lose 1.2's and 1.7's points on it; one `quick` grade costs less than a `smoke` grade of
  each edition. The English solution's full marks under `quick`: tests/test_checks_ch01.py.
* 02 under `smoke`: tests/test_checks_ch02.py (the English solution passes every check).
* 03 under `smoke`: tests/test_hardware.py (every check passed). The Korean grade trains its own
  40 steps and needs no trained checkpoint, so it stays out of the chapter-03 xdist group and
  runs beside it.
* 04: tests/test_checks_ch04.py grades the English solution, tests/test_messages.py a Korean
  notebook (chapter 04 needs the trained chapter-03 checkpoint: its Korean solution is not
  graded again here).
"""

from __future__ import annotations

import re

import pytest

from booktools.l10n import edition_path
from checks.grader import CHECK_CELL, grade_notebook
from checks.registry import load_chapter_checks
from tfbook import i18n
from tfbook.i18n import _
from tfbook.manifest import ROOT, load_book

BOOK = load_book(ROOT / "book.toml")
LANGUAGE = "ko"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def korean_solution(chapter_id: str):
    return edition_path(BOOK.chapter(chapter_id).notebook("solution"), LANGUAGE)


def full_marks(chapter) -> dict[str, tuple[int, int]]:
    """{exercise: (points, points)}: every point, the English solution's grade (see above)."""
    out: dict[str, tuple[int, int]] = {}
    for check in chapter.checks:
        earned, points = out.get(check.exercise, (0, 0))
        out[check.exercise] = (earned + check.points, points + check.points)
    return out


def scores(results) -> dict[str, tuple[int, int]]:
    """{exercise: (earned, points)} of a grade."""
    out: dict[str, tuple[int, int]] = {}
    for r in results:
        earned, points = out.get(r.exercise, (0, 0))
        out[r.exercise] = (earned + r.earned, points + r.points)
    return out


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


# --- each chapter's Korean solution, graded in a kernel ------------------------------------------


@pytest.mark.parametrize(
    "chapter_id, preset",
    [
        # a kernel, TensorFlow and 1,000 + 2 x 300 training steps: 55 s on 2 busy cores
        pytest.param("01", "quick", marks=pytest.mark.slow),
        # a kernel and the logging services of its checks: 30 s on 2 busy cores
        pytest.param("02", "smoke", marks=pytest.mark.slow),
        # a kernel, TensorFlow, MNIST, 40 training steps and a test-set evaluation: 64 s on 2 busy cores
        pytest.param("03", "smoke", marks=pytest.mark.slow),
    ],
)
def test_the_korean_solution_earns_every_point_with_korean_results(chapter_id, preset):
    notebook = korean_solution(chapter_id)
    chapter = load_chapter_checks(chapter_id)
    grade = grade_notebook(chapter_id, notebook, preset=preset)

    assert grade.language == LANGUAGE  # from the notebook's metadata (tests/conftest.py sets TFBOOK_LANG=en)
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    failed = [(r.check, r.status, r.message) for r in grade.results if not r.passed]
    assert not failed
    assert scores(grade.results) == full_marks(chapter)  # exercise by exercise, as the English solution
    assert grade.to_json()["exercises_passed"] == list(chapter.exercises)

    with i18n.language(LANGUAGE):
        passed, total = _("PASS"), _("Score {earned}/{points} points; exercises passed {passed}/{exercises}")
        descriptions = {c.id: _(c.description) for c in chapter.checks}
    assert HANGUL.search(passed) and HANGUL.search(total)
    assert {r.check: r.description for r in grade.results} == descriptions
    assert all(HANGUL.search(d) for d in descriptions.values()), descriptions
    # the table the grader writes under each check("...") cell: Korean, never the English words
    tables = [
        printed(cell) for cell in grade.executed.cells if cell.cell_type == "code" and CHECK_CELL.search(cell.source)
    ]
    assert len(tables) == len(chapter.exercises)
    for table in tables:
        assert f"  {passed}  " in table and total.split("{", 1)[0] in table, table
        assert "PASS" not in table and "Score" not in table, table


# --- a wrong answer in a Korean notebook, checked inline (no kernel) -----------------------------


def output_size_rounding_down(n, window, stride, padding):
    """3.2 with the usual mistake: the division rounds down."""
    return n // stride if padding == "SAME" else (n - window + 1) // stride


# chapter: (exercise, the wrong answer, the hint the checks give for that very mistake)
WRONG_ANSWERS = {
    "01": (
        "predict_initial_loss",
        {"PREDICTED_INITIAL_LOSS": 0.5},  # an accuracy, not a loss
        "The loss is a cross-entropy, not a probability or an accuracy: 0 for a network that is "
        "sure of every right digit, growing as the probability of the right digit shrinks.",
    ),
    "02": (
        "predict_not",
        {"PREDICTED_NOT_COUNT": 3},  # the text entries forgotten
        'You counted only struct_log entries. What is jsonPayload.text:"-a" for an entry that has '
        "no jsonPayload at all, and what does NOT make of that?",
    ),
    "03": (
        "output_size",
        {"output_size": output_size_rounding_down},
        "You rounded down: a last, partial window still produces an output, so round up.",
    ),
}
ROW = re.compile(r"^  (\S+)\s+(\d+\.\d+) (\w+)\s+(\d+)/(\d+)  ", re.MULTILINE)


def one_line(text: str) -> str:
    """The table wraps long lines: compare its words."""
    return " ".join(text.split())


@pytest.mark.parametrize("chapter_id", sorted(WRONG_ANSWERS))
def test_a_wrong_answer_in_a_korean_notebook_gets_korean_feedback_and_the_english_score(chapter_id, capsys):
    """The learner's own check("...") in a Korean notebook (Jupyter names it to the kernel as
    __session__): its metadata makes the feedback Korean whatever $TFBOOK_LANG says (conftest.py:
    en); the same answer in the English notebook reads English, with the same points."""
    from checks import checker

    exercise, answer, hint = WRONG_ANSWERS[chapter_id]
    english = BOOK.chapter(chapter_id).notebook("student")
    korean = edition_path(english, LANGUAGE)
    shown = {}
    for notebook in (korean, english):
        check, _check_all = checker(chapter_id, {"__session__": str(notebook), **answer})
        check(exercise)
        shown[notebook] = capsys.readouterr().out
    with i18n.language(LANGUAGE):
        failed_ko, hint_ko = _("FAIL"), _("hint: {hint}").format(hint=_(hint))
    rows_ko, rows_en = ROW.findall(shown[korean]), ROW.findall(shown[english])
    assert rows_ko and [r[1:] for r in rows_ko] == [r[1:] for r in rows_en], (shown[korean], shown[english])
    assert {r[0] for r in rows_en} == {"FAIL"} and {r[0] for r in rows_ko} == {failed_ko}
    assert all(int(r[3]) == 0 for r in rows_ko)  # a wrong answer: no point, in either language
    # the checks judged this very mistake (not a check that could not run), in each language
    assert one_line(f"hint: {hint}") in one_line(shown[english]) and not HANGUL.search(shown[english])
    assert HANGUL.search(hint_ko) and one_line(hint_ko) in one_line(shown[korean]), shown[korean]
