# %% [markdown] i18n="overview"
# # Watching training with TensorBoard
#
# ## Overview
#
# A training loop that prints `step 1200: loss 0.31` every few hundred steps tells you where
# the model *is*, not how it got there. Was the loss still falling or had it flattened out?
# Did the second run learn faster than the first, or just end lower? Did the weights of one
# layer stop moving? A column of numbers in a console cannot answer that at a glance; a curve
# can. The 2016 post "Visualize the training process with TensorBoard" showed how to have
# TensorFlow write those numbers to disk while training and let TensorBoard draw them. This
# chapter does the same with TensorFlow 2.
#
# You will learn:
#
# * how to write *summaries* (scalars such as loss and accuracy, histograms of every weight
#   and bias) with `tf.summary`, each at an explicit training step;
# * how the post's TensorFlow 1 recipe (`merge_all`, a `FileWriter` given `sess.graph`, summary
#   strings written every 100 steps) maps onto today's API, the model graph included;
# * how to lay out several trainings as named *runs* that TensorBoard overlays, and why one
#   parent folder with a subfolder per run beats the post's `--logdir=name:path,...`;
# * how to start TensorBoard from the notebook and from a terminal;
# * how to read the event files back in Python and draw the same curves with matplotlib;
# * when weight and activation histograms really matter: a badly initialised network whose
#   histograms show what went wrong long before its loss curve explains anything.
#
# **How the exercises work.** Seven exercises (1.1 to 1.7) each ask you to fill in one function
# or value, marked `raise NotImplementedError` or `...`. Run the `check("...")` cell under each
# one for immediate feedback. The grade that counts comes from a terminal: `python -m checks 01`
# runs this notebook in a fresh kernel, calls your functions with arguments it picks itself and
# reads the event files your training wrote with TensorBoard's own reader.
# `tfbook hint 01 NAME` repeats an exercise's hint.
#
# **Presets.** How long to train comes from the active preset in `book.toml`: `quick` (the
# default, about a minute for the whole notebook) or `full` (the post's 2,000 steps). Choose
# one with the environment variable `TFBOOK_PRESET` before starting Jupyter.

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

import json
import math
import os
import shutil
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from tfbook import summaries
from tfbook.data import load_mnist, one_hot
from checks import checker

settings = tfbook.preset("01")
check, check_all = checker("01", globals())
print(f"TensorFlow {tf.__version__}; preset {settings['name']!r}:",
      {key: value for key, value in settings.items() if key not in ("name", "description")})

# %%
mnist = load_mnist()
x_train, y_train = mnist.flat("train")   # float32 rows of 784 pixels in [0, 1], integer labels
x_test, y_test = mnist.flat("test")
t_train, t_test = one_hot(y_train), one_hot(y_test)
probe_x, probe_t = x_test[:1000], t_test[:1000]   # a fixed batch: every logged number is measured on it
print(f"MNIST from {mnist.source}: {len(x_train):,} training images; the probe batch is {len(probe_x)} test images")

# %% [markdown] i18n="tf1-to-tf2"
# ## From TensorFlow 1 to TensorFlow 2
#
# In 2016 a summary was a graph op. You declared `tf.summary.scalar("loss", loss)` next to the
# model, gathered every such op into one with `tf.summary.merge_all()`, ran that op in the
# session every 100 steps to get a serialised summary string, and handed the string to a
# `SummaryWriter` (later `FileWriter`) together with the step. The writer had been created with
# `sess.graph` so that the model's graph landed in the same file. TensorFlow 2 runs eagerly, so
# a summary is simply written when the line runs:
#
# | TensorFlow 1 (the post) | TensorFlow 2 (this chapter) |
# |---|---|
# | `tf.summary.scalar(name, tensor)` declared once in the graph | `tf.summary.scalar(name, value, step=...)` called when you want a point |
# | `tf.summary.histogram(name, tensor)` (or `tf.histogram_summary`) | `tf.summary.histogram(name, values, step=...)` |
# | `merged = tf.summary.merge_all()`, then `sess.run(merged)` | nothing to merge: every call writes at once |
# | `tf.summary.FileWriter(log_dir, sess.graph)` | `tf.summary.create_file_writer(log_dir)`, made the default writer inside its `as_default` block |
# | `writer.add_summary(summary_str, step)` every 100 steps | an `if step % every == 0:` around the summary calls, with `step=step` |
# | the graph came from `sess.graph` | the graph of a traced `tf.function`, written with `tf.summary.graph` |
# | `tensorboard --logdir=name1:path1,name2:path2` | one parent folder with a subfolder per run (or `--logdir_spec`) |
#
# The step is the x-axis of every chart, so it must be given: either on each call
# (`step=...`), once for a block (`writer.as_default(step=...)`), or as a global default
# (`tf.summary.experimental.set_step`). Without any of them `tf.summary.scalar` refuses to
# write.
#
# A writer buffers events in memory and writes them to its *event file* now and then (every
# two minutes, or when its queue of ten events fills). TensorBoard, a reader and the grader only
# see what has reached the disk. Leaving the writer's `as_default` block flushes the writer,
# and its `flush` method does it anywhere; a writer made the default for good with
# `writer.set_as_default()` keeps its events in memory until one of those happens.

