"""What class grading (booktools/grading.py) writes, row by row as submissions are graded:
``grades-chNN.csv`` (``ClassReport``); each submission's ``grades/NAME.json``,
``grades/NAME.results.json`` (Gradescope's shape) and ``grades/NAME.html`` feedback
(``feedback_html``); the class page ``report-chNN.html`` (``class_html``); and each row's console
line (``row_line``). A failure on the grader's side is labelled "grader problem: ..." in the
problem column (``row_problem``), never charged to the learner. ``result_html`` and ``STYLE``
are shared with `tfbook compare`.
"""

from __future__ import annotations

import csv
import html
import textwrap
from pathlib import Path

from booktools.jobs import SOLUTION, Job, failed_payload

GRADER_PROBLEM = "grader problem: "


# --- a row: its scores, its problem, its console line ------------------------------------


def _by_exercise(payload: dict) -> dict[str, tuple[int, int]]:
    return {e: (row["earned"], row["points"]) for e, row in payload["by_exercise"].items()}


def result_html(r: dict) -> str:
    """One check result for a page: its description, a hidden-check mark, and what the learner
    reads (message, expected/got, hint) - shared by the feedback pages and `tfbook compare`."""
    from booktools.hidden import is_hidden
    from checks.report import result_detail
    from tfbook.i18n import _

    hidden = html.escape(_("[hidden check]"))
    mark = f" <span class='hidden-mark'>{hidden}</span>" if is_hidden(r["check"]) else ""
    return f"{html.escape(r['description'])}{mark}<div class='msg'>{'<br>'.join(result_detail(r, as_html=True))}</div>"


def hidden_score(payload: dict) -> tuple[int, int]:
    from booktools.hidden import is_hidden

    rows = [r for r in payload.get("results", []) if is_hidden(r["check"])]
    return sum(r["earned"] for r in rows), sum(r["points"] for r in rows)


def in_english(payload: dict, key: str):
    """A grade's ``stopped`` or ``missing`` in English, for the instructor's CSV and class
    report, whatever language the learner's notebook (and so the grade) is in."""
    english = payload.get("english") or {}
    return english[key] if key in english else payload.get(key)


def grader_problem(job: Job) -> str:
    """What went wrong on the grader's side for this row: the grader failed, MNIST could not be
    loaded in the kernel, or what the chapter needs was missing ('' when nothing)."""
    payload = job.payload or {}
    parts = [job.grader] if job.grader else []
    data = [e for e in payload.get("cell_errors", []) if "MnistUnavailable" in e]
    if data:
        parts.append(f"MNIST could not be loaded in the grading kernel ({data[0]})")
    if in_english(payload, "missing"):
        parts.append("what the chapter needs was missing: " + "; ".join(in_english(payload, "missing")))
    return "; ".join(parts)


def row_problem(job: Job) -> str:
    """The row's problem column: the grader's problem first, labelled "grader problem: ...", then
    the learner's (why the row stopped or was rejected), each said once.

    The same text again when the payload already holds it: ``ClassReport.add`` stores this as the
    payload's ``problem`` (the feedback page and the JSON say it), a job that could not be graded
    has a failed payload whose ``problem`` and ``stopped`` are the labelled grader problem, and the
    CSV, the class page and the console line ask again. So the labelled grader problem found in
    the payload is the grader's, taken out, and never read as the learner's."""
    payload = job.payload or {}
    grader = grader_problem(job)
    labelled = GRADER_PROBLEM + grader if grader else ""

    def learners(text: str) -> str:
        if labelled and text == labelled:
            return ""
        if labelled and text.startswith(labelled + "; "):
            return text[len(labelled) + 2 :]
        return text

    raw = [job.problem, payload.get("problem", ""), in_english(payload, "stopped") or ""]
    parts = [x for x in dict.fromkeys(learners(x) for x in raw) if x]
    learner = "; ".join(x for x in parts if not any(x != y and x in y for y in parts) and x not in grader)
    if grader:  # first, and said to be the grader's, so that nobody reads it as the learner's
        return GRADER_PROBLEM + grader + (f"; {learner}" if learner else "")
    return learner


