"""Checks for chapter 01: watching training with TensorBoard.

Everything is judged from the grader's side, with TensorBoard's own reader
(``EventAccumulator``): the event files the learner's functions write into folders the grader
picks, the event files the notebook's runs left under ``runs/ch01/logs``, and event files the
grader writes itself (with random tags and values) for the learner's reader. The bad run's
dead units are recomputed from its saved weights.
"""
from __future__ import annotations

import functools
import json
import math
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from checks import engine
from checks.engine import Blocked, CheckFailed, Exercise, Chapter, Stopped, expect_close, judge_prediction, tensor, variables

# Hints come in steps: the idea first; the API to look up next (shown after another failed try,
# and by `tfbook hint`); never the code.
chapter = Chapter("01", {
    "log_scalars": Exercise(
        "1.1", "Write through the run's own writer, made the default for the lines that write, and give "
               "every point its step. The values must be on disk when the function returns.",
        "Scalars: loss and accuracy at a step",
        next_hints=("writer_for(log_dir), its as_default() in a `with` block (leaving it flushes), and "
                    "tf.summary.scalar's step argument.",)),
    "log_histograms": Exercise(
        "1.2", "One histogram per item of params, weights and biases alike, tagged with its key, at the "
               "step given; on disk before the function returns.",
        "Histograms of every weight and bias",
        next_hints=("tf.summary.histogram inside the writer's as_default block, then the writer's flush().",)),
    "log_graph": Exercise(
        "1.3", "A graph exists only where a tf.function was traced: trace one that runs fc_forward with "
               "params on a batch of images, and write that one graph with the run's writer.",
        "The model graph",
        next_hints=("A tf.function's get_concrete_function (given a tf.TensorSpec of the images) traces it; "
                    "tf.summary.graph writes the traced graph inside the writer's as_default block.",)),
    "run_log_dir": Exercise(
        "1.4", "Each run needs its own folder below the chapter's log folder, named after the run. Build "
               "it with the book's path helper, never by hand: the grader moves the runs folder.",
        "One folder per run",
        next_hints=("tfbook.run_dir takes the chapter id and then the parts of the path below it, and "
                    "creates the folder; the function must return a str.",)),
    "predict_initial_loss": Exercise(
        "1.5", "With ten equal logits, how much probability does the softmax give the right digit?",
        "Predicting the first loss",
        next_hints=("The cross-entropy of one image is minus the natural log of the probability the "
                    "network gives to its right digit.",),
        prediction=True),
    "read_scalars": Exercise(
        "1.6", "TensorBoard comes with a reader that loads every event file of a run folder. By default it "
               "keeps only a sample of each tag's points: ask it to keep them all.",
        "Reading a scalar back",
        next_hints=("event_accumulator.EventAccumulator: its size_guidance, Reload() and Tensors(tag); "
                    "tf.make_ndarray turns an event's tensor_proto into a number.",)),
    "dead_units": Exercise(
        "1.7", "A unit is a column of h: it is dead when it outputs zero for every image (every row) of "
               "the batch.",
        "Diagnosing dead units",
        next_hints=("For DEAD_FRACTION_BAD, run the bad network on the probe batch with dropout off and give "
                    "your function its first hidden layer's outputs.",)),
})

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
    accumulator = event_accumulator.EventAccumulator(
        str(directory), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def tags(accumulator) -> list[str]:
    return sorted(accumulator.Tags().get("tensors", []))


def plugin(accumulator, tag: str) -> str:
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


def scalars(accumulator, tag: str) -> tuple[np.ndarray, np.ndarray]:
    events = sorted(accumulator.Tensors(tag), key=lambda e: e.step)
    return (np.array([e.step for e in events], dtype=np.int64),
            np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events]))


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
    return {"count": total, "min": float(left[nonempty].min()) if nonempty.any() else 0.0,
            "max": float(right[nonempty].max()) if nonempty.any() else 0.0, "mean": mean, "spread": spread}


