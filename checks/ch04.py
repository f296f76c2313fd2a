"""Checks for chapter 04: restoring the CNN and predicting drawn digits.

Every probe is drawn at random for each run (checkpoints, weights, images, drawings,
probabilities) and every expected value is computed here, with the grader's reference model
(checks/reference.py) or TensorFlow's own ops. The restored model's accuracy is measured here
on the 10,000 test images, from the checkpoint on disk, not taken from the notebook's word.
"""

from __future__ import annotations

import json
import tempfile

import numpy as np
import tensorflow as tf

from checks import reference
from checks import engine
from checks.engine import (
    Chapter,
    CheckFailed,
    Exercise,
    LearnerError,
    NotDone,
    expect_close,
    expect_equal,
    expect_shape,
    tensor,
    tensors,
)
from tfbook.drawing import rasterise
from tfbook.i18n import N_, _

# Every message a learner reads is translated (tfbook/i18n.py): N_() marks the constants here,
# shown translated by the engine; _("...{name}...").format(name=...) the messages made in a check.
chapter = Chapter(
    "04",
    {
        "restore_checkpoint": Exercise(
            "4.1",
            N_(
                "Start from new_params(), wrap the dict in a tf.train.Checkpoint the way chapter 03 "
                "saved it, read the prefix you are given, and ask the read's status to confirm that "
                "every variable was matched."
            ),
            N_("Restoring chapter 03's checkpoint"),
        ),
        "predict": Exercise(
            "4.2",
            N_("Run forward with the keep_prob that turns dropout off, then turn its logits into probabilities."),
            N_("Prediction with dropout off"),
        ),
        "prepare": Exercise(
            "4.3",
            N_(
                "MNIST's recipe: crop to the rows and columns that hold ink, resize so the longer "
                "side is 20 pixels keeping the proportions (tf.image.resize), then paste into a "
                "black 28x28 frame with the top-left corner at round(14 - centre of mass), row and "
                "column. To read (or call) a finished version: tfbook.drawing.mnist_preprocess."
            ),
            N_("MNIST-style preprocessing of a drawing"),
        ),
        "plot_probabilities": Exercise(
            "4.4",
            N_(
                "plt.subplots() gives a figure and its axes; draw one bar per digit at x = 0..9, "
                "label every digit on the x axis, fix the y axis to [0, 1], and return the figure "
                "(without plt.show())."
            ),
            N_("The ten probabilities as a bar chart"),
        ),
        "feature_maps": Exercise(
            "4.5",
            N_(
                "Make the image a batch of one (1, 28, 28, 1), convolve it with layer 1's filters "
                "with the network's stride and padding, then add layer 1's bias and apply ReLU. No "
                "pooling: the maps stay 28x28."
            ),
            N_("The first layer's 32 feature maps"),
        ),
        "bigger_canvas": Exercise(
            "4.6",
            N_(
                "Follow the size through the layers: SAME convolutions with stride 1 keep it, each "
                "2x2 pooling with stride 2 halves it (rounding up). Then multiply height, width and "
                "layer 2's 64 channels."
            ),
            N_("Predict the flattened size for a bigger canvas"),
        ),
    },
)

CENTRE = 14.0  # MNIST's centre of mass, in pixel-index coordinates (tfbook.drawing.MNIST_CENTRE)
BOX = (4, 24)  # the central 20x20 box, rows and columns [4, 24)


def _rng() -> np.random.Generator:
    return engine.rng()  # new cases on every run, replayed by the seed the report prints


def _params(rng) -> dict[str, np.ndarray]:
    return reference.random_params(int(rng.integers(1 << 30)), fc_init_stddev=0.02)


# --- 4.1 ---------------------------------------------------------------------------------


def _write_probe_checkpoint(learner, params: dict) -> str:
    directory = learner.runs_dir / "grader-probe-04"
    directory.mkdir(parents=True, exist_ok=True)
    prefix = tempfile.mkdtemp(prefix="ckpt-", dir=directory) + "/probe"
    tf.train.Checkpoint(**{k: tf.Variable(v) for k, v in params.items()}).write(prefix)
    return prefix