# %% [markdown] i18n="tutorial-network"
# ## The two networks of the post
#
# The post logs a `loss` scalar from TensorFlow's MNIST tutorial of the time, a fully
# connected network: 784 pixels -> 128 ReLU units -> 32 ReLU units -> 10 logits, trained with
# plain gradient descent on batches of 100 for 2,000 steps. The tutorial drew each weight
# matrix from a truncated normal with standard deviation `1/sqrt(fan_in)` and started the
# biases at zero. As in the book's other chapters, the layers are written with low-level ops:
# `tf.Variable`, `tf.matmul`, `tf.nn.relu`.

# %%
def fc_params(seed):
    """The tutorial's network: 784 -> 128 -> 32 -> 10, weights scaled by 1/sqrt(fan_in)."""
    tf.random.set_seed(seed)
    sizes = [784, 128, 32, 10]
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"w{i}"] = tf.Variable(tf.random.truncated_normal([n_in, n_out], stddev=1 / math.sqrt(n_in)), name=f"w{i}")
        params[f"b{i}"] = tf.Variable(tf.zeros([n_out]), name=f"b{i}")
    return params


def fc_forward(x, params, training=False):
    h1 = tf.nn.relu(tf.matmul(x, params["w1"]) + params["b1"])
    h2 = tf.nn.relu(tf.matmul(h1, params["w2"]) + params["b2"])
    return {"h1": h1, "h2": h2, "logits": tf.matmul(h2, params["w3"]) + params["b3"]}


def loss_fn(logits, labels):
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def accuracy_fn(logits, labels):
    return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1)), tf.float32))


# %% [markdown] i18n="demo-network"
# The post's histogram section borrows a second network from a public demo: the same 784
# pixels through two hidden layers of 625 ReLU units to 10 logits, with dropout on the input
# (keep 80%) and after each hidden layer (keep 50%). Its weights are called `w_h`, `w_h2` and
# `w_o`, and those are the tensors whose histograms the post shows. (The post speaks of three
# hidden layers; there are three weight matrices but two hidden layers.) The post itself
# remarks that the demo forgot the biases: each hidden layer is only `relu(x @ w)` and the
# output layer only `x @ w`. Here every layer
# gets its bias, `b_h`, `b_h2` and `b_o`, so six tensors have histograms.
#
# How the weights start is the one thing the two demo runs below change, so it is an argument.

# %%
def demo_params(init_stddev, seed):
    """The histogram demo's network, 784 -> 625 -> 625 -> 10, with the biases it forgot."""
    tf.random.set_seed(seed)
    normal = lambda shape: tf.random.normal(shape, stddev=init_stddev)
    return {"w_h": tf.Variable(normal([784, 625]), name="w_h"), "b_h": tf.Variable(tf.zeros([625]), name="b_h"),
            "w_h2": tf.Variable(normal([625, 625]), name="w_h2"), "b_h2": tf.Variable(tf.zeros([625]), name="b_h2"),
            "w_o": tf.Variable(normal([625, 10]), name="w_o"), "b_o": tf.Variable(tf.zeros([10]), name="b_o")}


def demo_forward(x, params, training=False):
    keep_input, keep_hidden = (0.8, 0.5) if training else (1.0, 1.0)
    drop = lambda h, keep: tf.nn.dropout(h, rate=1 - keep) if keep < 1 else h
    h = tf.nn.relu(tf.matmul(drop(x, keep_input), params["w_h"]) + params["b_h"])
    h2 = tf.nn.relu(tf.matmul(drop(h, keep_hidden), params["w_h2"]) + params["b_h2"])
    return {"h": h, "h2": h2, "logits": tf.matmul(drop(h2, keep_hidden), params["w_o"]) + params["b_o"]}


# %% [markdown] i18n="writing-scalars"
# ## Writing scalars
#
# Every run gets its own folder and, in it, one writer that stays open for the whole run.
# Creating a new writer for the same folder would start a second event file each time, so the
# helper below keeps one writer per folder and hands out the same one on every call.

# %% tags=["support"]
_writers = {}


def writer_for(log_dir):
    """The summary writer of `log_dir`, created on first use and then reused."""
    key = str(Path(log_dir).resolve())
    if key not in _writers:
        _writers[key] = tf.summary.create_file_writer(key)
    return _writers[key]