def call_void(learner, name: str, *args) -> None:
    """Call a learner function that writes files and returns nothing.

    The engine only carries numbers and strings back; a function returning None makes it
    report "returned ... not numbers", which for these functions is no failure at all (the
    grader judges what they wrote). Not-done, errors and a dead kernel still propagate.
    """
    try:
        learner.call(name, *args)
    except CheckFailed as e:
        if type(e) is not CheckFailed or not e.message.startswith(f"`{name}` returned"):
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
        raise CheckFailed(f"no event files for run '{name}' in {shown}",
                          expected=f"{shown}/events.out.tfevents.*",
                          got=f"{parent} holds {found}" if found else f"no {parent} folder",
                          hint=f"Run the cell that trains {made_by}; it writes each run into run_log_dir(name).")
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
        return f"exercise 1.4 (run_log_dir) does not work yet ({e.message})"
    if not all(isinstance(path, str) for path in got.values()):
        return "exercise 1.4 (run_log_dir) does not return a str"
    folders = {name: Path(path) if Path(path).is_absolute() else _run_dir(learner, name)
               for name, path in got.items()}
    if len({path.resolve() for path in folders.values()}) < len(names):
        return (f"exercise 1.4 (run_log_dir) gives several of the runs {', '.join(names)} the same folder, "
                "so each training emptied the events of the one before")
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
            raise type(e)(f"could not be checked because {why}; and {e.message}",
                          expected=e.expected, got=e.got, hint=e.hint) from None
    raise Blocked(f"could not be checked because {why}; exercise 1.4 loses its points for that, this "
                  "check keeps its own")


def _load_learner_run(learner, name: str, made_by: str, exercise: str) -> event_accumulator.EventAccumulator:
    """Run ``name`` of the notebook, for an at-end check of ``exercise`` (not run_log_dir's own)."""
    folders = _learner_run_folders(learner)
    if isinstance(folders, str):
        _blocked(learner, exercise, folders)
    return _load_run(learner, name, made_by, folders[name])


def _steps_text(steps) -> str:
    steps = [int(s) for s in steps]
    return str(steps) if len(steps) <= 8 else f"{steps[:4]} ... {steps[-2:]} ({len(steps)} points)"


def _one_number(got, what: str) -> float:
    """The learner's answer as a float, or a CheckFailed when it is not one finite number
    (a str, a dict, an array of several or none, NaN)."""
    if not isinstance(got, np.ndarray) or got.size != 1:
        kind = f"shape {got.shape}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}: {got!r:.60}"
        raise CheckFailed(f"{what} must be one number", expected="one number", got=kind,
                          hint="A Python float, or a tensor holding a single value (float(...) of it).")
    value = float(got.item())
    if not math.isfinite(value):
        raise CheckFailed(f"{what} is {value}, not a number that can be compared", expected="a finite number",
                          got=str(value), hint="Look for a division by zero or a log of 0 in the computation.")
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
        raise CheckFailed(f"no saved weights of run '{name}'", expected=f"a checkpoint at runs/ch01/checkpoints/{name}/params",
                          got="nothing there", hint="Run the notebook to the cell that saves the trained networks.") from None


def probe_loss(params: dict[str, np.ndarray]) -> float:
    """The loss of a saved network (the chapter's fc or demo one, dropout off) on the probe batch."""
    x, labels = _probe()
    layers = (("w1", "b1"), ("w2", "b2"), ("w3", "b3")) if "w1" in params else \
        (("w_h", "b_h"), ("w_h2", "b_h2"), ("w_o", "b_o"))
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
        raise CheckFailed(f"run '{name}' logged a loss of {losses[-1]:.4g} at its last step ({steps[-1]}), but the "
                          f"network saved for it has a loss of {expected:.4g} on the probe batch: the event file "
                          "was not written by the training that made that network",
                          expected=f"{expected:.4g} (the saved network's loss)", got=f"{losses[-1]:.4g}",
                          hint="Run the notebook from the top: each training writes its run and the cell after the "
                               "demo runs saves the networks; events written by hand do not match them.")


