"""`make book`: execute every ready chapter's solution, grade it, write build/, print a table.

The reference runs live in ``build/runs/``, apart from the learner's ``runs/`` (which holds only
what the learner's own notebooks made). Chapters run in dependency order (book.toml's
``needs``), because later chapters use what earlier ones produce: chapter 04 restores the
checkpoint chapter 03 trained.
"""

from __future__ import annotations

import json
import sys
import time

import nbformat

from tfbook.manifest import ROOT, active_preset_name, load_book

BUILD = ROOT / "build"
REFERENCE_RUNS = BUILD / "runs"


def dependency_order(chapters: list) -> list:
    """Chapters ordered so that each comes after the chapters that produce what it needs."""
    ordered, pending = [], list(chapters)
    while pending:
        made = {p for c in ordered for p in c.produces}
        wanted = {p for c in pending for p in c.produces}
        ready = [c for c in pending if all(n in made or n not in wanted for n in c.needs)]
        if not ready:  # a cycle: keep book.toml's order rather than loop
            ready = pending[:1]
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def build_book(chapters: list[str] | None = None, preset: str | None = None) -> int:
    from checks.grader import grade_notebook
    from checks.report import format_figure, format_results, write_json
    from tfbook.data import load_mnist

    book = load_book()
    preset = preset or active_preset_name()
    wanted = [x.zfill(2) for x in chapters or []]
    selected = dependency_order([c for c in book.ready_chapters() if not wanted or c.id in wanted])
    print(
        f"Building '{book.title}' with preset {preset!r}: chapters "
        + ", ".join(c.id for c in selected)
        + f"; reference runs in {REFERENCE_RUNS.relative_to(ROOT)}/",
        flush=True,
    )
    print(f"MNIST: {load_mnist().source}", flush=True)
    REFERENCE_RUNS.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for chapter in selected:
        notebook = chapter.notebook("solution")
        print(f"\n== {chapter.id} {chapter.title}: executing {notebook.relative_to(ROOT)} ...", flush=True)
        started = time.monotonic()
        grade = grade_notebook(
            chapter.id, notebook, preset=preset, keep_runs=REFERENCE_RUNS, needs_from=REFERENCE_RUNS, with_figures=True
        )
        print(format_results(grade.results, footer=f"  {grade.stopped}" if grade.stopped else ""))
        for message in grade.missing:
            print(f"  missing: {message}")
        for error in grade.cell_errors:
            print(f"  cell error: {error}")
        executed = BUILD / notebook.name
        nbformat.write(grade.executed, executed)
        html = _html(executed)
        payload = grade.to_json()
        write_json(BUILD / f"ch{chapter.id}-grade.json", payload)
        metrics_file = REFERENCE_RUNS / f"ch{chapter.id}" / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        metrics.update({k: v for k, v in grade.figures.items() if k not in metrics})
        produced = [p for p in chapter.produces if (REFERENCE_RUNS / p.removeprefix("runs/")).exists()]
        passed, total = len(payload["exercises_passed"]), len(payload["exercises"])
        chapter_ok = passed == total and not grade.cell_errors and len(produced) == len(chapter.produces)
        ok &= chapter_ok
        rows.append(
            [
                chapter.id,
                chapter.title,
                f"{passed}/{total}",
                ", ".join(f"{k} {format_figure(k, metrics[k])}" for k in chapter.figures if k in metrics) or "-",
                f"{len(produced)}/{len(chapter.produces)}",
                f"{time.monotonic() - started:.0f}s",
                "ok" if chapter_ok else "FAILED",
            ]
        )
        print(f"   wrote {executed.relative_to(ROOT)}" + (f" and {html.relative_to(ROOT)}" if html else ""))

    print("\n" + _table(["chapter", "title", "exercises", "key figures", "artifacts", "time", "status"], rows))
    planned = [c for c in book.chapters if not c.ready]
    if planned:
        print("planned (not built yet): " + ", ".join(f"{c.id} {c.title}" for c in planned))
    print(
        f"The reference runs (checkpoints, logs, metrics) are in {REFERENCE_RUNS.relative_to(ROOT)}/; "
        "your own notebooks write to runs/."
    )
    return 0 if ok else 1


def _html(notebook_path):
    try:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_filename(str(notebook_path))
    except Exception as e:  # an HTML rendering is a convenience; say why it is missing
        print(f"   (no HTML rendering: {type(e).__name__}: {e})", file=sys.stderr)
        return None
    html = notebook_path.with_suffix(".html")
    html.write_text(body)
    return html


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
