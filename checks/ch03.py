"""Checks for chapter 03: training a CNN on MNIST.

Probes mix fixed cases, chosen to separate the right answer from the usual wrong ones (an odd
size under SAME and VALID, a stride that does not divide, a confident row for the loss), with
cases drawn at random for each run. Every function the chapter calls inside its tf.function
training step is also probed inside a tf.function, and functions that behave differently in
training and evaluation (dropout, forward with keep_prob) are probed in both. Every expected
value is recomputed here with TensorFlow's own ops or the grader's reference model.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import tensorflow as tf

from checks import reference
from checks import engine
from checks.engine import (
    Chapter,
    CheckFailed,
    Exercise,
    NotDone,
    expect_close,
    expect_equal,
    expect_shape,
    tensor,
    tensors,
    variables,
)
from tfbook.i18n import N_, _, ngettext

# Every message a learner reads is translated (tfbook/i18n.py): N_() marks the constants here,
# shown translated by the engine; _("...{name}...").format(name=...) the messages made in a check.
chapter = Chapter(
    "03",
    {
        "reshape_input": Exercise(
            "3.1",
            N_(
                "tf.reshape can take -1 for one dimension and work it out itself: use it for the "
                "batch size. The last dimension is the number of colour channels (one, grey)."
            ),
            N_("Rows of 784 pixels become images"),
        ),
        "output_size": Exercise(
            "3.2",
            N_(
                "Draw a row of n cells and slide the window along it. SAME pads the edges so "
                "that every stride-th start counts, wherever the window ends; VALID counts only the "
                "starts whose whole window fits inside. A partial last step still counts, so round "
                "up (the math module can), and return an int."
            ),
            N_("Output sizes under SAME/VALID and strides"),
        ),
        "conv_layer": Exercise(
            "3.3",
            N_(
                "conv_layer is three steps: tf.nn.conv2d with stride 1 and the padding that keeps the "
                "size, then the bias, then tf.nn.relu. max_pool_2x2 is one call of tf.nn.max_pool2d: "
                "which window size and stride halve the height and width?"
            ),
            N_("A convolutional layer and 2x2 max pooling"),
        ),
        "flatten": Exercise(
            "3.4",
            N_(
                "Follow the shape table: what are height, width and channels after the second "
                "pooling? flatten is a reshape that keeps the batch dimension first."
            ),
            N_("Layer 2 and the flatten size"),
        ),
        "dense_dropout": Exercise(
            "3.5",
            N_(
                "fully_connected: a matrix product, the bias, then ReLU. dropout: TF2's "
                "tf.nn.dropout asks for rate, the fraction to drop, while keep_prob is the fraction "
                "to keep; when every unit is kept nothing changes. Which keep_prob did the post use for "
                "training, and which for evaluation?"
            ),
            N_("The fully connected layer and dropout"),
        ),
        "forward": Exercise(
            "3.6",
            N_(
                "Call your own functions in the post's order (reshape, conv, pool, conv, pool, "
                "flatten, fully connected, dropout, output layer) and return every tensor under "
                "the names listed in the exercise. The output layer is a matrix product plus a bias, "
                "with no softmax."
            ),
            N_("The whole forward pass"),
        ),
        "loss": Exercise(
            "3.7",
            N_(
                "tf.nn.softmax_cross_entropy_with_logits gives one loss per row; the exercise asks "
                "for their mean. Give it the raw logits: the op applies softmax itself."
            ),
            N_("The loss on logits"),
        ),
        "accuracy": Exercise(
            "3.8",
            N_(
                "The predicted class is the position of the largest logit in a row (tf.argmax), "
                "and the true class is where the label's 1 is. The mean of right (1) and wrong (0) "
                "is the accuracy."
            ),
            N_("Accuracy"),
        ),
        "checkpoint": Exercise(
            "3.9",
            N_(
                "tf.train.Checkpoint takes the variables as keyword arguments and names each one "
                "after its keyword; its write method saves them to a prefix and returns the path. "
                "Then run the training cells."
            ),
            N_("Saving the trained variables"),
        ),
        "parameter_count": Exercise(
            "3.10",
            N_(
                "A convolutional layer has one window x window x input-channels filter per output "
                "channel, plus one bias per output channel; a fully connected layer has inputs x "
                "outputs weights plus one bias per output. Layer 2 sees layer 1's 32 maps. For the "
                "total, add the four layers (two convolutional, two fully connected)."
            ),
            N_("Predict the number of parameters"),
        ),
    },
)

# The number of parameters (weights and biases) of each layer, from the shapes of the variables.
LAYER_PARAMS = {
    layer: int(np.prod(reference.PARAM_SHAPES[f"W_{layer}"]) + np.prod(reference.PARAM_SHAPES[f"b_{layer}"]))
    for layer in ("conv1", "conv2", "fc1", "fc2")
}

LAYER_SHAPES = {  # per image; the batch dimension is added in front
    "x_image": (28, 28, 1),
    "h_conv1": (28, 28, 32),
    "h_pool1": (14, 14, 32),
    "h_conv2": (14, 14, 64),
    "h_pool2": (7, 7, 64),
    "h_flat": (3136,),
    "h_fc1": (1024,),
    "h_drop": (1024,),
    "logits": (10,),
}


def _rng() -> np.random.Generator:
    return engine.rng()  # new cases on every run, replayed by the seed the report prints


def _images(rng, n: int) -> np.ndarray:
    return rng.random((n, 784), dtype=np.float32)


def _one_hot(rng, n: int) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]


def _item(got):
    """The single number a learner's answer holds, or None (a str, a dict, several numbers): for hints."""
    return got.item() if isinstance(got, np.ndarray) and got.size == 1 else None


