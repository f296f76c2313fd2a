"""Instructor grading: a folder of submissions, each in a process of its own, against the solution.

``tfbook grade 03 submissions/ --jobs 2`` grades every ``*.ipynb`` and jupytext ``*.py`` in
the folder (a learner's .py/.ipynb pair counts once: the newer), plus the solution, and writes

* ``grades-ch03.csv``: one row per submission, one column per exercise (earned/possible, ``*``
  where the submission scored below the solution), the hidden checks' column when there are
  any, and why a row stopped or was rejected;
* ``grades/NAME.json``: the grade (``Grade.to_json``, plus notes), ``grades/NAME.results.json``
  in Gradescope's shape, ``grades/NAME.html``: the learner's feedback;
* ``report-ch03.html``: the class, submissions x exercises, each cell linking to the feedback.

Each submission is read and cleaned first (``booktools.submissions``: outputs stripped,
non-UTF-8 read as Windows-1252, a broken file rejected with the reason), copied to a temporary
folder, and graded there by ``python -m booktools.gradeworker`` in a session of its own with a
per-cell limit, a per-notebook limit and a memory cap. Whatever the notebook does (kill its
parent, exit, loop, allocate without bound), only its own row says so; nothing is written into
the submissions folder except the reports, and nothing into solutions/.
"""
from __future__ import annotations

import csv
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tfbook.manifest import load_book

SOLUTION = "(solution)"
DEFAULT_MEMORY_MB = 4096


def address_space_mb(memory_mb: int) -> int:
    """The kernel's address-space cap for a memory cap: TensorFlow reserves about twice the
    memory it uses (a chapter-03 kernel: 1.6 GB resident, 3.3 GB of address space)."""
    return max(4 * memory_mb, 8192)


@dataclass
class Job:
    name: str                       # the CSV row's name
    source: Path | None             # the file handed in
    stem: str
    notebook: Path | None = None    # the clean copy graded
    notes: list[str] = field(default_factory=list)
    payload: dict | None = None
    problem: str = ""               # why it could not be graded (rejected, killed, ...)
    seconds: float = 0.0


@dataclass
class Limits:
    cell_timeout: int | None = None
    notebook_timeout: int | None = None
    memory_mb: int = DEFAULT_MEMORY_MB

    @property
    def address_space_mb(self) -> int:
        return address_space_mb(self.memory_mb)


def notebook_limit(chapter_id: str, preset: str | None, limits: Limits) -> int:
    if limits.notebook_timeout:
        return limits.notebook_timeout
    from tfbook.manifest import active_preset_name, preset as preset_settings
    cell = limits.cell_timeout or int(preset_settings(chapter_id, preset or active_preset_name())
                                      .get("cell_timeout_s", 600))
    return max(600, 4 * cell)


class WarmWorkers:
    """Worker processes started ahead of need: while one grades, the next one imports
    TensorFlow and the chapter's checks, so that this cost is not added to each submission.
    Every process still grades exactly one submission, in a session of its own."""

    def __init__(self, chapter_id: str, total: int, spares: int, logs: Path):
        self.chapter_id, self.remaining, self.spares, self.logs = chapter_id, total, spares, logs
        self.idle: list[tuple[subprocess.Popen, Path]] = []
        self.started = 0
        self.lock = threading.Lock()
        logs.mkdir(parents=True, exist_ok=True)
        with self.lock:
            self._top_up()

    def _start(self) -> tuple[subprocess.Popen, Path]:
        self.started += 1
        log = self.logs / f"worker-{self.started:03d}.log"
        with open(log, "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "booktools.gradeworker", "--warm", self.chapter_id],
                                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                                    cwd=str(self.logs), start_new_session=True)
        return proc, log

    def _top_up(self) -> None:
        while len(self.idle) < min(self.spares, self.remaining):
            self.idle.append(self._start())

    def take(self) -> tuple[subprocess.Popen, Path]:
        with self.lock:
            worker = self.idle.pop(0) if self.idle else self._start()
            self.remaining -= 1
            self._top_up()
            return worker

    def close(self) -> None:
        with self.lock:
            for proc, _ in self.idle:
                try:
                    proc.stdin.close()
                    proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    _kill_group(proc.pid)
            self.idle = []


