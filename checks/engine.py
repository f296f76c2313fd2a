"""The check engine: checks, results, and the one interface through which a check reaches the
learner's code.

A chapter's check module declares its exercises and checks::

    chapter = Chapter("03", exercises={"reshape_input": Exercise("3.1", "hint...")})

    @chapter.check("reshape_input", points=1, description="784-vectors become 28x28x1 images")
    def reshape_shape(learner):
        got = learner.call("reshape_input", probe)      # a plain numpy array, always
        expect_shape(got, (5, 28, 28, 1), hint="...")

A check raises ``CheckFailed`` (expected vs got, a hint) or returns. The ``learner`` (``Learner``
below) is either

* ``NamespaceLearner`` (checks/probe.py): the notebook's own globals, for the inline
  ``check("...")`` cells (immediate feedback; it runs inside the learner's own kernel, so it is
  advice, not a grade), or
* ``KernelLearner`` (checks/grader.py): a kernel the grader started itself.

Both run the same probe protocol (checks/probe.py); through a kernel the results come back as
``.npz`` files read with ``allow_pickle=False``, so only plain numbers reach the check: an object
whose ``__eq__`` always says True, a patched checks module or a printed "passed" never does.
"""

from __future__ import annotations

import math
import os
import random
import re
import secrets
import traceback
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from tfbook.i18n import N_, _

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float


# --- random cases that a seed replays ----------------------------------------------------
# Checks draw new random cases on every run (a learner cannot fit an answer to them), from a
# seed that the report prints: TFBOOK_CHECK_SEED=N (python -m checks NN --seed N) draws the
# same cases again. Each check's draws depend only on the seed and the check's id, so one
# check replays the same whichever checks ran before it.
SEED_ENV = "TFBOOK_CHECK_SEED"
_seed: int | None = None
_drawing = {"check": "", "count": 0}


def check_seed() -> int:
    """The seed of this run's random cases: $TFBOOK_CHECK_SEED, else drawn once."""
    global _seed
    if _seed is None:
        text = os.environ.get(SEED_ENV, "").strip()
        if text and not text.isdigit():
            raise ValueError(
                _(
                    "{name}={text!r} is not a seed: use the whole number a report "
                    "printed, e.g. TFBOOK_CHECK_SEED=123456"
                ).format(name=SEED_ENV, text=text)
            )
        _seed = int(text) if text else secrets.randbits(32)
    return _seed


def rng() -> np.random.Generator:
    """A NumPy generator for the check that is running (see SEED_ENV above)."""
    _drawing["count"] += 1
    return np.random.default_rng([check_seed(), zlib.crc32(_drawing["check"].encode()), _drawing["count"]])


def py_random() -> random.Random:
    """The same, as the standard library's ``random.Random``."""
    return random.Random(int(rng().integers(1 << 62)))


# --- what a check says -------------------------------------------------------------------


class CheckFailed(Exception):
    """A learner-facing failure: what was expected, what was given, and a hint."""

    def __init__(self, message: str, *, expected: Any = None, got: Any = None, hint: str = ""):
        super().__init__(message)
        self.message, self.expected, self.got, self.hint = message, expected, got, hint


class NotDone(CheckFailed):
    """The exercise still raises NotImplementedError (or its name is not defined yet)."""


class LearnerError(CheckFailed):
    """The learner's code raised while the check called it."""


class Stopped(CheckFailed):
    """The kernel died or a cell ran past its time limit: nothing after it can be scored."""


class Blocked(CheckFailed):
    """The check cannot judge its exercise because another exercise's mistake destroyed what it
    reads (e.g. every run written into one folder). That mistake costs its own exercise's points;
    this check is reported as not checked and keeps its points, so one slip is not charged
    several times."""


@dataclass(frozen=True)
class Arg:
    """How a grader-chosen argument reaches the learner's function."""

    value: Any
    kind: str  # "tensor": tf.constant; "variables": dict of tf.Variable; "tensors": dict of tf.constant


def tensor(a) -> Arg:
    return Arg(np.asarray(a), "tensor")


def variables(d: dict) -> Arg:
    return Arg({k: np.asarray(v) for k, v in d.items()}, "variables")


def tensors(d: dict) -> Arg:
    return Arg({k: np.asarray(v) for k, v in d.items()}, "tensors")


