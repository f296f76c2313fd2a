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

from checks.engine import (Arg, Chapter, CheckFailed, LearnerError, NotDone, Result, Stopped,
                           as_plain, clean_error, results_json, traced_message)
from checks.kernel_user import kernel_name, shared_folders
from checks.registry import load_chapter_checks
from tfbook.manifest import active_preset_name, load_book, preset as preset_settings
from tfbook.paths import runs_root

CHECK_CELL = re.compile(r"""^\s*check\(\s*["'](\w+)["']\s*\)\s*$""", re.MULTILINE)
PROBE_TIMEOUT_S = 120


def read_notebook(path: Path) -> nbformat.NotebookNode:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".py":
        import jupytext
        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


class KernelLearner:
    """The learner's code, reached through a kernel the grader controls."""

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
            raise Stopped(f"`{what}` ran longer than {self.client.timeout} s when the grader called it "
                          "(an endless loop?)") from None
        except DeadKernelError:
            raise Stopped(f"the kernel died while the grader called `{what}`") from None
        finally:
            self.client.nb = learners_notebook
        for out in cell.outputs:
            if out.get("output_type") == "error":
                ename, evalue = out.get("ename", ""), out.get("evalue", "")
                raise LearnerError(f"`{what}` raised {ename}: {clean_error(evalue)}")

    def _send(self, args: tuple, kwargs: dict) -> tuple[Path, list, dict]:
        arrays: dict[str, np.ndarray] = {}

        def spec(key: str, a):
            if isinstance(a, Arg):
                if a.kind == "tensor":
                    arrays[key] = a.value
                    return ("tensor", key)
                for k, v in a.value.items():
                    arrays[f"{key}/{k}"] = v
                return (a.kind, key)
            if a is None or isinstance(a, (bool, int, float, str)):
                return ("literal", a)
            raise TypeError(f"cannot send {type(a).__name__} to the kernel")
        arg_specs = [spec(f"a{i}", a) for i, a in enumerate(args)]
        kw_specs = {k: spec(f"k_{k}", v) for k, v in kwargs.items()}
        path = self.scratch / f"in{self.calls}.npz"
        np.savez(path, **arrays)
        return path, arg_specs, kw_specs

    def _receive(self, path: Path, what: str):
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except FileNotFoundError:
            raise CheckFailed(f"`{what}` returned nothing the grader could read") from None
        except ValueError:  # object arrays need pickle: the result was not numbers
            raise CheckFailed(f"`{what}` returned something that is not a tensor of numbers",
                              hint="Return a tf.Tensor (or a number), not another kind of object.") from None
        status = str(data.pop(STATUS_KEY, "")) if STATUS_KEY in data else ""
        if status == "none":
            return as_plain(None, what)  # says that nothing was returned
        if status in NOT_DONE:
            raise NotDone(NOT_DONE[status].format(name=what),
                          hint="Run the exercise's cell first." if status == "undefined" else "")
        if "r" in data:
            return as_plain(data["r"], what)
        return {k[2:]: as_plain(v, what) for k, v in data.items()}

    def call(self, name: str, *args, **kwargs):
        return self._call(name, args, kwargs, traced=False)

    def bind(self, name: str, factory) -> None:
        """Define ``name`` in the kernel as ``factory(globals())``; ``factory`` is a module-level
        function of the book's own code, imported there by its name (no learner code involved)."""
        self._run(f"from {factory.__module__} import {factory.__name__} as _tfbook_factory\n"
                  f"{name} = _tfbook_factory(globals())\ndel _tfbook_factory", f"the grader's {name}")

    def fresh_dir(self, label: str = "probe") -> Path:
        """A new, empty folder for one probe, outside the notebook's runs folder."""
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.scratch))

    def call_traced(self, name: str, *args, **kwargs):
        """``call``, but the learner's function runs inside a ``tf.function`` (as in training)."""
        try:
            return self._call(name, args, kwargs, traced=True)
        except LearnerError as e:
            raise LearnerError(traced_message(name, e.message)) from None

    def _call(self, name: str, args: tuple, kwargs: dict, traced: bool):
        self.calls += 1
        inp, arg_specs, kw_specs = self._send(args, kwargs)
        out = self.scratch / f"out{self.calls}.npz"
        code = PROBE_TEMPLATE.format(inp=str(inp), out=str(out), args=arg_specs, kwargs=kw_specs,
                                     name=name, traced=traced, status=STATUS_KEY)
        self._run(code, name)
        return self._receive(out, name)

    def value(self, name: str):
        self.calls += 1
        out = self.scratch / f"out{self.calls}.npz"
        code = VALUE_TEMPLATE.format(out=str(out), name=name, status=STATUS_KEY)
        self._run(code, name)
        return self._receive(out, name)


