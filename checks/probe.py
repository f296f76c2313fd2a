"""How a check reaches the learner's code: one protocol, on both sides of the kernel boundary.

A check asks for one of three things, a ``request``: call the learner's function ``name`` with
arguments the grader chose (``"call"``), call it inside a ``tf.function`` as the chapter's
training step does (``"traced"``), or read the learner's value ``name`` (``"value"``).
``answer`` does it among the learner's globals and says what happened in plain arrays: the
result, or why there is none (not defined, not written yet, raised, not numbers, ...).
``read_answer`` turns that back into plain numbers for the check, or into the failure the
learner reads. Requests and answers are dicts of NumPy arrays, the contents of an ``.npz`` file.

* Graded (``checks.grader.KernelLearner``): the request and the answer are ``.npz`` files in the
  grader's scratch folder, and the kernel runs one line that imports this module and calls
  ``serve(globals(), request_file, answer_file)``. The grader loads the answer with
  ``allow_pickle=False``, so only numbers and strings come back. Learner code in the kernel can
  write any answer it likes, but never a pass: a result is compared with the grader's own
  computation, and every other answer is a failure (``Blocked`` or ``Stopped`` raised there come
  back as a plain failure).
* Inline (``NamespaceLearner``, the notebook's own ``check("...")`` cells and the in-process
  tests): the same ``request``, ``answer`` and ``read_answer``, in one process, without files.

The learner's kernel imports this module (as the notebook imports ``checks``): it must stay
importable there without TensorFlow (chapter 02 never loads it) and read nothing but its request.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from checks.engine import Arg, CheckFailed, LearnerError, NotDone, as_plain, clean_error
from tfbook.i18n import N_, _

STATUS = "__tfbook_status__"  # an answer's "ok", or the kind of failure (FAILURES)
REQUEST = "__tfbook_request__"  # a request's JSON: kind, name, and how to rebuild each argument
LAYOUT = "__tfbook_layout__"  # an "ok" answer's JSON: a result's array name, or {key: layout}
FAILURE = "__tfbook_failure__"  # a failure's JSON: message, expected, got, hint
MAX_TEXT = 2000  # longest text read back from an answer

# --- what the learner reads (in the language of the grade: the grader sets the kernel's) --------
NOT_DEFINED = N_("`{name}` is not defined yet")
NOT_WRITTEN = N_("`{name}` is not written yet (it raises NotImplementedError)")
STILL_ELLIPSIS = N_("`{name}` is still `...`: replace it with your value")
UNREADABLE = N_("`{name}` returned nothing the grader could read")
RUN_THE_CELL = N_("Run the exercise's cell first.")
TF_OPS_ONLY = N_("Write it with TensorFlow ops (tf.*) only: the training step runs it inside a tf.function.")


def traced_message(name: str, problem: str) -> str:
    """The one wording of "works eagerly, fails in the traced training step"."""
    return _(
        "`{name}` works eagerly but fails inside tf.function (the training step is traced, "
        "so tensors are symbolic there: no .numpy(), no NumPy calls on them, no Python "
        "`if` on a tensor's value): {problem}"
    ).format(name=name, problem=problem)


def raised_message(name: str, error: BaseException) -> str:
    return _("`{name}` raised {error}: {text}").format(name=name, error=type(error).__name__, text=clean_error(error))


# --- the grader's side: a request ------------------------------------------------------------


def request(kind: str, name: str, args: tuple = (), kwargs: Mapping | None = None) -> dict[str, np.ndarray]:
    """What to ask of the learner's ``name``: ``kind`` is "call", "traced" or "value". Arrays of
    ``Arg`` arguments travel as arrays (a dict of them as ``KEY/name``); None, bools, numbers and
    strings travel in the JSON."""
    if kind not in ("call", "traced", "value"):
        raise ValueError(f"unknown request {kind!r}")
    arrays: dict[str, np.ndarray] = {}

    def spec(key: str, a) -> list:
        if isinstance(a, Arg):
            if a.kind == "tensor":
                arrays[key] = np.asarray(a.value)
            else:
                arrays.update({f"{key}/{k}": np.asarray(v) for k, v in a.value.items()})
            return [a.kind, key]
        if a is None or isinstance(a, (bool, int, float, str)):
            return ["literal", a]
        raise TypeError(f"cannot send {type(a).__name__} to the learner's code")

    what = {
        "kind": kind,
        "name": name,
        "args": [spec(f"a{i}", a) for i, a in enumerate(args)],
        "kwargs": {k: spec(f"k_{k}", v) for k, v in (kwargs or {}).items()},
    }
    arrays[REQUEST] = np.asarray(json.dumps(what))
    return arrays


# --- the learner's side: the answer ------------------------------------------------------------


def serve(namespace: dict, request_file: str, answer_file: str) -> None:
    """The kernel's side of a graded probe: read the request, answer it, write the answer."""
    with np.load(request_file, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(answer_file, **answer(namespace, arrays))


def answer(namespace: dict, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Do what ``arrays`` (a ``request``) asks among ``namespace``, the learner's globals; say
    what happened as arrays. A learner's mistake is an answer, never an exception."""
    what = json.loads(str(arrays[REQUEST]))
    name = what["name"]
    try:
        if what["kind"] == "value":
            result = _lookup(namespace, name)
            if result is Ellipsis:
                raise NotDone(_(STILL_ELLIPSIS).format(name=name))
        else:
            result = _call(namespace, name, what, arrays, traced=what["kind"] == "traced")
        return _result_arrays(as_plain(result, name))
    except CheckFailed as e:
        return _failure_arrays(e)


def _lookup(namespace: dict, name: str):
    if name not in namespace:
        raise NotDone(_(NOT_DEFINED).format(name=name), hint=_(RUN_THE_CELL))
    return namespace[name]


def _call(namespace: dict, name: str, what: dict, arrays: Mapping, traced: bool):
    func = _lookup(namespace, name)

    def arguments():  # made anew for each call: a function may assign to the variables it gets
        return (
            [_argument(s, arrays) for s in what["args"]],
            {k: _argument(s, arrays) for k, s in what["kwargs"].items()},
        )

    if not traced:
        return _plain_call(func, name, *arguments())
    try:
        return _traced_call(func, what["args"], *arguments())
    except Exception as e:
        traced_error = e
    # It fails inside tf.function. If it fails eagerly too, that plainer error is the one to
    # read (or it is simply not written yet): _plain_call raises it.
    _plain_call(func, name, *arguments())
    if isinstance(traced_error, NotImplementedError):  # NumPy on a symbolic tensor, .numpy()
        detail = str(traced_error)
        problem = (
            _("NumPy was handed a symbolic tensor ({detail})").format(detail=clean_error(detail))
            if "symbolic" in detail
            else _("it hands a tensor to NumPy (np.* or .numpy()), which only works eagerly")
        )
        raise LearnerError(traced_message(name, problem), hint=_(TF_OPS_ONLY))
    raise LearnerError(traced_message(name, raised_message(name, traced_error)))


def _plain_call(func, name: str, args: list, kwargs: dict):
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise NotDone(_(NOT_WRITTEN).format(name=name)) from None
    except CheckFailed:
        raise
    except Exception as e:
        raise LearnerError(raised_message(name, e)) from None


def _traced_call(func, specs: list, args: list, kwargs: dict):
    """``func`` inside a ``tf.function`` traced as the chapter's training step is: the tensor
    arguments with their batch size unknown (None), so ``x.shape[0]`` or a NumPy mask built
    from a shape fails here as it does in training."""
    import tensorflow as tf

    positions = [i for i, (kind, _) in enumerate(specs) if kind == "tensor"]

    def traced(*batch):
        full = list(args)
        for i, t in zip(positions, batch):
            full[i] = t
        return func(*full, **kwargs)

    signature = [
        tf.TensorSpec([None, *args[i].shape[1:]] if args[i].shape.rank else [], args[i].dtype) for i in positions
    ]
    return tf.function(traced, input_signature=signature)(*[args[i] for i in positions])


def _argument(spec: list, arrays: Mapping):
    kind, key = spec
    if kind == "literal":
        return key  # no TensorFlow needed (chapter 02 never imports it)
    import tensorflow as tf

    if kind == "tensor":
        return tf.constant(arrays[key])
    part = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(key + "/")}
    if kind == "variables":
        return {k: tf.Variable(v, name=k) for k, v in part.items()}
    return {k: tf.constant(v) for k, v in part.items()}


def _result_arrays(plain) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}

    def layout(value):
        if isinstance(value, dict):
            return {k: layout(v) for k, v in value.items()}
        key = f"v{len(arrays)}"
        arrays[key] = np.asarray(value)
        return key

    shape = layout(plain)
    return {STATUS: np.asarray("ok"), LAYOUT: np.asarray(json.dumps(shape)), **arrays}


