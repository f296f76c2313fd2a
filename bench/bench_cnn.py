"""Chapter 03's CNN training: how fast, and how accurate, against the post and against Keras.

    python -m bench.bench_cnn [--part quick|throughput|full|all|limits] [--steps N]
                              [--rounds R] [--round-steps S] [--block B] [--no-best] [--no-grading]

Variant (a) is the chapter's own code, not a copy: tfbook.chapter_code runs the code cells
of solutions/03_cnn_training.py in this process, without its training cells, and (a) calls the
chapter's init_params, make_train_step and evaluate in the chapter's loop (its seeded
batches, the loss read every step); the alternatives to (a) change one thing and keep the
chapter's forward and loss_fn. Every variant trains and tests on the chapter's MNIST arrays.

Part 0, the `quick` preset (book.toml) against its targets (>= 99.0% test accuracy, <= 60 s
of training), with the post's recipe trained for the same number of seconds as the baseline.

Part 1, throughput at batch 50 (the post's model, keep_prob 0.5, Adam 1e-4), images/s of:
  a  TF2 chapter  the chapter's tf.function train step fed NumPy batches (its own loop)
  b  TF1 post     the post's code as a tf.compat.v1 graph + Session, fed with feed_dict
  c  Keras fit    the same network as a keras.Sequential model, trained with model.fit
  plus candidate improvements to (a), each a single change to the chapter's step or loop:
  a+jit      the same train step with tf.function(jit_compile=True) (XLA)
  a-XLA Adam the chapter's loop with Keras' Adam not compiled by XLA (the chapter compiles
             only the optimizer update with XLA, in a nested jit_compile=True function)
  a+v1 Adam  tf.compat.v1.train.AdamOptimizer (one fused kernel per variable) instead of Keras'
  a+tensors  the training set converted to tensors once; batches gathered with tf.gather
  a+tf.data  batches from a tf.data pipeline (gather on the tensors, then prefetch)
Every variant is warmed up; then they take turns every 10 steps (the order rotating), so
that load from other jobs on a shared machine hits them all alike. Each round is 100 steps
per variant; the table gives the median over rounds, and each ratio the median of the
per-round ratios (paired rounds cancel most of the load's drift).
Targets: a/b >= 0.9, a/c >= 1.3.

Part 2, the post's full recipe (batch 50, Adam 1e-4, 10,000 steps, test accuracy every 500
steps on the 10,000 test images in 4 chunks), test accuracy of:
  a  TF2 chapter, W_fc1 stddev 1.0 (the post's value)
  b  TF1 post (graph seed 20160704), W_fc1 stddev 1.0
  c  TF2 chapter, W_fc1 stddev 0.1 (the "fixed" initialisation)
trained in interleaved chunks of 500 steps. All three draw the same mini-batches (the
chapter's seeded permutations), so they differ only in framework and initial values.
Target: |a - b| <= 0.3 points. Prints numbers only; asserts nothing.

Part 3 (--part limits, not in `all`; about 10 minutes): chapter 03 at this CPU's limit.
  3a throughput at batch 50 (the post's recipe), interleaved as in part 1 (every variant warmed
     up, then turns of --block steps in a rotating order; --rounds rounds of --round-steps):
       a                 the chapter's train step, fp32
       a+bf16 rewrite    the same train step, called inside the chapter's bfloat16_rewrite()
                         (oneDNN's automatic bfloat16 rewrite of the graph)
       a+bf16 casts      mixed precision by hand: forward on bf16 copies of input and variables
       b                 the post's TF1 graph in a Session, fp32 (made while the option is off:
                         a Session keeps the graph options of the moment it was created)
       c                 Keras fit, fp32;  c+mixed_bfloat16: Keras fit under that policy
     Targets: rewrite / b >= 1.2, rewrite / c >= 1.2, rewrite / (c+mixed_bfloat16) >= 0.9.
  3b the quick preset's recipe trained by the chapter's own train(), fp32, bf16 rewrite and bf16
     casts, from the same initial values on the same batches. Targets: |bf16 - fp32| <= 0.2
     points; in the preset's precision >= 99.0% test accuracy in <= 60 s of training.
  3c the best preset ([presets.best.ch03]) in the chapter's train(). Target >= 99.4% in <= 600 s.
  3d `python -m checks 03` on the solution, quick preset, in a fresh process: wall time from
     command to table. Target <= 60 s.
  The figures go to assets/bench/ch03_limits.json, which chapter 03's optional section reads.
  On a CPU without bf16 units the bf16 variants are skipped with a message and the presets
  train in fp32. The option is read when a tf.function is *called* (TensorFlow instantiates
  the function once per setting and keeps both), so the bf16 variants turn it on around their
  own calls only. What a CPU without bf16 units gets from the rewrite:
  ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI keeps oneDNN off its bf16 instructions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.record import Recording  # noqa: E402
from tfbook.chapter_code import load_chapter, notebook_path  # noqa: E402
from tfbook.hardware import bf16_units  # noqa: E402
from tfbook.manifest import preset  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the post's keep_prob= and v1 ops print deprecation notices

# The chapter's own code: its lesson's cells without the training ones, run here (about 5 s).
chapter = load_chapter("03", preset="quick")
SEED = chapter.settings["seed"]  # 20160704, the post's date
BATCH, LEARNING_RATE, KEEP_PROB_TRAIN = 50, 1e-4, chapter.KEEP_PROB_TRAIN  # the post's recipe
EVAL_EVERY, EVAL_CHUNKS = 500, 4
WARMUP_STEPS = 20

mnist = chapter.mnist  # every variant trains and tests on the chapter's arrays
x_train, t_train, x_test, t_test = chapter.x_train, chapter.t_train, chapter.x_test, chapter.t_test


class Batches:
    """The chapter's mini-batches: a seeded permutation of the training set, anew each epoch."""

    def __init__(self, seed=SEED):
        self.rng = np.random.default_rng(seed)
        self.order, self.position = self.rng.permutation(len(x_train)), 0

    def next(self, size=BATCH):
        if self.position + size > len(self.order):
            self.order, self.position = self.rng.permutation(len(x_train)), 0
        self.position += size
        return self.order[self.position - size : self.position]


