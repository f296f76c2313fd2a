"""The probe protocol (checks/probe.py): one code path on both sides of the kernel boundary.

The grader's KernelLearner is driven here through a stand-in for nbclient that runs each cell
with ``exec`` in one namespace, as a kernel would: the real request and answer files, the real
one-line cells, no kernel start (tests/test_grader.py and test_variants.py do it with one). The
in-process learner must answer exactly as the kernel does, and no answer a learner's code can
write turns a failure into a pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from checks import probe
from checks.engine import (
    Blocked,
    Chapter,
    CheckFailed,
    Exercise,
    LearnerError,
    NamespaceLearner,
    NotDone,
    Stopped,
    tensor,
    tensors,
    variables,
)
from checks.grader import KernelLearner
from tfbook.manifest import ROOT


class ExecKernel:
    """Stands in for nbclient's NotebookClient: a cell's code runs with ``exec`` among
    ``namespace`` (the kernel's globals); an exception becomes an error output, as in Jupyter."""

    timeout = 10

    def __init__(self, namespace: dict):
        self.namespace, self.nb, self.sources = namespace, None, []

    def execute_cell(self, cell, index):
        self.sources.append(cell.source)
        cell.outputs = []
        try:
            exec(cell.source, self.namespace)
        except Exception as e:
            cell.outputs.append({"output_type": "error", "ename": type(e).__name__, "evalue": str(e)})


def _stub(*args):
    raise NotImplementedError("Exercise 9.9: write it")


def _numpy_inside(x):
    return np.mean(x, axis=1)  # fine eagerly; inside tf.function NumPy gets a symbolic tensor


def _dot_numpy(x):
    return tf.constant(x.numpy() * 2)  # .numpy() exists eagerly only (AttributeError when traced)


def _eager_only(x):
    if not tf.executing_eagerly():  # what .numpy() raised in TensorFlow before 2.16
        raise NotImplementedError("numpy() is only available when eager execution is enabled.")
    return x


def _batch_size_in_python(x):
    return tf.zeros([x.shape[0] * 2])  # None * 2 inside a tf.function


def _fails_everywhere(x):
    return tf.reshape(x, [7, 7, 7])


def _nested(x):
    return {"sum": tf.reduce_sum(x), "inner": {"a": 1.0, "b": "text"}}


class Everything:
    def __eq__(self, other):
        return True


def _raise_blocked(*args):
    raise Blocked("a learner's own Blocked")


def _raise_stopped(*args):
    raise Stopped("a learner's own Stopped")


LEARNERS_CODE = {
    "double": lambda x: x * 2,
    "stub": _stub,
    "STILL_TODO": ...,
    "FLATTEN_SIZE": 3136,
    "no_return": lambda *a: None,
    "ragged": lambda *a: [[1.0, 2.0], [3.0]],
    "an_object": lambda *a: object(),
    "EVERYTHING": Everything(),
    "strings": lambda *a: ["a", "b"],
    "a_path": lambda *a: "/tmp/ckpt-1",
    "raises": lambda *a: int("nine"),
    "numpy_inside": _numpy_inside,
    "dot_numpy": _dot_numpy,
    "eager_only": _eager_only,
    "batch_size_in_python": _batch_size_in_python,
    "fails_everywhere": _fails_everywhere,
    "nested": _nested,
    "sum_params": lambda params, scale=1.0: tf.add_n([tf.reduce_sum(v) for v in params.values()]) * scale,
    "assign_variables": lambda params: [v.assign(v * 0) for v in params.values()][0],
    "blocked": _raise_blocked,
    "stopped": _raise_stopped,
}

X = np.arange(12, dtype=np.float32).reshape(3, 4)
PARAMS = {"w": np.ones((2, 2), np.float32), "b/bias": np.arange(3, dtype=np.float32)}
CASES = [  # (how, name, args, kwargs)
    ("call", "double", (tensor(X),), {}),
    ("traced", "double", (tensor(X),), {}),
    ("call", "missing", (tensor(X),), {}),
    ("traced", "missing", (tensor(X),), {}),
    ("call", "stub", (tensor(X),), {}),
    ("traced", "stub", (tensor(X),), {}),
    ("value", "STILL_TODO", (), {}),
    ("value", "FLATTEN_SIZE", (), {}),
    ("value", "missing", (), {}),
    ("call", "no_return", (), {}),
    ("call", "ragged", (), {}),
    ("call", "an_object", (), {}),
    ("value", "EVERYTHING", (), {}),
    ("call", "strings", (), {}),
    ("call", "a_path", ("/tmp", 3, 0.5, True, None), {}),
    ("call", "raises", (tensor(X),), {}),
    ("traced", "raises", (tensor(X),), {}),
    ("call", "numpy_inside", (tensor(X),), {}),
    ("traced", "numpy_inside", (tensor(X),), {}),
    ("traced", "dot_numpy", (tensor(X),), {}),
    ("traced", "eager_only", (tensor(X),), {}),
    ("traced", "batch_size_in_python", (tensor(X),), {}),
    ("traced", "fails_everywhere", (tensor(X),), {}),
    ("call", "nested", (tensor(X),), {}),
    ("call", "sum_params", (tensors(PARAMS),), {"scale": 2.0}),
    ("call", "assign_variables", (variables(PARAMS),), {}),
    ("call", "blocked", (), {}),
    ("call", "stopped", (), {}),
]


def outcome(learner, how, name, args, kwargs):
    """What a check sees: the plain result, or the failure's class and fields."""
    try:
        if how == "value":
            return ("value", _comparable(learner.value(name)))
        method = learner.call_traced if how == "traced" else learner.call
        return ("value", _comparable(method(name, *args, **kwargs)))
    except CheckFailed as e:
        return (type(e).__name__, e.message, e.expected, e.got, e.hint)


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tolist())
    return value


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    kernel = ExecKernel(dict(LEARNERS_CODE))
    scratch = tmp_path_factory.mktemp("scratch")
    graded = KernelLearner(kernel, tmp_path_factory.mktemp("runs"), scratch, "smoke")
    inline = NamespaceLearner(dict(LEARNERS_CODE), tmp_path_factory.mktemp("runs-inline"), "smoke")
    return graded, inline, kernel


