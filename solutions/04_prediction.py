# %% [markdown] i18n="overview"
# # Predicting the digits you draw
#
# ## Overview
#
# Chapter 03 trained a convolutional network on MNIST and saved its variables. This chapter
# is the 2017 post "Recognising digit images with deep learning #2": rebuild the same network
# in a fresh notebook, restore the trained values, and ask it about digits you draw with the
# mouse, right here in the notebook. Then look inside: the 32 feature maps of the first layer
# for your drawing, and the 32 filters that made them.
#
# You will learn:
#
# * what a checkpoint stores, and how `tf.train.Checkpoint` matches saved values to a new
#   program's variables by name;
# * how to measure a restored model on the 10,000 test images, read a confusion matrix and
#   look at the mistakes it makes most confidently;
# * why a drawing must be normalised the way MNIST's digits were (crop, scale, centre), and
#   how much that buys;
# * why prediction uses `keep_prob` 1.0, and how to read the ten probabilities;
# * what the first convolutional layer computes for one image, before and after bias + ReLU,
#   and why the fully connected layer ties the network to 28x28 images.
#
# **How the exercises work.** Six exercises (4.1 to 4.6) each ask you to fill in one
# function or value, marked `raise NotImplementedError` or `...`. Run the `check("...")`
# cell under each one for immediate feedback. The grade that counts comes from a terminal: `python -m checks 04` runs
# this notebook in a fresh kernel and calls your functions with inputs it picks itself.
# `tfbook hint 04 NAME` repeats an exercise's hint.
#
# **Before you start** you need the checkpoint your chapter 03 trained, in
# `runs/ch03/checkpoint/`: run chapter 03 to the end, or `python -m checks 03` from a terminal
# (grading chapter 03 keeps the checkpoint your notebook trains). `make book` keeps its
# reference runs apart, in `build/runs/`.

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
import time
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import display
from matplotlib.figure import Figure

from tfbook.canvas import DigitCanvas
from tfbook.data import load_mnist
from tfbook.drawing import EMPTY_MESSAGE, load_sample_drawings
from checks import checker

settings = tfbook.preset("04")
check, check_all = checker("04", globals())
print(f"TensorFlow {tf.__version__}; preset {settings['name']!r}")

# %%
mnist = load_mnist()
x_test, y_test = mnist.flat("test")   # float32 rows of 784 pixels in [0, 1], integer labels
print(f"MNIST from {mnist.source}: {x_test.shape[0]:,} test images")


# %%
# extra code: errors for the reader (Jupyter shows the message, without a traceback)
class BookError(Exception):
    def _render_traceback_(self):
        return [f"\033[1;31m{type(self).__name__}\033[0m: {self}"]


class CheckpointMissing(BookError):
    pass


class CheckpointMismatch(BookError):
    pass


# %% [markdown] i18n="model"
# ## The model from chapter 03
#
# A checkpoint holds numbers, not code: to use the trained network we need its forward pass
# again. The cell below is chapter 03's model, unchanged (the same low-level ops, the same
# variable names), plus `new_params`, a function that makes the eight variables with the
# right shapes and placeholder values (zeros) for the checkpoint to overwrite.

# %% tags=["support"]
PARAM_SHAPES = {
    "W_conv1": (5, 5, 1, 32), "b_conv1": (32,),
    "W_conv2": (5, 5, 32, 64), "b_conv2": (64,),
    "W_fc1": (7 * 7 * 64, 1024), "b_fc1": (1024,),
    "W_fc2": (1024, 10), "b_fc2": (10,),
}


def new_params():
    """The network's variables, named as in chapter 03, holding zeros until restored."""
    return {name: tf.Variable(tf.zeros(shape), name=name) for name, shape in PARAM_SHAPES.items()}


def conv_layer(x, W, b):
    return tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="SAME") + b)


def max_pool_2x2(x):
    return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")