def row_line(job: Job, width: int = 100) -> str:
    """The console line of one graded row: the whole problem, wrapped, never cut."""
    payload = job.payload
    line = f"  {job.name}: {payload['earned']}/{payload['points']}"
    problem = row_problem(job)
    if problem:
        line = textwrap.fill(
            f"{line}  ({problem})", width, subsequent_indent="      ", break_long_words=False, break_on_hyphens=False
        )
    return line


# --- the CSV -----------------------------------------------------------------------------


class ClassReport:
    """The class's reports, written row by row as submissions are graded."""

    def __init__(self, folder: Path, chapter, reference_job: Job, warning: str, restored: list[Job]):
        from checks.report import write_json

        self.folder, self.chapter, self.reference_job, self.warning = folder, chapter, reference_job, warning
        self.reference = reference_job.payload
        self.ref_scores = _by_exercise(self.reference)
        self.exercises = list(self.ref_scores)
        self.hidden_points = hidden_score(self.reference)[1]
        self.out_dir = folder / "grades"
        self.out_dir.mkdir(exist_ok=True)
        self.csv_path = folder / f"grades-ch{chapter.id}.csv"
        self.report_path = folder / f"report-ch{chapter.id}.html"
        if warning:
            reference_job.problem = f"WARNING: {warning}"
        write_json(
            self.out_dir / "_solution.json",
            {**self.reference, "notes": reference_job.notes, **({"warning": warning} if warning else {})},
        )
        self.rows: list[Job] = []
        self._write_csv([])
        for job in restored:
            self.rows.append(job)
            self._append_csv(job)

    # CSV
    def _header(self) -> list[str]:
        return [
            "submission",
            "earned",
            "points",
            *self.exercises,
            *(["hidden"] if self.hidden_points else []),
            "problem",
            "notes",
        ]

    def _csv_row(self, job: Job) -> list:
        payload = job.payload
        scores = _by_exercise(payload)
        cells = []
        for exercise in self.exercises:
            earned, points = scores.get(exercise, (0, self.ref_scores[exercise][1]))
            cells.append(
                f"{earned}/{points}"
                + ("*" if job is not self.reference_job and earned < self.ref_scores[exercise][0] else "")
            )
        hidden_cells = []
        if self.hidden_points:
            h_earned, h_points = hidden_score(payload)
            hidden_cells = [f"{h_earned}/{h_points or self.hidden_points}"]
        return [
            job.name,
            payload["earned"],
            payload["points"],
            *cells,
            *hidden_cells,
            row_problem(job),
            "; ".join(job.notes),
        ]

    def _write_csv(self, jobs: list[Job]) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self._header())
            writer.writerow(self._csv_row(self.reference_job))
            writer.writerows(self._csv_row(job) for job in jobs)
        tmp.replace(self.csv_path)

    def _append_csv(self, job: Job) -> None:
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow(self._csv_row(job))
            f.flush()

    def add(self, job: Job) -> None:
        """Write one graded (or rejected) submission's files and its CSV row, now."""
        from booktools.gradescope import results_json as gradescope_json
        from checks.report import write_json

        if job.payload is None:
            reason = (GRADER_PROBLEM + job.grader) if job.grader else job.problem
            job.payload = failed_payload(self.chapter.id, reason, self.reference, job.scored)
        payload = {**job.payload, "submission": job.name, "notes": job.notes}
        if job.problem:
            payload["problem"] = job.problem
        if grader_problem(job):
            payload["problem"] = row_problem(job)
        if self.warning:
            payload["warning"] = self.warning
        job.payload = payload
        write_json(self.out_dir / f"{job.stem}.json", payload)
        write_json(self.out_dir / f"{job.stem}.results.json", gradescope_json(payload, job.notes))
        (self.out_dir / f"{job.stem}.html").write_text(feedback_html(self.chapter, payload))
        self._append_csv(job)
        self.rows.append(job)
        print(row_line(job), flush=True)

    def finish(self) -> None:
        """The CSV in submission order, and the class page."""
        self.rows.sort(key=lambda j: j.name.lower())
        self._write_csv(self.rows)
        self.report_path.write_text(
            class_html(self.chapter, self.reference_job, self.rows, self.exercises, self.warning)
        )
        print(
            f"wrote {self.csv_path}, {self.report_path} and {self.out_dir}/ (NAME.json, NAME.results.json "
            "for Gradescope, NAME.html feedback)"
        )
        if self.warning:
            print(f"WARNING: {self.warning}")


