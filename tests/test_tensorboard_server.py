"""A real TensorBoard on chapter 01's event files: its HTTP API serves exactly what the event
files hold, and (with Debian's Chromium) its scalars and histograms dashboards draw charts.

The log folder is written here by the chapter's own logging functions (log_scalars,
log_histograms, log_graph, run_log_dir from solutions/01_tensorboard.py), two runs `1st` and
`2nd`, so no training is needed. TensorBoard (the pinned package's `tensorboard` script) runs on
a free loopback port and is stopped at the end. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from checks.ch01 import histograms, load, scalars
from helpers import (
    ARTIFACTS,
    START_S,
    TENSORBOARD,
    free_port,
    launch_chromium,
    require_chromium,
    serving,
    start_lab,
    tensorboard_get as _get,
)
from tfbook.chapter_code import load_chapter
from tfbook.manifest import ROOT

UI_S = 60
RUNS = ("1st", "2nd")
WEIGHTS = ("w1", "b1", "w2", "b2", "w3", "b3")


@pytest.fixture(scope="module")
def log_root(tmp_path_factory):
    """runs/ch01/logs with runs 1st and 2nd: scalars every 10 steps, histograms every 20, a graph."""
    runs = tmp_path_factory.mktemp("tb-runs")
    previous = os.environ.get("TFBOOK_RUNS")
    os.environ["TFBOOK_RUNS"] = str(runs)  # run_log_dir reads it when called
    try:
        ns = load_chapter("01", runs=runs).namespace  # the lesson's code, without training
        rng = np.random.default_rng(20160704)
        for index, name in enumerate(RUNS):
            folder = ns["run_log_dir"](name)
            params = ns["fc_params"](index)
            ns["log_graph"](folder, params)
            for step in range(0, 101, 10):
                loss = 2.3 * np.exp(-step / (40 + 60 * index)) + rng.uniform(0, 0.05)
                ns["log_scalars"](folder, step, float(loss), float(1 - loss / 2.5))
                if step % 20 == 0:
                    for value in params.values():
                        value.assign_add(tf.random.normal(value.shape, stddev=0.02))
                    ns["log_histograms"](folder, step, params)
        for writer in ns["_writers"].values():
            writer.close()
    finally:
        if previous is None:
            os.environ.pop("TFBOOK_RUNS", None)
        else:
            os.environ["TFBOOK_RUNS"] = previous
    return runs / "ch01" / "logs"


@pytest.fixture(scope="module")
def tensorboard(log_root, tmp_path_factory):
    """A TensorBoard on a free loopback port, serving log_root; stopped at the end."""
    with serving(log_root, RUNS, tmp_path_factory.mktemp("tb-log") / "tensorboard.log") as port:
        yield port


@pytest.mark.slow
def test_tensorboard_serves_exactly_the_scalars_of_the_event_files(tensorboard, log_root):
    port = tensorboard
    assert sorted(_get(port, "/data/runs")) == sorted(RUNS)
    tags = _get(port, "/data/plugin/scalars/tags")
    for name in RUNS:
        assert {"loss", "accuracy"} <= set(tags[name]), tags
        accumulator = load(log_root / name)
        for tag in ("loss", "accuracy"):
            steps, values = scalars(accumulator, tag)
            served = _get(port, "/data/plugin/scalars/scalars", run=name, tag=tag)
            assert [int(p[1]) for p in served] == list(steps), (name, tag)
            np.testing.assert_allclose([p[2] for p in served], values, rtol=1e-6)


@pytest.mark.slow
def test_tensorboard_serves_exactly_the_histograms_of_the_event_files(tensorboard, log_root):
    port = tensorboard
    tags = _get(port, "/data/plugin/histograms/tags")
    for name in RUNS:
        assert set(WEIGHTS) <= set(tags[name]), tags
        accumulator = load(log_root / name)
        for tag in WEIGHTS:
            steps, buckets = histograms(accumulator, tag)
            served = _get(port, "/data/plugin/histograms/histograms", run=name, tag=tag)
            assert [int(p[1]) for p in served] == steps
            for (_, _, rows), expected in zip(served, buckets):
                np.testing.assert_allclose(np.array(rows, dtype=float), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_tensorboard_serves_the_graph(tensorboard):
    port = tensorboard
    info = _get(port, "/data/plugin/graphs/info")
    assert "1st" in info.get("run_to_tag", info), info


# --- the dashboards in a real browser --------------------------------------------------------

# TensorBoard's dashboards are Polymer/Angular components: walk every open shadow root.
JS_LARGE_SHAPES = """([selector, minWidth, minHeight]) => {
  const found = [];
  const walk = root => root.querySelectorAll('*').forEach(e => {
    if (e.matches(selector)) {
      const r = e.getBoundingClientRect();
      if (r.width >= minWidth && r.height >= minHeight) found.push(e);
    }
    if (e.shadowRoot) walk(e.shadowRoot);
  });
  walk(document);
  return found.length;
}"""


def _wait_for_shapes(page, selector: str, min_width: int, min_height: int, count: int) -> int:
    page.wait_for_function(
        f"() => ({JS_LARGE_SHAPES})({json.dumps([selector, min_width, min_height])}) >= {count}",
        timeout=UI_S * 1000,
        polling=500,
    )
    return page.evaluate(JS_LARGE_SHAPES, [selector, min_width, min_height])


@pytest.fixture
def page():
    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_S * 1000)
            yield page
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_scalars_dashboard_draws_both_runs(tensorboard, page):
    page.goto(f"http://127.0.0.1:{tensorboard}/#scalars")
    try:
        charts = page.locator("tb-line-chart, .line-chart, vz-line-chart2")
        charts.first.wait_for(state="visible")
        for name in RUNS:  # both runs are listed in the runs selector
            page.get_by_text(name, exact=True).first.wait_for(state="visible")
        page.get_by_text("loss", exact=True).first.wait_for(state="visible")
        # two charts (loss, accuracy) with two runs each: at least four drawn lines
        _wait_for_shapes(page, "svg path, canvas", 100, 40, 4)
        page.wait_for_timeout(1500)  # let the lines finish drawing for the screenshot
    finally:
        page.screenshot(path=str(ARTIFACTS / "tensorboard-scalars.png"))


@pytest.mark.slow
@pytest.mark.browser
def test_the_histograms_dashboard_draws_the_weights(tensorboard, page):
    page.goto(f"http://127.0.0.1:{tensorboard}/#histograms")
    try:
        page.get_by_text("w1", exact=True).first.wait_for(state="visible")
        # the open sections show one stacked histogram per run and step
        _wait_for_shapes(page, "svg path", 40, 5, 6)
        page.wait_for_timeout(1500)
    finally:
        page.screenshot(path=str(ARTIFACTS / "tensorboard-histograms.png"))


# --- %tensorboard inside JupyterLab, through jupyter-server-proxy ------------------------------

SOLUTION = ROOT / "solutions" / "01_tensorboard.ipynb"
JS_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && w.context.isReady);
}"""
JS_RUN_CELL = """async ([i]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = i;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""
JS_CELL_COUNT = """([i]) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount"""
JS_ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
    .filter(c => c.model.type === 'code')
    .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`))"""


