"""One record per benchmark run, from which ``python -m bench.report`` writes docs/benchmarks.md.

    from bench.record import Recording

    def main(argv=None):
        with Recording("bench_predict", "bench.bench_predict", argv) as run:
            print(...)                            # the transcript: everything printed to stdout
            run.figures["pipeline_ms"] = 3.34     # the key figures, as numbers

On leaving the ``with`` block without an exception, the run's record replaces
``bench/results/<name>.json`` (``$BENCH_RESULTS/<name>.json`` when that is set, e.g. for a
trial run that should not change the document). A record holds:

  format        1
  bench         the record's name (a bench with parts has one record per part: bench_cnn_limits)
  command       the command as typed, ``python -m bench.<module> <its arguments>``
  started       UTC, ISO 8601 (``2026-12-03T13:44:05Z``); finished likewise, and seconds between
  machine       cpu (model name), usable_cores (this process may run on), online_cores, gpus
                (NVIDIA models the driver lists; [] for none), bf16_units (tfbook.hardware),
                python, platform, packages (versions of tensorflow, keras, numpy, duckdb, ...
                when the bench imported them)
  load_average  before and after: [1, 5, 15 minutes] (os.getloadavg)
  text          what the bench printed on stdout (progress bars, on stderr, are not in it)
  figures       the key figures as numbers (each bench's own keys)
  imported      null for a measured run; for a run copied once from the hand-written document,
                where it came from and the date it had there

Nothing here measures anything: it only watches what the bench prints and writes it down.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import platform
import shlex
import sys
from pathlib import Path

FORMAT = 1
RESULTS = Path(__file__).resolve().parent / "results"
ENV = "BENCH_RESULTS"  # another folder for the records (a trial run that must not change the doc)
PACKAGES = ("tensorflow", "keras", "numpy", "duckdb", "pyarrow", "flask", "gunicorn")


def results_folder(default: Path | None = None) -> Path:
    """Where records go: $BENCH_RESULTS when set, else ``default`` (bench/results/)."""
    return Path(os.environ[ENV]) if os.environ.get(ENV) else (default or RESULTS)


def utc_now() -> str:
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on this platform
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[str]:
    """The NVIDIA GPUs the driver lists (/proc/driver/nvidia), without asking any framework."""
    found = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                found.append(line.split(":", 1)[1].strip())
    return found


def machine_facts() -> dict:
    try:
        from tfbook.hardware import bf16_units

        units = bf16_units()
    except ImportError:  # pragma: no cover - the book's library not importable
        units = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    packages = {}
    for name in PACKAGES:  # only what the bench imported: asking costs nothing then
        module = sys.modules.get(name)
        if module is not None and isinstance(getattr(module, "__version__", None), str):
            packages[name] = module.__version__
    return {
        "cpu": cpu_model(),
        "usable_cores": usable,
        "online_cores": os.cpu_count(),
        "gpus": gpus(),
        "bf16_units": units,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def command_line(module: str, argv=None) -> str:
    """``python -m bench.X args``: the command as it was typed (argv: main's, else sys.argv's)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", "-m", module, *args])


def save_record(
    name: str,
    command: str,
    text: str,
    figures: dict,
    *,
    started: str,
    finished: str | None = None,
    seconds: float | None = None,
    machine: dict | None = None,
    load_before: list | None = None,
    load_after: list | None = None,
    imported: dict | None = None,
    folder: Path | None = None,
) -> Path:
    """Write (replace) ``<folder>/<name>.json``; returns its path."""
    record = {
        "format": FORMAT,
        "bench": name,
        "command": command,
        "started": started,
        "finished": finished,
        "seconds": None if seconds is None else round(seconds, 1),
        "machine": machine if machine is not None else machine_facts(),
        "load_average": {"before": load_before, "after": load_after},
        "text": text.strip("\n") + "\n",
        "figures": figures,
        "imported": imported,
    }
    folder = results_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


class _Tee(io.TextIOBase):
    """Writes to the stream it replaces and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text):
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return self.stream.isatty()

    def fileno(self):
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


class Recording:
    """Context manager: notes the start (time, load), copies stdout, and on a clean exit writes
    the record with ``figures`` (fill the dict inside the block)."""

    def __init__(self, name: str, module: str, argv=None, folder: Path | None = None):
        self.name, self.command, self.folder = name, command_line(module, argv), folder
        self.figures: dict = {}
        self.path: Path | None = None

    def __enter__(self):
        self.started, self.load_before = utc_now(), load_average()
        self._clock = datetime.datetime.now(datetime.timezone.utc)
        self._stdout = sys.stdout
        sys.stdout = self._tee = _Tee(sys.stdout)
        return self

    def __exit__(self, kind, value, traceback):
        sys.stdout = self._stdout
        if kind is not None:
            return False  # a failed run leaves the previous record alone
        elapsed = (datetime.datetime.now(datetime.timezone.utc) - self._clock).total_seconds()
        self.path = save_record(
            self.name,
            self.command,
            self._tee.copy.getvalue(),
            self.figures,
            started=self.started,
            finished=utc_now(),
            seconds=elapsed,
            load_before=self.load_before,
            load_after=load_average(),
            folder=self.folder,
        )
        print(f"record written: {display(self.path)} (python -m bench.report puts it in docs/benchmarks.md)")
        return False


def display(path: Path) -> str:
    root = RESULTS.parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
