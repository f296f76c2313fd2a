# %% [markdown] i18n="overview"
# # 직접 그린 숫자 예측하기
#
# ## 개요
#
# 3장에서는 MNIST로 합성곱 신경망을 훈련하고 그 변수를 저장했습니다.
# 이 장은 2017년 글 "딥러닝을 이용한 숫자 이미지 인식 #2/2"를 옮긴 것입니다.
# 같은 신경망을 새 노트북에서 다시 만들고 훈련된 값을 복원한 다음, 바로 이 노트북 안에서 마우스로 그린 숫자를 보여 주며 무슨 숫자인지 물어봅니다.
# 그다음에는 신경망 안을 들여다봅니다. 여러분이 그린 그림으로 첫 번째 층이 만든 특성 맵 32개와, 그 맵을 만들어 낸 필터 32개를 봅니다.
#
# 이 장에서 배울 내용은 다음과 같습니다.
#
# * 체크포인트에 무엇이 저장되는지, 그리고 `tf.train.Checkpoint`가 저장된 값을 새 프로그램의 변수에 이름으로 짝지어 주는 방법
# * 복원한 모델을 테스트 이미지 10,000개로 측정하고, 혼동 행렬을 읽고, 모델이 가장 자신 있게 틀린 예를 살펴보는 방법
# * 그린 그림을 MNIST 숫자와 같은 방식(잘라내기, 크기 조정, 가운데 맞추기)으로 정규화해야 하는 이유와, 그렇게 해서 얼마나 나아지는지
# * 예측할 때 `keep_prob`을 1.0으로 하는 이유와, 열 개의 확률을 읽는 방법
# * 첫 번째 합성곱 층이 이미지 한 장에 대해 계산하는 것(편향 + ReLU 전과 후), 그리고 완전 연결 층 때문에 신경망이 28x28 이미지에 묶이는 이유
#
# **연습 문제 진행 방식.** 여섯 개의 연습 문제(4.1~4.6)는 각각 함수나 값 하나를 채우는 문제입니다.
# 채울 곳에는 `raise NotImplementedError` 또는 `...`가 있습니다.
# 연습 문제마다 아래에 있는 `check("...")` 셀을 실행하면 바로 결과를 볼 수 있습니다.
# 점수로 인정되는 채점은 터미널에서 합니다. `python -m checks 04`는 이 노트북을 새 커널에서 실행하고, 스스로 고른 입력으로 여러분의 함수를 호출합니다.
# `tfbook hint 04 NAME`은 연습 문제의 힌트를 다시 보여 줍니다.
#
# **시작하기 전에** 3장에서 훈련한 체크포인트가 `runs/ch03/checkpoint/`에 있어야 합니다.
# 3장을 끝까지 실행하거나, 터미널에서 `python -m checks 03`을 실행하세요(3장을 채점하면 여러분의 노트북이 훈련한 체크포인트가 그대로 남습니다).
# `make book`은 참고용으로 실행한 결과를 `build/runs/`에 따로 보관합니다.

