"""Results for people (a terminal table) and for programs (JSON)."""
from __future__ import annotations

import html
import json
import textwrap
from pathlib import Path

from checks.engine import Result, check_seed, summary

# "not checked": another exercise's mistake left nothing to judge; the check keeps its points
MARK = {"passed": "PASS", "failed": "FAIL", "not done": "TODO", "not checked": "SKIP"}


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
        lines.append(f"expected: {text(get('expected') or '-')}{gap}got: {text(get('got') or '-')}")
    if hint and get("hint") and get("status") != "passed":
        lines.append(f"hint: {text(get('hint'))}")
    return lines


def format_chapter(chapter_id: str, results: list[Result], footer: str = "") -> str:
    """The table of every exercise of a chapter: what check_all() prints in the learner's kernel
    and what the grader writes under that cell."""
    return format_results(results, title=f"Chapter {chapter_id}, every exercise:", footer=footer)


def format_results(results: list[Result], title: str = "", footer: str = "") -> str:
    lines = [title] if title else []
    width = max((len(f"{r.number} {r.exercise}") for r in results), default=10)
    hinted = set()  # an exercise's general hint is shown once, under its first failing check
    for r in results:
        name = f"{r.number} {r.exercise}".ljust(width)
        lines.append(f"  {MARK[r.status]}  {name}  {r.earned}/{r.points}  {r.description}")
        if r.status == "passed":
            continue
        for d in result_detail(r, hint=(r.exercise, r.hint) not in hinted):
            lines.extend(textwrap.wrap(d, 96, initial_indent=" " * 10, subsequent_indent=" " * 12))
        if r.hint:
            hinted.add((r.exercise, r.hint))
    s = summary(results)
    lines.append(f"  Score {s['earned']}/{s['points']} points; exercises passed "
                 f"{len(s['exercises_passed'])}/{len(s['exercises'])}")
    if any(r.status == "failed" for r in results):
        chapter = results[0].check.split(".")[0]
        lines.append(f"  The random cases came from seed {check_seed()}: "
                     f"python -m checks {chapter} --seed {check_seed()} draws the same ones.")
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
