"""Checks for chapter 01: watching training with TensorBoard.

Everything is judged from the grader's side, with TensorBoard's own reader
(``EventAccumulator``): the event files the learner's functions write into folders the grader
picks, the event files the notebook's runs left under ``runs/ch01/logs``, and event files the
grader writes itself (with random tags and values) for the learner's reader. The bad run's
dead units are recomputed from its saved weights.
"""

from __future__ import annotations

import functools
import math
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from checks import engine
from checks.engine import (
    Blocked,
    CheckFailed,
    Exercise,
    Chapter,
    Stopped,
    expect_close,
    judge_prediction,
    tensor,
    variables,
)
from tfbook.i18n import N_, _, ngettext

# Hints come in steps: the idea first; the API to look up next (shown after another failed try,
# and by `tfbook hint`); never the code. Every message a learner reads is translated
# (tfbook/i18n.py): N_() marks the constants here, shown translated by the engine;
# _("...{name}...").format(name=...) the messages made in a check.
chapter = Chapter(
    "01",
    {
        "log_scalars": Exercise(
            "1.1",
            N_(
                "Write through the run's own writer, made the default for the lines that write, and give "
                "every point its step. The values must be on disk when the function returns."
            ),
            N_("Scalars: loss and accuracy at a step"),
            next_hints=(
                N_(
                    "writer_for(log_dir), its as_default() in a `with` block (leaving it flushes), and "
                    "tf.summary.scalar's step argument."
                ),
            ),
        ),
        "log_histograms": Exercise(
            "1.2",
            N_(
                "One histogram per item of params, weights and biases alike, tagged with its key, at the "
                "step given; on disk before the function returns."
            ),
            N_("Histograms of every weight and bias"),
            next_hints=(N_("tf.summary.histogram inside the writer's as_default block, then the writer's flush()."),),
        ),
        "log_graph": Exercise(
            "1.3",
            N_(
                "A graph exists only where a tf.function was traced: trace one that runs fc_forward with "
                "params on a batch of images, and write that one graph with the run's writer."
            ),
            N_("The model graph"),
            next_hints=(
                N_(
                    "A tf.function's get_concrete_function (given a tf.TensorSpec of the images) traces it; "
                    "tf.summary.graph writes the traced graph inside the writer's as_default block."
                ),
            ),
        ),
        "run_log_dir": Exercise(
            "1.4",
            N_(
                "Each run needs its own folder below the chapter's log folder, named after the run. Build "
                "it with the book's path helper, never by hand: the grader moves the runs folder."
            ),
            N_("One folder per run"),
            next_hints=(
                N_(
                    "tfbook.run_dir takes the chapter id and then the parts of the path below it, and "
                    "creates the folder; the function must return a str."
                ),
            ),
        ),
        "predict_initial_loss": Exercise(
            "1.5",
            N_("With ten equal logits, how much probability does the softmax give the right digit?"),
            N_("Predicting the first loss"),
            next_hints=(
                N_(
                    "The cross-entropy of one image is minus the natural log of the probability the "
                    "network gives to its right digit."
                ),
            ),
            prediction=True,
        ),
        "read_scalars": Exercise(
            "1.6",
            N_(
                "TensorBoard comes with a reader that loads every event file of a run folder. By default it "
                "keeps only a sample of each tag's points: ask it to keep them all."
            ),
            N_("Reading a scalar back"),
            next_hints=(
                N_(
                    "event_accumulator.EventAccumulator: its size_guidance, Reload() and Tensors(tag); "
                    "tf.make_ndarray turns an event's tensor_proto into a number."
                ),
            ),
        ),
        "dead_units": Exercise(
            "1.7",
            N_("A unit is a column of h: it is dead when it outputs zero for every image (every row) of the batch."),
            N_("Diagnosing dead units"),
            next_hints=(
                N_(
                    "For DEAD_FRACTION_BAD, run the bad network on the probe batch with dropout off and give "
                    "your function its first hidden layer's outputs."
                ),
            ),
        ),
    },
)

RUNS = ("1st", "2nd")
DEMO_RUNS = ("demo-good", "demo-bad")
DEMO_TENSORS = ("w_h", "b_h", "w_h2", "b_h2", "w_o", "b_o")
DEMO_SHAPES = {"w_h": (784, 625), "b_h": (625,), "w_h2": (625, 625), "b_h2": (625,), "w_o": (625, 10), "b_o": (10,)}
FC_SHAPES = {"w1": (784, 128), "b1": (128,), "w2": (128, 32), "b2": (32,), "w3": (32, 10), "b3": (10,)}
PROBE_IMAGES = 1000  # the chapter's probe batch: the first 1000 test images


def _rng() -> np.random.Generator:
    return engine.rng()  # new cases on every run, replayed by the seed the report prints


