"""Chapter 01: what writing summaries costs the training loop.

    python -m bench.bench_ch01 [--rounds R] [--steps S] [--preset NAME] [--save]

Runs the chapter's own code (solutions/01_tensorboard.py without its training cells, run in this
process by tfbook.chapter_code; no copy) and times its `train` function on both of the chapter's
networks, at the preset's logging frequency: the tutorial's network as runs 1st/2nd log it (scalars every
`scalar_every` steps) and the demo network as demo-good logs it (scalars, plus histograms of
every weight and bias and of 200 images' activations every `histogram_every` steps). Variants:

  none                  the same loop, the same probe evaluations, with a no-op writer: nothing written
  chapter               the chapter's loop as it is: its histograms through tfbook.summaries.histogram
  tf.summary.histogram  the same loop with tf.summary.histogram in place of tfbook.summaries.histogram
  (fc only) +histograms the tutorial's network logging histograms of its weights and biases as well,
                        which the chapter's runs 1st and 2nd do not: once each way

Every variant of a network runs once per round, the order rotating, R rounds of S steps each
(5 S for the faster fc network; long rounds amortise the run's fixed costs: a new folder, a new
writer, the last flush), so that load from other jobs on a shared machine hits them all alike.
The table gives each variant's median and best (fastest) round, and its ratio to `none`: the
ratio of the best rounds, then the median and range of the per-round ratios and of the CPU
seconds' ratios. Other jobs on a shared machine only ever add time, so the best rounds are the
least disturbed (as timeit's documentation says of its minimum); the target is judged on their
ratio: chapter / none <= 1.05 on both networks (summaries cost at most 5%). The last line
times one histogram of the demo's largest tensor both ways. --save writes the figures to
assets/bench/ch01_summaries.json, which chapter 01's section "What summaries cost" shows.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from bench.record import Recording  # noqa: E402
from tfbook.chapter_code import load_chapter  # noqa: E402

TARGET = 1.05
SAVED = Path(__file__).resolve().parent.parent / "assets" / "bench" / "ch01_summaries.json"
# variant: (summaries written, histogram function in the loop, fc network logs histograms)
VARIANTS = {
    "none": (False, "book", False),
    "chapter": (True, "book", False),
    "fc +histograms (book's)": (True, "book", True),
    "fc +histograms (tf.summary)": (True, "standard", True),
    "tf.summary.histogram": (True, "standard", True),
}
NETWORK_VARIANTS = {
    "fc": ("none", "chapter", "fc +histograms (book's)", "fc +histograms (tf.summary)"),
    "demo": ("none", "chapter", "tf.summary.histogram"),
}


def network_setup(ns: dict, network: str):
    """forward, params, learning rate and whether it logs histograms by default, as the chapter trains it."""
    if network == "fc":  # as the chapter trains runs 1st and 2nd: scalars only
        return ns["fc_forward"], ns["fc_params"](1), 0.1, False
    return ns["demo_forward"], ns["demo_params"](0.05, 1), 0.05, True  # as demo-good: and histograms


def timed_train(ns: dict, network: str, variant: str, steps: int, log_dir: str, tools: dict) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all of this process's threads) of one training run."""
    written, histogram, fc_histograms = VARIANTS[variant]
    ns["writer_for"] = tools["writer_for"] if written else tools["noop"]
    ns["summaries"] = tools[histogram]
    forward, params, rate, histograms = network_setup(ns, network)
    started, cpu_started = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        ns["train"](
            forward, params, steps, rate, log_dir, 1, histograms=histograms or fc_histograms, activations=histograms
        )  # activations: the demo network's h and h2
    return time.perf_counter() - started, time.process_time() - cpu_started


def logged_values(ns: dict, network: str) -> int:
    """How many values the network's histograms hold each time they are written (with histograms on)."""
    _, params, _, _ = network_setup(ns, network)
    activations = 2 * 200 * 625 if network == "demo" else 0  # the demo's h and h2 for 200 images
    return sum(int(tf.size(p)) for p in params.values()) + activations


def machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor()
        )
    return f"{len(os.sched_getaffinity(0))} usable cores, {model}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--steps",
        type=int,
        default=600,
        help="steps per round for the demo network (the tutorial's network, 5x as fast, runs 5x as many)",
    )
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--save", action="store_true", help=f"write the figures to {SAVED.name} for chapter 01")
    args = parser.parse_args(argv)
    # the record goes to bench/results/ of the tree SAVED is in (a test that moves SAVED moves both)
    with Recording("bench_ch01", "bench.bench_ch01", argv, folder=SAVED.parents[2] / "bench" / "results") as run:
        run.figures.update(measure(args))
    return 0