# --- 1.1 log_scalars -----------------------------------------------------------------------

def _read_what_was_written(directory: Path, function: str) -> event_accumulator.EventAccumulator:
    files = event_files(directory)
    if not files:
        raise CheckFailed(f"{function} wrote no event file into the folder it was given",
                          expected=f"{directory}/events.out.tfevents.*",
                          got=f"{sorted(p.name for p in directory.iterdir()) or 'an empty folder'}",
                          hint="Write with the writer of log_dir: writer_for(log_dir).")
    accumulator = load(directory)
    if not tags(accumulator) and not accumulator.Tags().get("graph"):  # a graph is no tensor tag
        raise CheckFailed(f"{function} created an event file, but when it returned the file held no "
                          "values at all: they were still in the writer's memory",
                          expected="the values on disk when the function returns",
                          got=f"{len(files)} event file(s) of {sum(p.stat().st_size for p in files)} bytes, no summaries",
                          hint="A writer buffers events. Leaving the writer's as_default block flushes it, and "
                               "so does the writer's flush method; set_as_default alone never does.")
    return accumulator


@chapter.check("log_scalars", 3, "log_scalars writes 'loss' and 'accuracy' at the grader's steps, with its values, flushed")
def log_scalars_values(learner):
    rng = _rng()
    first = int(rng.integers(3, 500))
    points = [(first, float(rng.uniform(0.5, 3)), float(rng.uniform(0, 1))),
              (first + int(rng.integers(1, 500)), float(rng.uniform(0.05, 0.5)), float(rng.uniform(0, 1)))]
    with _scratch("scalars") as directory:
        for step, loss, accuracy in points:
            call_void(learner, "log_scalars", str(directory), step, loss, accuracy)
        accumulator = _read_what_was_written(directory, "log_scalars")
        found = tags(accumulator)
        missing = [t for t in ("loss", "accuracy") if t not in found]
        if missing:
            raise CheckFailed(f"log_scalars wrote no scalar tagged {' or '.join(repr(m) for m in missing)}",
                              expected="tags ['accuracy', 'loss']", got=f"tags {found}",
                              hint="The tags are the first argument of tf.summary.scalar: exactly 'loss' "
                                   "and 'accuracy', as the post named them.")
        for tag, column in (("loss", 1), ("accuracy", 2)):
            for name in (tag,):
                if plugin(accumulator, name) != "scalars":
                    raise CheckFailed(f"'{name}' was not written as a scalar summary",
                                      expected="tf.summary.scalar", got=f"a '{plugin(accumulator, name)}' summary")
            steps, values = scalars(accumulator, tag)
            expected_steps = [p[0] for p in points]
            if list(steps) != expected_steps:
                hint = "Pass step=step to tf.summary.scalar, or open the writer with as_default(step=step)."
                message = f"the '{tag}' points are at the wrong steps"
                if len(steps) and not np.any(steps):
                    message = f"every '{tag}' point landed at step 0"
                    hint = "The grader passed the steps shown under expected; " + hint
                raise CheckFailed(message, expected=f"steps {expected_steps}", got=f"steps {[int(s) for s in steps]}",
                                  hint=hint)
            expect_close(values, np.array([p[column] for p in points], dtype=np.float32),
                         f"the '{tag}' values read back", rtol=1e-6, atol=1e-6,
                         hint="Write the loss argument under 'loss' and the accuracy argument under 'accuracy'.")


