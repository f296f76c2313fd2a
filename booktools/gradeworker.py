"""Grade one submission in a process of its own: ``python -m booktools.gradeworker SPEC.json``.

Class grading starts one of these per submission, in a session of its own, so that whatever
the notebook does (kill its parent, exit, allocate without bound, loop forever) ends only
this process. The spec names the notebook (a clean copy), the chapter, the preset, the limits
and where to write the result; the result is the grade's JSON (``Grade.to_json``) with what
the instructor's reports add: the figures the notebook reported (its ``metrics.json``), the
kernel's peak memory, and why the grade stopped, if it did.

Memory: a watchdog thread measures the resident memory of every process this worker started
(the kernel) several times a second and kills them past ``memory_mb``; the address space of
the worker and its kernel is also capped (``RLIMIT_AS``, ``address_space_mb``), so that an
allocation that can never fit fails at once instead of taking the machine's memory, and a
kernel that keeps nearly all of that address space is stopped too.

Credit already earned survives a kill: each check's result is written to ``partial`` (in the
spec) as soon as it is scored, so that when the notebook kills this process, or it runs past
the per-notebook limit, the parent still counts what was scored before.

Temporary files: ``tmpdir`` (in the spec) becomes this process's and its kernel's temporary
folder and Jupyter runtime folder (the kernel's connection file, TensorFlow's autograph
files, the grader's scratch), so that the parent removes everything with its own folder even
when this process is killed and cleans nothing up.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

KILLED_FOR_MEMORY = "the kernel used more than {mb:,} MB of memory and was stopped"
KILLED_AT_CAP = (
    "the kernel allocated memory until it reached its cap ({mb:,} MB of address space), held it, and was stopped"
)


class Watchdog(threading.Thread):
    """Peak memory of this process's children; kills them past the limit; records their pids."""

    def __init__(
        self, memory_mb: int, pid_file: Path | None, interval: float = 0.2, address_space_mb: int | None = None
    ):
        super().__init__(daemon=True)
        self.limit = memory_mb * 2**20
        # a kernel holding nearly all the address space it may have is stuck at its cap
        self.vms_limit = int(0.95 * address_space_mb * 2**20) if address_space_mb else None
        self.pid_file, self.interval = pid_file, interval
        self.peak_rss = 0
        self.killed = ""
        self.stop = threading.Event()
        self.seen: dict[int, float] = {}

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.wait(self.interval):
            try:
                children = me.children(recursive=True)
            except psutil.Error:
                continue
            total, at_cap = 0, False
            for child in children:
                try:
                    info = child.memory_info()
                    total += info.rss
                    at_cap |= bool(self.vms_limit and info.vms > self.vms_limit)
                    if child.pid not in self.seen:
                        self.seen[child.pid] = child.create_time()
                        self._write_pids()
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, total)
            if (total > self.limit or at_cap) and not self.killed:
                self.killed = (
                    KILLED_FOR_MEMORY.format(mb=self.limit // 2**20)
                    if total > self.limit
                    else KILLED_AT_CAP.format(mb=round(self.vms_limit / 0.95) // 2**20)
                )
                for child in children:
                    try:
                        child.kill()
                    except psutil.Error:
                        pass

    def _write_pids(self) -> None:
        if self.pid_file is not None:
            self.pid_file.write_text(json.dumps(self.seen))


def cap_address_space(megabytes: int | None) -> None:
    if megabytes:
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def use_tmpdir(spec: dict) -> None:
    """Make ``spec["tmpdir"]`` the temporary folder of this process and of the kernel it starts."""
    if not spec.get("tmpdir"):
        return
    folder = Path(spec["tmpdir"])
    (folder / "runtime").mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(folder / "runtime")
    tempfile.tempdir = None  # read $TMPDIR again


class PartialResults:
    """Each check's result, written as soon as it is scored (see the module doc)."""

    def __init__(self, path: Path | None):
        self.path, self.results = path, []

    def __call__(self, result) -> None:
        from dataclasses import asdict

        self.results.append(asdict(result))
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"results": self.results}))
            tmp.replace(self.path)


def grade(spec: dict) -> dict:
    from checks.grader import grade_notebook
    from checks.registry import load_chapter_checks
    from booktools.hidden import add_hidden_checks

    chapter_id = spec["chapter"]
    hidden = Path(spec["hidden"]) if spec.get("hidden") else None
    added = add_hidden_checks(load_chapter_checks(chapter_id), hidden)
    watchdog = Watchdog(
        spec.get("memory_mb") or 4096,
        Path(spec["pid_file"]) if spec.get("pid_file") else None,
        address_space_mb=spec.get("address_space_mb"),
    )
    watchdog.start()
    with tempfile.TemporaryDirectory(prefix="tfbook-worker-") as tmp:
        runs = Path(tmp) / "runs"
        needs_from = Path(spec["needs_from"]) if spec.get("needs_from") else None
        grade = grade_notebook(
            chapter_id,
            Path(spec["notebook"]),
            preset=spec.get("preset"),
            cell_timeout=spec.get("cell_timeout"),
            keep_runs=runs,
            needs_from=needs_from,
            on_score=PartialResults(Path(spec["partial"]) if spec.get("partial") else None),
        )
        watchdog.stop.set()
        watchdog.join(timeout=2)
        metrics_file = runs / f"ch{chapter_id}" / "metrics.json"
        try:
            reported = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        except (OSError, ValueError):
            reported = {}
    stopped = grade.stopped
    problem = ""
    if watchdog.killed:
        problem = watchdog.killed
        if stopped:
            stopped = f"{stopped}: {watchdog.killed}"
            for result in grade.results:
                if result.message == grade.stopped:
                    result.message = stopped
            if grade.english.get("stopped"):  # a Korean notebook's grade keeps its English too
                grade.english["stopped"] += f": {watchdog.killed}"
        grade.stopped = stopped
    elif any("MemoryError" in e for e in grade.cell_errors):
        problem = "a cell ran out of memory (MemoryError)"
    payload = grade.to_json(
        reported={k: v for k, v in reported.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
        peak_memory_mb=round(watchdog.peak_rss / 2**20),
        hidden_checks=added,
        problem=problem,
    )
    return payload


def warm_up(chapter_id: str) -> None:
    """Import what grading needs (TensorFlow, the chapter's checks) before the spec arrives."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfbook.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from checks.registry import load_chapter_checks

    load_chapter_checks(chapter_id)
    import checks.grader  # noqa: F401  (nbclient, jupyter_client)
    import psutil  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """``SPEC.json``: grade it; ``--warm NN``: warm up for chapter NN, then read the spec's path
    from stdin (class grading starts the next worker while the current one grades)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "--warm":
        warm_up(argv[1])
        line = sys.stdin.readline().strip()
        if not line:
            return 0  # not needed after all
        spec = json.loads(Path(line).read_text())
    else:
        spec = json.loads(Path(argv[0]).read_text())
        warm_up(spec["chapter"])
    use_tmpdir(spec)
    cap_address_space(spec.get("address_space_mb"))
    started = time.monotonic()
    out = Path(spec["out"])
    try:
        payload = grade(spec)
    except Exception as e:  # a grader failure is reported in the row, never a traceback
        payload = {"error": f"{type(e).__name__}: {e}"}
    payload["worker_seconds"] = round(time.monotonic() - started, 1)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the result is written; TensorFlow's interpreter teardown only costs time


if __name__ == "__main__":
    sys.exit(main())