def forward(x, params, keep_prob):
    out = {"x_image": tf.reshape(tf.cast(x, tf.float32), [-1, 28, 28, 1])}
    out["h_conv1"] = conv_layer(out["x_image"], params["W_conv1"], params["b_conv1"])
    out["h_pool1"] = max_pool_2x2(out["h_conv1"])
    out["h_conv2"] = conv_layer(out["h_pool1"], params["W_conv2"], params["b_conv2"])
    out["h_pool2"] = max_pool_2x2(out["h_conv2"])
    out["h_flat"] = tf.reshape(out["h_pool2"], [-1, 7 * 7 * 64])
    out["h_fc1"] = tf.nn.relu(tf.matmul(out["h_flat"], params["W_fc1"]) + params["b_fc1"])
    out["h_drop"] = out["h_fc1"] if keep_prob == 1.0 else tf.nn.dropout(out["h_fc1"], rate=1.0 - keep_prob)
    out["logits"] = tf.matmul(out["h_drop"], params["W_fc2"]) + params["b_fc2"]
    return out


# %% [markdown] i18n="checkpoint-contents"
# ## What a checkpoint stores
#
# Chapter 03 called `tf.train.Checkpoint(**params).write(prefix)`. That wrote two files next
# to each other: `cnn.index`, a small table of contents, and `cnn.data-00000-of-00001`, the
# raw values. The *prefix* (`.../checkpoint/cnn`) names the pair. Each variable is stored
# under a key made from its *name in the Checkpoint*, which is its key in the `params` dict:
# `W_conv1/.ATTRIBUTES/VARIABLE_VALUE`. `_CHECKPOINTABLE_OBJECT_GRAPH` records how those
# objects hang together. Nothing about the code, the layer order or the shapes you *meant* is
# in there: only names, shapes and numbers.
#
# The post used TF1's `tf.train.Saver`, which matched values to variables by their *graph*
# names (`Variable_3:0`), so building the graph in a different order could silently swap
# them. `tf.train.Checkpoint` matches by the names you choose, which is sturdier.
#
# | TensorFlow 1 (the post) | TensorFlow 2 (this chapter) |
# |---|---|
# | rebuild the graph, then `saver = tf.train.Saver()` | fresh variables with the same names and shapes (`new_params`) |
# | `saver.restore(sess, path)` | a `tf.train.Checkpoint` of those variables, read from the prefix (Exercise 4.1) |
# | `sess.run(y_conv, feed_dict={x: img, keep_prob: 1.0})` | call `forward` as a plain function, then softmax (Exercise 4.2) |
# | `sess.run(h_conv1, feed_dict=...)` for the feature maps | call the layer's ops directly: the tensors are plain values |
# | `IPython.notebook.kernel.execute(...)` from the canvas's JavaScript | an anywidget (`DigitCanvas`) syncing its strokes to the kernel |

# %% tags=["train"]
def find_checkpoint():
    """The prefix of chapter 03's checkpoint under runs/ch03/checkpoint/ (or $TFBOOK_RUNS)."""
    directory = tfbook.run_dir("03", "checkpoint", create=False)
    found = sorted(directory.glob("*.index"))
    if not found:
        raise CheckpointMissing(
            f"no checkpoint in {directory}. Chapter 04 restores what chapter 03 trained: run "
            "chapter 03 to the end (its training section saves the checkpoint), or run "
            "`python -m checks 03` in a terminal at the project root (it keeps the checkpoint "
            "your chapter 03 trains).")
    return str(found[-1].with_suffix(""))


prefix = find_checkpoint()
# whose network this is: your chapter 03's (runs/), or make book's reference run (build/runs/)
made = time.strftime("%Y-%m-%d %H:%M", time.localtime(Path(prefix + ".index").stat().st_mtime))
print(f"restoring the checkpoint {prefix} (written {made})")
for key, shape in tf.train.list_variables(prefix):
    print(f"  {key:45} {shape}")