# --- (a) the chapter's TF2 code, run from solutions/03_cnn_training.py itself -------------


def variant_train_step(params, learning_rate, jit_compile=False, adam="keras-xla", cast=False):
    """The chapter's train step with one change, for the alternatives to (a); built on the
    chapter's forward, loss_fn and KEEP_PROB_TRAIN. (a) itself is chapter.make_train_step.

    The chapter (adam="keras-xla", jit_compile=False) keeps Keras' Adam but compiles only its
    update with XLA: Keras 3's Adam is about a dozen separate element-wise ops per variable
    (12 passes over W_fc1's 3.2M floats), which XLA fuses into one. adam="keras" leaves that
    update uncompiled; adam="v1" uses tf.compat.v1.train.AdamOptimizer, whose update is one
    fused kernel (ResourceApplyAdam), as in the post's graph. jit_compile=True compiles the
    whole step (convolutions included) with XLA. cast=True is mixed precision by hand: the
    chapter's forward runs on bfloat16 copies of the input and of every variable (the fp32
    variables stay the master weights that Adam updates), its logits go back to fp32 for the loss.
    """
    weights = list(params.values())
    if adam == "v1":
        optimizer = tf.compat.v1.train.AdamOptimizer(learning_rate)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(weights)  # its slots, made outside any (XLA-compiled) function

    def update(grads):
        optimizer.apply_gradients(zip(grads, weights))

    if adam == "keras-xla":
        update = tf.function(update, jit_compile=True)  # nested: only the update goes to XLA

    def chapter_loss(x, t):
        if cast:
            bf16_params = {name: tf.cast(value, tf.bfloat16) for name, value in params.items()}
            logits = chapter.forward(tf.cast(x, tf.bfloat16), bf16_params, chapter.KEEP_PROB_TRAIN)["logits"]
            return chapter.loss_fn(tf.cast(logits, tf.float32), t)
        return chapter.loss_fn(chapter.forward(x, params, chapter.KEEP_PROB_TRAIN)["logits"], t)

    def step(x, t):
        with tf.GradientTape() as tape:
            loss = chapter_loss(x, t)
        update(tape.gradient(loss, weights))
        return loss

    spec = [tf.TensorSpec([None, 784], tf.float32), tf.TensorSpec([None, 10], tf.float32)]
    return tf.function(step, input_signature=spec, jit_compile=jit_compile)


