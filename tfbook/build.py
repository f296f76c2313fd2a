"""`make book`: execute every ready chapter's solution, grade it, write build/, print a table.

Chapters run in book.toml's order in the real ``runs/`` folder, because later chapters use
what earlier ones produce (chapter 04 restores chapter 03's checkpoint).
"""
from __future__ import annotations

import json
import sys
import time

import nbformat

from tfbook.manifest import ROOT, active_preset_name, load_book
from tfbook.paths import runs_root

BUILD = ROOT / "build"


def _figure(value) -> str:
    if isinstance(value, float):
        return f"{value:.2%}" if 0 <= value <= 1 else f"{value:,.1f}"
    return str(value)


def build_book(chapters: list[str] | None = None, preset: str | None = None) -> int:
    from checks.grader import grade_notebook
    from checks.engine import results_json
    from checks.report import format_results, write_json
    from tfbook.data import load_mnist

    book = load_book()
    preset = preset or active_preset_name()
    selected = [c for c in book.ready_chapters() if not chapters or c.id in [x.zfill(2) for x in chapters]]
    print(f"Building '{book.title}' with preset {preset!r}: chapters "
          + ", ".join(c.id for c in selected), flush=True)
    print(f"MNIST: {load_mnist().source}", flush=True)
    BUILD.mkdir(exist_ok=True)
    rows, ok = [], True
    for chapter in selected:
        notebook = chapter.notebook("solution")
        print(f"\n== {chapter.id} {chapter.title}: executing {notebook.relative_to(ROOT)} ...", flush=True)
        started = time.monotonic()
        grade = grade_notebook(chapter.id, notebook, preset=preset, keep_runs=runs_root())
        print(format_results(grade.results, footer=f"  {grade.stopped}" if grade.stopped else ""))
        for error in grade.cell_errors:
            print(f"  cell error: {error}")
        executed = BUILD / notebook.name
        nbformat.write(grade.executed, executed)
        html = _html(executed)
        write_json(BUILD / f"ch{chapter.id}-grade.json",
                   results_json(chapter.id, grade.results, preset=preset, seconds=round(grade.seconds, 1)))
        metrics_file = runs_root() / f"ch{chapter.id}" / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        produced = [p for p in chapter.produces if (ROOT / p).exists() or
                    (runs_root() / p.removeprefix("runs/")).exists()]
        passed = sum(1 for e in {r.exercise for r in grade.results}
                     if all(r.passed for r in grade.results if r.exercise == e))
        total = len({r.exercise for r in grade.results})
        chapter_ok = passed == total and not grade.cell_errors and len(produced) == len(chapter.produces)
        ok &= chapter_ok
        rows.append([chapter.id, chapter.title, f"{passed}/{total}",
                     ", ".join(f"{k} {_figure(metrics[k])}" for k in chapter.figures if k in metrics) or "-",
                     f"{len(produced)}/{len(chapter.produces)}: " + ", ".join(produced),
                     f"{time.monotonic() - started:.0f}s", "ok" if chapter_ok else "FAILED"])
        print(f"   wrote {executed.relative_to(ROOT)}" + (f" and {html.relative_to(ROOT)}" if html else ""))

    print("\n" + _table(["chapter", "title", "exercises", "key figures", "artifacts", "time", "status"], rows))
    planned = [c for c in book.chapters if not c.ready]
    if planned:
        print("planned (not built yet): " + ", ".join(f"{c.id} {c.title}" for c in planned))
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