# %% [markdown] i18n="setup"
# ## 설정

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
# ## 3장의 모델
#
# 체크포인트에는 코드가 아니라 숫자만 들어 있습니다. 그래서 훈련된 신경망을 쓰려면 순전파 코드가 다시 필요합니다.
# 아래 셀은 3장의 모델을 그대로 가져온 것이고(같은 저수준 연산, 같은 변수 이름), 여기에 `new_params`를 더했습니다.
# `new_params`는 여덟 개의 변수를 올바른 모양으로 만들고, 체크포인트가 덮어쓸 때까지 자리만 채우는 값(0)을 넣어 둡니다.

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
# ## 체크포인트에 저장되는 것
#
# 3장에서는 `tf.train.Checkpoint(**params).write(prefix)`를 호출했습니다.
# 그러면 파일 두 개가 나란히 만들어집니다. 작은 목차인 `cnn.index`와, 실제 값이 담긴 `cnn.data-00000-of-00001`입니다.
# 두 파일을 함께 가리키는 이름이 *접두사*(`.../checkpoint/cnn`)입니다.
# 각 변수는 *체크포인트 안에서의 이름*, 즉 `params` 딕셔너리의 키로 만든 키 아래에 저장됩니다. 예를 들면 `W_conv1/.ATTRIBUTES/VARIABLE_VALUE`입니다.
# `_CHECKPOINTABLE_OBJECT_GRAPH`에는 이 객체들이 서로 어떻게 이어져 있는지가 기록됩니다.
# 코드도, 층의 순서도, 여러분이 *의도한* 모양도 이 안에는 없습니다. 이름과 모양과 숫자뿐입니다.
#
# 원래 글은 텐서플로 1의 `tf.train.Saver`를 썼습니다.
# `Saver`는 값을 *그래프* 안의 이름(`Variable_3:0`)으로 변수에 짝지었기 때문에, 그래프를 다른 순서로 만들면 값이 소리 없이 뒤바뀔 수 있었습니다.
# `tf.train.Checkpoint`는 여러분이 정한 이름으로 짝짓기 때문에 훨씬 튼튼합니다.
#
# | 텐서플로 1 (원래 글) | 텐서플로 2 (이 장) |
# |---|---|
# | 그래프를 다시 만든 뒤 `saver = tf.train.Saver()` | 같은 이름과 모양으로 새로 만든 변수(`new_params`) |
# | `saver.restore(sess, path)` | 그 변수들로 만든 `tf.train.Checkpoint`를 접두사에서 읽기(연습 문제 4.1) |
# | `sess.run(y_conv, feed_dict={x: img, keep_prob: 1.0})` | `forward`를 평범한 함수로 호출한 뒤 소프트맥스(연습 문제 4.2) |
# | 특성 맵을 얻는 `sess.run(h_conv1, feed_dict=...)` | 층의 연산을 직접 호출: 텐서가 곧 평범한 값 |
# | 캔버스의 자바스크립트에서 부르는 `IPython.notebook.kernel.execute(...)` | 그린 획을 커널로 동기화하는 anywidget(`DigitCanvas`) |

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
# 복원하는 방법은 이렇습니다. 같은 이름으로 변수를 만들고, 저장할 때와 같은 방식으로 `tf.train.Checkpoint`에 담은 다음(3장의 예인 `tf.train.Checkpoint(step=counter, w=weights)`라면 `step`과 `w`에 해당하는 변수가 다시 있어야 합니다), `.read(prefix)`를 호출합니다.
# 그러면 체크포인트에 같은 이름이 있는 변수는, 모양만 맞으면 저장된 값을 받습니다.
# `.read()`는 짝이 제대로 맞았는지 확인할 수 있는 *상태* 객체를 반환합니다.
# `.assert_existing_objects_matched()`는 체크포인트에서 짝을 찾지 못한 변수가 하나라도 있으면 예외를 일으킵니다.
# `.assert_consumed()`는 더 엄격해서, 아무도 요청하지 않은 값이 체크포인트에 남아 있어도 예외를 일으킵니다(`write()` 대신 `save()`로 쓴 체크포인트에는 `save_counter`라는 값이 하나 더 있습니다).
# 이런 확인이 없으면 이름에 오타가 하나만 있어도 그 변수는 초깃값 0으로 남고, 신경망은 아무 경고 없이 엉터리 예측을 내놓습니다.
# (`.expect_partial()`은 그 반대입니다. 체크포인트의 일부만 쓰고 싶을 때, 쓰지 않은 값에 대한 경고를 끕니다.)
#
# ### 연습 문제 4.1: restore_checkpoint
#
# `restore_params(prefix)`를 작성하세요.
# `prefix`(문자열)에 있는 체크포인트에서 모델의 변수 여덟 개를 복원하고, 모든 변수가 짝을 찾았는지 확인한 다음, `new_params`가 만드는 것과 같은 딕셔너리로 반환합니다.
# 직접 정한 경로가 아니라 주어진 `prefix`를 쓰세요. 검사 코드는 자신이 직접 저장한 체크포인트를 여러분의 함수에 넘깁니다.

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
# 체크포인트와 모델이 서로 맞지 않으면(크기가 다른 층, 이름이 바뀐 변수) 복원은 실패합니다.
# 아래 헬퍼 함수는 텐서플로의 오류 메시지를 서로 다른 변수의 목록으로 바꿔 주므로, 무엇을 고쳐야 하는지 바로 알 수 있습니다.

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
# ## 예측: 드롭아웃 끄기
#
# 훈련하는 동안 드롭아웃은 매 스텝마다 완전 연결 층의 절반을 무작위로 꺼서(`keep_prob` 0.5) 신경망이 어느 한 유닛에 기대지 못하게 했습니다.
# 예측할 때는 이 무작위성이 해롭기만 합니다. 같은 그림이라도 호출할 때마다 답이 달라지고, 그 답은 신경망의 절반만으로 낸 것이 됩니다.
# 그래서 원래 글도 예측할 때 `keep_prob: 1.0`을 넣었습니다.
# 드롭아웃을 끈 전체 신경망의 출력이 알맞은 크기가 되는 것은, 훈련 중에 드롭아웃이 살아남은 값을 `keep_prob`으로 나누어 두었기 때문입니다.
#
# ### 연습 문제 4.2: predict
#
# `predict_probabilities(params, images)`를 작성하세요.
# 이미지 배치(784픽셀짜리 행, 또는 (N, 28, 28) 이미지)에 대해 신경망이 내놓는 `(N, 10)` 확률을 반환하며, 몇 번을 호출해도 같은 답이 나와야 합니다.

