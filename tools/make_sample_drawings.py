"""Write the sample drawings of chapter 04 to assets/drawings/ (python tools/make_sample_drawings.py).

Each digit has hand-designed stroke paths in a unit box (x right, y down, 0..1). Every sample
places one of them on a 280x280 canvas the way people draw: off-centre, smaller or larger
than MNIST's 20/28 of the frame, a little slanted, with a wobbly hand. The output is
deterministic (fixed seeds), so re-running reproduces the committed files exactly.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "drawings"
CANVAS = 280
PER_DIGIT = 3


def arc(cx, cy, rx, ry, start, end, n=24):
    """Points on an ellipse from angle ``start`` to ``end`` (degrees; 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)
    ]


def line(*points, n=8):
    """A polyline through ``points`` with ``n`` points per segment (so jitter bends it)."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n)[1:]]
    return out


# Per digit: a list of variants; a variant is (width/height ratio, list of strokes).
TEMPLATES = {
    0: [(0.7, [arc(0.5, 0.5, 0.5, 0.5, -90, 275, 40)]), (0.6, [arc(0.5, 0.5, 0.5, 0.5, -100, 255, 40)])],
    1: [(0.15, [line((0.6, 0.0), (0.4, 1.0))]), (0.4, [line((0.05, 0.22), (0.75, 0.0), (0.7, 1.0))])],
    2: [
        (0.7, [arc(0.5, 0.3, 0.45, 0.3, 190, 360, 16) + line((0.95, 0.3), (0.05, 1.0), (1.0, 1.0))]),
        (0.65, [arc(0.5, 0.28, 0.45, 0.28, 200, 390, 16) + line((0.9, 0.4), (0.0, 1.0), (1.0, 0.92))]),
    ],
    3: [
        (0.6, [arc(0.45, 0.25, 0.5, 0.25, 200, 450, 20) + arc(0.45, 0.73, 0.55, 0.27, -90, 160, 20)]),
        (0.65, [line((0.05, 0.0), (0.95, 0.0), (0.4, 0.42)) + arc(0.45, 0.7, 0.5, 0.3, -90, 160, 20)]),
    ],
    4: [
        (0.7, [line((0.7, 0.0), (0.0, 0.68), (1.0, 0.68)), line((0.72, 0.3), (0.72, 1.0))]),
        (0.7, [line((0.1, 0.0), (0.05, 0.55), (0.95, 0.55)), line((0.8, 0.0), (0.8, 1.0))]),
    ],
    5: [
        (0.65, [line((0.95, 0.0), (0.15, 0.0), (0.1, 0.45)) + arc(0.45, 0.68, 0.52, 0.32, -150, 150, 22)]),
        (
            0.6,
            [
                line((0.15, 0.02), (0.1, 0.45)) + arc(0.45, 0.68, 0.52, 0.32, -150, 150, 22),
                line((0.15, 0.0), (0.95, 0.0)),
            ],
        ),
    ],
    6: [
        (0.65, [arc(1.0, 0.7, 0.95, 0.7, -85, -180, 14) + arc(0.5, 0.7, 0.45, 0.3, 180, 540, 30)]),
        (0.6, [line((0.75, 0.0), (0.1, 0.62)) + arc(0.5, 0.72, 0.42, 0.28, 200, 560, 30)]),
    ],
    7: [
        (0.7, [line((0.0, 0.0), (1.0, 0.0), (0.35, 1.0))]),
        (0.7, [line((0.0, 0.08), (0.1, 0.0), (1.0, 0.0), (0.4, 1.0)), line((0.3, 0.5), (0.9, 0.5))]),
    ],
    8: [
        (0.6, [arc(0.5, 0.25, 0.4, 0.25, 90, -270, 28) + arc(0.5, 0.74, 0.5, 0.26, -90, 270, 28)]),
        (0.6, [arc(0.5, 0.26, 0.42, 0.26, 90, -270, 28), arc(0.5, 0.74, 0.48, 0.26, -90, 270, 28)]),
    ],
    9: [
        (0.65, [arc(0.5, 0.3, 0.48, 0.3, 0, -360, 28) + line((0.98, 0.3), (0.85, 1.0))]),
        (0.6, [arc(0.5, 0.28, 0.48, 0.28, -20, -380, 28) + line((0.95, 0.2), (0.95, 1.0))]),
    ],
}


def place(strokes, ratio, rng):
    """Put a unit-box template on the canvas: size, position, slant and wobble at random."""
    height = rng.uniform(110, 240)  # MNIST's digits would be 200 px tall on this canvas
    width = height * ratio * rng.uniform(0.85, 1.15)
    x0 = rng.uniform(15, CANVAS - 15 - width)
    y0 = rng.uniform(15, CANVAS - 15 - height)
    slant = rng.uniform(-0.2, 0.2)  # x shifts with height, as in italic handwriting
    placed = []
    for stroke in strokes:
        pts = np.array(stroke, dtype=float)
        x = x0 + (pts[:, 0] + slant * (0.5 - pts[:, 1])) * width
        y = y0 + pts[:, 1] * height
        wobble = rng.normal(0, 1.5, size=(len(pts), 2))
        xy = np.clip(np.stack([x, y], axis=1) + wobble, 0, CANVAS - 1)
        placed.append([[round(float(a), 1), round(float(b), 1)] for a, b in xy])
    return placed


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("digit*.json"):
        old.unlink()
    count = 0
    for digit, variants in TEMPLATES.items():
        for i in range(PER_DIGIT):
            rng = np.random.default_rng(1000 * digit + i)
            ratio, strokes = variants[i % len(variants)]
            data = {"label": digit, "strokes": place(strokes, ratio, rng), "canvas_size": CANVAS}
            (out / f"digit{digit}_{i}.json").write_text(json.dumps(data, separators=(",", ":")) + "\n")
            count += 1
    print(f"wrote {count} drawings to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
