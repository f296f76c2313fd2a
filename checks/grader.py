"""Grade a notebook: execute it in a fresh kernel and score it from the grading process.

The notebook runs top to bottom in a kernel this process starts (per-cell time limit, its own
empty ``runs/`` folder). Right after each ``check("name")`` cell, and at the end, the grader
calls the learner's functions with inputs it chose at random for this run and reads the
results back as plain arrays (``.npz`` loaded with ``allow_pickle=False``); every comparison
happens here, against the grader's own reference computations. A kernel that dies or a cell
that runs past its limit fails every exercise not yet scored, with the reason.
"""

from __future__ import annotations

import os
import shutil
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# nbformat imports jsonschema, which imports the optional package rfc3987_syntax when it is
# installed (jupyter_server's dependencies install it). That package builds about 40 Lark
# parsers as it is imported, ~3 s on 2 cores, for IRI formats that the notebook schema never
# uses. Marked absent, jsonschema skips that one format checker and every grade starts sooner.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

from checks import probe
from checks.engine import Chapter, LearnerError, Result, Stopped, clean_error, results_json
from checks.kernel_user import kernel_name, shared_folders
from checks.registry import load_chapter_checks
from checks.report import format_chapter, format_results
from tfbook import i18n
from tfbook.i18n import N_, _
from tfbook.manifest import active_preset_name, load_book, preset as preset_settings
from tfbook.paths import runs_root

CHECK_CELL = re.compile(r"""^\s*check\(\s*["'](\w+)["']\s*\)\s*$""", re.MULTILINE)
CHECK_ALL_CELL = re.compile(r"^\s*check_all\(\s*\)\s*$", re.MULTILINE)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".py":
        import jupytext

        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


class KernelLearner(probe.AskingLearner):
    """The learner's code, reached through a kernel the grader controls (checks/probe.py).

    Each probe is a request file in the grader's scratch folder and one line run in the kernel,
    which imports ``checks.probe`` (as the notebook imports ``checks``) and writes its answer
    next to the request; the answer is read here with ``allow_pickle=False``."""

    def __init__(self, client: NotebookClient, runs_dir: Path, scratch: Path, preset: str):
        self.client, self.runs_dir, self.scratch = client, Path(runs_dir), Path(scratch)
        self.preset = preset
        self.calls = 0
        self.figures: dict = {}  # what checks measured, e.g. {"test_accuracy": 0.987}
        self.before_run = lambda: None  # Gradescope: hands new files to the kernel's user (checks.kernel_user)

    def _run(self, code: str, what: str) -> None:
        self.before_run()
        cell = nbformat.v4.new_code_cell(code)
        # nbclient stores an executed cell back into its notebook at the index it is given; the
        # probe goes into a notebook of its own, so the learner's (make book's pages, feedback)
        # keeps its cells.
        learners_notebook, self.client.nb = self.client.nb, nbformat.v4.new_notebook(cells=[cell])
        try:
            self.client.execute_cell(cell, 0)
        except CellTimeoutError:
            raise stopped(
                N_("`{what}` ran longer than {timeout} s when the grader called it (an endless loop?)"),
                what=what,
                timeout=self.client.timeout,
            ) from None
        except DeadKernelError:
            raise stopped(N_("the kernel died while the grader called `{what}`"), what=what) from None
        finally:
            self.client.nb = learners_notebook
        for out in cell.outputs:  # the probe answers a learner's error itself: this is the rest
            if out.get("output_type") == "error":
                ename, evalue = out.get("ename", ""), out.get("evalue", "")
                raise LearnerError(
                    _("`{what}` raised {error}: {text}").format(what=what, error=ename, text=clean_error(evalue))
                )

    @staticmethod
    def _line(function: str, *args) -> str:
        """One call of ``checks.probe.function`` in the kernel. ``__import__`` leaves no name
        behind among the learner's globals (an ``import`` would bind ``checks`` there)."""
        return (
            f"__import__('checks.probe', fromlist=['{function}']).{function}(globals(), "
            + ", ".join(map(repr, args))
            + ")"
        )

    def _ask(self, kind: str, name: str, args: tuple = (), kwargs: dict | None = None):
        self.calls += 1
        request_file = self.scratch / f"request{self.calls}.npz"
        answer_file = self.scratch / f"answer{self.calls}.npz"
        np.savez(request_file, **probe.request(kind, name, args, kwargs))
        self._run(self._line("serve", str(request_file), str(answer_file)), name)
        return probe.read_answer(probe.load_answer(answer_file), name)

    def bind(self, name: str, factory) -> None:
        """Define ``name`` in the kernel as ``factory(globals())``; ``factory`` is a module-level
        function of the book's own code, imported there by its name (no learner code involved)."""
        self._run(self._line("bind", name, probe.factory_path(factory)), _("the grader's {name}").format(name=name))

    def fresh_dir(self, label: str = "probe") -> Path:
        """A new, empty folder for one probe, outside the notebook's runs folder."""
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.scratch))