@contextmanager
def _scratch(prefix: str):
    """A fresh folder for one check (never inside the learner's runs)."""
    path = Path(tempfile.mkdtemp(prefix=f"tfbook-ch01-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- reading event files, with TensorBoard's own reader ------------------------------------


def event_files(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob("events.out.tfevents.*"))


def load(directory: Path) -> event_accumulator.EventAccumulator:
    accumulator = event_accumulator.EventAccumulator(str(directory), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def tags(accumulator) -> list[str]:
    return sorted(accumulator.Tags().get("tensors", []))


def plugin(accumulator, tag: str) -> str:
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


def scalars(accumulator, tag: str) -> tuple[np.ndarray, np.ndarray]:
    events = sorted(accumulator.Tensors(tag), key=lambda e: e.step)
    return (
        np.array([e.step for e in events], dtype=np.int64),
        np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events]),
    )


def histograms(accumulator, tag: str) -> tuple[list[int], list[np.ndarray]]:
    events = sorted(accumulator.Tensors(tag), key=lambda e: e.step)
    return [e.step for e in events], [tf.make_ndarray(e.tensor_proto) for e in events]


def graph_ops(accumulator) -> dict[str, int]:
    """Op counts over the graph the run holds: one written with tf.summary.graph (a GraphDef event,
    as the post's FileWriter wrote sess.graph), and every function graph that trace_export recorded."""
    from tensorflow.core.protobuf import config_pb2

    counts: dict[str, int] = {}
    if accumulator.Tags().get("graph"):
        for node in accumulator.Graph().node:
            counts[node.op] = counts.get(node.op, 0) + 1
    for tag in tags(accumulator):
        if plugin(accumulator, tag) != "graph_run_metadata_graph":
            continue
        for event in accumulator.Tensors(tag):
            metadata = config_pb2.RunMetadata.FromString(event.tensor_proto.string_val[0])
            for function_graph in metadata.function_graphs:
                for node in function_graph.pre_optimization_graph.node:
                    counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def bucket_stats(buckets: np.ndarray) -> dict[str, float]:
    """Count, range and (approximate) mean and spread of the values a histogram summarises."""
    left, right, counts = buckets[:, 0], buckets[:, 1], buckets[:, 2]
    total = float(counts.sum())
    centres = (left + right) / 2
    mean = float((centres * counts).sum() / total) if total else 0.0
    spread = float(np.sqrt((counts * (centres - mean) ** 2).sum() / total)) if total else 0.0
    nonempty = counts > 0
    return {
        "count": total,
        "min": float(left[nonempty].min()) if nonempty.any() else 0.0,
        "max": float(right[nonempty].max()) if nonempty.any() else 0.0,
        "mean": mean,
        "spread": spread,
    }


def call_void(learner, name: str, *args) -> None:
    """Call a learner function that writes files and returns nothing.

    The engine only carries numbers and strings back; a function returning None makes it
    report "returned ... not numbers", which for these functions is no failure at all (the
    grader judges what they wrote). Not-done, errors and a dead kernel still propagate.
    """
    try:
        learner.call(name, *args)
    except CheckFailed as e:
        # what it returned is not numbers ("`name` returned ..."): in every language the message
        # starts with the name in backticks, and no other plain CheckFailed comes from a call
        if type(e) is not CheckFailed or not e.message.startswith(f"`{name}`"):
            raise


def share_at_zero(buckets: np.ndarray) -> float:
    """The share of a ReLU output histogram's values in its lowest bucket (at or next to 0).

    When every value is equal, TensorFlow writes every bucket with the same two edges and the
    whole count in the last one.
    """
    left, right, counts = buckets[:, 0], buckets[:, 1], buckets[:, 2]
    total = max(float(counts.sum()), 1.0)
    if right[-1] - left[0] < 1e-12:
        return 1.0 if abs(left[0]) < 1e-6 else 0.0
    return float(counts[0] / total)


def _settings(learner) -> dict:
    from tfbook.manifest import preset

    return preset("01", learner.preset)


def _logged_steps(last: int, every: int) -> list[int]:
    return list(range(0, last + 1, every))


def _run_dir(learner, name: str) -> Path:
    return learner.runs_dir / "ch01" / "logs" / name


def _load_run(learner, name: str, made_by: str, directory: Path | None = None) -> event_accumulator.EventAccumulator:
    directory = directory or _run_dir(learner, name)
    if not directory.is_dir() or not event_files(directory):
        try:  # as the learner knows it: below the runs folder when it is there
            shown = f"runs/{directory.resolve().relative_to(learner.runs_dir.resolve()).as_posix()}"
        except ValueError:
            shown = str(directory)
        parent = shown.rsplit("/", 1)[0]
        found = sorted(p.name for p in directory.parent.iterdir()) if directory.parent.is_dir() else []
        raise CheckFailed(
            _("no event files for run '{name}' in {folder}").format(name=name, folder=shown),
            expected=f"{shown}/events.out.tfevents.*",
            got=_("{parent} holds {found}").format(parent=parent, found=found)
            if found
            else _("no {parent} folder").format(parent=parent),
            hint=_("Run the cell that trains {made_by}; it writes each run into run_log_dir(name).").format(
                made_by=_(made_by)
            ),
        )
    return load(directory)


# --- the at-end checks of other exercises read the runs where run_log_dir (1.4) put them -----
# One mistake in run_log_dir (every run in one folder) used to fail five other exercises with "no
# event files for run '1st'". Now those checks read each run wherever the learner's own
# run_log_dir puts it, and when run_log_dir cannot tell them apart (or does not work), they
# report "could not be checked because ..." and keep their points, provided the exercise's own
# direct checks pass: the slip costs exercise 1.4 its points, once.


def _learner_run_folders(learner) -> dict[str, Path] | str:
    """Each run's folder by the learner's run_log_dir, or why it cannot say."""
    names = RUNS + DEMO_RUNS
    try:
        got = {name: learner.call("run_log_dir", name) for name in names}
    except Stopped:
        raise
    except CheckFailed as e:
        return _("exercise 1.4 (run_log_dir) does not work yet ({message})").format(message=e.message)
    if not all(isinstance(path, str) for path in got.values()):
        return _("exercise 1.4 (run_log_dir) does not return a str")
    folders = {name: Path(path) if Path(path).is_absolute() else _run_dir(learner, name) for name, path in got.items()}
    if len({path.resolve() for path in folders.values()}) < len(names):
        return _(
            "exercise 1.4 (run_log_dir) gives several of the runs {names} the same folder, "
            "so each training emptied the events of the one before"
        ).format(names=", ".join(names))
    return folders


def _blocked(learner, exercise: str, why: str):
    """Blocked (points kept) when the exercise's own direct checks pass; their failure otherwise."""
    for check in chapter.checks_for(exercise):
        if check.at_end:
            continue
        try:
            check.func(learner)
        except Stopped:
            raise
        except CheckFailed as e:  # a stub or a wrong answer here: nothing earned from the runs either
            raise type(e)(
                _("could not be checked because {why}; and {message}").format(why=why, message=e.message),
                expected=e.expected,
                got=e.got,
                hint=e.hint,
            ) from None
    raise Blocked(
        _(
            "could not be checked because {why}; exercise 1.4 loses its points for that, this check keeps its own"
        ).format(why=why)
    )


def _load_learner_run(learner, name: str, made_by: str, exercise: str) -> event_accumulator.EventAccumulator:
    """Run ``name`` of the notebook, for an at-end check of ``exercise`` (not run_log_dir's own)."""
    folders = _learner_run_folders(learner)
    if isinstance(folders, str):
        _blocked(learner, exercise, folders)
    return _load_run(learner, name, made_by, folders[name])


def _steps_text(steps) -> str:
    steps = [int(s) for s in steps]
    return (
        str(steps)
        if len(steps) <= 8
        else _("{first} ... {last} ({count} points)").format(first=steps[:4], last=steps[-2:], count=len(steps))
    )


def _one_number(got, what: str) -> float:
    """The learner's answer as a float, or a CheckFailed when it is not one finite number
    (a str, a dict, an array of several or none, NaN)."""
    if not isinstance(got, np.ndarray) or got.size != 1:
        kind = (
            _("shape {shape}").format(shape=got.shape)
            if isinstance(got, np.ndarray)
            else _("a {type}").format(type=type(got).__name__) + f": {got!r:.60}"
        )
        raise CheckFailed(
            _("{what} must be one number").format(what=what),
            expected=_("one number"),
            got=kind,
            hint=_("A Python float, or a tensor holding a single value (float(...) of it)."),
        )
    value = float(got.item())
    if not math.isfinite(value):
        raise CheckFailed(
            _("{what} is {value}, not a number that can be compared").format(what=what, value=value),
            expected=_("a finite number"),
            got=str(value),
            hint=_("Look for a division by zero or a log of 0 in the computation."),
        )
    return value


# --- the runs against the networks saved for them ----------------------------------------
# An event file proves nothing by itself: a few summary calls write a loss that falls on
# schedule without any training. The notebook saves every run's trained network, and the
# grader recomputes the run's last logged loss from it on the probe batch: a curve must end
# where its own network is.


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[np.ndarray, np.ndarray]:
    from tfbook.data import load_mnist

    x, y = load_mnist().flat("test")
    return x[:PROBE_IMAGES].astype(np.float64), np.asarray(y[:PROBE_IMAGES])


def _saved_params(learner, name: str, tensors) -> dict[str, np.ndarray]:
    prefix = learner.runs_dir / "ch01" / "checkpoints" / name / "params"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        return {tensor: reader.get_tensor(f"{tensor}/.ATTRIBUTES/VARIABLE_VALUE") for tensor in tensors}
    except Exception:
        raise CheckFailed(
            _("no saved weights of run '{name}'").format(name=name),
            expected=_("a checkpoint at runs/ch01/checkpoints/{name}/params").format(name=name),
            got=_("nothing there"),
            hint=_("Run the notebook to the cell that saves the trained networks."),
        ) from None


def probe_loss(params: dict[str, np.ndarray]) -> float:
    """The loss of a saved network (the chapter's fc or demo one, dropout off) on the probe batch."""
    x, labels = _probe()
    layers = (
        (("w1", "b1"), ("w2", "b2"), ("w3", "b3"))
        if "w1" in params
        else (("w_h", "b_h"), ("w_h2", "b_h2"), ("w_o", "b_o"))
    )
    for i, (w, b) in enumerate(layers):
        x = x @ params[w].astype(np.float64) + params[b]
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    top = x.max(axis=1, keepdims=True)
    log_softmax = x - top - np.log(np.exp(x - top).sum(axis=1, keepdims=True))
    return float(-log_softmax[np.arange(len(labels)), labels].mean())


def _ends_at_its_network(learner, name: str, steps, losses, tensors) -> None:
    expected = probe_loss(_saved_params(learner, name, tensors))
    if not math.isclose(losses[-1], expected, rel_tol=1e-3, abs_tol=1e-3):
        raise CheckFailed(
            _(
                "run '{name}' logged a loss of {loss:.4g} at its last step ({step}), but the "
                "network saved for it has a loss of {expected:.4g} on the probe batch: the event file "
                "was not written by the training that made that network"
            ).format(name=name, loss=losses[-1], step=steps[-1], expected=expected),
            expected=_("{expected:.4g} (the saved network's loss)").format(expected=expected),
            got=f"{losses[-1]:.4g}",
            hint=_(
                "Run the notebook from the top: each training writes its run and the cell after the "
                "demo runs saves the networks; events written by hand do not match them."
            ),
        )


# --- 1.1 log_scalars -----------------------------------------------------------------------


def _read_what_was_written(directory: Path, function: str) -> event_accumulator.EventAccumulator:
    files = event_files(directory)
    if not files:
        raise CheckFailed(
            _("{function} wrote no event file into the folder it was given").format(function=function),
            expected=f"{directory}/events.out.tfevents.*",
            got=str(sorted(p.name for p in directory.iterdir()) or _("an empty folder")),
            hint=_("Write with the writer of log_dir: writer_for(log_dir)."),
        )
    accumulator = load(directory)
    if not tags(accumulator) and not accumulator.Tags().get("graph"):  # a graph is no tensor tag
        raise CheckFailed(
            _(
                "{function} created an event file, but when it returned the file held no "
                "values at all: they were still in the writer's memory"
            ).format(function=function),
            expected=_("the values on disk when the function returns"),
            got=_("{files} event file(s) of {size} bytes, no summaries").format(
                files=len(files), size=sum(p.stat().st_size for p in files)
            ),
            hint=_(
                "A writer buffers events. Leaving the writer's as_default block flushes it, and "
                "so does the writer's flush method; set_as_default alone never does."
            ),
        )
    return accumulator


@chapter.check(
    "log_scalars", 3, N_("log_scalars writes 'loss' and 'accuracy' at the grader's steps, with its values, flushed")
)
def log_scalars_values(learner):
    rng = _rng()
    first = int(rng.integers(3, 500))
    points = [
        (first, float(rng.uniform(0.5, 3)), float(rng.uniform(0, 1))),
        (first + int(rng.integers(1, 500)), float(rng.uniform(0.05, 0.5)), float(rng.uniform(0, 1))),
    ]
    with _scratch("scalars") as directory:
        for step, loss, accuracy in points:
            call_void(learner, "log_scalars", str(directory), step, loss, accuracy)
        accumulator = _read_what_was_written(directory, "log_scalars")
        found = tags(accumulator)
        missing = [t for t in ("loss", "accuracy") if t not in found]
        if missing:
            raise CheckFailed(
                _("log_scalars wrote no scalar tagged {tags}").format(tags=_(" or ").join(repr(m) for m in missing)),
                expected=_("tags {tags}").format(tags=["accuracy", "loss"]),
                got=_("tags {tags}").format(tags=found),
                hint=_(
                    "The tags are the first argument of tf.summary.scalar: exactly 'loss' "
                    "and 'accuracy', as the post named them."
                ),
            )
        for tag, column in (("loss", 1), ("accuracy", 2)):
            for name in (tag,):
                if plugin(accumulator, name) != "scalars":
                    raise CheckFailed(
                        _("'{name}' was not written as a scalar summary").format(name=name),
                        expected="tf.summary.scalar",
                        got=_("a '{kind}' summary").format(kind=plugin(accumulator, name)),
                    )
            steps, values = scalars(accumulator, tag)
            expected_steps = [p[0] for p in points]
            if list(steps) != expected_steps:
                hint = _("Pass step=step to tf.summary.scalar, or open the writer with as_default(step=step).")
                message = _("the '{tag}' points are at the wrong steps").format(tag=tag)
                if len(steps) and not np.any(steps):
                    message = _("every '{tag}' point landed at step 0").format(tag=tag)
                    hint = _("The grader passed the steps shown under expected; {hint}").format(hint=hint)
                raise CheckFailed(
                    message,
                    expected=_("steps {steps}").format(steps=expected_steps),
                    got=_("steps {steps}").format(steps=[int(s) for s in steps]),
                    hint=hint,
                )
            expect_close(
                values,
                np.array([p[column] for p in points], dtype=np.float32),
                _("the '{tag}' values read back").format(tag=tag),
                rtol=1e-6,
                atol=1e-6,
                hint=_("Write the loss argument under 'loss' and the accuracy argument under 'accuracy'."),
            )


@chapter.check(
    "log_scalars",
    3,
    N_("runs 1st and 2nd hold 'loss' and 'accuracy' every scalar_every steps, and the loss goes down"),
    at_end=True,
)
def scalars_in_runs(learner):
    settings = _settings(learner)
    expected_steps = _logged_steps(settings["fc_steps"], settings["scalar_every"])
    for name in RUNS:
        accumulator = _load_learner_run(learner, name, N_("runs 1st and 2nd"), "log_scalars")
        for tag in ("loss", "accuracy"):
            if tag not in tags(accumulator):
                raise CheckFailed(
                    _("run '{name}' has no '{tag}' scalar").format(name=name, tag=tag),
                    expected=_("tags {tags}").format(tags=["accuracy", "loss"]),
                    got=_("tags {tags}").format(tags=tags(accumulator)),
                    hint=_("The training cell calls log_scalars."),
                )
            steps, values = scalars(accumulator, tag)
            if list(steps) != expected_steps:
                raise CheckFailed(
                    _(
                        "run '{name}': the '{tag}' points are not at the expected steps (0 to {last}, every {every})"
                    ).format(name=name, tag=tag, last=settings["fc_steps"], every=settings["scalar_every"]),
                    expected=_steps_text(expected_steps),
                    got=_steps_text(steps),
                    hint=_("Each call of log_scalars must write exactly one point per tag, at the step it is given."),
                )
        losses = scalars(accumulator, "loss")[1]
        ratio = settings.get("max_final_loss_ratio", 1.0)
        if not np.all(np.isfinite(losses)) or losses[-1] >= losses[0] * ratio:
            raise CheckFailed(
                _("run '{name}': the loss did not go down: {first:.4g} at step 0, {last:.4g} at step {step}").format(
                    name=name, first=losses[0], last=losses[-1], step=expected_steps[-1]
                ),
                expected=_("below {limit:.4g} (the '{preset}' preset's {ratio:g} x the first loss)").format(
                    limit=losses[0] * ratio, preset=learner.preset, ratio=ratio
                ),
                got=f"{losses[-1]:.4g}",
                hint=_("Check that 'loss' receives the loss and 'accuracy' the accuracy."),
            )
        _ends_at_its_network(learner, name, expected_steps, losses, FC_SHAPES)


# --- 1.2 log_histograms --------------------------------------------------------------------


@chapter.check(
    "log_histograms",
    3,
    N_("log_histograms writes one histogram per tensor of grader-chosen params, with the right counts and ranges"),
)
def log_histograms_every_tensor(learner):
    rng = _rng()
    params = {}
    for name in DEMO_TENSORS:  # the chapter's names, smaller random shapes
        shape = (
            (int(rng.integers(5, 40)), int(rng.integers(2, 30)))
            if name.startswith("w")
            else (int(rng.integers(2, 30)),)
        )
        params[name] = (rng.standard_normal(shape) * rng.uniform(0.01, 2)).astype(np.float32)
    step = int(rng.integers(1, 1000))
    with _scratch("histograms") as directory:
        call_void(learner, "log_histograms", str(directory), step, variables(params))
        accumulator = _read_what_was_written(directory, "log_histograms")
        found = [t for t in tags(accumulator) if plugin(accumulator, t) == "histograms"]
        missing = [n for n in params if n not in found]
        if missing:
            raise CheckFailed(
                _("log_histograms wrote histograms for {found} but not for {missing}").format(
                    found=found or _("nothing"), missing=missing
                ),
                expected=_("one histogram per tensor: {names}").format(names=list(params)),
                got=_("histograms {found}").format(found=found),
                hint=_(
                    "Loop over every item of params, weights and biases alike, and tag each histogram with its key."
                ),
            )
        for name, value in params.items():
            steps, buckets = histograms(accumulator, name)
            if steps != [step]:
                raise CheckFailed(
                    _("the histogram of '{name}' is at the wrong step").format(name=name),
                    expected=_("steps {steps}").format(steps=[step]),
                    got=_("steps {steps}").format(steps=steps),
                    hint=_("Pass step=step (or as_default(step=step))."),
                )
            stats = bucket_stats(buckets[0])
            if (
                stats["count"] != value.size
                or not math.isclose(stats["min"], value.min(), rel_tol=1e-4, abs_tol=1e-4)
                or not math.isclose(stats["max"], value.max(), rel_tol=1e-4, abs_tol=1e-4)
            ):
                raise CheckFailed(
                    _("the histogram of '{name}' does not summarise the tensor the grader passed").format(name=name),
                    expected=_("{count} values between {low:.4g} and {high:.4g}").format(
                        count=value.size, low=value.min(), high=value.max()
                    ),
                    got=_("{count} values between {low:.4g} and {high:.4g}").format(
                        count=f"{stats['count']:.0f}", low=stats["min"], high=stats["max"]
                    ),
                    hint=_("Give tf.summary.histogram the whole tensor params[name], unchanged."),
                )


@chapter.check(
    "log_histograms",
    2,
    N_("runs demo-good and demo-bad hold a histogram of every weight and bias every histogram_every steps"),
    at_end=True,
)
def histograms_in_runs(learner):
    settings = _settings(learner)
    expected_steps = _logged_steps(settings["demo_steps"], settings["histogram_every"])
    for name in DEMO_RUNS:
        accumulator = _load_learner_run(learner, name, N_("the demo runs"), "log_histograms")
        found = [t for t in tags(accumulator) if plugin(accumulator, t) == "histograms"]
        missing = [t for t in DEMO_TENSORS if t not in found]
        if missing:
            raise CheckFailed(
                _("run '{name}' has no histogram of {missing}").format(name=name, missing=missing),
                expected=list(DEMO_TENSORS),
                got=_("histograms {found}").format(found=found),
                hint=_(
                    "The chapter's train writes them (with tfbook.summaries.histogram): run the demo "
                    "training cell as the chapter gives it."
                ),
            )
        for tag in DEMO_TENSORS:
            steps, buckets = histograms(accumulator, tag)
            if steps != expected_steps:
                raise CheckFailed(
                    _("run '{name}': the histograms of '{tag}' are not at the expected steps").format(
                        name=name, tag=tag
                    ),
                    expected=_steps_text(expected_steps),
                    got=_steps_text(steps),
                )
            count = bucket_stats(buckets[0])["count"]
            if count != math.prod(DEMO_SHAPES[tag]):
                raise CheckFailed(
                    _("run '{name}': the histogram of '{tag}' counts {count:.0f} values").format(
                        name=name, tag=tag, count=count
                    ),
                    expected=_("{count} (shape {shape})").format(
                        count=math.prod(DEMO_SHAPES[tag]), shape=DEMO_SHAPES[tag]
                    ),
                    got=f"{count:.0f}",
                )
        if "loss" in tags(accumulator):  # (its absence is 1.1's to report)
            steps, losses = scalars(accumulator, "loss")
            _ends_at_its_network(learner, name, steps, losses, DEMO_TENSORS)


# --- 1.3 log_graph -------------------------------------------------------------------------


def _expect_model_graph(ops: dict[str, int], where: str) -> None:
    matmul, relu = ops.get("MatMul", 0), ops.get("Relu", 0)
    if not ops:
        raise CheckFailed(
            _("{where} holds no graph").format(where=where),
            expected=_("a graph written by tf.summary.graph (or trace_export)"),
            got=_("no graph"),
            hint=_("Write the graph of a traced tf.function with the run's writer, inside its as_default block."),
        )
    if matmul < 3 or relu < 2:
        raise CheckFailed(
            _("{where} holds a graph, but not the network's: {matmul} MatMul and {relu} Relu ops").format(
                where=where, matmul=matmul, relu=relu
            ),
            expected=_("at least 3 MatMul and 2 Relu ops (784 -> 128 -> 32 -> 10)"),
            got=_("{matmul} MatMul, {relu} Relu; ops {ops}").format(matmul=matmul, relu=relu, ops=sorted(ops)[:8]),
            hint=_(
                "Write the graph of a tf.function that runs fc_forward with the params "
                "log_graph was given, traced for a batch of images."
            ),
        )


@chapter.check(
    "log_graph",
    2,
    N_("log_graph writes the fully connected network's graph (3 MatMul, 2 Relu) for grader-chosen params"),
)
def log_graph_written(learner):
    rng = _rng()
    params = {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in FC_SHAPES.items()}
    with _scratch("graph") as directory:
        call_void(learner, "log_graph", str(directory), variables(params))
        accumulator = _read_what_was_written(directory, "log_graph")
        _expect_model_graph(graph_ops(accumulator), _("the event file log_graph wrote"))


@chapter.check("log_graph", 1, N_("run 1st holds the network's graph for the Graphs tab"), at_end=True)
def graph_in_run(learner):
    _expect_model_graph(
        graph_ops(_load_learner_run(learner, "1st", N_("runs 1st and 2nd"), "log_graph")),
        _("run '{name}'").format(name="1st"),
    )


# --- 1.4 run_log_dir -----------------------------------------------------------------------


@chapter.check("run_log_dir", 2, N_("run_log_dir gives each run its own subfolder of runs/ch01/logs"))
def run_log_dir_layout(learner):
    rng = _rng()
    names = ["1st", "2nd", f"run-{int(rng.integers(1000, 9999))}"]
    parent = (learner.runs_dir / "ch01" / "logs").resolve()
    got = {}
    for name in names:
        path = learner.call("run_log_dir", name)
        if not isinstance(path, str):
            raise CheckFailed(
                _("run_log_dir('{name}') returned a {type}").format(name=name, type=type(path).__name__),
                expected=_("a str"),
                got=repr(path),
                hint=_("Return str(...) of the path."),
            )
        got[name] = Path(path).resolve()
        if name == names[-1] and got[name].is_dir() and not any(got[name].iterdir()):
            got[name].rmdir()  # the grader's probe name leaves no empty run folder behind
    if len(set(got.values())) < len(names):
        raise CheckFailed(
            _("run_log_dir gives several runs the same folder, so TensorBoard would merge them into one run"),
            expected=f"{{'1st': '{parent}/1st', '2nd': '{parent}/2nd'}}",
            got=str({k: str(v) for k, v in got.items()}),
            hint=_("Use the run's name as the last part of the path."),
        )
    for name, path in got.items():
        if path != parent / name:
            raise CheckFailed(
                _("run_log_dir('{name}') is not the run's subfolder of the chapter's log folder").format(name=name),
                expected=str(parent / name),
                got=str(path),
                hint=_("Build it with tfbook.run_dir('01', 'logs', name), which follows TFBOOK_RUNS."),
            )


@chapter.check(
    "run_log_dir",
    3,
    N_("runs/ch01/logs holds 1st and 2nd as separate runs with different curves, and no events of its own"),
    at_end=True,
)
def runs_on_disk(learner):
    logs = learner.runs_dir / "ch01" / "logs"
    loose = event_files(logs)
    if loose:
        raise CheckFailed(
            _(
                "runs/ch01/logs itself holds {count} event file(s): TensorBoard shows them as a "
                "run called '.', mixing every training written there"
            ).format(count=len(loose)),
            expected=_("event files only inside runs/ch01/logs/NAME/"),
            got=[p.name for p in loose][:3],
            hint=_("Write each training into run_log_dir(its name)."),
        )
    curves = {}
    for name in RUNS:
        steps, losses = scalars(_load_run(learner, name, N_("runs 1st and 2nd")), "loss")
        if len(np.unique(steps)) != len(steps):
            raise CheckFailed(
                _("run '{name}' has several loss points at the same step: two trainings wrote into its folder").format(
                    name=name
                ),
                expected=_("one point per step"),
                got=_steps_text(steps),
                hint=_("Give every training its own run folder; the training cell empties it first."),
            )
        curves[name] = (steps, losses)
    (s1, l1), (s2, l2) = curves.values()
    if len(s1) != len(s2) or np.max(np.abs(l1 - l2)) < 0.01:
        raise CheckFailed(
            _("runs 1st and 2nd have the same loss curve: nothing distinguishes them on the chart"),
            expected=_("curves that differ (the runs use different learning rates)"),
            got=_("largest difference {difference}").format(
                difference=np.max(np.abs(l1 - l2)) if len(s1) == len(s2) else "n/a"
            ),
        )


# --- 1.5 predict_initial_loss --------------------------------------------------------------


@chapter.check(
    "predict_initial_loss", 1, N_("PREDICTED_INITIAL_LOSS is the loss of an untrained 10-class network, within 0.05")
)
def prediction_close(learner):
    got = _one_number(learner.value("PREDICTED_INITIAL_LOSS"), "PREDICTED_INITIAL_LOSS")
    expected = float(
        tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot([3], 10), logits=tf.zeros([1, 10])))
    )
    hint = ""  # the exercise's first hint step
    if 0 <= got <= 1:
        hint = _(
            "The loss is a cross-entropy, not a probability or an accuracy: 0 for a network that is "
            "sure of every right digit, growing as the probability of the right digit shrinks."
        )
    # right or wrong, which way and roughly how far; never the number (the training prints it)
    judge_prediction(got, expected, 0.05, _("Your prediction"), hint=hint)


