"""One drawing to probabilities, as chapter 04's canvas does it: how fast, and how accurate.

    python -m bench.bench_predict

Times, on the same machine in the same run (median after warm-up):
  pipeline    rasterise the strokes + mnist_preprocess + the reference model (eager)
  model only  the reference model on an already-prepared image (the same-run baseline)
  preprocess  rasterise + mnist_preprocess alone
  keras       the same network as a Keras model, through model.predict (for comparison)
Then the accuracy of chapter 03's model on the sample drawings of assets/drawings/, raw and
MNIST-preprocessed. Prints numbers only; asserts nothing. Target: pipeline <= 20 ms.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from checks.reference import CheckpointProblem, forward, load_params, random_params  # noqa: E402
from tfbook.drawing import load_sample_drawings, mnist_preprocess, rasterise  # noqa: E402
from booktools.build import REFERENCE_RUNS  # noqa: E402
from bench.record import Recording  # noqa: E402

WARMUP, REPEATS = 5, 50


def median_ms(fn, repeats: int = REPEATS) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def keras_model(params) -> tf.keras.Model:
    """The post's network as Keras layers, holding the same weights as ``params``."""
    layers = tf.keras.layers
    model = tf.keras.Sequential(
        [
            tf.keras.Input((28, 28, 1)),
            layers.Conv2D(32, 5, padding="same", activation="relu"),
            layers.MaxPool2D(2, padding="same"),
            layers.Conv2D(64, 5, padding="same", activation="relu"),
            layers.MaxPool2D(2, padding="same"),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.set_weights(
        [params[k] for k in ("W_conv1", "b_conv1", "W_conv2", "b_conv2", "W_fc1", "b_fc1", "W_fc2", "b_fc2")]
    )
    return model


def main(argv=None) -> None:
    with Recording("bench_predict", "bench.bench_predict", argv) as run:
        measure(run.figures)


def measure(figures: dict) -> None:
    """Print the timings and accuracies; ``figures`` gets the key figures as numbers."""
    try:
        # `make book`'s reference checkpoint, or the one under $TFBOOK_RUNS when that is set
        runs = Path(os.environ["TFBOOK_RUNS"]) if "TFBOOK_RUNS" in os.environ else REFERENCE_RUNS
        params = load_params(runs / "ch03" / "checkpoint")
        trained = True
    except CheckpointProblem as e:
        print(f"note: {e}\n      timing with random weights; accuracy needs the checkpoint.\n")
        params, trained = random_params(0), False
    params = {k: tf.constant(v) for k, v in params.items()}
    drawings = load_sample_drawings()
    drawing = next(d for d in drawings if d.label == 7)
    image = mnist_preprocess(drawing.pixels()).reshape(1, 784)
    model = keras_model({k: v.numpy() for k, v in params.items()})

    def pipeline():
        img = mnist_preprocess(rasterise(drawing.strokes, drawing.canvas_size))
        return forward(img.reshape(1, 784), params)["probabilities"].numpy()

    def model_only():
        return forward(image, params)["probabilities"].numpy()

    def preprocess_only():
        return mnist_preprocess(rasterise(drawing.strokes, drawing.canvas_size))

    def keras_predict():
        return model.predict(image.reshape(1, 28, 28, 1), verbose=0)

    gap = float(np.abs(pipeline() - keras_predict()).max())
    print(f"(Keras copy vs reference model: largest probability difference {gap:.1e})")
    times = {
        "pipeline (strokes -> probabilities)": median_ms(pipeline),
        "model only (reference forward, eager)": median_ms(model_only),
        "preprocess only (rasterise + mnist_preprocess)": median_ms(preprocess_only),
        "keras model.predict (same weights, no preprocessing)": median_ms(keras_predict, 20),
    }
    print(
        f"one drawing to probabilities, median of {REPEATS} after {WARMUP} warm-up calls "
        f"({os.cpu_count()} CPU cores, TF {tf.__version__}):"
    )
    for name, ms in times.items():
        print(f"  {name:<55} {ms:8.2f} ms")
    base = times["model only (reference forward, eager)"]
    pipe = times["pipeline (strokes -> probabilities)"]
    print(f"  pipeline / model only        = {pipe / base:.2f}x")
    print(
        f"  keras predict / pipeline     = {times['keras model.predict (same weights, no preprocessing)'] / pipe:.2f}x"
    )
    print(f"  pipeline target <= 20 ms: {'met' if pipe <= 20 else 'NOT met'}")
    figures.update(
        trained_weights=trained,
        keras_gap=gap,
        ms={name.split(" (")[0]: round(ms, 3) for name, ms in times.items()},
        pipeline_over_model=round(pipe / base, 3),
        keras_over_pipeline=round(times["keras model.predict (same weights, no preprocessing)"] / pipe, 3),
        target_ms=20,
        target_met=pipe <= 20,
    )

    if not trained:
        return
    labels = np.array([d.label for d in drawings])
    raw = np.stack([d.pixels() for d in drawings])
    variants = {
        "raw rasterised, no preprocessing": raw,
        "mnist_preprocess (default, ink kept in the 20x20 box)": np.stack([mnist_preprocess(r) for r in raw]),
        "mnist_preprocess(fit_box=False) (MNIST's exact recipe)": np.stack(
            [mnist_preprocess(r, fit_box=False) for r in raw]
        ),
    }
    print(f"\naccuracy on the {len(drawings)} sample drawings (assets/drawings/):")
    for name, images in variants.items():
        predicted = np.argmax(forward(images.reshape(-1, 784), params)["logits"].numpy(), axis=1)
        wrong = [f"{d.name}->{p}" for d, p in zip(drawings, predicted) if p != d.label]
        figures.setdefault("accuracy", {})[name] = round(float(np.mean(predicted == labels)), 4)
        print(f"  {name:<55} {np.mean(predicted == labels):6.1%}" + (f"  wrong: {', '.join(wrong)}" if wrong else ""))


if __name__ == "__main__":
    main()
