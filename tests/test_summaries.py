"""tfbook.summaries.histogram writes what tf.summary.histogram writes, and TensorBoard serves the same.

Chapter 01's training loop writes its histograms with tfbook.summaries.histogram
(tf.histogram_fixed_width's counts) instead of tf.summary.histogram (a values x 30 one-hot
matrix). The two must be indistinguishable: the same tensor of [left edge, right edge, count]
rows, the same tag and plugin in the event file, and the same data from a real TensorBoard's
histogram and distribution routes, for random tensors and for the edge cases (no values, one
value repeated, values on bucket edges, integers, NaN and infinities).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from checks.ch01 import histograms, load, plugin, tags
from helpers import serving, tensorboard_get as _get
from tfbook import summaries

EDGE_CASES = {
    "empty": np.zeros([0, 5], np.float32),
    "constant": np.full([40, 3], -0.25, np.float32),
    "one_value": np.array([7.0], np.float32),
    "zeros": np.zeros([200, 50], np.float32),  # a dead ReLU layer: chapter 01's activations/h2
    "two_values": np.array([0.0, 1.0], np.float32),
    "on_edges": np.arange(31, dtype=np.float64) / 7,  # a value on every bucket edge
    "integers": np.arange(-50, 77, dtype=np.int32).reshape(127, 1),
    "relu": np.maximum(np.random.default_rng(3).standard_normal(5000), 0).astype(np.float32),
    "tiny_range": (1 + np.arange(100) * np.finfo(np.float32).eps).astype(np.float32),
    "nan": np.array([1.0, np.nan, 3.0], np.float32),
    "inf": np.array([1.0, np.inf, 3.0], np.float32),
    "minus_inf": np.array([-np.inf, 1.0, 3.0], np.float32),
    "too_wide": np.array([-1e308, 0.0, 1e308]),  # max - min overflows float64
}


def random_cases(seed: int = 20161220, count: int = 12) -> dict[str, np.ndarray]:
    """Seeded tensors of chapter 01's kinds: weights of several scales and shapes, biases, ReLU outputs."""
    rng = np.random.default_rng(seed)
    cases = {}
    for i in range(count):
        shape = tuple(int(n) for n in rng.integers(1, 300, size=int(rng.integers(1, 3))))
        values = rng.standard_normal(shape) * rng.choice([1e-3, 0.05, 1.0, 300.0]) + rng.uniform(-1, 1)
        if i % 3 == 2:
            values = np.maximum(values, 0)
        cases[f"random_{i}"] = values.astype(rng.choice([np.float32, np.float64]))
    return cases


def write_run(directory, cases: dict, write, steps=(0,)) -> None:
    """One run folder: every case written with ``write`` (either histogram function) at ``steps``."""
    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        for step in steps:
            for name, values in cases.items():
                write(name, values + step if values.dtype.kind == "f" else values, step=step)
    writer.close()