@chapter.check(
    "predict_initial_loss", 1, N_("the 1st run's logged step-0 loss matches the prediction within 0.1"), at_end=True
)
def prediction_vs_run(learner):
    predicted = _one_number(learner.value("PREDICTED_INITIAL_LOSS"), "PREDICTED_INITIAL_LOSS")  # first: a guess
    steps, losses = scalars(_load_learner_run(learner, "1st", N_("runs 1st and 2nd"), "predict_initial_loss"), "loss")
    if not len(steps) or steps[0] != 0:
        raise CheckFailed(
            _("run '1st' has no loss at step 0"),
            expected=_("a first point at step 0"),
            got=_steps_text(steps),
            hint=_("The training logs the untrained network at step 0."),
        )
    if abs(losses[0] - predicted) > 0.1:
        raise CheckFailed(
            _("run '1st' logged {loss:.4f} at step 0, but you predicted {predicted:.4g}").format(
                loss=losses[0], predicted=predicted
            ),
            expected=f"{predicted:.4g} +/- 0.1",
            got=f"{losses[0]:.4f}",
            hint=_(
                "If your prediction passed its own check and the run is far from it, the network "
                "did not start with small weights and zero biases: check fc_params."
            ),
        )


# --- 1.6 read_scalars ----------------------------------------------------------------------


