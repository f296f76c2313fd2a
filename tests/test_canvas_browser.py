"""Chapter 04's drawing canvas, driven in a real JupyterLab by a real (headless) Chromium.

Starts JupyterLab on a free loopback port with chapter 04's solution notebook (copied into a
temporary folder), runs every cell, then draws digits on the canvas with the mouse and checks
that the kernel received the drawing: the live prediction under the canvas and the chapter's
own "drawing" cell name the digit drawn, predicted by the model the chapter restored from
chapter 03's checkpoint. A screenshot goes to build/test-artifacts/canvas.png.

Needs /usr/bin/chromium (Debian package `chromium`; Playwright never downloads a browser
here). Chapter 03's checkpoint comes from the `trained_checkpoint_03` fixture (chapter 03
trained in this test session, under $TFBOOK_RUNS), so a fresh clone needs no runs/.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from helpers import ARTIFACTS, free_port, launch_chromium, require_chromium, start_lab, stop, wait_for_lab
from tfbook.manifest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOLUTION = ROOT / "solutions" / "04_prediction.ipynb"
NOTEBOOK = SOLUTION.name
DRAWING_CELL = "if canvas.strokes:"  # the chapter's cell that takes the drawing and predicts
SERVER_START_S = 90
KERNEL_S = 120  # importing TensorFlow in a fresh kernel on a 2-core machine takes a while
RUN_ALL_S = 300  # the whole chapter: TensorFlow, MNIST, the test set, the figures
UI_S = 30  # anything else: a page element, a widget update after drawing

# Strokes in canvas pixels (the canvas is 280x280): a "7" and a "1", drawn as a person would,
# somewhat off-centre and smaller than MNIST's digits so that preprocessing matters.
SEVEN = [[(50, 60), (190, 55), (100, 230)]]
ONE = [[(150, 50), (140, 200)]]


def _copy_notebook(directory: Path) -> int:
    """Copy chapter 04's solution notebook into ``directory``; return the drawing cell's index."""
    shutil.copy(SOLUTION, directory / NOTEBOOK)
    cells = json.loads(SOLUTION.read_text())["cells"]
    for index, cell in enumerate(cells):
        if "".join(cell["source"]).startswith(DRAWING_CELL):
            return index
    raise AssertionError(f"{SOLUTION} has no cell starting with {DRAWING_CELL!r}")


def _start_server(root_dir: Path, port: int, token: str, log, runs: Path):
    return start_lab(root_dir, port, token, log, {"TFBOOK_RUNS": str(runs)})  # chapter 03's checkpoint


# JavaScript run in the page; `window.jupyterapp` exists thanks to expose_app_in_browser.
JS_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && w.context.isReady);
}"""
JS_CELL = """([i]) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
  const text = cell.model.outputs.toJSON().map(o =>
      o.text !== undefined ? [].concat(o.text).join('')
    : o.ename ? `${o.ename}: ${o.evalue}` : '').join('');
  return {count: cell.model.executionCount, text};
}"""
JS_RUN_CELL = """async ([i]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = i;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def _wait_idle(page) -> None:
    page.wait_for_function(JS_KERNEL_IDLE, timeout=KERNEL_S * 1000, polling=250)


def _run_cell(page, index: int) -> str:
    before = page.evaluate(JS_CELL, [index])["count"] or 0
    page.evaluate(JS_RUN_CELL, [index])
    page.wait_for_function(f"() => ({JS_CELL})([{index}]).count > {before}", timeout=KERNEL_S * 1000, polling=250)
    _wait_idle(page)
    return page.evaluate(JS_CELL, [index])["text"]


def _draw(page, surface, strokes) -> None:
    surface.scroll_into_view_if_needed()
    box = surface.bounding_box()
    scale = box["width"] / 280

    def at(point):
        return box["x"] + point[0] * scale, box["y"] + point[1] * scale

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=15)
        page.mouse.up()


def _prediction(text: str) -> int:
    assert "predicted=" in text, f"the cell printed no prediction: {text!r}"
    return int(text.split("predicted=")[1].split()[0])


def test_draw_digits_and_predict_in_chapter_04(tmp_path, trained_checkpoint_03):
    require_chromium()
    assert any(trained_checkpoint_03.glob("*.index")), f"no checkpoint in {trained_checkpoint_03}"
    sync_api = pytest.importorskip("playwright.sync_api")

    root_dir = tmp_path / "notebooks"
    root_dir.mkdir()
    drawing_cell = _copy_notebook(root_dir)
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyter.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The server and its kernels inherit $TFBOOK_RUNS (tests/conftest.py), where the fixture
    # left chapter 03's checkpoint.
    with open(log_path, "wb") as log:
        proc = _start_server(root_dir, port, token, log, trained_checkpoint_03.parent.parent)
        try:
            wait_for_lab(proc, port, token, log_path, SERVER_START_S)
            with sync_api.sync_playwright() as pw:
                browser = launch_chromium(pw)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 1400})
                    page.set_default_timeout(UI_S * 1000)
                    try:
                        _exercise(page, port, token, drawing_cell)
                    finally:
                        page.screenshot(path=str(ARTIFACTS / "canvas.png"))
                finally:
                    browser.close()
        except BaseException:
            shutil.copy(log_path, ARTIFACTS / "jupyter.log")
            raise
        finally:
            stop(proc)


def _exercise(page, port: int, token: str, drawing_cell: int) -> None:
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}&reset")
    page.wait_for_function("() => !!window.jupyterapp", timeout=SERVER_START_S * 1000)
    _wait_idle(page)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    # Unattended, the drawing cell falls back to a sample drawing (one the network is unsure of).
    page.wait_for_function(f"() => ({JS_CELL})([{drawing_cell}]).count >= 1", timeout=RUN_ALL_S * 1000, polling=500)
    text = page.evaluate(JS_CELL, [drawing_cell])["text"]
    assert "from the sample drawing" in text and 0 <= _prediction(text) <= 9, text
    page.wait_for_function(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(c => c.model.type === 'code').every(c => c.model.executionCount)""",
        timeout=RUN_ALL_S * 1000,
        polling=500,
    )
    _wait_idle(page)
    errors = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(c => c.model.type === 'code')
        .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
        .map(o => `${o.ename}: ${o.evalue}`))""")
    assert not errors, errors

    surface = page.locator(".tfbook-canvas-surface")
    surface.scroll_into_view_if_needed()
    surface.wait_for(state="visible")
    assert surface.bounding_box()["width"] == pytest.approx(280, abs=2)
    live = page.locator(".tfbook-live")
    assert "draw a digit" in live.inner_text()

    _draw(page, surface, SEVEN)
    # Synced while drawing and on pointerup: the kernel's on_change callback updates the label.
    live.filter(has_text="prediction: 7").wait_for()
    text = _run_cell(page, drawing_cell)
    assert "from the canvas" in text and _prediction(text) == 7, text

    page.locator(".tfbook-canvas-clear").click()
    live.filter(has_text="draw a digit").wait_for()
    assert "from the sample drawing" in _run_cell(page, drawing_cell)

    _draw(page, surface, ONE)
    live.filter(has_text="prediction: 1").wait_for()
    text = _run_cell(page, drawing_cell)
    assert "from the canvas" in text and _prediction(text) == 1, text
    surface.scroll_into_view_if_needed()
