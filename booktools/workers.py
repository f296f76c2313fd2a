"""The worker processes that grade notebooks, for class grading (booktools/grading.py),
`tfbook compare` and the Gradescope bundle.

Each notebook is graded by ``python -m booktools.gradeworker`` in a session of its own
(``run_worker``), under ``Limits`` (per cell, per notebook, memory), and killed with all it
started when it runs past them or when Ctrl-C stops the grading. ``WarmWorkers`` starts the next
worker while the current one grades, so that importing TensorFlow and the chapter's checks is not
added to each notebook; ``Control`` holds the running ones, so that Ctrl-C stops them all at
once; ``grade_jobs`` grades a list of jobs, N at a time. Every temporary file lives under
``$TMPDIR/tfbook-grading/`` (``scratch_dir``); one left by a grading that was killed is removed
the next time grading starts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from booktools.jobs import Job

DEFAULT_MEMORY_MB = 4096


def address_space_mb(memory_mb: int) -> int:
    """The kernel's address-space cap for a memory cap: TensorFlow reserves about twice the
    memory it uses (a chapter-03 kernel: 1.6 GB resident, 3.3 GB of address space)."""
    return max(4 * memory_mb, 8192)


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