class ChapterTF2:
    """The chapter's init_params, make_train_step and evaluate, in the chapter's loop (its
    seeded batches, the loss read every step); `feed` picks how batches reach the train step
    (the chapter: NumPy), `jit_compile` and `adam` swap in a variant_train_step."""

    def __init__(
        self,
        fc_init_stddev=1.0,
        feed="numpy",
        jit_compile=False,
        adam="keras-xla",
        batch=BATCH,
        learning_rate=LEARNING_RATE,
        precision="fp32",
    ):
        self.params = chapter.init_params(fc_init_stddev, SEED)
        # "bf16": every call inside the chapter's bfloat16_rewrite(); "cast": explicit bf16 casts
        self.precision = precision
        if jit_compile or adam != "keras-xla" or precision == "cast":
            self.train_step = variant_train_step(
                self.params, learning_rate, jit_compile, adam, cast=precision == "cast"
            )
        else:
            self.train_step = chapter.make_train_step(self.params, learning_rate)
        self.batches, self.feed, self.batch = Batches(), feed, batch
        if feed in ("tensors", "tf.data"):  # convert the training set once, not every batch
            self.x_all, self.t_all = tf.constant(x_train), tf.constant(t_train)
        if feed == "tf.data":
            # The same index stream as the chapter's, gathered and prefetched by tf.data's threads.
            def index_stream():
                while True:
                    yield self.batches.next()

            indices = tf.data.Dataset.from_generator(index_stream, output_signature=tf.TensorSpec([BATCH], tf.int64))
            self.iterator = iter(
                indices.map(lambda i: (tf.gather(self.x_all, i), tf.gather(self.t_all, i))).prefetch(tf.data.AUTOTUNE)
            )

    def train(self, steps):
        if self.precision == "bf16":
            with chapter.bfloat16_rewrite():
                self._train(steps)
        else:
            self._train(steps)

    def _train(self, steps):
        for _ in range(steps):
            if self.feed == "numpy":
                batch = self.batches.next(self.batch)
                x, t = x_train[batch], t_train[batch]
            elif self.feed == "tensors":
                batch = self.batches.next()
                x, t = tf.gather(self.x_all, batch), tf.gather(self.t_all, batch)
            else:
                x, t = next(self.iterator)
            float(self.train_step(x, t))  # the chapter reads the loss every step

    def evaluate(self):
        """The chapter's evaluate(): test accuracy over 4 chunks, dropout off."""
        return chapter.evaluate(self.params, EVAL_CHUNKS)[1]


# --- (b) the post's TF1 code, through tf.compat.v1 ---------------------------------------


