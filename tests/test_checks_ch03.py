"""Chapter 03's checks, proven: the solution passes, the unsolved edition and each wrong
variant fail the right check with the right message. These run the checks in-process on the
exercise cells (fast); tests/test_grader.py does the same through a real kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from checks import reference
from checks.ch03 import chapter
from chapters import chapter_namespace, run_03 as run, variant_forward_03 as variant_forward
from helpers import failing, variant


def test_the_solution_passes_every_check_before_training(solution_03):
    results = run(solution_03)
    failed = {k: r.message for k, r in results.items() if not r.passed}
    assert not failed
    assert len(results) == len([c for c in chapter.checks if not c.at_end])


def test_the_unsolved_edition_fails_every_exercise_as_not_done():
    results = run(chapter_namespace("03", "student"))
    assert all(r.status == "not done" for r in results.values()), {
        k: (r.status, r.message) for k, r in results.items() if r.status != "not done"
    }
    assert {r.exercise for r in results.values()} == set(chapter.exercises)
    assert all(r.hint for r in results.values())


def test_valid_instead_of_same(solution_03):
    valid = lambda x, W, b: tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="VALID") + b)
    ns = variant(solution_03, conv_layer=valid)
    r = failing(run(ns, "conv_layer"), "conv_layer_1")
    assert "wrong shape" in r.message and "24, 24, 32" in r.got and "SAME" in r.hint
    r = run(variant_forward(ns), "forward")["forward_shapes"]  # 3.3's mistake, charged to 3.3 only
    assert r.status == "not checked" and "exercise 3.3 (conv_layer)" in r.message


def test_valid_padding_in_forwards_own_code(solution_03):
    def wrong(x, params, keep_prob):  # forward's own convolution: 24x24 cannot flatten to 3136
        out = _forward_without_helpers(x, params, keep_prob)
        h = tf.nn.relu(tf.nn.conv2d(out["x_image"], params["W_conv1"], 1, "VALID") + params["b_conv1"])
        return dict(out, h_flat=tf.reshape(tf.nn.max_pool2d(h, 2, 2, "SAME"), [-1, 3136]))

    r = failing(run(variant(solution_03, forward=wrong), "forward"), "forward_shapes")
    assert "raised InvalidArgumentError: Input to reshape" in r.message and "3136" in r.message
    assert "function_node" not in r.message and "grader's" not in r.message


def test_keep_prob_1_while_training(solution_03):
    r = failing(run(variant(solution_03, KEEP_PROB_TRAIN=1.0), "dense_dropout"), "keep_prob_values")
    assert "KEEP_PROB_TRAIN" in r.message and "dropout never happens" in r.hint


def test_softmax_before_the_cross_entropy(solution_03):
    wrong = lambda logits, labels: tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=tf.nn.softmax(logits))
    )
    r = failing(run(variant(solution_03, loss_fn=wrong), "loss"), "loss_value")
    assert "applied softmax before the cross-entropy" in r.hint


def test_flatten_size_of_layer_one(solution_03):
    r = failing(run(variant(solution_03, FLATTEN_SIZE=7 * 7 * 32), "flatten"), "flatten_size")
    assert r.expected == "3136" and r.got == "1568" and "layer 1's filters" in r.hint


def test_rate_confused_with_keep_prob(solution_03):
    wrong = lambda h, keep_prob: h if keep_prob == 1.0 else tf.nn.dropout(h, rate=keep_prob)
    r = failing(run(variant(solution_03, dropout=wrong), "dense_dropout"), "dropout_training")
    assert "zeroed the wrong fraction" in r.message and "rate = 1 - keep_prob" in r.hint


def test_dropout_left_on_at_evaluation(solution_03):
    wrong = lambda h, keep_prob: tf.nn.dropout(h, rate=0.5)
    r = failing(run(variant(solution_03, dropout=wrong), "dense_dropout"), "dropout_eval")
    assert "dropout(h, keep_prob=1.0)" in r.message


def test_floor_instead_of_ceil(solution_03):
    wrong = lambda n, window, stride, padding: n // stride if padding == "SAME" else (n - window + 1) // stride
    results = run(variant(solution_03, output_size=wrong), "output_size")
    r = failing(results, "output_size_conv")
    assert "output_size(n=7, window=2, stride=2" in r.message and "rounded down" in r.hint


def test_valid_pooling(solution_03):
    wrong = lambda x: tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
    r = failing(run(variant(solution_03, max_pool_2x2=wrong), "conv_layer"), "max_pool")
    assert "(2, 7, 7, 8)" in r.message and r.expected == "(2, 4, 4, 8)"


def test_transposed_reshape(solution_03):
    wrong = lambda x: tf.transpose(tf.reshape(x, [-1, 28, 28, 1]), [0, 2, 1, 3])
    r = failing(run(variant(solution_03, reshape_input=wrong), "reshape_input"), "reshape_input")
    assert "different values" in r.message


def test_missing_relu(solution_03):
    wrong = lambda x, W, b: tf.nn.conv2d(x, W, strides=1, padding="SAME") + b
    r = failing(run(variant(solution_03, conv_layer=wrong), "conv_layer"), "conv_layer_1")
    assert "negative" in r.message and "relu" in r.hint.lower()


def test_softmax_returned_as_logits(solution_03):
    ns = variant_forward(dict(solution_03))
    inner = ns["forward"]

    def wrong(x, params, keep_prob):
        out = dict(inner(x, params, keep_prob))
        out["logits"] = tf.nn.softmax(out["logits"])
        return out

    r = failing(run(variant(ns, forward=wrong), "forward"), "forward_values")
    assert "'logits'" in r.message


def test_error_rate_instead_of_accuracy(solution_03):
    wrong = lambda logits, labels: 1 - solution_03["accuracy_fn"](logits, labels)
    r = failing(run(variant(solution_03, accuracy_fn=wrong), "accuracy"), "accuracy_value")
    assert "accuracy_fn" in r.message


def test_constants_of_the_right_shape_do_not_pass(solution_03):
    fake = lambda x, params, keep_prob: {
        k: tf.zeros([int(tf.shape(x)[0]), *s])
        for k, s in __import__("checks.ch03", fromlist=["x"]).LAYER_SHAPES.items()
    }
    results = run(variant(solution_03, forward=fake), "forward")
    assert results["forward_shapes"].passed  # the shapes alone are right ...
    failing(results, "forward_values")  # ... but the values are not
    failing(results, "forward_dropout")


def test_an_object_equal_to_everything_does_not_pass(solution_03):
    class AlwaysEqual:
        def __eq__(self, other):
            return True

        shape = (3, 28, 28, 1)

    r = failing(run(variant(solution_03, reshape_input=lambda x: AlwaysEqual()), "reshape_input"), "reshape_input")
    assert "not numbers" in r.message or "not a tensor" in r.message
    r = failing(run(variant(solution_03, FLATTEN_SIZE=AlwaysEqual()), "flatten"), "flatten_size")


def test_a_checkpoint_with_other_names(solution_03, tmp_path):
    wrong = lambda params, prefix: tf.train.Checkpoint(weights=list(params.values())).write(prefix)
    r = failing(
        run(variant(solution_03, save_checkpoint=wrong), "checkpoint", runs_dir=tmp_path), "checkpoint_roundtrip"
    )
    assert "W_conv1: missing" in r.message


@pytest.mark.slow  # runs the CNN over the 10,000 test images, about 8 s of CPU
def test_an_untrained_checkpoint_fails_the_accuracy_check(tmp_path, mnist):
    directory = tmp_path / "ch03" / "checkpoint"
    params = {k: tf.Variable(v) for k, v in reference.random_params(1).items()}
    tf.train.Checkpoint(**params).write(str(directory / "cnn"))
    r = failing(run({}, "checkpoint", runs_dir=tmp_path, at_end=True), "checkpoint_accuracy")
    assert "below the 'quick' preset's 98.0%" in r.message


def test_no_checkpoint_says_how_to_make_one(tmp_path):
    r = failing(run({}, "checkpoint", runs_dir=tmp_path, at_end=True), "checkpoint_accuracy")
    assert "no checkpoint" in r.message and "chapter 03" in r.message


@pytest.mark.slow
def test_the_trained_checkpoint_passes_and_matches_the_reported_accuracy(
    trained_checkpoint_03, trained_preset, tmp_path
):
    import json
    import shutil

    runs = tmp_path / "runs"  # a copy: the session's trained runs are shared with other tests
    shutil.copytree(trained_checkpoint_03.parent, runs / "ch03")
    assert run({}, "checkpoint", runs_dir=runs, at_end=True, preset=trained_preset)["checkpoint_accuracy"].passed
    metrics = json.loads((runs / "ch03" / "metrics.json").read_text())
    metrics["test_accuracy"] -= 0.01  # a notebook that reports a number it did not measure
    (runs / "ch03" / "metrics.json").write_text(json.dumps(metrics))
    r = failing(run({}, "checkpoint", runs_dir=runs, at_end=True, preset=trained_preset), "checkpoint_accuracy")
    assert "differs from the checkpoint's" in r.message


# --- every regime: inside tf.function, in training and in evaluation (tracker #11, item 5) ---


def test_numpy_inside_the_traced_loss(solution_03):
    """Runs eagerly, so an eager-only check would pass it; the training step traces it."""
    wrong = lambda logits, labels: np.mean(-np.sum(labels * tf.nn.log_softmax(logits), axis=1))
    assert np.isfinite(wrong(tf.constant(np.eye(10, dtype=np.float32)), tf.constant(np.eye(10, dtype=np.float32))))
    r = failing(run(variant(solution_03, loss_fn=wrong), "loss"), "loss_value")
    assert "works eagerly but fails inside tf.function" in r.message and "NumPy" in r.message
    assert r.status == "failed" and "not written yet" not in r.message


def test_numpy_inside_the_traced_dropout(solution_03):
    def wrong(h, keep_prob):
        if keep_prob == 1.0:
            return h
        mask = np.random.rand(*h.shape) < keep_prob
        return tf.constant(np.where(mask, h.numpy() / keep_prob, 0), tf.float32)

    results = run(variant(solution_03, dropout=wrong), "dense_dropout")
    assert results["dropout_eval"].passed  # evaluation is eager: fine there ...
    r = failing(results, "dropout_training")  # ... but training is traced
    assert "works eagerly but fails inside tf.function" in r.message


def test_numpy_inside_the_traced_flatten(solution_03):
    wrong = lambda h: tf.constant(h.numpy().reshape(-1, 3136))
    r = failing(run(variant(solution_03, flatten=wrong), "flatten"), "flatten_values")
    assert "works eagerly but fails inside tf.function" in r.message and "inside tf.function" in r.message


def test_numpy_inside_the_traced_conv_layer(solution_03):
    wrong = lambda x, W, b: tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="SAME") + b.numpy())
    results = run(variant(solution_03, conv_layer=wrong), "conv_layer")
    assert results["conv_layer_1"].passed and results["conv_layer_2"].passed
    r = failing(results, "conv_layer_traced")
    assert "works eagerly but fails inside tf.function" in r.message


def test_a_keras_dropout_layer_made_inside_the_traced_function(solution_03):
    """Keras 3's Dropout creates a seed variable when it is made: fine eagerly, refused by tf.function."""
    results = run(variant(solution_03, dropout=_keras_dropout), "dense_dropout")
    assert results["dropout_eval"].passed
    r = failing(results, "dropout_training")
    assert "works eagerly but fails inside tf.function" in r.message


