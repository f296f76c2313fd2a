"""``make matrix [CELLS=3.11:2.18,3.13:2.21]``: the book on the Pythons and TensorFlows it supports.

For each cell (a Python version, a TensorFlow minor) in turn, one at a time:

1. a fresh virtual environment under ``build/matrix/`` (``--dir``), made by that Python (found on
   PATH as ``python3.X``, else in pyenv: ``~/.pyenv/versions/3.X.*``);
2. ``pip install 'SNAPSHOT[test]' 'tensorflow-cpu==X.Y.*'``: the book as a learner installs it
   (not editable), from a copy of this checkout's files (``git ls-files``: nothing is built inside
   the checkout), with the dependency ranges of pyproject.toml, NOT constraints.txt (the exact
   versions of the default Python 3.11 set-up);
3. ``import tfbook, tensorflow`` from outside the checkout (the installed copy, and its version
   check: tfbook/compat.py);
4. the fast test lane (``make test-fast``'s selection) with that environment's Python, from the
   checkout. pyproject.toml's ``pythonpath = ["."]`` puts the checkout's packages first, so the tests
   run this checkout's code (the same files the cell installed) against the cell's dependencies:
   what differs between cells is TensorFlow, numpy, Keras and the rest, and those come from the cell;
5. chapters 03 and 04 graded as a learner does it, entirely from the installed package:
   ``tfbook start`` into an empty folder, the solutions copied over the student notebooks, then
   ``python -m checks 03`` and ``python -m checks 04`` there (preset ``smoke``, runs in a temporary
   ``$TFBOOK_RUNS``; chapter 04 restores the checkpoint that grading 03 kept).

It prints one table row per cell as soon as the cell is done, then the whole table (Markdown, as
docs/compatibility.md quotes it), and writes it with every log to the matrix folder. A cell's
environment is deleted when the cell passes (``--keep`` keeps it) and kept when it fails.
Exit status: 0 when every cell passed.

Standard library only: it runs with any Python 3.8+ (``make matrix`` uses ``$(PYTHON)``).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Both ends of the supported range (tfbook/compat.py), and a middle one.
DEFAULT_CELLS = "3.11:2.18,3.12:2.19,3.13:2.21"
STEPS = ("install", "import", "tests", "ch03", "ch04")
FAST_LANE = [
    "-m",
    "not slow and not browser",
    "-p",
    "no:nbmake",
    "--dist",
    "loadgroup",
    "-o",
    "addopts=-ra -p no:cacheprovider",
]
VERSIONS = """
import json, platform
from importlib.metadata import version, PackageNotFoundError
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return ""
names = ["tensorflow-cpu", "tensorflow", "keras", "numpy", "tensorboard", "protobuf", "ml_dtypes"]
print(json.dumps({"python": platform.python_version(), **{n: v(n) for n in names}}))
"""


def tensorflow_distribution() -> str:
    """pyproject.toml's name for TensorFlow on this platform (the CPU-only wheel on Linux x86-64)."""
    linux_x86 = sys.platform.startswith("linux") and platform.machine() == "x86_64"
    return "tensorflow-cpu" if linux_x86 else "tensorflow"


def find_python(version: str) -> str:
    """An interpreter of Python ``version`` (``3.12``): ``python3.12`` on PATH, else pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}")]
    # pyenv's newest patch release of that minor first (3.12.10 after 3.12.9)
    patch = lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parts[-3])]  # noqa: E731
    candidates += sorted(glob.glob(str(pyenv / f"{version}.*" / "bin" / f"python{version}")), key=patch, reverse=True)
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if done.returncode == 0 and done.stdout.strip() == version:  # a pyenv shim may answer another
            return candidate
    raise SystemExit(f"matrix: no Python {version} found (python{version} on PATH, or {pyenv}/{version}.*)")


def snapshot(target: Path) -> Path:
    """The checkout's files as git sees them (tracked, and untracked ones not ignored)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


