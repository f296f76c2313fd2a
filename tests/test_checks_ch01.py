"""Chapter 01's checks, proven: the solution passes, the unsolved edition fails every exercise
as not done, each wrong variant fails the right check with an actionable message, and correct
variants written differently from the solution pass. Most tests run the checks in-process on
the chapter's code without its training (tests/chapters.py, fast); two slow ones grade whole
notebooks in a real fresh kernel."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from checks.ch01 import chapter, load, scalars
from checks.engine import NamespaceLearner
from tfbook.manifest import ROOT
from chapters import chapter_namespace, fake_runs_01 as fake_runs, run_01 as run
from helpers import failing, passing, variant


# --- the editions ------------------------------------------------------------------------


def test_the_solution_passes_every_check_before_training(solution_01):
    results = passing(run(solution_01))
    assert len(results) == len([c for c in chapter.checks if not c.at_end])
    assert len(chapter.exercises) >= 7


def test_the_unsolved_edition_fails_every_exercise_as_not_done(runs):
    results = run(chapter_namespace("01", "student", runs))
    assert all(r.status == "not done" for r in results.values()), {
        k: (r.status, r.message) for k, r in results.items() if r.status != "not done"
    }
    assert {r.exercise for r in results.values()} == set(chapter.exercises)
    assert all(r.hint for r in results.values())
    # a prediction's hint waits for a first guess; every other exercise shows its first step
    assert all(
        r.hint == chapter.exercises[r.exercise].hint
        for r in results.values()
        if not chapter.exercises[r.exercise].prediction
    )


# --- 1.1 log_scalars ---------------------------------------------------------------------


def _as(ns, writer_style):
    writer_for = ns["writer_for"]

    def log_scalars(log_dir, step, loss, accuracy):
        writer = writer_for(log_dir)
        if writer_style == "as_default_step":
            with writer.as_default(step=step):
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("accuracy", accuracy)
        elif writer_style == "set_step":
            tf.summary.experimental.set_step(step)
            with writer.as_default():
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("accuracy", accuracy)
            writer.flush()
        elif writer_style == "step_zero":
            with writer.as_default():
                tf.summary.scalar("loss", loss, step=0)
                tf.summary.scalar("accuracy", accuracy, step=0)
        elif writer_style == "no_step":
            with writer.as_default():
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("accuracy", accuracy)
        elif writer_style == "never_flushed":
            writer.set_as_default()
            tf.summary.scalar("loss", loss, step=step)
            tf.summary.scalar("accuracy", accuracy, step=step)
        elif writer_style == "other_tags":
            with writer.as_default(step=step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/accuracy", accuracy)
        elif writer_style == "swapped":
            with writer.as_default(step=step):
                tf.summary.scalar("loss", accuracy)
                tf.summary.scalar("accuracy", loss)

    return log_scalars


@pytest.mark.parametrize("style", ["as_default_step", "set_step"])
def test_log_scalars_written_differently_passes(solution_01, style):
    try:
        passing(run(variant(solution_01, log_scalars=_as(solution_01, style)), "log_scalars"))
    finally:
        tf.summary.experimental.set_step(None)


def test_log_scalars_every_point_at_step_zero(solution_01):
    r = failing(
        run(variant(solution_01, log_scalars=_as(solution_01, "step_zero")), "log_scalars"), "log_scalars_values"
    )
    assert "landed at step 0" in r.message and r.got == "steps [0, 0]" and "step=step" in r.hint


def test_log_scalars_without_any_step(solution_01):
    r = failing(run(variant(solution_01, log_scalars=_as(solution_01, "no_step")), "log_scalars"), "log_scalars_values")
    assert "raised ValueError" in r.message and "No step set" in r.message


def test_log_scalars_never_flushed(solution_01):
    try:
        r = failing(
            run(variant(solution_01, log_scalars=_as(solution_01, "never_flushed")), "log_scalars"),
            "log_scalars_values",
        )
    finally:
        tf.summary.SummaryWriter  # noqa: B018 (the default writer stays set in this process: reset it)
        from tensorflow.python.ops import summary_ops_v2

        summary_ops_v2._summary_state.writer = None
    assert "still in the writer's memory" in r.message and "flush" in r.hint


def test_log_scalars_under_other_tags(solution_01):
    r = failing(
        run(variant(solution_01, log_scalars=_as(solution_01, "other_tags")), "log_scalars"), "log_scalars_values"
    )
    assert "no scalar tagged 'loss' or 'accuracy'" in r.message and "train/loss" in r.got


def test_log_scalars_swapped(solution_01):
    r = failing(run(variant(solution_01, log_scalars=_as(solution_01, "swapped")), "log_scalars"), "log_scalars_values")
    assert "'loss' values read back" in r.message


# --- 1.2 log_histograms, 1.3 log_graph -----------------------------------------------------


def test_histograms_of_one_layer_only(solution_01):
    writer_for = solution_01["writer_for"]

    def first_layer_only(log_dir, step, params):
        with writer_for(log_dir).as_default(step=step):
            tf.summary.histogram("w_h", params["w_h"])

    r = failing(
        run(variant(solution_01, log_histograms=first_layer_only), "log_histograms"), "log_histograms_every_tensor"
    )
    assert "but not for ['b_h', 'w_h2', 'b_h2', 'w_o', 'b_o']" in r.message and "weights and biases" in r.hint


def test_histograms_of_weights_only(solution_01):
    writer_for = solution_01["writer_for"]

    def weights_only(log_dir, step, params):
        with writer_for(log_dir).as_default(step=step):
            for name, value in params.items():
                if name.startswith("w"):
                    tf.summary.histogram(name, value)

    r = failing(run(variant(solution_01, log_histograms=weights_only), "log_histograms"), "log_histograms_every_tensor")
    assert "['b_h', 'b_h2', 'b_o']" in r.message


# --- 1.4 run_log_dir ---------------------------------------------------------------------


def test_both_runs_in_one_folder(solution_01):
    import tfbook

    same = lambda name: str(tfbook.run_dir("01", "logs"))
    r = failing(run(variant(solution_01, run_log_dir=same), "run_log_dir"), "run_log_dir_layout")
    assert "same folder" in r.message and "merge" in r.message


def test_a_hand_written_path(solution_01):
    r = failing(
        run(variant(solution_01, run_log_dir=lambda name: f"runs/ch01/logs/{name}"), "run_log_dir"),
        "run_log_dir_layout",
    )
    assert "TFBOOK_RUNS" in r.hint


# --- 1.5 the prediction ------------------------------------------------------------------


@pytest.mark.parametrize(
    "guess, direction, how_far",
    [
        (1.0, "too low", "roughly 2"),
        (0.1, "too low", "roughly 20"),
        (10.0, "too high", "roughly 4"),
        (2.0, "too low", "off by less than a quarter"),
        (-2.3, "too low", "wrong side of zero"),
    ],
)
def test_a_wrong_prediction_says_which_way_and_how_far_but_not_the_answer(solution_01, guess, direction, how_far):
    r = failing(run(variant(solution_01, PREDICTED_INITIAL_LOSS=guess), "predict_initial_loss"), "prediction_close")
    assert direction in r.message and how_far in r.message and r.got.startswith(f"{guess:.4g}")
    shown = " ".join((r.message, r.expected, r.got, r.hint))
    assert "2.3" not in shown.replace("-2.3 ", "") and "log(10)" not in shown and "ln" not in shown.split()


def test_the_prediction_gives_no_hint_before_a_first_guess(runs):
    r = run(chapter_namespace("01", "student", runs), "predict_initial_loss")["prediction_close"]
    assert r.status == "not done" and "first" in r.hint and "log" not in r.hint and "probab" not in r.hint


def test_inline_hints_come_in_steps_and_only_after_a_guess(solution_01, capsys):
    """Before a guess: no hint. First wrong guess: the idea. Second: the next step. Right: none."""
    from checks.engine import PREDICTION_FIRST
    from checks.ch01 import chapter

    ex = chapter.exercises["predict_initial_loss"]
    said = []
    for guess in (Ellipsis, 1.5, 1.6, 2.3):
        solution_01["PREDICTED_INITIAL_LOSS"] = guess
        solution_01["check"]("predict_initial_loss")
        said.append(" ".join(capsys.readouterr().out.split()))  # unwrapped
    before, first, second, right = said
    assert "TODO" in before and PREDICTION_FIRST in before and ex.hint not in before
    assert "too low" in first and ex.hint in first and ex.next_hints[0] not in first
    assert f"next hint: {ex.next_hints[0]}" in second
    assert "PASS" in right and "hint" not in right


# --- 1.6 read_scalars --------------------------------------------------------------------


def _events(log_dir):
    return [
        e
        for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*")))
        for e in tf.compat.v1.train.summary_iterator(path)
    ]


def reader_summary_iterator(log_dir, tag):
    points = sorted(
        (e.step, float(tf.make_ndarray(v.tensor))) for e in _events(log_dir) for v in e.summary.value if v.tag == tag
    )
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def reader_event_file_loader(log_dir, tag):
    from tensorboard.backend.event_processing import event_file_loader

    steps, values = [], []
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    steps.append(event.step)
                    values.append(float(tf.make_ndarray(value.tensor)))
    order = np.argsort(steps, kind="stable")
    return np.array(steps)[order], np.array(values)[order]


@pytest.mark.parametrize("reader", [reader_summary_iterator, reader_event_file_loader])
def test_readers_written_differently_pass(solution_01, reader):
    passing(run(variant(solution_01, read_scalars=reader), "read_scalars"))


def test_a_reader_that_drops_the_first_point(solution_01):
    def wrong(log_dir, tag):
        steps, values = reader_summary_iterator(log_dir, tag)
        return steps[1:], values[1:]

    r = failing(run(variant(solution_01, read_scalars=wrong), "read_scalars"), "read_scalars_one_file")
    assert "first point is missing" in r.hint


def test_a_reader_that_mixes_tags(solution_01):
    def wrong(log_dir, tag):  # every scalar of the file, whatever its tag
        points = sorted(
            (e.step, float(tf.make_ndarray(v.tensor)))
            for e in _events(log_dir)
            for v in e.summary.value
            if v.metadata.plugin_data.plugin_name == "scalars" or v.tensor.tensor_shape.dim == []
        )
        return np.array([p[0] for p in points]), np.array([p[1] for p in points])

    r = failing(run(variant(solution_01, read_scalars=wrong), "read_scalars"), "read_scalars_one_file")
    assert "Keep only" in r.hint


def test_a_reader_that_keeps_the_default_sample(solution_01):
    from tensorboard.backend.event_processing import event_accumulator

    def wrong(log_dir, tag):
        acc = event_accumulator.EventAccumulator(log_dir)
        acc.Reload()
        events = acc.Tensors(tag)
        return np.array([e.step for e in events]), np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events])

    r = failing(run(variant(solution_01, read_scalars=wrong), "read_scalars"), "read_scalars_one_file")
    assert r.got == "10 points" and "size_guidance" in r.hint


def test_a_reader_of_the_first_file_only(solution_01):
    def wrong(log_dir, tag):
        first = sorted(Path(log_dir).glob("events.out.tfevents.*"))[0]
        points = sorted(
            (e.step, float(tf.make_ndarray(v.tensor)))
            for e in tf.compat.v1.train.summary_iterator(str(first))
            for v in e.summary.value
            if v.tag == tag
        )
        return np.array([p[0] for p in points]), np.array([p[1] for p in points])

    results = run(variant(solution_01, read_scalars=wrong), "read_scalars")
    assert results["read_scalars_one_file"].passed
    assert "several event files" in failing(results, "read_scalars_two_files").hint


def test_a_first_file_of_exactly_ten_points_is_still_named_as_one_file(solution_01, monkeypatch):
    """CI once drew a first file of 10 points and blamed EventAccumulator's sample of 10."""
    import checks.ch01 as ch01

    def ten_in_the_first_file(seed=None):
        for s in range(10_000):
            probe = np.random.default_rng(s)
            probe.integers(100, 999), probe.integers(100, 999)
            n = int(probe.integers(14, 40))
            probe.integers(1, 50, n), probe.integers(0, 3), probe.standard_normal(n), probe.uniform(0.1, 100)
            probe.standard_normal(n)
            if int(probe.integers(3, n - 3)) == 10:
                return np.random.default_rng(s)
        raise AssertionError("no seed gives a first file of 10 points")

    monkeypatch.setattr(ch01, "_rng", ten_in_the_first_file)

    def first_file_only(log_dir, tag):
        first = next(Path(log_dir).glob("events.out.tfevents.*.grader0"))  # the file written first
        points = sorted(
            (e.step, float(tf.make_ndarray(v.tensor)))
            for e in tf.compat.v1.train.summary_iterator(str(first))
            for v in e.summary.value
            if v.tag == tag
        )
        return np.array([p[0] for p in points]), np.array([p[1] for p in points])

    r = failing(run(variant(solution_01, read_scalars=first_file_only), "read_scalars"), "read_scalars_two_files")
    assert r.got == "10 points" and "several event files" in r.hint


