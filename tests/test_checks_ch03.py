"""Chapter 03's checks, proven: the solution passes, the unsolved edition and each wrong
variant fail the right check with the right message. These run the checks in-process on the
exercise cells (fast); tests/test_grader.py does the same through a real kernel."""
from __future__ import annotations

import math

import jupytext
import numpy as np
import pytest
import tensorflow as tf

from checks import reference
from checks.ch03 import chapter
from checks.engine import NamespaceLearner
from tfbook.manifest import load_book
from tfbook.release import BEGIN


def exercise_namespace(edition: str) -> dict:
    """Run the edition's exercise cells (and nothing else) in a fresh namespace."""
    ch = load_book().chapter("03")
    nb = jupytext.read(ch.solution if edition == "solution" else ch.student)
    ns = {"tf": tf, "np": np, "math": math}
    solution = jupytext.read(ch.solution)
    for cell, source_cell in zip(nb.cells, solution.cells):
        if cell.cell_type == "code" and BEGIN in source_cell.source:
            try:
                exec(cell.source, ns)
            except NotImplementedError:
                pass  # a top-level stub; its names stay undefined
    return ns


@pytest.fixture
def solution_ns():
    return exercise_namespace("solution")


def run(ns, exercise=None, runs_dir="/nonexistent", preset="quick", at_end=False):
    learner = NamespaceLearner(ns, runs_dir, preset)
    return {c.func.__name__: chapter.run(c, learner) for c in chapter.checks
            if (exercise is None or c.exercise == exercise) and c.at_end == at_end}


def test_the_solution_passes_every_check_before_training(solution_ns):
    results = run(solution_ns)
    failed = {k: r.message for k, r in results.items() if not r.passed}
    assert not failed
    assert len(results) == len([c for c in chapter.checks if not c.at_end])


def test_the_unsolved_edition_fails_every_exercise_as_not_done():
    results = run(exercise_namespace("student"))
    assert all(r.status == "not done" for r in results.values()), \
        {k: (r.status, r.message) for k, r in results.items() if r.status != "not done"}
    assert {r.exercise for r in results.values()} == set(chapter.exercises)
    assert all(r.hint for r in results.values())


def variant(ns, **replacements):
    ns = dict(ns)
    ns.update(replacements)
    return ns


def failing(results, check):
    result = results[check]
    assert result.status == "failed", f"{check} should fail but {result.status}"
    return result


def test_valid_instead_of_same(solution_ns):
    valid = lambda x, W, b: tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="VALID") + b)
    ns = variant(solution_ns, conv_layer=valid)
    r = failing(run(ns, "conv_layer"), "conv_layer_1")
    assert "wrong shape" in r.message and "24, 24, 32" in r.got and "SAME" in r.hint
    r = failing(run(variant_forward(ns), "forward"), "forward_shapes")  # 24x24 cannot flatten to 3136
    assert "raised InvalidArgumentError: Input to reshape" in r.message and "3136" in r.message
    assert "function_node" not in r.message


def variant_forward(ns):
    """Re-run the solution's forward cell inside ``ns`` so it calls ns's (wrong) functions."""
    ch = load_book().chapter("03")
    for cell in jupytext.read(ch.solution).cells:
        if cell.cell_type == "code" and cell.source.startswith("def forward("):
            exec(cell.source, ns)
    return ns


def test_keep_prob_1_while_training(solution_ns):
    r = failing(run(variant(solution_ns, KEEP_PROB_TRAIN=1.0), "dense_dropout"), "keep_prob_values")
    assert "KEEP_PROB_TRAIN" in r.message and "dropout never happens" in r.hint


def test_softmax_before_the_cross_entropy(solution_ns):
    wrong = lambda logits, labels: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
        labels=labels, logits=tf.nn.softmax(logits)))
    r = failing(run(variant(solution_ns, loss_fn=wrong), "loss"), "loss_value")
    assert "applied softmax before the cross-entropy" in r.hint


def test_flatten_size_of_layer_one(solution_ns):
    r = failing(run(variant(solution_ns, FLATTEN_SIZE=7 * 7 * 32), "flatten"), "flatten_size")
    assert r.expected == "3136" and r.got == "1568" and "layer 1's filters" in r.hint


def test_rate_confused_with_keep_prob(solution_ns):
    wrong = lambda h, keep_prob: h if keep_prob == 1.0 else tf.nn.dropout(h, rate=keep_prob)
    r = failing(run(variant(solution_ns, dropout=wrong), "dense_dropout"), "dropout_training")
    assert "zeroed the wrong fraction" in r.message and "rate = 1 - keep_prob" in r.hint


