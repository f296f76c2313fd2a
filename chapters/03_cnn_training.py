# %% [markdown] i18n="overview"
# # Training a CNN on MNIST
#
# ## Overview
#
# In this chapter you build, train and save the convolutional network of the 2016 post
# "Recognising digit images with deep learning #1": two convolutional layers, a fully
# connected layer with dropout, and a softmax output, trained on MNIST's 60,000 handwritten
# digits. The post used TensorFlow 1.x placeholders and a `Session`; here every layer is
# still written with TensorFlow's low-level ops (`tf.nn.conv2d`, `tf.nn.max_pool2d`,
# `tf.nn.dropout`) so that shapes, padding, strides and `keep_prob` stay in plain sight, but
# the code runs eagerly in TensorFlow 2.
#
# You will learn:
#
# * how a batch of 784-pixel rows becomes a tensor of images, and how each layer changes
#   its shape (28x28x1 -> 28x28x32 -> 14x14x32 -> 14x14x64 -> 7x7x64 -> one row -> 1024 -> 10);
# * how padding (`SAME` vs `VALID`) and strides decide output sizes, and how many
#   parameters each layer has;
# * what dropout's `keep_prob` does during training, and what it must be at evaluation;
# * why the loss is computed on logits rather than on softmax probabilities;
# * how to train with Adam, evaluate on the test set in chunks, watch progress in
#   TensorBoard, and save a checkpoint that chapter 04 restores;
# * what the post's initialisation does, measured;
# * how a learning-rate schedule reaches 99% in a tenth of the post's steps, and how
#   bfloat16 makes each step faster on a CPU that has the units for it.
#
# **How the exercises work.** Ten exercises (3.1 to 3.10) each ask you to fill in one
# function or value, marked `raise NotImplementedError` or `...`. Run the `check("...")`
# cell under each one for immediate feedback. The grade that counts comes from a terminal:
# `python -m checks 03` runs this notebook in a fresh kernel and checks your functions with
# inputs it picks itself. `tfbook hint 03 NAME` repeats an exercise's hint.
#
# **Presets.** How long to train comes from the active preset in `book.toml`: `quick`
# (the default, about half a minute of training), `full` (the post's own recipe, 10,000
# steps, about ten minutes) or `best` (the optional section at the end, several minutes).
# Choose one with the environment variable `TFBOOK_PRESET` before starting Jupyter.

# %% [markdown] i18n="setup"
# ## Setup

# %% tags=["install"]
# Opened on its own (Colab, a Jupyter without the book)? This cell installs the book first;
# in a clone, or where the book is installed, it does nothing. `make release` writes it
# from book.toml ([book] install, else repository).
import importlib.util

if importlib.util.find_spec("tfbook") is None:
    raise ModuleNotFoundError("this notebook needs the book's package, tfbook, which is not "
                              "installed here: pip install it (the wheel or the repository "
                              "your course names), then run this cell again")

# %% tags=["support"]
import tfbook  # first: in a notebook it imports TensorFlow without its start-up log lines

import contextlib
import json
import math
import shutil
import time

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfbook.data import load_mnist, one_hot
from tfbook.hardware import bf16_units
from checks import checker

settings = tfbook.preset("03")
check, check_all = checker("03", globals())
print(f"TensorFlow {tf.__version__}; preset {settings['name']!r}: {settings}")

# %%
mnist = load_mnist()
x_train, y_train = mnist.flat("train")   # float32 rows of 784 pixels in [0, 1], integer labels
x_test, y_test = mnist.flat("test")
t_train, t_test = one_hot(y_train), one_hot(y_test)   # one-hot labels, as the post used
print(f"MNIST from {mnist.source}: {x_train.shape[0]:,} training and {x_test.shape[0]:,} test images")

# %% tags=["extra"]
# extra code: a look at the first training images
fig, axes = plt.subplots(1, 8, figsize=(10, 1.6))
for ax, image, label in zip(axes, x_train, y_train):
    ax.imshow(image.reshape(28, 28), cmap="gray")
    ax.set_title(str(label))
    ax.axis("off")
plt.show()

# %% [markdown] i18n="tf1-to-tf2"
# ## From TensorFlow 1 to TensorFlow 2
#
# The post built a graph of placeholders and ran it in a session. The same network in
# today's TensorFlow needs these replacements, and nothing else:
#
# | TensorFlow 1 (the post) | TensorFlow 2 (this chapter) |
# |---|---|
# | `tf.placeholder(tf.float32, [None, 784])` | a plain argument: functions take tensors or NumPy arrays |
# | `tf.reset_default_graph()` before re-running cells | not needed: there is no global graph; re-running a cell makes new variables |
# | `tf.nn.max_pool(x, ksize=[1,2,2,1], strides=[1,2,2,1], ...)` | `tf.nn.max_pool2d(x, ksize=2, strides=2, ...)` |
# | `tf.nn.dropout(h, keep_prob)` | `tf.nn.dropout(h, rate=...)`: `rate` is the fraction *dropped*, `keep_prob` the fraction kept |
# | `tf.nn.softmax_cross_entropy_with_logits(k, t)` | the same op, with keywords: `(labels=t, logits=k)` |
# | `tf.train.AdamOptimizer(1e-4).minimize(loss)` | `tf.GradientTape` plus `keras.optimizers.Adam(1e-4).apply_gradients` |
# | `sess.run(train_step, feed_dict=...)` | call a `@tf.function` (traced into a graph once, then fast) |
# | `tf.train.Saver().save(sess, path)` | a `tf.train.Checkpoint` of the variables, written to a path (Exercise 3.9) |
# | `tf.summary.FileWriter` + `merge_all` | `tf.summary.create_file_writer` + `tf.summary.scalar` |

