"""From a hand drawing to an MNIST-like 28x28 image.

Two steps, shared by the notebook's canvas widget (``tfbook.canvas.DigitCanvas``) and the
sample drawings in ``assets/drawings/``:

1. ``rasterise(strokes)``: draw the strokes (lists of [x, y] points in canvas pixels) with
   round caps and joins on a canvas-sized image, then average 10x10 blocks (for a 280 px
   canvas) down to 28x28. The averaging anti-aliases the edges the way MNIST's are.
2. ``mnist_preprocess(img28)``: MNIST's own recipe. Crop to the ink, scale so the longer side
   is 20 px (aspect ratio kept, anti-aliased), and place the result in a 28x28 frame so that
   its centre of mass sits at MNIST's centre of mass.

Images are float32 in [0, 1], white ink (1.0) on black (0.0), like ``Mnist.flat()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tfbook.manifest import ROOT

CANVAS_SIZE = 280
# 22 px on a 280 px canvas is 2.2 px at 28x28: MNIST's strokes are 2-3 px wide, and a digit
# drawn to fill most of the canvas is scaled down a little by mnist_preprocess.
LINE_WIDTH = 22
DIGIT_BOX = 20
# Where MNIST puts the centre of mass, in pixel-index coordinates (row, column): measured on
# the test set as (13.99, 14.01). The centre of the 20x20 box [4, 24) is 13.5.
MNIST_CENTRE = 14.0
DRAWINGS_DIR = ROOT / "assets" / "drawings"
EMPTY_MESSAGE = "the drawing is empty: draw a digit first"


def rasterise(strokes, canvas_size: int = CANVAS_SIZE, line_width: float = LINE_WIDTH) -> np.ndarray:
    """Render ``strokes`` to a (28, 28) float32 image in [0, 1]; no strokes give zeros.

    A stroke is a list of [x, y] points in canvas pixels (origin top left, y down); a stroke
    of one point is a dot. Points outside the canvas are clipped by the drawing.
    """
    image = Image.new("L", (canvas_size, canvas_size), 0)
    draw = ImageDraw.Draw(image)
    r = line_width / 2
    for stroke in strokes or []:
        points = [(float(x), float(y)) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=max(1, round(line_width)))
        for x, y in points:  # round caps and joins
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = image.resize((28, 28), Image.Resampling.BOX)  # area averaging
    return np.asarray(small, dtype=np.float32) / 255.0


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(img.shape)
    total = img.sum()
    return float((rows * img).sum() / total), float((cols * img).sum() / total)


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    resized = Image.fromarray(img.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR
    )  # anti-aliased when shrinking
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def mnist_preprocess(img28: np.ndarray, fit_box: bool = True) -> np.ndarray:
    """MNIST's normalisation of a (28, 28) drawing; returns a new (28, 28) float32 in [0, 1].

    Crop to the bounding box of the ink, scale so the longer side is 20 px keeping the aspect
    ratio, and paste into a black 28x28 frame with an integer shift that puts the centre of
    mass at (14, 14), MNIST's own, within half a pixel.

    With ``fit_box`` (the default) the ink also stays inside the central 20x20 box [4, 24).
    MNIST itself does not promise that: centring the mass of a digit that is heavier on one
    side (a 7, a 9) pushes its far edge out of the box. When that happens the digit is shrunk
    in 3% steps until it is both centred and inside the box. On MNIST's own test images this
    costs about one point of accuracy (``fit_box=False`` reproduces them exactly), and it
    guarantees that nothing is cut off at the frame's edge.

    Raises ValueError("the drawing is empty: draw a digit first") if there is no ink: a
    prediction for a blank canvas would be meaningless, so callers should show the message.
    """
    img = np.clip(np.asarray(img28, dtype=np.float32), 0.0, 1.0)
    if img.shape != (28, 28):
        raise ValueError(f"expected a (28, 28) image, got shape {img.shape}")
    ink_rows = np.flatnonzero(img.max(axis=1) > 0)
    ink_cols = np.flatnonzero(img.max(axis=0) > 0)
    if ink_rows.size == 0:
        raise ValueError(EMPTY_MESSAGE)
    crop = img[ink_rows[0] : ink_rows[-1] + 1, ink_cols[0] : ink_cols[-1] + 1]
    scale = DIGIT_BOX / max(crop.shape)
    while True:
        height = max(1, round(crop.shape[0] * scale))
        width = max(1, round(crop.shape[1] * scale))
        digit = _resize(crop, height, width)
        com_row, com_col = _centre_of_mass(digit)
        top = round(MNIST_CENTRE - com_row)
        left = round(MNIST_CENTRE - com_col)
        inside = 4 <= top <= 24 - height and 4 <= left <= 24 - width
        if inside or not fit_box or scale < 0.2:
            break
        scale *= 0.97
    if fit_box:
        top = min(max(top, 4), 24 - height)
        left = min(max(left, 4), 24 - width)
    # Paste into a frame with a 20 px margin, so an unclipped shift cannot index outside it.
    frame = np.zeros((68, 68), dtype=np.float32)
    frame[20 + top : 20 + top + height, 20 + left : 20 + left + width] = digit
    return frame[20:48, 20:48].copy()


@dataclass(frozen=True)
class SampleDrawing:
    name: str
    label: int
    strokes: list
    canvas_size: int

    def pixels(self, line_width: float = LINE_WIDTH) -> np.ndarray:
        """The raw 28x28 rendering, exactly as the canvas widget's ``pixels()`` makes it."""
        return rasterise(self.strokes, self.canvas_size, line_width)


def load_sample_drawings(directory: str | Path = DRAWINGS_DIR) -> list[SampleDrawing]:
    """The sample drawings of ``assets/drawings/*.json``, sorted by file name.

    Each file is ``{"label": 7, "strokes": [[[x, y], ...], ...], "canvas_size": 280}``;
    ``tools/make_sample_drawings.py`` writes them.
    """
    directory = Path(directory)
    drawings = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        label = data.get("label")
        if not isinstance(label, int) or not 0 <= label <= 9 or not data.get("strokes"):
            raise ValueError(f"{path}: expected an integer label 0-9 and a non-empty strokes list")
        drawings.append(SampleDrawing(path.stem, label, data["strokes"], int(data.get("canvas_size", CANVAS_SIZE))))
    if not drawings:
        raise FileNotFoundError(f"no sample drawings (*.json) in {directory}")
    return drawings