def reset_run(log_dir):
    """Close the folder's writer and empty the folder: a re-run draws its curves afresh."""
    writer = _writers.pop(str(Path(log_dir).resolve()), None)
    if writer is not None:
        writer.close()
    shutil.rmtree(log_dir, ignore_errors=True)
    Path(log_dir).mkdir(parents=True)


# %% [markdown] i18n="exercise-1-1-log-scalars"
# ### Exercise 1.1: log_scalars
#
# Write `log_scalars(log_dir, step, loss, accuracy)`: with the writer of `log_dir`, write two
# scalars, tagged `loss` and `accuracy` as in the post, both at the training step `step`.
# When the function returns, both values must be on disk: the grader reads the event file
# right after calling it, with TensorBoard's own reader.

# %% tags=["exercise"]
def log_scalars(log_dir, step, loss, accuracy):
    raise NotImplementedError("Exercise 1.1: log_scalars")


# %% tags=["feedback"]
check("log_scalars")

# %% [markdown] i18n="writing-histograms"
# ## Writing histograms
#
# A scalar is one number per step. A weight matrix is thousands: a histogram summary keeps
# their distribution, sorted into buckets (30 by default) between the smallest and the largest
# value. TensorBoard shows the stack of those histograms over the steps in two ways: the
# Distributions tab and the Histograms tab (how to read both is at the end of the chapter).
#
# ### Exercise 1.2: log_histograms
#
# Write `log_histograms(log_dir, step, params)`: for *every* tensor in the dict `params`
# (weights and biases of all layers), write a histogram at `step`, tagged with the tensor's key
# in the dict (`w_h`, `b_h`, ...). As before, everything must be on disk when it returns.

# %% tags=["exercise"]
def log_histograms(log_dir, step, params):
    raise NotImplementedError("Exercise 1.2: log_histograms")


# %% tags=["feedback"]
check("log_histograms")

# %% [markdown] i18n="model-graph"
# ## The model's graph
#
# The post's writer received `sess.graph`, and TensorBoard's Graphs tab drew the network from
# it. In TensorFlow 2 there is no session graph: a graph exists only where a `tf.function` was
# traced. Tracing needs only the shape and type of the input, not images: a `tf.function`'s
# `get_concrete_function`, given a `tf.TensorSpec`, traces it and returns the traced function,
# whose `.graph` is the network's graph, ready for `tf.summary.graph`.
#
# (TensorFlow also offers `tf.summary.trace_on` and `trace_export`, which record every function
# that runs while tracing is on. Around anything more than one call, for instance the creation
# of a writer, they record those too, and the Graphs tab fills with boxes named `graph_1`,
# `graph_2`, ... around the one you wanted.)
#
# ### Exercise 1.3: log_graph
#
# Write `log_graph(log_dir, params)`: make a `tf.function` that runs `fc_forward` with
# `params` on a batch of images (any number of them, 784 pixels each), trace it, and write its
# graph, one graph only, with the writer of `log_dir`, flushed.

# %% tags=["exercise"]
def log_graph(log_dir, params):
    raise NotImplementedError("Exercise 1.3: log_graph")


# %% tags=["feedback"]
check("log_graph")

# %% [markdown] i18n="runs"
# ## Runs: one folder per training
#
# The post compared two trainings, "1st" and "2nd", drawn on the same chart. TensorBoard
# calls each training a *run*, and finds runs by itself: every folder under `--logdir` that
# holds event files is a run named after its path below `--logdir`. So lay out the runs as
#
# ```
# runs/ch01/logs/        <- give this to TensorBoard
#     1st/events.out.tfevents...
#     2nd/events.out.tfevents...
# ```
#
# The post wrote `tensorboard --logdir=1st:path1,2nd:path2`. That syntax no longer exists
# under `--logdir`; today's TensorBoard calls it `--logdir_spec` and marks it as meant for
# special cases. The parent-folder layout is better for everyday use: a new run appears by
# itself while TensorBoard is running (no restart with a longer command line), run names are
# folder names you can see and clean up, and a folder with many runs can be filtered by name in
# the UI. Two runs written into *one* folder are not two runs: TensorBoard merges their points
# into one jagged line.
#
# ### Exercise 1.4: run_log_dir
#
# Write `run_log_dir(name)`: the folder of the run called `name`, inside the chapter's log
# folder `tfbook.run_dir("01", "logs")` (which follows the grader's `TFBOOK_RUNS`, so never
# write the path by hand). Return it as a `str`.

# %% tags=["exercise"]
def run_log_dir(name):
    raise NotImplementedError("Exercise 1.4: run_log_dir")


# %% tags=["feedback"]
check("run_log_dir")