# Runs inside the learner's kernel; it only moves numbers in and out (the checks run here).
# "Not written yet" travels back as a status in the result file, not as the text of an error:
# a learner can only forge a status that costs them the check.
STATUS_KEY = "__tfbook_status__"
NOT_DONE = {
    "undefined": "`{name}` is not defined",
    "not_implemented": "`{name}` is not written yet (it raises NotImplementedError)",
    "ellipsis": "`{name}` is still `...`: replace it with your value",
}

PROBE_TEMPLATE = '''
def _tfbook_probe():
    import numpy as _np
    if "{name}" not in globals():
        _np.savez({out!r}, **{{"{status}": _np.asarray("undefined")}})
        return
    with _np.load({inp!r}, allow_pickle=False) as _f:
        _data = {{_k: _f[_k] for _k in _f.files}}
    def _arg(_spec):
        _kind, _key = _spec
        if _kind == "literal":
            return _key
        if _kind == "tensor":
            return _tf.constant(_data[_key])
        _part = {{_k.split("/", 1)[1]: _v for _k, _v in _data.items() if _k.startswith(_key + "/")}}
        if _kind == "variables":
            return {{_k: _tf.Variable(_v, name=_k) for _k, _v in _part.items()}}
        return {{_k: _tf.constant(_v) for _k, _v in _part.items()}}
    if {traced} or _data:  # TensorFlow only when tensors travel (chapter 02 sends strings)
        import tensorflow as _tf
    _args = [_arg(_s) for _s in {args!r}]
    _kwargs = {{_k: _arg(_s) for _k, _s in {kwargs!r}.items()}}
    _func = globals()["{name}"]
    _positions = [_i for _i, _s in enumerate({args!r}) if _s[0] == "tensor"]
    try:
        if {traced}:  # traced as the training step is: the batch size unknown
            def _traced(*_batch):
                _full = list(_args)
                for _i, _t in zip(_positions, _batch):
                    _full[_i] = _t
                return _func(*_full, **_kwargs)
            _spec = [_tf.TensorSpec([None, *_args[_i].shape[1:]] if _args[_i].shape.rank else [],
                                    _args[_i].dtype) for _i in _positions]
            _result = _tf.function(_traced, input_signature=_spec)(*[_args[_i] for _i in _positions])
        else:
            _result = _func(*_args, **_kwargs)
    except NotImplementedError as _e:
        if "symbolic" in str(_e):
            raise TypeError(f"NumPy was handed a symbolic tensor ({{_e}})") from None
        _np.savez({out!r}, **{{"{status}": _np.asarray("not_implemented")}})
        return
    if _result is None:
        _np.savez({out!r}, **{{"{status}": _np.asarray("none")}})
    elif isinstance(_result, dict):
        _np.savez({out!r}, **{{"d/" + str(_k): _np.asarray(_v) for _k, _v in _result.items()}})
    else:
        _np.savez({out!r}, r=_np.asarray(_result))
_tfbook_probe()
del _tfbook_probe
'''

VALUE_TEMPLATE = '''
def _tfbook_value():
    import numpy as _np
    if "{name}" not in globals():
        _np.savez({out!r}, **{{"{status}": _np.asarray("undefined")}})
    elif globals()["{name}"] is Ellipsis:
        _np.savez({out!r}, **{{"{status}": _np.asarray("ellipsis")}})
    else:
        _np.savez({out!r}, r=_np.asarray(globals()["{name}"]))
_tfbook_value()
del _tfbook_value
'''


@dataclass
class Grade:
    chapter: str
    notebook: str
    preset: str
    results: list[Result]
    seconds: float
    stopped: str = ""
    cell_errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # what the chapter needs and did not find
    figures: dict = field(default_factory=dict)        # what the checks measured (accuracy, ...)
    executed: nbformat.NotebookNode | None = None      # the notebook with its outputs

    def to_json(self, **extra) -> dict:
        """The one JSON shape of a grade (progress files, `make book`, class grading)."""
        return results_json(self.chapter, self.results, notebook=self.notebook, preset=self.preset,
                            seconds=round(self.seconds, 1), stopped=self.stopped,
                            cell_errors=self.cell_errors, missing=self.missing,
                            figures=self.figures, **extra)


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
        how = (f"chapter {maker.id} ({maker.title}) makes it: run `python -m checks {maker.id}` "
               f"(it keeps what your chapter {maker.id} notebook makes), or run chapter {maker.id} "
               "to the end in Jupyter") if maker else "no chapter in book.toml produces it"
        missing.append(f"chapter {chapter_id} needs {need}, and {origin} does not exist; {how}; "
                       f"then grade chapter {chapter_id} again")
    return missing


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
    """Copy what the graded notebook made (book.toml's ``produces``) into ``destination``."""
    kept = []
    for product in load_book().chapter(chapter_id).produces:
        relative = product.removeprefix("runs/")
        origin, target = Path(runs_dir) / relative, Path(destination) / relative
        if not origin.exists() or origin.resolve() == target.resolve():
            continue
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target)
        else:
            shutil.copy2(origin, target)
        kept.append(product)
    return kept