# --- HTML --------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.full { background: #e6f4e6; } td.part { background: #fff4d6; } td.zero { background: #fbe3e3; }
td.num { text-align: right; }
.hidden-mark { font-size: 80%; color: #7a3e9d; font-weight: bold; }
.msg { color: #444; font-size: 90%; } .problem { color: #a00; }
.warning { background: #fff4d6; border: 1px solid #e0b000; padding: 0.5em 1em; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #e4e4e4; }
tfoot td { background: #f3f3f3; font-size: 90%; }
"""

# Sorting the class table by a column: click its heading (again: the other way). Scores sort by
# what was earned; the solution's row stays on top and the summary stays at the bottom.
SORT_SCRIPT = """
<script>
document.querySelectorAll("table.sortable").forEach(function (table) {
  var body = table.tBodies[0];
  table.tHead.querySelectorAll("th").forEach(function (th, column) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var up = th.dataset.dir !== "up";
      th.dataset.dir = up ? "up" : "down";
      var key = function (row) {
        var text = row.cells[column].textContent.trim();
        var number = parseFloat(text);
        return isNaN(number) ? text.toLowerCase() : number;
      };
      var rows = Array.prototype.slice.call(body.rows, 1);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
</script>
"""


def _page(title: str, body: str, script: str = "", language: str = "en") -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='{language}'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n{script}</body></html>\n"
    )


def _anchor(exercise: str) -> str:
    return f"ex-{exercise}"


def _warning_html(warning: str) -> str:
    return f"<p class='warning'><b>Warning:</b> {html.escape(warning)}</p>" if warning else ""


def feedback_html(chapter, payload: dict) -> str:
    """One submission's feedback: every check, grouped by exercise, with the learner's messages,
    in the language of the learner's notebook (the grade's ``language``; tfbook/i18n.py)."""
    from tfbook.i18n import language

    with language(payload.get("language")) as code:
        return _feedback_html(chapter, payload, code)


def _feedback_html(chapter, payload: dict, code: str) -> str:
    from checks.report import status_text
    from tfbook.i18n import _

    e = html.escape
    parts = [
        _warning_html(payload.get("warning", "")),
        "<p>"
        + _("Score {score} (preset {preset})").format(
            score=f"<b>{payload['earned']}/{payload['points']}</b>", preset=e(str(payload.get("preset")))
        )
        + "</p>",
    ]
    for key in ("problem", "stopped"):
        if payload.get(key) and not (key == "stopped" and in_english(payload, key) in payload.get("problem", "")):
            parts.append(f"<p class='problem'>{e(payload[key])}</p>")
    for note in payload.get("notes", []):
        note = _("note: {note}").format(note=note.removeprefix("note: "))
        parts.append(f"<p class='msg'>{e(note)}</p>")
    for error in payload.get("cell_errors", []):
        error = _("cell error: {error}").format(error=error)
        parts.append(f"<p class='msg'>{e(error)}</p>")
    current = None
    rows = []
    for r in payload.get("results", []):
        if r["exercise"] != current:
            current = r["exercise"]
            row = payload["by_exercise"].get(current, {})
            rows.append(
                f"<tr id='{_anchor(current)}'><th colspan='3'>"
                + e(
                    _("Exercise {number}: {name} ({earned}/{points})").format(
                        number=r["number"], name=current, earned=row.get("earned", 0), points=row.get("points", 0)
                    )
                )
                + "</th></tr>"
            )
        cls = "full" if r["status"] in ("passed", "not checked") else "zero"
        rows.append(
            f"<tr><td class='{cls}'>{e(status_text(r['status']))}</td><td class='num'>{r['earned']}/{r['points']}</td>"
            f"<td>{result_html(r)}</td></tr>"
        )
    parts.append("<table>" + "\n".join(rows) + "</table>")
    name = payload.get("submission", "")
    return _page(
        _("Chapter {chapter}: {name}").format(chapter=chapter.id, name=name),
        "\n".join(p for p in parts if p),
        language=code,
    )


def exercise_summary(graded: list[Job], exercise: str, points: int) -> tuple[float, int]:
    """(mean points earned, submissions with full marks) for one exercise over the class."""
    earned = [job.payload["by_exercise"].get(exercise, {"earned": 0})["earned"] for job in graded]
    if not earned:
        return 0.0, 0
    return sum(earned) / len(earned), sum(x >= points for x in earned)


def class_html(chapter, reference_job: Job, graded: list[Job], exercises: list[str], warning: str = "") -> str:
    e = html.escape
    reference = reference_job.payload
    ref = reference["by_exercise"]
    head = "".join(f"<th>{e(ref[x]['number'])} {e(x)}</th>" for x in exercises)
    hidden_points = hidden_score(reference)[1]
    header = (
        f"<thead><tr><th>submission</th><th>score</th>{head}"
        + ("<th>hidden checks</th>" if hidden_points else "")
        + "<th>problem</th><th>notes</th></tr></thead>"
    )
    sol_cells = "".join(f"<td class='num'>{ref[x]['earned']}/{ref[x]['points']}</td>" for x in exercises)
    rows = [
        f"<tr><td>{SOLUTION}</td><td class='num'>{reference['earned']}/{reference['points']}</td>{sol_cells}"
        + (f"<td class='num'>{hidden_score(reference)[0]}/{hidden_points}</td>" if hidden_points else "")
        + f"<td class='problem'>{e(row_problem(reference_job))}</td>"
        + f"<td class='msg'>{e('; '.join(reference_job.notes))}</td></tr>"
    ]
    for job in graded:
        payload = job.payload
        link = f"grades/{e(job.stem)}.html"
        cells = []
        for x in exercises:
            row = payload["by_exercise"].get(x, {"earned": 0, "points": ref[x]["points"]})
            cls = "full" if row["earned"] >= row["points"] else ("part" if row["earned"] else "zero")
            cells.append(
                f"<td class='{cls} num'><a href='{link}#{_anchor(x)}'>{row['earned']}/{row['points']}</a></td>"
            )
        hidden_cell = ""
        if hidden_points:
            h_earned, h_points = hidden_score(payload)
            hidden_cell = f"<td class='num'>{h_earned}/{h_points or hidden_points}</td>"
        rows.append(
            f"<tr><td><a href='{link}'>{e(job.name)}</a></td>"
            f"<td class='num'>{payload['earned']}/{payload['points']}</td>{''.join(cells)}{hidden_cell}"
            f"<td class='problem'>{e(row_problem(job))}</td>"
            f"<td class='msg'>{e('; '.join(n.removeprefix('note: ') for n in job.notes))}</td></tr>"
        )
    n = len(graded)
    totals = [job.payload["earned"] for job in graded]
    summary = [
        f"<td>class of {n}: mean, and how many have full marks</td>"
        f"<td class='num'>{(sum(totals) / n if n else 0):.1f}/{reference['points']}<br>"
        f"{sum(t >= reference['points'] for t in totals)}/{n}</td>"
    ]
    for x in exercises:
        mean, passed = exercise_summary(graded, x, ref[x]["points"])
        summary.append(f"<td class='num'>{mean:.1f}/{ref[x]['points']}<br>{passed}/{n} passed</td>")
    summary.append("<td></td>" * ((1 if hidden_points else 0) + 2))
    footer = "<tfoot><tr>" + "".join(summary) + "</tr></tfoot>"
    legend = (
        "<p class='msg'>Each cell links to that submission's feedback for the exercise; click a "
        "column's heading to sort by it. The last row is the class: the mean score and how many "
        "submissions passed (full marks). "
        + (
            "<span class='hidden-mark'>Hidden checks</span> are instructor-only checks, "
            "not in the learners' repository. "
            if hidden_points
            else ""
        )
        + "</p>"
    )
    table = f"<table class='sortable'>{header}<tbody>" + "\n".join(rows) + f"</tbody>{footer}</table>"
    return _page(
        f"Chapter {chapter.id}: {chapter.title}: class report", _warning_html(warning) + legend + table, SORT_SCRIPT
    )