# %% [markdown] i18n="training-with-summaries"
# ## Training with summaries
#
# The training function below uses your `log_scalars` and `log_graph`. The *step* is the
# number of updates made so far: step 0 is the untrained network, so the first point of every
# curve and the first histogram show where training started. Scalars are written every
# `settings["scalar_every"]` steps and histograms every `settings["histogram_every"]`, both
# measured on the fixed probe batch (dropout off). For the demo network the function also logs
# histograms of the hidden layers' outputs, `activations/h` and `activations/h2`, because
# they show what the weights do to the data.
#
# Its histograms do not go through your `log_histograms`, for a reason the next section
# measures. It also prints a line now and then, the way the post's examples did: compare that
# column of numbers with the curves further down.

# %%
def train(forward, params, steps, learning_rate, log_dir, seed, histograms=True, activations=False, graph=False):
    """Plain gradient descent on MNIST batches, with summaries; returns the last probe loss and accuracy."""
    reset_run(log_dir)
    optimizer = tf.keras.optimizers.SGD(learning_rate)
    variables = list(params.values())

    @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32), tf.TensorSpec([None, 10], tf.float32)])
    def train_step(x, t):
        with tf.GradientTape() as tape:
            loss = loss_fn(forward(x, params, training=True)["logits"], t)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    if graph:
        log_graph(log_dir, params)
    rng = np.random.default_rng(seed)
    batch_size = settings["batch_size"]
    for step in range(steps + 1):
        if step % settings["scalar_every"] == 0 or step % settings["histogram_every"] == 0:
            out = forward(probe_x, params)
            loss, accuracy = float(loss_fn(out["logits"], probe_t)), float(accuracy_fn(out["logits"], probe_t))
        if step % settings["scalar_every"] == 0:
            log_scalars(log_dir, step, loss, accuracy)
        if histograms and step % settings["histogram_every"] == 0:
            tensors = dict(params)  # every weight and bias, tagged with its key
            if activations:  # the first 200 probe images are enough to see a distribution
                tensors.update({f"activations/{name}": out[name][:200] for name in ("h", "h2")})
            with writer_for(log_dir).as_default(step=step):
                for name, value in tensors.items():
                    summaries.histogram(name, value)  # what tf.summary.histogram writes, faster
        if step % max(steps // 4, 1) == 0:
            print(f"  step {step:5}: loss {loss:9.4f}  accuracy {accuracy:.3f}")
        if step < steps:
            batch = rng.integers(0, len(x_train), batch_size)
            train_step(x_train[batch], t_train[batch])
    writer_for(log_dir).flush()
    return loss, accuracy


# %% [markdown] i18n="summary-cost"
# ### What summaries cost
#
# Summaries are not free, so the loop writes them every few dozen steps, not every step (50
# in the `quick` preset, the post's 100 in `full`), and the tutorial's network logs scalars
# only. Histograms cost the most. `tf.summary.histogram` finds the bucket of each value with a
# subtraction and a division, and then counts the buckets by building a (values x 30) matrix
# of zeros and ones and summing its columns. Every 50 steps the demo network logs its six
# weights and biases and two layers' activations (of 200 probe images, not all 1000): more
# than a million values, most of them in `w_h` and `w_h2`.
#
# Counting needs no matrix: one pass over the bucket numbers (`tf.math.bincount`) does it. The
# book's `tfbook.summaries.histogram` (a short function in `tfbook/summaries.py`) takes the same
# arguments as `tf.summary.histogram`, computes the same buckets with the same arithmetic,
# counts them in that one pass, and writes the same `[left edge, right edge, count]` rows
# under the same tag and plugin. TensorBoard cannot tell the two apart: the book's tests write
# the same values both ways and compare what a running TensorBoard serves for each. The
# training function above uses it for all its histograms.
#
# `bench/bench_ch01.py` measures the choice. It times `train` on both networks with no
# summaries (a writer that writes nothing), with the chapter's summaries, and with
# `tf.summary.histogram` in place of the book's function, each in turn, round after round, and
# divides each time by the time without summaries. Other programs on the machine only ever
# slow a round down, so the fastest rounds are compared. The target is a ratio of at most
# 1.05: summaries costing 5% of the training or less. Its last run on the book's 2-core machine:

# %% tags=["extra"]
# extra code: the figures bench/bench_ch01.py saved on its last run (`python -m bench.bench_ch01 --save`)
from IPython.display import Markdown, display

bench_file = tfbook.ROOT / "assets" / "bench" / "ch01_summaries.json"
if not bench_file.exists():
    print(f"{bench_file} is missing: `python -m bench.bench_ch01 --save` writes it")
else:
    bench = json.loads(bench_file.read_text())
    rows = [f"`{bench['command']}` ({bench['date']}; {bench['machine']}; summaries every {bench['scalar_every']} steps)",
            "", "| network | summaries | fastest round (s) | ratio to none | per-round ratios: median (range) |",
            "|---|---|---|---|---|"]
    for row in bench["rows"]:
        ratio, rounds = (f"{row['ratio']:.3f}", f"{row['median_ratio']:.3f} ({row['low']:.3f}-{row['high']:.3f})") \
            if "ratio" in row else ("", "")
        rows.append(f"| {row['network']} ({row['steps']:,} steps) | {row['variant']} | {row['best_seconds']:.2f} "
                    f"| {ratio} | {rounds} |")
    one = bench["histogram"]
    rows += ["", f"One histogram of `w_h` ({one['values']:,} values): `tf.summary.histogram` {one['standard_ms']:.1f} ms, "
                 f"`tfbook.summaries.histogram` {one['book_ms']:.1f} ms."]
    display(Markdown("\n".join(rows)))

# %% [markdown] i18n="summary-cost-results"
# The `chapter` rows are the loop as this notebook runs it; the `fc +histograms` rows add
# histograms of the tutorial network's weights, which its runs `1st` and `2nd` leave out.
# Your `log_histograms` keeps `tf.summary.histogram`: it is the API you will meet in every
# other codebase, and for a few histograms now and then its cost does not matter. Reach for a
# faster writer only where a measurement shows the summaries slowing training down, as here.


# %% [markdown] i18n="exercise-1-5-initial-loss"
# ### Exercise 1.5: predict_initial_loss
#
# Predict before you run: what loss will the `1st` run log at step 0, when the network has
# not learned anything? Its weights are small and its biases zero, so its ten logits are all
# close to one another. Think about the probability the softmax then gives to the right digit
# and what the cross-entropy makes of it. Set `PREDICTED_INITIAL_LOSS` to your number (to two
# decimals); the training below prints the real one.

# %% tags=["exercise"]
PREDICTED_INITIAL_LOSS = ...  # Exercise 1.5: predict_initial_loss: your value here

# %% tags=["feedback"]
check("predict_initial_loss")

# %% [markdown] i18n="post-runs"
# Now the two runs of the post. Both train the tutorial's network with the same seed, the same
# batches and the same number of steps (the `full` preset runs the post's 2,000); they differ
# in the learning rate only: the tutorial's 0.01 for `1st` and ten times that for `2nd`. The
# `1st` run also writes the model's graph. These runs log scalars only; the histograms come
# with the demo network below.

# %% tags=["train"]
started = time.perf_counter()
fc_runs = {}
for name, learning_rate in (("1st", 0.01), ("2nd", 0.1)):
    print(f"run {name}: learning rate {learning_rate}")
    params = fc_params(settings["seed"])
    loss, accuracy = train(fc_forward, params, settings["fc_steps"], learning_rate, run_log_dir(name),
                           settings["seed"], histograms=False, graph=(name == "1st"))
    fc_runs[name] = (loss, accuracy, params)
print(f"two runs in {time.perf_counter() - started:.1f} s; you predicted {PREDICTED_INITIAL_LOSS:.2f} for step 0")

# %% [markdown] i18n="tensorboard-in-notebook"
# ## TensorBoard in the notebook and in a terminal
#
# The `tensorboard` extension adds a `%tensorboard` magic that starts a TensorBoard server in
# the background (or reuses one already started with the same arguments) and shows it inside
# the notebook. The cell does not wait for you: the server keeps running while you train more
# runs, and its page reloads new points every 30 seconds (or with its reload button).
#
# TensorBoard listens on port **6006** unless told otherwise; the post's `localhost:6060` is a
# typo. If 6006 is taken, TensorBoard tries the next ports, so read the port it reports.
# When Jupyter runs on another machine or in a container, the frame can reach TensorBoard
# through Jupyter itself with `jupyter-server-proxy` installed and
# `TENSORBOARD_PROXY_URL=/proxy/%PORT%/` set in Jupyter's environment.

# %% tags=["extra"]
# extra code: the magic starts the `tensorboard` program: use the one installed beside this
# kernel's Python (a kernel of .venv/bin/jupyter has no .venv/bin on its PATH unless the venv
# is activated), and stop what this kernel started when the kernel shuts down, so that a
# notebook run by the grader or a test never leaves a server behind
import atexit
import sys

import psutil

_tensorboard_binary = Path(sys.executable).parent / "tensorboard"
if _tensorboard_binary.exists():
    os.environ.setdefault("TENSORBOARD_BINARY", str(_tensorboard_binary))


@atexit.register
def _stop_tensorboards():
    for child in psutil.Process().children(recursive=True):
        try:
            if "tensorboard" in " ".join(child.cmdline()):
                child.terminate()
        except psutil.Error:
            pass

# %% tags=["train"]
log_root = tfbook.run_dir("01", "logs")
# %load_ext tensorboard
# %tensorboard --logdir {log_root}

# %% [markdown] i18n="tensorboard-in-terminal"
# From a terminal at the project root the same is
#
# ```
# .venv/bin/tensorboard --logdir runs/ch01/logs
# ```
#
# and a browser on the address it prints (http://localhost:6006 when that port is free). `make
# tensorboard` serves every chapter at once (`--logdir runs`, on 6006 or the next free port;
# `make tensorboard PORT=8008` picks one): there the runs are named by their path below
# `runs/`, `ch01/logs/1st`, `ch01/logs/2nd` and so on. The post's form with explicit run names is
#
# ```
# .venv/bin/tensorboard --logdir_spec 1st:runs/ch01/logs/1st,2nd:runs/ch01/logs/2nd
# ```
#
# On the Scalars tab, the `1st` and `2nd` runs appear as two coloured curves on the `loss` and
# `accuracy` charts; the smoothing slider (top left) averages noisy curves, and hovering shows
# every run's value at a step. Once the demo runs below exist, `demo-bad`'s loss, which starts
# in the thousands, squeezes every other curve flat against the x-axis: type `1st|2nd` in the
# box above the run list (it filters runs by a regular expression) to show those two only, or
# `demo` for the demo runs. The Graphs tab draws `1st`'s network: three `MatMul`, two `Relu` and
# the additions of the biases.

# %% [markdown] i18n="reading-event-files"
# ## Reading event files back
#
# An event file is a sequence of records; each record holds one event, and an event holds a
# step, a wall time and a summary with one or more tagged values. TensorFlow 2 stores a scalar
# as a 0-dimensional tensor and a histogram as a tensor of `[left edge, right edge, count]`
# rows. TensorBoard's `EventAccumulator` reads every event file of a run folder in order;
# `tf.compat.v1.train.summary_iterator` walks one file event by event. Beware the accumulator's
# default *size guidance*: it keeps a random sample of only 10 tensors per tag unless told to
# keep them all.
#
# ### Exercise 1.6: read_scalars
#
# Write `read_scalars(log_dir, tag)`: the points of one scalar tag from the event files of one
# run folder, as a pair of NumPy arrays, the steps and then the values, ordered by step, containing every point of
# that tag and nothing from other tags. The grader tries it on event files it writes itself.

# %% tags=["exercise"]
def read_scalars(log_dir, tag):
    raise NotImplementedError("Exercise 1.6: read_scalars")


# %% tags=["feedback"]
check("read_scalars")

# %% [markdown] i18n="plot-scalars"
# With a reader, the two runs' curves can be drawn in the notebook too (and in a report, or a
# test):

# %% tags=["extra"]
# extra code: the two runs' loss curves, read back from their event files
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
for name in fc_runs:
    steps_read, losses = read_scalars(run_log_dir(name), "loss")
    ax1.plot(steps_read, losses, label=name)
    steps_read, accuracies = read_scalars(run_log_dir(name), "accuracy")
    ax2.plot(steps_read, accuracies, label=name)
ax1.set(xlabel="step", ylabel="loss", title="loss on the probe batch")
ax2.set(xlabel="step", ylabel="accuracy", title="accuracy on the probe batch")
ax1.legend()
plt.tight_layout()
plt.show()


# %% [markdown] i18n="distribution-bands"
# A histogram over the steps is what TensorBoard's Distributions tab draws: for every step,
# bands between percentiles of the values: the edges are the percentiles 7, 16, 31, 69, 84 and
# 93 (for a normal distribution, about 1.5, 1 and 0.5 standard deviations either side of the
# median), so the darkest band holds the middle 38% of the values, and the lightest
# reaches the minimum and the maximum. The functions below rebuild those percentiles from the
# stored buckets and draw the bands.

# %% tags=["extra"]
# extra code: reading histograms back takes the same few lines as your read_scalars, so the
# book keeps its reader in tfbook/events.py: read_histograms(log_dir, tag) returns the steps
# and, per step, the (left edge, right edge, count) rows of the buckets
from tfbook.events import read_histograms

# (first, last) percentile of each band in percentiles()'s list, its shade, and its key
BANDS = ((0, 8, 0.15, "min to max"), (1, 7, 0.3, "7-93% (±1.5 sd)"), (2, 6, 0.45, "16-84% (±1 sd)"),
         (3, 5, 0.6, "31-69% (±0.5 sd)"))


def percentiles(buckets, qs=(0, 7, 16, 31, 50, 69, 84, 93, 100)):
    """Approximate percentiles of the values summarised by histogram buckets."""
    left, right, counts = buckets[:, 0], buckets[:, 1], buckets[:, 2]
    cumulative = np.concatenate([[0], np.cumsum(counts)]) / max(counts.sum(), 1)
    edges = np.concatenate([[left[0]], right])
    return np.interp(np.array(qs) / 100, cumulative, edges)


def plot_distribution(ax, log_dir, tag, title, log_scale=False):
    steps_read, histograms = read_histograms(log_dir, tag)
    p = np.array([percentiles(h) for h in histograms])
    for low, high, alpha, label in BANDS:
        ax.fill_between(steps_read, p[:, low], p[:, high], color="tab:orange", alpha=alpha, lw=0, label=label)
    ax.plot(steps_read, p[:, 4], color="tab:orange", label="median")
    if log_scale:  # log away from 0, linear within +-0.01: inner bands stay visible below a maximum 100x larger
        ax.set_yscale("symlog", linthresh=0.01)
    ax.set(xlabel="step", ylabel="value", title=title)


# %% [markdown] i18n="when-histograms-matter"
# ## When histograms matter
#
# The post ends unsure whether a weight's distribution tells anything. Often it does not:
# in a healthy run the histograms widen slowly and that is all. They earn their place when
# something is wrong and the loss curve cannot say what. To see it, train the demo network
# twice, changing only how its weights start. Both runs use plain gradient descent with a
# learning rate of 0.05:
#
# * `demo-good`: weights drawn with standard deviation 0.05, about `sqrt(2 / 784)`, the usual
#   rule for ReLU layers (He initialisation);
# * `demo-bad`: standard deviation 1.0, the default that chapter 03's post fell into for its
#   fully connected layer by giving no `stddev` (a plain normal here rather than a truncated one, so the
#   arithmetic stays simple).
#
# Each of the first layer's units sums 784 pixels times weights. With weights twenty times
# larger, every pre-activation is twenty times larger, and the second layer multiplies that
# again: the first logits are in the thousands instead of near zero.

# %% tags=["train"]
started = time.perf_counter()
demo_runs = {}
for name, init_stddev in (("demo-good", 0.05), ("demo-bad", 1.0)):
    print(f"run {name}: weights drawn with stddev {init_stddev}")
    params = demo_params(init_stddev, settings["seed"])
    loss, accuracy = train(demo_forward, params, settings["demo_steps"], 0.05, run_log_dir(name),
                           settings["seed"], activations=True)
    demo_runs[name] = (loss, accuracy, params)
print(f"two demo runs in {time.perf_counter() - started:.1f} s")

# %% [markdown] i18n="stuck-loss"
# The bad run's loss begins in the thousands, far from what you predicted for an untrained
# network, then falls to that prediction and stays there, while its accuracy sits near chance. The loss curve says *that*
# it is stuck; the histograms say *why*:

# %% tags=["extra"]
# extra code: the good and the bad run side by side, as TensorBoard's Distributions tab shows them
fig, axes = plt.subplots(2, 3, figsize=(12, 5.5))
for row, name in enumerate(("demo-good", "demo-bad")):
    for ax, tag in zip(axes[row], ("w_h", "activations/h", "activations/h2")):
        plot_distribution(ax, run_log_dir(name), tag, f"{name}: {tag}", log_scale=tag.startswith("activations"))
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=5, frameon=False)
plt.tight_layout(rect=(0, 0.05, 1, 1))
plt.show()