def _expect_scalar(got, what: str, hint: str) -> None:
    """One number (shape ()): a str or a dict has no shape of its own, so say what came instead."""
    if not isinstance(got, np.ndarray):
        raise CheckFailed(
            _("{what} is a {type}, not a tensor of numbers").format(what=what, type=type(got).__name__),
            expected=_("one number (a tensor of shape ())"),
            got=f"{got!r:.60}",
            hint=hint,
        )
    expect_shape(got, (), what, hint=hint)


# --- 3.1 ---------------------------------------------------------------------------------


@chapter.check("reshape_input", 2, N_("rows of 784 become (batch, 28, 28, 1) images, pixels in order"))
def reshape_input(learner):
    rng = _rng()
    for n, call in (
        (int(rng.integers(2, 10)), learner.call),
        (1, learner.call),
        (int(rng.integers(2, 10)), learner.call_traced),
    ):
        x = _images(rng, n)
        got = call("reshape_input", tensor(x))
        expect_shape(
            got,
            (n, 28, 28, 1),
            ngettext("reshape_input of a batch of {n} row", "reshape_input of a batch of {n} rows", n).format(n=n),
            hint=_("The batch size must stay first: use -1 for it, then 28, 28, 1."),
        )
        expect_close(
            got,
            x.reshape(n, 28, 28, 1),
            _("reshape_input's pixels"),
            hint=_("Only reshape: the pixels keep their row-major order (no transpose)."),
        )


# --- 3.2 ---------------------------------------------------------------------------------


def _tf_output_size(op: str, n: int, window: int, stride: int, padding: str) -> int:
    x = tf.zeros([1, n, n, 1])
    if op == "conv":
        y = tf.nn.conv2d(x, tf.zeros([window, window, 1, 1]), strides=stride, padding=padding)
    else:
        y = tf.nn.max_pool2d(x, ksize=window, strides=stride, padding=padding)
    return int(y.shape[1])


# Fixed cases first: each one separates the right answer from a usual wrong one.
OUTPUT_SIZE_CASES = [
    (28, 5, 1, "SAME"),
    (28, 5, 1, "VALID"),  # the chapter's own layer
    (7, 2, 2, "SAME"),  # an odd size: rounding down gives 3, not 4
    (10, 3, 4, "SAME"),  # a stride that does not divide: 2.5 rounds up to 3
    (13, 5, 2, "SAME"),  # SAME does not depend on the window (7, not 5)
    (29, 5, 3, "VALID"),  # 25 positions / 3 rounds up to 9; forgetting the +1 gives 8
    (5, 5, 1, "VALID"),  # the window fits exactly once (not 0)
    (6, 1, 5, "VALID"),  # 6 / 5 rounds up to 2
    (7, 2, 2, "VALID"),  # an odd size under VALID: 3
]


def _output_size_hint(n, window, stride, padding, got) -> str:
    import math

    if padding == "SAME" and got == n // stride:
        return _("You rounded down: a last, partial window still produces an output, so round up.")
    if padding == "SAME" and got == math.ceil((n - window + 1) / stride):
        return _("SAME pads the border so that the window never matters, only the stride.")
    if padding == "VALID" and got == (n - window + 1) // stride and n - window + 1 >= stride:
        return _("You rounded down: the window positions divided by the stride must be rounded up.")
    if padding == "VALID" and got in ((n - window) // stride, math.ceil((n - window) / stride)):
        return _(
            "Count the positions: a window of {window} fits in {n} pixels at "
            "{n} - {window} + 1 = {places} places (stride 1)."
        ).format(window=window, n=n, places=n - window + 1)
    return _(
        "SAME pads so that only the stride shrinks the output; VALID never pads, so the "
        "window must fit. Count the window positions, then divide by the stride and round up."
    )


def _output_size_cases(learner, op: str):
    rng = _rng()
    cases = list(OUTPUT_SIZE_CASES)
    for _draw in range(6):
        window = int(rng.choice([1, 2, 3, 5, 7]))
        cases.append(
            (int(rng.integers(window, 40)), window, int(rng.integers(1, 4)), str(rng.choice(["SAME", "VALID"])))
        )
    for n, window, stride, padding in cases:
        expected = _tf_output_size(op, n, window, stride, padding)
        got = learner.call("output_size", n, window, stride, padding)
        expect_equal(
            got,
            expected,
            _(
                "output_size(n={n}, window={window}, stride={stride}, padding='{padding}') "
                "(TensorFlow's {op} gives {expected})"
            ).format(
                n=n,
                window=window,
                stride=stride,
                padding=padding,
                expected=expected,
                op="tf.nn.conv2d" if op == "conv" else "tf.nn.max_pool2d",
            ),
            hint=_output_size_hint(n, window, stride, padding, _item(got)),
        )


@chapter.check("output_size", 2, N_("output sizes match tf.nn.conv2d for grader-chosen cases"))
def output_size_conv(learner):
    _output_size_cases(learner, "conv")


@chapter.check("output_size", 1, N_("output sizes match tf.nn.max_pool2d for grader-chosen cases"))
def output_size_pool(learner):
    _output_size_cases(learner, "pool")


# --- 3.3 ---------------------------------------------------------------------------------


def _conv_case(learner, n, size, channels_in, channels_out, label, traced=False):
    rng = _rng()
    x = rng.random((n, size, size, channels_in), dtype=np.float32)
    w = (rng.standard_normal((5, 5, channels_in, channels_out)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(channels_out) * 0.1).astype(np.float32)
    expected = tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="SAME") + b).numpy()
    call = learner.call_traced if traced else learner.call
    got = call("conv_layer", tensor(x), tensor(w), tensor(b))
    expect_shape(
        got,
        expected.shape,
        _("conv_layer on {label}").format(label=label),
        hint=_(
            "padding='SAME' with stride 1 keeps the height and width; 'VALID' would "
            "shrink {size}x{size} to {smaller}x{smaller}."
        ).format(size=size, smaller=size - 4),
    )
    if np.any(got < -1e-6):
        raise CheckFailed(_("conv_layer returns negative numbers"), hint=_("Apply tf.nn.relu after adding the bias."))
    expect_close(
        got,
        expected,
        _("conv_layer on {label}").format(label=label),
        hint=_("Convolve, add the bias, then apply ReLU, in that order."),
    )


