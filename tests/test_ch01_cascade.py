"""Chapter 01: one mistake in run_log_dir (1.4) is charged once, to 1.4.

Every training used to need runs/ch01/logs/NAME, so a run_log_dir that put every run in one
folder failed five other exercises' end-of-notebook checks with "no event files for run '1st'"
(17/31 points, 1/7 exercises, for one slip). The checks now read each run where the learner's
run_log_dir puts it, and report "could not be checked" (points kept) when it cannot tell the runs
apart, as long as the exercise's own direct checks pass. Event files are written here with the
solution's functions; nothing trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

import tfbook
from checks.ch01 import chapter
from checks.engine import NamespaceLearner, summary
from chapters import fake_runs_01 as fake_runs
from helpers import variant

AT_END_OF_OTHERS = ("scalars_in_runs", "histograms_in_runs", "graph_in_run", "prediction_vs_run", "bad_run_histograms")


def grade(ns, runs_dir) -> dict:
    learner = NamespaceLearner(ns, runs_dir, "smoke")
    return {c.func.__name__: chapter.run(c, learner) for c in chapter.checks}


def with_bad_network(ns, runs_dir: Path) -> dict:
    """The saved demo-bad weights and DEAD_FRACTION_BAD, as the notebook's last cells leave them
    (untrained weights: 1.7's at-end check only compares the two)."""
    params = ns["demo_params"](1.0, 7)
    tf.train.Checkpoint(**params).write(str(runs_dir / "ch01" / "checkpoints" / "demo-bad" / "params"))
    fraction = ns["dead_fraction"](ns["demo_forward"](ns["probe_x"], params)["h"])
    return variant(ns, DEAD_FRACTION_BAD=fraction)


def every_run_in_one_folder(ns, runs_dir, settings, **more) -> dict:
    one_folder = lambda name: str(tfbook.run_dir("01", "logs"))
    learner_ns = with_bad_network(variant(ns, run_log_dir=one_folder, **more), runs_dir)
    fake_runs(learner_ns, runs_dir, settings)  # 1st and 2nd, both into that one folder
    return learner_ns


def test_one_folder_for_every_run_costs_run_log_dir_only(solution_01, runs, smoke_01):
    results = grade(every_run_in_one_folder(solution_01, runs, smoke_01), runs)
    assert results["run_log_dir_layout"].status == "failed" and results["runs_on_disk"].status == "failed"
    for name in AT_END_OF_OTHERS:
        r = results[name]
        assert r.status == "not checked" and r.earned == r.points, (name, r.status, r.message)
        assert r.message.startswith("could not be checked because exercise 1.4 (run_log_dir)")
        assert "same folder" in r.message
    s = summary(list(results.values()))
    lost = sum(r.points for r in results.values() if r.exercise == "run_log_dir")
    assert s["earned"] == s["points"] - lost
    assert s["exercises_passed"] == [e for e in chapter.exercises if e != "run_log_dir"]


def test_a_blocked_check_gives_nothing_when_its_own_exercise_is_not_done(solution_01, runs, smoke_01):
    def not_written(log_dir, step, loss, accuracy):
        raise NotImplementedError("Exercise 1.1")

    ns = every_run_in_one_folder(solution_01, runs, smoke_01)
    results = grade(variant(ns, log_scalars=not_written), runs)
    r = results["scalars_in_runs"]
    assert r.status == "not done" and r.earned == 0 and "could not be checked because" in r.message
    assert results["prediction_vs_run"].status == "not checked"  # 1.5's own check passes


def test_runs_are_read_where_run_log_dir_put_them(solution_01, runs, smoke_01):
    elsewhere = lambda name: str(tfbook.run_dir("01", "elsewhere", name))
    ns = variant(solution_01, run_log_dir=elsewhere)
    results = grade(ns, fake_runs(ns, runs, smoke_01))
    assert results["scalars_in_runs"].status == "passed", results["scalars_in_runs"].message
    assert results["prediction_vs_run"].status == "passed", results["prediction_vs_run"].message
    assert results["run_log_dir_layout"].status == "failed"  # 1.4 itself still says where they belong
    missing = results["histograms_in_runs"]  # the demo runs were never written: a plain failure
    assert missing.status == "failed" and "runs/ch01/elsewhere/demo-good" in missing.message


def test_the_report_says_why_a_check_was_skipped(solution_01, runs, smoke_01):
    from checks.report import format_results

    text = format_results(list(grade(every_run_in_one_folder(solution_01, runs, smoke_01), runs).values()))
    skipped = [line for line in text.splitlines() if line.lstrip().startswith("SKIP")]
    assert len(skipped) == len(AT_END_OF_OTHERS) and "could not be checked because" in text
    assert np.all(["3/3" in line or "2/2" in line or "1/1" in line for line in skipped])