# --- 1.7 dead units ----------------------------------------------------------------------


def test_dead_fraction_written_with_tensorflow_passes(solution_01):
    tf_style = lambda h: tf.reduce_mean(tf.cast(tf.reduce_all(tf.equal(h, 0), axis=0), tf.float32))
    passing(run(variant(solution_01, dead_fraction=tf_style), "dead_units"))


def test_the_fraction_of_zero_outputs_is_not_dead_units(solution_01):
    r = failing(
        run(variant(solution_01, dead_fraction=lambda h: float(np.mean(np.asarray(h) == 0))), "dead_units"),
        "dead_fraction_values",
    )
    assert "fraction of zero outputs" in r.hint


# --- the end-of-notebook checks, on event files made here (no training) -------------------


def test_merged_runs_fail(solution_01, runs, smoke_01):
    r = failing(
        run(solution_01, "run_log_dir", fake_runs(solution_01, runs, smoke_01, merged=True), at_end=True),
        "runs_on_disk",
    )
    assert "several loss points at the same step" in r.message


def test_events_directly_in_the_parent_folder_fail(solution_01, runs, smoke_01):
    r = failing(
        run(solution_01, "run_log_dir", fake_runs(solution_01, runs, smoke_01, loose=True), at_end=True), "runs_on_disk"
    )
    assert "run called '.'" in r.message