# A failure's kind decides its class on the grader's side; nothing else does. Blocked (keeps the
# points) and Stopped are the grader's to raise: from the learner's side they are plain failures.
FAILURES = {"not_done": NotDone, "raised": LearnerError, "failed": CheckFailed}


def _failure_arrays(e: CheckFailed) -> dict[str, np.ndarray]:
    kind = "not_done" if isinstance(e, NotDone) else "raised" if isinstance(e, LearnerError) else "failed"
    fields = {
        "message": e.message,
        "hint": e.hint,
        **{k: None if v is None else str(v) for k, v in (("expected", e.expected), ("got", e.got))},
    }
    return {STATUS: np.asarray(kind), FAILURE: np.asarray(json.dumps(fields))}


# --- the grader's side: reading the answer ----------------------------------------------------


def load_answer(path: Path) -> dict[str, np.ndarray]:
    """An answer file, read as numbers and strings only (empty when it cannot be read: no file,
    or something that needs pickle)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError):
        return {}


def read_answer(arrays: Mapping[str, np.ndarray], name: str):
    """The result as plain numpy (a str, or a dict of them), or raise the failure the answer names."""
    status = _text(arrays.get(STATUS))
    try:
        if status == "ok":
            return _rebuild(json.loads(_text(arrays[LAYOUT])), arrays, name)
        if status in FAILURES:
            fields = json.loads(_text(arrays[FAILURE]))
            failure = FAILURES[status](
                _short(fields["message"]),
                hint=_short(fields.get("hint") or ""),
                expected=_short(fields.get("expected")),
                got=_short(fields.get("got")),
            )
        else:
            failure = None
    except CheckFailed:
        raise
    except Exception:  # an answer that is not one of ours: written by the learner's code
        failure = None
    raise failure or CheckFailed(_(UNREADABLE).format(name=name))


def _rebuild(layout, arrays: Mapping, name: str):
    if isinstance(layout, dict):
        return {str(k): _rebuild(v, arrays, f"{name}[{k!r}]") for k, v in layout.items()}
    return as_plain(arrays[layout], name)  # numbers, or one string: anything else fails here


def _text(value) -> str:
    return str(value) if isinstance(value, (str, np.ndarray)) and np.ndim(value) == 0 else ""


def _short(value):
    return value[:MAX_TEXT] if isinstance(value, str) else None if value is None else str(value)[:MAX_TEXT]


# --- bind: a grader helper among the learner's globals -------------------------------------------


def bind(namespace: dict, name: str, factory: str) -> None:
    """Define ``name`` in ``namespace`` as ``factory(namespace)``; ``factory`` is "module:function",
    a module-level function of the book's own code (imported by its name: no learner code)."""
    module, function = factory.split(":")
    namespace[name] = getattr(importlib.import_module(module), function)(namespace)


