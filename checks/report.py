"""Results for people (a terminal table) and for programs (JSON)."""

from __future__ import annotations

import html
import json
import textwrap
import unicodedata
from pathlib import Path

from checks.engine import Result, check_seed, summary
from tfbook.i18n import N_, _

# "not checked": another exercise's mistake left nothing to judge; the check keeps its points
MARK = {"passed": N_("PASS"), "failed": N_("FAIL"), "not done": N_("TODO"), "not checked": N_("SKIP")}
# a result's status as a learner reads it (the JSON keeps the English keys above)
STATUS = {"passed": N_("passed"), "failed": N_("failed"), "not done": N_("not done"), "not checked": N_("not checked")}


def status_text(status: str) -> str:
    return _(STATUS.get(status, status))


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def result_detail(result, *, as_html: bool = False, hint: bool = True) -> list[str]:
    """What a learner reads under one check result, a line each: its message, what was expected
    and what was given, and its hint (never under a passed check; ``hint=False`` leaves it out,
    e.g. when it was shown already). ``result`` is a Result or its JSON dict. The one rendering
    of a result: the terminal table, ``tfbook compare``, the feedback pages and Gradescope all
    use it; ``as_html`` escapes each part for a page."""
    get = result.get if isinstance(result, dict) else lambda key: getattr(result, key, None)
    text = (lambda value: html.escape(str(value))) if as_html else str
    lines = [text(get("message"))] if get("message") else []
    if get("expected") or get("got"):
        gap = " &nbsp; " if as_html else "    "
        lines.append(
            _("expected: {expected}{gap}got: {got}").format(
                expected=text(get("expected") or "-"), gap=gap, got=text(get("got") or "-")
            )
        )
    if hint and get("hint") and get("status") != "passed":
        lines.append(_("hint: {hint}").format(hint=text(get("hint"))))
    return lines


def format_chapter(chapter_id: str, results: list[Result], footer: str = "") -> str:
    """The table of every exercise of a chapter: what check_all() prints in the learner's kernel
    and what the grader writes under that cell."""
    return format_results(
        results, title=_("Chapter {chapter}, every exercise:").format(chapter=chapter_id), footer=footer
    )


def format_results(results: list[Result], title: str = "", footer: str = "") -> str:
    lines = [title] if title else []
    columns = max((len(f"{r.number} {r.exercise}") for r in results), default=10)
    marks = {status: _(mark) for status, mark in MARK.items()}
    mark_columns = max(width(mark) for mark in marks.values())
    hinted = set()  # an exercise's general hint is shown once, under its first failing check
    for r in results:
        name = f"{r.number} {r.exercise}".ljust(columns)
        lines.append(f"  {pad(marks[r.status], mark_columns)}  {name}  {r.earned}/{r.points}  {r.description}")
        if r.status == "passed":
            continue
        for d in result_detail(r, hint=(r.exercise, r.hint) not in hinted):
            wide = width(d) - len(d)  # Hangul takes two columns: fewer characters fit a line
            lines.extend(textwrap.wrap(d, 96 - min(wide, 40), initial_indent=" " * 10, subsequent_indent=" " * 12))
        if r.hint:
            hinted.add((r.exercise, r.hint))
    s = summary(results)
    lines.append(
        "  "
        + _("Score {earned}/{points} points; exercises passed {passed}/{exercises}").format(
            earned=s["earned"], points=s["points"], passed=len(s["exercises_passed"]), exercises=len(s["exercises"])
        )
    )
    if any(r.status == "failed" for r in results):
        chapter = results[0].check.split(".")[0]
        lines.append(
            "  "
            + _(
                "The random cases came from seed {seed}: python -m checks {chapter} --seed {seed} draws the same ones."
            ).format(seed=check_seed(), chapter=chapter)
        )
    if footer:
        lines.append(footer)
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def format_figure(name: str, value) -> str:
    """A measured figure as a reader expects it: accuracies and fractions as percentages,
    losses, seconds and rates as plain numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and any(w in name for w in ("accuracy", "fraction")) and 0 <= value <= 1:
        return f"{value:.2%}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"