@chapter.check("log_scalars", 3, "runs 1st and 2nd hold 'loss' and 'accuracy' every scalar_every steps, and the loss goes down", at_end=True)
def scalars_in_runs(learner):
    settings = _settings(learner)
    expected_steps = _logged_steps(settings["fc_steps"], settings["scalar_every"])
    for name in RUNS:
        accumulator = _load_learner_run(learner, name, "runs 1st and 2nd", "log_scalars")
        for tag in ("loss", "accuracy"):
            if tag not in tags(accumulator):
                raise CheckFailed(f"run '{name}' has no '{tag}' scalar", expected="tags ['accuracy', 'loss']",
                                  got=f"tags {tags(accumulator)}", hint="The training cell calls log_scalars.")
            steps, values = scalars(accumulator, tag)
            if list(steps) != expected_steps:
                raise CheckFailed(f"run '{name}': the '{tag}' points are not at the expected steps "
                                  f"(0 to {settings['fc_steps']}, every {settings['scalar_every']})",
                                  expected=_steps_text(expected_steps), got=_steps_text(steps),
                                  hint="Each call of log_scalars must write exactly one point per tag, at the step it is given.")
        _, losses = scalars(accumulator, "loss")
        ratio = settings.get("max_final_loss_ratio", 1.0)
        if not np.all(np.isfinite(losses)) or losses[-1] >= losses[0] * ratio:
            raise CheckFailed(f"run '{name}': the loss did not go down: {losses[0]:.4g} at step 0, "
                              f"{losses[-1]:.4g} at step {expected_steps[-1]}",
                              expected=f"below {losses[0] * ratio:.4g} (the '{learner.preset}' preset's "
                                       f"{ratio:g} x the first loss)", got=f"{losses[-1]:.4g}",
                              hint="Check that 'loss' receives the loss and 'accuracy' the accuracy.")
        _ends_at_its_network(learner, name, expected_steps, losses, FC_SHAPES)


# --- 1.2 log_histograms --------------------------------------------------------------------

@chapter.check("log_histograms", 3, "log_histograms writes one histogram per tensor of grader-chosen params, with the right counts and ranges")
def log_histograms_every_tensor(learner):
    rng = _rng()
    params = {}
    for name in DEMO_TENSORS:  # the chapter's names, smaller random shapes
        shape = (int(rng.integers(5, 40)), int(rng.integers(2, 30))) if name.startswith("w") else (int(rng.integers(2, 30)),)
        params[name] = (rng.standard_normal(shape) * rng.uniform(0.01, 2)).astype(np.float32)
    step = int(rng.integers(1, 1000))
    with _scratch("histograms") as directory:
        call_void(learner, "log_histograms", str(directory), step, variables(params))
        accumulator = _read_what_was_written(directory, "log_histograms")
        found = [t for t in tags(accumulator) if plugin(accumulator, t) == "histograms"]
        missing = [n for n in params if n not in found]
        if missing:
            raise CheckFailed(f"log_histograms wrote histograms for {found or 'nothing'} but not for {missing}",
                              expected=f"one histogram per tensor: {list(params)}", got=f"histograms {found}",
                              hint="Loop over every item of params, weights and biases alike, and tag each "
                                   "histogram with its key.")
        for name, value in params.items():
            steps, buckets = histograms(accumulator, name)
            if steps != [step]:
                raise CheckFailed(f"the histogram of '{name}' is at the wrong step", expected=f"steps [{step}]",
                                  got=f"steps {steps}", hint="Pass step=step (or as_default(step=step)).")
            stats = bucket_stats(buckets[0])
            if stats["count"] != value.size or not math.isclose(stats["min"], value.min(), rel_tol=1e-4, abs_tol=1e-4) \
                    or not math.isclose(stats["max"], value.max(), rel_tol=1e-4, abs_tol=1e-4):
                raise CheckFailed(f"the histogram of '{name}' does not summarise the tensor the grader passed",
                                  expected=f"{value.size} values between {value.min():.4g} and {value.max():.4g}",
                                  got=f"{stats['count']:.0f} values between {stats['min']:.4g} and {stats['max']:.4g}",
                                  hint="Give tf.summary.histogram the whole tensor params[name], unchanged.")