def stopped(message: str, **fields) -> Stopped:
    """A Stopped in the learner's language that keeps its English too (``english``): the grade's
    ``stopped`` reaches the instructor's CSV, which stays English."""
    text, english = i18n.both(message, **fields)
    e = Stopped(text)
    e.english = english
    return e


@dataclass
class Grade:
    chapter: str
    notebook: str
    preset: str
    results: list[Result]
    seconds: float
    stopped: str = ""
    cell_errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what the chapter needs and did not find
    figures: dict = field(default_factory=dict)  # what the checks measured (accuracy, ...)
    executed: nbformat.NotebookNode | None = None  # the notebook with its outputs
    # The learner's messages (results, stopped, missing) are in the notebook's language
    # (tfbook/i18n.py); in another language than English, ``english`` keeps the English of
    # "stopped" and "missing" for the instructor's files (the class CSV and report).
    language: str = i18n.ENGLISH
    english: dict = field(default_factory=dict)

    def to_json(self, **extra) -> dict:
        """The one JSON shape of a grade (progress files, `make book`, class grading)."""
        english = {"english": self.english} if self.english else {}
        return results_json(
            self.chapter,
            self.results,
            notebook=self.notebook,
            preset=self.preset,
            seconds=round(self.seconds, 1),
            stopped=self.stopped,
            cell_errors=self.cell_errors,
            missing=self.missing,
            figures=self.figures,
            language=self.language,
            **english,
            **extra,
        )


def missing_needs(chapter_id: str, source: Path) -> list[str]:
    """One message per ``runs/...`` need of the chapter (book.toml) missing from ``source``,
    naming the chapter and the command that makes it."""
    book = load_book()
    missing = []
    for need in book.chapter(chapter_id).needs:
        origin = Path(source) / need.removeprefix("runs/")
        if not need.startswith("runs/") or origin.exists():
            continue  # other needs (e.g. "mnist") are found or fetched by the data loader
        maker = next((c for c in book.chapters if need in c.produces), None)
        how = (
            _(
                "chapter {maker} ({title}) makes it: run `python -m checks {maker}` "
                "(it keeps what your chapter {maker} notebook makes), or run chapter {maker} "
                "to the end in Jupyter"
            ).format(maker=maker.id, title=maker.title)
            if maker
            else _("no chapter in book.toml produces it")
        )
        missing.append(
            _(
                "chapter {chapter} needs {need}, and {origin} does not exist; {how}; then grade chapter {chapter} again"
            ).format(chapter=chapter_id, need=need, origin=origin, how=how)
        )
    return missing


