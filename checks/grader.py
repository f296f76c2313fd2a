"""Grade a notebook: execute it in a fresh kernel and score it from the grading process.

The notebook runs top to bottom in a kernel this process starts (per-cell time limit, its own
empty ``runs/`` folder). Right after each ``check("name")`` cell, and at the end, the grader
calls the learner's functions with inputs it chose at random for this run and reads the
results back as plain arrays (``.npz`` loaded with ``allow_pickle=False``); every comparison
happens here, against the grader's own reference computations. A kernel that dies or a cell
that runs past its limit fails every exercise not yet scored, with the reason.
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from checks.engine import (Arg, Chapter, CheckFailed, LearnerError, NotDone, Result, Stopped,
                           as_plain, clean_error)

CHECK_CELL = re.compile(r"""^\s*check\(\s*["'](\w+)["']\s*\)\s*$""", re.MULTILINE)
PROBE_TIMEOUT_S = 120


def load_chapter_checks(chapter_id: str) -> Chapter:
    module = importlib.import_module(f"checks.ch{str(chapter_id).zfill(2)}")
    return module.chapter


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

    def _run(self, code: str, what: str) -> None:
        cell = nbformat.v4.new_code_cell(code)
        try:
            self.client.execute_cell(cell, 0)
        except CellTimeoutError:
            raise Stopped(f"`{what}` ran longer than {self.client.timeout} s when the grader called it "
                          "(an endless loop?)") from None
        except DeadKernelError:
            raise Stopped(f"the kernel died while the grader called `{what}`") from None
        for out in cell.outputs:
            if out.get("output_type") == "error":
                ename, evalue = out.get("ename", ""), out.get("evalue", "")
                if ename == "NotImplementedError" and "is still ..." in evalue:
                    raise NotDone(f"`{what}` is still `...`: replace it with your value")
                if ename == "NotImplementedError":
                    raise NotDone(f"`{what}` is not written yet (it raises NotImplementedError)")
                if ename == "NameError" and f"'{what}'" in evalue:
                    raise NotDone(f"`{what}` is not defined", hint="Run the exercise's cell first.")
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
        if "r" in data:
            return as_plain(data["r"], what)
        return {k[2:]: as_plain(v, what) for k, v in data.items()}

    def call(self, name: str, *args, **kwargs):
        self.calls += 1
        inp, arg_specs, kw_specs = self._send(args, kwargs)
        out = self.scratch / f"out{self.calls}.npz"
        code = PROBE_TEMPLATE.format(inp=str(inp), out=str(out), args=arg_specs, kwargs=kw_specs,
                                     call=f"{name}(*_args, **_kwargs)")
        self._run(code, name)
        return self._receive(out, name)

    def value(self, name: str):
        self.calls += 1
        out = self.scratch / f"out{self.calls}.npz"
        code = VALUE_TEMPLATE.format(out=str(out), name=name)
        self._run(code, name)
        return self._receive(out, name)


# Runs inside the learner's kernel; it only moves numbers in and out (the checks run here).
PROBE_TEMPLATE = '''
def _tfbook_probe():
    import numpy as _np
    import tensorflow as _tf
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
    _args = [_arg(_s) for _s in {args!r}]
    _kwargs = {{_k: _arg(_s) for _k, _s in {kwargs!r}.items()}}
    _result = {call}
    if isinstance(_result, dict):
        _np.savez({out!r}, **{{"d/" + str(_k): _np.asarray(_v) for _k, _v in _result.items()}})
    else:
        _np.savez({out!r}, r=_np.asarray(_result))
_tfbook_probe()
del _tfbook_probe
'''

VALUE_TEMPLATE = '''
def _tfbook_value():
    import numpy as _np
    if {name} is Ellipsis:
        raise NotImplementedError("{name} is still ...")
    _np.savez({out!r}, r=_np.asarray({name}))
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
    executed: nbformat.NotebookNode | None = None  # the notebook with its outputs


def grade_notebook(chapter_id: str, notebook: Path, *, preset: str | None = None,
                   cell_timeout: int | None = None, keep_runs: Path | None = None) -> Grade:
    """Execute ``notebook`` in a fresh kernel and score every check of the chapter."""
    from tfbook.manifest import active_preset_name, preset as preset_settings
    chapter_id = str(chapter_id).zfill(2)
    chapter = load_chapter_checks(chapter_id)
    preset = preset or active_preset_name()
    settings = preset_settings(chapter_id, preset)
    timeout = cell_timeout or int(settings.get("cell_timeout_s", 600))
    nb = read_notebook(notebook)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="tfbook-grade-") as tmp:
        runs_dir = Path(keep_runs or Path(tmp) / "runs")
        scratch = Path(tmp) / "scratch"
        runs_dir.mkdir(parents=True, exist_ok=True)
        scratch.mkdir()
        env = dict(os.environ, TFBOOK_RUNS=str(runs_dir), TFBOOK_PRESET=preset,
                   TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                interrupt_on_timeout=False,
                                resources={"metadata": {"path": str(Path(notebook).resolve().parent)}})
        learner = KernelLearner(client, runs_dir, scratch, preset)
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
                        cell_errors.append(f"cell {index + 1}: {out.get('ename')}: "
                                           f"{str(out.get('evalue', ''))[:200]}")
                match = CHECK_CELL.search(cell.source)
                if match and match.group(1) in chapter.exercises:
                    score(match.group(1), at_end=False)
                    if stopped:
                        break
            for exercise in chapter.exercises:
                score(exercise, at_end=False)
            for exercise in chapter.exercises:
                score(exercise, at_end=True)

    ordered = [results[c.id] for c in chapter.checks]
    return Grade(chapter_id, str(notebook), preset, ordered, time.monotonic() - started,
                 stopped, cell_errors, nb)


def _run_check(chapter: Chapter, check, learner) -> Result | str:
    """A Result, or the reason the kernel can no longer be used (a string)."""
    try:
        return chapter.run(check, learner)
    except Stopped as e:
        return e.message