# %% [markdown] i18n="reading-histograms"
# How to read them:
#
# * **Distributions tab** (the figure above; its activation plots have a y-axis that is
#   logarithmic away from zero, where TensorBoard's is linear): x is the step, y the value; the shaded bands
#   hold a fixed share of the values each (darkest: the middle 38%; lightest: from minimum to
#   maximum), so a widening band is a spreading distribution and a band squeezed onto one line
#   is a tensor whose values are all the same.
# * **Histograms tab**: one histogram per logged step, stacked front to back with the oldest
#   at the back (the post's "stacked per step"), x the value and height the count. It shows the
#   *shape* the Distributions tab summarises: two humps, a spike at zero, a long tail.
#
# In `demo-good`, `w_h` keeps its spread of about ±0.1 and the hidden outputs stay within a
# few units, with roughly half of them zero at any step (what ReLU does to a centred input).
# In `demo-bad`, `w_h` is twenty times wider from step 0, the first hidden layer's outputs
# reach the hundreds, and `activations/h2` sinks towards 0 update after update until (almost)
# all its values sit in the histogram's lowest bucket, at 0 (on TensorBoard's linear axis, a
# single line; on the log axis above the bands still show the width of that bucket): the huge
# first gradients pushed the second layer's pre-activations below zero for every image. A ReLU unit whose input is negative for every image outputs 0 and passes
# back a gradient of 0, so it never recovers: it is *dead*. With (almost) every unit of `h2`
# dead, the logits no longer depend on the image; the network can only learn the class
# frequencies, which are nearly even: the loss of a network that guesses, your prediction in
# exercise 1.5. The first hidden layer loses many of its
# units too; how many is the next exercise.
#
# ### Exercise 1.7: dead_units
#
# Write `dead_fraction(h)`: given the outputs `h` of a ReLU layer for a batch of images
# (shape `(images, units)`), return the fraction of units that output zero for *every* image
# in the batch (a float between 0 and 1). Then set `DEAD_FRACTION_BAD` to that fraction for the
# first hidden layer (`h`) of the trained `demo-bad` network on the probe batch, with dropout
# off. (The second layer's answer, you already know from the picture.)