def needs_source(chapter_id: str, keep_runs: Path | None, needs_from: Path | None) -> Path:
    """Where a grading run takes the chapter's needs from: ``needs_from`` when given; else a
    ``keep_runs`` folder that already holds them all (copying the learner's runs/ over it would
    replace, say, the checkpoint the caller trained into it with another one); else runs/."""
    if needs_from is not None:
        return Path(needs_from)
    if keep_runs is not None and not missing_needs(chapter_id, keep_runs):
        return Path(keep_runs)
    return runs_root()


def provide_needs(chapter_id: str, runs_dir: Path, source: Path) -> list[str]:
    """Copy what the chapter needs from other chapters (book.toml's ``needs``) read-only from
    ``source`` (the learner's own runs folder) into the grading run's ``runs_dir``; return
    ``missing_needs``."""
    missing = missing_needs(chapter_id, source)
    for need in load_book().chapter(chapter_id).needs:
        relative = need.removeprefix("runs/")
        origin, target = Path(source) / relative, Path(runs_dir) / relative
        if not need.startswith("runs/") or not origin.exists() or origin.resolve() == target.resolve():
            continue
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
            copied = [p for p in target.rglob("*") if p.is_file()]
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
            copied = [target]
        for path in copied:  # read-only: grading must not change the learner's artifacts
            path.chmod(0o444)
    return missing


def keep_products(chapter_id: str, runs_dir: Path, destination: Path) -> list[str]:
    """Copy what the graded notebook made (book.toml's ``produces``) into ``destination``.

    A product the graded run did not make, or left as an empty folder (a notebook that stopped
    before saving its checkpoint), never replaces the learner's earlier one; a folder is swapped
    in whole, so a reader (chapter 04 restoring the checkpoint) never sees it half copied."""
    kept = []
    for product in load_book().chapter(chapter_id).produces:
        relative = product.removeprefix("runs/")
        origin, target = Path(runs_dir) / relative, Path(destination) / relative
        if not origin.exists() or origin.resolve() == target.resolve():
            continue
        if origin.is_dir() and not any(p.is_file() for p in origin.rglob("*")):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".{target.name}.incoming-{os.getpid()}")
        if origin.is_dir():
            shutil.copytree(origin, incoming)
            outgoing = target.with_name(f".{target.name}.outgoing-{os.getpid()}")
            if target.exists():
                target.rename(outgoing)
            incoming.rename(target)
            shutil.rmtree(outgoing, ignore_errors=True)
        else:
            shutil.copy2(origin, incoming)
            incoming.replace(target)
        kept.append(product)
    return kept


def grade_notebook(
    chapter_id: str,
    notebook: Path,
    *,
    preset: str | None = None,
    cell_timeout: int | None = None,
    keep_runs: Path | None = None,
    needs_from: Path | None = None,
    keep_in: Path | None = None,
    with_figures: bool = False,
    on_score=None,
) -> Grade:
    """Execute ``notebook`` in a fresh kernel and score every check of the chapter.

    ``keep_runs``: run in this runs folder instead of a fresh temporary one (``make book``).
    ``needs_from``: where the chapter's needs are copied from (default: ``keep_runs`` when it
    already holds every need, else the learner's runs/; see ``needs_source``).
    ``keep_in``: copy what the notebook produced there afterwards (``python -m checks``).
    ``with_figures``: keep the plots in the executed notebook (``make book``'s pages); a grade
    alone draws them off-screen (Agg), which is faster.
    ``on_score``: called with each Result as soon as it is scored (class grading keeps them, so
    that a kill of the whole grading process later still leaves the credit already earned).
    """
    chapter_id = str(chapter_id).zfill(2)
    chapter = load_chapter_checks(chapter_id)
    nb = read_notebook(notebook)
    # the learner reads this grade in the notebook's own language, whoever grades it
    with i18n.language(i18n.of_notebook(nb.metadata, notebook)):
        return _grade(
            chapter,
            notebook,
            nb,
            preset=preset,
            cell_timeout=cell_timeout,
            keep_runs=keep_runs,
            needs_from=needs_from,
            keep_in=keep_in,
            with_figures=with_figures,
            on_score=on_score,
        )