# %% tags=["exercise"]
def predict_probabilities(params, images):
    ### BEGIN SOLUTION
    logits = forward(images, params, keep_prob=1.0)["logits"]
    return tf.nn.softmax(logits)
    ### END SOLUTION


# %% tags=["feedback"]
check("predict")

# %% [markdown] i18n="test-accuracy"
# ## 복원한 모델은 얼마나 정확할까요?
#
# 그림을 맡기기 전에 테스트 이미지 10,000개로 측정해 봅니다. 메모리를 아끼려고 몇 덩어리로 나누어 계산합니다.
# 정확도는 3장에서 측정한 값과 정확히 같아야 합니다. 다르다면 복원이 잘못된 것입니다.
# 이 값은 `runs/ch04/metrics.json`에 기록됩니다(채점기는 같은 체크포인트를 직접 측정해서 이 값과 비교합니다).

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
# 혼동 행렬은 실제 숫자(행)마다 신경망이 어떤 숫자라고 답했는지(열)를 셉니다.
# 대각선에는 맞힌 답이 있고, 나머지 칸은 모두 어떤 종류의 실수입니다.
# 그래서 대각선 밖의 밝은 칸을 보면 신경망이 어떤 숫자끼리 헷갈리는지 알 수 있습니다.

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
# 신경망이 *가장 확신하면서* 틀린 예가 흥미롭습니다.
# 레이블 자체가 애매하거나, 훈련 세트에서 보기 드문 필체로 쓴 숫자인 경우가 많습니다.

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
# ## 그린 그림은 MNIST 숫자가 아닙니다
#
# MNIST의 숫자는 누군가 훈련에 쓰기 전에 이미 정규화되어 있었습니다.
# 숫자마다 잉크가 있는 부분만 남도록 잘라내고, 긴 변이 20픽셀이 되도록 비율을 유지한 채 크기를 조정한 다음, *무게 중심*이 한가운데 오도록 28x28 틀 안에 놓은 것입니다.
# 합성곱 신경망은 본 적 없는 위치와 크기의 변화를 조금밖에 견디지 못합니다. 그래서 캔버스 구석에 작게 그린 숫자는 훈련 데이터와 전혀 닮지 않은 입력이 됩니다.
# 다음은 이 책에 들어 있는 샘플 그림 몇 개를(아래에서 여러분이 쓸 것과 같은 캔버스로 그렸습니다) 캔버스에서 나온 그대로 보여 줍니다.

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
# 위의 숫자들을 MNIST의 방식대로 읽어 봅시다.
# 이 7의 잉크는 위에 출력된 행과 열의 범위 안에 있습니다. *잘라내기*는 그 상자만 남기는 일입니다.
# 그다음 긴 변이 20픽셀이 되어야 하므로, 10x8 픽셀짜리 상자라면 2배로 *크기를 조정*해 20x16으로 만듭니다(비율은 유지합니다. `tf.image.resize` 같은 함수가 이 일을 해 줍니다).
# 마지막으로 크기를 조정한 숫자를 검은 28x28 틀에 붙이되, *무게 중심*이 (14, 14) 픽셀에 오게 합니다.
# 크기를 조정한 숫자 자체의 무게 중심이 (9.6, 7.2)라면, 왼쪽 위 모서리는 14 - 9.6 = 4.4를 반올림한 4행, 14 - 7.2 = 6.8을 반올림한 7열에 놓입니다.
# 한쪽이 무거운 숫자(7은 위쪽이 무겁습니다)는 무게 중심으로 가운데를 맞추면 가운데 20x20 영역 밖으로 삐져나올 수 있습니다. 그럴 때는 영역 안에 들어올 때까지 조금씩 줄이면 획이 하나도 잘리지 않습니다.
#
# ### 연습 문제 4.3: prepare
#
# `prepare(img28)`을 작성하세요.
# 위의 세 단계로, 그린 그대로의 (28, 28) 그림(검은 바탕에 흰 잉크, 값은 [0, 1])을 신경망의 입력, 즉 MNIST 숫자처럼 정규화된 (28, 28) float32 이미지로 바꿉니다.
# 잉크가 하나도 없는 그림에는 `ValueError`를 일으키세요(아래의 실시간 예측이 이 동작에 기댑니다).
# 검사 코드는 가운데에서 벗어난 숫자, 작은 숫자, 큰 숫자를 직접 그려 보고, 여러분의 결과가 숫자를 어디에 놓는지 측정합니다.

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
# 전처리로 얼마나 나아질까요? 샘플 그림 전부를 그린 그대로 한 번, 전처리를 거쳐 한 번 신경망에 물어봅시다.

