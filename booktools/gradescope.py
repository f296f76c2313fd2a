"""A grade in Gradescope's ``results.json`` shape (one test per check).

Gradescope's documented fields only: at the top ``score``, ``execution_time``, ``output``,
``visibility``, ``stdout_visibility``, ``tests``; per test ``name``, ``number``, ``score``,
``max_score``, ``status``, ``output``, ``visibility``, ``tags``. Hidden checks are visible to
the learner only once the instructor publishes the grades (``after_published``).

Everything here is shown to the learner, so what the learner's own code printed or raised is
kept out: a cell that raised is named by its number and the exception's class only (never the
error's text), at most ``MAX_CELL_ERRORS`` of them, and each test's output is cut at
``MAX_OUTPUT`` characters.
"""

from __future__ import annotations

import re

from booktools.hidden import is_hidden
from checks.report import result_detail
from tfbook.i18n import _, language

MAX_CELL_ERRORS = 3
MAX_OUTPUT = 600
# checks.grader.cell_error: "cell 12 (`first line`): ValueError: the error's text"
CELL_ERROR = re.compile(r"^cell (\d+) \(`.*?`\): ([A-Za-z_][\w.]{0,60}):")

TOP_LEVEL_FIELDS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_FIELDS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def result_output(result: dict) -> str:
    text = "\n".join(result_detail(result)) or _("passed")
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 3] + "..."


def cell_errors_summary(errors: list[str]) -> list[str]:
    """The cells that raised, by number and exception class: not the error's text, which the
    learner's code chose (run the notebook in Jupyter to read it)."""
    lines = []
    for error in errors[:MAX_CELL_ERRORS]:
        match = CELL_ERROR.match(error)
        lines.append(
            _("cell {cell} raised {error} (run the notebook to see the message)").format(
                cell=match.group(1), error=match.group(2)
            )
            if match
            else _("a cell raised an error (run the notebook to see it)")
        )
    if len(errors) > MAX_CELL_ERRORS:
        lines.append(_("... and {count} more cells raised errors").format(count=len(errors) - MAX_CELL_ERRORS))
    return lines


def results_json(payload: dict, notes: list[str] | None = None) -> dict:
    """What the learner reads on Gradescope, in the language of the learner's notebook."""
    with language(payload.get("language")):
        return _results_json(payload, notes)


def _results_json(payload: dict, notes: list[str] | None = None) -> dict:
    tests = []
    for r in payload.get("results", []):
        hidden = is_hidden(r["check"])
        tests.append(
            {
                "name": f"{r['number']} {r['exercise']}: {r['description']}" + (_(" (hidden check)") if hidden else ""),
                "number": r["number"],
                "score": r["earned"],
                "max_score": r["points"],
                # "not checked": another exercise's mistake hid it; it keeps its points
                "status": "passed" if r["status"] in ("passed", "not checked") else "failed",
                "output": result_output(r),
                "visibility": "after_published" if hidden else "visible",
                "tags": [r["exercise"]] + (["hidden"] if hidden else []),
            }
        )
    summary = [
        _("Score {earned}/{points} (chapter {chapter}, preset {preset})").format(
            earned=payload.get("earned", 0),
            points=payload.get("points", 0),
            chapter=payload.get("chapter", "?"),
            preset=payload.get("preset", "?"),
        )
    ]
    for key in ("problem", "stopped"):
        if payload.get(key):
            summary.append(payload[key][:MAX_OUTPUT])
    summary += cell_errors_summary(payload.get("cell_errors", []))
    summary += list(notes or payload.get("notes", []))
    return {
        "score": payload.get("earned", 0),
        "execution_time": int(payload.get("seconds") or 0),
        "output": "\n".join(summary),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def validate(data: dict) -> list[str]:
    """What in ``data`` Gradescope would not accept (empty when it is fine)."""
    problems = [f"unknown top-level field {k!r}" for k in data if k not in TOP_LEVEL_FIELDS]
    if not isinstance(data.get("score"), (int, float)) and "tests" not in data:
        problems.append("neither a score nor tests")
    for i, test in enumerate(data.get("tests", [])):
        problems += [f"test {i}: unknown field {k!r}" for k in test if k not in TEST_FIELDS]
        if not isinstance(test.get("score"), (int, float)):
            problems.append(f"test {i}: score is not a number")
        if "max_score" in test and not isinstance(test["max_score"], (int, float)):
            problems.append(f"test {i}: max_score is not a number")
        if test.get("visibility", "visible") not in VISIBILITIES:
            problems.append(f"test {i}: visibility {test.get('visibility')!r}")
        if test.get("status", "passed") not in ("passed", "failed"):
            problems.append(f"test {i}: status {test.get('status')!r}")
    if data.get("visibility", "visible") not in VISIBILITIES:
        problems.append(f"visibility {data.get('visibility')!r}")
    return problems