def clean_error(text: str) -> str:
    """An error's text for a learner to read: without TensorFlow's internal node names, and
    without the request line an API client puts in front (``400 POST http://...: message``),
    which tells a learner nothing and would push the service's explanation past the cut."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(text))
    text = re.sub(r"^(\d{3}) [A-Z]+ https?://\S+: ", r"\1 ", text)
    text = re.sub(r"\s*\[Op:\w+\].*$", "", text, flags=re.DOTALL)
    return text.strip()[:300]


RETURN_A_TENSOR = N_("Return a tf.Tensor (or a number), not another kind of object.")


def as_plain(value, name: str):
    """Turn a learner's result into plain numpy (or a dict of it); refuse anything else, with
    what was returned ("None", "a list", ...) in the CheckFailed's ``got``."""
    if value is None:  # the most common slip: a function without `return`
        raise CheckFailed(
            _("`{name}` returned None: is its `return` statement missing?").format(name=name),
            expected=_("a result"),
            got="None",
            hint=_("End the function with `return` and the value it computed."),
        )
    if isinstance(value, dict):
        return {str(k): as_plain(v, f"{name}[{k!r}]") for k, v in value.items()}
    try:
        array = np.asarray(value)
    except Exception as e:
        lengths = (
            [len(part) if hasattr(part, "__len__") else 1 for part in value] if isinstance(value, (list, tuple)) else []
        )
        if len(set(lengths)) > 1:  # e.g. (steps, values) of different lengths
            raise CheckFailed(
                _(
                    "`{name}` returned a {type} whose parts have different lengths "
                    "({lengths}), so it is not a tensor of numbers"
                ).format(name=name, type=type(value).__name__, lengths=", ".join(map(str, lengths))),
                expected=_("parts of equal length"),
                got=_("a {type} of parts of lengths {lengths}").format(type=type(value).__name__, lengths=lengths),
                hint=_(
                    "Each part must have as many numbers as the others (one value per step, one row per image, ...)."
                ),
            ) from None
        raise CheckFailed(
            _("`{name}` returned a {type}, which is not a tensor of numbers ({error})").format(
                name=name, type=type(value).__name__, error=e
            ),
            got=_("a {type}").format(type=type(value).__name__),
            hint=_(RETURN_A_TENSOR),
        ) from None
    if array.dtype.kind == "U" and array.ndim == 0:
        return str(array)  # a path or a name: harmless to compare
    if array.dtype.kind not in NUMERIC_KINDS:
        text = array.dtype.kind in "SU" or (array.size > 0 and isinstance(array.flat[0], (str, bytes)))
        if array.dtype.kind == "O" and not text:  # an object of the learner's, e.g. one equal to everything
            raise CheckFailed(
                _("`{name}` returned a {type}, which is not a tensor of numbers").format(
                    name=name, type=type(value).__name__
                ),
                expected=_("a tensor of numbers"),
                got=_("a {type}").format(type=type(value).__name__),
                hint=_(RETURN_A_TENSOR),
            )
        what = _("text (strings)") if text else _("{dtype} values").format(dtype=array.dtype)
        kind = _("a tensor") if hasattr(value, "numpy") else _("a {type}").format(type=type(value).__name__)
        raise CheckFailed(
            _("`{name}` returned {kind} holding {what}, not numbers").format(name=name, kind=kind, what=what),
            expected=_("a tensor of numbers"),
            got=_("{kind} holding {what}").format(kind=kind, what=what),
            hint=_(RETURN_A_TENSOR),
        )
    return array


# --- the learner, as seen by a check ----------------------------------------------------


class Learner(Protocol):
    """What every chapter's checks use of the learner's code (``NamespaceLearner``,
    ``checks.grader.KernelLearner``). ``call``, ``call_traced`` and ``value`` return plain numpy
    (a str, or a dict of them) or raise ``NotDone`` / ``LearnerError`` / ``CheckFailed``."""

    runs_dir: Path  # the notebook's runs folder
    preset: str
    figures: dict  # what checks measured, shown under the grade table

    def call(self, name: str, *args, **kwargs) -> Any: ...

    def call_traced(self, name: str, *args, **kwargs) -> Any:
        """``call`` inside a ``tf.function``, batch size unknown, as the training step runs it."""

    def value(self, name: str) -> Any: ...

    def bind(self, name: str, factory: Callable) -> None:
        """Define ``name`` among the learner's globals as ``factory(globals)``; ``factory`` is a
        module-level function of the book's own code."""

    def fresh_dir(self, label: str = "probe") -> Path:
        """A new, empty folder for one probe: nothing an earlier call left can be read back."""


def __getattr__(name: str):
    # The in-process learner lives with the protocol it runs (checks/probe.py imports this
    # module); check modules and tests import it from here.
    if name == "NamespaceLearner":
        from checks.probe import NamespaceLearner

        return NamespaceLearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- checks, exercises, results ---------------------------------------------------------


@dataclass(frozen=True)
class Exercise:
    number: str  # "3.2"
    hint: str  # the first step (the idea): shown on failure and by `tfbook hint`
    title: str = ""
    # further hint steps (the API to look up next; never the code), shown one more per
    # failed inline attempt and all by `tfbook hint`
    next_hints: tuple[str, ...] = ()
    # a prediction (a value guessed before running): no hint until a first guess was judged
    prediction: bool = False


