"""The jobs of a grading: the solution and each submission, for class grading
(booktools/grading.py), `tfbook compare` and the Gradescope bundle.

Each submission is read and cleaned (``booktools.submissions``) into a copy in the grading's
temporary folder, or rejected with the reason (``prepare``); a job that could not be graded gets
every check failed with that reason, keeping the credit scored before it stopped
(``failed_payload``). Before any is graded: what the chapter needs (``grader_needs``), whether
the solution reaches full marks (``solution_warning``) and how long the class will take
(``estimate_text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tfbook.manifest import load_book

SOLUTION = "(solution)"


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
