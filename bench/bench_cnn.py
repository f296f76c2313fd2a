"""Chapter 03's CNN training: how fast, and how accurate, against the post and against Keras.

    python -m bench.bench_cnn [--part quick|throughput|full|all|bf16] [--steps N]
                              [--rounds R] [--round-steps S] [--block B]

Variant (a) is the chapter's own code, not a copy: bench/chapter_code.py runs the code cells
of solutions/03_cnn_training.py in this process, up to its training cell, and (a) calls the
chapter's init_params, make_train_step and evaluate in the chapter's loop (its seeded
batches, the loss read every step); the alternatives to (a) change one thing and keep the
chapter's forward and loss_fn. Every variant trains and tests on the chapter's MNIST arrays.

Part 0, the `quick` preset (book.toml) against its targets (>= 98.5% test accuracy, <= 90 s
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

Part 3 (--part bf16, not in `all`), oneDNN's automatic bfloat16 rewrite on a CPU with bf16
units (tfbook.hardware.bf16_units(); on any other CPU the part says so and skips):
  throughput at batch 50 (the post's recipe), interleaved as in part 1 (every variant warmed
  up, then turns of --block steps in a rotating order; --rounds rounds of --round-steps):
    a       the chapter's train step, fp32
    a+bf16  the same train step, called inside the chapter's bfloat16_rewrite()
    b       the post's TF1 graph in a Session, fp32 (made while the option is off: a Session
            keeps the graph options of the moment it was created)
  Target: a+bf16 / b >= 1.2 (and a+bf16 / a, printed too).
  accuracy: the quick preset's recipe (its steps, batch, learning rate and W_fc1 stddev)
  trained fp32 and bf16 on the same mini-batches, interleaved in chunks of its eval_every,
  test accuracy by the chapter's evaluate() (eager, so fp32 for both).
  Target: |bf16 - fp32| <= 0.2 points, and both >= the preset's min_test_accuracy.
The option is read when a tf.function is *called* (TensorFlow instantiates the function
once per setting and keeps both), so the bf16 variant turns it on around its own calls only.
What a CPU without bf16 units gets: ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI python -m bench.bench_cnn
--part bf16 keeps oneDNN off its bf16 instructions (the header prints the setting).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.chapter_code import load_chapter  # noqa: E402
from tfbook.hardware import bf16_units  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the post's keep_prob= and v1 ops print deprecation notices

# The chapter's own code: its cells up to the training cell, run here (about 5 s).
chapter = load_chapter(preset="quick")
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
        return self.order[self.position - size:self.position]


# --- (a) the chapter's TF2 code, run from solutions/03_cnn_training.py itself -------------

def variant_train_step(params, learning_rate, jit_compile=False, adam="keras-xla"):
    """The chapter's train step with one change, for the alternatives to (a); built on the
    chapter's forward, loss_fn and KEEP_PROB_TRAIN. (a) itself is chapter.make_train_step.

    The chapter (adam="keras-xla", jit_compile=False) keeps Keras' Adam but compiles only its
    update with XLA: Keras 3's Adam is about a dozen separate element-wise ops per variable
    (12 passes over W_fc1's 3.2M floats), which XLA fuses into one. adam="keras" leaves that
    update uncompiled; adam="v1" uses tf.compat.v1.train.AdamOptimizer, whose update is one
    fused kernel (ResourceApplyAdam), as in the post's graph. jit_compile=True compiles the
    whole step (convolutions included) with XLA.
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

    def __init__(self, fc_init_stddev=1.0, feed="numpy", jit_compile=False, adam="keras-xla",
                 batch=BATCH, learning_rate=LEARNING_RATE, precision="fp32"):
        self.params = chapter.init_params(fc_init_stddev, SEED)
        self.precision = precision  # "bf16": every call inside the chapter's bfloat16_rewrite()
        if jit_compile or adam != "keras-xla":
            self.train_step = variant_train_step(self.params, learning_rate, jit_compile, adam)
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
            self.iterator = iter(indices.map(lambda i: (tf.gather(self.x_all, i), tf.gather(self.t_all, i)))
                                 .prefetch(tf.data.AUTOTUNE))

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
            self.sess.run(self.train_step, feed_dict={self.x: x_train[batch], self.t: t_train[batch],
                                                      self.keep_prob: 0.5})

    def evaluate(self):
        accuracies = [self.sess.run(self.accuracy, feed_dict={self.x: xs, self.t: ts, self.keep_prob: 1.0})
                      for xs, ts in zip(np.array_split(x_test, EVAL_CHUNKS), np.array_split(t_test, EVAL_CHUNKS))]
        return float(np.mean(accuracies))


# --- (c) the same network in Keras ---------------------------------------------------------

class KerasFit:
    """keras.Sequential + model.fit at batch 50; one fit() call per measured block of steps."""

    def __init__(self):
        keras.utils.set_random_seed(SEED)
        layers = keras.layers
        self.model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 5, padding="same", activation="relu"),
            layers.MaxPool2D(2, padding="same"),
            layers.Conv2D(64, 5, padding="same", activation="relu"),
            layers.MaxPool2D(2, padding="same"),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(10),
        ])
        self.model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                           loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        self.batches = Batches()

    def train(self, steps, callbacks=()):
        # The same batches as the others, in the same order.
        rows = np.concatenate([self.batches.next() for _ in range(steps)])
        self.model.fit(x_train[rows].reshape(-1, 28, 28, 1), t_train[rows],
                       batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))


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
                print(f"round {r + 1}: " + ", ".join(f"{n.split()[0]} {steps * BATCH / seconds[n][r]:,.0f}"
                                                     for n in names), flush=True)

    print(f"\n## Part 1: throughput (images/s), batch {BATCH}: {rounds} rounds x {steps} steps per variant, "
          f"interleaved in blocks of {block} steps")
    trainers[keras_name].train(rounds * steps, callbacks=[Interleave()])
    rates = {name: [steps * BATCH / s for s in seconds[name]] for name in names}

    def ratio(x, y):  # the median of the per-round ratios: paired, so less noisy than medians alone
        return statistics.median(p / q for p, q in zip(rates[x], rates[y]))
    a = names[0]
    print(f"\n{'variant':16} {'median img/s':>12} {'min':>8} {'max':>8} {'vs a':>6}")
    for name in names:
        print(f"{name:16} {statistics.median(rates[name]):12,.0f} {min(rates[name]):8,.0f} "
              f"{max(rates[name]):8,.0f} {ratio(name, a):6.2f}")
    print(f"\na/b = {ratio(a, names[1]):.2f} (target >= 0.9)    a/c = {ratio(a, keras_name):.2f} (target >= 1.3)")


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
    print("\ntraining time (first-call tracing included): "
          + ", ".join(f"{name} {s:,.0f} s ({total_steps * BATCH / s:,.0f} img/s)" for name, s in seconds.items()))
    print(f"final test accuracy: a {a:.2f}%, b {b:.2f}%, c {c:.2f}%")
    print(f"a - b = {a - b:+.2f} points (target |a - b| <= 0.3);  c - a = {c - a:+.2f} points")