def test_dropout_unscaled_only_in_training(solution_03):
    def wrong(h, keep_prob):  # right at evaluation, survivors not scaled in training
        if keep_prob == 1.0:
            return h
        return h * tf.cast(tf.random.uniform(tf.shape(h)) < keep_prob, h.dtype)

    results = run(variant(solution_03, dropout=wrong), "dense_dropout")
    assert results["dropout_eval"].passed
    r = failing(results, "dropout_training")
    assert "scaled the surviving units wrongly" in r.message and "divided by keep_prob" in r.hint


def test_forward_whose_output_layer_skips_dropout_while_training(solution_03):
    ns = variant_forward(dict(solution_03))
    inner = ns["forward"]

    def wrong(x, params, keep_prob):  # h_drop is computed but the logits read h_fc1
        out = dict(inner(x, params, keep_prob))
        out["logits"] = tf.matmul(out["h_fc1"], params["W_fc2"]) + params["b_fc2"]
        return out

    results = run(variant(ns, forward=wrong), "forward")
    assert results["forward_values"].passed and results["forward_shapes"].passed  # right in evaluation
    r = failing(results, "forward_dropout")
    assert "'logits' with keep_prob=0.75" in r.message and "h_drop" in r.hint


def test_forward_that_changes_a_layer_only_while_training(solution_03):
    ns = variant_forward(dict(solution_03))
    inner = ns["forward"]

    def wrong(x, params, keep_prob):  # a "training" branch that forgets layer 1's bias
        if keep_prob == 1.0:
            return inner(x, params, keep_prob)
        return inner(x, dict(params, b_conv1=tf.zeros_like(params["b_conv1"])), keep_prob)

    results = run(variant(ns, forward=wrong), "forward")
    assert results["forward_values"].passed
    r = failing(results, "forward_dropout")
    assert "with keep_prob=0.75" in r.message and "Only dropout may differ" in r.hint