@chapter.check("log_histograms", 2, "runs demo-good and demo-bad hold a histogram of every weight and bias every histogram_every steps", at_end=True)
def histograms_in_runs(learner):
    settings = _settings(learner)
    expected_steps = _logged_steps(settings["demo_steps"], settings["histogram_every"])
    for name in DEMO_RUNS:
        accumulator = _load_learner_run(learner, name, "the demo runs", "log_histograms")
        found = [t for t in tags(accumulator) if plugin(accumulator, t) == "histograms"]
        missing = [t for t in DEMO_TENSORS if t not in found]
        if missing:
            raise CheckFailed(f"run '{name}' has no histogram of {missing}", expected=list(DEMO_TENSORS),
                              got=f"histograms {found}",
                              hint="The chapter's train writes them (with tfbook.summaries.histogram): run the demo "
                                   "training cell as the chapter gives it.")
        for tag in DEMO_TENSORS:
            steps, buckets = histograms(accumulator, tag)
            if steps != expected_steps:
                raise CheckFailed(f"run '{name}': the histograms of '{tag}' are not at the expected steps",
                                  expected=_steps_text(expected_steps), got=_steps_text(steps))
            count = bucket_stats(buckets[0])["count"]
            if count != math.prod(DEMO_SHAPES[tag]):
                raise CheckFailed(f"run '{name}': the histogram of '{tag}' counts {count:.0f} values",
                                  expected=f"{math.prod(DEMO_SHAPES[tag])} (shape {DEMO_SHAPES[tag]})", got=f"{count:.0f}")
        if "loss" in tags(accumulator):  # (its absence is 1.1's to report)
            steps, losses = scalars(accumulator, "loss")
            _ends_at_its_network(learner, name, steps, losses, DEMO_TENSORS)


# --- 1.3 log_graph -------------------------------------------------------------------------

def _expect_model_graph(ops: dict[str, int], where: str) -> None:
    matmul, relu = ops.get("MatMul", 0), ops.get("Relu", 0)
    if not ops:
        raise CheckFailed(f"{where} holds no graph",
                          expected="a graph written by tf.summary.graph (or trace_export)", got="no graph",
                          hint="Write the graph of a traced tf.function with the run's writer, inside its as_default block.")
    if matmul < 3 or relu < 2:
        raise CheckFailed(f"{where} holds a graph, but not the network's: {matmul} MatMul and {relu} Relu ops",
                          expected="at least 3 MatMul and 2 Relu ops (784 -> 128 -> 32 -> 10)",
                          got=f"{matmul} MatMul, {relu} Relu; ops {sorted(ops)[:8]}",
                          hint="Write the graph of a tf.function that runs fc_forward with the params "
                               "log_graph was given, traced for a batch of images.")


@chapter.check("log_graph", 2, "log_graph writes the fully connected network's graph (3 MatMul, 2 Relu) for grader-chosen params")
def log_graph_written(learner):
    rng = _rng()
    params = {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in FC_SHAPES.items()}
    with _scratch("graph") as directory:
        call_void(learner, "log_graph", str(directory), variables(params))
        accumulator = _read_what_was_written(directory, "log_graph")
        _expect_model_graph(graph_ops(accumulator), "the event file log_graph wrote")


@chapter.check("log_graph", 1, "run 1st holds the network's graph for the Graphs tab", at_end=True)
def graph_in_run(learner):
    _expect_model_graph(graph_ops(_load_learner_run(learner, "1st", "runs 1st and 2nd", "log_graph")), "run '1st'")


# --- 1.4 run_log_dir -----------------------------------------------------------------------