@pytest.mark.parametrize("how, name, args, kwargs", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_kernel_and_the_in_process_learner_answer_alike(both, how, name, args, kwargs):
    graded, inline, _ = both
    assert outcome(graded, how, name, args, kwargs) == outcome(inline, how, name, args, kwargs)


def test_what_the_learner_reads_for_each_slip(both):
    graded = both[0]

    def failure(how, name, *args):
        result = outcome(graded, how, name, args, {})
        assert result[0] != "value", (name, result)
        return result

    assert failure("call", "missing") == (
        "NotDone",
        "`missing` is not defined yet",
        None,
        None,
        "Run the exercise's cell first.",
    )
    assert failure("traced", "stub", tensor(X))[:2] == (
        "NotDone",
        "`stub` is not written yet (it raises NotImplementedError)",
    )
    assert failure("value", "STILL_TODO")[1] == "`STILL_TODO` is still `...`: replace it with your value"
    assert failure("call", "no_return")[1] == "`no_return` returned None: is its `return` statement missing?"
    assert "different lengths (2, 1)" in failure("call", "ragged")[1]
    assert failure("call", "an_object")[1] == "`an_object` returned a object, which is not a tensor of numbers"
    assert failure("value", "EVERYTHING")[1] == "`EVERYTHING` returned a Everything, which is not a tensor of numbers"
    assert failure("call", "raises", tensor(X))[:2] == (
        "LearnerError",
        "`raises` raised ValueError: invalid literal for int() with base 10: 'nine'",
    )
    numpy_traced = failure("traced", "numpy_inside", tensor(X))
    assert numpy_traced[0] == "LearnerError" and numpy_traced[4] == probe.TF_OPS_ONLY
    assert numpy_traced[1].startswith(probe.traced_message("numpy_inside", "NumPy was handed a symbolic tensor"))
    assert failure("traced", "dot_numpy", tensor(X))[1].startswith(
        probe.traced_message("dot_numpy", "`dot_numpy` raised AttributeError")
    )
    assert failure("traced", "eager_only", tensor(X))[1] == probe.traced_message(
        "eager_only", "it hands a tensor to NumPy (np.* or .numpy()), which only works eagerly"
    )
    python_batch = failure("traced", "batch_size_in_python", tensor(X))[1]
    assert python_batch.startswith(
        probe.traced_message("batch_size_in_python", "`batch_size_in_python` raised TypeError")
    )
    everywhere = failure("traced", "fails_everywhere", tensor(X))[1]  # eagerly too: the plain error
    assert everywhere.startswith("`fails_everywhere` raised InvalidArgumentError") and "works eagerly" not in everywhere


def test_results_come_back_as_plain_numbers_strings_and_dicts(both):
    graded = both[0]
    assert graded.call("nested", tensor(X)) == {"sum": 66.0, "inner": {"a": 1.0, "b": "text"}}
    assert graded.call("a_path", "/tmp", 3, 0.5, True, None) == "/tmp/ckpt-1"
    assert graded.value("FLATTEN_SIZE") == 3136
    assert graded.call("sum_params", tensors(PARAMS), scale=2.0) == 2 * (4 + 3)


def test_the_kernel_runs_one_short_line_per_probe(both):
    """No page of formatted source: the kernel imports checks.probe and calls it with two paths."""
    graded, _, kernel = both
    kernel.sources.clear()
    graded.call("double", tensor(X))
    graded.value("FLATTEN_SIZE")
    graded.bind("_tfbook_test_door", door_factory)
    assert len(kernel.sources) == 3
    assert all("\n" not in s and len(s) < 300 and "checks.probe" in s for s in kernel.sources), kernel.sources
    assert "checks" not in kernel.namespace  # nothing of the grader's left among the learner's names
    assert kernel.namespace["_tfbook_test_door"] == sorted(LEARNERS_CODE)[:2]


def door_factory(namespace: dict):  # a module-level factory, as bind needs (imported by its name)
    return sorted(k for k in namespace if not k.startswith("_"))[:2]


def test_bind_in_process_imports_the_factory_as_the_kernel_does(tmp_path):
    learner = NamespaceLearner(dict(LEARNERS_CODE), tmp_path, "smoke")
    learner.bind("_door", door_factory)
    assert learner.namespace["_door"] == sorted(LEARNERS_CODE)[:2]


# --- answers a learner's code could forge -------------------------------------------------------


def _forged(arrays: dict, tmp_path: Path, **savez) -> dict:
    path = tmp_path / "answer.npz"
    np.savez(path, **arrays, **savez)
    return probe.load_answer(path)


FORGED = {
    "no file": None,
    "not an npz": "text",
    "a passed status": {probe.STATUS: np.asarray("passed")},
    "a blocked status": {probe.STATUS: np.asarray("blocked"), probe.FAILURE: np.asarray('{"message": "x"}')},
    "ok without layout": {probe.STATUS: np.asarray("ok"), "v0": np.asarray(1.0)},
    "ok, layout to nothing": {probe.STATUS: np.asarray("ok"), probe.LAYOUT: np.asarray('"v9"')},
    "ok, layout a list": {probe.STATUS: np.asarray("ok"), probe.LAYOUT: np.asarray('["v0"]'), "v0": np.asarray(1.0)},
    "ok, an object array": {
        probe.STATUS: np.asarray("ok"),
        probe.LAYOUT: np.asarray('"v0"'),
        "v0": np.asarray([object()], dtype=object),
    },
    "ok, bytes": {probe.STATUS: np.asarray("ok"), probe.LAYOUT: np.asarray('"v0"'), "v0": np.asarray(b"x")},
    "a failure without fields": {probe.STATUS: np.asarray("failed"), probe.FAILURE: np.asarray("{}")},
    "a status of numbers": {probe.STATUS: np.asarray([1, 2])},
}


@pytest.mark.parametrize("case", list(FORGED))
def test_a_forged_answer_is_a_failure(tmp_path, case):
    forged = FORGED[case]
    if forged is None:
        arrays = probe.load_answer(tmp_path / "nothing.npz")
    elif isinstance(forged, str):
        (tmp_path / "answer.npz").write_text(forged)
        arrays = probe.load_answer(tmp_path / "answer.npz")
    else:
        arrays = _forged(forged, tmp_path)
    with pytest.raises(CheckFailed) as raised:
        probe.read_answer(arrays, "reshape_input")
    assert type(raised.value) in (CheckFailed, NotDone, LearnerError)
    assert raised.value.message


def test_a_learners_blocked_or_stopped_is_a_plain_failure(tmp_path):
    """Blocked keeps a check's points and Stopped ends the grade: the grader's to say, never the
    learner's code's (in-process, Blocked used to pass straight through)."""
    chapter = Chapter("99", {"ex": Exercise("9.1", "a hint")})

    @chapter.check("ex", 2, "calls blocked")
    def calls_blocked(learner):
        learner.call("blocked")

    @chapter.check("ex", 2, "calls stopped")
    def calls_stopped(learner):
        learner.call("stopped")

    learner = NamespaceLearner(dict(LEARNERS_CODE), tmp_path, "smoke")
    results = [chapter.run(check, learner) for check in chapter.checks]
    assert [(r.status, r.earned) for r in results] == [("failed", 0), ("failed", 0)]
    assert results[0].message == "a learner's own Blocked"


def test_a_long_message_is_cut(tmp_path):
    arrays = _forged(
        {probe.STATUS: np.asarray("raised"), probe.FAILURE: np.asarray(json.dumps({"message": "x" * 10**6}))}, tmp_path
    )
    with pytest.raises(LearnerError) as raised:
        probe.read_answer(arrays, "f")
    assert len(raised.value.message) == probe.MAX_TEXT


# --- one wording, one protocol ----------------------------------------------------------------


def test_the_probe_wording_and_code_live_in_one_place():
    sources = {p.name: p.read_text() for p in (ROOT / "checks").glob("*.py")}
    assert [n for n, s in sources.items() if "works eagerly but fails inside tf.function" in s] == ["probe.py"]
    assert [n for n, s in sources.items() if "is not written yet (it raises" in s] == ["probe.py"]
    grader = sources["grader.py"]
    assert "TEMPLATE" not in grader and "_np.savez" not in grader  # no probe code in strings
    assert not [n for n, s in sources.items() if re.search(r"getattr\(learner\b", s)]  # one Learner interface