@chapter.check("conv_layer", 2, N_("conv_layer on layer 1's input: (N, 28, 28, 1) -> (N, 28, 28, 32), values right"))
def conv_layer_1(learner):
    _conv_case(learner, int(_rng().integers(2, 6)), 28, 1, 32, _("a layer-1 batch (N, 28, 28, 1)"))


@chapter.check("conv_layer", 1, N_("conv_layer on layer 2's input: (N, 14, 14, 32) -> (N, 14, 14, 64)"))
def conv_layer_2(learner):
    _conv_case(learner, int(_rng().integers(2, 4)), 14, 32, 64, _("a layer-2 batch (N, 14, 14, 32)"))


@chapter.check("conv_layer", 1, N_("conv_layer and max_pool_2x2 also work inside tf.function, as in the training step"))
def conv_layer_traced(learner):
    _conv_case(learner, int(_rng().integers(2, 4)), 28, 1, 32, _("a layer-1 batch inside tf.function"), traced=True)
    x = _rng().standard_normal((2, 14, 14, 8)).astype(np.float32)
    got = learner.call_traced("max_pool_2x2", tensor(x))
    expect_close(
        got,
        tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME").numpy(),
        _("max_pool_2x2 of a (2, 14, 14, 8) tensor inside tf.function"),
        hint=_("Take the maximum of each 2x2 window: tf.nn.max_pool2d."),
    )


@chapter.check("conv_layer", 2, N_("max_pool_2x2 halves height and width (SAME, stride 2), values right"))
def max_pool(learner):
    rng = _rng()
    for size in (28, 7):  # 7 is odd: SAME gives 4, VALID would give 3
        x = rng.standard_normal((2, size, size, 8)).astype(np.float32)
        expected = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME").numpy()
        got = learner.call("max_pool_2x2", tensor(x))
        what = _("max_pool_2x2 of a (2, {size}, {size}, 8) tensor").format(size=size)
        expect_shape(
            got, expected.shape, what, hint=_("ksize=2, strides=2, padding='SAME': an odd size rounds up (7 -> 4).")
        )
        expect_close(got, expected, what, hint=_("Take the maximum of each 2x2 window: tf.nn.max_pool2d."))


# --- 3.4 ---------------------------------------------------------------------------------


@chapter.check("flatten", 1, N_("FLATTEN_SIZE is the number of values per image after layer 2"))
def flatten_size(learner):
    got = learner.value("FLATTEN_SIZE")
    hint = _("28 -> 14 -> 7 after two poolings, times layer 2's 64 filters.")
    if _item(got) == 7 * 7 * 32:
        hint = _("7 * 7 * 32 counts layer 1's filters; the tensor being flattened comes from layer 2 (64 filters).")
    expect_equal(got, 7 * 7 * 64, "FLATTEN_SIZE", hint=hint)


# where a probe ran: eagerly, or inside tf.function as the training step does ("" or INSIDE)
INSIDE = N_(" inside tf.function")


@chapter.check("flatten", 1, N_("flatten turns (N, 7, 7, 64) into (N, 3136), values in order"))
def flatten_values(learner):
    rng = _rng()
    n = int(rng.integers(2, 8))
    h = rng.standard_normal((n, 7, 7, 64)).astype(np.float32)
    for call, where in ((learner.call, ""), (learner.call_traced, _(INSIDE))):
        got = call("flatten", tensor(h))
        expect_shape(
            got,
            (n, 3136),
            _("flatten of a ({n}, 7, 7, 64) tensor{where}").format(n=n, where=where),
            hint=_("Reshape to (batch, FLATTEN_SIZE); -1 can stand for the batch size."),
        )
        expect_close(
            got,
            h.reshape(n, 3136),
            _("flatten's values{where}").format(where=where),
            hint=_("Only reshape; do not transpose."),
        )


# --- 3.5 ---------------------------------------------------------------------------------


@chapter.check("dense_dropout", 1, N_("fully_connected computes relu(h @ W + b)"))
def fully_connected(learner):
    rng = _rng()
    n = int(rng.integers(2, 6))
    h = rng.standard_normal((n, 64)).astype(np.float32)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    for call, where in ((learner.call, ""), (learner.call_traced, _(INSIDE))):
        got = call("fully_connected", tensor(h), tensor(w), tensor(b))
        expect_close(
            got,
            np.maximum(h @ w + b, 0),
            _("fully_connected{where}").format(where=where),
            hint=_("Matrix product with W, plus b, then ReLU."),
        )