@chapter.check("run_log_dir", 2, "run_log_dir gives each run its own subfolder of runs/ch01/logs")
def run_log_dir_layout(learner):
    rng = _rng()
    names = ["1st", "2nd", f"run-{int(rng.integers(1000, 9999))}"]
    parent = (learner.runs_dir / "ch01" / "logs").resolve()
    got = {}
    for name in names:
        path = learner.call("run_log_dir", name)
        if not isinstance(path, str):
            raise CheckFailed(f"run_log_dir('{name}') returned a {type(path).__name__}", expected="a str",
                              got=repr(path), hint="Return str(...) of the path.")
        got[name] = Path(path).resolve()
        if name == names[-1] and got[name].is_dir() and not any(got[name].iterdir()):
            got[name].rmdir()  # the grader's probe name leaves no empty run folder behind
    if len(set(got.values())) < len(names):
        raise CheckFailed("run_log_dir gives several runs the same folder, so TensorBoard would merge them into one run",
                          expected=f"{{'1st': '{parent}/1st', '2nd': '{parent}/2nd'}}",
                          got=str({k: str(v) for k, v in got.items()}),
                          hint="Use the run's name as the last part of the path.")
    for name, path in got.items():
        if path != parent / name:
            raise CheckFailed(f"run_log_dir('{name}') is not the run's subfolder of the chapter's log folder",
                              expected=str(parent / name), got=str(path),
                              hint="Build it with tfbook.run_dir('01', 'logs', name), which follows TFBOOK_RUNS.")


@chapter.check("run_log_dir", 3, "runs/ch01/logs holds 1st and 2nd as separate runs with different curves, and no events of its own", at_end=True)
def runs_on_disk(learner):
    logs = learner.runs_dir / "ch01" / "logs"
    loose = event_files(logs)
    if loose:
        raise CheckFailed(f"runs/ch01/logs itself holds {len(loose)} event file(s): TensorBoard shows them as a "
                          "run called '.', mixing every training written there",
                          expected="event files only inside runs/ch01/logs/NAME/", got=[p.name for p in loose][:3],
                          hint="Write each training into run_log_dir(its name).")
    curves = {}
    for name in RUNS:
        steps, losses = scalars(_load_run(learner, name, "runs 1st and 2nd"), "loss")
        if len(np.unique(steps)) != len(steps):
            raise CheckFailed(f"run '{name}' has several loss points at the same step: two trainings wrote into its folder",
                              expected="one point per step", got=_steps_text(steps),
                              hint="Give every training its own run folder; the training cell empties it first.")
        curves[name] = (steps, losses)
    (s1, l1), (s2, l2) = curves.values()
    if len(s1) != len(s2) or np.max(np.abs(l1 - l2)) < 0.01:
        raise CheckFailed("runs 1st and 2nd have the same loss curve: nothing distinguishes them on the chart",
                          expected="curves that differ (the runs use different learning rates)",
                          got=f"largest difference {np.max(np.abs(l1 - l2)) if len(s1) == len(s2) else 'n/a'}")


# --- 1.5 predict_initial_loss --------------------------------------------------------------

@chapter.check("predict_initial_loss", 1, "PREDICTED_INITIAL_LOSS is the loss of an untrained 10-class network, within 0.05")
def prediction_close(learner):
    got = _one_number(learner.value("PREDICTED_INITIAL_LOSS"), "PREDICTED_INITIAL_LOSS")
    expected = float(tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
        labels=tf.one_hot([3], 10), logits=tf.zeros([1, 10]))))
    hint = ""  # the exercise's first hint step
    if 0 <= got <= 1:
        hint = ("The loss is a cross-entropy, not a probability or an accuracy: 0 for a network that is "
                "sure of every right digit, growing as the probability of the right digit shrinks.")
    # right or wrong, which way and roughly how far; never the number (the training prints it)
    judge_prediction(got, expected, 0.05, "Your prediction", hint=hint)


@chapter.check("predict_initial_loss", 1, "the 1st run's logged step-0 loss matches the prediction within 0.1", at_end=True)
def prediction_vs_run(learner):
    predicted = _one_number(learner.value("PREDICTED_INITIAL_LOSS"), "PREDICTED_INITIAL_LOSS")  # first: a guess
    steps, losses = scalars(_load_learner_run(learner, "1st", "runs 1st and 2nd", "predict_initial_loss"), "loss")
    if not len(steps) or steps[0] != 0:
        raise CheckFailed("run '1st' has no loss at step 0", expected="a first point at step 0",
                          got=_steps_text(steps), hint="The training logs the untrained network at step 0.")
    if abs(losses[0] - predicted) > 0.1:
        raise CheckFailed(f"run '1st' logged {losses[0]:.4f} at step 0, but you predicted {predicted:.4g}",
                          expected=f"{predicted:.4g} +/- 0.1", got=f"{losses[0]:.4f}",
                          hint="If your prediction passed its own check and the run is far from it, the network "
                               "did not start with small weights and zero biases: check fc_params.")