# %% tags=["exercise", "train"]
def dead_fraction(h):
    raise NotImplementedError("Exercise 1.7: dead_units")


bad_params = demo_runs["demo-bad"][2]
good_params = demo_runs["demo-good"][2]
DEAD_FRACTION_BAD = ...  # Exercise 1.7: dead_units: your value here

# %% tags=["feedback"]
check("dead_units")

# %% tags=["train"]
dead = {name: {layer: dead_fraction(demo_forward(probe_x, p)[layer]) for layer in ("h", "h2")}
        for name, p in (("demo-good", good_params), ("demo-bad", bad_params))}
for name, fractions in dead.items():
    print(f"{name}: dead units in h {fractions['h']:.1%}, in h2 {fractions['h2']:.1%}")

# %% [markdown] i18n="saved-results"
# The trained networks and the figures the book quotes are saved next to the logs (the
# grader recomputes each run's last logged loss and the dead fraction from the saved weights):

# %% tags=["train"]
checkpoints = tfbook.run_dir("01", "checkpoints")
for name, params in (("1st", fc_runs["1st"][2]), ("2nd", fc_runs["2nd"][2]),
                     ("demo-good", good_params), ("demo-bad", bad_params)):
    tf.train.Checkpoint(**params).write(str(checkpoints / name / "params"))