class PostTF1:
    """The post's graph, line for line (its names too), run in a Session with feed_dict."""

    def __init__(self, fc_init_stddev=1.0):
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        with self.graph.as_default():
            v1.set_random_seed(SEED)
            x = v1.placeholder(tf.float32, [None, 784])
            x_image = tf.reshape(x, [-1, 28, 28, 1])
            W_conv1 = tf.Variable(v1.truncated_normal([5, 5, 1, 32], stddev=0.1))
            h_conv1 = v1.nn.conv2d(x_image, W_conv1, strides=[1, 1, 1, 1], padding="SAME")
            b_conv1 = tf.Variable(tf.constant(0.1, shape=[32]))
            h_conv1_cutoff = tf.nn.relu(h_conv1 + b_conv1)
            h_pool1 = v1.nn.max_pool(h_conv1_cutoff, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
            W_conv2 = tf.Variable(v1.truncated_normal([5, 5, 32, 64], stddev=0.1))
            h_conv2 = v1.nn.conv2d(h_pool1, W_conv2, strides=[1, 1, 1, 1], padding="SAME")
            b_conv2 = tf.Variable(tf.constant(0.1, shape=[64]))
            h_conv2_cutoff = tf.nn.relu(h_conv2 + b_conv2)
            h_pool2 = v1.nn.max_pool(h_conv2_cutoff, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
            h_pool2_flat = tf.reshape(h_pool2, [-1, 7 * 7 * 64])
            # The post wrote tf.truncated_normal([num_units1, num_units2]): stddev 1.0 by default.
            w2 = tf.Variable(v1.truncated_normal([7 * 7 * 64, 1024], stddev=fc_init_stddev))
            b2 = tf.Variable(tf.constant(0.1, shape=[1024]))
            hidden2 = tf.nn.relu(tf.matmul(h_pool2_flat, w2) + b2)
            keep_prob = v1.placeholder(tf.float32)
            hidden2_drop = v1.nn.dropout(hidden2, keep_prob)
            w0 = tf.Variable(tf.zeros([1024, 10]))
            b0 = tf.Variable(tf.zeros([10]))
            k = tf.matmul(hidden2_drop, w0) + b0
            p = tf.nn.softmax(k)
            t = v1.placeholder(tf.float32, [None, 10])
            # The post's softmax_cross_entropy_with_logits(k, t); _v2 differs only in also
            # back-propagating into the labels, which are a placeholder here.
            loss = tf.reduce_mean(v1.nn.softmax_cross_entropy_with_logits_v2(logits=k, labels=t))
            self.train_step = v1.train.AdamOptimizer(0.0001).minimize(loss)
            correct_prediction = tf.equal(tf.argmax(p, 1), tf.argmax(t, 1))
            self.accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
            self.sess = v1.Session(graph=self.graph)
            self.sess.run(v1.global_variables_initializer())
        self.x, self.t, self.keep_prob = x, t, keep_prob
        self.batches = Batches()  # the post's next_batch(50), replaced by the chapter's batches

    def train(self, steps):
        for _ in range(steps):
            batch = self.batches.next()
            self.sess.run(
                self.train_step, feed_dict={self.x: x_train[batch], self.t: t_train[batch], self.keep_prob: 0.5}
            )

    def evaluate(self):
        accuracies = [
            self.sess.run(self.accuracy, feed_dict={self.x: xs, self.t: ts, self.keep_prob: 1.0})
            for xs, ts in zip(np.array_split(x_test, EVAL_CHUNKS), np.array_split(t_test, EVAL_CHUNKS))
        ]
        return float(np.mean(accuracies))


# --- (c) the same network in Keras ---------------------------------------------------------


class KerasFit:
    """keras.Sequential + model.fit at batch 50; one fit() call per measured block of steps."""

    def __init__(self, policy="float32"):
        keras.utils.set_random_seed(SEED)
        layers = keras.layers
        # Keras' mixed precision: layers made under "mixed_bfloat16" compute in bf16 and keep fp32
        # weights; the output layer stays fp32 (Keras' advice), so the loss sees fp32 logits.
        keras.mixed_precision.set_global_policy(policy)
        try:
            self.model = keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Conv2D(32, 5, padding="same", activation="relu"),
                    layers.MaxPool2D(2, padding="same"),
                    layers.Conv2D(64, 5, padding="same", activation="relu"),
                    layers.MaxPool2D(2, padding="same"),
                    layers.Flatten(),
                    layers.Dense(1024, activation="relu"),
                    layers.Dropout(0.5),
                    layers.Dense(10, dtype="float32"),
                ]
            )
        finally:  # the policy is global: later models are fp32 again, whatever happened
            keras.mixed_precision.set_global_policy("float32")
        self.model.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=keras.losses.CategoricalCrossentropy(from_logits=True)
        )
        self.batches = Batches()

    def train(self, steps, callbacks=()):
        # The same batches as the others, in the same order.
        rows = np.concatenate([self.batches.next() for _ in range(steps)])
        self.model.fit(
            x_train[rows].reshape(-1, 28, 28, 1),
            t_train[rows],
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=list(callbacks),
        )

    def timed_train(self, steps):
        """Seconds from the first step's start to the last step's end of one fit() call: fit's
        per-call set-up (a new data adapter), which a real run pays once per epoch, is left out."""
        clock = StepClock()
        self.train(steps, callbacks=[clock])
        return clock.seconds


