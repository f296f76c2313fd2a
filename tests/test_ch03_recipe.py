"""Chapter 03's training recipe tools: the learning-rate schedule and the shifted images
(the `quick` and `best` presets use them; bench/bench_cnn.py --part limits measures them)."""

from __future__ import annotations

import numpy as np
import pytest

from tfbook.chapter_code import load_chapter


@pytest.fixture(scope="module")
def chapter():
    return load_chapter("03", preset="smoke")


def test_the_constant_schedule_is_the_number(chapter):
    assert chapter.learning_rate_schedule(1e-4, 100, 0, "constant") == 1e-4


def test_warmup_then_linear_decay_to_zero(chapter):
    peak, steps, warmup = 3e-3, 1000, 50
    schedule = chapter.learning_rate_schedule(peak, steps, warmup, "linear")
    rates = np.array([float(schedule(step)) for step in range(steps + 1)])
    assert rates[0] == pytest.approx(peak / warmup)  # the first update: a small step
    assert rates[warmup - 1] == pytest.approx(peak)  # the peak when the warm-up ends
    assert rates.max() == pytest.approx(peak)
    assert np.all(np.diff(rates[:warmup]) > 0)  # rising, then falling
    assert np.all(np.diff(rates[warmup:]) < 0)
    assert rates[steps - 1] == pytest.approx(peak / (steps - warmup))  # the last update: tiny
    assert rates[steps] == 0.0 and np.all(rates >= 0)


def test_no_warmup_starts_at_the_peak(chapter):
    schedule = chapter.learning_rate_schedule(1e-3, 10, 0, "linear")
    assert float(schedule(0)) == pytest.approx(1e-3) and float(schedule(9)) == pytest.approx(1e-4)


def test_shifted_images_are_the_same_digits_moved(chapter):
    rng = np.random.default_rng(0)
    images = chapter.x_train[:300]
    border = np.ones((28, 28), bool)
    border[2:-2, 2:-2] = False
    images = images[images.reshape(-1, 28, 28)[:, border].max(axis=1) == 0][:200]  # nothing within 2 px of the edge
    assert len(images) == 200
    shifted = chapter.shift_images(images, rng, 2)
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    # with blank borders a move of up to 2 pixels loses no ink ...
    np.testing.assert_allclose(shifted.sum(axis=1), images.sum(axis=1), rtol=1e-6)
    moved = 0
    for before, after in zip(images.reshape(-1, 28, 28), shifted.reshape(-1, 28, 28)):
        # ... and each image is exactly one of the 25 moves of up to 2 pixels each way
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(np.roll(before, (dy, dx), axis=(0, 1)), after)
        ]
        assert matches, "a shifted image is not a move of the original"
        moved += matches[0] != (0, 0)
    assert moved > 150  # random moves: about 24 in 25 images move


def test_a_single_pixel_moves_by_at_most_max_shift(chapter):
    image = np.zeros((500, 784), np.float32)
    image[:, 14 * 28 + 14] = 1.0
    shifted = chapter.shift_images(image, np.random.default_rng(1), 1)
    rows, cols = np.divmod(shifted.argmax(axis=1), 28)
    assert set(rows - 14) == {-1, 0, 1} and set(cols - 14) == {-1, 0, 1}
    assert np.all(shifted.sum(axis=1) == 1.0)