def _grade(
    chapter: Chapter,
    notebook: Path,
    nb: nbformat.NotebookNode,
    *,
    preset,
    cell_timeout,
    keep_runs,
    needs_from,
    keep_in,
    with_figures,
    on_score,
) -> Grade:
    chapter_id = chapter.id
    preset = preset or active_preset_name()
    timeout = cell_timeout or int(preset_settings(chapter_id, preset).get("cell_timeout_s", 600))
    started = time.monotonic()

    with shared_folders() as shared, tempfile.TemporaryDirectory(prefix="tfbook-grade-") as tmp:
        runs_dir, scratch, missing, missing_english = _prepare_run(chapter_id, Path(tmp), keep_runs, needs_from, shared)
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name(),
            allow_errors=True,
            interrupt_on_timeout=False,
            resources={"metadata": {"path": str(Path(notebook).resolve().parent)}},
        )
        learner = KernelLearner(client, runs_dir, scratch, preset)
        learner.before_run = shared.refresh
        scoring = _Scoring(chapter, learner, on_score)
        # The kernel's own stderr is TensorFlow's start-up chatter; cell errors reach us as outputs.
        with client.setup_kernel(env=_kernel_env(runs_dir, preset, with_figures), stderr=subprocess.DEVNULL):
            cell_errors = _execute(client, nb, scoring, timeout)
            scoring.the_rest()
        for cell in nb.cells:  # check_all(): every result, the end-of-notebook checks included
            if cell.cell_type == "code" and CHECK_ALL_CELL.search(cell.source) and "outputs" in cell:
                show_under(cell, format_chapter(chapter_id, scoring.ordered()))
        if keep_in is not None and keep_runs is None:
            keep_products(chapter_id, runs_dir, keep_in)
        english = (
            {} if i18n.current() == i18n.ENGLISH else {"stopped": scoring.stopped_english, "missing": missing_english}
        )

    return Grade(
        chapter_id,
        str(notebook),
        preset,
        scoring.ordered(),
        time.monotonic() - started,
        scoring.stopped,
        cell_errors,
        missing,
        dict(learner.figures),
        nb,
        i18n.current(),
        english,
    )


def _prepare_run(
    chapter_id: str, tmp: Path, keep_runs: Path | None, needs_from: Path | None, shared
) -> tuple[Path, Path, list[str], list[str]]:
    """The run's empty runs folder (or ``keep_runs``) holding what the chapter needs, and the
    grader's scratch folder, both given to the kernel's user; and the needs that were missing
    (in the learner's language, and in English)."""
    runs_dir = Path(keep_runs or tmp / "runs")
    scratch = tmp / "scratch"
    runs_dir.mkdir(parents=True, exist_ok=True)
    scratch.mkdir()
    source = needs_source(chapter_id, keep_runs, needs_from)
    missing = provide_needs(chapter_id, runs_dir, source)
    with i18n.language(i18n.ENGLISH):
        missing_english = missing_needs(chapter_id, source) if missing else []
    shared.add(runs_dir)  # no-ops unless the kernel runs as another user (checks.kernel_user)
    shared.add(scratch)
    return runs_dir, scratch, missing, missing_english


def _kernel_env(runs_dir: Path, preset: str, with_figures: bool) -> dict:
    # TFBOOK_LANG: the probes' answers (not defined yet, raised, ...) in the grade's language
    env = dict(
        os.environ,
        TFBOOK_RUNS=str(runs_dir),
        TFBOOK_PRESET=preset,
        TFBOOK_GRADING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        MPLBACKEND="Agg",
        **{i18n.ENV: i18n.current()},
    )
    if with_figures:  # the kernel's own default: matplotlib's inline backend, figures as outputs
        del env["MPLBACKEND"]
    return env


