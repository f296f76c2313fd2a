"""Histograms read back from a run's event files, for chapter 01's Distributions figure.

This lives here rather than in the notebook because reading a histogram back takes the same
few lines as reading a scalar back, which is exercise 1.6: a cell showing them would hand the
answer to a learner who reads ahead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_histograms(log_dir: str | Path, tag: str) -> tuple[list[int], list[np.ndarray]]:
    """Every histogram of ``tag`` in the run folder: the steps, and per step the
    ``(left edge, right edge, count)`` rows of its buckets, in step order."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(log_dir), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    events = sorted(accumulator.Tensors(tag), key=lambda e: e.step)
    return [e.step for e in events], [tf.make_ndarray(e.tensor_proto) for e in events]