# %% [markdown] i18n="network-shapes"
# ## The network, layer by layer
#
# | step | operation | output shape per image |
# |---|---|---|
# | input | 784 pixels in a row | (784,) |
# | reshape | to an image with one channel | (28, 28, 1) |
# | layer 1 | 32 filters of 5x5, stride 1, `SAME`; + bias; ReLU | (28, 28, 32) |
# | pool 1 | max over 2x2 windows, stride 2, `SAME` | (14, 14, 32) |
# | layer 2 | 64 filters of 5x5 over 32 channels; + bias; ReLU | (14, 14, 64) |
# | pool 2 | max over 2x2, stride 2 | (7, 7, 64) |
# | flatten | one long row | (?,): Exercise 3.4 |
# | fully connected | one row -> 1024; + bias; ReLU | (1024,) |
# | dropout | keep each unit with probability `keep_prob` | (1024,) |
# | output | 1024 -> 10 logits (softmax turns them into probabilities) | (10,) |
#
# A batch adds one dimension in front of every shape: 50 images of layer 1 are (50, 28, 28, 32).

# %% [markdown] i18n="reshape-input"
# ### Exercise 3.1: reshape_input
#
# Convolutions expect `(batch, height, width, channels)`. Write `reshape_input(x)` that turns
# a batch of rows of 784 pixels into `(batch, 28, 28, 1)` images, whatever the batch size.

# %% tags=["exercise"]
def reshape_input(x):
    raise NotImplementedError("Exercise 3.1: reshape_input")


# %% tags=["feedback"]
check("reshape_input")

# %% [markdown] i18n="padding-strides"
# ## Padding and strides
#
# A 5x5 filter centred on a pixel near the border hangs over the edge. `VALID` padding only
# places the filter where it fits entirely, so a 28-pixel row leaves 28 - 5 + 1 = 24
# positions. `SAME` pads the border with zeros so that, with stride 1, every input pixel has
# an output: 28 stays 28. A stride of 2 moves the window two pixels at a time and halves the
# output (rounding up). Let TensorFlow show it:

# %%
image = tf.zeros([1, 28, 28, 1])
kernel = tf.zeros([5, 5, 1, 1])
for padding in ("SAME", "VALID"):
    for stride in (1, 2):
        out = tf.nn.conv2d(image, kernel, strides=stride, padding=padding)
        print(f"5x5 conv, {padding:5}, stride {stride}: 28x28 -> {out.shape[1]}x{out.shape[2]}")
pooled = tf.nn.max_pool2d(tf.zeros([1, 7, 7, 1]), ksize=2, strides=2, padding="SAME")
print(f"2x2 max-pool, SAME, stride 2: 7x7 -> {pooled.shape[1]}x{pooled.shape[2]} (an odd size rounds up)")

# %% [markdown] i18n="output-size"
# Read the numbers above as rules. With `VALID`, first count the places where the window
# fits (28 - 5 + 1 = 24 for a 5x5 window), then let the stride skip some of them: stride 2
# keeps every other place, and a last place that is left over still counts. With `SAME` the
# window may hang over the edge (the missing pixels count as zeros), so every place counts:
# only the stride shrinks the output, and again a partial last step counts (7 pixels pooled with stride 2
# give 4).
#
# ### Exercise 3.2: output_size
#
# Write `output_size(n, window, stride, padding)`: the output height (or width) of a
# convolution or pooling with a square `window`, given an input of size `n`, as an `int`.
# Make it work for any size, window and stride, not only the ones printed above: the check
# compares your answers with what `tf.nn.conv2d` and `tf.nn.max_pool2d` really produce for
# sizes, windows and strides it picks (odd sizes, strides that do not divide the size).
# `tfbook hint 03 output_size` gives TensorFlow's formulas if you are stuck.

# %% tags=["exercise"]
def output_size(n, window, stride, padding):
    raise NotImplementedError("Exercise 3.2: output_size")


# %% tags=["feedback"]
check("output_size")

# %% [markdown] i18n="conv-layer"
# ## Layer 1: convolution, ReLU, pooling
#
# Layer 1 slides 32 different 5x5 filters over the image. Each filter produces one *feature
# map*; the bias is added per map, and ReLU (`max(0, x)`) keeps only positive responses.
# Max pooling then keeps the strongest response in every 2x2 window, which halves the
# height and width and makes the features a little tolerant to small shifts.
#
# ### Exercise 3.3: conv_layer
#
# Write `conv_layer(x, W, b)`: the recipe above with filters `W` and biases `b`, its
# convolution keeping the height and width of `x` (choose the stride and padding that do).
# Write `max_pool_2x2(x)`: the pooling above, which halves the height and width, rounding an
# odd size up as the examples printed earlier do. Both work for any batch size and any
# number of channels (layer 2 uses them too).

# %% tags=["exercise"]
def conv_layer(x, W, b):
    raise NotImplementedError("Exercise 3.3: conv_layer")


def max_pool_2x2(x):
    raise NotImplementedError("Exercise 3.3: conv_layer")


# %% tags=["feedback"]
check("conv_layer")

# %% [markdown] i18n="flatten"
# ## Layer 2 and the flatten
#
# Layer 2 is the same recipe with 64 filters, each 5x5 across all 32 maps of layer 1, so its
# weights have shape (5, 5, 32, 64). After the second pooling each image is a 7x7x64 block;
# the fully connected layer needs it as one row. (The same way, a 4x4 block of 3 channels
# would become a row of 48 numbers.)
#
# ### Exercise 3.4: flatten
#
# Set `FLATTEN_SIZE` to the number of values per image after layer 2's pooling, and write
# `flatten(h)` that reshapes a `(batch, 7, 7, 64)` tensor into `(batch, FLATTEN_SIZE)`.

