"""Instructor grading: a folder of submissions, each in a process of its own, against the solution.

``tfbook grade 03 submissions/ --jobs 2`` grades every ``*.ipynb`` and jupytext ``*.py`` in
the folder (a learner's .py/.ipynb pair counts once: the newer), and every subfolder as one
submission named by the folder (an LMS export), against the solution, and writes

* ``grades-ch03.csv``: one row per submission, one column per exercise (earned/possible, ``*``
  where the submission scored below the solution), the hidden checks' column when there are
  any, and why a row stopped or was rejected;
* ``grades/NAME.json``: the grade (``Grade.to_json``, plus notes), ``grades/NAME.results.json``
  in Gradescope's shape, ``grades/NAME.html``: the learner's feedback;
* ``report-ch03.html``: the class, submissions x exercises, each cell linking to the feedback.

Before any submission, the grader makes sure of what the chapter needs (MNIST fetched and
verified here, once; another chapter's reference run from ``make book``) and refuses to start
without it, with the command that makes it. It grades the solution first: that tells whether
the solution reaches full marks under the preset (said before grading and on every report)
and how long one notebook takes (the estimate printed before the class starts).

Each row is written as soon as it is graded, so Ctrl-C (or SIGTERM) stops the queue and the
workers, writes a partial report, and ``--resume`` later grades only the rows still missing.
A failure on the grader's side (data, missing needs, the grader itself) is labelled
"grader problem: ..." in the problem column, never charged to the learner; ``--resume``
grades such rows again.

Each submission is read and cleaned first (``booktools.submissions``: outputs stripped,
non-UTF-8 read as Windows-1252, a broken file rejected with the reason), copied to a temporary
folder, and graded there by ``python -m booktools.gradeworker`` in a session of its own with a
per-cell limit, a per-notebook limit and a memory cap. Whatever the notebook does (kill its
parent, exit, loop, allocate without bound), only its own row says so, with the credit it
earned before; nothing is written into the submissions folder except the reports, and nothing
into solutions/. Every temporary file (the worker's, the kernel's) lives under one folder,
``$TMPDIR/tfbook-grading/``, removed at the end; one left by a grading that was killed is
removed the next time grading starts.

This module runs the grading in order; the parts live in ``booktools.jobs`` (the solution and
the submissions as jobs, and what is checked before grading starts), ``booktools.workers`` (the
worker processes, their limits and temporary files) and ``booktools.class_report`` (the CSV,
the pages and the console lines).
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sys
import textwrap
import threading
from pathlib import Path

# The workers' names are read from their module (workers.X), so that a stand-in put there (as
# tests/test_grading_class.py does for WarmWorkers and run_worker) is the one used here too.
from booktools import workers
from booktools.class_report import GRADER_PROBLEM, ClassReport
from booktools.jobs import Job, estimate_text, grader_needs, prepare, solution_warning
from tfbook.manifest import load_book

INTERRUPTED = 130  # the exit status of a program stopped by Ctrl-C


def grade_folder(
    folder: Path,
    chapter_id: str,
    jobs: int = 2,
    preset: str | None = None,
    cell_timeout: int | None = None,
    notebook_timeout: int | None = None,
    memory_mb: int = workers.DEFAULT_MEMORY_MB,
    hidden: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> int:
    from booktools.hidden import hidden_dir

    folder = Path(folder)
    chapter = load_book().chapter(chapter_id)
    hidden_path = hidden_dir(hidden)
    if hidden_path is not None and not (hidden_path / f"ch{chapter.id}.py").exists():
        print(f"note: no hidden checks for chapter {chapter.id} in {hidden_path} (ch{chapter.id}.py)")
        hidden_path = None
    problems = grader_needs(chapter)
    if problems:
        print(f"Cannot grade chapter {chapter.id} yet; nothing was graded:", file=sys.stderr)
        for problem in problems:
            print(textwrap.indent(problem, "  - ", lambda line: not line.startswith(" ")), file=sys.stderr)
        return 2
    limits = workers.Limits(cell_timeout, notebook_timeout, memory_mb)
    tmp = workers.scratch_dir("class")
    previous_sigterm = _sigterm_as_interrupt()
    report = None
    try:
        all_jobs = prepare(folder, chapter, tmp)
        if len(all_jobs) == 1:
            print(f"No .ipynb or .py submissions in {folder} (nor in its subfolders)")
            return 2
        reference_job, *graded = all_jobs
        done = restore_graded(folder, chapter, graded) if resume else set()
        todo = [j for j in graded if j.name not in done]
        per_cell = f"{cell_timeout} s" if cell_timeout else "the preset's limit"
        print(
            f"Grading {len(todo)} submissions of chapter {chapter.id} with {jobs} worker"
            f"{'s' if jobs != 1 else ''}"
            + (f" ({len(done)} already graded, kept)" if resume else "")
            + f"; per cell {per_cell}, per notebook "
            f"{workers.notebook_limit(chapter.id, preset, limits)} s, memory {limits.memory_mb:,} MB per kernel"
            + (f"; hidden checks from {hidden_path}" if hidden_path else "")
            + ". The solution first ...",
            flush=True,
        )
        control = workers.Control()
        pool = workers.WarmWorkers(
            chapter.id, 1 + sum(j.notebook is not None for j in todo), max(1, jobs), tmp / "workers"
        )
        try:
            workers.grade_jobs(
                [reference_job], chapter.id, preset, limits, hidden_path, jobs, tmp, False, pool=pool, control=control
            )
            if reference_job.payload is None:
                print(f"The solution itself could not be graded: {reference_job.grader or reference_job.problem}")
                return 1
            warning = solution_warning(reference_job.payload, preset)
            if warning:
                print(f"WARNING: {warning}", flush=True)
            print(
                estimate_text(sum(j.notebook is not None for j in todo), reference_job.seconds, jobs, chapter.id),
                flush=True,
            )
            report = ClassReport(folder, chapter, reference_job, warning, [j for j in graded if j.name in done])
            for job in todo:
                if job.notebook is None:  # rejected: its row now
                    report.add(job)
            workers.grade_jobs(
                todo,
                chapter.id,
                preset,
                limits,
                hidden_path,
                jobs,
                tmp,
                progress,
                on_done=report.add,
                pool=pool,
                control=control,
            )
        finally:
            pool.close(kill=control.stop.is_set())
    except KeyboardInterrupt:
        if report is None:
            print("\nInterrupted before the solution was graded: nothing was written.", file=sys.stderr)
            return INTERRUPTED
        report.finish()
        left = len(graded) - len(report.rows)
        print(
            f"\nInterrupted: {len(report.rows)} of {len(graded)} submissions graded and written, "
            f"{left} left. Grade the rest with: tfbook grade {chapter.id} {folder} --resume",
            file=sys.stderr,
        )
        return INTERRUPTED
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        shutil.rmtree(tmp, ignore_errors=True)
    report.finish()
    return 0


def _sigterm_as_interrupt():
    """SIGTERM stops grading as Ctrl-C does (the partial report is written, the workers end)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def restore_graded(folder: Path, chapter, graded: list[Job]) -> set[str]:
    """``--resume``: the submissions an earlier run graded (a row in the CSV and its JSON),
    their payloads restored; rows with a grader problem are graded again."""
    csv_path = folder / f"grades-ch{chapter.id}.csv"
    if not csv_path.exists():
        return set()
    with open(csv_path, newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    done = set()
    for job in graded:
        saved = folder / "grades" / f"{job.stem}.json"
        row = rows.get(job.name)
        if row is None or not saved.exists() or row.get("problem", "").startswith(GRADER_PROBLEM):
            continue
        try:
            payload = json.loads(saved.read_text())
        except ValueError:
            continue
        if payload.get("submission") != job.name:
            continue
        job.payload, job.notes = payload, payload.get("notes", job.notes)
        done.add(job.name)
    return done