# %% [markdown] i18n="restore"
# To restore, build variables with the same names, wrap them in a `tf.train.Checkpoint` the
# same way as when saving (chapter 03's example, `tf.train.Checkpoint(step=counter,
# w=weights)`, would need variables for `step` and `w` again), and call `.read(prefix)`: every
# variable whose name is found in the checkpoint gets the stored value, provided the shape
# fits. `.read()` returns a *status* that can verify the match.
# `.assert_existing_objects_matched()` raises if any of your variables found nothing in the
# checkpoint; `.assert_consumed()` is stricter and also raises if the checkpoint holds
# values nothing asked for (a checkpoint written with `save()` rather than `write()` holds
# one more, its `save_counter`). Without a check, a typo in a name leaves that variable at
# its initial zeros, and the network quietly predicts garbage. (`.expect_partial()` is the
# opposite: it silences the warnings about unused values, for when you only want part of a
# checkpoint.)
#
# ### Exercise 4.1: restore_checkpoint
#
# Write `restore_params(prefix)`: restore the eight variables of the model from the
# checkpoint at `prefix` (a string), make sure every variable was matched, and return them
# in a dict like the one `new_params` makes. Use the `prefix` you are given, not a path of
# your own: the check gives your function checkpoints it wrote itself.

# %% tags=["exercise"]
def restore_params(prefix):
    ### BEGIN SOLUTION
    params = new_params()
    tf.train.Checkpoint(**params).read(str(prefix)).assert_existing_objects_matched()
    return params
    ### END SOLUTION


# %% tags=["feedback"]
check("restore_checkpoint")


# %% [markdown] i18n="mismatch"
# When the checkpoint and the model disagree (a layer with another size, a renamed variable),
# restoring fails. The helper below turns TensorFlow's error into a list of the variables
# that differ, which says what to fix.

# %% tags=["train"]
# extra code: name the variables that differ between a checkpoint and the model
def checkpoint_mismatch(prefix):
    stored = {key.split("/")[0]: tuple(shape) for key, shape in tf.train.list_variables(prefix)
              if key.endswith("/.ATTRIBUTES/VARIABLE_VALUE")}
    problems = [f"{name}: missing from the checkpoint" for name in PARAM_SHAPES if name not in stored]
    problems += [f"{name}: {stored[name]} in the checkpoint, {shape} in the model"
                 for name, shape in PARAM_SHAPES.items() if name in stored and stored[name] != shape]
    problems += [f"{name}: in the checkpoint, not in the model" for name in stored if name not in PARAM_SHAPES]
    return problems


try:
    params = restore_params(prefix)
except (AssertionError, ValueError, tf.errors.OpError) as error:
    differences = checkpoint_mismatch(prefix) or [str(error).splitlines()[0]]
    raise CheckpointMismatch(f"{prefix} does not fit this chapter's model: " + "; ".join(differences)
                             + ". Re-run chapter 03 to the end with its model unchanged.") from None
print({name: tuple(v.shape) for name, v in params.items()})

# %% [markdown] i18n="predict"
# ## Prediction: dropout off
#
# During training, dropout switched off half of the fully connected layer at random on every
# step (`keep_prob` 0.5) so that the network could not lean on any single unit. At prediction
# time that randomness is only harmful: the same drawing would get a different answer on
# every call, and each answer would come from half a network. The post therefore fed
# `keep_prob: 1.0` when predicting. Dropout's scaling during training (survivors divided by
# `keep_prob`) is what makes the full network's outputs the right size without it.
#
# ### Exercise 4.2: predict
#
# Write `predict_probabilities(params, images)`: the network's `(N, 10)` probabilities for a
# batch of images (rows of 784 pixels, or (N, 28, 28) images), the same answer on every call.

# %% tags=["exercise"]
def predict_probabilities(params, images):
    ### BEGIN SOLUTION
    logits = forward(images, params, keep_prob=1.0)["logits"]
    return tf.nn.softmax(logits)
    ### END SOLUTION


# %% tags=["feedback"]
check("predict")

# %% [markdown] i18n="test-accuracy"
# ## How good is the restored model?
#
# Before trusting it with drawings, measure it on the 10,000 test images, in chunks to keep
# memory small. The accuracy must be exactly what chapter 03 measured: if it is not, the
# restore went wrong. It goes into `runs/ch04/metrics.json` (the grader measures the same
# checkpoint itself and compares).

