"""``tfbook compare NN SUBMISSION [--html FILE]``: a submission beside the solution.

Exercise by exercise: the submission's code beside the solution's with the differences
marked, that exercise's check results for both (with the learner-facing messages), and the
chapter's key figures (book.toml's ``figures``) side by side: what the grader measured, or
else what the notebook reported in its ``metrics.json``.

Exercises are matched by what they define, not by where the cells are. The solution's cells
under an ``Exercise N.M: name`` heading that hold a ``### BEGIN SOLUTION`` block give each
exercise its names (``reshape_input``, ``FLATTEN_SIZE``, ...); in the submission, the code of
an exercise is every cell that defines one of them at top level, wherever it is, however the
cells were split, merged or renamed. A submission that defines none of them falls back to the
cells after its own ``Exercise N.M`` heading; with neither, the exercise shows as missing.

Grades come from ``tfbook grade``'s ``grades/`` folder next to the submission when it is newer
than the submission (or ``--grades DIR``); otherwise both notebooks are graded now, each in
its own process, in parallel.
"""

from __future__ import annotations

import ast
import difflib
import html
import itertools
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from tfbook.manifest import load_book

WIDTH = 100
TOP_LEVEL_NAME = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.MULTILINE)


@dataclass
class ExerciseCode:
    number: str
    name: str
    names: list[str]  # what the solution's exercise defines
    cells: list[int] = field(default_factory=list)  # 1-based cell numbers in the notebook
    code: str = ""
    how: str = ""  # how the cells were found, or why none were

    @property
    def missing(self) -> bool:
        return not self.cells


def defined_names(source: str) -> list[str]:
    """Names a cell defines at top level (functions, classes, assignments); by regex if the
    cell does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [a or b for a, b in TOP_LEVEL_NAME.findall(source)]
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.append(sub.id)
    return names


def exercise_headings(nb) -> list[tuple[int, str, str]]:
    """(cell index, number, name) of every ``Exercise N.M: name`` markdown heading."""
    from booktools.release import EXERCISE_HEADING

    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for match in EXERCISE_HEADING.finditer(cell.source):
                found.append((index, match.group(1), match.group(2)))
    return found


def _cells_after(nb, index: int) -> list[int]:
    """The code cells after markdown cell ``index`` up to the next markdown or check cell."""
    cells = []
    for j in range(index + 1, len(nb.cells)):
        if nb.cells[j].cell_type == "markdown" or _is_check_cell(nb.cells[j].source):
            break
        if nb.cells[j].cell_type == "code":
            cells.append(j)
    return cells


def _is_check_cell(source: str) -> bool:
    from checks.grader import CHECK_CELL

    return bool(CHECK_CELL.search(source)) and len(source.strip().splitlines()) == 1


def _without_markers(code: str) -> str:
    """The code without its ``### BEGIN/END SOLUTION`` lines (the editions' markers)."""
    from booktools.release import BEGIN, END

    return "\n".join(line for line in code.splitlines() if line.strip() not in (BEGIN, END))


def solution_exercises(solution) -> dict[str, ExerciseCode]:
    from booktools.release import BEGIN

    out = {}
    for index, number, name in exercise_headings(solution):
        cells = [j for j in _cells_after(solution, index) if BEGIN in solution.cells[j].source]
        names = list(dict.fromkeys(n for j in cells for n in defined_names(solution.cells[j].source)))
        code = _without_markers("\n\n".join(solution.cells[j].source.strip() for j in cells))
        out[name] = ExerciseCode(number, name, names, [j + 1 for j in cells], code, "the solution")
    return out


def match_exercises(solution, submission) -> dict[str, ExerciseCode]:
    """For every exercise of the solution, the submission's code for it (see the module doc)."""
    reference = solution_exercises(solution)
    defines = {j: set(defined_names(c.source)) for j, c in enumerate(submission.cells) if c.cell_type == "code"}
    headings = {name: index for index, _, name in exercise_headings(submission)}
    numbers = {number: index for index, number, _ in exercise_headings(submission)}
    out = {}
    for name, ref in reference.items():
        wanted = set(ref.names)
        cells = [j for j, names in defines.items() if names & wanted]
        found = ExerciseCode(ref.number, name, ref.names)
        if cells:
            defined = sorted(wanted & set().union(*(defines[j] for j in cells)))
            absent = [n for n in ref.names if n not in defined]
            found.how = (
                "cells that define "
                + ", ".join(defined)
                + (f" (nothing defines {', '.join(absent)})" if absent else "")
            )
            counts = {n: sum(n in defines[j] for j in cells) for n in defined}
            repeated = [n for n, c in counts.items() if c > 1]
            if repeated:
                found.how += f"; {', '.join(repeated)} defined more than once: the last one runs"
        else:
            heading = headings.get(name, numbers.get(ref.number))
            if heading is not None:
                cells = _cells_after(submission, heading)
                found.how = (
                    (
                        f"no cell defines {', '.join(ref.names)}; the code cells after the "
                        f"submission's 'Exercise {ref.number}' heading"
                    )
                    if cells
                    else ""
                )
        if not cells:
            found.how = (
                f"no cell defines {', '.join(ref.names) or name}, and no code follows an "
                f"'Exercise {ref.number}' heading: the submission deleted this exercise"
            )
        found.cells = [j + 1 for j in cells]
        found.code = _without_markers("\n\n".join(submission.cells[j].source.strip() for j in cells))
        out[name] = found
    return out