@chapter.check(
    "dense_dropout",
    2,
    N_(
        "dropout with keep_prob < 1 (training, inside tf.function) zeroes 1 - keep_prob of "
        "the units and scales the rest by 1/keep_prob"
    ),
)
def dropout_training(learner):
    for keep_prob in (0.6, 0.8):  # neither is the post's value: a message must not give 3.5's answer
        h = np.ones((200, 1000), np.float32)
        got = learner.call_traced("dropout", tensor(h), keep_prob)  # the training step is traced
        expect_shape(got, h.shape, f"dropout(h, keep_prob={keep_prob})")
        dropped = float(np.mean(got == 0))
        if abs(dropped - (1 - keep_prob)) > 0.01:
            raise CheckFailed(
                _("dropout(h, keep_prob={keep_prob}) zeroed the wrong fraction of 200,000 units").format(
                    keep_prob=keep_prob
                ),
                expected=_("about {share:.0%} zeroed").format(share=1 - keep_prob),
                got=_("{share:.1%} zeroed").format(share=dropped),
                hint=_("TF2's tf.nn.dropout takes rate, the fraction to DROP: rate = 1 - keep_prob."),
            )
        kept = got[got != 0]
        if not np.allclose(kept, 1 / keep_prob, rtol=1e-5):
            raise CheckFailed(
                _("dropout(h, keep_prob={keep_prob}) scaled the surviving units wrongly").format(keep_prob=keep_prob),
                expected=_("ones become {value:g}").format(value=1 / keep_prob),
                got=_("ones became {values}").format(values=np.unique(kept)[:3]),
                hint=_(
                    "Survivors are divided by keep_prob so the expected sum stays the same; "
                    "tf.nn.dropout does this for you."
                ),
            )


@chapter.check(
    "dense_dropout", 1, N_("dropout that keeps every unit (evaluation) is the identity, the same on every call")
)
def dropout_eval(learner):
    h = _rng().standard_normal((50, 100)).astype(np.float32)
    first = learner.call("dropout", tensor(h), 1.0)
    second = learner.call("dropout", tensor(h), 1.0)
    expect_close(
        first,
        h,
        "dropout(h, keep_prob=1.0)",
        hint=_("At evaluation nothing is dropped: return h unchanged."),
        rtol=0,
        atol=0,
    )
    expect_close(second, first, _("a second call of dropout(h, keep_prob=1.0)"), rtol=0, atol=0)


@chapter.check(
    "dense_dropout", 1, N_("KEEP_PROB_TRAIN and KEEP_PROB_EVAL are the post's values for training and evaluation")
)
def keep_prob_values(learner):
    train = learner.value("KEEP_PROB_TRAIN")
    hint = _(
        "Find the keep_prob the post feeds to its training step; evaluation and prediction "
        "want the whole network, every unit kept."
    )
    if _item(train) == 1.0:
        hint = _("With keep_prob 1.0 while training, dropout never happens and cannot fight overfitting.")
    expect_equal(train, 0.5, "KEEP_PROB_TRAIN", hint=hint)
    expect_equal(
        learner.value("KEEP_PROB_EVAL"),
        1.0,
        "KEEP_PROB_EVAL",
        hint=_("Evaluate with every unit kept: which keep_prob keeps them all?"),
    )


# --- one mistake, charged once ----------------------------------------------------------
# forward (3.6) chains the functions of 3.1-3.5, and the training cells chain forward, the loss
# (3.7) and the accuracy (3.8). A slip in conv_layer would otherwise fail forward's checks and
# the trained checkpoint's as well. So when such a check fails and an earlier exercise fails
# its own checks, the grader asks whether that earlier exercise explains the failure: for
# forward, by running the same probe again with the grader's own versions of the failing
# exercises' functions standing in for the learner's. If forward then passes, its own code is
# right: the check reports "not checked" (Blocked: its points kept) and names the exercise
# that does lose points. The trained checkpoint cannot be retrained with the grader's pieces:
# when an exercise the training cells call is written but fails its own checks (and
# save_checkpoint passes its own), a missing or poor checkpoint, or a reported accuracy lowered
# by dropout at evaluation, is charged to that exercise instead of 3.9.


def _grader_reshape_input(x):
    return tf.reshape(x, [-1, 28, 28, 1])


def _grader_conv_layer(x, W, b):
    return tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="SAME") + b)


def _grader_max_pool_2x2(x):
    return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")


def _grader_flatten(h):
    return tf.reshape(h, [-1, 7 * 7 * 64])


def _grader_fully_connected(h, W, b):
    return tf.nn.relu(tf.matmul(h, W) + b)


def _grader_dropout(h, keep_prob):
    return h if keep_prob == 1.0 else tf.nn.dropout(h, rate=1.0 - keep_prob)


# The names forward may read from the notebook, by the exercise that defines them.
PIECES = {
    "reshape_input": {"reshape_input": _grader_reshape_input},
    "conv_layer": {"conv_layer": _grader_conv_layer, "max_pool_2x2": _grader_max_pool_2x2},
    "flatten": {"flatten": _grader_flatten, "FLATTEN_SIZE": 7 * 7 * 64},
    "dense_dropout": {"fully_connected": _grader_fully_connected, "dropout": _grader_dropout},
}
# What the training cells call: a failing one explains a missing or poor checkpoint.
TRAINING_NEEDS = ("reshape_input", "conv_layer", "flatten", "dense_dropout", "forward", "loss", "accuracy")
OWN_PIECES = "_tfbook_own_pieces"  # the learner's own functions, kept while the grader's stand in
_ABSENT = object()


def _stand_in(exercise: str):
    """The factory ``learner.bind`` runs among the learner's globals (inline: the notebook's
    namespace; graded: the kernel's globals, which import this module by the factory's name):
    it keeps the learner's functions of ``exercise`` aside and puts the grader's in their place."""

    def stand_in(namespace: dict) -> None:
        own = namespace.setdefault(OWN_PIECES, {})
        for name, grader_version in PIECES[exercise].items():
            own.setdefault(name, namespace.get(name, _ABSENT))
            namespace[name] = grader_version

    stand_in.__name__ = stand_in.__qualname__ = f"_stand_in_{exercise}"
    return stand_in


for _exercise in PIECES:  # module-level names, so that a kernel can import each factory
    globals()[f"_stand_in_{_exercise}"] = _stand_in(_exercise)