@chapter.check(
    "restore_checkpoint", 3, N_("restore_params reads every variable of a grader-written checkpoint, exactly")
)
def restore_values(learner):
    params = _params(_rng())
    prefix = _write_probe_checkpoint(learner, params)
    got = learner.call("restore_params", prefix)
    if not isinstance(got, dict):
        raise CheckFailed(
            _("restore_params must return the dict of restored variables"),
            expected="{'W_conv1': ..., ..., 'b_fc2': ...}",
            got=_("a tensor of shape {shape}").format(shape=np.shape(got)),
            hint=_("Return the params dict you restored into."),
        )
    missing = [name for name in params if name not in got]
    if missing:
        raise CheckFailed(
            _("restore_params's dict lacks variables"),
            expected=sorted(params),
            got=sorted(got),
            hint=_("Use new_params(): it makes all eight variables with chapter 03's names."),
        )
    for name, value in params.items():
        restored = got[name]
        if np.shape(restored) == value.shape and not np.any(restored):
            raise CheckFailed(
                _("{name} is still all zeros after restore_params: nothing was read into it").format(name=name),
                hint=_(
                    "Call .read(prefix) on a tf.train.Checkpoint built from the same "
                    "dict you return, with the prefix you are given."
                ),
            )
        expect_close(
            restored,
            value,
            _("variable {name} restored from the grader's checkpoint").format(name=name),
            rtol=0,
            atol=0,
            hint=_("Read the checkpoint at the prefix passed to restore_params, not a path of your own."),
        )


@chapter.check(
    "restore_checkpoint", 1, N_("restore_params refuses a checkpoint that lacks one of the model's variables")
)
def restore_refuses_incomplete(learner):
    rng = _rng()
    params = _params(rng)
    left_out = str(rng.choice(list(params)))
    del params[left_out]
    prefix = _write_probe_checkpoint(learner, params)
    try:
        learner.call("restore_params", prefix)
    except NotDone:
        raise
    except LearnerError:
        return  # it raised: the learner would have been told
    raise CheckFailed(
        _(
            "restore_params accepted a checkpoint without {name} and returned without an "
            "error, leaving {name} at its initial zeros"
        ).format(name=left_out),
        expected=_("an error"),
        got=_("no error"),
        hint=_(
            "Ask the read's status to confirm the match (.assert_existing_objects_matched() "
            "or .assert_consumed()): it raises when a variable was not found in the "
            "checkpoint (.expect_partial() hides exactly this)."
        ),
    )