# %% tags=["train"]
raw_accuracy = float(np.mean(predict_probabilities(params, raw).numpy().argmax(axis=1) == labels))
prepared_accuracy = float(np.mean(predict_probabilities(params, prepared).numpy().argmax(axis=1) == labels))
save_metrics(sample_drawings=len(samples), sample_accuracy_raw=raw_accuracy,
             sample_accuracy_prepared=prepared_accuracy)
print(f"sample drawings right: {raw_accuracy:.0%} as drawn, {prepared_accuracy:.0%} prepared like MNIST")

# %% [markdown] i18n="draw"
# ## 숫자 그리기
#
# 원래 글은 HTML `<canvas>`에 그림을 그리고, `IPython.notebook.kernel.execute(...)`로 픽셀을 커널에 밀어 넣었습니다.
# 이 함수는 예전 클래식 노트북에만 있는 기능이라 JupyterLab 4와 Notebook 7에는 없습니다.
# 여기서는 캔버스가 위젯입니다(`tfbook.canvas.DigitCanvas`, [anywidget](https://anywidget.dev)).
# 브라우저가 그린 획을 기록해 커널로 동기화하고, `canvas.pixels()`가 그 획을 28x28 이미지로 그려 냅니다.
# `canvas.on_change(callback)`은 그리는 동안 콜백을 호출하므로, 그리면서 실시간으로 예측을 볼 수 있습니다.
#
# 아래에 숫자를 그려 보세요(마우스 버튼을 누른 채로 끌면 됩니다). 상자와 비슷한 크기로 그리세요. **Clear**를 누르면 처음부터 다시 그립니다.

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
# 그다음 아래 셀을 실행하세요. 캔버스에서 여러분의 그림을 가져옵니다.
# 캔버스가 비어 있으면(예를 들어 노트북을 사람 없이 실행하거나 채점할 때) 대신 신경망이 가장 확신하지 못하는 샘플 그림을 가져옵니다.
# 그래서 아래의 셀이 모두 그대로 실행되고, 보여 줄 확률도 하나보다 많아집니다.
# 새로 그릴 때마다 이 셀을 다시 실행하세요.

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
# ## 열 개의 확률
#
# 소프트맥스는 숫자마다 확률을 하나씩 주고, 그 합은 1입니다.
# 원래 글은 이 확률을 막대그래프로 보여 주었습니다. x축에는 숫자 0~9를, y축에는 0에서 1까지의 확률을 놓습니다.
# y축을 0~1로 고정하는 것이 중요합니다. 범위를 자동으로 정하게 두면 0.3짜리 막대와 0.99짜리 막대가 똑같이 높아 보일 수 있습니다.
#
# ### 연습 문제 4.4: plot_probabilities
#
# `plot_probabilities(probs)`를 작성하세요.
# `probs`(숫자 10개로 된 벡터)에 담긴 확률 10개를 막대그래프로 그립니다. 숫자마다 막대 하나를 x = 0, ..., 9 위치에 놓고, x축 눈금에는 0부터 9까지 레이블을 붙이고, y축 범위는 0에서 1로 하고, 제목이나 축 레이블을 답니다.
# matplotlib `Figure`를 반환하고(`plt.subplots()`로 얻을 수 있습니다), 함수 안에서 `plt.show()`를 호출하지 마세요. 그림은 아래 셀이 보여 줍니다.

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
# ## 보너스: 첫 번째 층의 안쪽
#
# 원래 글의 보너스입니다. 첫 번째 합성곱 층이 그림을 어떻게 받아들이는지 살펴봅니다.
# 이 층의 필터 32개는 각각 5x5 크기의 가중치 패턴입니다.
# 필터를 28x28 이미지 위에서 한 칸씩 옮겨 가며 적용하면 28x28 *특성 맵*이 하나 나오는데, 이미지가 필터와 닮은 곳일수록 밝습니다.
# 그다음 편향을 더하고 ReLU가 양수 부분만 남기므로, ReLU를 거친 맵은 저마다의 패턴이 나타나는 곳을 보여 줍니다.
# (그 뒤의 풀링은 맵을 절반인 14x14로 줄입니다. 여기서는 원래 크기의 맵을 보려고 합니다.)
#
# ### 연습 문제 4.5: feature_maps
#
# (28, 28) 이미지 한 장에 대한 `first_layer_maps(params, image)`를 작성하세요.
# 두 값이 든 딕셔너리를 반환합니다. `"conv"`는 1층 합성곱의 출력으로 편향을 더하기 *전*의 값이고, `"relu"`는 같은 값에 `b_conv1`을 더하고 ReLU를 적용한 값입니다.
# 둘 다 모양이 (1, 28, 28, 32)입니다. 신경망과 같은 스트라이드와 패딩으로 `tf.nn.conv2d`를 쓰세요.

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
# 아래의 맵 32개는 모두 하나의 색 척도를 씁니다. 그래서 흐리게 보이는 맵은 밝은 맵보다 실제로 약하게 반응한 것입니다.
# 합성곱만 거친 결과는 0을 가운데에 둔 발산형 척도로 그립니다(빨강은 양수, 파랑은 음수, 흰색은 0).
# ReLU를 거친 뒤에는 음수가 없으므로 검정이 0이고, 흰색은 모든 맵을 통틀어 가장 강한 반응입니다.

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
# 각 맵은 필터 하나를 통해 본 그림입니다. 이번에는 학습된 필터 32개 자체를 같은 종류의 발산형 척도로 보여 줍니다.
# 흰색은 가중치 0, 빨강은 양수, 파랑은 음수이고, 색 막대가 그 크기를 알려 줍니다.
# 상당수가 여러 각도의 작은 모서리 검출기나 획 검출기처럼 보입니다. 그림에 그 방향의 모서리가 있는 곳에서 맵이 밝아지고, ReLU는 그런 곳만 남깁니다.