def test_forward_that_drops_the_posts_share_whatever_keep_prob_it_is_given(solution_03):
    ns = variant_forward(dict(solution_03))
    inner = ns["forward"]

    def wrong(x, params, keep_prob):  # KEEP_PROB_TRAIN written into forward instead of its argument
        return inner(x, params, 0.5 if keep_prob < 1 else keep_prob)

    results = run(variant(ns, forward=wrong), "forward")
    assert results["forward_values"].passed  # right in evaluation
    r = failing(results, "forward_dropout")
    assert "dropped" in r.message and "Pass forward's keep_prob on" in r.hint


def test_no_check_message_of_forward_or_dropout_gives_the_posts_keep_prob_away(solution_03):
    # every message a failing forward or dropout can print, for answers that fail each way
    ns = variant_forward(dict(solution_03))
    inner = ns["forward"]
    broken = {
        "forward": lambda x, params, keep_prob: dict(
            inner(x, params, keep_prob), h_drop=inner(x, params, 1.0)["h_fc1"]
        ),
        "dropout": lambda h, keep_prob: h * 2.0,
    }
    texts = []
    for name, function in broken.items():
        for result in run(
            variant(ns, **{name: function}), "forward" if name == "forward" else "dense_dropout"
        ).values():
            if not result.passed:
                texts.append(f"{result.message} {result.expected} {result.got} {result.hint}")
    assert texts
    assert not any("0.5" in text or "50%" in text for text in texts), texts