def _cell_index(cells, predicate) -> int:
    return next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and predicate("".join(c["source"])))


def _start_lab(root_dir: Path, port: int, token: str, log, runs: Path):
    env = {
        "TFBOOK_RUNS": str(runs),
        "TENSORBOARD_PROXY_URL": "/proxy/%PORT%/",  # the frame goes through Jupyter, not to the port
        "PATH": os.pathsep.join([str(TENSORBOARD.parent), os.environ.get("PATH", "")]),
    }  # the magic runs `tensorboard`
    return start_lab(
        root_dir, port, token, log, env, extra_args=["--ServerApp.jpserver_extensions=jupyter_server_proxy=True"]
    )


@pytest.mark.slow
@pytest.mark.browser
def test_the_tensorboard_magic_shows_tensorboard_through_jupyter_server_proxy(log_root, tmp_path):
    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyter_server_proxy")
    import psutil
    import secrets

    root_dir = tmp_path / "notebooks"
    root_dir.mkdir()
    (root_dir / SOLUTION.name).write_bytes(SOLUTION.read_bytes())
    cells = json.loads(SOLUTION.read_text())["cells"]
    setup = _cell_index(cells, lambda s: "checker(" in s)
    magic = _cell_index(cells, lambda s: "%tensorboard" in s)
    stopper = _cell_index(cells, lambda s: "atexit.register" in s)
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyter.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        lab = _start_lab(root_dir, port, token, log, log_root.parent.parent)
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                _get(port, "/api/status", token=token)
                break
            except OSError:
                if time.monotonic() > deadline or lab.poll() is not None:
                    raise AssertionError(f"jupyter lab did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        with sync_api.sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(UI_S * 1000)
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{SOLUTION.name}?token={token}&reset")
                page.wait_for_function("() => !!window.jupyterapp", timeout=START_S * 1000)
                page.wait_for_function(JS_KERNEL_IDLE, timeout=START_S * 1000, polling=250)
                for index in sorted((setup, stopper, magic)):
                    page.evaluate(JS_RUN_CELL, [index])
                    page.wait_for_function(
                        f"() => ({JS_CELL_COUNT})([{index}]) >= 1", timeout=START_S * 1000, polling=250
                    )
                    page.wait_for_function(JS_KERNEL_IDLE, timeout=START_S * 1000, polling=250)
                assert not page.evaluate(JS_ERRORS)
                frame_element = page.locator("iframe[id^='tensorboard-frame']")
                frame_element.wait_for(state="attached", timeout=START_S * 1000)
                src = frame_element.get_attribute("src")
                assert "/proxy/" in src and f":{port}/" in src, src  # through Jupyter's own port
                frame = page.frame_locator("iframe[id^='tensorboard-frame']")
                frame_element.scroll_into_view_if_needed()
                for name in RUNS:
                    frame.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=START_S * 1000)
                page.wait_for_timeout(1500)
            finally:
                page.screenshot(path=str(ARTIFACTS / "tensorboard-jupyterlab.png"))
                browser.close()
        children = [
            p for p in psutil.Process(lab.pid).children(recursive=True) if "tensorboard" in " ".join(p.cmdline())
        ]
        assert children, "the %tensorboard cell started no TensorBoard"
    except BaseException:
        (ARTIFACTS / "jupyter-ch01.log").write_bytes(log_path.read_bytes())
        raise
    finally:
        lab.terminate()  # shuts the kernels down; the chapter's atexit hook stops their TensorBoard
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(timeout=10)
    time.sleep(2)
    left = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in left:
        p.kill()
    assert not left, f"TensorBoard still running after the kernel shut down: {[p.pid for p in left]}"