class StepClock(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds = time.perf_counter() - self.started


# --- the two parts --------------------------------------------------------------------------


def throughput(rounds, steps, block):
    variants = {
        "a  TF2 chapter": lambda: ChapterTF2(),
        "b  TF1 post": lambda: PostTF1(),
        "c  Keras fit": lambda: KerasFit(),
        "a+jit": lambda: ChapterTF2(jit_compile=True),
        "a-XLA Adam": lambda: ChapterTF2(adam="keras"),
        "a+v1 Adam": lambda: ChapterTF2(adam="v1"),
        "a+tensors": lambda: ChapterTF2(feed="tensors"),
        "a+tf.data": lambda: ChapterTF2(feed="tf.data"),
    }
    trainers = {name: make() for name, make in variants.items()}
    for trainer in trainers.values():  # traces, compiles and warms the kernels' caches
        trainer.train(WARMUP_STEPS)
    names, keras_name = list(trainers), "c  Keras fit"
    others = [name for name in names if name != keras_name]
    seconds = {name: [0.0] * rounds for name in names}

    class Interleave(keras.callbacks.Callback):
        """model.fit owns its loop, so the other variants run inside it: after every `block`
        Keras steps, each other variant trains `block` steps (in a rotating order). Keras's time
        is taken from the first step's start to the last step's end, so it excludes the others'."""

        def on_train_batch_begin(self, batch, logs=None):
            if batch % block == 0:
                self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % block:
                return
            r = batch // steps
            seconds[keras_name][r] += time.perf_counter() - self.started
            k = (batch // block) % len(others)
            for name in others[k:] + others[:k]:
                started = time.perf_counter()
                trainers[name].train(block)
                seconds[name][r] += time.perf_counter() - started
            if (batch + 1) % steps == 0:
                print(
                    f"round {r + 1}: "
                    + ", ".join(f"{n.split()[0]} {steps * BATCH / seconds[n][r]:,.0f}" for n in names),
                    flush=True,
                )

    print(
        f"\n## Part 1: throughput (images/s), batch {BATCH}: {rounds} rounds x {steps} steps per variant, "
        f"interleaved in blocks of {block} steps"
    )
    trainers[keras_name].train(rounds * steps, callbacks=[Interleave()])
    rates = {name: [steps * BATCH / s for s in seconds[name]] for name in names}

    def ratio(x, y):  # the median of the per-round ratios: paired, so less noisy than medians alone
        return statistics.median(p / q for p, q in zip(rates[x], rates[y]))

    a = names[0]
    print(f"\n{'variant':16} {'median img/s':>12} {'min':>8} {'max':>8} {'vs a':>6}")
    for name in names:
        print(
            f"{name:16} {statistics.median(rates[name]):12,.0f} {min(rates[name]):8,.0f} "
            f"{max(rates[name]):8,.0f} {ratio(name, a):6.2f}"
        )
    print(f"\na/b = {ratio(a, names[1]):.2f} (target >= 0.9)    a/c = {ratio(a, keras_name):.2f} (target >= 1.3)")
    return {
        "rounds": rounds,
        "steps_per_round": steps,
        "median_images_per_s": {name.split()[0]: round(statistics.median(rates[name])) for name in names},
        "vs_a": {name.split()[0]: round(ratio(name, a), 3) for name in names},
        "a_over_b": round(ratio(a, names[1]), 3),
        "a_over_c": round(ratio(a, keras_name), 3),
    }


def full(total_steps):
    variants = {
        "a TF2 (1.0)": lambda: ChapterTF2(fc_init_stddev=1.0),
        "b TF1 (1.0)": lambda: PostTF1(fc_init_stddev=1.0),
        "c TF2 (0.1)": lambda: ChapterTF2(fc_init_stddev=0.1),
    }
    trainers = {name: make() for name, make in variants.items()}
    seconds = {name: 0.0 for name in trainers}
    curves = {name: [] for name in trainers}
    print(f"\n## Part 2: the post's recipe, {total_steps:,} steps, interleaved in chunks of {EVAL_EVERY}")
    print(f"{'step':>6} " + " ".join(f"{name:>12}" for name in trainers), flush=True)
    done = 0
    while done < total_steps:
        chunk = min(EVAL_EVERY, total_steps - done)
        for name, trainer in trainers.items():
            started = time.perf_counter()
            trainer.train(chunk)
            seconds[name] += time.perf_counter() - started
            curves[name].append(trainer.evaluate())
        done += chunk
        print(f"{done:6d} " + " ".join(f"{curves[name][-1]:12.2%}" for name in trainers), flush=True)
    a, b, c = (curves[name][-1] * 100 for name in trainers)
    print(
        "\ntraining time (first-call tracing included): "
        + ", ".join(f"{name} {s:,.0f} s ({total_steps * BATCH / s:,.0f} img/s)" for name, s in seconds.items())
    )
    print(f"final test accuracy: a {a:.2f}%, b {b:.2f}%, c {c:.2f}%")
    print(f"a - b = {a - b:+.2f} points (target |a - b| <= 0.3);  c - a = {c - a:+.2f} points")
    return {
        "steps": total_steps,
        "test_accuracy_by_chunk": {name.split()[0]: [round(x * 100, 2) for x in curves[name]] for name in trainers},
        "train_seconds": {name.split()[0]: round(s, 1) for name, s in seconds.items()},
        "final_test_accuracy": {"a": round(a, 2), "b": round(b, 2), "c": round(c, 2)},
        "a_minus_b": round(a - b, 2),
        "c_minus_a": round(c - a, 2),
    }


def quick():
    """The `quick` preset's recipe against its targets, and the post's recipe given the same time."""
    settings = chapter.settings  # the chapter ran with the quick preset
    quick_run = ChapterTF2(
        fc_init_stddev=settings["fc_init_stddev"], batch=settings["batch_size"], learning_rate=preset_schedule(settings)
    )  # fp32: part 3 measures the preset's bf16
    post_run = ChapterTF2(fc_init_stddev=1.0)  # batch 50, Adam 1e-4: the post's recipe
    print(
        f"\n## Part 0: the quick preset ({settings['steps']} steps, batch {settings['batch_size']}, "
        f"Adam peak {settings['learning_rate']:g} {settings['lr_schedule']}, W_fc1 stddev "
        f"{settings['fc_init_stddev']}, fp32) vs the post's recipe trained for the same seconds (interleaved)"
    )
    quick_seconds = post_seconds = 0.0
    quick_run.train(1), post_run.train(1)  # trace both first; tracing is not training
    for _ in range(settings["steps"] // settings["eval_every"]):
        started = time.perf_counter()
        quick_run.train(settings["eval_every"])
        quick_seconds += time.perf_counter() - started
        while post_seconds < quick_seconds:  # the post's recipe catches up to the same training time
            started = time.perf_counter()
            post_run.train(10)
            post_seconds += time.perf_counter() - started
    accuracy, post_accuracy = quick_run.evaluate(), post_run.evaluate()
    print(
        f"quick preset: test accuracy {accuracy:.2%} (target >= 99.0%: {accuracy / 0.99:.3f}x), "
        f"training {quick_seconds:.1f} s (target <= 60 s: {60 / quick_seconds:.2f}x)"
    )
    print(
        f"the post's recipe in the same {post_seconds:.1f} s: {post_accuracy:.2%}  "
        f"(quick - post = {100 * (accuracy - post_accuracy):+.2f} points)"
    )
    return {
        "test_accuracy": round(100 * accuracy, 2),
        "train_seconds": round(quick_seconds, 1),
        "post_train_seconds": round(post_seconds, 1),
        "post_test_accuracy": round(100 * post_accuracy, 2),
    }


LIMITS_JSON = Path(__file__).resolve().parent.parent / "assets" / "bench" / "ch03_limits.json"


def preset_schedule(settings):
    """The chapter's learning_rate_schedule for a preset's ch03 settings (book.toml)."""
    return chapter.learning_rate_schedule(
        settings["learning_rate"], settings["steps"], settings["warmup_steps"], settings["lr_schedule"]
    )


def train_preset(settings, precision, desc):
    """A preset's recipe trained by the chapter's own train() in "fp32" or "bf16" (the rewrite):
    (history, seconds of training), as the chapter's training cell gets them."""
    params = chapter.init_params(settings["fc_init_stddev"], SEED)
    with chapter.bfloat16_rewrite(precision == "bf16"):
        return chapter.train(
            params,
            settings["steps"],
            settings["batch_size"],
            preset_schedule(settings),
            settings["eval_every"],
            SEED,
            desc=desc,
            max_shift=settings["max_shift"],
        )


def against_target(record, label, value, sign, target, unit="", note=""):
    """Print a figure beside its target (`note`: printed after the label) and keep both in the record."""
    print(f"{label}{f' ({note})' if note else ''} = {value:.2f}{unit} (target {sign} {target}{unit})")
    record["targets"][label] = [round(value, 3), f"{sign} {target}"]


def recipe_row(recipe, settings, precision, seconds, accuracy):
    return {
        "recipe": recipe,
        "precision": precision,
        "steps": settings["steps"],
        "batch_size": settings["batch_size"],
        "max_shift": settings["max_shift"],
        "train_seconds": round(seconds, 1),
        "test_accuracy": round(accuracy, 4),
    }


def limits(rounds, steps, block, run_best=True, run_grading=True):
    """Part 3: chapter 03 at this CPU's limit (bfloat16, time to accuracy, grading time)."""
    units = bf16_units()
    option = "auto_mixed_precision_onednn_bfloat16"
    if tf.config.optimizer.get_experimental_options().get(option, False):
        raise RuntimeError(f"{option} is on before part 3 started: the fp32 variants would not be fp32")
    print("\n## Part 3: chapter 03 at this CPU's limit")
    print(f"bfloat16 units: {units or 'none (no amx_bf16 or avx512_bf16 flag): the bf16 variants are skipped'}")
    record = {
        "command": "python -m bench.bench_cnn " + " ".join(sys.argv[1:]),
        "date": f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "machine": machine(),
        "bf16_units": units,
        "targets": {},
        "recipes": [],
    }

    # 3a: throughput at batch 50, every variant in turns of `block` steps, the order rotating
    variants = {"a  TF2 chapter": lambda: ChapterTF2()}
    if units:
        variants["a+bf16 rewrite"] = lambda: ChapterTF2(precision="bf16")
        variants["a+bf16 casts"] = lambda: ChapterTF2(precision="cast")
    variants["b  TF1 post"] = lambda: PostTF1()
    variants["c  Keras fit"] = lambda: KerasFit()
    if units:
        variants["c+mixed_bfloat16"] = lambda: KerasFit(policy="mixed_bfloat16")
    trainers = {name: make() for name, make in variants.items()}
    for trainer in trainers.values():  # traces, prepares each setting's graph, warms the caches
        trainer.train(WARMUP_STEPS)
    names = list(trainers)
    rates = {name: [] for name in names}
    print(
        f"\n### 3a: throughput (images/s), batch {BATCH}, the post's recipe: {rounds} rounds x {steps} steps "
        f"per variant, in turns of {block} steps (Keras: one fit() per turn, timed from its first step's "
        "start to its last step's end)"
    )
    for r in range(rounds):
        seconds = dict.fromkeys(names, 0.0)
        for k in range(steps // block):
            k %= len(names)
            for name in names[k:] + names[:k]:
                trainer = trainers[name]
                if isinstance(trainer, KerasFit):
                    seconds[name] += trainer.timed_train(block)
                else:
                    started = time.perf_counter()
                    trainer.train(block)
                    seconds[name] += time.perf_counter() - started
        for name in names:
            rates[name].append(steps * BATCH / seconds[name])
        print(f"round {r + 1}: " + ", ".join(f"{' '.join(n.split())} {rates[n][-1]:,.0f}" for n in names), flush=True)

    def ratio(x, y):  # the median of per-round ratios: paired rounds cancel most of the load's drift
        return statistics.median(p / q for p, q in zip(rates[x], rates[y]))

    a = names[0]
    print(f"\n{'variant':18} {'median img/s':>12} {'min':>8} {'max':>8} {'vs a':>6}")
    for name in names:
        print(
            f"{name:18} {statistics.median(rates[name]):12,.0f} {min(rates[name]):8,.0f} "
            f"{max(rates[name]):8,.0f} {ratio(name, a):6.2f}"
        )
    record["throughput"] = {name.split()[0]: round(statistics.median(rates[name])) for name in names}
    if units:
        rewrite, casts = "a+bf16 rewrite", "a+bf16 casts"
        for peer, target in (("b  TF1 post", 1.2), ("c  Keras fit", 1.2), ("c+mixed_bfloat16", 0.9)):
            against_target(record, f"{rewrite} / {peer}", ratio(rewrite, peer), ">=", target)
        faster = "the rewrite" if ratio(casts, rewrite) <= 1 else "the casts"
        print(
            f"{casts} / {rewrite} = {ratio(casts, rewrite):.2f} (explicit casts vs the automatic rewrite: "
            f"{faster} faster here; the chapter uses the rewrite)"
        )
        record["casts_vs_rewrite"] = round(ratio(casts, rewrite), 3)

    # 3b: the quick preset's recipe, in the chapter's own train(), each precision from the same start
    quick = chapter.settings
    print(
        f"\n### 3b: the quick preset ({quick['steps']} steps, batch {quick['batch_size']}, Adam peak "
        f"{quick['learning_rate']:g} {quick['lr_schedule']} schedule, warm-up {quick['warmup_steps']}), "
        "trained by the chapter's train() on the same batches"
    )
    precisions = ["fp32", "bf16", "cast"] if units else ["fp32"]
    accuracy, seconds = {}, {}
    for precision in precisions:
        if precision == "cast":  # the chapter has no explicit-cast path: the variant's step in the same loop
            run = ChapterTF2(
                fc_init_stddev=quick["fc_init_stddev"],
                batch=quick["batch_size"],
                learning_rate=preset_schedule(quick),
                precision="cast",
            )
            started = time.perf_counter()
            run.train(quick["steps"])
            seconds[precision], accuracy[precision] = time.perf_counter() - started, run.evaluate()
        else:
            history, seconds[precision] = train_preset(quick, precision, desc=f"quick, {precision}")
            accuracy[precision] = history[-1][2]
        print(
            f"quick, {precision:4}: test accuracy {accuracy[precision]:.2%} after {seconds[precision]:.1f} s "
            "of training (tracing included)",
            flush=True,
        )
        record["recipes"].append(recipe_row("quick", quick, precision, seconds[precision], accuracy[precision]))
    used = quick["precision"] if units else "fp32"  # what the chapter's training cell runs here
    checks = [
        ("quick test accuracy", 100 * accuracy[used], ">=", 99.0, "%"),
        ("quick training seconds", seconds[used], "<=", 60, " s"),
    ]
    if units:
        checks.insert(0, ("|bf16 - fp32| (points)", abs(100 * (accuracy["bf16"] - accuracy["fp32"])), "<=", 0.2, ""))
    for label, value, sign, target, unit in checks:
        against_target(record, label, value, sign, target, unit, note=used if "quick" in label else "same batches")

    # 3c: the best preset (book.toml [presets.best.ch03]), in the chapter's own train()
    if run_best:
        best = preset("03", "best")
        precision = best["precision"] if units else "fp32"
        print(
            f"\n### 3c: the best preset ({best['steps']:,} steps, batch {best['batch_size']}, Adam peak "
            f"{best['learning_rate']:g} {best['lr_schedule']}, images shifted by up to {best['max_shift']} px, "
            f"{precision})"
        )
        history, best_seconds = train_preset(best, precision, desc="best")
        print("test accuracy by step: " + ", ".join(f"{step:,} {acc:.2%}" for step, _, acc in history))
        best_accuracy = history[-1][2]
        against_target(record, "best test accuracy", 100 * best_accuracy, ">=", 99.4, "%")
        against_target(record, "best training seconds", best_seconds, "<=", 600, " s")
        record["recipes"].append(recipe_row("best", best, precision, best_seconds, best_accuracy))

    # 3d: grading the solution on quick, from command to table, in a fresh process as a learner would
    if run_grading:
        print("\n### 3d: python -m checks 03 on the solution, quick preset (wall time, command to table)", flush=True)
        command = [sys.executable, "-m", "checks", "03", str(notebook_path("03"))]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=dict(os.environ, TFBOOK_PRESET="quick"),
            cwd=notebook_path("03").parent.parent,
        )
        wall = time.perf_counter() - started
        score = next(
            (line.strip() for line in done.stdout.splitlines() if line.strip().startswith("Score")),
            f"no score line (exit {done.returncode})",
        )
        print(f"{score}; wall {wall:.1f} s (target <= 60 s)")
        record["targets"]["grading seconds"] = [round(wall, 1), "<= 60"]
        record["grading"] = score

    LIMITS_JSON.parent.mkdir(parents=True, exist_ok=True)
    LIMITS_JSON.write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"\nwritten {LIMITS_JSON.relative_to(LIMITS_JSON.parent.parent.parent)} (chapter 03's table "
        '"How far can this network go?" reads it)'
    )
    return {key: value for key, value in record.items() if key not in ("command", "date", "machine")}


def machine():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor()
        )
    return f"{len(os.sched_getaffinity(0))} usable cores ({os.cpu_count()} online), {model}"


def header():
    print("# bench_cnn: chapter 03's CNN training (TF2) vs the post (TF1 Session) vs Keras fit")
    print(f"command:    python -m bench.bench_cnn {' '.join(sys.argv[1:])}".rstrip())
    print(f"date:       {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine:    {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    print(
        f"software:   Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"NumPy {np.__version__}; oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on)')}"
        f"{', ONEDNN_MAX_CPU_ISA=' + os.environ['ONEDNN_MAX_CPU_ISA'] if 'ONEDNN_MAX_CPU_ISA' in os.environ else ''}; "
        f"threads intra {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}, "
        f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'auto'}"
    )
    print(f"data:       MNIST from {mnist.source}; batch {BATCH}, Adam {LEARNING_RATE:g}, keep_prob {KEEP_PROB_TRAIN}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part",
        choices=("quick", "throughput", "full", "all", "limits"),
        default="all",
        help="all = quick, throughput and full; limits (bfloat16, the quick and best presets, "
        "grading time: about 10 minutes) runs only when asked for",
    )
    parser.add_argument("--no-best", action="store_true", help="limits: skip the best preset (about 5 minutes)")
    parser.add_argument("--no-grading", action="store_true", help="limits: skip timing python -m checks 03")
    parser.add_argument("--steps", type=int, default=10_000, help="training steps of part 2 (the post: 10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of part 1")
    parser.add_argument("--round-steps", type=int, default=100, help="steps per variant per round in part 1")
    parser.add_argument("--block", type=int, default=10, help="part 1 alternates variants every BLOCK steps")
    args = parser.parse_args()
    if args.round_steps % args.block:
        parser.error("--round-steps must be a multiple of --block")
    # one record per part (bench/results/bench_cnn_all.json, bench_cnn_limits.json, ...)
    with Recording(f"bench_cnn_{args.part}", "bench.bench_cnn") as run:
        header()
        figures = run.figures
        if args.part in ("quick", "all"):
            figures["quick"] = quick()
        if args.part in ("throughput", "all"):
            figures["throughput"] = throughput(args.rounds, args.round_steps, args.block)
        if args.part in ("full", "all"):
            figures["full"] = full(args.steps)
        if args.part == "limits":
            figures.update(limits(args.rounds, args.round_steps, args.block, not args.no_best, not args.no_grading))


if __name__ == "__main__":
    main()
