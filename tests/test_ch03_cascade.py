"""Chapter 03: one mistake is charged once, to its own exercise (tracker #22).

forward (3.6) chains the functions of 3.1-3.5, and the training cells chain forward. Three usual
slips used to fail several exercises: NumPy inside reshape_input (3.1) also failed forward and
the trained checkpoint (3.9); conv stride 2 in conv_layer (3.3) also zeroed forward although
forward's own code was the solution's; keep_prob at evaluation (3.5) also failed the checkpoint,
with a hint about saving other variables. The checks of the later exercises now report "not
checked" (points kept) when an earlier exercise's failing function explains their failure.
Everything runs in-process on the exercise cells; nothing trains.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import tfbook.data
from checks import reference
from checks.ch03 import chapter
from checks.engine import summary
from chapters import run_03 as run, variant_forward_03 as variant_forward
from helpers import variant


def numpy_reshape(x):
    return np.reshape(x, (-1, 28, 28, 1))  # fine eagerly, fails inside the traced training step


def conv_stride_2(x, W, b):
    return tf.nn.relu(tf.nn.conv2d(x, W, strides=2, padding="SAME") + b)


def dropout_always_on(h, keep_prob):
    return tf.nn.dropout(h, rate=0.5)  # drops even at keep_prob 1.0 (evaluation)


MISTAKES = {  # the wrong notebook's functions, and the one exercise that mistake belongs to
    "np.reshape in reshape_input": ("reshape_input", dict(reshape_input=numpy_reshape)),
    "conv stride 2": ("conv_layer", dict(conv_layer=conv_stride_2)),
    "KEEP_PROB_EVAL 0.5": ("dense_dropout", dict(KEEP_PROB_EVAL=0.5)),
    "dropout on at evaluation": ("dense_dropout", dict(dropout=dropout_always_on)),
}


def wrong_notebook(solution_03, replacements) -> dict:
    """The solution with some functions replaced, and forward defined again among them (as the
    learner's own forward reads the learner's own functions)."""
    return variant_forward(variant(solution_03, **replacements))


def assert_charged_once(results: dict, exercise: str) -> None:
    wrong = {name: r.status for name, r in results.items() if r.exercise != exercise and not r.passed}
    assert not wrong, {name: results[name].message for name in wrong}
    own = [r for r in results.values() if r.exercise == exercise]
    assert any(r.status == "failed" for r in own)
    s = summary(list(results.values()))
    assert s["exercises_passed"] == [e for e in chapter.exercises if e != exercise]


@pytest.mark.parametrize("label", sorted(MISTAKES))
def test_a_mistake_costs_its_own_exercise_only(solution_03, label, tmp_path):
    exercise, replacements = MISTAKES[label]
    results = run(wrong_notebook(solution_03, replacements), runs_dir=tmp_path)
    assert_charged_once(results, exercise)


def test_forward_is_not_checked_when_reshape_input_uses_numpy(solution_03, tmp_path):
    results = run(wrong_notebook(solution_03, MISTAKES["np.reshape in reshape_input"][1]), runs_dir=tmp_path)
    assert "inside tf.function" in results["reshape_input"].message
    for name in ("forward_shapes", "forward_dropout"):  # both trace forward, as training does
        r = results[name]
        assert r.status == "not checked" and r.earned == r.points, (name, r.status, r.message)
        assert r.message.startswith("could not be checked because exercise 3.1 (reshape_input) fails its own checks")
        assert "with the grader's reshape_input in place of yours, your forward passes" in r.message
    assert results["forward_values"].status == "passed"  # eager: NumPy works there


def test_forward_is_not_checked_when_conv_layer_has_stride_2(solution_03, tmp_path):
    results = run(wrong_notebook(solution_03, MISTAKES["conv stride 2"][1]), runs_dir=tmp_path)
    assert results["conv_layer_1"].status == "failed"
    for name in ("forward_shapes", "forward_values", "forward_dropout"):
        r = results[name]
        assert r.status == "not checked" and "exercise 3.3 (conv_layer)" in r.message, (name, r.message)
        assert "conv_layer, max_pool_2x2" in r.message


def test_forwards_own_mistake_is_still_charged_beside_an_earlier_one(solution_03, tmp_path):
    ns = wrong_notebook(solution_03, dict(conv_layer=conv_stride_2))
    inner = ns["forward"]

    def softmax_logits(x, params, keep_prob):  # forward's own slip, besides 3.3's
        out = dict(inner(x, params, keep_prob))
        out["logits"] = tf.nn.softmax(out["logits"])
        return out

    ns["forward"] = softmax_logits  # in the same namespace: inner reads its functions from there
    results = run(ns, runs_dir=tmp_path)
    r = results["forward_values"]
    assert r.status == "failed" and "'logits'" in r.message
    assert r.message.startswith("(checked with the grader's conv_layer, max_pool_2x2 in place of yours")
    assert results["forward_shapes"].status == "not checked"  # its shapes are right


def test_the_learners_own_functions_are_put_back(solution_03, tmp_path):
    ns = wrong_notebook(solution_03, dict(conv_layer=conv_stride_2))
    run(ns, "forward", runs_dir=tmp_path)
    assert ns["conv_layer"] is conv_stride_2 and ns["max_pool_2x2"] is solution_03["max_pool_2x2"]
    assert "_tfbook_own_pieces" not in ns


def test_a_forward_that_is_not_written_stays_not_done(solution_03, tmp_path):
    def stub(x, params, keep_prob):
        raise NotImplementedError("Exercise 3.6")

    ns = variant(wrong_notebook(solution_03, dict(conv_layer=conv_stride_2)), forward=stub)
    results = run(ns, "forward", runs_dir=tmp_path)
    assert {r.status for r in results.values()} == {"not done"}
    assert all("grader's" not in r.message for r in results.values())


# --- the trained checkpoint (3.9, at the end of the notebook) ---------------------------------


@pytest.mark.parametrize("label", ["np.reshape in reshape_input", "conv stride 2"])
def test_no_checkpoint_because_training_failed_names_the_cause(solution_03, label, tmp_path):
    """Both mistakes stop the traced training step, so the notebook saves no checkpoint."""
    exercise, replacements = MISTAKES[label]
    r = run(wrong_notebook(solution_03, replacements), "checkpoint", runs_dir=tmp_path, at_end=True)[
        "checkpoint_accuracy"
    ]
    number = chapter.exercises[exercise].number
    # named as the cause, but no points: nothing shows a trained network (breaking a cheaper
    # exercise on purpose must not buy the checkpoint's points)
    assert r.status == "failed" and r.earned == 0, r.message
    assert f"need exercise {number} ({exercise}), which fails its own checks" in r.message, r.message
    assert "no checkpoint" in r.message and f"Fix exercise {number}" in r.hint


def test_no_checkpoint_with_save_checkpoint_wrong_is_3_9s_own(solution_03, tmp_path):
    wrong_save = lambda params, prefix: tf.train.Checkpoint(weights=list(params.values())).write(str(prefix))
    ns = wrong_notebook(solution_03, dict(conv_layer=conv_stride_2, save_checkpoint=wrong_save))
    r = run(ns, "checkpoint", runs_dir=tmp_path, at_end=True)["checkpoint_accuracy"]
    assert r.status == "failed" and "no checkpoint" in r.message


@pytest.fixture
def good_checkpoint(tmp_path, monkeypatch):
    """A checkpoint the grader measures at 99.1% (the measurement is faked: nothing trains),
    and metrics.json with the accuracy the notebook reported, set by the test."""
    directory = tmp_path / "ch03" / "checkpoint"
    params = {k: tf.Variable(v) for k, v in reference.random_params(1).items()}
    tf.train.Checkpoint(**params).write(str(directory / "cnn"))
    empty = tfbook.data.Mnist(*(np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)) * 2, source="test")
    monkeypatch.setattr(tfbook.data, "load_mnist", lambda: empty)
    monkeypatch.setattr(reference, "evaluate", lambda params, images, labels: 0.991)

    def reported(accuracy: float):
        (directory.parent / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
        return tmp_path

    return reported


@pytest.mark.parametrize("label", ["KEEP_PROB_EVAL 0.5", "dropout on at evaluation"])
def test_dropout_at_evaluation_is_charged_to_3_5_not_3_9(solution_03, good_checkpoint, label):
    runs_dir = good_checkpoint(0.975)  # evaluate() ran with dropout on: a weaker network
    ns = wrong_notebook(solution_03, MISTAKES[label][1])
    r = run(ns, "checkpoint", runs_dir=runs_dir, at_end=True)["checkpoint_accuracy"]
    assert r.status == "not checked" and r.earned == r.points, r.message
    assert "exercise 3.5 (dense_dropout) fails its own checks" in r.message
    assert "evaluated with dropout on" in r.message and "Save the same variables" not in r.message


def test_a_lower_reported_accuracy_gets_the_dropout_hint(solution_03, good_checkpoint):
    """Every exercise right, yet evaluate() reported less: the hint is about dropout."""
    runs_dir = good_checkpoint(0.975)
    r = run(solution_03, "checkpoint", runs_dir=runs_dir, at_end=True)["checkpoint_accuracy"]
    assert r.status == "failed" and "lower" in r.message
    assert "KEEP_PROB_EVAL" in r.hint and "Save the same variables" not in r.hint


def test_a_higher_reported_accuracy_still_asks_for_the_evaluated_variables(solution_03, good_checkpoint):
    runs_dir = good_checkpoint(0.995)
    r = run(solution_03, "checkpoint", runs_dir=runs_dir, at_end=True)["checkpoint_accuracy"]
    assert r.status == "failed" and "Save the same variables you evaluated" in r.hint
    assert run(solution_03, "checkpoint", runs_dir=good_checkpoint(0.991), at_end=True)["checkpoint_accuracy"].passed