def test_loss_through_softmax_then_log_overflows_on_a_confident_row(solution_03):
    wrong = lambda logits, labels: tf.reduce_mean(-tf.reduce_sum(labels * tf.math.log(tf.nn.softmax(logits)), axis=1))
    results = run(variant(solution_03, loss_fn=wrong), "loss")
    r = failing(results, "loss_confident")
    assert "NaN or infinity" in r.message and "log(0)" in r.hint


def test_loss_summed_instead_of_averaged(solution_03):
    wrong = lambda logits, labels: tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    failing(run(variant(solution_03, loss_fn=wrong), "loss"), "loss_value")


@pytest.mark.parametrize(
    "wrong, cause",
    [
        (
            lambda n, window, stride, padding: (
                n // stride if padding == "SAME" else math.ceil((n - window + 1) / stride)
            ),
            "rounded down",
        ),
        (lambda n, window, stride, padding: math.ceil((n - window + 1) / stride), "only the stride"),
        (
            lambda n, window, stride, padding: (
                math.ceil(n / stride) if padding == "SAME" else (n - window + 1) // stride
            ),
            "rounded down",
        ),
        (
            lambda n, window, stride, padding: (
                math.ceil(n / stride) if padding == "SAME" else math.ceil((n - window) / stride)
            ),
            "Count the positions",
        ),
    ],
)
def test_usual_wrong_output_sizes_always_fail_with_their_cause(solution_03, wrong, cause):
    """Fixed cases catch them on every run, not only when the random cases happen to."""
    for _ in range(3):
        results = run(variant(solution_03, output_size=wrong), "output_size")
        for check in ("output_size_conv", "output_size_pool"):
            r = failing(results, check)
            assert cause in r.hint, (check, r.message, r.hint)


@pytest.mark.parametrize(
    "wrong, cause",
    [
        (
            lambda logits, labels: tf.reduce_mean(
                tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1)), tf.int32)
            ),
            "integer",
        ),
        (
            lambda logits, labels: tf.reduce_sum(
                tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1)), tf.float32)
            ),
            "number of right rows",
        ),
        (
            lambda logits, labels: tf.reduce_mean(
                tf.cast(tf.equal(tf.argmax(logits, 0), tf.argmax(labels, 0)), tf.float32)
            ),
            "largest logit",
        ),
    ],
)
def test_usual_wrong_accuracies_fail_with_their_cause(solution_03, wrong, cause):
    r = failing(run(variant(solution_03, accuracy_fn=wrong), "accuracy"), "accuracy_value")
    assert cause in r.hint and "4 grader-chosen rows, 3 of them right" in r.message