@dataclass(frozen=True)
class Check:
    id: str
    exercise: str
    points: int
    description: str
    func: Callable
    at_end: bool = False  # needs what the whole notebook produced (e.g. the trained checkpoint)


@dataclass
class Result:
    check: str
    exercise: str
    number: str
    points: int
    earned: int
    status: str  # "passed", "failed", "not done", "not checked" (Blocked: keeps its points)
    description: str
    message: str = ""
    expected: str = ""
    got: str = ""
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "not checked")


class Chapter:
    """The exercises and checks of one chapter."""

    def __init__(self, chapter_id: str, exercises: dict[str, Exercise]):
        self.id = chapter_id
        self.exercises = exercises
        self.checks: list[Check] = []

    def check(self, exercise: str, points: int, description: str, at_end: bool = False):
        if exercise not in self.exercises:
            raise KeyError(f"unknown exercise {exercise!r}")

        def register(func):
            self.checks.append(Check(f"{self.id}.{func.__name__}", exercise, points, description, func, at_end))
            return func

        return register

    def checks_for(self, exercise: str) -> list[Check]:
        return [c for c in self.checks if c.exercise == exercise]

    def failing(self, learner, exercises) -> dict[str, str]:
        """Those of ``exercises`` whose own (not at-end) checks fail for this learner, each with
        "not done" (a stub, an undefined name) or "failed" (wrong, or raised). A check that is
        Blocked by another exercise's mistake does not count against this one."""
        failing = {}
        for exercise in exercises:
            for check in self.checks_for(exercise):
                if check.at_end:
                    continue
                try:
                    check.func(learner)
                except Stopped:
                    raise
                except Blocked:
                    continue
                except NotDone:
                    failing[exercise] = "not done"
                    break
                except CheckFailed:
                    failing[exercise] = "failed"
                    break
        return failing

    def total_points(self) -> int:
        return sum(c.points for c in self.checks)

    def run(self, check: Check, learner) -> Result:
        """Run one check; never raises (a bug in a check becomes a clear failed result)."""
        ex = self.exercises[check.exercise]
        # in the language of this grading (tfbook/i18n.py): the constants are translated here
        base = dict(
            check=check.id,
            exercise=check.exercise,
            number=ex.number,
            points=check.points,
            description=_(check.description),
        )
        _drawing.update(check=check.id, count=0)  # this check's draws: seed + its id
        try:
            check.func(learner)
        except Stopped:
            raise  # the grader decides what a dead kernel means for the remaining checks
        except NotDone as e:
            hint = _(e.hint) or _(PREDICTION_FIRST if ex.prediction else ex.hint)
            return Result(**base, earned=0, status="not done", message=_(e.message), hint=hint)
        except Blocked as e:
            return Result(**base, earned=check.points, status="not checked", message=_(e.message))
        except CheckFailed as e:
            return Result(
                **base,
                earned=0,
                status="failed",
                message=_(e.message),
                expected=_show(e.expected),
                got=_show(e.got),
                hint=_(e.hint) or _(ex.hint),
            )
        except Exception as e:  # a grader bug must not look like a traceback to the learner
            detail = traceback.format_exception_only(type(e), e)[-1].strip()
            return Result(
                **base,
                earned=0,
                status="failed",
                message=_(
                    "the check itself could not finish ({detail}); please report this to the book's maintainers"
                ).format(detail=detail),
                hint=_(ex.hint),
            )
        return Result(**base, earned=check.points, status="passed")

    def not_scored(self, check: Check, reason: str) -> Result:
        ex = self.exercises[check.exercise]
        return Result(
            check=check.id,
            exercise=check.exercise,
            number=ex.number,
            points=check.points,
            earned=0,
            status="failed",
            description=_(check.description),
            message=reason,
            hint=_(PREDICTION_FIRST if ex.prediction else ex.hint),
        )


PREDICTION_FIRST = N_("Write down your own guess first: the hint comes after your first try.")


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, np.ndarray):
        if value.size <= 12:
            return np.array2string(value, precision=4, separator=", ")
        return _("array of shape {shape}").format(shape=value.shape)
    return str(value)


# --- helpers for writing checks ---------------------------------------------------------


def expect_shape(got: np.ndarray, expected: tuple, what: str, hint: str = "") -> None:
    if tuple(np.shape(got)) != tuple(expected):
        raise CheckFailed(
            _("{what} has the wrong shape").format(what=what),
            expected=tuple(expected),
            got=tuple(np.shape(got)),
            hint=hint,
        )