class _Scoring:
    """The results of one grade, scored check by check; once the kernel is gone (``stopped``),
    every check not yet scored fails with the reason."""

    def __init__(self, chapter: Chapter, learner: KernelLearner, on_score=None):
        self.chapter, self.learner, self.on_score = chapter, learner, on_score
        self.results: dict[str, Result] = {}
        self.stopped = ""
        self.stopped_english = ""  # the same, in English (Grade.english)

    def stop(self, message: str, **fields) -> None:
        self.stopped, self.stopped_english = i18n.both(message, **fields)

    def exercise(self, exercise: str, at_end: bool = False) -> None:
        for check in self.chapter.checks_for(exercise):
            if check.id in self.results or check.at_end != at_end:
                continue
            result = _run_check(self.chapter, check, self.learner) if not self.stopped else self.stopped
            if isinstance(result, Stopped):  # the kernel can no longer be used
                self.stopped = result.message
                self.stopped_english = getattr(result, "english", result.message)
            if isinstance(result, (str, Stopped)):
                self.results[check.id] = self.chapter.not_scored(check, self.stopped)
                continue
            self.results[check.id] = result
            if self.on_score is not None:
                self.on_score(result)

    def the_rest(self) -> None:
        """Every exercise not scored after its check cell, then the checks that need the whole
        notebook (``at_end``: the trained checkpoint)."""
        for at_end in (False, True):
            for exercise in self.chapter.exercises:
                self.exercise(exercise, at_end)

    def scored(self, exercise: str) -> list[Result]:
        """The exercise's results so far, in the chapter's order."""
        return [self.results[c.id] for c in self.chapter.checks_for(exercise) if c.id in self.results]

    def ordered(self) -> list[Result]:
        return [self.results[c.id] for c in self.chapter.checks]


def _execute(client: NotebookClient, nb: nbformat.NotebookNode, scoring: _Scoring, timeout: int) -> list[str]:
    """Run the code cells in order, scoring an exercise right after its ``check("name")`` cell;
    stop at a cell past its limit or a dead kernel. Returns the cells' errors."""
    cell_errors = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            client.execute_cell(cell, index)
        except CellTimeoutError:
            scoring.stop(
                N_(
                    "the notebook stopped: cell {cell} ran longer than {timeout} s "
                    "(an endless loop, or a preset too large for the time limit?)"
                ),
                cell=index + 1,
                timeout=timeout,
            )
            break
        except DeadKernelError:
            scoring.stop(N_("the notebook stopped: the kernel died in cell {cell}"), cell=index + 1)
            break
        cell_errors += [
            cell_error(index, cell.source, out) for out in cell.get("outputs", []) if out.get("output_type") == "error"
        ]
        match = CHECK_CELL.search(cell.source)
        if match and match.group(1) in scoring.chapter.exercises:
            scoring.exercise(match.group(1))
            # the learner's check() does nothing under the grader: the cell shows the grade instead
            show_under(cell, format_results(scoring.scored(match.group(1))))
            if scoring.stopped:
                break
    return cell_errors


def show_under(cell, text: str) -> None:
    """Add ``text`` to a code cell's outputs, as if the cell had printed it."""
    cell.setdefault("outputs", []).append(nbformat.v4.new_output("stream", name="stdout", text=text + "\n"))


def cell_error(index: int, source: str, output: dict) -> str:
    """``cell 12 (`history = train(...)`): ValueError: ...``: enough to find the cell."""
    first = next(
        (line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")), ""
    )
    if len(first) > 60:
        first = first[:57] + "..."
    return f"cell {index + 1} (`{first}`): {output.get('ename')}: {clean_error(str(output.get('evalue', '')))[:200]}"


def _run_check(chapter: Chapter, check, learner) -> Result | Stopped:
    """A Result, or why the kernel can no longer be used."""
    try:
        return chapter.run(check, learner)
    except Stopped as e:
        return e