# %% tags=["train"]
def predict_in_chunks(params, images, chunk=2000):
    return np.concatenate([predict_probabilities(params, images[i:i + chunk]).numpy()
                           for i in range(0, len(images), chunk)])


def save_metrics(**values):
    """Merge values into runs/ch04/metrics.json."""
    path = tfbook.run_dir("04") / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.update(values)
    path.write_text(json.dumps(metrics, indent=2))
    return path


test_probs = predict_in_chunks(params, x_test)
test_predicted = test_probs.argmax(axis=1)
test_accuracy = float(np.mean(test_predicted == y_test))
save_metrics(preset=settings["name"], checkpoint=prefix, test_accuracy=test_accuracy,
             test_errors=int(np.sum(test_predicted != y_test)))
print(f"test accuracy {test_accuracy:.2%}: {np.sum(test_predicted != y_test)} of {len(y_test):,} wrong")

# %% [markdown] i18n="confusion-matrix"
# A confusion matrix counts, for every true digit (row), what the network said (column). The
# diagonal holds the right answers; everything else is a kind of mistake, so the bright
# off-diagonal cells say which digits the network confuses.

# %% tags=["train"]
confusion = tf.math.confusion_matrix(y_test, test_predicted, num_classes=10).numpy()
errors = confusion.copy()
np.fill_diagonal(errors, 0)
true_digit, said = np.unravel_index(errors.argmax(), errors.shape)
print(f"most frequent mistake: {errors.max()} times a {true_digit} taken for a {said}")

# %% tags=["extra"]
# extra code: plot the mistakes of the confusion matrix (the diagonal is left out: it would drown them)
fig, ax = plt.subplots(figsize=(5, 4.5))
image = ax.imshow(errors, cmap="Reds")
for (row, col), count in np.ndenumerate(confusion):
    dark = image.norm(errors[row, col]) > 0.55   # white numbers on the darkest reds, black elsewhere
    ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
            color="grey" if row == col else ("white" if dark else "black"))
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true digit",
       title="Test set: where the mistakes are")
fig.colorbar(image, ax=ax, label="mistakes")
fig.savefig(tfbook.run_dir("04") / "confusion_matrix.png", dpi=80, bbox_inches="tight")
plt.show()

# %% [markdown] i18n="confident-mistakes"
# The mistakes the network is *surest* about are the interesting ones: often the label
# itself is debatable, or the digit is written in a style rare in the training set.

# %% tags=["train"]
wrong = np.flatnonzero(test_predicted != y_test)
confident_wrong = wrong[np.argsort(-test_probs[wrong].max(axis=1))][:10]