def test_dropout_left_on_at_evaluation(solution_ns):
    wrong = lambda h, keep_prob: tf.nn.dropout(h, rate=0.5)
    r = failing(run(variant(solution_ns, dropout=wrong), "dense_dropout"), "dropout_eval")
    assert "dropout(h, keep_prob=1.0)" in r.message


def test_floor_instead_of_ceil(solution_ns):
    wrong = lambda n, window, stride, padding: (n // stride if padding == "SAME"
                                               else (n - window + 1) // stride)
    results = run(variant(solution_ns, output_size=wrong), "output_size")
    r = failing(results, "output_size_conv")
    assert "output_size(n=" in r.message and "Round up" in r.hint


def test_valid_pooling(solution_ns):
    wrong = lambda x: tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
    r = failing(run(variant(solution_ns, max_pool_2x2=wrong), "conv_layer"), "max_pool")
    assert "(2, 7, 7, 8)" in r.message and r.expected == "(2, 4, 4, 8)"


def test_transposed_reshape(solution_ns):
    wrong = lambda x: tf.transpose(tf.reshape(x, [-1, 28, 28, 1]), [0, 2, 1, 3])
    r = failing(run(variant(solution_ns, reshape_input=wrong), "reshape_input"), "reshape_input")
    assert "different values" in r.message


def test_missing_relu(solution_ns):
    wrong = lambda x, W, b: tf.nn.conv2d(x, W, strides=1, padding="SAME") + b
    r = failing(run(variant(solution_ns, conv_layer=wrong), "conv_layer"), "conv_layer_1")
    assert "negative" in r.message and "relu" in r.hint.lower()


def test_softmax_returned_as_logits(solution_ns):
    ns = variant_forward(dict(solution_ns))
    inner = ns["forward"]
    def wrong(x, params, keep_prob):
        out = dict(inner(x, params, keep_prob))
        out["logits"] = tf.nn.softmax(out["logits"])
        return out
    r = failing(run(variant(ns, forward=wrong), "forward"), "forward_values")
    assert "'logits'" in r.message


def test_error_rate_instead_of_accuracy(solution_ns):
    wrong = lambda logits, labels: 1 - solution_ns["accuracy_fn"](logits, labels)
    r = failing(run(variant(solution_ns, accuracy_fn=wrong), "accuracy"), "accuracy_value")
    assert "accuracy_fn" in r.message


def test_constants_of_the_right_shape_do_not_pass(solution_ns):
    fake = lambda x, params, keep_prob: {k: tf.zeros([int(tf.shape(x)[0]), *s])
                                         for k, s in __import__("checks.ch03", fromlist=["x"]).LAYER_SHAPES.items()}
    results = run(variant(solution_ns, forward=fake), "forward")
    assert results["forward_shapes"].passed  # the shapes alone are right ...
    failing(results, "forward_values")      # ... but the values are not
    failing(results, "forward_dropout")


def test_an_object_equal_to_everything_does_not_pass(solution_ns):
    class AlwaysEqual:
        def __eq__(self, other):
            return True
        shape = (3, 28, 28, 1)
    r = failing(run(variant(solution_ns, reshape_input=lambda x: AlwaysEqual()), "reshape_input"), "reshape_input")
    assert "not numbers" in r.message or "not a tensor" in r.message
    r = failing(run(variant(solution_ns, FLATTEN_SIZE=AlwaysEqual()), "flatten"), "flatten_size")


def test_a_checkpoint_with_other_names(solution_ns, tmp_path):
    wrong = lambda params, prefix: tf.train.Checkpoint(weights=list(params.values())).write(prefix)
    r = failing(run(variant(solution_ns, save_checkpoint=wrong), "checkpoint", runs_dir=tmp_path),
                "checkpoint_roundtrip")
    assert "W_conv1: missing" in r.message


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
def test_the_trained_checkpoint_passes_and_matches_the_reported_accuracy(trained_checkpoint_03):
    runs = trained_checkpoint_03.parent.parent
    assert run({}, "checkpoint", runs_dir=runs, at_end=True)["checkpoint_accuracy"].passed
    import json
    metrics = json.loads((runs / "ch03" / "metrics.json").read_text())
    metrics["test_accuracy"] -= 0.01  # a notebook that reports a number it did not measure
    (runs / "ch03" / "metrics.json").write_text(json.dumps(metrics))
    try:
        r = failing(run({}, "checkpoint", runs_dir=runs, at_end=True), "checkpoint_accuracy")
        assert "differs from the checkpoint's" in r.message
    finally:
        metrics["test_accuracy"] += 0.01
        (runs / "ch03" / "metrics.json").write_text(json.dumps(metrics))
