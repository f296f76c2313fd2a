"""`tfbook hint`, `tfbook list` and a wrong chapter answer without importing TensorFlow.

Importing TensorFlow takes seconds; these commands only print what the check modules declare
(exercises, hints, points) or an error, so they read the check modules' source instead
(checks.registry.chapter_outline). The outline must say exactly what the imported module says.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from checks.registry import _NotLiteral, _read_outline, chapter_outline, load_chapter_checks
from tfbook.manifest import load_book

ENTRY = {"tfbook": "booktools.cli", "checks": "checks.cli"}


def run_without_tensorflow(entry: str, *args: str) -> subprocess.CompletedProcess:
    """Run a CLI's main() in a fresh interpreter; its last stderr line says whether
    TensorFlow (or any of its modules) ended up imported."""
    code = textwrap.dedent(f"""
        import sys
        from {ENTRY[entry]} import main
        try:
            rc = main({list(args)!r})
        except SystemExit as e:
            rc = e.code
        loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
        print("TENSORFLOW:", loaded[:3], file=sys.stderr)
        sys.exit(rc)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "entry, args, rc, expected",
    [
        ("tfbook", ("hint", "03", "loss"), 0, "Exercise 3.7: loss"),
        ("tfbook", ("hint", "01", "log_scalars"), 0, "checked: "),
        ("tfbook", ("hint", "03", "nope"), 2, "3.1 reshape_input"),
        ("tfbook", ("hint", "07", "x"), 2, "no chapter '07'"),
        ("tfbook", ("list",), 0, "3.9 checkpoint"),
        ("tfbook", ("check", "07"), 2, "no chapter '07'"),
        ("tfbook", ("watch", "07"), 2, "no chapter '07'"),
        ("checks", ("07",), 2, "no chapter '07'"),
        ("checks", ("03", "no/such/notebook.ipynb"), 2, "does not exist"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v),
)
def test_light_commands_do_not_import_tensorflow(entry, args, rc, expected):
    proc = run_without_tensorflow(entry, *args)
    assert proc.returncode == rc, proc.stderr[-2000:]
    assert expected in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.rstrip().endswith("TENSORFLOW: []"), proc.stderr[-2000:]


@pytest.mark.parametrize("chapter_id", [c.id for c in load_book().chapters if c.check_module])
def test_the_outline_is_what_the_imported_check_module_declares(chapter_id):
    def described(chapter):
        return (
            chapter.id,
            chapter.exercises,
            [(c.id, c.exercise, c.points, c.description, c.at_end) for c in chapter.checks],
        )

    assert described(chapter_outline(chapter_id)) == described(load_chapter_checks(chapter_id))


OUTLINED = """
import numpy as np
from checks.engine import Chapter, Exercise
NAME = "metric_x"
chapter = Chapter("99", {
    "first": Exercise("9.1", "the idea " "in two strings", "First", next_hints=("look up np.sum",)),
    "second": Exercise("9.2", "guess", "Second", prediction=True),
})

@chapter.check("first", 2, f"creates '{NAME}'")
def first_works(learner):
    learner.call("first")

@chapter.check("second", 1, "the guess is close", at_end=True)
@some_wrapper
def second_close(learner):
    pass
"""


def test_the_outline_reads_literals_and_constants():
    chapter = _read_outline(OUTLINED)
    assert chapter.id == "99" and list(chapter.exercises) == ["first", "second"]
    assert chapter.exercises["first"].hint == "the idea in two strings"
    assert chapter.exercises["first"].next_hints == ("look up np.sum",)
    assert chapter.exercises["second"].prediction is True
    first, second = chapter.checks
    assert (first.id, first.points, first.description) == ("99.first_works", 2, "creates 'metric_x'")
    assert (second.id, second.at_end) == ("99.second_close", True)
    with pytest.raises(RuntimeError, match="cannot run"):
        first.func(object())


@pytest.mark.parametrize(
    "change",
    [
        ('"the idea " "in two strings"', "HINTS['first']"),  # a computed hint
        ('NAME = "metric_x"', 'NAME = "metric_" + "x".upper()'),  # a computed constant
        ('@chapter.check("second"', 'for _ in range(1):\n    pass\nchapter.check("second"'),
    ],
)
def test_what_the_outline_cannot_read_is_imported_instead(change):
    """A declaration it would have to run makes chapter_outline fall back to the import."""
    with pytest.raises(_NotLiteral):
        _read_outline(OUTLINED.replace(*change))


@pytest.mark.parametrize("module", ["checks.no_such_module", "no_such_package.ch99"])
def test_a_check_module_that_is_missing_is_a_manifest_error(module, monkeypatch):
    import checks.registry as registry
    from tfbook.manifest import ManifestError

    monkeypatch.setattr(registry, "_check_module_name", lambda chapter_id: ("99", module))
    with pytest.raises(ManifestError, match="cannot be imported"):
        registry.chapter_outline("99")