# %% tags=["extra"]
# extra code: show them
fig, axes = plt.subplots(1, len(confident_wrong), figsize=(12, 1.9))
for ax, i in zip(np.atleast_1d(axes), confident_wrong):
    ax.imshow(x_test[i].reshape(28, 28), cmap="gray")
    ax.set_title(f"true {y_test[i]}\nsaid {test_predicted[i]} {test_probs[i].max():.0%}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown] i18n="drawing-vs-mnist"
# ## A drawing is not an MNIST digit
#
# MNIST's digits were normalised before anyone trained on them: each was cropped to its ink,
# scaled so that its longer side is 20 pixels (keeping its proportions), and placed in a
# 28x28 frame so that its *centre of mass* sits in the middle. A convolutional network is only
# a little tolerant to shifts and sizes it never saw, so a digit drawn small in a corner of
# the canvas looks nothing like its training data. Here are some of the book's sample
# drawings (made with the same canvas you will use below), as they come off the canvas:

# %%
samples = load_sample_drawings()
raw = np.stack([s.pixels() for s in samples])        # (30, 28, 28): straight off the canvas
labels = np.array([s.label for s in samples])
print(f"{len(samples)} sample drawings, digits {sorted(set(labels.tolist()))}")


# %%
# extra code: where is the ink of a sample drawing, and where is its centre of mass?
def centre_of_mass(img):
    """The mean row and column of the image, each pixel weighted by its ink."""
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


example = raw[list(labels).index(7)]
ink_rows, ink_cols = np.flatnonzero(example.max(axis=1)), np.flatnonzero(example.max(axis=0))
print(f"ink rows {ink_rows[0]}-{ink_rows[-1]}, columns {ink_cols[0]}-{ink_cols[-1]}; "
      "centre of mass (row, col) = ({:.1f}, {:.1f})".format(*centre_of_mass(example)))

# %% [markdown] i18n="prepare"
# Read the numbers as MNIST's recipe would. This 7's ink spans the rows and columns printed
# above: *cropping* keeps only that box. Its longer side must then become 20 pixels, so a
# box of 10 by 8 pixels would be *scaled* by 2 to 20 by 16 (keep the proportions; a resize
# such as `tf.image.resize` does it). Finally the scaled digit is pasted into a black 28x28
# frame so that its *centre of mass* lands on pixel (14, 14): if the scaled digit's own centre
# of mass is at (9.6, 7.2), its top-left corner goes to row 14 - 9.6 = 4.4, rounded to 4, and
# column 14 - 7.2 = 6.8, rounded to 7. A lopsided digit (a 7 is heavier at the top) can poke
# out of the central 20x20 box when centred by mass; shrinking it a little until it fits
# keeps every stroke in the picture.
#
# ### Exercise 4.3: prepare
#
# Write `prepare(img28)`: turn a raw (28, 28) drawing (white ink on black, values in [0, 1])
# into the network's input, a (28, 28) float32 image normalised like MNIST's digits, with the
# three steps above. Raise `ValueError` for a drawing without ink (the live prediction below
# relies on it). The check draws digits of its own, off-centre, small and large, and
# measures where your result puts them.

# %% tags=["exercise"]
def prepare(img28):
    ### BEGIN SOLUTION
    img = np.clip(np.asarray(img28, dtype=np.float32), 0, 1)
    ink_rows, ink_cols = np.flatnonzero(img.max(axis=1) > 0), np.flatnonzero(img.max(axis=0) > 0)
    if ink_rows.size == 0:
        raise ValueError(EMPTY_MESSAGE)
    crop = img[ink_rows[0]:ink_rows[-1] + 1, ink_cols[0]:ink_cols[-1] + 1]   # 1. crop to the ink
    scale = 20 / max(crop.shape)                                              # 2. longer side: 20
    while True:
        height, width = (max(1, round(side * scale)) for side in crop.shape)
        digit = tf.image.resize(crop[..., None], (height, width), antialias=True).numpy()[..., 0]
        digit = np.clip(digit, 0, 1)
        rows, cols = np.indices(digit.shape)                                  # 3. centre of mass
        top = round(14 - (rows * digit).sum() / digit.sum())
        left = round(14 - (cols * digit).sum() / digit.sum())
        if (4 <= top <= 24 - height and 4 <= left <= 24 - width) or scale < 0.2:
            break
        scale *= 0.97  # it would poke out of the central 20x20 box: shrink it a little
    top, left = min(max(top, 4), 24 - height), min(max(left, 4), 24 - width)
    out = np.zeros((28, 28), np.float32)
    out[top:top + height, left:left + width] = digit
    return out
    ### END SOLUTION


# %% tags=["feedback"]
check("prepare")

# %%
prepared = np.stack([prepare(img) for img in raw])
print("the 7 after prepare: centre of mass (row, col) = ({:.1f}, {:.1f})".format(
    *centre_of_mass(prepare(example))))

# %% tags=["extra"]
# extra code: before and after, for one drawing of each digit
firsts = [list(labels).index(d) for d in range(10)]
fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for column, i in enumerate(firsts):
    for row, (images, name) in enumerate([(raw, "drawn"), (prepared, "prepared")]):
        axes[row, column].imshow(images[i], cmap="gray", vmin=0, vmax=1)
        axes[row, column].axis("off")
    axes[0, column].set_title(str(labels[i]))
axes[0, 0].text(-6, 14, "drawn", rotation=90, va="center")
axes[1, 0].text(-6, 14, "prepared", rotation=90, va="center")
plt.show()

# %% [markdown] i18n="preprocessing-gain"
# What does preprocessing buy? Ask the network about all the sample drawings, as drawn and
# as prepared:

# %% tags=["train"]
raw_accuracy = float(np.mean(predict_probabilities(params, raw).numpy().argmax(axis=1) == labels))
prepared_accuracy = float(np.mean(predict_probabilities(params, prepared).numpy().argmax(axis=1) == labels))
save_metrics(sample_drawings=len(samples), sample_accuracy_raw=raw_accuracy,
             sample_accuracy_prepared=prepared_accuracy)
print(f"sample drawings right: {raw_accuracy:.0%} as drawn, {prepared_accuracy:.0%} prepared like MNIST")

# %% [markdown] i18n="draw"
# ## Draw a digit
#
# The post drew on an HTML `<canvas>` and pushed the pixels into the kernel with
# `IPython.notebook.kernel.execute(...)`, a function of the classic notebook that JupyterLab 4
# and Notebook 7 no longer have. Here the canvas is a widget (`tfbook.canvas.DigitCanvas`, an
# [anywidget](https://anywidget.dev)): the browser records your strokes and syncs them to the
# kernel, and `canvas.pixels()` renders them into a 28x28 image. `canvas.on_change(callback)`
# calls back while you draw, which gives a live prediction.
#
# Draw a digit below (press the mouse button and drag), about as big as the box; **Clear**
# starts again.

# %% tags=["extra"]
canvas = DigitCanvas()
live = ipywidgets.HTML("draw a digit")
live.add_class("tfbook-live")


def top_k(probs, k=3):
    order = np.argsort(-probs)[:k]
    return [(int(d), float(probs[d])) for d in order]


def show_live(pixels):
    try:
        probs = predict_probabilities(params, prepare(pixels)[None]).numpy()[0]
    except ValueError:  # an empty canvas: prepare refuses it
        live.value = "draw a digit"
        return
    except NotImplementedError:
        live.value = "finish exercises 4.2 and 4.3 first"
        return
    (best, p), *others = top_k(probs)
    live.value = (f"<b style='font-size: 150%'>prediction: {best}</b> ({p:.0%})<br>"
                  + ", then ".join(f"{d} ({q:.0%})" for d, q in others))


canvas.on_change(show_live)
display(ipywidgets.HBox([canvas, live]))

# %% [markdown] i18n="take-drawing"
# Then run the next cell: it takes your drawing from the canvas. If the canvas is empty (for
# example when the notebook runs unattended, or when it is graded), it takes the sample
# drawing the network is least sure about instead, so that everything below still runs and
# has more than one probability to show. Re-run it after each new drawing.

# %% tags=["train"]
if canvas.strokes:
    drawing, drawn_by = canvas.pixels(), "the canvas"
else:  # the sample whose most likely digit gets the lowest probability
    least_sure = int(predict_probabilities(params, prepared).numpy().max(axis=1).argmin())
    sample = samples[least_sure]
    drawing, drawn_by = sample.pixels(), f"the sample drawing {sample.name}, the one the network is least sure about"
x_drawing = prepare(drawing)
probs = predict_probabilities(params, x_drawing[None]).numpy()[0]
print(f"from {drawn_by}: predicted={int(probs.argmax())} p={probs.max():.3f}")

# %% [markdown] i18n="probabilities"
# ## The ten probabilities
#
# The softmax gives a probability for each digit, and they add up to 1. The post showed them
# as a bar chart: digits 0 to 9 along x, probability from 0 to 1 along y. Fixing the y axis
# at 0-1 matters: with automatic limits a bar of 0.3 and a bar of 0.99 can look equally tall.
#
# ### Exercise 4.4: plot_probabilities
#
# Write `plot_probabilities(probs)`: a bar chart of the 10 probabilities in `probs` (a vector
# of 10 numbers) with one bar per digit at x = 0, ..., 9, x ticks labelled 0 to 9, the y axis
# from 0 to 1, and a title or axis labels. Return the matplotlib `Figure` (`plt.subplots()`
# gives you one) and do not call `plt.show()` inside: the cell below shows it.

# %% tags=["exercise"]
def plot_probabilities(probs):
    ### BEGIN SOLUTION
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.bar(range(10), np.asarray(probs), color="tab:blue")
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set(xlabel="digit", ylabel="probability", title="What the network thinks")
    return fig
    ### END SOLUTION


# %% tags=["support"]
# extra code: what the check reads from your figure (a figure is not a number, so the grader asks for these)
def figure_numbers(probs):
    fig = plot_probabilities(np.asarray(probs))
    if not isinstance(fig, Figure):
        raise TypeError(f"plot_probabilities must return a matplotlib Figure, not {type(fig).__name__}")
    fig.canvas.draw()
    ax = fig.axes[0]
    bars = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    numbers = {"heights": np.array([b.get_height() for b in bars]),
               "centres": np.array([b.get_x() + b.get_width() / 2 for b in bars]),
               "ylim": np.array(ax.get_ylim()), "xticks": np.array(ax.get_xticks()),
               "xticklabels": " ".join(t.get_text() for t in ax.get_xticklabels())}
    plt.close(fig)
    return numbers


# %% tags=["feedback"]
check("plot_probabilities")

# %% tags=["train"]
fig = plot_probabilities(probs)
plt.show()
for digit, p in top_k(probs):
    print(f"{digit}: {p:.1%}")

# %% [markdown] i18n="first-layer"
# ## Bonus: inside the first layer
#
# The post's bonus: look at what the first convolutional layer makes of the drawing. Each of
# its 32 filters is a 5x5 pattern of weights; sliding it over the 28x28 image gives one 28x28
# *feature map*, bright where the image looks like the filter. Then the bias is added and
# ReLU keeps only the positive part, so each map after ReLU shows where its pattern is
# present. (Pooling comes after that and halves the maps to 14x14; here we want them at full
# size.)
#
# ### Exercise 4.5: feature_maps
#
# Write `first_layer_maps(params, image)` for one (28, 28) image: return a dict with `"conv"`,
# the output of layer 1's convolution *before* the bias, and `"relu"`, the same after adding
# `b_conv1` and applying ReLU. Both have shape (1, 28, 28, 32). Use `tf.nn.conv2d` with the
# network's stride and padding.

# %% tags=["exercise"]
def first_layer_maps(params, image):
    ### BEGIN SOLUTION
    x = tf.reshape(tf.cast(image, tf.float32), [1, 28, 28, 1])
    conv = tf.nn.conv2d(x, params["W_conv1"], strides=1, padding="SAME")
    return {"conv": conv, "relu": tf.nn.relu(conv + params["b_conv1"])}
    ### END SOLUTION


# %% tags=["feedback"]
check("feature_maps")

# %% tags=["train"]
maps = first_layer_maps(params, x_drawing)
print({name: tuple(m.shape) for name, m in maps.items()})


# %% [markdown] i18n="maps-scale"
# All 32 maps below share one colour scale, so a map that looks faint really responds less
# than a bright one. The convolution alone is drawn on a diverging scale centred on zero
# (red positive, blue negative, white zero); after ReLU nothing is negative, so black is
# zero and white the strongest response of any map.

# %% tags=["train"]
# extra code: a grid of 32 images on one colour scale, with a colour bar
def show_grid(images, title, path=None, cmap="gray", symmetric=False, label="value"):
    images = np.asarray(images)
    top = float(np.abs(images).max()) or 1.0
    limits = dict(vmin=-top, vmax=top) if symmetric else dict(vmin=0.0, vmax=top)
    fig, axes = plt.subplots(4, 8, figsize=(8.8, 4.4))
    for ax, image in zip(axes.flat, images):
        shown = ax.imshow(image, cmap=cmap, **limits)
        ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.8, label=label)
    fig.suptitle(title)
    if path:
        fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.show()