# --- grades ------------------------------------------------------------------------------


def find_grades(submission: Path, grades: Path | None) -> tuple[dict, dict] | None:
    """(solution payload, submission payload) from a ``tfbook grade`` run, if up to date: the
    submission's own row, or its folder's row when it is in a learner's folder (an LMS export)."""
    import json
    from booktools.submissions import _safe

    candidates = [(Path(grades) if grades else submission.parent / "grades", submission.stem, None)]
    if not grades:
        folder = submission.parent
        candidates.append((folder.parent / "grades", _safe(folder.name), folder.name))
    for where, stem, row in candidates:
        mine, reference = where / f"{stem}.json", where / "_solution.json"
        if not (mine.exists() and reference.exists()) or mine.stat().st_mtime < submission.stat().st_mtime:
            continue
        payload = json.loads(mine.read_text())
        if row is not None and payload.get("submission") != row:
            continue
        return json.loads(reference.read_text()), payload
    return None


def grade_both(chapter, submission: Path, preset, timeout, hidden) -> tuple[dict, dict]:
    from booktools.jobs import SOLUTION, Job, failed_payload, prepare_one
    from booktools.workers import Limits, grade_jobs, scratch_dir

    tmp = scratch_dir("compare")
    try:
        jobs = [
            prepare_one(Job(SOLUTION, chapter.notebook("solution"), "_solution"), tmp, 0),
            prepare_one(Job(submission.name, submission, submission.stem), tmp, 1),
        ]
        grade_jobs(jobs, chapter.id, preset, Limits(cell_timeout=timeout), hidden, 2, tmp, progress=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    reference, mine = jobs
    if reference.payload is None:
        raise RuntimeError(f"the solution could not be graded: {reference.grader or reference.problem}")
    payload = mine.payload or failed_payload(chapter.id, mine.grader or mine.problem, reference.payload, mine.scored)
    return reference.payload, {**payload, "notes": mine.notes}


def the_graded_file(submission: Path) -> tuple[Path, str]:
    """The file of a .py/.ipynb pair that grading uses (the newer, when they differ), and a
    note when it is not the one named: its code and its grades then go together."""
    from checks.cli import pick_edited

    try:
        chosen, _ = pick_edited(submission)
    except Exception:  # the other file cannot be read: compare the one named
        return submission, ""
    if chosen == submission:
        return submission, ""
    return chosen, (
        f"{submission.name} and {chosen.name} differ and {chosen.name} is newer: comparing "
        f"{chosen.name}, the file `tfbook grade` grades (make them one with "
        f"`jupytext --sync {chosen}`)"
    )


def _note(text: str) -> str:
    return "note: " + text.removeprefix("note: ")


def figures(chapter, payload: dict) -> dict[str, str]:
    from checks.report import format_figure

    shown = {}
    unit = lambda key: " s" if key.endswith("_seconds") else ""
    for key in chapter.figures:
        for source, label in (("figures", "grader"), ("reported", "notebook")):
            if key in (payload.get(source) or {}):
                shown[key] = f"{format_figure(key, payload[source][key])}{unit(key)} ({label})"
                break
        else:
            shown[key] = "-"
    return shown


# --- terminal ----------------------------------------------------------------------------


def side_by_side(left: str, right: str, width: int = WIDTH) -> list[str]:
    """Two columns with a gutter: ' ' same, '|' changed, '<' only left, '>' only right."""
    col = (width - 3) // 2
    a, b = left.splitlines(), right.splitlines()
    rows = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        mark = {"equal": " ", "replace": "|", "delete": "<", "insert": ">"}[tag]
        for left_line, r in itertools.zip_longest(a[i1:i2], b[j1:j2]):
            line_mark = (
                mark if not (tag == "replace" and (left_line is None or r is None)) else ("<" if r is None else ">")
            )
            lw = _wrap(left_line, col)
            rw = _wrap(r, col)
            for k, (x, y) in enumerate(itertools.zip_longest(lw, rw, fillvalue="")):
                rows.append(f"{x:<{col}} {line_mark if k == 0 else ' '} {y}".rstrip())
    return rows


def _wrap(line: str | None, width: int) -> list[str]:
    if not line or not line.strip():
        return [""]
    line = line.expandtabs(4).rstrip()
    indent = " " * (min(len(line) - len(line.lstrip()), width // 2) + 4)  # continuation lines
    return textwrap.wrap(line, width, subsequent_indent=indent, drop_whitespace=False, replace_whitespace=False) or [""]


def _result_lines(name: str, ref: dict, mine: dict, width: int = WIDTH) -> list[str]:
    from booktools.hidden import is_hidden
    from checks.report import MARK, result_detail

    lines = []
    ref_by_check = {r["check"]: r for r in ref.get("results", []) if r["exercise"] == name}
    for r in (x for x in mine.get("results", []) if x["exercise"] == name):
        other = ref_by_check.get(r["check"])
        tail = f"  (solution {MARK[other['status']]})" if other else ""
        mark = " [hidden]" if is_hidden(r["check"]) else ""
        lines += textwrap.wrap(
            f"{MARK[r['status']]} {r['earned']}/{r['points']}{mark} {r['description']}{tail}",
            width - 2,
            initial_indent="  ",
            subsequent_indent="      ",
        )
        if r["status"] != "passed":
            for d in result_detail(r):
                lines += textwrap.wrap(d, width - 8, initial_indent=" " * 8, subsequent_indent=" " * 10)
    return lines


def render_text(
    chapter,
    submission: str,
    matched: dict[str, ExerciseCode],
    reference: dict[str, ExerciseCode],
    ref_grade: dict | None,
    grade: dict | None,
) -> str:
    out = []
    title = f"Chapter {chapter.id}: {submission} beside the solution"
    if grade and ref_grade:
        title += f"  (score {grade['earned']}/{grade['points']}; solution {ref_grade['earned']}/{ref_grade['points']})"
    out += [title, "=" * min(WIDTH, len(title))]
    if grade:
        for key in ("problem", "stopped"):
            if grade.get(key):
                out += textwrap.wrap(f"{key}: {grade[key]}", WIDTH)
        for note in grade.get("notes", []):
            out += textwrap.wrap(_note(note), WIDTH)
    if grade and ref_grade and chapter.figures:
        mine, theirs = figures(chapter, grade), figures(chapter, ref_grade)
        out.append(f"\n{'key figure':<24}{'solution':<28}submission")
        for key in chapter.figures:
            out.append(f"{key:<24}{theirs[key]:<28}{mine[key]}")
    for name, ref in reference.items():
        sub = matched[name]
        score = ""
        if grade and ref_grade:
            row = grade["by_exercise"].get(name, {"earned": 0, "points": 0})
            ref_row = ref_grade["by_exercise"].get(name, {"earned": 0, "points": 0})
            score = f"  {row['earned']}/{row['points']} (solution {ref_row['earned']}/{ref_row['points']})"
        out.append("")
        out.append(f"--- Exercise {ref.number}: {name}{score} ".ljust(WIDTH, "-"))
        where = f"cell{'s' if len(sub.cells) != 1 else ''} {', '.join(map(str, sub.cells))}: " if sub.cells else ""
        out += textwrap.wrap(("MISSING: " if sub.missing else "submission: ") + where + sub.how, WIDTH)
        if not sub.missing:
            col = (WIDTH - 3) // 2
            out.append(f"{'solution (cells ' + ', '.join(map(str, ref.cells)) + ')':<{col}}   submission")
            out += side_by_side(ref.code, sub.code)
        if grade and ref_grade:
            out += _result_lines(name, ref_grade, grade)
    return "\n".join(out) + "\n"


# --- HTML --------------------------------------------------------------------------------


def render_html(chapter, submission: str, matched, reference, ref_grade, grade) -> str:
    """The page; each check result (its status, message, expected/got and hint) in the language
    of the learner's notebook (the grade's ``language``), as on the feedback pages."""
    from tfbook.i18n import language

    with language((grade or {}).get("language")):
        return _render_html(chapter, submission, matched, reference, ref_grade, grade)


def _render_html(chapter, submission: str, matched, reference, ref_grade, grade) -> str:
    from booktools.class_report import STYLE, result_html
    from checks.report import status_text

    e = html.escape
    differ = difflib.HtmlDiff(tabsize=4, wrapcolumn=70)
    parts = []
    if grade and ref_grade:
        parts.append(
            f"<p>Score <b>{grade['earned']}/{grade['points']}</b>; the solution "
            f"{ref_grade['earned']}/{ref_grade['points']}.</p>"
        )
        for key in ("problem", "stopped"):
            if grade.get(key):
                parts.append(f"<p class='problem'>{e(grade[key])}</p>")
        for note in grade.get("notes", []):
            parts.append(f"<p class='msg'>{e(_note(note))}</p>")
        if chapter.figures:
            mine, theirs = figures(chapter, grade), figures(chapter, ref_grade)
            rows = "".join(
                f"<tr><td>{e(k)}</td><td>{e(theirs[k])}</td><td>{e(mine[k])}</td></tr>" for k in chapter.figures
            )
            parts.append(
                f"<h2>Key figures</h2><table><tr><th>figure</th><th>solution</th><th>submission</th></tr>{rows}</table>"
            )
    for name, ref in reference.items():
        sub = matched[name]
        score = ""
        if grade and ref_grade:
            row = grade["by_exercise"].get(name, {"earned": 0, "points": 0})
            ref_row = ref_grade["by_exercise"].get(name, {"earned": 0, "points": 0})
            score = f" ({row['earned']}/{row['points']}; solution {ref_row['earned']}/{ref_row['points']})"
        parts.append(f"<h2 id='ex-{e(name)}'>Exercise {e(ref.number)}: {e(name)}{e(score)}</h2>")
        where = f"cells {', '.join(map(str, sub.cells))}: " if sub.cells else ""
        parts.append(
            f"<p class='{'problem' if sub.missing else 'msg'}'>"
            f"{'MISSING: ' if sub.missing else ''}{e(where + sub.how)}</p>"
        )
        if not sub.missing:
            parts.append(
                differ.make_table(
                    ref.code.splitlines(),
                    sub.code.splitlines(),
                    "solution",
                    f"submission (cells {', '.join(map(str, sub.cells))})",
                )
            )
        if grade and ref_grade:
            ref_by_check = {r["check"]: r for r in ref_grade.get("results", [])}
            rows = []
            for r in (x for x in grade.get("results", []) if x["exercise"] == name):
                other = ref_by_check.get(r["check"])
                cls = "full" if r["status"] in ("passed", "not checked") else "zero"
                rows.append(
                    f"<tr><td class='{cls}'>{e(status_text(r['status']))} {r['earned']}/{r['points']}</td>"
                    f"<td>{e(status_text(other['status']) if other else '-')}</td><td>{result_html(r)}</td></tr>"
                )
            parts.append(
                "<table><tr><th>submission</th><th>solution</th><th>check</th></tr>" + "".join(rows) + "</table>"
            )
    style = STYLE + DIFF_STYLE
    title = f"Chapter {chapter.id}: {submission} beside the solution"
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{style}</style></head><body>\n<h1>{e(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


DIFF_STYLE = """
table.diff { font-family: ui-monospace, monospace; font-size: 85%; border: medium; }
table.diff td { border: none; padding: 0 4px; white-space: pre-wrap; }
.diff_header { background-color: #e0e0e0; } td.diff_header { text-align: right; }
.diff_next { background-color: #c0c0c0; }
.diff_add { background-color: #aaffaa; } .diff_chg { background-color: #ffff77; }
.diff_sub { background-color: #ffaaaa; }
"""


# --- the command -------------------------------------------------------------------------


def compare(
    chapter_id: str,
    submission: Path,
    *,
    preset=None,
    timeout=None,
    hidden=None,
    grades: Path | None = None,
    run: bool = True,
) -> tuple[str, str]:
    """(terminal text, HTML page) comparing ``submission`` with the chapter's solution."""
    from booktools.hidden import hidden_dir
    from booktools.submissions import load_submission

    chapter = load_book().chapter(chapter_id)
    submission, pair_note = the_graded_file(Path(submission))
    solution, _ = load_submission(chapter.notebook("solution"))
    mine, _ = load_submission(submission)
    reference = solution_exercises(solution)
    matched = match_exercises(solution, mine)
    ref_grade = grade = None
    if run:
        found = find_grades(submission, grades)
        if found is None:
            found = grade_both(chapter, submission, preset, timeout, hidden_dir(hidden))
        ref_grade, grade = found
    if pair_note:  # said once, whatever the grade's own notes say
        grade = {
            **(grade or {}),
            "notes": [pair_note] + [n for n in (grade or {}).get("notes", []) if "is newer" not in n],
        }
    return (
        render_text(chapter, submission.name, matched, reference, ref_grade, grade),
        render_html(chapter, submission.name, matched, reference, ref_grade, grade),
    )


def run_compare(args) -> int:
    from booktools.submissions import Rejected

    submission = Path(args.submission)
    if not submission.exists():
        print(f"error: {submission} does not exist", file=sys.stderr)
        return 2
    try:
        text, page = compare(
            args.chapter,
            submission,
            preset=args.preset,
            timeout=args.timeout,
            hidden=args.hidden,
            grades=Path(args.grades) if args.grades else None,
            run=not args.no_run,
        )
    except Rejected as e:
        print(f"error: {submission} cannot be read as a notebook: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.html:
        Path(args.html).write_text(page)
        print(f"wrote {args.html}")
    return 0