def _write_grader_run(
    directory: Path, rng, tag: str, other: str, files: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random points of ``tag`` interleaved with another scalar tag and a histogram, over ``files`` event files."""
    n = int(rng.integers(14, 40))  # more than EventAccumulator's default sample of 10
    steps = np.cumsum(rng.integers(1, 50, n)) - 1 + int(rng.integers(0, 3))
    values = rng.standard_normal(n).astype(np.float32) * np.float32(rng.uniform(0.1, 100))
    decoys = rng.standard_normal(n).astype(np.float32)
    cut = int(rng.integers(3, n - 3)) if files == 2 else n
    for part in (slice(0, cut), slice(cut, n)) if files == 2 else (slice(0, n),):
        writer = tf.summary.create_file_writer(str(directory), filename_suffix=f".grader{part.start}")
        with writer.as_default():
            for step, value, decoy in zip(steps[part], values[part], decoys[part]):
                tf.summary.scalar(other, decoy, step=int(step))
                tf.summary.scalar(tag, value, step=int(step))
                tf.summary.histogram("weights", rng.standard_normal(20).astype(np.float32), step=int(step))
        writer.close()
    return steps, values, decoys


def _check_reader(learner, files: int) -> None:
    rng = _rng()
    tag = f"metric_{int(rng.integers(100, 999))}/loss"
    other = f"metric_{int(rng.integers(100, 999))}/accuracy"
    with _scratch("reader") as directory:
        steps, values, decoys = _write_grader_run(directory, rng, tag, other, files)
        got = learner.call("read_scalars", str(directory), tag)
        where = ngettext(
            "read_scalars on the grader's event file ({points} points of '{tag}')",
            "read_scalars on the grader's event files ({points} points of '{tag}', split over {files} files)",
            files,
        ).format(points=len(steps), tag=tag, files=files)
        if isinstance(got, dict) or np.ndim(got) != 2 or np.shape(got)[0] != 2:
            raise CheckFailed(
                _("{where} did not return (steps, values)").format(where=where),
                expected=_("two arrays of {count} numbers").format(count=len(steps)),
                got=_("something of shape {shape}").format(shape=np.shape(got)),
                hint=_("Return a tuple of two equally long arrays: steps first, then values."),
            )
        got_steps, got_values = np.asarray(got[0]), np.asarray(got[1])
        if len(got_steps) != len(steps):
            hint = _("Return every event of the tag.")
            k = len(got_steps)
            one_file_only = (
                files > 1
                and 0 < k < len(steps)
                and (np.array_equal(got_steps, steps[:k]) or np.array_equal(got_steps, steps[-k:]))
            )
            if k == len(steps) - 1 and np.array_equal(got_steps, steps[1:]):
                hint = _(
                    "The first point is missing: do not skip the tag's first event (skip only events without values)."
                )
            elif one_file_only:  # before the sample-of-10 test: one file may hold exactly 10 points
                hint = _("A run folder can hold several event files: read all of them.")
            elif len(got_steps) == 10:
                hint = _(
                    "EventAccumulator keeps a random sample of 10 tensors per tag unless size_guidance says 0 "
                    "(keep all)."
                )
            elif files > 1 and len(got_steps) < len(steps):
                hint = _("A run folder can hold several event files: read all of them.")
            elif len(got_steps) > len(steps):
                hint = _("Keep only the events whose tag is the one asked for.")
            raise CheckFailed(
                _("{where} returned {count} points").format(where=where, count=len(got_steps)),
                expected=_("{count} points").format(count=len(steps)),
                got=_("{count} points").format(count=len(got_steps)),
                hint=hint,
            )
        if not np.array_equal(got_steps.astype(np.int64), steps):
            raise CheckFailed(
                _("{where} returned the wrong steps").format(where=where),
                expected=_steps_text(steps),
                got=_steps_text(got_steps),
                hint=_("Use each event's step, in increasing order."),
            )
        if np.allclose(got_values, decoys, rtol=1e-6, atol=1e-6):
            raise CheckFailed(
                _("{where} returned the values of another tag").format(where=where),
                expected=_("the values of '{tag}'").format(tag=tag),
                got=_("the values of '{tag}'").format(tag=other),
                hint=_("Keep only the events of the tag asked for."),
            )
        expect_close(
            got_values,
            values,
            where,
            rtol=1e-6,
            atol=1e-6,
            hint=_("Turn each event's tensor into a float (tf.make_ndarray) without rounding it."),
        )


@chapter.check(
    "read_scalars",
    3,
    N_("read_scalars returns exactly the steps and values of the grader's own event file, one tag only"),
)
def read_scalars_one_file(learner):
    _check_reader(learner, files=1)


@chapter.check("read_scalars", 1, N_("read_scalars reads a run folder holding two event files (a restarted training)"))
def read_scalars_two_files(learner):
    _check_reader(learner, files=2)


# --- 1.7 dead_units ------------------------------------------------------------------------


@chapter.check(
    "dead_units", 2, N_("dead_fraction counts the units that output 0 for every image of a grader-chosen batch")
)
def dead_fraction_values(learner):
    rng = _rng()
    for _draw in range(2):
        images, units = int(rng.integers(5, 40)), int(rng.integers(10, 80))
        h = np.maximum(rng.standard_normal((images, units)), 0).astype(np.float32)
        dead = rng.random(units) < rng.uniform(0.1, 0.7)
        h[:, dead] = 0
        almost = np.flatnonzero(~dead)[:2]  # alive in one image only: not dead
        h[:, almost] = 0
        h[rng.integers(0, images), almost] = 1.5
        expected = float(np.mean(h.max(axis=0) == 0))
        got = _one_number(learner.call("dead_fraction", tensor(h)), _("dead_fraction's result"))
        if abs(got - expected) > 1e-6:
            zeros = float(np.mean(h == 0))
            hint = _("A unit (a column) is dead when it is 0 for every image (every row) of the batch.")
            if abs(got - zeros) < 1e-6:
                hint = _(
                    "That is the fraction of zero outputs; the exercise asks for units that are zero for every image."
                )
            elif abs(got - (1 - expected)) < 1e-6:
                hint = _("That is the fraction of live units.")
            raise CheckFailed(
                _("dead_fraction of a ({images}, {units}) batch with {dead} dead units").format(
                    images=images, units=units, dead=int(dead.sum())
                ),
                expected=f"{expected:.6f}",
                got=f"{got:.6f}",
                hint=hint,
            )


def _bad_params(learner) -> dict[str, np.ndarray]:
    return _saved_params(learner, "demo-bad", DEMO_TENSORS)


@chapter.check(
    "dead_units",
    2,
    N_("DEAD_FRACTION_BAD matches the dead units the grader counts in the saved demo-bad network"),
    at_end=True,
)
def dead_fraction_of_bad_run(learner):
    from tfbook.data import load_mnist

    params = _bad_params(learner)
    probe = load_mnist().flat("test")[0][:PROBE_IMAGES]
    h = np.maximum(probe @ params["w_h"] + params["b_h"], 0)
    expected = float(np.mean(h.max(axis=0) == 0))
    got = _one_number(learner.value("DEAD_FRACTION_BAD"), "DEAD_FRACTION_BAD")
    if abs(got - expected) > 0.5 / params["b_h"].size:
        h2 = np.maximum(h @ params["w_h2"] + params["b_h2"], 0)
        second = float(np.mean(h2.max(axis=0) == 0))
        hint = _("Apply dead_fraction to the first hidden layer, h, of demo-bad on the probe batch, without dropout.")
        if abs(got - second) < 1e-6:
            hint = _("That is the second hidden layer (h2); the exercise asks about the first, h.")
        raise CheckFailed(
            _(
                "the saved demo-bad network has {expected:.1%} dead units in its first hidden layer "
                "on the probe batch; DEAD_FRACTION_BAD is {got:.4g}"
            ).format(expected=expected, got=got),
            expected=f"{expected:.4f}",
            got=f"{got:.4f}",
            hint=hint,
        )


@chapter.check(
    "dead_units",
    2,
    N_("the demo-bad run's histograms show the problem the chapter explains; demo-good's do not"),
    at_end=True,
)
def bad_run_histograms(learner):
    good, bad = (_load_learner_run(learner, name, N_("the demo runs"), "dead_units") for name in DEMO_RUNS)
    spread = {}
    for name, accumulator in zip(DEMO_RUNS, (good, bad)):
        missing = [t for t in ("w_h", "activations/h2") if t not in tags(accumulator)]
        if missing:
            raise CheckFailed(
                _("run '{name}' has no histogram of {missing}").format(name=name, missing=missing),
                expected=_("w_h and activations/h2"),
                got=tags(accumulator),
                hint=_("Run the demo training cell unchanged."),
            )
        spread[name] = bucket_stats(histograms(accumulator, "w_h")[1][0])["spread"]
    if spread["demo-bad"] < 10 * spread["demo-good"]:
        raise CheckFailed(
            _(
                "at step 0 the w_h histograms of demo-bad and demo-good should differ by the 20x of their "
                "initialisations"
            ),
            expected=_("demo-bad's spread at least 10x demo-good's"),
            got=_("spread {bad:.3g} against {good:.3g}").format(bad=spread["demo-bad"], good=spread["demo-good"]),
        )
    last = {}
    for name, accumulator in zip(DEMO_RUNS, (good, bad)):
        steps, buckets = histograms(accumulator, "activations/h2")
        last[name] = (steps[-1], share_at_zero(buckets[-1]))
    step, share = last["demo-bad"]
    if share < 0.95:
        raise CheckFailed(
            _(
                "at step {step}, only {share:.1%} of demo-bad's second-layer outputs are at 0 (the "
                "histogram's lowest bucket); the chapter's bad initialisation kills almost every unit of "
                "h2"
            ).format(step=step, share=share),
            expected=_("at least 95% of activations/h2 at 0"),
            got=f"{share:.1%}",
            hint=_("Train demo-bad with weights of stddev 1.0 and learning rate 0.05, as the chapter does."),
        )
    step, share = last["demo-good"]
    if share >= 0.95:
        raise CheckFailed(
            _("at step {step}, {share:.1%} of demo-good's second-layer outputs are at 0: it is dead too").format(
                step=step, share=share
            ),
            expected=_("below 95%"),
            got=f"{share:.1%}",
            hint=_("demo-good starts its weights with stddev 0.05."),
        )
    bad_losses = scalars(bad, "loss")[1]
    if not bad_losses[0] > 100:
        raise CheckFailed(
            _("demo-bad's first loss should be huge (logits in the thousands)"),
            expected=_("above 100"),
            got=f"{bad_losses[0]:.4g}",
        )