metrics = {
    "preset": settings["name"], "fc_steps": settings["fc_steps"], "demo_steps": settings["demo_steps"],
    "final_loss_1st": fc_runs["1st"][0], "final_loss_2nd": fc_runs["2nd"][0],
    "final_accuracy_1st": fc_runs["1st"][1], "final_accuracy_2nd": fc_runs["2nd"][1],
    "initial_loss_1st": float(read_scalars(run_log_dir("1st"), "loss")[1][0]),
    "initial_loss_demo_bad": float(read_scalars(run_log_dir("demo-bad"), "loss")[1][0]),
    "final_loss_demo_good": demo_runs["demo-good"][0], "final_loss_demo_bad": demo_runs["demo-bad"][0],
    "dead_fraction_bad": DEAD_FRACTION_BAD, "dead_fraction_bad_h2": dead["demo-bad"]["h2"],
    "dead_fraction_good": dead["demo-good"]["h"],
}
tfbook.run_dir("01").joinpath("metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps(metrics, indent=2))

# %% [markdown] i18n="summary"
# ## Summary
#
# * Printed numbers show where training is; a curve shows how it got there. TensorFlow writes
#   the numbers to event files while training, and TensorBoard draws them.
# * `tf.summary.create_file_writer(dir)` makes a writer; `tf.summary.scalar` and
#   `tf.summary.histogram` write one point each, at an explicit step; the writer's `flush` puts
#   them on disk now. There is no `merge_all` and no session any more.
# * The graph comes from tracing a `tf.function` (`get_concrete_function`) and writing its
#   `.graph` with `tf.summary.graph`.
# * A histogram costs far more than a scalar: `tf.summary.histogram` counts its buckets through
#   a (values x 30) matrix. Measure what the summaries cost (`bench/bench_ch01.py`); where
#   they slow training, the same histograms counted in one pass (`tfbook.summaries.histogram`)
#   look identical in TensorBoard.
# * One parent folder with one subfolder per run: TensorBoard overlays the runs and names
#   them after the folders. `--logdir_spec name:path,...` is the post's old syntax.
# * `%load_ext tensorboard` and `%tensorboard --logdir DIR` show TensorBoard in the notebook;
#   from a terminal, `tensorboard --logdir DIR` serves it on port 6006 (not 6060).
# * `EventAccumulator` (keep every tensor with `size_guidance`) or `summary_iterator` read the
#   files back for plots and tests.
# * Weight and activation histograms explain a stuck loss: an initialisation twenty times too
#   wide made the first hidden layer's outputs explode and killed (almost) every unit of the second.
#
# Check everything at once (the last checks read the event files your runs wrote):

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## Exercises
#
# 1. Add a third run, `3rd`, with learning rate 0.5. Where does its curve go, and how would
#    you have noticed it from printed numbers alone?
# 2. Log the gradient of each weight (from the tape) as a histogram as well. In `demo-bad`,
#    what do the gradients of `w_h2` look like once `h2` is dead?
# 3. Train `demo-bad` with Adam instead of plain gradient descent. Do the units of `h2` still
#    die? What do the histograms of `w_h` show?
# 4. Write the scalars every step instead of every `scalar_every` steps and time the training
#    with and without summaries (`bench/bench_ch01.py` does this). When does logging cost more
#    than it tells?
