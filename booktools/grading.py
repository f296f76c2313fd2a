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
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tfbook.manifest import load_book

SOLUTION = "(solution)"
DEFAULT_MEMORY_MB = 4096
GRADER_PROBLEM = "grader problem: "
INTERRUPTED = 130  # the exit status of a program stopped by Ctrl-C


def address_space_mb(memory_mb: int) -> int:
    """The kernel's address-space cap for a memory cap: TensorFlow reserves about twice the
    memory it uses (a chapter-03 kernel: 1.6 GB resident, 3.3 GB of address space)."""
    return max(4 * memory_mb, 8192)


@dataclass
class Job:
    name: str  # the CSV row's name
    source: Path | None  # the file handed in
    stem: str
    notebook: Path | None = None  # the clean copy graded
    notes: list[str] = field(default_factory=list)
    payload: dict | None = None
    problem: str = ""  # why it could not be graded (rejected, killed, ...)
    seconds: float = 0.0
    grader: str = ""  # a failure on the grader's side, not the learner's
    scored: list[dict] = field(default_factory=list)  # results scored before a kill or timeout
    interrupted: bool = False  # stopped by Ctrl-C: not graded, no row


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

    cell = limits.cell_timeout or int(
        preset_settings(chapter_id, preset or active_preset_name()).get("cell_timeout_s", 600)
    )
    return max(600, 4 * cell)


# --- temporary files ---------------------------------------------------------------------


def scratch_root() -> Path:
    return Path(tempfile.gettempdir()) / "tfbook-grading"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(root: Path | None = None) -> list[Path]:
    """Remove the folders that gradings which no longer run left (their process was killed)."""
    root = root or scratch_root()
    removed = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        match = re.match(r"[a-z]+-(\d+)-", folder.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def scratch_dir(kind: str) -> Path:
    """A new folder for one grading's temporary files, under ``scratch_root()``; its name holds
    this process's id, so that the next grading removes it if this one is killed."""
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(root)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))


# --- workers -----------------------------------------------------------------------------


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
            proc = subprocess.Popen(
                [sys.executable, "-m", "booktools.gradeworker", "--warm", self.chapter_id],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE,
                cwd=str(self.logs),
                start_new_session=True,
                env=dict(os.environ, TMPDIR=str(self.logs)),
            )
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

    def close(self, kill: bool = False) -> None:
        """Let the idle workers go (their stdin closed, they exit); ``kill``: at once."""
        with self.lock:
            self.remaining = 0
            for proc, _ in self.idle:
                try:
                    if kill:
                        raise OSError
                    proc.stdin.close()
                    proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    _kill_group(proc.pid)
                    proc.wait()
            self.idle = []