def expect_close(
    got: np.ndarray, expected: np.ndarray, what: str, hint: str = "", rtol: float = 1e-4, atol: float = 1e-4
) -> None:
    """Numbers for scalars ("expected 2.302, got 115.1"), both arrays when small, and the
    largest difference with its index when large."""
    expect_shape(got, np.shape(expected), what, hint)
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    if not np.all(np.isfinite(got)):
        raise CheckFailed(_("{what} contains NaN or infinity").format(what=what), hint=hint)
    if np.allclose(got, expected, rtol=rtol, atol=atol * scale):
        return
    if expected.ndim == 0:
        raise CheckFailed(
            _("{what} is {got}, expected {expected}").format(
                what=what, got=f"{float(got):.6g}", expected=f"{float(expected):.6g}"
            ),
            expected=f"{float(expected):.6g}",
            got=f"{float(got):.6g}",
            hint=hint,
        )
    worst = np.unravel_index(np.argmax(np.abs(got - expected)), expected.shape)
    where = tuple(int(i) for i in worst)
    difference = float(np.abs(got - expected)[worst])
    if expected.size <= 12:
        raise CheckFailed(
            _(
                "{what} has the right shape but different values (largest difference {difference}, at index {where})"
            ).format(what=what, difference=f"{difference:.3g}", where=where),
            expected=expected,
            got=got,
            hint=hint,
        )
    differ = int(np.sum(~np.isclose(got, expected, rtol=rtol, atol=atol * scale)))
    raise CheckFailed(
        _(
            "{what} has the right shape but different values: largest difference "
            "{difference} at index {where}, where {expected} was expected "
            "and {got} was given; {differ} of {size} values differ"
        ).format(
            what=what,
            difference=f"{difference:.3g}",
            where=where,
            expected=f"{expected[worst]:.6g}",
            got=f"{got[worst]:.6g}",
            differ=differ,
            size=expected.size,
        ),
        expected=_("{value} at {where}").format(value=f"{expected[worst]:.6g}", where=where),
        got=f"{got[worst]:.6g}",
        hint=hint,
    )


def judge_prediction(guess: float, actual: float, tolerance: float, what: str, hint: str = "") -> None:
    """A learner's guess before running something: right (within ``tolerance``) or wrong, and
    when wrong only which way and roughly how far, never ``actual`` itself (the run reveals it)."""
    if abs(guess - actual) <= tolerance:
        return
    direction = _("too high") if guess > actual else _("too low")
    if guess == 0 or (guess > 0) != (actual > 0):
        how_far = _("and on the wrong side of zero")
    else:
        ratio = max(abs(guess), abs(actual)) / min(abs(guess), abs(actual))
        if ratio < 1.25:
            how_far = _("but close: off by less than a quarter")
        elif ratio < 2:
            how_far = _("by a factor between 1.25 and 2")
        else:  # one significant figure: enough to know how far, not enough to read the answer off
            rough = float(f"{ratio:.0e}")
            how_far = _("by a factor of roughly {rough}").format(rough=f"{rough:g}")
    raise CheckFailed(
        _("{what} {guess} is not right: it is {direction}, {how_far}").format(
            what=what, guess=f"{guess:.4g}", direction=direction, how_far=how_far
        ),
        expected=_("a guess within {tolerance} of the real value").format(tolerance=f"{tolerance:g}"),
        got=f"{guess:.4g} ({direction})",
        hint=hint,
    )


def expect_equal(got, expected, what: str, hint: str = "") -> None:
    got_plain = got.item() if isinstance(got, np.ndarray) and got.size == 1 else got
    if isinstance(got_plain, np.ndarray) or not _plain_equal(got_plain, expected):
        raise CheckFailed(_("{what} is not right").format(what=what), expected=expected, got=got_plain, hint=hint)


def _plain_equal(a, b) -> bool:
    if isinstance(a, (bool, np.bool_)) or isinstance(b, bool):
        return bool(a) == bool(b) and type(b) is bool
    if isinstance(a, (int, float, np.integer, np.floating)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return False


def exercise_scores(results: list[Result]) -> dict[str, dict]:
    """Per exercise, in order: number, earned, points, and passed (every check passed).

    The one place that decides which exercises passed; reports, `make book`, `tfbook list`
    and class grading all read it from here (or from the JSON written from it)."""
    scores: dict[str, dict] = {}
    for r in results:
        row = scores.setdefault(r.exercise, {"number": r.number, "earned": 0, "points": 0, "passed": True})
        row["earned"] += r.earned
        row["points"] += r.points
        row["passed"] &= r.passed
    return scores


def summary(results: list[Result]) -> dict:
    scores = exercise_scores(results)
    return {
        "earned": sum(r.earned for r in results),
        "points": sum(r.points for r in results),
        "exercises": list(scores),
        "exercises_passed": [e for e, row in scores.items() if row["passed"]],
        "by_exercise": scores,
    }


def results_json(chapter: str, results: list[Result], **extra) -> dict:
    return {
        "chapter": chapter,
        **summary(results),
        "seed": check_seed(),
        **extra,
        "results": [asdict(r) for r in results],
    }