def assert_same_rows(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    np.testing.assert_array_equal(got[:, 2], expected[:, 2], err_msg=f"{what}: counts")
    np.testing.assert_allclose(
        got[:, :2], expected[:, :2], rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{what}: bucket edges"
    )


def test_the_same_tensor_tag_and_plugin_as_tf_summary_histogram(tmp_path):
    cases = {**random_cases(), **EDGE_CASES}
    write_run(tmp_path / "standard", cases, tf.summary.histogram, steps=(0, 7))
    write_run(tmp_path / "fast", cases, summaries.histogram, steps=(0, 7))
    standard, fast = load(tmp_path / "standard"), load(tmp_path / "fast")
    assert tags(fast) == tags(standard) == sorted(cases)
    for name, values in cases.items():
        assert plugin(fast, name) == plugin(standard, name) == "histograms"
        assert fast.SummaryMetadata(name) == standard.SummaryMetadata(name), name
        fast_steps, fast_rows = histograms(fast, name)
        standard_steps, standard_rows = histograms(standard, name)
        assert fast_steps == standard_steps == [0, 7]
        for got, expected in zip(fast_rows, standard_rows):
            assert got.dtype == expected.dtype == np.float64
            assert_same_rows(got, expected, name)
        if values.size and np.isfinite(float(values.max()) - float(values.min())):
            assert fast_rows[0][:, 2].sum() == values.size, name  # nothing lost, nothing counted twice


def test_random_tensors_bucket_exactly_as_tensorboards_rule():
    """Against TensorBoard's own bucketing function, on many more seeded tensors than go to disk."""
    from tensorboard.plugins.histogram.summary_v2 import _buckets

    for name, values in random_cases(seed=7, count=60).items():
        assert_same_rows(summaries.histogram_buckets(values), _buckets(tf.constant(values)).numpy(), name)


def test_no_writer_or_a_noop_writer_counts_nothing(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("bucketed without a writer")

    monkeypatch.setattr(summaries, "histogram_buckets", must_not_run)
    assert summaries.histogram("w", np.ones(10), step=0) is False
    with tf.summary.create_noop_writer().as_default():
        assert summaries.histogram("w", np.ones(10), step=0) is False


def test_the_step_rules_and_name_scopes_are_tf_summary_histograms(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        with pytest.raises(ValueError, match="No step set"):
            summaries.histogram("w", np.ones(10))
        with tf.name_scope("layer"):
            assert bool(summaries.histogram("w", np.arange(10.0), step=3))
    with writer.as_default(step=5):
        assert bool(summaries.histogram("b", np.arange(10.0)))
    writer.close()
    accumulator = load(tmp_path)
    assert tags(accumulator) == ["b", "layer/w"]
    assert histograms(accumulator, "layer/w")[0] == [3] and histograms(accumulator, "b")[0] == [5]


# --- the same histograms through a real TensorBoard --------------------------------------------


def _served(port: int, route: str, run: str, tag: str) -> list:
    return _get(port, f"/data/plugin/{route}", run=run, tag=tag)


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    """A TensorBoard serving two runs of the same values: `standard` (tf.summary.histogram) and `fast`."""
    root = tmp_path_factory.mktemp("summaries")
    cases = {**random_cases(count=4), **EDGE_CASES}
    write_run(root / "logs" / "standard", cases, tf.summary.histogram, steps=(0, 10, 20))
    write_run(root / "logs" / "fast", cases, summaries.histogram, steps=(0, 10, 20))
    with serving(root / "logs", ("standard", "fast"), root / "tensorboard.log") as port:
        yield port, cases


@pytest.mark.slow  # starts a TensorBoard server (it imports TensorFlow: 10-60 s on 2 busy cores)
def test_tensorboard_serves_the_same_histograms_and_distributions(both_ways):
    port, cases = both_ways
    served_tags = _get(port, "/data/plugin/histograms/tags")
    assert set(served_tags["fast"]) == set(served_tags["standard"]) == set(cases)
    for name in cases:
        fast = _served(port, "histograms/histograms", "fast", name)
        standard = _served(port, "histograms/histograms", "standard", name)
        assert [p[1] for p in fast] == [p[1] for p in standard] == [0, 10, 20], name
        for (_, step, got), (_, _, expected) in zip(fast, standard):
            assert_same_rows(np.array(got, dtype=float), np.array(expected, dtype=float), f"{name} at {step}")
        # the Distributions tab: TensorBoard's compressed percentiles of the same buckets
        fast = _served(port, "distributions/distributions", "fast", name)
        standard = _served(port, "distributions/distributions", "standard", name)
        assert len(fast) == len(standard) == 3, name
        for (_, step, got), (_, _, expected) in zip(fast, standard):
            np.testing.assert_allclose(
                np.array(got, dtype=float),
                np.array(expected, dtype=float),
                rtol=1e-9,
                atol=1e-12,
                equal_nan=True,
                err_msg=f"{name} at {step}: distribution",
            )


@pytest.mark.slow
@pytest.mark.browser
def test_the_histograms_dashboard_draws_both_runs(both_ways):
    """A screenshot for a person to compare: the two runs' histograms side by side."""
    from helpers import ARTIFACTS, launch_chromium, require_chromium

    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    port, _ = both_ways
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/#histograms&tagFilter=random_0")
            try:
                for run in ("standard", "fast"):
                    page.get_by_text(run, exact=True).first.wait_for(state="visible")
                page.get_by_text("random_0", exact=True).first.wait_for(state="visible")
                page.wait_for_timeout(3000)  # let the charts finish drawing
            finally:
                page.screenshot(path=str(ARTIFACTS / "tensorboard-histograms-standard-vs-fast.png"))
        finally:
            browser.close()


@pytest.mark.slow  # runs chapter 01's training loop 14 times (tiny rounds): about a minute on 2 cores
def test_bench_ch01_prints_every_row_and_saves_what_the_chapter_shows(tmp_path, monkeypatch, capsys):
    from bench import bench_ch01

    monkeypatch.setattr(bench_ch01, "SAVED", tmp_path / "assets" / "bench" / "ch01_summaries.json")
    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path / "runs"))  # the bench sets both: restored after
    monkeypatch.setenv("TFBOOK_PRESET", "quick")
    assert bench_ch01.main(["--rounds", "1", "--steps", "50", "--save"]) == 0
    out = capsys.readouterr().out
    for variant in (
        "none",
        "chapter",
        "fc +histograms (book's)",
        "fc +histograms (tf.summary)",
        "tf.summary.histogram",
    ):
        assert f"    {variant} " in out, out
    assert out.count("target <= 1.05:") == 3 and "tfbook.summaries.histogram" in out, out
    saved = json.loads(bench_ch01.SAVED.read_text())
    assert [(r["network"], r["variant"]) for r in saved["rows"]] == [
        (network, variant) for network, variants in bench_ch01.NETWORK_VARIANTS.items() for variant in variants
    ]
    assert all("ratio" in r for r in saved["rows"] if r["variant"] != "none")
    assert saved["histogram"]["values"] == 784 * 625 and saved["histogram"]["book_ms"] > 0


@pytest.mark.slow  # loads chapter 01's definitions and MNIST, and trains the demo network for the smoke preset's steps
def test_the_chapters_training_loop_writes_its_histograms_with_the_book_function(tmp_path, monkeypatch):
    """The loop used tf.summary.histogram (through log_histograms), 38% slower than training without summaries."""
    import types
    from tfbook.chapter_code import load_chapter

    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path / "runs"))  # the chapter's functions read both when called
    monkeypatch.setenv("TFBOOK_PRESET", "smoke")
    ns = load_chapter("01", preset="smoke", runs=tmp_path / "runs").namespace  # as bench/bench_ch01.py loads it
    written = []

    def spy(name, data, step=None, **kwargs):
        written.append(name)
        return summaries.histogram(name, data, step=step, **kwargs)

    def standard(*args, **kwargs):
        raise AssertionError("the chapter's loop called tf.summary.histogram")

    ns["summaries"] = types.SimpleNamespace(histogram=spy)
    monkeypatch.setattr(tf.summary, "histogram", standard)
    monkeypatch.setitem(ns, "log_histograms", standard)
    settings = ns["settings"]
    log_dir = str(tmp_path / "demo")
    ns["train"](
        ns["demo_forward"], ns["demo_params"](0.05, 1), settings["demo_steps"], 0.05, log_dir, 1, activations=True
    )
    times = len(range(0, settings["demo_steps"] + 1, settings["histogram_every"]))
    expected = ["w_h", "b_h", "w_h2", "b_h2", "w_o", "b_o", "activations/h", "activations/h2"]
    assert written == expected * times
    accumulator = load(log_dir)
    assert [t for t in tags(accumulator) if plugin(accumulator, t) == "histograms"] == sorted(expected)