class Control:
    """The worker processes running now, so that Ctrl-C can stop them all at once."""

    def __init__(self):
        self.stop = threading.Event()
        self.procs: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def started(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.add(proc)
            if self.stop.is_set():
                _kill_group(proc.pid)

    def finished(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.discard(proc)

    def stop_all(self) -> None:
        with self.lock:
            self.stop.set()
            for proc in self.procs:
                _kill_group(proc.pid)


def run_worker(
    job: Job,
    chapter_id: str,
    preset: str | None,
    limits: Limits,
    hidden: Path | None,
    workdir: Path,
    needs_from: Path | None,
    pool: WarmWorkers | None = None,
    control: Control | None = None,
) -> Job:
    """Grade ``job.notebook`` in ``python -m booktools.gradeworker``; fill payload or problem."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    out, pid_file, log = workdir / "result.json", workdir / "pids.json", workdir / "worker.log"
    partial = workdir / "partial.json"
    spec = {
        "chapter": chapter_id,
        "notebook": str(job.notebook),
        "preset": preset,
        "cell_timeout": limits.cell_timeout,
        "memory_mb": limits.memory_mb,
        "address_space_mb": limits.address_space_mb,
        "hidden": str(hidden) if hidden else None,
        "needs_from": str(needs_from) if needs_from else None,
        "out": str(out),
        "pid_file": str(pid_file),
        "partial": str(partial),
        "tmpdir": str(workdir / "tmp"),
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    limit = notebook_limit(chapter_id, preset, limits)
    if control is not None and control.stop.is_set():
        job.interrupted = True
        return job
    if pool is not None:
        proc, log = pool.take()
        try:
            proc.stdin.write(f"{workdir / 'spec.json'}\n".encode())
            proc.stdin.close()
        except OSError:
            pass  # it died while warming up: its exit status and log say why, below
    else:
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "booktools.gradeworker", str(workdir / "spec.json")],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(workdir),
                start_new_session=True,
            )
    if control is not None:
        control.started(proc)
    timed_out = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        proc.wait()
    finally:
        if control is not None:
            control.finished(proc)
    _kill_group(proc.pid)
    _kill_recorded(pid_file)
    job.seconds = time.monotonic() - started
    if control is not None and control.stop.is_set() and not out.exists():
        job.interrupted = True
        return job
    if partial.exists():  # what was scored before a kill or a timeout keeps its credit
        try:
            job.scored = json.loads(partial.read_text())["results"]
        except (OSError, ValueError, KeyError):
            job.scored = []
    if timed_out:
        job.problem = f"the notebook ran past the per-notebook limit of {limit} s and was stopped"
        return job
    if out.exists():
        payload = json.loads(out.read_text())
        if "error" in payload:
            job.grader = f"the grader failed on this notebook: {payload['error']}"
        else:
            job.payload = payload
        return job
    code = proc.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        job.problem = (
            f"the grading process was killed by {name} before it could finish "
            "(did a cell kill its parent process?); checks not scored by then earn nothing"
        )
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        job.problem = (
            f"the grading process exited with status {code} before it could report "
            f"(did a cell call os._exit or sys.exit in the grader?)" + (f": {tail[0][:200]}" if tail else "")
        )
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


def failed_payload(chapter_id: str, reason: str, template: dict, scored: list[dict] | None = None) -> dict:
    """Every check of ``template`` (a grade's JSON) failed with ``reason``, except those in
    ``scored`` (results scored before the grading stopped), which keep what they earned."""
    from checks.engine import Result, results_json

    kept = {r["check"]: r for r in scored or []}
    results = [
        Result(**kept[r["check"]])
        if r["check"] in kept
        else Result(**{**r, "earned": 0, "status": "failed", "message": reason, "expected": "", "got": ""})
        for r in template.get("results", [])
    ]
    return results_json(
        chapter_id,
        results,
        notebook="",
        preset=template.get("preset", ""),
        seconds=0.0,
        stopped=reason,
        cell_errors=[],
        missing=[],
        figures={},
        problem=reason,
    )


def grade_jobs(
    jobs_list: list[Job],
    chapter_id: str,
    preset: str | None,
    limits: Limits,
    hidden: Path | None,
    jobs: int,
    tmp: Path,
    progress: bool = True,
    on_done=None,
    pool: WarmWorkers | None = None,
    control: Control | None = None,
) -> None:
    """Grade every job that has a notebook, ``jobs`` at a time; ``on_done(job)`` as each ends.
    Ctrl-C stops the queue and kills the running workers, then raises KeyboardInterrupt."""
    from booktools.build import REFERENCE_RUNS
    from tqdm import tqdm

    pending = [j for j in jobs_list if j.notebook is not None]
    own_pool = pool is None
    pool = pool or WarmWorkers(chapter_id, len(pending), max(1, jobs), tmp / "workers")
    control = control or Control()
    bar = tqdm(
        total=len(pending),
        desc=f"grading ch{chapter_id}",
        unit="nb",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    threads = ThreadPoolExecutor(max_workers=max(1, jobs))
    first = len(list(tmp.glob("work-*")))  # a later batch in the same folder
    written = threading.Lock()

    def grade_one(job: Job, workdir: Path) -> Job:
        # the grade's row is written here, as soon as it is graded, by the thread that graded it
        run_worker(job, chapter_id, preset, limits, hidden, workdir, REFERENCE_RUNS, pool, control)
        if on_done is not None and not job.interrupted:
            with written:
                on_done(job)
        return job

    try:
        futures = [threads.submit(grade_one, j, tmp / f"work-{first + i:03d}") for i, j in enumerate(pending)]
        for future in as_completed(futures):
            job = future.result()
            bar.update(1)
            bar.set_postfix_str(job.name[:30])
    except KeyboardInterrupt:
        # stop the queue: nothing new starts, and what runs is killed (it would go on for minutes)
        control.stop_all()
        threads.shutdown(wait=False, cancel_futures=True)
        pool.close(kill=True)
        threads.shutdown(wait=True)
        raise
    finally:
        threads.shutdown(wait=True)
        if own_pool:
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
    jobs += [Job(s.name, s.path, s.key, notes=list(s.notes)) for s in find_submissions(folder, chapter)]
    return [prepare_one(job, tmp, i) for i, job in enumerate(jobs)]


# --- before grading ----------------------------------------------------------------------


def needs_of(chapter, book=None) -> set[str]:
    """What ``chapter`` needs, with what the chapters making those needs need themselves
    (chapter 04 restores chapter 03's checkpoint and measures it on MNIST)."""
    book = book or load_book()
    needs, todo = set(), list(chapter.needs)
    while todo:
        need = todo.pop()
        if need in needs:
            continue
        needs.add(need)
        maker = next((c for c in book.chapters if need in c.produces), None)
        if maker is not None:
            todo += maker.needs
    return needs


def grader_needs(chapter) -> list[str]:
    """What is missing for grading ``chapter``, each with the command that makes it; MNIST is
    fetched and verified here, once, before any worker starts (workers that fetch it at the
    same moment would race for the same cache)."""
    from booktools.build import REFERENCE_RUNS

    book = load_book()
    problems = []
    for need in sorted(needs_of(chapter, book)):
        if need == "mnist":
            from tfbook.data import MnistUnavailable, load_mnist

            try:
                load_mnist()
            except MnistUnavailable as e:
                problems.append(f"MNIST: {e}")
        elif need.startswith("runs/") and need in chapter.needs:
            where = REFERENCE_RUNS / need.removeprefix("runs/")
            if not where.exists():
                maker = next((c for c in book.chapters if need in c.produces), None)
                how = (
                    (
                        f"run `.venv/bin/tfbook book {maker.id}` (chapter {maker.id}'s reference run; "
                        "or `make book` for every chapter)"
                    )
                    if maker
                    else "no chapter in book.toml makes it"
                )
                problems.append(
                    f"chapter {chapter.id} is graded with {need} from the reference runs, "
                    f"and {where} does not exist: {how}, then grade again. Without it every "
                    "submission would lose the points of the checks that use it."
                )
    return problems


def solution_warning(reference: dict, preset: str | None) -> str:
    """A sentence when the solution itself is below full marks under this preset, else ''."""
    from tfbook.manifest import active_preset_name

    if reference["earned"] >= reference["points"]:
        return ""
    short = [e for e, row in reference["by_exercise"].items() if row["earned"] < row["points"]]
    return (
        f"the solution itself scores {reference['earned']}/{reference['points']} under preset "
        f"{preset or active_preset_name()!r} (below full marks in {', '.join(short)}): a learner's "
        "score there says little; the `*` marks compare with the solution"
    )


def estimate_text(count: int, seconds: float, jobs: int, chapter_id: str = "NN") -> str:
    total = count * seconds / max(1, jobs)
    when = f"{total / 60:.0f} min" if total >= 90 else f"{total:.0f} s"
    return (
        f"Estimated time: about {when} ({count} submission{'s' if count != 1 else ''} x "
        f"{seconds:.0f} s measured on the solution / {jobs} worker{'s' if jobs != 1 else ''}). "
        f"For a large class, Gradescope grades many at once: `tfbook autograder {chapter_id} --out "
        f"ch{chapter_id}-autograder.zip` "
        "(docs/grading.md, 'Gradescope')."
    )


# --- grading a folder --------------------------------------------------------------------


def grade_folder(
    folder: Path,
    chapter_id: str,
    jobs: int = 2,
    preset: str | None = None,
    cell_timeout: int | None = None,
    notebook_timeout: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
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
    limits = Limits(cell_timeout, notebook_timeout, memory_mb)
    tmp = scratch_dir("class")
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
            f"{notebook_limit(chapter.id, preset, limits)} s, memory {limits.memory_mb:,} MB per kernel"
            + (f"; hidden checks from {hidden_path}" if hidden_path else "")
            + ". The solution first ...",
            flush=True,
        )
        control = Control()
        pool = WarmWorkers(chapter.id, 1 + sum(j.notebook is not None for j in todo), max(1, jobs), tmp / "workers")
        try:
            grade_jobs(
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
            grade_jobs(
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
    payload = job.payload or {}
    grader = grader_problem(job)
    parts = [
        x for x in dict.fromkeys([job.problem, payload.get("problem", ""), in_english(payload, "stopped") or ""]) if x
    ]
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


def write_reports(folder: Path, chapter, reference_job: Job, graded: list[Job]) -> None:
    """All the reports at once (for graded jobs in hand)."""
    warning = solution_warning(reference_job.payload, reference_job.payload.get("preset"))
    report = ClassReport(folder, chapter, reference_job, warning, [])
    for job in graded:
        report.add(job)
    report.finish()


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