def factory_path(factory) -> str:
    return f"{factory.__module__}:{factory.__name__}"


# --- the learners ----------------------------------------------------------------------------


class AskingLearner:
    """What the checks call on a learner (``engine.Learner``), each one request answered by
    ``_ask``: in the grader's kernel (``grader.KernelLearner``) or in this process (below)."""

    def _ask(self, kind: str, name: str, args: tuple = (), kwargs: Mapping | None = None):
        raise NotImplementedError

    def call(self, name: str, *args, **kwargs):
        return self._ask("call", name, args, kwargs)

    def call_traced(self, name: str, *args, **kwargs):
        """``call``, inside a ``tf.function`` as the training step runs it (batch size unknown)."""
        return self._ask("traced", name, args, kwargs)

    def value(self, name: str):
        return self._ask("value", name)


class NamespaceLearner(AskingLearner):
    """The learner's code as a namespace of this process: the notebook's globals for its inline
    ``check("...")`` cells (feedback inside the learner's own kernel, advice, not a grade) and the
    in-process tests. It runs the same ``request``, ``answer`` and ``read_answer`` as a graded
    kernel, only without the files."""

    def __init__(self, namespace: dict, runs_dir: Path, preset: str):
        self.namespace, self.runs_dir, self.preset = namespace, Path(runs_dir), preset
        self.figures: dict = {}  # what checks measured, e.g. {"test_accuracy": 0.987}

    def _ask(self, kind: str, name: str, args: tuple = (), kwargs: Mapping | None = None):
        return read_answer(answer(self.namespace, request(kind, name, args, kwargs)), name)

    def bind(self, name: str, factory) -> None:
        """Define ``name`` among the learner's globals as ``factory(globals)``: a grader-side helper
        that needs the learner's whole namespace (chapter 02's door to the learner's Flask routes)."""
        bind(self.namespace, name, factory_path(factory))

    def fresh_dir(self, label: str = "probe") -> Path:
        """A new, empty folder for one probe (a checkpoint the grader asks the learner to
        write, ...): nothing left by an earlier call can be read back by mistake."""
        base = self.runs_dir / "grader-probes"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=base))