def test_two_identical_runs_fail(solution_01, runs, smoke_01):
    r = failing(
        run(solution_01, "run_log_dir", fake_runs(solution_01, runs, smoke_01, same_curves=True), at_end=True),
        "runs_on_disk",
    )
    assert "same loss curve" in r.message


def test_runs_ending_at_their_saved_networks_pass_the_scalar_checks(solution_01, runs, smoke_01):
    results = run(solution_01, runs_dir=fake_runs(solution_01, runs, smoke_01), at_end=True)
    for check in ("scalars_in_runs", "runs_on_disk", "prediction_vs_run"):
        assert results[check].passed, results[check].message


def test_events_written_without_training_fail(solution_01, runs, smoke_01):
    """Curves falling on schedule, written with the summary API alone: their last loss is not the
    loss of the network saved for the run, which the grader recomputes."""
    r = failing(
        run(solution_01, "log_scalars", fake_runs(solution_01, runs, smoke_01, by_hand=True), at_end=True),
        "scalars_in_runs",
    )
    assert "was not written by the training" in r.message and "Run the notebook from the top" in r.hint


def test_a_run_without_its_saved_network_fails(solution_01, runs, smoke_01):
    import shutil

    fake_runs(solution_01, runs, smoke_01)
    shutil.rmtree(runs / "ch01" / "checkpoints" / "2nd")
    r = failing(run(solution_01, "log_scalars", runs, at_end=True), "scalars_in_runs")
    assert "no saved weights of run '2nd'" in r.message