def grade_notebook(chapter_id: str, notebook: Path, *, preset: str | None = None,
                   cell_timeout: int | None = None, keep_runs: Path | None = None,
                   needs_from: Path | None = None, keep_in: Path | None = None,
                   with_figures: bool = False, on_score=None) -> Grade:
    """Execute ``notebook`` in a fresh kernel and score every check of the chapter.

    ``keep_runs``: run in this runs folder instead of a fresh temporary one (``make book``).
    ``needs_from``: where the chapter's needs are copied from (default: the learner's runs/).
    ``keep_in``: copy what the notebook produced there afterwards (``python -m checks``).
    ``with_figures``: keep the plots in the executed notebook (``make book``'s pages); a grade
    alone draws them off-screen (Agg), which is faster.
    ``on_score``: called with each Result as soon as it is scored (class grading keeps them, so
    that a kill of the whole grading process later still leaves the credit already earned).
    """
    chapter_id = str(chapter_id).zfill(2)
    chapter = load_chapter_checks(chapter_id)
    preset = preset or active_preset_name()
    settings = preset_settings(chapter_id, preset)
    timeout = cell_timeout or int(settings.get("cell_timeout_s", 600))
    nb = read_notebook(notebook)
    started = time.monotonic()

    with shared_folders() as shared, tempfile.TemporaryDirectory(prefix="tfbook-grade-") as tmp:
        runs_dir = Path(keep_runs or Path(tmp) / "runs")
        scratch = Path(tmp) / "scratch"
        runs_dir.mkdir(parents=True, exist_ok=True)
        scratch.mkdir()
        missing = provide_needs(chapter_id, runs_dir, needs_from or runs_root())
        shared.add(runs_dir)  # no-ops unless the kernel runs as another user (checks.kernel_user)
        shared.add(scratch)
        env = dict(os.environ, TFBOOK_RUNS=str(runs_dir), TFBOOK_PRESET=preset, TFBOOK_GRADING="1",
                   TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
        if with_figures:  # the kernel's own default: matplotlib's inline backend, figures as outputs
            del env["MPLBACKEND"]
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name(), allow_errors=True,
                                interrupt_on_timeout=False,
                                resources={"metadata": {"path": str(Path(notebook).resolve().parent)}})
        learner = KernelLearner(client, runs_dir, scratch, preset)
        learner.before_run = shared.refresh
        results: dict[str, Result] = {}
        stopped, cell_errors = "", []

        def score(exercise: str, at_end: bool) -> None:
            nonlocal stopped
            for check in chapter.checks_for(exercise):
                if check.id in results or check.at_end != at_end:
                    continue
                if stopped:
                    results[check.id] = chapter.not_scored(check, stopped)
                    continue
                result = _run_check(chapter, check, learner)
                if isinstance(result, str):
                    stopped = result
                    results[check.id] = chapter.not_scored(check, stopped)
                else:
                    results[check.id] = result
                    if on_score is not None:
                        on_score(result)

        # The kernel's own stderr is TensorFlow's start-up chatter; cell errors reach us as outputs.
        with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    stopped = (f"the notebook stopped: cell {index + 1} ran longer than {timeout} s "
                               "(an endless loop, or a preset too large for the time limit?)")
                    break
                except DeadKernelError:
                    stopped = f"the notebook stopped: the kernel died in cell {index + 1}"
                    break
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        cell_errors.append(cell_error(index, cell.source, out))
                match = CHECK_CELL.search(cell.source)
                if match and match.group(1) in chapter.exercises:
                    score(match.group(1), at_end=False)
                    if stopped:
                        break
            for exercise in chapter.exercises:
                score(exercise, at_end=False)
            for exercise in chapter.exercises:
                score(exercise, at_end=True)
        if keep_in is not None and keep_runs is None:
            keep_products(chapter_id, runs_dir, keep_in)

    ordered = [results[c.id] for c in chapter.checks]
    return Grade(chapter_id, str(notebook), preset, ordered, time.monotonic() - started,
                 stopped, cell_errors, missing, dict(learner.figures), nb)


def cell_error(index: int, source: str, output: dict) -> str:
    """``cell 12 (`history = train(...)`): ValueError: ...``: enough to find the cell."""
    first = next((line.strip() for line in source.splitlines()
                  if line.strip() and not line.strip().startswith("#")), "")
    if len(first) > 60:
        first = first[:57] + "..."
    return (f"cell {index + 1} (`{first}`): {output.get('ename')}: "
            f"{clean_error(str(output.get('evalue', '')))[:200]}")


def _run_check(chapter: Chapter, check, learner) -> Result | str:
    """A Result, or the reason the kernel can no longer be used (a string)."""
    try:
        return chapter.run(check, learner)
    except Stopped as e:
        return e.message