# %% tags=["exercise"]
FLATTEN_SIZE = ...  # Exercise 3.4: flatten: your value here


def flatten(h):
    raise NotImplementedError("Exercise 3.4: flatten")


# %% tags=["feedback"]
check("flatten")

# %% [markdown] i18n="dense-dropout"
# ## The fully connected layer and dropout
#
# The fully connected layer multiplies the flattened features by a (FLATTEN_SIZE, 1024) weight matrix,
# adds a bias and applies ReLU. Dropout then switches off a random part of those 1024 units
# at every training step, so that no unit can rely on a particular other one being there:
# a cheap defence against overfitting. The post wrote it with `keep_prob`, the probability
# of *keeping* a unit. While training, dropout keeps a share of the units (the post's training
# step feeds that share through `feed_dict`); at evaluation it keeps every unit, because we want the whole
# network and the same answer every time. The surviving units are divided by `keep_prob`
# so that the expected sum of the layer does not change between training and evaluation.
# TensorFlow 2's `tf.nn.dropout` does not take `keep_prob` but `rate`, the probability of
# *dropping* a unit: a layer that keeps 90% of its units has a `rate` of 10%.
#
# ### Exercise 3.5: dense_dropout
#
# Write `fully_connected(h, W, b)`, the layer described above, and `dropout(h, keep_prob)`,
# which drops units while training and changes nothing at evaluation. Set the post's two
# values `KEEP_PROB_TRAIN` and `KEEP_PROB_EVAL`. The training step below runs `dropout`
# inside a `tf.function`, so write it with TensorFlow ops (the check runs it there too).

# %% tags=["exercise"]
def fully_connected(h, W, b):
    raise NotImplementedError("Exercise 3.5: dense_dropout")


def dropout(h, keep_prob):
    raise NotImplementedError("Exercise 3.5: dense_dropout")


KEEP_PROB_TRAIN = ...  # Exercise 3.5: dense_dropout: your value here
KEEP_PROB_EVAL = ...  # Exercise 3.5: dense_dropout: your value here

# %% tags=["feedback"]
check("dense_dropout")

# %% [markdown] i18n="forward"
# ## The whole forward pass
#
# The network's variables live in one dict, `params`, with the post's names: `W_conv1`,
# `b_conv1`, `W_conv2`, `b_conv2`, `W_fc1`, `b_fc1`, `W_fc2`, `b_fc2` (chapter 04 restores
# them by these names).
#
# ### Exercise 3.6: forward
#
# Write `forward(x, params, keep_prob)` that chains your functions and returns a dict with
# every intermediate tensor: `x_image`, `h_conv1`, `h_pool1`, `h_conv2`, `h_pool2`, `h_flat`,
# `h_fc1`, `h_drop` and `logits` (the output layer: fully connected with `W_fc2` and `b_fc2`,
# but with neither ReLU nor softmax). The check runs it both ways the chapter does: eagerly
# with `KEEP_PROB_EVAL`, as `evaluate` below, and inside a `tf.function` with
# `KEEP_PROB_TRAIN`, as the training step.

# %% tags=["exercise"]
def forward(x, params, keep_prob):
    raise NotImplementedError("Exercise 3.6: forward")


# %% tags=["feedback"]
check("forward")

# %% [markdown] i18n="initial-values"
# The post's initial values: the convolution filters from a truncated normal distribution
# with standard deviation 0.1, biases 0.1, the output layer all zeros, and the fully
# connected weights from a truncated normal with the *default* standard deviation, 1.0
# (more on that choice below). With them, the shapes of the table above appear for a batch
# of 50 images:

# %%
def init_params(fc_init_stddev, seed):
    """The post's initial variables; W_fc1's spread is the one knob the presets change."""
    tf.random.set_seed(seed)
    normal = tf.random.truncated_normal
    return {
        "W_conv1": tf.Variable(normal([5, 5, 1, 32], stddev=0.1), name="W_conv1"),
        "b_conv1": tf.Variable(tf.fill([32], 0.1), name="b_conv1"),
        "W_conv2": tf.Variable(normal([5, 5, 32, 64], stddev=0.1), name="W_conv2"),
        "b_conv2": tf.Variable(tf.fill([64], 0.1), name="b_conv2"),
        "W_fc1": tf.Variable(normal([FLATTEN_SIZE, 1024], stddev=fc_init_stddev), name="W_fc1"),
        "b_fc1": tf.Variable(tf.fill([1024], 0.1), name="b_fc1"),
        "W_fc2": tf.Variable(tf.zeros([1024, 10]), name="W_fc2"),
        "b_fc2": tf.Variable(tf.zeros([10]), name="b_fc2"),
    }


params = init_params(settings["fc_init_stddev"], settings["seed"])
for name, value in forward(x_train[:50], params, KEEP_PROB_EVAL).items():
    print(f"{name:8} {str(tuple(value.shape)):18}")

# %% [markdown] i18n="loss"
# ## Loss and accuracy
#
# The output layer produces ten *logits*, unnormalised scores. Softmax turns them into
# probabilities, and the cross-entropy with the one-hot label measures how much probability
# the network put on the right digit. TensorFlow fuses both into
# `tf.nn.softmax_cross_entropy_with_logits`, and it wants the logits: it computes the
# softmax inside with a numerically stable formula (no `log(0)` for confident predictions).
# Feeding it the softmax output instead applies softmax twice: the loss is squeezed into a
# narrow range and its gradients all but vanish. The post quoted TensorFlow's warning about
# exactly this.
#
# ### Exercise 3.7: loss
#
# Write `loss_fn(logits, labels)`: the mean softmax cross-entropy of a batch (one number).