def test_the_graders_probe_loss_is_the_chapters(solution_01):
    from checks.ch01 import probe_loss

    ns = solution_01
    for params, forward in (
        (ns["fc_params"](3), ns["fc_forward"]),
        (ns["demo_params"](0.05, 3), ns["demo_forward"]),
        (ns["demo_params"](1.0, 3), ns["demo_forward"]),
    ):
        chapters = float(ns["loss_fn"](forward(ns["probe_x"], params)["logits"], ns["probe_t"]))
        graders = probe_loss({k: v.numpy() for k, v in params.items()})
        assert abs(graders - chapters) <= 1e-4 * max(1.0, chapters), (graders, chapters)


def test_missing_runs_say_which_cell_makes_them(solution_01, runs):
    r = failing(run(solution_01, "log_scalars", runs, at_end=True), "scalars_in_runs")
    assert "no event files for run '1st'" in r.message and "Run the cell" in r.hint


def test_a_rising_loss_fails(solution_01, runs, smoke_01):
    fake_runs(solution_01, runs, smoke_01)
    from checks.ch01 import scalars_in_runs
    from checks.engine import CheckFailed

    for name in ("1st", "2nd"):  # the same runs, every loss reversed
        folder = Path(solution_01["run_log_dir"](name))
        acc = load(folder)
        steps, losses = scalars(acc, "loss")
        solution_01["reset_run"](folder)
        for step, loss in zip(steps, losses[::-1]):
            solution_01["log_scalars"](str(folder), int(step), float(loss), 0.5)
    with pytest.raises(CheckFailed, match="the loss did not go down"):
        scalars_in_runs(NamespaceLearner(solution_01, runs, "smoke"))