@chapter.check(
    "restore_checkpoint",
    3,
    N_("the restored checkpoint reaches the preset's accuracy on the 10,000 test images, as the notebook reports"),
    at_end=True,
)
def restored_accuracy(learner):
    from tfbook.data import load_mnist
    from tfbook.manifest import preset

    metrics_file = learner.runs_dir / "ch04" / "metrics.json"
    if not (learner.runs_dir / "ch03" / "checkpoint").exists():
        raise NotDone(
            _("there was no chapter-03 checkpoint to restore, so nothing after the restore could run"),
            hint=_(
                "Make chapter 03's checkpoint first: `python -m checks 03` keeps the "
                "one your chapter 03 trains. Then grade chapter 04 again."
            ),
        )
    if not metrics_file.exists():
        _unless_predict_explains(learner, _("the notebook wrote no runs/ch04/metrics.json"))
        raise NotDone(
            _("the notebook has not written runs/ch04/metrics.json"),
            hint=_(
                "Finish exercises 4.1 and 4.2, then run the section that measures the restored model on the test set."
            ),
        )
    try:
        reported = float(json.loads(metrics_file.read_text())["test_accuracy"])
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(
            _("runs/ch04/metrics.json has no readable test_accuracy"),
            hint=_("Run the evaluation section unchanged: it writes test_accuracy."),
        ) from None
    try:
        params = reference.load_params(learner.runs_dir / "ch03" / "checkpoint")
    except reference.CheckpointProblem as e:
        raise CheckFailed(str(e)) from None
    images, labels = load_mnist().flat("test")
    accuracy = reference.evaluate(params, images, labels)
    learner.figures["restored_test_accuracy"] = accuracy  # shown under the grade table
    threshold = preset("03", learner.preset)["min_test_accuracy"]
    if accuracy < threshold:
        raise CheckFailed(
            _(
                "chapter 03's checkpoint reaches {accuracy:.2%} on the test images, below the "
                "'{preset}' preset's {threshold:.1%}"
            ).format(accuracy=accuracy, preset=learner.preset, threshold=threshold),
            expected=f">= {threshold:.2%}",
            got=f"{accuracy:.2%}",
            hint=_("Retrain: run chapter 03 to the end with this preset, then this chapter again."),
        )
    if abs(reported - accuracy) > 0.0005:
        _unless_predict_explains(
            learner,
            _("it reported {reported:.2%}, while the checkpoint reaches {accuracy:.2%}").format(
                reported=reported, accuracy=accuracy
            ),
        )
        raise CheckFailed(
            _("the accuracy the notebook reports is not the checkpoint's"),
            expected=_("{accuracy:.2%} (measured by the grader)").format(accuracy=accuracy),
            got=f"{reported:.2%}",
            hint=_(
                "A restore that misses variables or a prediction with dropout on changes "
                "the accuracy: check restore_params and predict_probabilities."
            ),
        )


def _unless_predict_explains(learner, what: str) -> None:
    """The notebook measures the restored model with predict_probabilities (4.2): when that is
    written but fails its own checks (dropout left on, an error) while restore_params' own
    checks pass, the wrong number is 4.2's mistake, charged there once. Blocked: points kept."""
    if _fails(learner, "predict") and not _fails(learner, "restore_checkpoint", count_not_done=True):
        raise engine.Blocked(
            _(
                "could not be checked because exercise 4.2 (predict) fails its own checks, and the "
                "notebook measures the restored model with it: {what}; that exercise loses its points, "
                "this check keeps its own"
            ).format(what=what)
        )


def _fails(learner, exercise: str, count_not_done: bool = False) -> bool:
    """Does one of the exercise's own (not at-end) checks fail? A stub counts only when asked:
    a predict still to write explains nothing (the notebook could not have measured anything)."""
    status = chapter.failing(learner, [exercise]).get(exercise)
    return status == "failed" or (count_not_done and status == "not done")


# --- 4.2 ---------------------------------------------------------------------------------


@chapter.check("predict", 1, N_("predict_probabilities gives identical outputs when called twice"))
def predict_deterministic(learner):
    rng = _rng()
    n = int(rng.integers(3, 9))
    x = rng.random((n, 784), dtype=np.float32)
    params = _params(rng)
    first = learner.call("predict_probabilities", tensors(params), tensor(x))
    second = learner.call("predict_probabilities", tensors(params), tensor(x))
    expect_shape(
        first, (n, 10), _("predict_probabilities for {n} images").format(n=n), hint=_("One row of 10 per image.")
    )
    if not np.array_equal(first, second):
        raise CheckFailed(
            _("two calls of predict_probabilities on the same images gave different answers"),
            hint=_("Dropout is still on: predict with keep_prob=1.0."),
        )