def quick():
    """The `quick` preset's recipe against its targets, and the post's recipe given the same time."""
    settings = chapter.settings  # the chapter ran with the quick preset
    quick_run = ChapterTF2(fc_init_stddev=settings["fc_init_stddev"], batch=settings["batch_size"],
                           learning_rate=settings["learning_rate"])
    post_run = ChapterTF2(fc_init_stddev=1.0)  # batch 50, Adam 1e-4: the post's recipe
    print(f"\n## Part 0: the quick preset ({settings['steps']} steps, batch {settings['batch_size']}, "
          f"Adam {settings['learning_rate']:g}, W_fc1 stddev {settings['fc_init_stddev']}) vs the post's "
          "recipe trained for the same seconds (interleaved)")
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
    print(f"quick preset: test accuracy {accuracy:.2%} (target >= 98.5%: {accuracy / 0.985:.3f}x), "
          f"training {quick_seconds:.1f} s (target <= 90 s: {90 / quick_seconds:.2f}x)")
    print(f"the post's recipe in the same {post_seconds:.1f} s: {post_accuracy:.2%}  "
          f"(quick - post = {100 * (accuracy - post_accuracy):+.2f} points)")


def bf16(rounds, steps, block):
    """Part 3: the chapter's train step in fp32 and under oneDNN's bfloat16 rewrite."""
    units = bf16_units()
    print("\n## Part 3: oneDNN's automatic bfloat16 rewrite (auto_mixed_precision_onednn_bfloat16)")
    if units is None:
        print("skipped: this CPU has no bfloat16 units (no amx_bf16 or avx512_bf16 flag in /proc/cpuinfo, "
              "or not Linux); oneDNN would emulate bf16 there, slower than fp32")
        return
    print(f"bfloat16 units: {units}")
    option = "auto_mixed_precision_onednn_bfloat16"
    if tf.config.optimizer.get_experimental_options().get(option, False):
        raise RuntimeError(f"{option} is on before part 3 started: the fp32 variants would not be fp32")

    variants = {
        "a  TF2 chapter": lambda: ChapterTF2(),
        "a+bf16": lambda: ChapterTF2(precision="bf16"),
        "b  TF1 post": lambda: PostTF1(),
    }
    trainers = {name: make() for name, make in variants.items()}
    for trainer in trainers.values():  # traces, prepares each setting's graph, warms the caches
        trainer.train(WARMUP_STEPS)
    names = list(trainers)
    rates = {name: [] for name in names}
    print(f"throughput (images/s), batch {BATCH}: {rounds} rounds x {steps} steps per variant, "
          f"interleaved in blocks of {block} steps")
    for r in range(rounds):
        seconds = dict.fromkeys(names, 0.0)
        for k in range(steps // block):
            k %= len(names)
            for name in names[k:] + names[:k]:
                started = time.perf_counter()
                trainers[name].train(block)
                seconds[name] += time.perf_counter() - started
        for name in names:
            rates[name].append(steps * BATCH / seconds[name])
        print(f"round {r + 1}: " + ", ".join(f"{n.split()[0]} {rates[n][-1]:,.0f}" for n in names), flush=True)

    def ratio(x, y):
        return statistics.median(p / q for p, q in zip(rates[x], rates[y]))
    a, a16, b = names
    print(f"\n{'variant':16} {'median img/s':>12} {'min':>8} {'max':>8} {'vs a':>6}")
    for name in names:
        print(f"{name:16} {statistics.median(rates[name]):12,.0f} {min(rates[name]):8,.0f} "
              f"{max(rates[name]):8,.0f} {ratio(name, a):6.2f}")
    print(f"\na+bf16 / b = {ratio(a16, b):.2f} (target >= 1.2)    a+bf16 / a = {ratio(a16, a):.2f}")

    settings = chapter.settings  # the quick preset's recipe
    print(f"\naccuracy: the quick preset's recipe ({settings['steps']} steps, batch {settings['batch_size']}, "
          f"Adam {settings['learning_rate']:g}, W_fc1 stddev {settings['fc_init_stddev']}), fp32 and bf16 "
          f"on the same batches, interleaved in chunks of {settings['eval_every']}")
    runs = {precision: ChapterTF2(fc_init_stddev=settings["fc_init_stddev"], batch=settings["batch_size"],
                                  learning_rate=settings["learning_rate"], precision=precision)
            for precision in ("fp32", "bf16")}
    seconds = dict.fromkeys(runs, 0.0)
    print(f"{'step':>6} {'fp32':>8} {'bf16':>8}")
    done, accuracy = 0, {}
    while done < settings["steps"]:
        chunk = min(settings["eval_every"], settings["steps"] - done)
        for precision, run in runs.items():
            started = time.perf_counter()
            run.train(chunk)
            seconds[precision] += time.perf_counter() - started
            accuracy[precision] = run.evaluate()
        done += chunk
        print(f"{done:6d} {accuracy['fp32']:8.2%} {accuracy['bf16']:8.2%}", flush=True)
    difference = 100 * (accuracy["bf16"] - accuracy["fp32"])
    print("training time (first-call tracing included): "
          + ", ".join(f"{p} {s:,.1f} s" for p, s in seconds.items())
          + f" (bf16 / fp32 speed {seconds['fp32'] / seconds['bf16']:.2f}x)")
    print(f"test accuracy: fp32 {accuracy['fp32']:.2%}, bf16 {accuracy['bf16']:.2%}: bf16 - fp32 = "
          f"{difference:+.2f} points (target |bf16 - fp32| <= 0.2); pass mark {settings['min_test_accuracy']:.2%}: "
          f"fp32 {'passes' if accuracy['fp32'] >= settings['min_test_accuracy'] else 'FAILS'}, "
          f"bf16 {'passes' if accuracy['bf16'] >= settings['min_test_accuracy'] else 'FAILS'}")


def header():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                     platform.processor())
    print("# bench_cnn: chapter 03's CNN training (TF2) vs the post (TF1 Session) vs Keras fit")
    print(f"command:    python -m bench.bench_cnn {' '.join(sys.argv[1:])}".rstrip())
    print(f"date:       {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine:    {len(os.sched_getaffinity(0))} usable cores ({os.cpu_count()} online), {model}; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print(f"software:   Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"NumPy {np.__version__}; oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on)')}"
          f"{', ONEDNN_MAX_CPU_ISA=' + os.environ['ONEDNN_MAX_CPU_ISA'] if 'ONEDNN_MAX_CPU_ISA' in os.environ else ''}; "
          f"threads intra {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}, "
          f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'auto'}")
    print(f"data:       MNIST from {mnist.source}; batch {BATCH}, Adam {LEARNING_RATE:g}, keep_prob {KEEP_PROB_TRAIN}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("quick", "throughput", "full", "all", "bf16"), default="all",
                        help="all = quick, throughput and full; bf16 runs only when asked for")
    parser.add_argument("--steps", type=int, default=10_000, help="training steps of part 2 (the post: 10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of part 1")
    parser.add_argument("--round-steps", type=int, default=100, help="steps per variant per round in part 1")
    parser.add_argument("--block", type=int, default=10, help="part 1 alternates variants every BLOCK steps")
    args = parser.parse_args()
    if args.round_steps % args.block:
        parser.error("--round-steps must be a multiple of --block")
    header()
    if args.part in ("quick", "all"):
        quick()
    if args.part in ("throughput", "all"):
        throughput(args.rounds, args.round_steps, args.block)
    if args.part in ("full", "all"):
        full(args.steps)
    if args.part == "bf16":
        bf16(args.rounds, args.round_steps, args.block)


if __name__ == "__main__":
    main()