# --- whole notebooks in a real kernel ------------------------------------------------------


@pytest.fixture(scope="session")
def solution_grade_01(tmp_path_factory):
    from checks.grader import grade_notebook

    keep = tmp_path_factory.mktemp("ch01-runs")
    return grade_notebook("01", ROOT / "solutions" / "01_tensorboard.ipynb", preset="quick", keep_runs=keep), keep


@pytest.mark.slow
def test_the_solution_notebook_passes_every_check_in_a_fresh_kernel(solution_grade_01):
    grade, runs = solution_grade_01
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    failed = {r.check: (r.message, r.expected, r.got) for r in grade.results if not r.passed}
    assert not failed
    metrics = json.loads((runs / "ch01" / "metrics.json").read_text())
    assert metrics["initial_loss_demo_bad"] > 100 and abs(metrics["initial_loss_1st"] - 2.3026) < 0.1
    assert metrics["final_loss_2nd"] < metrics["final_loss_1st"] < metrics["initial_loss_1st"]
    assert 0 < metrics["dead_fraction_bad"] < 1 and metrics["dead_fraction_bad_h2"] > 0.95
    assert sorted(p.name for p in (runs / "ch01" / "logs").iterdir()) == ["1st", "2nd", "demo-bad", "demo-good"]


@pytest.mark.slow
def test_the_unsolved_notebook_scores_nothing_in_a_fresh_kernel():
    from checks.grader import grade_notebook

    grade = grade_notebook("01", ROOT / "chapters" / "01_tensorboard.ipynb", preset="smoke")
    assert not grade.stopped
    assert all(not r.passed for r in grade.results)
    early = [r for r in grade.results if not next(c for c in chapter.checks if c.id == r.check).at_end]
    assert all(r.status == "not done" and r.hint for r in early), [(r.check, r.status, r.message) for r in early]


def test_share_at_zero_reads_both_histogram_shapes():
    from checks.ch01 import share_at_zero
    from tensorboard.plugins.histogram import summary_v2
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        writer = tf.summary.create_file_writer(d)
        relu = np.maximum(np.random.default_rng(1).standard_normal(1000), 0)
        with writer.as_default(step=0):
            summary_v2.histogram("dead", tf.zeros([200, 50]))
            summary_v2.histogram("alive", relu)
        writer.close()
        from checks.ch01 import histograms

        acc = load(Path(d))
        assert share_at_zero(histograms(acc, "dead")[1][0]) == 1.0
        assert 0.45 < share_at_zero(histograms(acc, "alive")[1][0]) < 0.6


def test_tfbook_hint_shows_every_step(capsys):
    import argparse
    from booktools.cli import cmd_hint

    assert cmd_hint(argparse.Namespace(chapter="01", exercise="read_scalars")) == 0
    out = capsys.readouterr().out
    ex = chapter.exercises["read_scalars"]
    assert f"hint: {ex.hint}" in out and f"next hint: {ex.next_hints[0]}" in out