def measure(args) -> dict:
    """Time every variant, print the table (and write SAVED with --save); returns the figures."""
    ns = load_chapter("01", preset=args.preset).namespace  # the lesson's code, without its training
    settings = ns["settings"]
    noop = tf.summary.create_noop_writer()
    tools = {
        "writer_for": ns["writer_for"],
        "noop": lambda log_dir: noop,
        "book": ns["summaries"],
        "standard": types.SimpleNamespace(histogram=tf.summary.histogram),
    }
    record = {
        "command": " ".join(["python -m bench.bench_ch01", *sys.argv[1:]]),
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "preset": args.preset,
        "scalar_every": settings["scalar_every"],
        "histogram_every": settings["histogram_every"],
        "rounds": args.rounds,
        "target": TARGET,
        "rows": [],
    }
    print(
        f"bench_ch01: TensorFlow {tf.__version__}, Python {platform.python_version()}, {record['machine']}, "
        f"load average {record['load_average_at_start']:.2f}; preset {args.preset!r}: scalars every "
        f"{settings['scalar_every']} steps, histograms every {settings['histogram_every']}; "
        f"{args.rounds} rounds of {args.steps * 5} (fc) and {args.steps} (demo) steps"
    )
    worst = 0.0
    for network, variants in NETWORK_VARIANTS.items():
        runs = tempfile.mkdtemp(prefix=f"bench-ch01-{network}-")
        for i, variant in enumerate(variants):  # trace the steps, warm the caches
            timed_train(ns, network, variant, 20, os.path.join(runs, f"warm-{i}"), tools)
        steps = args.steps * 5 if network == "fc" else args.steps
        times = {variant: [] for variant in variants}
        for r in range(args.rounds):
            for i in range(len(variants)):
                variant = variants[(r + i) % len(variants)]
                times[variant].append(timed_train(ns, network, variant, steps, os.path.join(runs, f"{r}-{i}"), tools))
        shutil.rmtree(runs, ignore_errors=True)
        print(
            f"  {network} network, {steps} steps per round; histograms hold {logged_values(ns, network):,} values "
            f"each time they are written"
        )
        for variant in variants:
            wall, cpu = ([t[k] for t in times[variant]] for k in (0, 1))
            row = {
                "network": network,
                "variant": variant,
                "steps": steps,
                "seconds": round(statistics.median(wall), 3),
                "best_seconds": round(min(wall), 3),
                "cpu_seconds": round(statistics.median(cpu), 3),
            }
            line = f"    {variant:28} {row['seconds']:6.2f} s (best {row['best_seconds']:6.2f} s)"
            if variant != "none":
                ratios = [t[0] / base[0] for t, base in zip(times[variant], times["none"])]
                cpu_ratios = [t[1] / base[1] for t, base in zip(times[variant], times["none"])]
                row.update(
                    ratio=round(min(wall) / min(t[0] for t in times["none"]), 3),
                    median_ratio=round(statistics.median(ratios), 3),
                    low=round(min(ratios), 3),
                    high=round(max(ratios), 3),
                    cpu_ratio=round(statistics.median(cpu_ratios), 3),
                )
                line += (
                    f"   ratio {row['ratio']:.3f}; per round median {row['median_ratio']:.3f} "
                    f"({row['low']:.3f}-{row['high']:.3f}), CPU {row['cpu_ratio']:.3f}"
                )
                if variant == "chapter":
                    worst = max(worst, row["ratio"])
                    line += f"; target <= {TARGET}: {'met' if row['ratio'] <= TARGET else 'MISSED'}"
            record["rows"].append(row)
            print(line)
    print(f"chapter's summaries, worst ratio {worst:.3f}, target <= {TARGET}: {'met' if worst <= TARGET else 'MISSED'}")
    record["worst_chapter_ratio"] = round(worst, 3)
    record["histogram"] = histogram_cost(ns, tools["book"].histogram)
    if args.save:
        SAVED.parent.mkdir(parents=True, exist_ok=True)
        SAVED.write_text(json.dumps(record, indent=2) + "\n")
        print(f'written {SAVED.relative_to(SAVED.parent.parent.parent)} (chapter 01\'s "What summaries cost" shows it)')
    meta = ("command", "date", "machine", "load_average_at_start")
    return {key: value for key, value in record.items() if key not in meta}


def histogram_cost(ns: dict, book_histogram, repeats: int = 20) -> dict:
    """Where the standard way's time goes: one histogram of the demo's largest tensor, w_h
    (784 x 625), written with tf.summary.histogram and with tfbook.summaries.histogram (median
    of ``repeats``)."""
    w_h = ns["demo_params"](0.05, 1)["w_h"]
    writer = tf.summary.create_file_writer(tempfile.mkdtemp(prefix="bench-ch01-histogram-"))
    medians = {}
    for name, write in (("standard_ms", tf.summary.histogram), ("book_ms", book_histogram)):
        with writer.as_default(step=0):
            write("w_h", w_h)  # warm up
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                write("w_h", w_h)
                times.append(time.perf_counter() - started)
        medians[name] = round(statistics.median(times) * 1000, 1)
    writer.close()
    print(
        f"one histogram of w_h ({int(tf.size(w_h)):,} values): tf.summary.histogram {medians['standard_ms']:.1f} ms; "
        f"tfbook.summaries.histogram {medians['book_ms']:.1f} ms "
        f"({medians['standard_ms'] / medians['book_ms']:.0f}x; median of {repeats})"
    )
    return {"values": int(tf.size(w_h)), **medians, "repeats": repeats}


if __name__ == "__main__":
    sys.exit(main())