show_grid(np.moveaxis(maps["conv"].numpy()[0], -1, 0), "Layer 1, 32 feature maps: the convolution alone",
          cmap="RdBu_r", symmetric=True, label="response")
show_grid(np.moveaxis(maps["relu"].numpy()[0], -1, 0), "After + bias and ReLU (one scale for all maps)",
          tfbook.run_dir("04") / "feature_maps.png", label="response after ReLU")

# %% [markdown] i18n="filters"
# Each map is the drawing seen through one filter. Here are the 32 learned filters themselves,
# on the same kind of diverging scale: white is a weight of zero, red positive, blue
# negative, and the colour bar says how large. Many look like small edge or stroke detectors
# at different angles: a map lights up where the drawing has an edge of that orientation,
# and ReLU keeps only those places.

# %% tags=["train"]
filters = params["W_conv1"].numpy()[:, :, 0, :]   # (5, 5, 32)
show_grid(np.moveaxis(filters, -1, 0), "The 32 learned 5x5 filters of layer 1", cmap="RdBu_r",
          symmetric=True, label="weight")

# %% [markdown] i18n="input-size"
# ## Why the drawing must be 28x28
#
# Nothing in layers 1 and 2 depends on the size of the picture: a filter slides over any
# image, and pooling halves any size (rounding up). A 30x30 image, for example, would give
# 30x30 maps in layer 1, 15x15 after pooling, and 8x8 after the second pooling. The fully
# connected layer is different: `W_fc1` has one row per number of the flattened block, so
# it fixes the size of the block, and through it the size of the input.
#
# ### Exercise 4.6: bigger_canvas
#
# Before running the cell after the check, predict: if the canvas produced 56x56 drawings
# (and the convolution and pooling layers stayed as they are), how many numbers would the
# flattened block after layer 2's pooling hold per image? Set `FLAT_SIZE_56` to it.