# %% tags=["exercise"]
def loss_fn(logits, labels):
    raise NotImplementedError("Exercise 3.7: loss")


# %% tags=["feedback"]
check("loss")

# %% [markdown] i18n="accuracy"
# ### Exercise 3.8: accuracy
#
# Write `accuracy_fn(logits, labels)`: the fraction of rows whose largest logit is at the
# position of the label's 1. (The largest logit is also the largest probability, so no
# softmax is needed here either.)

# %% tags=["exercise"]
def accuracy_fn(logits, labels):
    raise NotImplementedError("Exercise 3.8: accuracy")


# %% tags=["feedback"]
check("accuracy")

# %% [markdown] i18n="checkpoint"
# ## Saving the trained variables
#
# A checkpoint stores the *values* of variables, each under a name, and nothing about the
# code that uses them. `tf.train.Checkpoint` takes the variables as keyword arguments and
# names each one after its keyword: `tf.train.Checkpoint(step=counter, w=weights)` stores
# two values, under `step` and `w`. Its `write(prefix)` saves them under exactly that prefix
# and returns it (`save(prefix)` adds a counter, `prefix-1`, `prefix-2`, ..., for keeping
# several). A fresh program (chapter 04) can then build variables with the same names and
# get the trained values back. The post used a TF1 `Saver`, which matched variables by
# their graph names.
#
# ### Exercise 3.9: checkpoint
#
# Write `save_checkpoint(params, prefix)` that writes every variable of `params` under its
# key to the path `prefix` and returns the path written.

# %% tags=["exercise"]
def save_checkpoint(params, prefix):
    raise NotImplementedError("Exercise 3.9: checkpoint")


# %% tags=["feedback"]
check("checkpoint")

# %% [markdown] i18n="parameter-count"
# ## How many numbers are you about to train?
#
# Every weight and every bias is one number the optimiser adjusts. Layer 1 has 32 filters of
# 5x5 over one input channel, so 32 x 5 x 5 x 1 = 800 weights, and one bias per filter:
# 832 parameters. A fully connected layer from 3 inputs to 2 outputs would have 3 x 2 = 6
# weights and 2 biases.
#
# ### Exercise 3.10: parameter_count
#
# Before running the cell after the check, predict: set `CONV2_PARAMS` to the number of
# parameters of layer 2 and `TOTAL_PARAMS` to the number in the whole network (all eight
# variables). Work them out from the shape table and your `FLATTEN_SIZE`; do not count
# them with code.

# %% tags=["exercise"]
CONV2_PARAMS = ...  # Exercise 3.10: parameter_count: your value here
TOTAL_PARAMS = ...  # Exercise 3.10: parameter_count: your value here

# %% tags=["feedback"]
check("parameter_count")

# %%
counts = {name: int(tf.size(value)) for name, value in params.items()}
print(f"layer 2: {counts['W_conv2'] + counts['b_conv2']:,} parameters; the network: {sum(counts.values()):,}")
print(f"the fully connected layer W_fc1 alone: {counts['W_fc1']:,} "
      f"({counts['W_fc1'] / sum(counts.values()):.0%} of them)")

# %% [markdown] i18n="training"
# ## Training
#
# The loop below is the post's: Adam on mini-batches, `KEEP_PROB_TRAIN` while training, and
# every few hundred steps the loss and accuracy on the 10,000 test images, computed in 4
# chunks to keep memory small. Two TensorFlow 2 details: `train_step` is a `tf.function`,
# traced into a graph on the first call and then run without Python overhead, and the
# `input_signature` stops it from being traced again when the last batch is smaller.
# Scalars go to TensorBoard under `runs/ch03/logs/`, and the trained variables to
# `runs/ch03/checkpoint/`. The learning rate may change from step to step (a *schedule*,
# explained just before the training cell), and the training runs inside
# `bfloat16_rewrite(...)`, which changes nothing unless the preset's `precision` is `"bf16"`
# and the CPU has bfloat16 units: the section "Going faster on this CPU" below explains it.

# %%
def evaluate(params, chunks=4):
    """Mean loss and accuracy over the test set, computed in `chunks` pieces (dropout off)."""
    losses, accuracies = [], []
    for xs, ts in zip(np.array_split(x_test, chunks), np.array_split(t_test, chunks)):
        logits = forward(xs, params, KEEP_PROB_EVAL)["logits"]
        losses.append(float(loss_fn(logits, ts)))
        accuracies.append(float(accuracy_fn(logits, ts)))
    return float(np.mean(losses)), float(np.mean(accuracies))


def make_train_step(params, learning_rate):
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    variables = list(params.values())
    optimizer.build(variables)  # Adam's slots, created here rather than inside a compiled function

    # Keras' Adam updates each variable with a dozen small element-wise ops; XLA fuses them
    # into one kernel, which bench/bench_cnn.py measured as faster on CPU. Only the update is
    # compiled: XLA's own convolutions are slower here than TensorFlow's oneDNN ones.
    @tf.function(jit_compile=True)
    def apply_update(gradients):
        optimizer.apply_gradients(zip(gradients, variables))

    @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32),
                                  tf.TensorSpec([None, 10], tf.float32)])
    def train_step(x, t):
        with tf.GradientTape() as tape:
            loss = loss_fn(forward(x, params, KEEP_PROB_TRAIN)["logits"], t)
        apply_update(tape.gradient(loss, variables))
        return loss
    return train_step


