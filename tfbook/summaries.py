"""A histogram summary that TensorBoard draws exactly like tf.summary.histogram's, many times cheaper.

tf.summary.histogram (TensorBoard's summary_v2.histogram) sorts the values into 30 buckets by
summing a (values x 30) one-hot matrix: for the 490,000 weights of chapter 01's first demo layer
that takes as long as several training steps. ``histogram`` below computes the same bucket of
every value with the same arithmetic and counts them in one pass (tf.math.bincount), then
writes them in the same format: a float64 tensor of 30 rows [left edge, right edge, count] over
[min, max], under the 'histograms' plugin's metadata. TensorBoard's Histograms and
Distributions tabs, and any reader of the event files, cannot tell the two apart:
tests/test_summaries.py compares them tensor for tensor and through a real TensorBoard's HTTP
API; bench/bench_ch01.py measures both in chapter 01's training loop.

(tf.histogram_fixed_width counts the same buckets slightly faster still, but with its own
rounding: a value on a bucket edge can land one bucket off.)

``histogram`` runs eagerly, as chapter 01's training loop calls it, not inside a tf.function.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata

BUCKETS = 30  # tf.summary.histogram's default


@tf.function(reduce_retracing=True)  # traced once for float32 and once for float64, any length
def _range_and_counts(values, buckets):
    """The smallest and largest of ``values`` (1-D, float32 or float64), and how many fall in
    each bucket between them. One traced function: run eagerly op by op, the dozen small ops
    would take longer than the counting itself for a bias vector."""
    low = tf.cast(tf.reduce_min(values), tf.float64)  # exact: a float32 is a float64 too
    high = tf.cast(tf.reduce_max(values), tf.float64)
    counts = tf.zeros([buckets], tf.float64)
    if high - low > 0 and high - low < np.inf:  # else: one value, or NaN or infinity (see below)
        # bucket floor((value - low) / width), the maximum in the last one: TensorBoard's rule
        # in its own float64 arithmetic (so a value on a bucket edge lands in the same bucket),
        # counted in one pass by bincount rather than by summing a (values x buckets) one-hot matrix
        width = (high - low) / buckets
        index = tf.cast(tf.math.floordiv(tf.cast(values, tf.float64) - low, width), tf.int32)
        counts = tf.math.bincount(
            tf.minimum(index, buckets - 1), minlength=buckets, maxlength=buckets, dtype=tf.float64
        )
    return low, high, counts


def histogram_buckets(data, buckets: int = BUCKETS) -> np.ndarray | None:
    """The (buckets, 3) float64 array of [left edge, right edge, count] rows that
    tf.summary.histogram writes for ``data`` (any shape); None if a value is NaN or infinite."""
    values = tf.reshape(tf.convert_to_tensor(data), [-1])
    if values.dtype != tf.float32:  # float32 is turned into float64 value by value inside
        values = tf.cast(values, tf.float64)  # as TensorBoard does with every type
    if values.shape[0] == 0:  # nothing to count: all-zero rows
        return np.zeros((buckets, 3))
    low, high, counts = _range_and_counts(values, buckets)
    low, high, counts = float(low), float(high), counts.numpy()
    if not math.isfinite(high - low):  # a NaN (min and max are NaN then), an infinity, or a range
        # too wide for float64
        return None
    if low == high:  # one value: every edge at it, the whole count in the last bucket
        counts[-1] = values.shape[0]
        return np.stack([np.full(buckets, high), np.full(buckets, high), counts], axis=1)
    edges = np.linspace(low, high, buckets + 1)  # low + i * step, the last exactly high, as tf.linspace
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


# the same for every histogram written without a description: made once
_METADATA = histogram_metadata.create_summary_metadata(display_name=None, description=None)


def histogram(name: str, data, step=None, buckets: int = BUCKETS, description: str | None = None):
    """Write a histogram of ``data`` to the default summary writer as tf.summary.histogram does:
    same arguments, tag, step rules and tensor. Returns False when there is no writer."""
    if not tf.summary.should_record_summaries():  # no writer, or a no-op one: count nothing
        return False
    rows = histogram_buckets(data, buckets)
    if rows is None:  # NaN or infinity: the standard op writes NaN or infinite edges (nothing
        # TensorBoard can draw); write exactly what it writes
        return tf.summary.histogram(name, data, step=step, buckets=buckets, description=description)
    with tf.summary.experimental.summary_scope(name, "histogram_summary", values=[data, step]) as (tag, _):
        metadata = (
            _METADATA
            if description is None
            else histogram_metadata.create_summary_metadata(display_name=None, description=description)
        )
        return tf.summary.write(tag=tag, tensor=rows, step=step, metadata=metadata)
