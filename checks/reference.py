"""The grader's own reference model of chapters 03 and 04 (the post's network).

Graders load a learner's checkpoint into this model and measure it themselves; nothing here
runs inside the learner's kernel during grading.
"""

from __future__ import annotations

import hashlib

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbook.i18n import _

# Variable names shared by chapters 03 and 04, the checkpoint's keys, and this module.
PARAM_SHAPES = {
    "W_conv1": (5, 5, 1, 32),
    "b_conv1": (32,),
    "W_conv2": (5, 5, 32, 64),
    "b_conv2": (64,),
    "W_fc1": (7 * 7 * 64, 1024),
    "b_fc1": (1024,),
    "W_fc2": (1024, 10),
    "b_fc2": (10,),
}


class CheckpointProblem(ValueError):
    """The checkpoint is missing or does not fit the model; the message says which and how to fix."""


def random_params(seed: int, fc_init_stddev: float = 0.1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in PARAM_SHAPES.items():
        scale = fc_init_stddev if name == "W_fc1" else 0.1
        params[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return params


def forward(x, params, keep_prob: float = 1.0, seed: int | None = None) -> dict[str, tf.Tensor]:
    """Every layer's output for images ``x`` (rows of 784 or (N, 28, 28, 1))."""
    p = {k: tf.convert_to_tensor(v, tf.float32) for k, v in params.items()}
    x = tf.convert_to_tensor(x, tf.float32)
    out = {"x_image": tf.reshape(x, [-1, 28, 28, 1])}
    out["conv1"] = tf.nn.conv2d(out["x_image"], p["W_conv1"], strides=1, padding="SAME")
    out["h_conv1"] = tf.nn.relu(out["conv1"] + p["b_conv1"])
    out["h_pool1"] = tf.nn.max_pool2d(out["h_conv1"], ksize=2, strides=2, padding="SAME")
    out["conv2"] = tf.nn.conv2d(out["h_pool1"], p["W_conv2"], strides=1, padding="SAME")
    out["h_conv2"] = tf.nn.relu(out["conv2"] + p["b_conv2"])
    out["h_pool2"] = tf.nn.max_pool2d(out["h_conv2"], ksize=2, strides=2, padding="SAME")
    out["h_flat"] = tf.reshape(out["h_pool2"], [-1, 7 * 7 * 64])
    out["h_fc1"] = tf.nn.relu(out["h_flat"] @ p["W_fc1"] + p["b_fc1"])
    out["h_drop"] = out["h_fc1"] if keep_prob == 1.0 else tf.nn.dropout(out["h_fc1"], rate=1.0 - keep_prob, seed=seed)
    out["logits"] = out["h_drop"] @ p["W_fc2"] + p["b_fc2"]
    out["probabilities"] = tf.nn.softmax(out["logits"])
    return out


def checkpoint_prefix(path: str | Path) -> str:
    """Accept a checkpoint prefix, its directory, or one of its files; return the prefix."""
    path = Path(path)
    if path.is_dir():
        found = tf.train.latest_checkpoint(str(path))
        if found:
            return found
        index = sorted(path.glob("*.index"))
        if index:
            return str(index[-1].with_suffix(""))
        raise CheckpointProblem(
            _(
                "no checkpoint in {path}. Produce one by running chapter 03 to the end "
                "(run all cells of chapters/03_cnn_training.ipynb, or `python -m checks 03`, which keeps the "
                "checkpoint your notebook trains)."
            ).format(path=path)
        )
    if path.suffix == ".index" or ".data-" in path.name:
        return str(path.with_name(path.name.split(".index")[0].split(".data-")[0]))
    if not Path(str(path) + ".index").exists():
        raise CheckpointProblem(
            _(
                "no checkpoint at {path} (looked for {path}.index). Produce one by running "
                "chapter 03 to the end (run all cells of chapters/03_cnn_training.ipynb, or `python -m checks 03`)."
            ).format(path=path)
        )
    return str(path)


def load_params(path: str | Path) -> dict[str, np.ndarray]:
    """Read the eight variables of a ``tf.train.Checkpoint`` written by chapter 03.

    Raises CheckpointProblem naming every variable that is missing or has the wrong shape.
    """
    prefix = checkpoint_prefix(path)
    reader = tf.train.load_checkpoint(prefix)
    stored = {}
    for key, shape in reader.get_variable_to_shape_map().items():
        name = key.split("/")[0]
        if key.endswith(".ATTRIBUTES/VARIABLE_VALUE"):
            stored[name] = (key, tuple(shape))
    problems = []
    for name, shape in PARAM_SHAPES.items():
        if name not in stored:
            problems.append(_("{name}: missing").format(name=name))
        elif stored[name][1] != shape:
            problems.append(
                _("{name}: shape {stored} in the checkpoint, {shape} in the model").format(
                    name=name, stored=stored[name][1], shape=shape
                )
            )
    if problems:
        extra = sorted(set(stored) - set(PARAM_SHAPES))
        raise CheckpointProblem(
            _("checkpoint {prefix} does not match the model: {problems}").format(
                prefix=prefix, problems="; ".join(problems)
            )
            + (_(" (the checkpoint has instead: {names})").format(names=", ".join(extra)) if extra else "")
            + _(". Save with tf.train.Checkpoint(**params) where params uses the names {names}.").format(
                names=", ".join(PARAM_SHAPES)
            )
        )
    return {name: reader.get_tensor(stored[name][0]) for name in PARAM_SHAPES}


# Accuracies already measured in this process, by content: `tfbook book` measures chapter 03's
# checkpoint in chapter 03's check and again, restored, in chapter 04's (10,000 images through
# the network: about 5 s of CPU each time), and the test suite measures the same few often.
_MEASURED: dict[str, float] = {}


def evaluate(params, images: np.ndarray, labels: np.ndarray, batch: int = 2000) -> float:
    """Accuracy over ``images`` (float rows in [0, 1]) with dropout off, in chunks."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode() + np.ascontiguousarray(params[name], np.float32).tobytes())
    digest.update(np.ascontiguousarray(images, np.float32).tobytes() + np.asarray(labels).tobytes())
    key = digest.hexdigest() + f"/{batch}"
    if key not in _MEASURED:
        if len(_MEASURED) >= 16:
            _MEASURED.clear()
        _MEASURED[key] = _evaluate(params, images, labels, batch)
    return _MEASURED[key]


def _evaluate(params, images: np.ndarray, labels: np.ndarray, batch: int) -> float:
    correct = 0
    for start in range(0, len(images), batch):
        logits = forward(images[start : start + batch], params)["logits"]
        correct += int(np.sum(np.argmax(logits.numpy(), axis=1) == labels[start : start + batch]))
    return correct / len(images)