# %% tags=["train"]
filters = params["W_conv1"].numpy()[:, :, 0, :]   # (5, 5, 32)
show_grid(np.moveaxis(filters, -1, 0), "The 32 learned 5x5 filters of layer 1", cmap="RdBu_r",
          symmetric=True, label="weight")

# %% [markdown] i18n="input-size"
# ## 그림이 28x28이어야 하는 이유
#
# 1층과 2층에는 그림 크기에 따라 달라지는 것이 없습니다. 필터는 어떤 크기의 이미지 위에서도 옮겨 가며 적용할 수 있고, 풀링은 어떤 크기든 절반으로 줄입니다(나머지는 올림).
# 예를 들어 30x30 이미지는 1층에서 30x30 맵이 되고, 풀링을 거쳐 15x15, 두 번째 풀링 뒤에는 8x8이 됩니다.
# 완전 연결 층은 다릅니다. `W_fc1`은 펼친 블록의 숫자 하나마다 행이 하나씩 있으므로 블록의 크기를 고정하고, 그럼으로써 입력의 크기까지 고정합니다.
#
# ### 연습 문제 4.6: bigger_canvas
#
# 검사 셀 다음에 있는 셀을 실행하기 전에 먼저 예측해 보세요.
# 캔버스가 56x56 그림을 만든다면(합성곱 층과 풀링 층은 그대로일 때), 2층의 풀링 뒤에 펼친 블록에는 이미지 한 장당 숫자가 몇 개 들어 있을까요?
# 그 값을 `FLAT_SIZE_56`에 넣으세요.

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
# ## 요약
#
# * 체크포인트는 변수의 값을 이름별로 저장합니다. `tf.train.Checkpoint(**params).read(prefix)`는 그 값을 같은 이름의 변수에 되돌려 넣고,
#   `.assert_existing_objects_matched()`는 모든 변수가 짝을 찾았음을 보장합니다.
# * 복원한 모델은 쓰기 전에 반드시 측정하세요. 저장할 때와 같은 테스트 정확도가 나오면 복원이 제대로 된 것이고,
#   혼동 행렬과 자신 있게 틀린 예는 모델이 어디서 틀리는지 알려 줍니다.
# * 예측에는 `keep_prob` 1.0을 쓰세요. 드롭아웃은 훈련을 위한 장치이고, 예측할 때 켜 두면 답이 무작위가 되고 더 약해집니다.
# * 그린 그림은 MNIST와 같은 정규화(잘라내기, 20픽셀로 크기 조정, 무게 중심을 한가운데로)를 거쳐야 신경망이 안정적으로 읽을 수 있습니다.
# * 1층의 특성 맵은 학습된 5x5 패턴 32개로 이미지를 걸러 낸 결과이며, 편향 + ReLU 전과 후로 나누어 볼 수 있습니다.
#   맵은 하나의 공통 척도로, 가중치는 0을 가운데에 둔 척도로 비교하세요.
# * 합성곱 층은 어떤 크기의 이미지에도 동작하지만, 완전 연결 층의 가중치가 입력을 28x28로 고정합니다.
#
# 원래 글의 결론처럼, 실제 이미지를 인식하려면 이보다 훨씬 많은 것이 필요합니다. 더 큰 신경망, 더 세심한 전처리와 후처리, 그리고 더 많은 컴퓨터입니다.
# 이제 모든 것을 한 번에 검사해 봅시다.

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## 연습 문제
#
# 1. `prepare`가 그림을 바꾸지 않고 그대로 반환하게 고친 다음, 구석에 작은 숫자를 그려 보세요.
#    예측과 그 확신의 정도는 어떻게 달라지나요?
# 2. `forward(x_drawing, params, keep_prob=0.5)`를 열 번 호출하고, 가장 높은 숫자의 예측 확률이 얼마나 흩어지는지 그래프로 그려 보세요.
#    답은 얼마나 자주 바뀌나요?
# 3. `new_params`에서 `W_fc2`의 이름을 바꾸고 복원 셀을 실행해 보세요. 오류 메시지는 무엇이라고 하나요?
#    `.assert_existing_objects_matched()` 대신 `.expect_partial()`을 쓰면 어떻게 될까요?
# 4. 여러분이 그린 그림에 대한 2층의 특성 맵 64개(각 14x14)를 보여 주세요. 1층의 맵보다 해석하기 쉬운가요, 어려운가요?