# %% tags=["exercise"]
### BEGIN SOLUTION
FLAT_SIZE_56 = (56 // 2 // 2) * (56 // 2 // 2) * 64
### END SOLUTION

# %% tags=["feedback"]
check("bigger_canvas")

# %% tags=["train"]
big = tf.zeros([1, 56, 56, 1])
h_pool2 = max_pool_2x2(conv_layer(max_pool_2x2(conv_layer(big, params["W_conv1"], params["b_conv1"])),
                                  params["W_conv2"], params["b_conv2"]))
flat_size = int(np.prod(h_pool2.shape[1:]))
print(f"56x56 input -> h_pool2 {tuple(h_pool2.shape)} -> {flat_size:,} numbers per image; "
      f"W_fc1 expects {params['W_fc1'].shape[0]:,}")

# %% [markdown] i18n="summary"
# ## Summary
#
# * A checkpoint stores variables' values under names; `tf.train.Checkpoint(**params).read(prefix)`
#   puts them back into variables of the same names, and `.assert_existing_objects_matched()`
#   proves that every variable was matched.
# * Always measure a restored model before using it: the same test accuracy as when it was
#   saved says the restore worked; a confusion matrix and the confident mistakes say where it fails.
# * Predict with `keep_prob` 1.0: dropout is a training device, and at prediction it would
#   make answers random and weaker.
# * A drawing needs MNIST's normalisation (crop, scale to 20 pixels, centre of mass in the
#   middle) before the network can read it reliably.
# * Layer 1's feature maps are the image filtered by 32 learned 5x5 patterns, before and
#   after bias + ReLU; compare maps on one shared scale, and weights on a scale centred on zero.
# * The convolutional layers work for any image size; the fully connected layer's weights fix
#   the input at 28x28.
#
# As the post concluded, recognising real images takes much more than this: larger networks,
# more careful pre- and post-processing, and more machines. Check everything at once:

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## Exercises
#
# 1. Change `prepare` to return the drawing unchanged and draw a small digit in a corner.
#    What happens to the prediction and its confidence?
# 2. Call `forward(x_drawing, params, keep_prob=0.5)` ten times and plot the spread of the
#    predicted probability for the top digit. How often does the answer change?
# 3. Rename `W_fc2` in `new_params` and run the restore cell. What does the error say, and
#    what would happen with `.expect_partial()` instead of `.assert_existing_objects_matched()`?
# 4. Show the 64 feature maps of layer 2 for your drawing (14x14 each). Are they easier or
#    harder to interpret than layer 1's?