class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Adam's learning rate at each step: up in a straight line from 0 to `peak` over the first
    `warmup_steps`, then straight down to 0 at step `steps` (see "99% in half a minute")."""

    def __init__(self, peak, steps, warmup_steps):
        self.peak, self.steps, self.warmup_steps = peak, steps, warmup_steps

    def __call__(self, step):  # step: how many updates Adam has made so far (from 0)
        step = tf.cast(step, tf.float32) + 1.0
        rising = self.peak * step / max(self.warmup_steps, 1)
        falling = self.peak * (self.steps - step + 1.0) / (self.steps - self.warmup_steps)
        return tf.clip_by_value(tf.minimum(rising, falling), 0.0, self.peak)


def learning_rate_schedule(peak, steps, warmup_steps=0, kind="constant"):
    """The preset's learning rate: `peak` at every step ("constant", the post's), or
    ("linear") a WarmupLinearDecay up to `peak` and down to 0."""
    if kind == "constant":
        return peak
    return WarmupLinearDecay(peak, steps, warmup_steps)


def shift_images(x, rng, max_shift):
    """Each row of 784 pixels moved as an image by its own random whole-pixel offset, up to
    `max_shift` pixels in each direction, with black (0) coming in at the edges."""
    n = len(x)
    padded = np.pad(x.reshape(n, 28, 28), ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(28))[:, :, None]   # (n, 28, 1): the rows each image keeps
    cols = (dx[:, None] + np.arange(28))[:, None, :]   # (n, 1, 28): and its columns
    return padded[np.arange(n)[:, None, None], rows, cols].reshape(n, 784)


def train(params, steps, batch_size, learning_rate, eval_every, seed, log_dir=None, desc="training", max_shift=0):
    """Train `params` in place; return the history of (step, test loss, test accuracy) and the
    seconds spent in training steps. `learning_rate`: a number or a schedule; `max_shift` > 0
    shows each training image moved by a few random pixels (see "How far can this network go?")."""
    train_step = make_train_step(params, learning_rate)
    rng = np.random.default_rng(seed)
    order, position = rng.permutation(len(x_train)), 0
    writer = tf.summary.create_file_writer(str(log_dir)) if log_dir else None
    history, train_seconds = [], 0.0
    progress = tqdm(range(1, steps + 1), desc=desc, unit="step", mininterval=2)
    for step in progress:
        if position + batch_size > len(order):  # a new epoch, in a new order
            order, position = rng.permutation(len(x_train)), 0
        batch = order[position:position + batch_size]
        position += batch_size
        x = shift_images(x_train[batch], rng, max_shift) if max_shift else x_train[batch]
        started = time.perf_counter()
        loss = float(train_step(x, t_train[batch]))
        train_seconds += time.perf_counter() - started
        if writer and step % 50 == 0:
            with writer.as_default(step=step):
                tf.summary.scalar("loss/train_batch", loss)
        if step % eval_every == 0 or step == steps:
            test_loss, test_accuracy = evaluate(params)
            history.append((step, test_loss, test_accuracy))
            progress.set_postfix(test_accuracy=f"{test_accuracy:.4f}", test_loss=f"{test_loss:.3f}")
            if writer:
                with writer.as_default(step=step):
                    tf.summary.scalar("loss/test", test_loss)
                    tf.summary.scalar("accuracy/test", test_accuracy)
    if writer:
        writer.flush()
    return history, train_seconds


@contextlib.contextmanager
def bfloat16_rewrite(enabled=True):
    """Inside the block, tf.functions run with oneDNN's automatic bfloat16 rewrite (or without
    it, if not `enabled`); afterwards the option is back as it was. See "Going faster on this CPU"."""
    option = "auto_mixed_precision_onednn_bfloat16"
    before = tf.config.optimizer.get_experimental_options().get(option, False)
    tf.config.optimizer.set_experimental_options({option: enabled})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({option: before})


# %% [markdown] i18n="learning-rate-schedule"
# ### 99% in half a minute: the learning rate over time
#
# The post kept Adam's learning rate at 1e-4 for all 10,000 steps. A fixed rate is a
# compromise: large enough to make progress early, small enough not to throw the weights
# around late, and at the end the weights still jitter around a good point by about one
# step's size. A schedule removes the compromise. The `quick` preset lets the rate rise in
# a straight line from 0 for the first `warmup_steps` (Adam's estimates of each weight's
# gradient are still poor then, so big steps early can send the weights somewhere bad),
# reaches its peak when the warm-up ends, early, when the network learns most, and then
# comes down in a straight line to 0 at the last step, so the last hundreds of steps settle instead of jitter.
# Nothing else about the network changes. The benchmark `python -m bench.bench_cnn --part
# limits` measures what this buys (its table is in the optional section "How far can this
# network go?" at the end), and the training cell prints your own run. The two shapes:

# %% tags=["extra"]
# extra code: the preset's schedule against a constant rate, step by step
schedule_steps = np.arange(settings["steps"])
preset_rate = learning_rate_schedule(settings["learning_rate"], settings["steps"], settings["warmup_steps"],
                                     settings["lr_schedule"])
rates = [float(preset_rate(step)) if callable(preset_rate) else preset_rate for step in schedule_steps]
fig, ax = plt.subplots(figsize=(7, 2.6))
ax.plot(schedule_steps, rates, label=f"this preset ({settings['lr_schedule']}, peak {settings['learning_rate']:g})")
ax.axhline(1e-4, color="gray", linestyle="--", label="the post (constant 1e-4)")
ax.set(xlabel="step", ylabel="Adam's learning rate", title=f"Learning rate, preset {settings['name']!r}")
ax.legend()
plt.tight_layout()
plt.show()

# %% tags=["train"]
log_dir = tfbook.run_dir("03", "logs", settings["name"])
shutil.rmtree(log_dir)  # re-running the cell starts this run's curves afresh
params = init_params(settings["fc_init_stddev"], settings["seed"])
precision = settings["precision"]  # the preset's: "fp32", or "bf16" (see "Going faster on this CPU")
if precision == "bf16" and bf16_units() is None:
    print("the preset asks for bf16, but this CPU has no bfloat16 units (it would be slower): training in fp32")
    precision = "fp32"
learning_rate = learning_rate_schedule(settings["learning_rate"], settings["steps"], settings["warmup_steps"],
                                       settings["lr_schedule"])
with bfloat16_rewrite(precision == "bf16"):
    history, train_seconds = train(params, settings["steps"], settings["batch_size"], learning_rate,
                                   settings["eval_every"], settings["seed"], log_dir, max_shift=settings["max_shift"])
test_loss, test_accuracy = history[-1][1:]
images_per_second = settings["steps"] * settings["batch_size"] / train_seconds
print(f"{settings['steps']} steps ({precision}) in {train_seconds:.0f} s of training "
      f"({images_per_second:,.0f} images/s): "
      f"test accuracy {test_accuracy:.2%}, test loss {test_loss:.4f}")

# %% tags=["train"]
checkpoint_dir = tfbook.run_dir("03", "checkpoint")
saved = save_checkpoint(params, checkpoint_dir / "cnn")
metrics = {"preset": settings["name"], "steps": settings["steps"], "batch_size": settings["batch_size"],
           "learning_rate": settings["learning_rate"], "lr_schedule": settings["lr_schedule"],
           "max_shift": settings["max_shift"], "precision": precision,
           "train_seconds": round(train_seconds, 2), "images_per_second": round(images_per_second, 1),
           "test_loss": test_loss, "test_accuracy": test_accuracy, "checkpoint": str(saved),
           "history": history}
(checkpoint_dir.parent / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(f"saved {saved}")

# %% tags=["extra"]
# extra code: the test curves
steps_seen, losses, accuracies = zip(*history)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
ax1.plot(steps_seen, losses, marker="o")
ax1.set(xlabel="step", ylabel="test loss", title="Loss on the test set")
ax2.plot(steps_seen, accuracies, marker="o")
ax2.set(xlabel="step", ylabel="test accuracy", title="Accuracy on the test set")
plt.tight_layout()
plt.show()

# %% [markdown] i18n="tensorboard"
# To watch the same curves in TensorBoard, run this in a terminal at the project root and
# open http://localhost:6006 (chapter 01 is all about TensorBoard):
#
# ```
# .venv/bin/tensorboard --logdir runs/ch03/logs
# ```

# %% [markdown] i18n="initialisation"
# ## The post's initialisation, measured
#
# The post draws the fully connected weights `W_fc1` with `tf.truncated_normal(shape)` and
# no `stddev`, so they get the default 1.0: ten times the spread of every other layer (and
# of TensorFlow's own MNIST tutorial, which used 0.1). Each of the 1024 units sums 3136
# inputs times weights of size about 1, so its pre-activation is about ten times larger
# than with 0.1. Compare the unit activations at the start:

# %%
probe = x_train[:200]
for stddev in (1.0, 0.1):
    h_fc1 = forward(probe, init_params(stddev, settings["seed"]), KEEP_PROB_EVAL)["h_fc1"].numpy()
    print(f"W_fc1 stddev {stddev}: h_fc1 mean {h_fc1.mean():8.3f}, largest {h_fc1.max():8.2f}, "
          f"dead units {np.mean(h_fc1.max(axis=0) == 0):.0%}")

# %% [markdown] i18n="initialisation-race"
# Is that a flaw? Rather than guess, race the two with batch 50, once with the post's
# learning rate 1e-4 and once with 1e-3, changing nothing else (the `full` preset runs
# 1,000 steps per run here; `quick` runs fewer):

# %% tags=["train"]
race_steps = settings["flaw_demo_steps"]
if race_steps == 0:  # the grader's setting (book.toml, when_graded): nothing in the race is graded
    print("the race is skipped: the preset sets flaw_demo_steps to 0")
else:
    for learning_rate in (1e-4, 1e-3):
        for stddev in (1.0, 0.1):
            race_params = init_params(stddev, settings["seed"])
            race, _ = train(race_params, race_steps, 50, learning_rate, race_steps, settings["seed"],
                            desc=f"lr {learning_rate:g}, stddev {stddev}")
            print(f"Adam {learning_rate:g}, W_fc1 stddev {stddev}: "
                  f"test accuracy after {race_steps} steps {race[-1][2]:.2%}")

# %% [markdown] i18n="race-results"
# What our runs on a 2-core machine showed (`python -m bench.bench_cnn --part full --steps 500`
# prints the first one): with the post's learning rate the large initialisation was *ahead*
# after 500 steps (95.9% against 94.0%). Adam scales every weight's step by that weight's own
# gradient history, so the huge activations mostly make the output layer learn faster at
# first. With Adam 1e-3 the order flipped in our runs: 0.1 ahead by about a point (the
# lines above are your own run). The post needs its many steps mainly because of its small learning rate: the `quick` preset
# (stddev 0.1, batch 100, a higher rate that decays to 0) passes 99% in a tenth of the post's
# steps. Two lessons: a default you
# did not choose can change the scale of everything downstream, so look at activation
# statistics; and measure before calling something a flaw. The benchmark
# `python -m bench.bench_cnn` runs the post's whole recipe both ways, 10,000 steps each, and
# the same recipe in TensorFlow 1 style for comparison (docs/benchmarks.md, "Chapter 03").

# %% [markdown] i18n="bfloat16"
# ## Going faster on this CPU
#
# Every number in this network is a 32-bit float (fp32): 1 sign bit, 8 exponent bits and
# 23 stored significand bits. *bfloat16* ("brain float", bf16) is the top half of those
# 32 bits: 1 sign bit, the same 8 exponent bits, so the same range (up to about 3.4e38: no
# overflow that fp32 would not have), but only 8 significand bits (7 stored, plus the
# implicit leading 1), so about 2 to 3 significant decimal digits instead of 7. See for
# yourself what survives a round trip to bf16 and back:

# %%
values = tf.constant([1 / 3, 1000.1, 3e38, 1e-30])
print("fp32:", values.numpy())
print("bf16:", tf.cast(tf.cast(values, tf.bfloat16), tf.float32).numpy())

# %% [markdown] i18n="bf16-units"
# For training, 2 to 3 digits are mostly enough when they are used in the right places:
# the products inside a convolution or a matrix multiplication can be bf16 as long as
# they are added up, and the weights updated, in fp32. Some CPUs have units that do
# exactly that, many bf16 multiply-adds per instruction: Intel's AMX (Sapphire Rapids and
# later) and the AVX512-BF16 instructions (Intel Cooper Lake, AMD Zen 4 and later). Linux
# lists them as `amx_bf16` and `avx512_bf16` among the flags in `/proc/cpuinfo`;
# `tfbook.hardware.bf16_units()`, imported in the Setup cell, reads them for you:

# %%
print(f"bfloat16 units on this CPU: {bf16_units() or 'none found'}")  # bf16_units: imported in Setup

# %% [markdown] i18n="bf16-rewrite"
# TensorFlow's oneDNN backend (on by default on x86 Linux) can rewrite a graph for them
# without any change to the model: with the graph-optimizer option
# `auto_mixed_precision_onednn_bfloat16`, it turns the convolutions and matrix
# multiplications, and the ops next to them that it judges safe, into bf16 ops with casts
# at the edges. Ops it judges sensitive to rounding stay fp32, and so do the variables:
# the rewrite casts their values on the way in, and the weights keep all their digits.
# The chapter's `bfloat16_rewrite()` (defined with `train`) switches it on for a block of
# code and back afterwards:
#
# ```python
# with bfloat16_rewrite():
#     history, train_seconds = train(params, ...)
# ```
#
# Two things about this option are easy to get wrong. It is a *global* setting, so a
# notebook that switches it on and forgets to switch it off runs every later
# `tf.function` in bf16 too (hence the `with` block). And it takes effect when a
# `tf.function` *runs*, not when it is written or traced: TensorFlow prepares a function's
# graph for each setting of the option when it is first called with that setting, and
# uses the matching one at every call. A train step built with the option on but called
# after it is off runs in fp32, and the other way round. Eager code, such as `evaluate`
# here, is never rewritten.
#
# The cell below races the chapter's own train step with and without the rewrite, a few
# dozen steps each at batch 50, taking turns so that other load on the machine hits both
# alike (it is skipped on a CPU without bf16 units):

# %% tags=["extra"]
# extra code: the chapter's train step, fp32 against bf16, taking turns in blocks of 10 steps
def images_per_second_demo(rounds, block=10, batch_size=50):
    rng = np.random.default_rng(settings["seed"])
    steps = {precision: make_train_step(init_params(settings["fc_init_stddev"], settings["seed"]),
                                        settings["learning_rate"]) for precision in ("fp32", "bf16")}

    def run(precision, n):
        with bfloat16_rewrite(precision == "bf16"):
            started = time.perf_counter()
            for _ in range(n):
                batch = rng.integers(0, len(x_train), batch_size)
                float(steps[precision](x_train[batch], t_train[batch]))
            return time.perf_counter() - started

    rates = {precision: [] for precision in steps}
    for precision in steps:
        run(precision, 3)  # the first call prepares the graph for that setting: not timed
    for r in range(rounds):
        for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            rates[precision].append(block * batch_size / run(precision, block))
    return {precision: float(np.median(rate)) for precision, rate in rates.items()}


if bf16_units() is None:
    print("No bfloat16 units on this CPU (no amx_bf16 or avx512_bf16 flag): the rewrite would "
          "emulate bf16 in software and run slower than fp32, so the demo is skipped.")
else:
    demo = images_per_second_demo(settings["bf16_demo_rounds"])
    print(f"the chapter's train step, batch 50, median of {settings['bf16_demo_rounds']} rounds of 10 steps "
          f"({bf16_units()}):")
    print("| precision | images/s | vs fp32 |\n|---|---|---|")
    for precision, rate in demo.items():
        print(f"| {precision} | {rate:,.0f} | {rate / demo['fp32']:.2f}x |")
print("the rewrite is off again:",
      not tf.config.optimizer.get_experimental_options().get("auto_mixed_precision_onednn_bfloat16", False))

# %% [markdown] i18n="bf16-accuracy"
# Speed is half the question; the other half is whether the network learns as well.
# `python -m bench.bench_cnn --part limits` trains the `quick` preset's recipe three ways
# from the same start on the same mini-batches (fp32, the rewrite, and mixed precision by
# hand: the forward pass on bf16 copies of the input and the weights, with the fp32 weights
# kept as the ones Adam updates) and compares speed and test accuracy; the table at the end
# of the chapter is part of its output. By hand, the inside of the training step would read:
#
# ```python
# bf16_params = {name: tf.cast(value, tf.bfloat16) for name, value in params.items()}
# logits = forward(tf.cast(x, tf.bfloat16), bf16_params, KEEP_PROB_TRAIN)["logits"]
# loss = loss_fn(tf.cast(logits, tf.float32), t)  # the loss, the gradients and Adam's update in fp32
# ```
#
# The gradients flow back through the casts to the fp32 variables. The chapter uses the
# rewrite: the benchmark finds the two about equally fast here, and the rewrite needs no
# change to your functions, while the casts need every one of them to accept bf16 tensors.
# The `precision` key of the chapter's preset in `book.toml` (`"fp32"` or `"bf16"`) decides
# how the training cell above runs.
#
# When not to use it:
#
# * on a CPU without bf16 units: oneDNN then emulates bf16 with fp32 instructions plus
#   conversions, which is slower than plain fp32;
# * when a model spends its time elsewhere than in large convolutions and matrix
#   products (small layers, data loading, Python overhead): only those get faster;
# * when results must match fp32 closely, step for step: bf16 rounds every product to
#   2-3 digits, so the losses drift apart from an fp32 run's, and tests that compare with
#   tight tolerances fail;
# * on a GPU: there, Keras' mixed precision policies (`mixed_float16`, `mixed_bfloat16`)
#   are the usual tool, not this CPU graph rewrite.

# %% [markdown] i18n="how-far"
# ## How far can this network go? (optional)
#
# The `quick` preset stops as soon as 99% is in reach. The network itself, unchanged, can do
# better with three things that cost only training time:
#
# * **more epochs**: `quick` shows each training image about twice; the `best` preset about
#   seventeen times;
# * **the schedule** above, stretched over the longer run;
# * **data augmentation**: each time an image is used, `shift_images` (defined with `train`)
#   moves it by up to `max_shift` pixels in a random direction. The digit's label does not
#   change, but its pixels do, so the network cannot memorise exact pixel positions and has
#   to learn the shapes; that is what a longer run would otherwise overfit to. (Real digits
#   are not all centred alike either.) Here is what the network sees:

# %% tags=["extra"]
# extra code: three training digits, as they are and shifted by up to 2 pixels four times
shift_rng = np.random.default_rng(settings["seed"])
fig, axes = plt.subplots(3, 5, figsize=(7, 4.4))
for row, image in zip(axes, x_train[:3]):
    versions = [image] + [shift_images(image[None], shift_rng, 2)[0] for _ in range(4)]
    for ax, version, title in zip(row, versions, ["as it is", "shifted", "shifted", "shifted", "shifted"]):
        ax.imshow(version.reshape(28, 28), cmap="gray")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown] i18n="best-preset"
# The `best` preset in `book.toml` puts the three together. To train it yourself, start
# Jupyter with `TFBOOK_PRESET=best` and run this notebook (chapter 04 then restores the
# better checkpoint), or grade it from a terminal with `python -m checks 03 --preset best`.
# It takes several minutes, so here is what the benchmark measured instead, read from the
# file it writes (`assets/bench/ch03_limits.json`, with the command, the date and the
# machine); on a CPU without bf16 units the same runs take longer in fp32:

# %% tags=["extra"]
# extra code: the benchmark's last run of the quick and best presets
from IPython.display import Markdown, display

limits_file = tfbook.ROOT / "assets" / "bench" / "ch03_limits.json"
if not limits_file.exists():
    print(f"{limits_file} is missing: `python -m bench.bench_cnn --part limits` writes it")
else:
    limits = json.loads(limits_file.read_text())
    precision_names = {"fp32": "fp32", "bf16": "bf16 (the rewrite)", "cast": "bf16 (casts by hand)"}
    rows = [f"`{limits['command']}` ({limits['date']}; {limits['machine']}; bf16 units: {limits['bf16_units']})", "",
            "| preset | precision | steps | batch | shift (px) | training (s) | test accuracy |",
            "|---|---|---|---|---|---|---|"]
    for run in limits["recipes"]:
        rows.append(f"| {run['recipe']} | {precision_names.get(run['precision'], run['precision'])} "
                    f"| {run['steps']:,} | {run['batch_size']} | {run['max_shift']} "
                    f"| {run['train_seconds']:,.0f} | {run['test_accuracy']:.2%} |")
    display(Markdown("\n".join(rows)))

# %% [markdown] i18n="summary"
# ## Summary
#
# * A convolutional layer is `tf.nn.conv2d` + bias + ReLU; with `SAME` padding and stride 1
#   it keeps height and width, and 2x2 max pooling with stride 2 halves them.
# * The shapes go 28x28x1 -> 28x28x32 -> 14x14x32 -> 14x14x64 -> 7x7x64 -> 3136 -> 1024 -> 10.
# * Dropout keeps each unit with probability `keep_prob` during training and scales the
#   survivors by `1/keep_prob`; evaluation keeps every unit. TF2's `rate` is the fraction dropped.
# * The training step is a `tf.function`: what it calls must be written with TensorFlow ops.
# * Almost all of the network's 3.3 million parameters are in the fully connected layer.
# * The loss takes logits: `softmax_cross_entropy_with_logits` applies softmax itself.
# * `tf.train.Checkpoint(**params)` saves variables by name; chapter 04 restores them.
# * One `stddev` left at its default makes the fully connected activations ten times larger;
#   whether that helps or hurts depends on the optimiser and learning rate, so measure it.
# * A learning rate that warms up and then decays to 0 gets the same network to 99% in a
#   tenth of the post's steps; bfloat16 on a CPU that has the units makes each step faster.
#
# Check everything at once (this includes the trained checkpoint's accuracy, measured
# on the whole test set):

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## Exercises
#
# 1. Change layer 1 to `VALID` padding. Which shapes change, and what must `FLATTEN_SIZE` become?
# 2. Train with `KEEP_PROB_TRAIN = 1.0` and the `full` preset. Does the gap between training
#    and test accuracy grow?
# 3. Pass `tf.nn.softmax(logits)` to the loss instead of the logits and train for 300 steps.
#    What happens to the loss curve, and why?
# 4. Replace the 2x2 max pooling with a stride-2 convolution. How many variables does the
#    network gain?
