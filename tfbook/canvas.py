"""A canvas to draw a digit on, inside JupyterLab 4 or Notebook 7 (chapter 04).

The 2017 post sent the drawing to the kernel with ``IPython.notebook.kernel.execute``, which
neither JupyterLab 4 nor Notebook 7 has. Here an anywidget does it: the browser side
(``assets/canvas/canvas.js``) only records strokes, as lists of [x, y] points in canvas
pixels, and syncs them to the ``strokes`` trait; Python turns them into pixels with
``tfbook.drawing.rasterise``, the same function that renders the sample drawings.

    canvas = DigitCanvas()
    canvas                                   # draw in the output area
    img = mnist_preprocess(canvas.pixels())  # then predict on img
"""

from __future__ import annotations

from typing import Callable

import anywidget
import numpy as np
import traitlets

from tfbook.drawing import CANVAS_SIZE, LINE_WIDTH, rasterise
from tfbook.manifest import ROOT

ASSETS = ROOT / "assets" / "canvas"


class DigitCanvas(anywidget.AnyWidget):
    _esm = ASSETS / "canvas.js"
    _css = ASSETS / "canvas.css"

    strokes = traitlets.List(traitlets.List()).tag(sync=True)  # [[[x, y], ...], ...]
    size = traitlets.Int(CANVAS_SIZE).tag(sync=True)  # canvas side, in pixels
    line_width = traitlets.Float(LINE_WIDTH).tag(sync=True)  # pen width, in canvas pixels

    def pixels(self) -> np.ndarray:
        """The drawing as a (28, 28) float32 array in [0, 1], white ink on black, like MNIST.

        Not yet centred or scaled: pass it through ``tfbook.drawing.mnist_preprocess``.
        """
        return rasterise(self.strokes, self.size, self.line_width)

    def load_strokes(self, strokes) -> None:
        """Replace the drawing, e.g. with a sample's ``strokes``; the canvas redraws itself."""
        self.strokes = [[[float(x), float(y)] for x, y in stroke] for stroke in strokes]

    def clear(self) -> None:
        self.strokes = []

    def on_change(self, callback: Callable[[np.ndarray], None]) -> Callable:
        """Call ``callback(pixels)`` whenever the drawing changes (while drawing, too).

        Output printed by a callback goes to JupyterLab's log, not to a cell: show results
        through an ``ipywidgets.Output`` (``with out: ...``) or update a widget instead.
        Returns the observer, for ``canvas.unobserve(observer, "strokes")``.
        """

        def observer(change):
            callback(self.pixels())

        self.observe(observer, names="strokes")
        return observer