class Cell:
    def __init__(self, python: str, tensorflow: str, folder: Path):
        self.python, self.tensorflow, self.folder = python, tensorflow, folder
        self.venv = folder / "venv"
        self.bin = self.venv / "bin"
        self.row: dict = {"python": python, "tensorflow": tensorflow}
        self.failed: list[str] = []

    @property
    def name(self) -> str:
        return f"py{self.python}-tf{self.tensorflow}"

    def env(self, **extra) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TFBOOK_RUNS", "TFBOOK_PRESET", "PYTHONHOME")
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        mnist = ROOT / "data" / "mnist"  # the checkout's verified cache: no download per cell
        if mnist.is_dir() and "TFBOOK_MNIST_DIR" not in env:
            env["TFBOOK_MNIST_DIR"] = str(mnist)
        return {**env, **extra}

    def run(self, step: str, cmd: list, *, cwd: Path, timeout: int, env: dict | None = None) -> tuple[int, float]:
        """Run one command, its output into ``FOLDER/STEP.log``; (exit status, seconds)."""
        log = self.folder / f"{step}.log"
        start = time.monotonic()
        with open(log, "a") as out:
            out.write(f"$ {' '.join(map(str, cmd))}   (in {cwd})\n")
            out.flush()
            try:
                code = subprocess.run(
                    list(map(str, cmd)),
                    cwd=cwd,
                    env=env or self.env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                out.write(f"\nmatrix: stopped after {timeout} s\n")
                code = 124
        seconds = time.monotonic() - start
        if code != 0:
            tail = log.read_text(errors="replace").splitlines()[-25:]
            print(f"  {self.name}: {step} failed (exit {code}); the end of {log}:", flush=True)
            print("\n".join("    " + line for line in tail), flush=True)
        return code, seconds

    def fail(self, step: str) -> None:
        self.failed.append(step)


def install(cell: Cell, interpreter: str) -> bool:
    if cell.folder.exists():
        shutil.rmtree(cell.folder)
    cell.folder.mkdir(parents=True)
    source = snapshot(cell.folder / "source")
    code, venv_s = cell.run("install", [interpreter, "-m", "venv", cell.venv], cwd=cell.folder, timeout=300)
    pip = [cell.bin / "python", "-m", "pip", "install", "--quiet"]
    if code == 0:
        code, _ = cell.run("install", [*pip, "--upgrade", "pip"], cwd=cell.folder, timeout=600)
    if code == 0:  # the column "install": the venv and this pip install (pip's own upgrade not counted)
        code, seconds = cell.run(
            "install",
            [*pip, f"{source}[test]", f"{tensorflow_distribution()}=={cell.tensorflow}.*"],
            cwd=cell.folder,
            timeout=3600,
        )
        cell.row["install_s"] = round(seconds + venv_s)
    if code != 0:
        cell.fail("install")
        return False
    shutil.rmtree(source)
    done = subprocess.run(
        [cell.bin / "python", "-c", VERSIONS], capture_output=True, text=True, cwd=cell.folder, env=cell.env()
    )
    cell.row["versions"] = json.loads(done.stdout) if done.returncode == 0 else {}
    freeze = subprocess.run(
        [cell.bin / "python", "-m", "pip", "freeze"], capture_output=True, text=True, cwd=cell.folder, env=cell.env()
    )
    (cell.folder / "freeze.txt").write_text(freeze.stdout)
    return True


def import_check(cell: Cell) -> None:
    """The installed copy, from a folder that holds no book: tfbook's version check, TensorFlow."""
    code, seconds = cell.run(
        "import",
        [cell.bin / "python", "-c", "import tfbook, tensorflow as tf; print('TensorFlow', tf.__version__)"],
        cwd=cell.folder,
        timeout=300,
    )
    cell.row["import_s"] = round(seconds, 1)
    if code != 0:
        cell.fail("import")


def fast_lane(cell: Cell, jobs: int) -> None:
    junit = cell.folder / "fast-lane.xml"
    code, seconds = cell.run(
        "tests",
        [cell.bin / "python", "-m", "pytest", *FAST_LANE, "-n", jobs, f"--junitxml={junit}", "-q"],
        cwd=ROOT,
        timeout=3600,
    )
    cell.row["tests_s"] = round(seconds)
    try:
        suites = ET.parse(junit).getroot()
        suites = [suites] if suites.tag == "testsuite" else list(suites)
        total = lambda key: sum(int(s.get(key, 0)) for s in suites)  # noqa: E731
        failed = total("failures") + total("errors")
        cell.row["tests"] = {
            "passed": total("tests") - failed - total("skipped"),
            "failed": failed,
            "skipped": total("skipped"),
        }
    except (OSError, ET.ParseError):
        cell.row["tests"] = None
    if code != 0:
        cell.fail("tests")


def learner_folder(cell: Cell) -> Path | None:
    learner = cell.folder / "learner"
    code, _ = cell.run("start", [cell.bin / "tfbook", "start", learner], cwd=cell.folder, timeout=600)
    if code != 0:
        cell.fail("start")
        return None
    for chapter in ("03_cnn_training", "04_prediction"):  # the solutions, as a learner's finished work
        for suffix in (".py", ".ipynb"):
            shutil.copy(ROOT / "solutions" / f"{chapter}{suffix}", learner / "chapters" / f"{chapter}{suffix}")
    return learner


def grade(cell: Cell, chapter: str, learner: Path) -> None:
    result = cell.folder / f"ch{chapter}.json"
    notebook = next((learner / "chapters").glob(f"{chapter}_*.ipynb"))
    env = cell.env(TFBOOK_PRESET="smoke", TFBOOK_RUNS=str(cell.folder / "runs"))
    code, seconds = cell.run(
        f"ch{chapter}",
        [cell.bin / "python", "-m", "checks", chapter, notebook, "--json", result],
        cwd=learner,
        timeout=1800,
        env=env,
    )
    try:
        graded = json.loads(result.read_text())
        cell.row[f"ch{chapter}"] = {"earned": graded["earned"], "points": graded["points"], "seconds": round(seconds)}
    except (OSError, ValueError, KeyError):
        cell.row[f"ch{chapter}"] = {"seconds": round(seconds)}
    if code != 0:
        cell.fail(f"ch{chapter}")


def load() -> str:
    """The 1-minute load average: on a shared machine, how much else was running."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def run_cell(cell: Cell, steps: set, jobs: int, keep: bool) -> dict:
    start = time.monotonic()
    cell.row["load"] = [load()]
    interpreter = find_python(cell.python)
    print(
        f"== {cell.name}: {interpreter}, {tensorflow_distribution()}=={cell.tensorflow}.* ({cell.folder})", flush=True
    )
    if install(cell, interpreter):
        if "import" in steps:
            import_check(cell)
        if "tests" in steps:
            fast_lane(cell, jobs)
        chapters = [c for c in ("03", "04") if f"ch{c}" in steps]
        learner = learner_folder(cell) if chapters else None
        for chapter in chapters if learner else ():
            grade(cell, chapter, learner)
    cell.row["wall_s"] = round(time.monotonic() - start)
    cell.row["load"].append(load())
    cell.row["failed"] = cell.failed
    if not cell.failed and not keep:
        shutil.rmtree(cell.venv, ignore_errors=True)
    return cell.row


def minutes(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s" if seconds >= 60 else f"{seconds:.0f} s"


HEADER = (
    "| Python | TensorFlow | Keras | numpy | install | import | fast lane (passed/failed/skipped, time) "
    "| ch03 smoke grade | ch04 smoke grade | wall | load avg (start, end) | result |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(row: dict) -> str:
    versions = row.get("versions") or {}
    tf = versions.get("tensorflow-cpu") or versions.get("tensorflow") or f"{row['tensorflow']}.*"
    tests = row.get("tests")
    lane = f"{tests['passed']}/{tests['failed']}/{tests['skipped']}, {minutes(row.get('tests_s'))}" if tests else "-"

    def graded(key):
        g = row.get(key)
        if not g:
            return "-"
        return (
            f"{g['earned']:g}/{g['points']:g} ({minutes(g['seconds'])})"
            if "points" in g
            else f"none ({minutes(g['seconds'])})"
        )

    result = "pass" if not row["failed"] else "FAIL: " + ", ".join(row["failed"])
    imported = f"{row['import_s']} s" if "import_s" in row else "-"
    return (
        f"| {versions.get('python', row['python'])} | {tf} | {versions.get('keras', '-')} "
        f"| {versions.get('numpy', '-')} | {minutes(row.get('install_s'))} | {imported} | {lane} "
        f"| {graded('ch03')} | {graded('ch04')} | {minutes(row['wall_s'])} | {', '.join(row['load'])} | {result} |"
    )


def parse_cells(text: str) -> list[tuple[str, str]]:
    cells = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(3\.\d+):(2\.\d+)", item)
        if not match:
            raise SystemExit(f"matrix: {item!r} is not a cell; write PYTHON:TENSORFLOW, e.g. 3.12:2.19")
        cells.append(match.groups())
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/matrix.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=DEFAULT_CELLS, help=f"PYTHON:TENSORFLOW,... (default {DEFAULT_CELLS})")
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"which of {','.join(STEPS)} to run (install always runs)"
    )
    parser.add_argument("--dir", default=str(ROOT / "build" / "matrix"), help="where cells are made")
    parser.add_argument("--jobs", default="2", help="pytest-xdist workers of the fast lane (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the environments of passed cells too")
    args = parser.parse_args(argv)
    steps = set(filter(None, args.steps.split(",")))
    if steps - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(steps - set(STEPS)))}")
    cells = parse_cells(args.cells)
    if "TFBOOK_MNIST_DIR" not in os.environ and not (ROOT / "data" / "mnist").is_dir():
        print(
            "matrix: note: no data/mnist/ in the checkout (make book or make test fetch it): each "
            "cell fetches MNIST itself, and the fast lane's test_data.py needs data/mnist/",
            flush=True,
        )
    base = Path(args.dir).resolve()
    started = datetime.datetime.now().astimezone()
    rows = []
    for python, tensorflow in cells:
        row = run_cell(Cell(python, tensorflow, base / f"py{python}-tf{tensorflow}"), steps, args.jobs, args.keep)
        rows.append(row)
        print("\n".join([HEADER, table_row(row)]) if len(rows) == 1 else table_row(row), flush=True)
    table = "\n".join([HEADER, *map(table_row, rows)])
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores"
    footer = (
        f"`{' '.join(['make matrix', 'CELLS=' + args.cells])}`, steps {','.join(s for s in STEPS if s in steps)}; "
        f"{started:%Y-%m-%d}; {machine}"
    )
    print(f"\n{table}\n\n{footer}")
    base.mkdir(parents=True, exist_ok=True)
    (base / "results.md").write_text(f"{table}\n\n{footer}\n")
    (base / "results.json").write_text(
        json.dumps(
            {"started": started.isoformat(), "machine": machine, "steps": sorted(steps), "cells": rows}, indent=1
        )
    )
    return 0 if all(not row["failed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
