"""tfbook.drawing: from strokes to an MNIST-like image, and the sample drawings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfbook.drawing import (
    EMPTY_MESSAGE,
    LINE_WIDTH,
    MNIST_CENTRE,
    load_sample_drawings,
    mnist_preprocess,
    rasterise,
)

SEVEN = [[[60, 40], [220, 40], [110, 250]]]
# A small "1" in the top-left corner: far from MNIST's size and position.
SMALL_ONE = [[[50, 30], [45, 100]]]
# A wide, flat bar: about 3.7:1 after drawing with the pen's round caps (ink box 22 x 6 px).
BAR = [[[40, 110], [220, 110], [220, 130], [40, 130]]]


def centre_of_mass(img):
    rows, cols = np.indices(img.shape)
    return (rows * img).sum() / img.sum(), (cols * img).sum() / img.sum()


def ink_box(img):
    rows = np.flatnonzero(img.max(axis=1) > 0)
    cols = np.flatnonzero(img.max(axis=0) > 0)
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def all_drawings():
    strokes = [SEVEN, SMALL_ONE, BAR] + [d.strokes for d in load_sample_drawings()]
    return [rasterise(s) for s in strokes]


def test_rasterise_shape_range_and_dtype():
    img = rasterise(SEVEN)
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() == pytest.approx(1.0)  # the middle of a stroke is fully inked
    assert img[0, 0] == 0.0  # the background is black, as in MNIST


def test_rasterise_maps_canvas_to_28x28():
    # A dot at canvas (x=150, y=50) lands in row 5, column 15 (10 canvas px per pixel).
    img = rasterise([[[150, 50]]])
    assert np.unravel_index(np.argmax(img), img.shape) == (5, 15)


def test_rasterise_is_anti_aliased_and_stroke_width_mnist_like():
    img = rasterise([[[140, 40], [140, 240]]])  # a vertical line 200 canvas px long
    values = np.unique(img[img > 0])
    assert ((values > 0) & (values < 1)).any(), "edges should be grey, not only 0 or 1"
    # Ink per row in the middle of the line is the stroke width in pixels: MNIST's is 2-3.
    assert 1.8 <= img[10:20].sum(axis=1).mean() <= 3.0
    assert img.sum(axis=0).sum() == pytest.approx(LINE_WIDTH / 10 * 20 + np.pi * (LINE_WIDTH / 20) ** 2, rel=0.1)


def test_rasterise_follows_canvas_size():
    # The same drawing on a canvas twice as large gives the same image.
    big = [[[2 * x, 2 * y] for x, y in stroke] for stroke in SEVEN]
    a = rasterise(SEVEN, canvas_size=280)
    b = rasterise(big, canvas_size=560, line_width=2 * LINE_WIDTH)
    assert np.abs(a - b).max() < 0.2  # PIL's pen is not anti-aliased at canvas scale
    assert np.abs(a - b).mean() < 0.01


def test_rasterise_empty_gives_zeros():
    assert not rasterise([]).any()
    assert rasterise([]).shape == (28, 28)


def test_preprocess_shape_range():
    for img in all_drawings():
        out = mnist_preprocess(img)
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert out.sum() > 0


def test_preprocess_centre_of_mass_at_centre():
    for img in all_drawings():
        row, col = centre_of_mass(mnist_preprocess(img))
        assert abs(row - MNIST_CENTRE) <= 0.5 and abs(col - MNIST_CENTRE) <= 0.5
        assert abs(row - 13.5) <= 1.0 and abs(col - 13.5) <= 1.0


def test_preprocess_ink_inside_central_20x20_box_and_longer_side_near_20():
    for img in all_drawings():
        top, bottom, left, right = ink_box(mnist_preprocess(img))
        assert 4 <= top and bottom <= 24 and 4 <= left and right <= 24
        # 20 px, unless shrunk to keep the centred digit in the box
        assert 14 <= max(bottom - top, right - left) <= 20


def test_preprocess_moves_and_scales_a_small_off_centre_digit():
    img = rasterise(SMALL_ONE)
    top, bottom, _, _ = ink_box(img)
    assert bottom - top < 12  # the raw drawing is small...
    out = mnist_preprocess(img)
    top, bottom, _, _ = ink_box(out)
    assert bottom - top == 20  # ...and is scaled to MNIST's 20 px
    assert abs(centre_of_mass(out)[1] - centre_of_mass(img)[1]) > 5  # and moved


def test_preprocess_keeps_aspect_ratio():
    img = rasterise(BAR)
    top, bottom, left, right = ink_box(img)
    before = (right - left) / (bottom - top)
    top, bottom, left, right = ink_box(mnist_preprocess(img))
    after = (right - left) / (bottom - top)
    assert right - left == 20
    assert after == pytest.approx(before, rel=0.15)
    assert after > 2.4  # not stretched into a square


def test_preprocess_without_box_reproduces_mnist_layout():
    # An MNIST-like digit already normalised stays put (up to rounding) with fit_box=False.
    img = mnist_preprocess(rasterise(SEVEN), fit_box=False)
    again = mnist_preprocess(img, fit_box=False)
    assert np.abs(again - img).max() < 0.05


def test_preprocess_empty_drawing_raises():
    with pytest.raises(ValueError, match="the drawing is empty: draw a digit first"):
        mnist_preprocess(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match=EMPTY_MESSAGE):
        mnist_preprocess(rasterise([]))


def test_preprocess_rejects_wrong_shape():
    with pytest.raises(ValueError, match="28, 28"):
        mnist_preprocess(np.ones((280, 280), np.float32))


def test_preprocess_does_not_modify_its_input():
    img = rasterise(SEVEN)
    copy = img.copy()
    mnist_preprocess(img)
    assert np.array_equal(img, copy)


def test_sample_drawings_load_with_labels():
    drawings = load_sample_drawings()
    labels = [d.label for d in drawings]
    assert len(drawings) >= 20
    for digit in range(10):
        assert labels.count(digit) >= 2, f"fewer than 2 sample drawings of {digit}"
    for d in drawings:
        assert d.canvas_size == 280
        assert d.strokes and all(len(s) >= 1 and all(len(p) == 2 for p in s) for s in d.strokes)
        assert d.pixels().sum() > 5  # visible ink after rasterising


def test_sample_drawings_need_preprocessing():
    # They are off-centre and of varied size on purpose: raw, many sit far from MNIST's layout.
    off = 0
    for d in load_sample_drawings():
        row, col = centre_of_mass(d.pixels())
        top, bottom, left, right = ink_box(d.pixels())
        if max(abs(row - 14), abs(col - 14)) > 2 or not 17 <= bottom - top <= 22:
            off += 1
    assert off >= 10


def test_load_sample_drawings_rejects_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"label": 12, "strokes": [[[1, 2]]]}))
    with pytest.raises(ValueError, match="label"):
        load_sample_drawings(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_sample_drawings(tmp_path / "missing")


def test_canvas_widget_uses_the_same_rasteriser():
    from tfbook.canvas import DigitCanvas

    drawing = load_sample_drawings()[0]
    canvas = DigitCanvas()
    assert not canvas.pixels().any()
    seen = []
    canvas.on_change(seen.append)
    canvas.load_strokes(drawing.strokes)
    assert np.array_equal(canvas.pixels(), drawing.pixels())
    assert len(seen) == 1 and np.array_equal(seen[0], drawing.pixels())
    canvas.clear()
    assert not canvas.pixels().any() and len(seen) == 2
    assert "render" in canvas._esm and "save_changes" in canvas._esm
