"""Class grading: what isolating every submission costs, and what parallel workers buy.

    python -m bench.bench_grading [--n 3] [--kind solution|partial] [--preset smoke] [--jobs 1 2]

Grades ``n`` copies of a chapter-03 notebook (``solution``: the reference solution, which
trains; ``partial``: the student edition with three exercises solved, which does not) with
the class grader's machinery (a clean copy, one ``python -m booktools.gradeworker`` process
per submission, in its own session), once per ``--jobs`` value, and prints per submission:

  total      wall seconds from the start of its worker to its result (what a class waits for)
  notebook   seconds grade_notebook took (the kernel, the notebook, the checks)
  overhead   total - notebook: handing the spec to a worker, the limits, reading the result
             back; target <= 3 s. Workers import TensorFlow and the checks while earlier
             submissions grade, so only the batch's first `jobs` pay that import (shown apart)

and for the batch the seconds per submission and the speed-up of --jobs 2 over --jobs 1.
The solution itself is not graded (``tfbook grade`` grades it once per class as well).
Prints numbers only; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from bench.record import Recording
from booktools.jobs import Job, prepare_one
from booktools.workers import Limits, grade_jobs
from tfbook.manifest import ROOT

SOLVED = ["reshape_input", "output_size", "parameter_count"]


def notebook(kind: str, folder: Path) -> Path:
    solution = ROOT / "solutions" / "03_cnn_training.ipynb"
    if kind == "solution":
        return solution
    from booktools.compare import solution_exercises

    sol, student = nbformat.read(solution, 4), nbformat.read(ROOT / "chapters" / "03_cnn_training.ipynb", 4)
    for name, exercise in solution_exercises(sol).items():
        if name in SOLVED:
            for cell in exercise.cells:
                student.cells[cell - 1].source = sol.cells[cell - 1].source
    path = folder / "partial.ipynb"
    nbformat.write(student, path)
    return path


def run(n: int, jobs: int, source: Path, preset: str, tmp: Path) -> tuple[float, list[Job]]:
    work = tmp / f"jobs{jobs}"
    work.mkdir()
    batch = [prepare_one(Job(f"s{i}", source, f"s{i}"), work, i) for i in range(n)]
    started = time.monotonic()
    grade_jobs(batch, "03", preset, Limits(), None, jobs, work, progress=False)
    return time.monotonic() - started, batch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--kind", choices=["solution", "partial"], default="solution")
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with Recording("bench_grading", "bench.bench_grading", argv) as record:
        measure(args, record.figures)


def measure(args, figures: dict) -> None:
    os.environ.setdefault("TFBOOK_MNIST_DIR", str(ROOT / "data" / "mnist"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    print(
        f"chapter 03, {args.n} x {args.kind}, preset {args.preset}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    walls = {}
    figures.update(n=args.n, kind=args.kind, preset=args.preset, jobs={})
    try:
        source = notebook(args.kind, tmp)
        for jobs in args.jobs:
            wall, batch = run(args.n, jobs, source, args.preset, tmp)
            walls[jobs] = wall
            overheads = [j.seconds - j.payload["seconds"] for j in batch if j.payload]
            scores = sorted({f"{j.payload['earned']}/{j.payload['points']}" if j.payload else j.problem for j in batch})
            print(
                f"--jobs {jobs}: {wall:6.1f} s for {args.n} submissions = {wall / args.n:5.1f} s per submission"
                f" (scores {', '.join(scores)})"
            )
            figures["jobs"][str(jobs)] = {
                "wall_seconds": round(wall, 2),
                "seconds_per_submission": round(wall / args.n, 2),
                "scores": scores,
                "overhead_seconds": [round(x, 2) for x in overheads],
                "submissions": [
                    {
                        "total_seconds": round(j.seconds, 2),
                        "notebook_seconds": round(j.payload["seconds"], 2),
                        "kernel_peak_mb": j.payload.get("peak_memory_mb", 0),
                    }
                    for j in batch
                    if j.payload
                ],
            }
            for j in batch:
                if j.payload:
                    print(
                        f"    {j.name}: total {j.seconds:5.1f} s, notebook {j.payload['seconds']:5.1f} s, "
                        f"overhead {j.seconds - j.payload['seconds']:4.1f} s, "
                        f"kernel peak {j.payload.get('peak_memory_mb', 0):,} MB"
                    )
            if overheads:
                cold, warm = overheads[:jobs], overheads[jobs:]  # the first `jobs` start cold
                print(
                    f"    overhead per submission: the batch's first {len(cold)} (workers started cold) "
                    f"{', '.join(f'{x:.1f}' for x in cold)} s; the rest (warmed while others graded) "
                    + (f"median {statistics.median(warm):.1f} s, max {max(warm):.1f} s" if warm else "-")
                    + " (target <= 3 s)"
                )
        if 1 in walls and 2 in walls:
            figures["speed_up_2_over_1"] = round(walls[1] / walls[2], 3)
            print(
                f"speed-up of --jobs 2 over --jobs 1: {walls[1] / walls[2]:.2f}x; "
                f"load average {os.getloadavg()[0]:.1f} at the end"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
