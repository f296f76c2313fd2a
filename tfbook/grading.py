"""Instructor grading: a folder of submissions, in parallel, compared with the solution.

``tfbook grade 03 submissions/ --jobs 2`` grades every ``*.ipynb`` (and ``*.py``) in the
folder, each in its own fresh kernel, plus the solution; it writes ``grades-ch03.csv`` (one
row per submission, one column per exercise: earned/possible, and ``*`` where the
submission scored below the solution) and one JSON file per submission into the folder's
``grades/`` subfolder.
"""
from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tfbook.manifest import load_book


def _grade_one(chapter_id: str, notebook: str, preset: str | None):
    from checks.engine import results_json
    from checks.grader import grade_notebook
    try:
        grade = grade_notebook(chapter_id, Path(notebook), preset=preset)
    except Exception as e:  # one broken submission must not stop the others
        return notebook, None, f"{type(e).__name__}: {e}"
    return notebook, results_json(chapter_id, grade.results, notebook=notebook, preset=grade.preset,
                                  seconds=round(grade.seconds, 1), stopped=grade.stopped), ""


def _by_exercise(payload: dict) -> dict[str, tuple[int, int]]:
    scores: dict[str, list[int]] = {}
    for r in payload["results"]:
        earned, points = scores.setdefault(r["exercise"], [0, 0])
        scores[r["exercise"]] = [earned + r["earned"], points + r["points"]]
    return {k: tuple(v) for k, v in scores.items()}


def grade_folder(folder: Path, chapter_id: str, jobs: int = 2, preset: str | None = None) -> int:
    from checks.report import write_json
    chapter = load_book().chapter(chapter_id)
    submissions = sorted(p for p in folder.iterdir() if p.suffix in (".ipynb", ".py"))
    if not submissions:
        print(f"No .ipynb or .py submissions in {folder}")
        return 2
    solution = str(chapter.notebook("solution"))
    print(f"Grading {len(submissions)} submissions of chapter {chapter.id} with {jobs} workers "
          "(and the solution, for comparison) ...", flush=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_grade_one, chapter.id, str(p), preset) for p in [solution, *submissions]]
        outcomes = [f.result() for f in futures]
    (_, reference, error), *graded = outcomes
    if reference is None:
        print(f"The solution itself could not be graded: {error}")
        return 1
    ref_scores = _by_exercise(reference)
    exercises = list(ref_scores)
    out_dir = folder / "grades"
    csv_path = folder / f"grades-ch{chapter.id}.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "earned", "points", *exercises, "problem"])
        writer.writerow(["(solution)", reference["earned"], reference["points"],
                         *[f"{e}/{p}" for e, p in ref_scores.values()], ""])
        for notebook, payload, error in graded:
            name = Path(notebook).name
            if payload is None:
                writer.writerow([name, 0, reference["points"], *["" for _ in exercises], error])
                print(f"  {name}: could not be graded ({error})")
                continue
            write_json(out_dir / f"{Path(notebook).stem}.json", payload)
            scores = _by_exercise(payload)
            cells = []
            for exercise in exercises:
                earned, points = scores.get(exercise, (0, ref_scores[exercise][1]))
                cells.append(f"{earned}/{points}" + ("*" if earned < ref_scores[exercise][0] else ""))
            writer.writerow([name, payload["earned"], payload["points"], *cells, payload.get("stopped", "")])
            print(f"  {name}: {payload['earned']}/{payload['points']}")
    print(f"wrote {csv_path} and {out_dir}/")
    return 0