def _put_back(namespace: dict) -> None:
    """Undo every ``_stand_in``: the learner's own functions return (or stay undefined)."""
    for name, own in namespace.pop(OWN_PIECES, {}).items():
        if own is _ABSENT:
            namespace.pop(name, None)
        else:
            namespace[name] = own


def _exercise_label(exercise: str) -> str:
    return _("exercise {number} ({name})").format(number=chapter.exercises[exercise].number, name=exercise)


def _which(exercises) -> str:
    """ "exercise 3.1 (reshape_input)", or several joined: what the sentences below name."""
    # TRANSLATORS: joins the exercises a message names ("exercise 3.1 (...) and exercise 3.3 (...)")
    return _(" and ").join(_exercise_label(e) for e in exercises)


def _mistakes(learner, exercises) -> list[str]:
    """The exercises among ``exercises`` that are written but wrong; none while any is still
    to do: an unfinished chapter explains nothing (it could not have trained)."""
    failing = chapter.failing(learner, exercises)
    return [] if "not done" in failing.values() else list(failing)


def _failure_of(func, learner) -> CheckFailed | None:
    try:
        func(learner)
    except engine.Stopped:
        raise
    except CheckFailed as e:
        return e
    return None


def _put_back_all(learner) -> None:
    try:
        learner.bind("_tfbook_stand_in", _put_back)
    except engine.Stopped:
        raise
    except CheckFailed:
        pass  # the kernel could not run it: the next call to it says so


def _unless_explained_by_earlier_pieces(func):
    """Wrap one of forward's checks: a failure that the grader's own 3.1-3.5 functions make go
    away is the earlier exercises' (Blocked); one that stays is forward's own."""

    @functools.wraps(func)
    def check(learner):
        draws = dict(engine._drawing)  # to replay the very same cases
        try:
            return func(learner)
        except engine.Stopped:
            raise
        except CheckFailed as failure:
            own_failure = failure
        culprits = list(chapter.failing(learner, PIECES))
        if not culprits:
            raise own_failure
        names = ", ".join(name for e in culprits for name in PIECES[e] if not name.isupper())
        which = _which(culprits)
        engine._drawing.update(draws)  # the same cases again
        try:
            for exercise in culprits:
                learner.bind("_tfbook_stand_in", globals()[f"_stand_in_{exercise}"])
            rerun_failure = _failure_of(func, learner)
        except engine.Stopped:
            raise
        except CheckFailed:  # the grader's functions could not stand in: judge as before
            raise own_failure from None
        finally:
            _put_back_all(learner)
        if rerun_failure is None:
            raise engine.Blocked(
                ngettext(
                    "could not be checked because {which} fails its own checks: with the grader's {names} in "
                    "place of yours, your forward passes this check; that exercise loses its points, this "
                    "check keeps its own",
                    "could not be checked because {which} fail their own checks: with the grader's {names} in "
                    "place of yours, your forward passes this check; those exercises lose their points, this "
                    "check keeps its own",
                    len(culprits),
                ).format(which=which, names=names)
            )
        if isinstance(rerun_failure, NotDone):  # forward itself is still to write
            raise own_failure
        e = rerun_failure  # forward's own mistake, seen without the earlier ones
        raise type(e)(
            ngettext(
                "(checked with the grader's {names} in place of yours, since {which} fails its own checks) {message}",
                "(checked with the grader's {names} in place of yours, since {which} fail their own checks) {message}",
                len(culprits),
            ).format(names=names, which=which, message=_(e.message)),
            expected=e.expected,
            got=e.got,
            hint=e.hint,
        )

    return check


# --- 3.6 ---------------------------------------------------------------------------------

# The keep_prob the grader's training-step probe uses: not the post's KEEP_PROB_TRAIN, so that no
# message about the probe gives exercise 3.5's answer away.
PROBE_KEEP_PROB = 0.75


def _forward(learner, keep_prob: float, traced: bool = False):
    """forward on a grader-chosen batch: eagerly (evaluation) or inside tf.function (training)."""
    rng = _rng()
    n = int(rng.integers(2, 8))
    x = rng.random((n, 784), dtype=np.float32)
    params = reference.random_params(int(rng.integers(1 << 30)), fc_init_stddev=0.02)
    call = learner.call_traced if traced else learner.call
    got = call("forward", tensor(x), tensors(params), keep_prob)
    if not isinstance(got, dict):
        raise CheckFailed(
            _("forward must return a dict of every layer's output"),
            expected="{'x_image': ..., 'h_conv1': ..., ..., 'logits': ...}",
            got=_("a tensor of shape {shape}").format(shape=np.shape(got))
            if isinstance(got, np.ndarray)
            else (_("a {type}").format(type=type(got).__name__) + f": {got!r}")[:80],
        )
    for name, shape in LAYER_SHAPES.items():  # a layer's name, a nested dict...: not its output
        if name in got and not isinstance(got[name], np.ndarray):
            raise CheckFailed(
                _("forward's '{name}' is a {type}, not a tensor").format(name=name, type=type(got[name]).__name__),
                expected=_("a tensor of shape {shape}").format(shape=(n, *shape)),
                got=f"{got[name]!r}"[:80],
                hint=_(
                    "Every value of the dict is the tensor that layer computed "
                    "(h_conv1 = conv_layer(...), ...), not its name or another dict."
                ),
            )
    return n, x, params, got


@chapter.check(
    "forward",
    3,
    N_("every layer has the right shape for a grader-chosen batch, in evaluation and in the traced training step"),
)
@_unless_explained_by_earlier_pieces
def forward_shapes(learner):
    for keep_prob, traced in ((1.0, False), (PROBE_KEEP_PROB, True)):
        _forward_shapes(*_forward(learner, keep_prob, traced))


