"""Chapter 01: what writing summaries costs the training loop.

    python -m bench.bench_ch01 [--rounds R] [--steps S] [--preset NAME]

Runs the chapter's own code (the definition cells of solutions/01_tensorboard.py, executed in
this process; no copy) and times its `train` function on both of the chapter's networks, at
the preset's logging frequency: the tutorial's network as runs 1st/2nd log it (scalars every
`scalar_every` steps) and the demo network as demo-good logs it (scalars, plus histograms of
every weight and bias and of 200 images' activations every `histogram_every` steps):

  with      the chapter's loop as it is: summaries written and flushed to a fresh run folder
  without   the same loop, the same probe evaluations, with a no-op writer: nothing written

The two take turns (the order alternating), R rounds of S steps each (5 S for the faster fc network; long rounds amortise
the run's fixed costs: a new folder, a new writer, the last flush), so that load from other
jobs on a shared machine hits both alike; the table gives the median seconds per round and
the median of the per-round ratios. Target: with / without <= 1.05 (summaries cost <= 5%).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jupytext  # noqa: E402
import tensorflow as tf  # noqa: E402

TARGET = 1.05
DEFINITIONS = ("import", "mnist =", "_writers", "def ")


def load_chapter(preset: str) -> dict:
    """The chapter's imports, data and definitions (no training, no TensorBoard), in a namespace."""
    os.environ["TFBOOK_PRESET"] = preset
    os.environ["TFBOOK_RUNS"] = tempfile.mkdtemp(prefix="bench-ch01-")
    from tfbook.manifest import load_book
    ns: dict = {}
    for cell in jupytext.read(load_book().chapter("01").solution).cells:
        if cell.cell_type == "code" and cell.source.startswith(DEFINITIONS):
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(cell.source, ns)
            except NameError:
                pass  # the 1.7 cell's use of the trained runs, after its definition
    return ns


def timed_train(ns: dict, network: str, steps: int, log_dir: str, writer_for) -> float:
    ns["writer_for"] = writer_for
    if network == "fc":  # as the chapter trains runs 1st and 2nd: scalars only
        forward, params, rate, histograms = ns["fc_forward"], ns["fc_params"](1), 0.1, False
    else:  # as the chapter trains demo-good: scalars, weight and activation histograms
        forward, params, rate, histograms = ns["demo_forward"], ns["demo_params"](0.05, 1), 0.05, True
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ns["train"](forward, params, steps, rate, log_dir, 1, histograms=histograms, activations=histograms)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=600,
                        help="steps per round for the demo network (the tutorial's network, 5x as fast, runs 5x as many)")
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args(argv)

    ns = load_chapter(args.preset)
    settings = ns["settings"]
    real_writer_for = ns["writer_for"]
    noop = tf.summary.create_noop_writer()
    print(f"bench_ch01: TensorFlow {tf.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, preset {args.preset!r}: scalars every {settings['scalar_every']} steps, "
          f"histograms every {settings['histogram_every']}; {args.rounds} rounds of {args.steps * 5} (fc) and {args.steps} (demo) steps")
    worst = 0.0
    for network in ("fc", "demo"):
        runs = tempfile.mkdtemp(prefix=f"bench-ch01-{network}-")
        for variant, writer_for in (("with", real_writer_for), ("without", lambda d: noop)):
            timed_train(ns, network, 20, os.path.join(runs, f"warm-{variant}"), writer_for)  # trace, warm up
        steps = args.steps * 5 if network == "fc" else args.steps
        times = {"with": [], "without": []}
        for r in range(args.rounds):
            order = ("with", "without") if r % 2 == 0 else ("without", "with")
            for variant in order:
                writer_for = real_writer_for if variant == "with" else (lambda d: noop)
                times[variant].append(timed_train(ns, network, steps, os.path.join(runs, f"{variant}-{r}"), writer_for))
        ratios = [w / wo for w, wo in zip(times["with"], times["without"])]
        ratio = statistics.median(ratios)
        worst = max(worst, ratio)
        print(f"  {network:5} network: with summaries {statistics.median(times['with']):6.2f} s, "
              f"without {statistics.median(times['without']):6.2f} s per {steps} steps; "
              f"ratio {ratio:.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f}); target <= {TARGET}: "
              f"{'met' if ratio <= TARGET else 'MISSED'}")
    print(f"worst ratio {worst:.3f}, target <= {TARGET}: {'met' if worst <= TARGET else 'MISSED'}")
    histogram_cost(ns)
    return 0


def histogram_cost(ns: dict, repeats: int = 20) -> None:
    """Where the demo's summary time goes: one histogram of its largest tensor, w_h (784 x 625),
    through tf.summary.histogram (buckets via a values x 30 one-hot matrix), against counting
    the same values into 30 buckets with tf.histogram_fixed_width (median of ``repeats``)."""
    w_h = ns["demo_params"](0.05, 1)["w_h"]
    writer = tf.summary.create_file_writer(tempfile.mkdtemp(prefix="bench-ch01-histogram-"))

    def summary():
        with writer.as_default(step=0):
            tf.summary.histogram("w_h", w_h)

    def counts_only():
        values = tf.reshape(tf.cast(w_h, tf.float64), [-1])
        tf.histogram_fixed_width(values, [tf.reduce_min(values), tf.reduce_max(values)], nbins=30).numpy()

    medians = {}
    for name, work in (("summary", summary), ("counts", counts_only)):
        work()  # warm up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        medians[name] = statistics.median(times) * 1000
    writer.close()
    print(f"one histogram of w_h ({int(tf.size(w_h)):,} values): tf.summary.histogram {medians['summary']:.1f} ms; "
          f"the same 30 bucket counts with tf.histogram_fixed_width {medians['counts']:.1f} ms "
          f"({medians['summary'] / medians['counts']:.0f}x; median of {repeats})")


if __name__ == "__main__":
    sys.exit(main())