def run_worker(job: Job, chapter_id: str, preset: str | None, limits: Limits, hidden: Path | None,
               workdir: Path, needs_from: Path | None, pool: WarmWorkers | None = None) -> Job:
    """Grade ``job.notebook`` in ``python -m booktools.gradeworker``; fill payload or problem."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    out, pid_file, log = workdir / "result.json", workdir / "pids.json", workdir / "worker.log"
    spec = {"chapter": chapter_id, "notebook": str(job.notebook), "preset": preset,
            "cell_timeout": limits.cell_timeout, "memory_mb": limits.memory_mb,
            "address_space_mb": limits.address_space_mb, "hidden": str(hidden) if hidden else None,
            "needs_from": str(needs_from) if needs_from else None,
            "out": str(out), "pid_file": str(pid_file)}
    (workdir / "spec.json").write_text(json.dumps(spec))
    limit = notebook_limit(chapter_id, preset, limits)
    if pool is not None:
        proc, log = pool.take()
        try:
            proc.stdin.write(f"{workdir / 'spec.json'}\n".encode())
            proc.stdin.close()
        except OSError:
            pass  # it died while warming up: its exit status and log say why, below
    else:
        with open(log, "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "booktools.gradeworker", str(workdir / "spec.json")],
                                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=str(workdir), start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        proc.wait()
    _kill_group(proc.pid)
    _kill_recorded(pid_file)
    job.seconds = time.monotonic() - started
    if timed_out:
        job.problem = f"the notebook ran past the per-notebook limit of {limit} s and was stopped"
        return job
    if out.exists():
        payload = json.loads(out.read_text())
        if "error" in payload:
            job.problem = f"the grader failed on this notebook: {payload['error']}"
        else:
            job.payload = payload
        return job
    code = proc.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        job.problem = (f"the grading process was killed by {name} before it could report "
                       "(did a cell kill its parent process?); nothing could be scored")
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        job.problem = (f"the grading process exited with status {code} before it could report "
                       f"(did a cell call os._exit or sys.exit in the grader?)"
                       + (f": {tail[0][:200]}" if tail else ""))
    return job


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_recorded(pid_file: Path) -> None:
    """Kill the kernels the worker started (they live in sessions of their own) if still alive."""
    if not pid_file.exists():
        return
    import psutil
    try:
        seen = json.loads(pid_file.read_text())
    except ValueError:
        return
    for pid, created in seen.items():
        try:
            process = psutil.Process(int(pid))
            if abs(process.create_time() - float(created)) < 0.01:
                process.kill()
        except (psutil.Error, ValueError):
            continue


def failed_payload(chapter_id: str, reason: str, template: dict) -> dict:
    """Every check of ``template`` (a grade's JSON) failed with ``reason``."""
    from checks.engine import Result, results_json
    results = [Result(**{**r, "earned": 0, "status": "failed", "message": reason,
                         "expected": "", "got": ""}) for r in template.get("results", [])]
    return results_json(chapter_id, results, notebook="", preset=template.get("preset", ""),
                        seconds=0.0, stopped=reason, cell_errors=[], missing=[], figures={},
                        problem=reason)


def grade_jobs(jobs_list: list[Job], chapter_id: str, preset: str | None, limits: Limits,
               hidden: Path | None, jobs: int, tmp: Path, progress: bool = True) -> None:
    from booktools.build import REFERENCE_RUNS
    from tqdm import tqdm
    pending = [j for j in jobs_list if j.notebook is not None]
    pool = WarmWorkers(chapter_id, len(pending), max(1, jobs), tmp / "workers")
    bar = tqdm(total=len(pending), desc=f"grading ch{chapter_id}", unit="nb", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
            futures = {threads.submit(run_worker, j, chapter_id, preset, limits, hidden,
                                      tmp / f"work-{i:03d}", REFERENCE_RUNS, pool): j
                       for i, j in enumerate(pending)}
            for future in as_completed(futures):
                job = future.result()
                bar.update(1)
                bar.set_postfix_str(job.name[:30])
    finally:
        pool.close()
        bar.close()


def prepare_one(job: Job, tmp: Path, index: int) -> Job:
    """Read and clean ``job.source`` into ``tmp``; a rejection becomes ``job.problem``."""
    import nbformat
    from booktools.submissions import Rejected, load_submission
    try:
        nb, notes = load_submission(job.source)
    except Rejected as e:
        job.problem = f"rejected: {e}"
        return job
    except OSError as e:
        job.problem = f"rejected: the file could not be read ({e})"
        return job
    job.notes += notes
    copy = tmp / f"nb-{index:03d}" / f"{job.stem}.ipynb"
    copy.parent.mkdir(parents=True)
    nbformat.write(nb, copy)
    job.notebook = copy
    return job


def prepare(folder: Path, chapter, tmp: Path) -> list[Job]:
    """The solution and every submission, read, cleaned and copied into ``tmp``; rejections kept."""
    from booktools.submissions import find_submissions
    jobs = [Job(SOLUTION, chapter.notebook("solution"), "_solution")]
    jobs += [Job(s.name, s.path, s.path.stem, notes=list(s.notes)) for s in find_submissions(folder)]
    return [prepare_one(job, tmp, i) for i, job in enumerate(jobs)]


def grade_folder(folder: Path, chapter_id: str, jobs: int = 2, preset: str | None = None,
                 cell_timeout: int | None = None, notebook_timeout: int | None = None,
                 memory_mb: int = DEFAULT_MEMORY_MB, hidden: str | Path | None = None,
                 progress: bool = True) -> int:
    from booktools.hidden import hidden_dir
    folder = Path(folder)
    chapter = load_book().chapter(chapter_id)
    hidden_path = hidden_dir(hidden)
    if hidden_path is not None and not (hidden_path / f"ch{chapter.id}.py").exists():
        print(f"note: no hidden checks for chapter {chapter.id} in {hidden_path} (ch{chapter.id}.py)")
        hidden_path = None
    limits = Limits(cell_timeout, notebook_timeout, memory_mb)
    tmp = Path(tempfile.mkdtemp(prefix="tfbook-class-"))
    try:
        all_jobs = prepare(folder, chapter, tmp)
        if len(all_jobs) == 1:
            print(f"No .ipynb or .py submissions in {folder}")
            return 2
        print(f"Grading {len(all_jobs) - 1} submissions of chapter {chapter.id} with {jobs} worker"
              f"{'s' if jobs != 1 else ''} (and the solution, for comparison); per cell "
              f"{cell_timeout or 'the preset'}'s limit, per notebook {notebook_limit(chapter.id, preset, limits)} s, "
              f"memory {limits.memory_mb:,} MB per kernel"
              + (f"; hidden checks from {hidden_path}" if hidden_path else "") + " ...", flush=True)
        grade_jobs(all_jobs, chapter.id, preset, limits, hidden_path, jobs, tmp, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    reference_job, *graded = all_jobs
    if reference_job.payload is None:
        print(f"The solution itself could not be graded: {reference_job.problem}")
        return 1
    write_reports(folder, chapter, reference_job, graded)
    return 0


def _by_exercise(payload: dict) -> dict[str, tuple[int, int]]:
    return {e: (row["earned"], row["points"]) for e, row in payload["by_exercise"].items()}


def result_html(r: dict) -> str:
    """One check result for a page: its description, a hidden-check mark, and what the learner
    reads (message, expected/got, hint) - shared by the feedback pages and `tfbook compare`."""
    from booktools.hidden import is_hidden
    e = html.escape
    detail = [e(r["message"])] if r.get("message") else []
    if r.get("expected") or r.get("got"):
        detail.append(f"expected: {e(r.get('expected') or '-')} &nbsp; got: {e(r.get('got') or '-')}")
    if r.get("hint") and r["status"] != "passed":
        detail.append(f"hint: {e(r['hint'])}")
    mark = " <span class='hidden-mark'>[hidden check]</span>" if is_hidden(r["check"]) else ""
    return f"{e(r['description'])}{mark}<div class='msg'>{'<br>'.join(detail)}</div>"


def hidden_score(payload: dict) -> tuple[int, int]:
    from booktools.hidden import is_hidden
    rows = [r for r in payload.get("results", []) if is_hidden(r["check"])]
    return sum(r["earned"] for r in rows), sum(r["points"] for r in rows)


def row_problem(job: Job) -> str:
    payload = job.payload or {}
    parts = [x for x in dict.fromkeys([job.problem, payload.get("problem", ""), payload.get("stopped", "")]) if x]
    return "; ".join(x for x in parts if not any(x != y and x in y for y in parts))


def write_reports(folder: Path, chapter, reference_job: Job, graded: list[Job]) -> None:
    from booktools.gradescope import results_json as gradescope_json
    from checks.report import write_json
    reference = reference_job.payload
    ref_scores = _by_exercise(reference)
    exercises = list(ref_scores)
    hidden_points = hidden_score(reference)[1]
    out_dir = folder / "grades"
    out_dir.mkdir(exist_ok=True)
    csv_path = folder / f"grades-ch{chapter.id}.csv"
    write_json(out_dir / "_solution.json", {**reference, "notes": reference_job.notes})
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "earned", "points", *exercises,
                         *(["hidden"] if hidden_points else []), "problem", "notes"])
        writer.writerow([SOLUTION, reference["earned"], reference["points"],
                         *[f"{e}/{p}" for e, p in ref_scores.values()],
                         *([f"{hidden_score(reference)[0]}/{hidden_points}"] if hidden_points else []),
                         row_problem(reference_job), "; ".join(reference_job.notes)])
        for job in graded:
            if job.payload is None:
                job.payload = failed_payload(chapter.id, job.problem, reference)
            payload = {**job.payload, "submission": job.name, "notes": job.notes}
            if job.problem:
                payload["problem"] = job.problem
            job.payload = payload
            write_json(out_dir / f"{job.stem}.json", payload)
            write_json(out_dir / f"{job.stem}.results.json", gradescope_json(payload, job.notes))
            (out_dir / f"{job.stem}.html").write_text(feedback_html(chapter, payload))
            scores = _by_exercise(payload)
            cells = []
            for exercise in exercises:
                earned, points = scores.get(exercise, (0, ref_scores[exercise][1]))
                cells.append(f"{earned}/{points}" + ("*" if earned < ref_scores[exercise][0] else ""))
            hidden_cells = []
            if hidden_points:
                h_earned, h_points = hidden_score(payload)
                hidden_cells = [f"{h_earned}/{h_points or hidden_points}"]
            writer.writerow([job.name, payload["earned"], payload["points"], *cells, *hidden_cells,
                             row_problem(job), "; ".join(job.notes)])
            problem = row_problem(job)
            print(f"  {job.name}: {payload['earned']}/{payload['points']}"
                  + (f"  ({problem[:120]})" if problem else ""))
    report = folder / f"report-ch{chapter.id}.html"
    report.write_text(class_html(chapter, reference_job, graded, exercises))
    print(f"wrote {csv_path}, {report} and {out_dir}/ (NAME.json, NAME.results.json for "
          "Gradescope, NAME.html feedback)")


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
"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def _anchor(exercise: str) -> str:
    return f"ex-{exercise}"


def feedback_html(chapter, payload: dict) -> str:
    """One submission's feedback: every check, grouped by exercise, with the learner's messages."""
    e = html.escape
    parts = [f"<p>Score <b>{payload['earned']}/{payload['points']}</b> (preset {e(str(payload.get('preset')))})</p>"]
    for key in ("problem", "stopped"):
        if payload.get(key):
            parts.append(f"<p class='problem'>{e(payload[key])}</p>")
    for note in payload.get("notes", []):
        parts.append(f"<p class='msg'>note: {e(note)}</p>")
    for error in payload.get("cell_errors", []):
        parts.append(f"<p class='msg'>cell error: {e(error)}</p>")
    current = None
    rows = []
    for r in payload.get("results", []):
        if r["exercise"] != current:
            current = r["exercise"]
            row = payload["by_exercise"].get(current, {})
            rows.append(f"<tr id='{_anchor(current)}'><th colspan='3'>Exercise {e(r['number'])}: "
                        f"{e(current)} ({row.get('earned', 0)}/{row.get('points', 0)})</th></tr>")
        cls = "full" if r["status"] == "passed" else "zero"
        rows.append(f"<tr><td class='{cls}'>{e(r['status'])}</td><td class='num'>{r['earned']}/{r['points']}</td>"
                    f"<td>{result_html(r)}</td></tr>")
    parts.append("<table>" + "\n".join(rows) + "</table>")
    name = payload.get("submission", "")
    return _page(f"Chapter {chapter.id}: {name}", "\n".join(parts))


def class_html(chapter, reference_job: Job, graded: list[Job], exercises: list[str]) -> str:
    e = html.escape
    reference = reference_job.payload
    ref = reference["by_exercise"]
    head = "".join(f"<th>{e(ref[x]['number'])} {e(x)}</th>" for x in exercises)
    hidden_points = hidden_score(reference)[1]
    rows = [f"<tr><th>submission</th><th>score</th>{head}"
            + ("<th>hidden checks</th>" if hidden_points else "") + "<th>problem</th></tr>"]
    sol_cells = "".join(f"<td class='num'>{ref[x]['earned']}/{ref[x]['points']}</td>" for x in exercises)
    rows.append(f"<tr><td>{SOLUTION}</td><td class='num'>{reference['earned']}/{reference['points']}</td>{sol_cells}"
                + (f"<td class='num'>{hidden_score(reference)[0]}/{hidden_points}</td>" if hidden_points else "")
                + "<td></td></tr>")
    for job in graded:
        payload = job.payload
        link = f"grades/{e(job.stem)}.html"
        cells = []
        for x in exercises:
            row = payload["by_exercise"].get(x, {"earned": 0, "points": ref[x]["points"]})
            cls = "full" if row["earned"] >= row["points"] else ("part" if row["earned"] else "zero")
            cells.append(f"<td class='{cls} num'><a href='{link}#{_anchor(x)}'>{row['earned']}/{row['points']}</a></td>")
        hidden_cell = ""
        if hidden_points:
            h_earned, h_points = hidden_score(payload)
            hidden_cell = f"<td class='num'>{h_earned}/{h_points or hidden_points}</td>"
        rows.append(f"<tr><td><a href='{link}'>{e(job.name)}</a></td>"
                    f"<td class='num'>{payload['earned']}/{payload['points']}</td>{''.join(cells)}{hidden_cell}"
                    f"<td class='problem'>{e(row_problem(job))}</td></tr>")
    legend = ("<p class='msg'>Each cell links to that submission's feedback for the exercise. "
              + ("<span class='hidden-mark'>Hidden checks</span> are instructor-only checks, "
                 "not in the learners' repository. " if hidden_points else "")
              + "</p>")
    return _page(f"Chapter {chapter.id}: {chapter.title}: class report",
                 legend + "<table>" + "\n".join(rows) + "</table>")