def _forward_shapes(n, _x, _params, got):
    for name, shape in LAYER_SHAPES.items():
        if name not in got:
            raise CheckFailed(
                _("forward's result has no '{name}'").format(name=name),
                expected=sorted(LAYER_SHAPES),
                got=sorted(got),
                hint=_("Return a dict with every name listed in the exercise."),
            )
        hint = {
            "h_conv1": N_("padding='SAME' keeps 28x28 (VALID would give 24x24)."),
            "h_pool1": N_("2x2 pooling with stride 2 halves 28 to 14."),
            "h_flat": N_("The flatten size is 7 * 7 * 64 = 3136."),
        }.get(name, N_("Follow the shape table above the exercise."))
        expect_shape(got[name], (n, *shape), _("'{name}' for a batch of {n}").format(name=name, n=n), hint=_(hint))


@chapter.check("forward", 2, N_("logits equal the reference network's for grader-chosen weights (evaluation)"))
@_unless_explained_by_earlier_pieces
def forward_values(learner):
    _n, x, params, got = _forward(learner, 1.0)
    if "logits" not in got:  # the other layers are compared when present; forward_shapes lists the missing
        raise CheckFailed(
            _("forward's result has no '{name}'").format(name="logits"),
            expected=sorted(LAYER_SHAPES),
            got=sorted(got),
            hint=_("Return a dict with every name listed in the exercise."),
        )
    expected = reference.forward(x, params)
    for name in ("h_conv1", "h_pool2", "h_fc1", "logits"):
        if name in got:
            expect_close(
                got[name],
                expected[name].numpy(),
                f"'{name}'",
                rtol=1e-3,
                atol=1e-3,
                hint=_(
                    "Check each layer against the shape table and the post's order; "
                    "logits are h_drop @ W_fc2 + b_fc2, without softmax."
                ),
            )


@chapter.check(
    "forward",
    2,
    N_(
        "in the training step (inside tf.function) forward drops the training share of h_fc1, "
        "scales the rest, and computes every other layer as in evaluation"
    ),
)
@_unless_explained_by_earlier_pieces
def forward_dropout(learner):
    _n, x, params, got = _forward(learner, PROBE_KEEP_PROB, traced=True)
    expected = reference.forward(x, params)
    for name in ("h_conv1", "h_pool2", "h_fc1"):
        if name in got:
            expect_close(
                got[name],
                expected[name].numpy(),
                _("'{name}' with keep_prob={keep_prob}").format(name=name, keep_prob=PROBE_KEEP_PROB),
                rtol=1e-3,
                atol=1e-3,
                hint=_(
                    "Only dropout may differ between training and evaluation: every layer "
                    "before it is the same computation whatever keep_prob is."
                ),
            )
    h_fc1, h_drop = got.get("h_fc1"), got.get("h_drop")
    if h_fc1 is None or h_drop is None or np.shape(h_fc1) != np.shape(h_drop):
        missing = _("missing")
        raise CheckFailed(
            _("forward must return 'h_fc1' and 'h_drop' of the same shape"),
            expected=_("both of shape {shape}").format(shape=tuple(expected["h_fc1"].shape)),
            got=", ".join(
                f"{k}: {missing if v is None else np.shape(v)}" for k, v in (("h_fc1", h_fc1), ("h_drop", h_drop))
            ),
            hint=_("h_drop is dropout(h_fc1, keep_prob): the same shape, some units zeroed."),
        )
    active = h_fc1 > 0
    if not active.any():
        raise CheckFailed(_("h_fc1 is all zeros for the grader's probe"), hint=_("Check fully_connected."))
    dropped = float(np.mean(h_drop[active] == 0))
    share = 1 - PROBE_KEEP_PROB  # what dropout should drop, on average
    if abs(dropped - share) > 0.15:
        raise CheckFailed(
            _(
                "with keep_prob={keep_prob} about {share:.0%} of h_fc1's active units should be dropped in h_drop"
            ).format(keep_prob=PROBE_KEEP_PROB, share=share),
            expected=_("about {share:.0%} dropped").format(share=share),
            got=_("{share:.0%} dropped").format(share=dropped),
            hint=_("Pass forward's keep_prob on to dropout(h_fc1, keep_prob)."),
        )
    kept = active & (h_drop != 0)
    expect_close(
        h_drop[kept],
        h_fc1[kept] / PROBE_KEEP_PROB,
        _("the surviving units of h_drop"),
        rtol=1e-4,
        hint=_("Survivors are scaled by 1/keep_prob, so that the layer's expected sum stays the same."),
    )
    if "logits" in got:
        expect_close(
            got["logits"],
            h_drop @ params["W_fc2"] + params["b_fc2"],
            _("'logits' with keep_prob={keep_prob} (from the h_drop forward returned)").format(
                keep_prob=PROBE_KEEP_PROB
            ),
            rtol=1e-3,
            atol=1e-3,
            hint=_("The output layer must read the dropped-out h_drop, not h_fc1, while training."),
        )


# --- 3.7, 3.8 ----------------------------------------------------------------------------


@chapter.check(
    "loss",
    2,
    N_("loss_fn is the mean softmax cross-entropy on logits (a scalar), inside tf.function as in the training step"),
)
def loss_value(learner):
    rng = _rng()
    n = int(rng.integers(4, 12))
    logits = (rng.standard_normal((n, 10)) * 4).astype(np.float32)
    labels = _one_hot(rng, n)
    expected = float(tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)))
    got = learner.call_traced("loss_fn", tensor(logits), tensor(labels))
    _expect_scalar(got, _("loss_fn's result"), hint=_(ONE_NUMBER))
    on_softmax = float(
        tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=tf.nn.softmax(logits)))
    )
    hint = _("Use tf.nn.softmax_cross_entropy_with_logits(labels=..., logits=...) and take the mean.")
    if abs(float(got) - on_softmax) < 1e-4:
        hint = _(
            "You applied softmax before the cross-entropy: the op expects raw logits and applies "
            "softmax itself (doing it twice flattens the gradients)."
        )
    expect_close(got, np.float32(expected), _("loss_fn for the grader's logits and labels"), hint=hint)