# --- 1.6 read_scalars ----------------------------------------------------------------------

def _write_grader_run(directory: Path, rng, tag: str, other: str, files: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        where = f"read_scalars on the grader's event {'files' if files > 1 else 'file'} ({len(steps)} points of '{tag}'" \
                + (f", split over {files} files" if files > 1 else "") + ")"
        if isinstance(got, dict) or np.ndim(got) != 2 or np.shape(got)[0] != 2:
            raise CheckFailed(f"{where} did not return (steps, values)", expected=f"two arrays of {len(steps)} numbers",
                              got=f"something of shape {np.shape(got)}",
                              hint="Return a tuple of two equally long arrays: steps first, then values.")
        got_steps, got_values = np.asarray(got[0]), np.asarray(got[1])
        if len(got_steps) != len(steps):
            hint = "Return every event of the tag."
            k = len(got_steps)
            one_file_only = files > 1 and 0 < k < len(steps) and (
                np.array_equal(got_steps, steps[:k]) or np.array_equal(got_steps, steps[-k:]))
            if k == len(steps) - 1 and np.array_equal(got_steps, steps[1:]):
                hint = "The first point is missing: do not skip the tag's first event (skip only events without values)."
            elif one_file_only:  # before the sample-of-10 test: one file may hold exactly 10 points
                hint = "A run folder can hold several event files: read all of them."
            elif len(got_steps) == 10:
                hint = "EventAccumulator keeps a random sample of 10 tensors per tag unless size_guidance says 0 (keep all)."
            elif files > 1 and len(got_steps) < len(steps):
                hint = "A run folder can hold several event files: read all of them."
            elif len(got_steps) > len(steps):
                hint = "Keep only the events whose tag is the one asked for."
            raise CheckFailed(f"{where} returned {len(got_steps)} points", expected=f"{len(steps)} points",
                              got=f"{len(got_steps)} points", hint=hint)
        if not np.array_equal(got_steps.astype(np.int64), steps):
            raise CheckFailed(f"{where} returned the wrong steps", expected=_steps_text(steps), got=_steps_text(got_steps),
                              hint="Use each event's step, in increasing order.")
        if np.allclose(got_values, decoys, rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"{where} returned the values of another tag", expected=f"the values of '{tag}'",
                              got=f"the values of '{other}'", hint="Keep only the events of the tag asked for.")
        expect_close(got_values, values, where, rtol=1e-6, atol=1e-6,
                     hint="Turn each event's tensor into a float (tf.make_ndarray) without rounding it.")


@chapter.check("read_scalars", 3, "read_scalars returns exactly the steps and values of the grader's own event file, one tag only")
def read_scalars_one_file(learner):
    _check_reader(learner, files=1)


@chapter.check("read_scalars", 1, "read_scalars reads a run folder holding two event files (a restarted training)")
def read_scalars_two_files(learner):
    _check_reader(learner, files=2)


# --- 1.7 dead_units ------------------------------------------------------------------------

@chapter.check("dead_units", 2, "dead_fraction counts the units that output 0 for every image of a grader-chosen batch")
def dead_fraction_values(learner):
    rng = _rng()
    for _ in range(2):
        images, units = int(rng.integers(5, 40)), int(rng.integers(10, 80))
        h = np.maximum(rng.standard_normal((images, units)), 0).astype(np.float32)
        dead = rng.random(units) < rng.uniform(0.1, 0.7)
        h[:, dead] = 0
        almost = np.flatnonzero(~dead)[:2]  # alive in one image only: not dead
        h[:, almost] = 0
        h[rng.integers(0, images), almost] = 1.5
        expected = float(np.mean(h.max(axis=0) == 0))
        got = _one_number(learner.call("dead_fraction", tensor(h)), "dead_fraction's result")
        if abs(got - expected) > 1e-6:
            zeros = float(np.mean(h == 0))
            hint = "A unit (a column) is dead when it is 0 for every image (every row) of the batch."
            if abs(got - zeros) < 1e-6:
                hint = "That is the fraction of zero outputs; the exercise asks for units that are zero for every image."
            elif abs(got - (1 - expected)) < 1e-6:
                hint = "That is the fraction of live units."
            raise CheckFailed(f"dead_fraction of a ({images}, {units}) batch with {int(dead.sum())} dead units",
                              expected=f"{expected:.6f}", got=f"{got:.6f}", hint=hint)


def _bad_params(learner) -> dict[str, np.ndarray]:
    return _saved_params(learner, "demo-bad", DEMO_TENSORS)


@chapter.check("dead_units", 2, "DEAD_FRACTION_BAD matches the dead units the grader counts in the saved demo-bad network", at_end=True)
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
        hint = "Apply dead_fraction to the first hidden layer, h, of demo-bad on the probe batch, without dropout."
        if abs(got - second) < 1e-6:
            hint = "That is the second hidden layer (h2); the exercise asks about the first, h."
        raise CheckFailed(f"the saved demo-bad network has {expected:.1%} dead units in its first hidden layer "
                          f"on the probe batch; DEAD_FRACTION_BAD is {got:.4g}",
                          expected=f"{expected:.4f}", got=f"{got:.4f}", hint=hint)


@chapter.check("dead_units", 2, "the demo-bad run's histograms show the problem the chapter explains; demo-good's do not", at_end=True)
def bad_run_histograms(learner):
    good, bad = (_load_learner_run(learner, name, "the demo runs", "dead_units") for name in DEMO_RUNS)
    spread = {}
    for name, accumulator in zip(DEMO_RUNS, (good, bad)):
        missing = [t for t in ("w_h", "activations/h2") if t not in tags(accumulator)]
        if missing:
            raise CheckFailed(f"run '{name}' has no histogram of {missing}", expected="w_h and activations/h2",
                              got=tags(accumulator), hint="Run the demo training cell unchanged.")
        spread[name] = bucket_stats(histograms(accumulator, "w_h")[1][0])["spread"]
    if spread["demo-bad"] < 10 * spread["demo-good"]:
        raise CheckFailed("at step 0 the w_h histograms of demo-bad and demo-good should differ by the 20x of their "
                          "initialisations", expected="demo-bad's spread at least 10x demo-good's",
                          got=f"spread {spread['demo-bad']:.3g} against {spread['demo-good']:.3g}")
    last = {}
    for name, accumulator in zip(DEMO_RUNS, (good, bad)):
        steps, buckets = histograms(accumulator, "activations/h2")
        last[name] = (steps[-1], share_at_zero(buckets[-1]))
    step, share = last["demo-bad"]
    if share < 0.95:
        raise CheckFailed(f"at step {step}, only {share:.1%} of demo-bad's second-layer outputs are at 0 (the "
                          "histogram's lowest bucket); the chapter's bad initialisation kills almost every unit of h2",
                          expected="at least 95% of activations/h2 at 0", got=f"{share:.1%}",
                          hint="Train demo-bad with weights of stddev 1.0 and learning rate 0.05, as the chapter does.")
    step, share = last["demo-good"]
    if share >= 0.95:
        raise CheckFailed(f"at step {step}, {share:.1%} of demo-good's second-layer outputs are at 0: it is dead too",
                          expected="below 95%", got=f"{share:.1%}", hint="demo-good starts its weights with stddev 0.05.")
    _, bad_losses = scalars(bad, "loss")
    if not bad_losses[0] > 100:
        raise CheckFailed("demo-bad's first loss should be huge (logits in the thousands)", expected="above 100",
                          got=f"{bad_losses[0]:.4g}")
