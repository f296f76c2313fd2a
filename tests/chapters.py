"""The chapters' own code in the tests: the checks of a chapter run in-process on a namespace
that tfbook.chapter_code loaded (conftest.py's fixtures solution_01, solution_03 and
solution_04; chapter_namespace("02")), and the per-chapter helpers that several test modules share. Import with
``from chapters import ...`` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from checks.engine import NamespaceLearner
from helpers import variant
from tfbook.chapter_code import Cell, load_chapter, redefine, run_cell

# The part of each chapter the tests load (tfbook/chapter_code.py): chapter 01's checks read the
# lesson's networks and probe batch, chapters 02, 03 and 04 test their exercises alone (fast;
# chapter 02's without its logging service and servers, which every check starts for itself).
PARTS = {"01": "lesson", "02": "exercises", "03": "exercises", "04": "exercises"}


def chapter_namespace(chapter_id: str, edition: str = "solution", runs: Path | None = None) -> dict:
    """A fresh namespace of the chapter's code (its part in PARTS, no training) of `edition`."""
    return load_chapter(chapter_id, edition, PARTS[chapter_id], runs=runs).namespace


def run_checks(chapter, ns, exercise=None, runs_dir=None, preset="quick", at_end=False) -> dict:
    """Each check of ``chapter`` (of ``exercise``, or of every exercise) on ``ns``: {name: result}."""
    learner = NamespaceLearner(ns, runs_dir, preset)
    return {
        c.func.__name__: chapter.run(c, learner)
        for c in chapter.checks
        if (exercise is None or c.exercise == exercise) and c.at_end == at_end
    }


# --- chapter 01 ------------------------------------------------------------------------------


def run_01(ns, exercise=None, runs_dir=None, preset="smoke", at_end=False) -> dict:
    from checks.ch01 import chapter
    from tfbook.paths import runs_root

    return run_checks(chapter, ns, exercise, runs_dir or runs_root(), preset, at_end)


def fake_runs_01(
    ns, runs: Path, settings: dict, *, loose=False, merged=False, same_curves=False, by_hand=False
) -> Path:
    """runs/ch01/logs as the notebook leaves it, written with the solution's own functions, and the
    networks the notebook saves for 1st and 2nd (untrained ones here: each curve ends at its
    network's probe loss, as a real run's does). by_hand: curves that fall on schedule whatever
    the saved networks are (events written with the summary API alone, no training)."""
    log_scalars = ns["log_scalars"]
    for index, name in enumerate(("1st", "2nd")):
        params = ns["fc_params"](0 if same_curves else index)
        tf.train.Checkpoint(**params).write(str(runs / "ch01" / "checkpoints" / name / "params"))
        end = float(ns["loss_fn"](ns["fc_forward"](ns["probe_x"], params)["logits"], ns["probe_t"]))
        folder = ns["run_log_dir"](name)
        last = settings["fc_steps"]
        for step in range(0, last + 1, settings["scalar_every"]):
            rate = 0.002 if same_curves else 0.002 * (1 + 4 * index)
            loss = (
                2.3 * float(np.exp(-rate * step)) + 0.05
                if by_hand
                else end + 0.5 * float(np.exp(-rate * step) - np.exp(-rate * last))
            )
            log_scalars(folder, step, loss, 0.1 + step / 1e4)
    if merged:  # a second training written into 1st's folder
        other = str(Path(ns["run_log_dir"]("1st")))
        ns["writer_for"](other).close()
        writer = tf.summary.create_file_writer(other, filename_suffix=".again")
        with writer.as_default():
            for step in range(0, settings["fc_steps"] + 1, settings["scalar_every"]):
                tf.summary.scalar("loss", 1.0, step=step)
        writer.close()
    if loose:
        log_scalars(str(runs / "ch01" / "logs"), 0, 2.3, 0.1)
    return runs


# --- chapter 02 ------------------------------------------------------------------------------


def run_02(ns, exercise=None, runs_dir="/nonexistent", preset="smoke", at_end=False) -> dict:
    from checks.ch02 import chapter

    return run_checks(chapter, ns, exercise, runs_dir, preset, at_end)


_variant_cells = itertools.count(1)


def variant_02(ns: dict, source: str | None = None, **values) -> dict:
    """A copy of ``ns`` in which a learner's own version of a cell, ``source``, ran as the kernel
    runs a cell (tfbook.chapter_code.run_cell: its functions' globals are the copy, their source
    readable), then ``values`` set."""
    ns = variant(ns)
    if source:
        number = next(_variant_cells)
        run_cell(Cell(number, f"<a learner's variant of chapter 02, cell {number}>", (), source, frozenset()), ns)
    ns.update(values)
    return ns


# --- chapter 03 ------------------------------------------------------------------------------


def run_03(ns, exercise=None, runs_dir="/nonexistent", preset="quick", at_end=False) -> dict:
    from checks.ch03 import chapter

    return run_checks(chapter, ns, exercise, runs_dir, preset, at_end)


def variant_forward_03(ns: dict) -> dict:
    """Re-run the solution's forward cell inside ``ns`` so it calls ns's (wrong) functions."""
    return redefine(ns, "forward", "03")


# --- chapter 04 ------------------------------------------------------------------------------


def run_04(ns, exercise=None, runs_dir=None, preset="quick", at_end=False) -> dict:
    from checks.ch04 import chapter

    return run_checks(chapter, ns, exercise, runs_dir or Path(tempfile.mkdtemp(prefix="tfbook-ch04-")), preset, at_end)


def variant_04(ns: dict, **replacements) -> dict:
    """A copy of ``ns`` with some functions replaced; the figure reader the check calls
    (figure_numbers) is re-defined in it, so that it calls the replaced plot_probabilities."""
    return redefine(variant(ns, **replacements), "figure_numbers", "04")