@pytest.mark.parametrize(
    "name, value, cause",
    [
        ("CONV2_PARAMS", 5 * 5 * 32 * 64, "also has a bias"),
        ("CONV2_PARAMS", 5 * 5 * 64 + 64, "all 32 maps"),
        ("TOTAL_PARAMS", 3274634 - 1130, "add the biases"),
        ("TOTAL_PARAMS", 3274634 - 3212288, "fully connected layer"),
    ],
)
def test_wrong_parameter_counts(solution_03, name, value, cause):
    results = run(variant(solution_03, **{name: value}), "parameter_count")
    r = failing(results, {"CONV2_PARAMS": "conv2_params", "TOTAL_PARAMS": "total_params"}[name])
    assert cause in r.hint and str(value) in r.got


def test_the_parameter_counts_match_the_networks_variables(solution_03):
    params = reference.random_params(0)
    assert solution_03["TOTAL_PARAMS"] == sum(v.size for v in params.values())
    assert solution_03["CONV2_PARAMS"] == params["W_conv2"].size + params["b_conv2"].size


# --- correct answers written differently get full marks (tracker #11, item 6) ----------------


def _keras_dropout(h, keep_prob):
    return tf.keras.layers.Dropout(1.0 - keep_prob)(h, training=keep_prob < 1.0)


def _mask_dropout(h, keep_prob):
    if keep_prob == 1.0:
        return h
    keep = tf.cast(tf.random.uniform(tf.shape(h)) < keep_prob, h.dtype)
    return h * keep / keep_prob


def _save_checkpoint_with_save(params, prefix):
    return tf.train.Checkpoint(**params).save(prefix)