@chapter.check(
    "predict", 2, N_("predict_probabilities equals the network's softmax with dropout off, for grader-chosen weights")
)
def predict_values(learner):
    rng = _rng()
    n = int(rng.integers(3, 9))
    x = rng.random((n, 28, 28), dtype=np.float32)
    params = _params(rng)
    got = learner.call("predict_probabilities", tensors(params), tensor(x))
    expect_shape(
        got,
        (n, 10),
        _("predict_probabilities for {n} images of (28, 28)").format(n=n),
        hint=_("forward reshapes the images itself; return one row of 10 per image."),
    )
    sums = np.sum(got, axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise CheckFailed(
            _("the rows of predict_probabilities do not add up to 1: they are not probabilities"),
            expected=_("rows summing to 1"),
            got=_("row sums {sums}").format(sums=np.round(sums[:3], 3).tolist()),
            hint=_("Apply tf.nn.softmax to forward's logits."),
        )
    expected = reference.forward(x, params, keep_prob=1.0)["probabilities"].numpy()
    expect_close(
        got,
        expected,
        "predict_probabilities",
        rtol=1e-3,
        atol=1e-4,
        hint=_(
            "With keep_prob 1.0 every unit of the fully connected layer counts; "
            "softmax of forward(images, params, 1.0)['logits']."
        ),
    )


# --- 4.3 ---------------------------------------------------------------------------------


def _drawing(rng, kind: str) -> np.ndarray:
    """A random scribble of 1-3 strokes, rendered like the canvas does; kind sets size and place."""
    size = {"small": rng.uniform(50, 90), "large": rng.uniform(200, 250), "off-centre": rng.uniform(90, 140)}[kind]
    if kind == "large":
        x0, y0 = rng.uniform(15, 270 - size, 2)
    else:  # somewhere near a corner
        corner = rng.integers(0, 2, 2)
        x0, y0 = [float(rng.uniform(10, 40)) if c == 0 else float(rng.uniform(230 - size, 260 - size)) for c in corner]
    strokes = []
    for _stroke in range(int(rng.integers(1, 4))):
        points = rng.uniform(0, 1, (int(rng.integers(2, 6)), 2)) * size + (x0, y0)
        strokes.append(points.round(1).tolist())
    return rasterise(strokes)


def _prepare(learner, img: np.ndarray, what: str) -> np.ndarray:
    got = learner.call("prepare", tensor(img))
    expect_shape(got, (28, 28), what, hint=_("Return one (28, 28) image, not a row of 784 or a batch."))
    if not np.all(np.isfinite(got)) or got.min() < -1e-6 or got.max() > 1 + 1e-6:
        raise CheckFailed(
            _("{what} has values outside [0, 1]").format(what=what),
            expected=_("values in [0, 1]"),
            got=_("from {low:.3g} to {high:.3g}").format(low=float(np.min(got)), high=float(np.max(got))),
            hint=_("Keep MNIST's range: ink 1.0 (white) on 0.0 (black)."),
        )
    if got.sum() <= 0:
        raise CheckFailed(
            _("{what} is empty: the ink disappeared").format(what=what),
            hint=_("Crop, scale and centre the ink; keep it."),
        )
    return np.asarray(got, dtype=np.float64)


def _centre_of_mass(img):
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


@chapter.check("prepare", 1, N_("prepare returns a (28, 28) image in [0, 1], white ink on black"))
def prepare_format(learner):
    rng = _rng()
    img = _drawing(rng, "off-centre")
    got = _prepare(learner, img, _("prepare of a grader-drawn digit"))
    if np.mean(got > 0.5) > 0.5:
        raise CheckFailed(
            _("prepare's result is mostly white: the colours are inverted"),
            hint=_("MNIST digits are white ink (1.0) on black (0.0), like the canvas's pixels()."),
        )


# the kinds of drawing (_drawing, FIXED_DRAWINGS) as a learner reads them
KINDS = {
    "off-centre": N_("off-centre"),
    "small": N_("small"),
    "large": N_("large"),
    "wide": N_("wide"),
    "tall": N_("tall"),
}


def _prepare_of(kind: str) -> str:
    return _("prepare of a {kind} drawing").format(kind=_(KINDS[kind]))


@chapter.check(
    "prepare", 2, N_("prepare moves the centre of mass of off-centre, small and large drawings to the middle")
)
def prepare_centred(learner):
    rng = _rng()
    for kind in ("off-centre", "small", "large"):
        img = _drawing(rng, kind)
        got = _prepare(learner, img, _prepare_of(kind))
        row, col = _centre_of_mass(got)
        if max(abs(row - CENTRE), abs(col - CENTRE)) > 1.0:
            before = _centre_of_mass(img)
            raise CheckFailed(
                _("{what} leaves its centre of mass off the middle").format(what=_prepare_of(kind)),
                expected=_("(row, col) within 1 pixel of ({centre:g}, {centre:g})").format(centre=CENTRE),
                got=_("({row:.1f}, {col:.1f}); the drawing had ({before_row:.1f}, {before_col:.1f})").format(
                    row=row, col=col, before_row=before[0], before_col=before[1]
                ),
                hint=_(
                    "MNIST centres digits by their centre of mass: shift the scaled digit so "
                    "that it lands on (14, 14), e.g. with mnist_preprocess."
                ),
            )


# Fixed drawings whose longer side is the width, then the height: scaling by one side only
# (or stretching both to 20) fails one of them on every run, not only when the scribbles say so.
FIXED_DRAWINGS = {
    "wide": [[[30, 120], [240, 110], [235, 150]], [[60, 150], [200, 160]]],  # a long, flat stroke
    "tall": [[[150, 20], [140, 250]], [[140, 40], [120, 70]]],  # a "1"
}


@chapter.check("prepare", 2, N_("prepare scales drawings so the ink fills, and stays inside, the central 20x20 box"))
def prepare_in_box(learner):
    rng = _rng()
    drawings = [(kind, rasterise(strokes)) for kind, strokes in FIXED_DRAWINGS.items()]
    drawings += [(kind, _drawing(rng, kind)) for kind in ("small", "large", "off-centre")]
    for kind, img in drawings:
        got = _prepare(learner, img, _prepare_of(kind))
        outside = got.copy()
        outside[BOX[0] : BOX[1], BOX[0] : BOX[1]] = 0
        if outside.max() > 0.05:
            raise CheckFailed(
                _("{what} leaves ink outside the central 20x20 box").format(what=_prepare_of(kind)),
                expected=_("no ink outside rows and columns 4-23"),
                got=_("{count} pixels outside").format(count=int(np.sum(outside > 0.05))),
                hint=_(
                    "Scale the cropped ink so that its longer side is 20 pixels (and keep it "
                    "within rows and columns 4 to 23 when centring)."
                ),
            )
        ink_rows = np.flatnonzero(got.max(axis=1) > 0.1)
        ink_cols = np.flatnonzero(got.max(axis=0) > 0.1)
        extent = max(ink_rows[-1] - ink_rows[0], ink_cols[-1] - ink_cols[0]) + 1
        if extent < 15:
            raise CheckFailed(
                _("{what} leaves the digit too small").format(what=_prepare_of(kind)),
                expected=_("a longer side of about 20 pixels"),
                got=_("{count} pixels").format(count=extent),
                hint=_("Crop to the ink first, then scale its longer side to 20 pixels."),
            )
        if kind in FIXED_DRAWINGS:  # the proportions must survive scaling
            height, width = ink_rows[-1] - ink_rows[0] + 1, ink_cols[-1] - ink_cols[0] + 1
            rows, cols = np.flatnonzero(img.max(axis=1) > 0.1), np.flatnonzero(img.max(axis=0) > 0.1)
            drawn_height, drawn_width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
            if abs(np.log((height / width) / (drawn_height / drawn_width))) > np.log(1.6):
                raise CheckFailed(
                    _("{what} changes its proportions").format(what=_prepare_of(kind)),
                    expected=_("about {height} by {width}, scaled (rows by columns of ink)").format(
                        height=drawn_height, width=drawn_width
                    ),
                    got=_("{height} rows by {width} columns of ink").format(height=height, width=width),
                    hint=_("Scale both sides by the same factor, the one that makes the longer side 20 pixels."),
                )


# --- 4.4 ---------------------------------------------------------------------------------

FIGURE_NUMBERS = ("heights", "centres", "ylim", "xticks", "xticklabels")


def _figure_numbers(learner, probs: np.ndarray) -> dict:
    """What the lesson's figure_numbers cell reads from plot_probabilities's figure."""
    got = learner.call("figure_numbers", tensor(probs))
    if not isinstance(got, dict) or not set(FIGURE_NUMBERS) <= set(got):
        raise CheckFailed(
            _("figure_numbers did not return the numbers the grader reads from your figure"),
            expected=_("a dict with {keys}").format(keys=", ".join(FIGURE_NUMBERS)),
            got=sorted(got) if isinstance(got, dict) else _("a {type}").format(type=type(got).__name__),
            hint=_(
                "figure_numbers is the lesson's cell under plot_probabilities: run it as the "
                "book wrote it, after your plot_probabilities cell."
            ),
        )
    return got


@chapter.check("plot_probabilities", 2, N_("the figure has one bar per digit at x = 0..9, as tall as its probability"))
def plot_bars(learner):
    rng = _rng()
    logits = rng.standard_normal(10) * 2.5
    probs = (np.exp(logits) / np.exp(logits).sum()).astype(np.float32)
    got = _figure_numbers(learner, probs)
    heights, centres = got["heights"], got["centres"]
    if heights.shape != (10,):
        raise CheckFailed(
            _("the figure's first axes does not hold 10 bars"),
            expected=_("10 bars"),
            got=_("{count} bars").format(count=heights.size),
            hint=_("One ax.bar call with the 10 probabilities."),
        )
    order = np.argsort(centres)
    expect_close(
        centres[order],
        np.arange(10),
        _("the bars' x positions"),
        atol=1e-6,
        hint=_("Place the bars at x = 0, 1, ..., 9: ax.bar(range(10), probs)."),
    )
    hint = _("Bar d must be probs[d], unchanged and unsorted.")
    if np.allclose(np.sort(heights[order]), np.sort(probs), atol=1e-5):
        hint = _("The heights are right but in another order: do not sort the probabilities.")
    expect_close(heights[order], probs, _("the bars' heights"), atol=1e-5, hint=hint)


@chapter.check("plot_probabilities", 1, N_("the y axis runs from 0 to 1 and the x ticks are the digits 0 to 9"))
def plot_axes(learner):
    probs = np.full(10, 0.02, np.float32)
    probs[int(_rng().integers(10))] = 0.82
    got = _figure_numbers(learner, probs)
    expect_close(
        got["ylim"],
        np.array([0.0, 1.0]),
        _("the y axis limits"),
        atol=1e-6,
        hint=_(
            "Probabilities live in [0, 1]: fix the axis to that range (look up the Axes "
            "method that sets y limits), so that charts of different drawings compare."
        ),
    )
    ticks = np.asarray(got["xticks"], dtype=np.float64)
    labels = str(got["xticklabels"]).split()
    if ticks.shape != (10,) or not np.allclose(ticks, np.arange(10)) or labels != [str(d) for d in range(10)]:
        raise CheckFailed(
            _("the x ticks are not the ten digits"),
            expected=_("ticks 0 1 2 ... 9"),
            got=_("ticks {ticks} labelled {labels!r}").format(
                ticks=" ".join(f"{t:g}" for t in ticks), labels=" ".join(labels)
            ),
            hint=_(
                "Put one tick under every bar, at the ten digit positions (the "
                "Axes method that sets x tick positions labels them too)."
            ),
        )


# --- 4.5 ---------------------------------------------------------------------------------


def _maps(learner):
    rng = _rng()
    params = _params(rng)
    params["b_conv1"] = (rng.standard_normal(32) * 0.3).astype(np.float32)  # a visible bias
    image = rng.random((28, 28), dtype=np.float32)
    got = learner.call("first_layer_maps", tensors(params), tensor(image))
    if not isinstance(got, dict) or not {"conv", "relu"} <= set(got):
        raise CheckFailed(
            _("first_layer_maps must return a dict with 'conv' and 'relu'"),
            expected="{'conv': ..., 'relu': ...}",
            got=sorted(got) if isinstance(got, dict) else _("a tensor of shape {shape}").format(shape=np.shape(got)),
        )
    return params, image, got


@chapter.check("feature_maps", 1, N_("'conv' and 'relu' have shape (1, 28, 28, 32)"))
def maps_shape(learner):
    got = _maps(learner)[2]
    for name in ("conv", "relu"):
        hint = _("One image, 28x28, 32 maps: reshape the image to (1, 28, 28, 1) and keep padding='SAME'.")
        if np.shape(got[name])[1:3] == (14, 14):
            hint = _("These maps were taken after pooling: use layer 1's output before max_pool_2x2 (28x28).")
        elif np.shape(got[name])[1:3] == (24, 24):
            hint = _("padding='SAME' keeps the maps 28x28; 'VALID' shrinks them to 24x24.")
        expect_shape(got[name], (1, 28, 28, 32), f"first_layer_maps(...)['{name}']", hint=hint)


@chapter.check(
    "feature_maps", 2, N_("the maps equal the grader's recomputation, before the bias and after bias + ReLU")
)
def maps_values(learner):
    params, image, got = _maps(learner)
    expected = reference.forward(image.reshape(1, 784), params)
    conv, relu = expected["conv1"].numpy(), expected["h_conv1"].numpy()
    for name in ("conv", "relu"):
        expect_shape(got[name], conv.shape, f"first_layer_maps(...)['{name}']")
    hint = _("'conv' is layer 1's convolution alone (stride 1, the padding that keeps 28x28).")
    if np.allclose(got["conv"], conv + params["b_conv1"], atol=1e-4):
        hint = _("'conv' should be the convolution before the bias is added.")
    elif np.allclose(got["conv"], relu, atol=1e-4):
        hint = _("'conv' should be the raw convolution, before bias and ReLU.")
    expect_close(got["conv"], conv, "first_layer_maps(...)['conv']", rtol=1e-3, atol=1e-4, hint=hint)
    hint = _("'relu' is the convolution plus layer 1's bias, through ReLU.")
    if np.allclose(got["relu"], np.maximum(conv, 0), atol=1e-4):
        hint = _("Add b_conv1 before the ReLU.")
    expect_close(got["relu"], relu, "first_layer_maps(...)['relu']", rtol=1e-3, atol=1e-4, hint=hint)


# --- 4.6 ---------------------------------------------------------------------------------


@chapter.check("bigger_canvas", 1, N_("FLAT_SIZE_56 is the flattened size after layer 2 for a 56x56 drawing"))
def bigger_canvas(learner):
    got = learner.value("FLAT_SIZE_56")
    x = tf.zeros([1, 56, 56, 1])
    for channels_in, channels_out in ((1, 32), (32, 64)):  # TensorFlow's own shapes, not a formula
        x = tf.nn.conv2d(x, tf.zeros([5, 5, channels_in, channels_out]), strides=1, padding="SAME")
        x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
    expected = int(np.prod(x.shape[1:]))
    value = got.item() if isinstance(got, np.ndarray) and got.size == 1 else None  # for the hints
    hint = _("Follow 56 through the two poolings (each halves it), then multiply height, width and layer 2's channels.")
    if value == 7 * 7 * 64:
        hint = _("That is the size for 28x28 drawings: the layers keep working on 56x56, but their maps grow.")
    elif value == 2 * 7 * 7 * 64:
        hint = _("Doubling the side doubles both the height and the width of every map.")
    elif value == 14 * 14 * 32:
        hint = _("Layer 2 has 64 filters, so its block has 64 channels.")
    expect_equal(got, expected, "FLAT_SIZE_56", hint=hint)