ONE_NUMBER = N_("Average over the batch with tf.reduce_mean: one number.")


@chapter.check(
    "loss",
    1,
    N_(
        "loss_fn stays finite and right for a confident, wrong prediction (a logit of 150 on the "
        "wrong digit), eagerly as evaluate computes the test loss"
    ),
)
def loss_confident(learner):
    logits = np.zeros((2, 10), np.float32)
    logits[0, 3], logits[1, 7] = 150.0, 150.0  # both rows sure of a digit ...
    labels = np.eye(10, dtype=np.float32)[[5, 7]]  # ... the first one wrongly
    expected = float(tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)))
    # Eagerly: evaluate() computes the test loss outside the training step. (Inside a tf.function,
    # TensorFlow's graph optimiser happens to rewrite log(softmax(x)) into the stable log_softmax.)
    got = learner.call("loss_fn", tensor(logits), tensor(labels))
    _expect_scalar(got, _("loss_fn's result"), hint=_(ONE_NUMBER))
    expect_close(
        got,
        np.float32(expected),
        _("loss_fn for a confident wrong prediction"),
        hint=_(
            "Softmax of a logit of 150 rounds the other probabilities to 0 in float32, and log(0) is "
            "-infinity: let tf.nn.softmax_cross_entropy_with_logits take the logits, it computes the "
            "log-probabilities without that rounding."
        ),
    )


def _accuracy_cases(rng):
    """(what, logits, labels): fixed batches that separate the usual wrong answers, then a random one."""
    eye = np.eye(10, dtype=np.float32)
    # 3 of 4 right: an integer mean gives 0, a count gives 3, comparing columns (axis 0) gives 0.2
    labels = eye[[1, 2, 3, 4]]
    logits = np.full((4, 10), -1.0, np.float32)
    logits[[0, 1, 2, 3], [1, 2, 3, 0]] = 2.0
    logits[0, 9] = 5.0  # row 0's largest logit is 9: wrong
    logits[[1, 2, 3], [2, 3, 4]] = 6.0  # rows 1-3 right
    yield _("4 grader-chosen rows, 3 of them right"), logits, labels
    yield _("rows that are all right"), eye[[0, 5, 9]] * 3 - 1, eye[[0, 5, 9]]
    n = int(rng.integers(20, 60))
    labels = _one_hot(rng, n)
    logits = rng.standard_normal((n, 10)).astype(np.float32)
    right = rng.random(n) < rng.uniform(0.2, 0.8)
    logits[right] += labels[right] * 10  # these rows are predicted correctly
    yield _("{n} grader-chosen rows").format(n=n), logits, labels


@chapter.check("accuracy", 2, N_("accuracy_fn is the fraction of rows whose largest logit is the true class"))
def accuracy_value(learner):
    for what, logits, labels in _accuracy_cases(_rng()):
        expected = float(np.mean(np.argmax(logits, 1) == np.argmax(labels, 1)))
        got = learner.call("accuracy_fn", tensor(logits), tensor(labels))
        _expect_scalar(got, _("accuracy_fn's result"), hint=_("One number: the mean over the batch."))
        hint = _("Compare the position of each row's largest logit with the label's, then average.")
        if float(got) == 0 and expected > 0:
            hint = _(
                "The mean of integers is an integer (0 here): cast the right/wrong booleans to "
                "float32 before averaging."
            )
        elif float(got) == round(expected * len(logits)) and expected < 1:
            hint = _("That is the number of right rows; the accuracy is their fraction (a mean).")
        expect_close(got, np.float32(expected), _("accuracy_fn on {what}").format(what=what), hint=hint)


# --- 3.9 ---------------------------------------------------------------------------------


@chapter.check("checkpoint", 2, N_("save_checkpoint writes every variable under its name; the grader reads them back"))
def checkpoint_roundtrip(learner):
    params = reference.random_params(int(_rng().integers(1 << 30)))
    target = learner.fresh_dir("checkpoint") / "ckpt"  # an empty folder: nothing earlier can be read back
    written = learner.call("save_checkpoint", variables(params), str(target))
    # write() returns the prefix itself, save() the prefix with a counter ("ckpt-1"): both are right.
    if isinstance(written, str) and written.startswith(str(target)):
        target = written
    try:
        restored = reference.load_params(target)
    except reference.CheckpointProblem as e:
        raise CheckFailed(
            _("the grader could not read what save_checkpoint wrote: {error}").format(error=e),
            hint=_("Write to exactly the prefix you are given, naming each variable after its key in params."),
        ) from None
    for name, value in params.items():
        expect_close(
            restored[name], value, _("variable {name} read back from the checkpoint").format(name=name), rtol=0, atol=0
        )