def _forward_without_helpers(x, params, keep_prob):
    p = params
    out = {"x_image": tf.reshape(x, (-1, 28, 28, 1))}
    out["h_conv1"] = tf.nn.relu(
        tf.nn.bias_add(tf.nn.conv2d(out["x_image"], p["W_conv1"], [1, 1, 1, 1], "SAME"), p["b_conv1"])
    )
    out["h_pool1"] = tf.nn.max_pool(out["h_conv1"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    out["h_conv2"] = tf.nn.relu(tf.nn.conv2d(out["h_pool1"], p["W_conv2"], [1, 1, 1, 1], "SAME") + p["b_conv2"])
    out["h_pool2"] = tf.nn.max_pool(out["h_conv2"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    out["h_flat"] = tf.reshape(out["h_pool2"], [tf.shape(x)[0], -1])
    out["h_fc1"] = tf.maximum(out["h_flat"] @ p["W_fc1"] + p["b_fc1"], 0.0)
    out["h_drop"] = tf.nn.dropout(out["h_fc1"], rate=1 - keep_prob)
    out["logits"] = tf.linalg.matmul(out["h_drop"], p["W_fc2"]) + p["b_fc2"]
    return out


CORRECT_VARIANTS = {
    "reshape_input, tf.shape for the batch": (
        "reshape_input",
        dict(reshape_input=lambda x: tf.reshape(x, (tf.shape(x)[0], 28, 28, 1))),
    ),
    "reshape_input, expand_dims": (
        "reshape_input",
        dict(reshape_input=lambda x: tf.expand_dims(tf.reshape(x, [-1, 28, 28]), axis=-1)),
    ),
    "output_size, integer arithmetic": (
        "output_size",
        dict(
            output_size=lambda n, window, stride, padding: (
                (n + stride - 1) // stride if padding == "SAME" else (n - window) // stride + 1
            )
        ),
    ),
    "output_size, negative floor division": (
        "output_size",
        dict(output_size=lambda n, window, stride, padding: -(-(n if padding == "SAME" else n - window + 1) // stride)),
    ),
    "conv_layer, TF1-style argument lists and bias_add": (
        "conv_layer",
        dict(
            conv_layer=lambda x, W, b: tf.nn.relu(
                tf.nn.bias_add(tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME"), b)
            ),
            max_pool_2x2=lambda x: tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME"),
        ),
    ),
    "conv_layer, keyword-free calls": (
        "conv_layer",
        dict(
            conv_layer=lambda x, W, b: tf.maximum(tf.nn.conv2d(x, W, 1, "SAME") + b, 0.0),
            max_pool_2x2=lambda x: tf.nn.max_pool2d(x, 2, 2, "SAME"),
        ),
    ),
    "flatten, the size as a literal": (
        "flatten",
        dict(FLATTEN_SIZE=3136, flatten=lambda h: tf.reshape(h, [tf.shape(h)[0], -1])),
    ),
    "dense_dropout, rate always passed": (
        "dense_dropout",
        dict(
            fully_connected=lambda h, W, b: tf.nn.relu(h @ W + b),
            dropout=lambda h, keep_prob: tf.nn.dropout(h, rate=1 - keep_prob),
        ),
    ),
    "dense_dropout, a hand-written mask scaled by 1/keep_prob": ("dense_dropout", dict(dropout=_mask_dropout)),
    "forward, TF1-style ops without the helpers": ("forward", dict(forward=_forward_without_helpers)),
    "loss, Keras with from_logits=True": (
        "loss",
        dict(loss_fn=lambda logits, labels: tf.keras.losses.CategoricalCrossentropy(from_logits=True)(labels, logits)),
    ),
    "loss, log_softmax by hand": (
        "loss",
        dict(loss_fn=lambda logits, labels: tf.reduce_mean(-tf.reduce_sum(labels * tf.nn.log_softmax(logits), axis=1))),
    ),
    "loss, the sparse op on label indices": (
        "loss",
        dict(
            loss_fn=lambda logits, labels: tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.argmax(labels, axis=1), logits=logits)
            )
        ),
    ),
    "accuracy, NumPy (evaluate runs it eagerly)": (
        "accuracy",
        dict(accuracy_fn=lambda logits, labels: np.mean(np.argmax(logits, 1) == np.argmax(labels, 1))),
    ),
    "accuracy, Keras' categorical_accuracy": (
        "accuracy",
        dict(accuracy_fn=lambda logits, labels: tf.reduce_mean(tf.keras.metrics.categorical_accuracy(labels, logits))),
    ),
    "checkpoint, save instead of write": ("checkpoint", dict(save_checkpoint=_save_checkpoint_with_save)),
    "parameter_count, literal numbers": ("parameter_count", dict(CONV2_PARAMS=51264, TOTAL_PARAMS=3274634)),
    "parameter_count, floats": ("parameter_count", dict(CONV2_PARAMS=51264.0, TOTAL_PARAMS=3.274634e6)),
}


@pytest.mark.parametrize("label", sorted(CORRECT_VARIANTS))
def test_a_correct_variant_gets_full_marks(solution_03, label, tmp_path):
    exercise, replacements = CORRECT_VARIANTS[label]
    ns = variant(solution_03, **replacements)
    if exercise == "forward":
        ns.pop("reshape_input")  # forward must not need the helpers
    results = run(ns, exercise, runs_dir=tmp_path)
    assert results and all(r.passed for r in results.values()), {
        k: (r.message, r.hint) for k, r in results.items() if not r.passed
    }


def test_every_exercise_has_a_correct_variant():
    assert {exercise for exercise, _ in CORRECT_VARIANTS.values()} == set(chapter.exercises)


def test_a_static_batch_size_fails_as_it_does_in_the_training_step(solution_03):
    wrong = lambda x: tf.reshape(x, [x.shape[0], 28, 28, 1])
    step = tf.function(lambda x: wrong(x), input_signature=[tf.TensorSpec([None, 784], tf.float32)])
    with pytest.raises(Exception):
        step(tf.zeros([2, 784]))  # what the chapter's training step would do with it
    failing(run(variant(solution_03, reshape_input=wrong), "reshape_input"), "reshape_input")


def test_a_numpy_mask_frozen_into_the_graph_fails(solution_03):
    def wrong(h, keep_prob):
        if keep_prob == 1.0:
            return h
        return h * (np.random.rand(*h.shape) < keep_prob).astype(np.float32) / keep_prob

    failing(run(variant(solution_03, dropout=wrong), "dense_dropout"), "dropout_training")