@chapter.check(
    "checkpoint",
    4,
    N_("the trained checkpoint restores into the grader's model and reaches the preset's test accuracy"),
    at_end=True,
)
def checkpoint_accuracy(learner):
    from tfbook.data import load_mnist
    from tfbook.manifest import preset

    threshold = preset("03", learner.preset)["min_test_accuracy"]
    directory = learner.runs_dir / "ch03" / "checkpoint"
    try:
        params = reference.load_params(directory)
    except reference.CheckpointProblem as e:
        _unless_training_was_blocked(
            learner, _("the notebook left no checkpoint the grader could read"), TRAINING_NEEDS
        )
        raise CheckFailed(str(e), hint=_("Run the training section to the end: it calls save_checkpoint.")) from None
    images, labels = load_mnist().flat("test")
    accuracy = reference.evaluate(params, images, labels)
    learner.figures["test_accuracy"] = accuracy  # shown under the grade table
    if accuracy < threshold:
        _unless_training_was_blocked(
            learner,
            _("the checkpoint reaches {accuracy:.2%}, below the '{preset}' preset's {threshold:.1%}").format(
                accuracy=accuracy, preset=learner.preset, threshold=threshold
            ),
            [e for e in TRAINING_NEEDS if e != "accuracy"],
        )
        raise CheckFailed(
            _(
                "the checkpoint reaches {accuracy:.2%} on the 10,000 test images, below the "
                "'{preset}' preset's {threshold:.1%}"
            ).format(accuracy=accuracy, preset=learner.preset, threshold=threshold),
            expected=f">= {threshold:.2%}",
            got=f"{accuracy:.2%}",
            hint=_("Save after training, not before; check the loss, the learning rate and KEEP_PROB_TRAIN."),
        )
    metrics = directory.parent / "metrics.json"
    if metrics.exists():
        reported = json.loads(metrics.read_text()).get("test_accuracy")
        if reported is not None and abs(float(reported) - accuracy) > 0.0005:
            _reported_accuracy_differs(learner, float(reported), accuracy)


def _unless_training_was_blocked(learner, what: str, needs) -> None:
    """A missing or poor checkpoint explained by one of ``needs`` (exercises the training cells
    call) that fails its own checks: the failure names that exercise as the cause. It still
    scores 0 here: nothing shows that the network was trained, and keeping the points would let
    a learner skip training by breaking a cheaper exercise on purpose. (accuracy_fn only
    reports during training: a wrong one that runs cannot spoil the weights.)"""
    culprits = _mistakes(learner, needs)
    if culprits and not chapter.failing(learner, ["checkpoint"]):
        which = _which(culprits)
        raise CheckFailed(
            ngettext(
                "{what}: the training cells need {which}, which fails its own checks",
                "{what}: the training cells need {which}, which fail their own checks",
                len(culprits),
            ).format(what=what, which=which),
            hint=_(
                "Fix {which} first, then run the training section again: it saves the checkpoint this check measures."
            ).format(which=which),
        )


def _reported_accuracy_differs(learner, reported: float, accuracy: float) -> None:
    measured = _("{accuracy:.2%} (measured by the grader)").format(accuracy=accuracy)
    if reported < accuracy:  # evaluate() saw a weaker network: dropout on while evaluating
        culprits = _mistakes(learner, ["dense_dropout", "forward"])
        if culprits:
            raise engine.Blocked(
                ngettext(
                    "could not be checked because {which} fails its own checks: the notebook evaluated with "
                    "dropout on and reported {reported:.2%}, below the {accuracy:.2%} its checkpoint reaches; "
                    "that exercise loses its points, this check keeps its own",
                    "could not be checked because {which} fail their own checks: the notebook evaluated with "
                    "dropout on and reported {reported:.2%}, below the {accuracy:.2%} its checkpoint reaches; "
                    "those exercises lose their points, this check keeps its own",
                    len(culprits),
                ).format(which=_which(culprits), reported=reported, accuracy=accuracy)
            )
        raise CheckFailed(
            _(
                "the accuracy the notebook reported differs from the checkpoint's: it is lower, "
                "as when dropout stays on while evaluating"
            ),
            expected=measured,
            got=f"{reported:.2%}",
            hint=_(
                "Evaluate with dropout off: evaluate() must run forward with KEEP_PROB_EVAL, "
                "and dropout must change nothing at that keep_prob."
            ),
        )
    raise CheckFailed(
        _("the accuracy the notebook reported differs from the checkpoint's"),
        expected=measured,
        got=f"{reported:.2%}",
        hint=_("Save the same variables you evaluated, after the last training step."),
    )


# --- 3.10 ---------------------------------------------------------------------------------


@chapter.check("parameter_count", 1, N_("CONV2_PARAMS is the number of weights and biases of layer 2"))
def conv2_params(learner):
    got = learner.value("CONV2_PARAMS")
    value = _item(got)
    hint = _("Each of layer 2's 64 filters is 5 x 5 across the 32 maps of layer 1; add one bias per filter.")
    if value == 5 * 5 * 32 * 64:
        hint = _("The weights are right; each of the 64 filters also has a bias.")
    elif value == 5 * 5 * 64 + 64:
        hint = _("A layer-2 filter spans all 32 maps of layer 1, not one channel.")
    expect_equal(got, LAYER_PARAMS["conv2"], "CONV2_PARAMS", hint=hint)


@chapter.check("parameter_count", 1, N_("TOTAL_PARAMS is the number of values in the network's eight variables"))
def total_params(learner):
    got = learner.value("TOTAL_PARAMS")
    value = _item(got)
    total = sum(LAYER_PARAMS.values())
    weights_only = total - (32 + 64 + 1024 + 10)
    hint = _("Add the four layers' weights and biases: conv1, conv2, the fully connected layer and the output layer.")
    if value == weights_only:
        hint = _("The weights are right; add the biases (one per output of each layer).")
    elif value == total - LAYER_PARAMS["fc1"]:
        hint = _("The fully connected layer (3136 inputs, 1024 outputs) holds almost all of them.")
    elif value is not None and abs(value - total) / total < 0.02:
        hint = _("Close: check each layer's biases and the output layer (1024 -> 10).")
    expect_equal(got, total, "TOTAL_PARAMS", hint=hint)
