# %% [markdown] i18n="overview"
# # 텐서보드로 훈련 과정 지켜보기
#
# ## 개요
#
# 몇백 스텝마다 `step 1200: loss 0.31`을 출력하는 훈련 루프는 모델이 지금 *어디에* 있는지는 알려 주지만, 어떻게 거기까지 왔는지는 알려 주지 않습니다.
# 손실은 아직 줄어들고 있었을까요, 아니면 이미 평평해졌을까요? 두 번째 실행은 첫 번째보다 더 빨리 학습한 걸까요, 아니면 그저 더 낮은 곳에서 끝났을 뿐일까요? 어느 한 층의 가중치가 더는 움직이지 않게 되지는 않았을까요?
# 콘솔에 늘어선 숫자로는 이런 질문에 한눈에 답할 수 없지만, 곡선으로는 답할 수 있습니다.
# 2016년 글 "텐서보드를 이용하여 학습 과정을 시각화 해보자"는 텐서플로가 훈련하는 동안 이 숫자들을 디스크에 기록하게 하고, 텐서보드가 그것을 그리게 하는 방법을 보여 주었습니다.
# 이 장은 같은 일을 텐서플로 2로 합니다.
#
# 이 장에서 배울 내용은 다음과 같습니다.
#
# * `tf.summary`로 *요약*(summary)을 기록하는 방법. 손실과 정확도 같은 스칼라와 모든 가중치와 편향의 히스토그램을 각각 명시한 훈련 스텝에 기록합니다.
# * 원래 글의 텐서플로 1 방식(`merge_all`, `sess.graph`를 받은 `FileWriter`, 100스텝마다 기록하는 요약 문자열)이 모델 그래프까지 포함해 오늘날의 API에 어떻게 대응하는지
# * 여러 번의 훈련을 텐서보드가 겹쳐 그리는 이름 붙은 *실행*(run)으로 구성하는 방법, 그리고 상위 폴더 하나에 실행마다 하위 폴더를 두는 방식이 원래 글의 `--logdir=name:path,...`보다 나은 이유
# * 노트북과 터미널에서 텐서보드를 시작하는 방법
# * 이벤트 파일을 파이썬에서 다시 읽어 matplotlib으로 같은 곡선을 그리는 방법
# * 가중치와 활성화 히스토그램이 정말로 중요해지는 때: 잘못 초기화된 신경망의 히스토그램은 손실 곡선이 무엇 하나 설명해 주기 훨씬 전에 무엇이 잘못되었는지 보여 줍니다.
#
# **연습 문제 진행 방식.** 일곱 개의 연습 문제(1.1~1.7)는 각각 함수나 값 하나를 채우는 문제입니다.
# 채울 곳에는 `raise NotImplementedError` 또는 `...`가 있습니다.
# 연습 문제마다 아래에 있는 `check("...")` 셀을 실행하면 바로 결과를 볼 수 있습니다.
# 점수로 인정되는 채점은 터미널에서 합니다. `python -m checks 01`은 이 노트북을 새 커널에서 실행하고, 스스로 고른 인수로 여러분의 함수를 호출하며, 여러분의 훈련이 기록한 이벤트 파일을 텐서보드 자체의 리더로 읽습니다.
# `tfbook hint 01 NAME`은 연습 문제의 힌트를 다시 보여 줍니다.
#
# **프리셋.** 얼마나 오래 훈련할지는 `book.toml`에서 활성화된 프리셋이 정합니다. `quick`(기본값, 노트북 전체에 1분 정도)과 `full`(원래 글의 2,000스텝)이 있습니다.
# Jupyter를 시작하기 전에 환경 변수 `TFBOOK_PRESET`으로 하나를 고르세요.

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
# ## 텐서플로 1에서 텐서플로 2로
#
# 2016년에는 요약이 그래프 연산이었습니다.
# 모델 옆에 `tf.summary.scalar("loss", loss)`를 선언하고, 그런 연산을 `tf.summary.merge_all()`로 모두 모아 하나로 만든 다음, 100스텝마다 세션에서 그 연산을 실행해 직렬화된 요약 문자열을 얻고, 그 문자열을 스텝과 함께 `SummaryWriter`(나중에는 `FileWriter`)에 넘겼습니다.
# 모델의 그래프도 같은 파일에 들어가도록 작성기(writer)를 만들 때 `sess.graph`를 넘겼습니다.
# 텐서플로 2는 즉시 실행되므로, 요약은 그 줄이 실행될 때 그냥 기록됩니다.
#
# | 텐서플로 1 (원래 글) | 텐서플로 2 (이 장) |
# |---|---|
# | 그래프에 한 번 선언하는 `tf.summary.scalar(name, tensor)` | 점을 찍고 싶을 때 호출하는 `tf.summary.scalar(name, value, step=...)` |
# | `tf.summary.histogram(name, tensor)`(또는 `tf.histogram_summary`) | `tf.summary.histogram(name, values, step=...)` |
# | `merged = tf.summary.merge_all()` 다음에 `sess.run(merged)` | 모을 것이 없음: 호출할 때마다 바로 기록 |
# | `tf.summary.FileWriter(log_dir, sess.graph)` | `tf.summary.create_file_writer(log_dir)`, 그 `as_default` 블록 안에서 기본 작성기가 됨 |
# | 100스텝마다 `writer.add_summary(summary_str, step)` | 요약 호출을 감싸는 `if step % every == 0:`, 그리고 `step=step` |
# | 그래프는 `sess.graph`에서 얻음 | 트레이싱한 `tf.function`의 그래프를 `tf.summary.graph`로 기록 |
# | `tensorboard --logdir=name1:path1,name2:path2` | 상위 폴더 하나에 실행마다 하위 폴더 하나(또는 `--logdir_spec`) |
#
# 스텝은 모든 차트의 x축이므로 반드시 주어야 합니다. 호출마다 주거나(`step=...`), 블록에 한 번 주거나(`writer.as_default(step=...)`), 전역 기본값으로 줍니다(`tf.summary.experimental.set_step`).
# 셋 중 아무것도 없으면 `tf.summary.scalar`는 기록하기를 거부합니다.
#
# 작성기는 이벤트를 메모리에 버퍼링했다가 이따금 *이벤트 파일*에 씁니다(2분마다, 또는 이벤트 열 개짜리 대기열이 찰 때).
# 텐서보드도, 리더도, 채점기도 디스크에 도달한 것만 봅니다.
# 작성기의 `as_default` 블록을 벗어나면 작성기가 플러시되고, `flush` 메서드를 호출하면 어디서든 플러시할 수 있습니다.
# `writer.set_as_default()`로 계속 기본 작성기가 된 작성기는 이 둘 중 하나가 일어날 때까지 이벤트를 메모리에 담아 둡니다.

# %% [markdown] i18n="tutorial-network"
# ## 원래 글의 두 신경망
#
# 원래 글은 당시 텐서플로 MNIST 튜토리얼의 `loss` 스칼라를 기록합니다. 튜토리얼의 신경망은 완전 연결 신경망입니다. 784픽셀 -> ReLU 유닛 128개 -> ReLU 유닛 32개 -> 로짓 10개로 이어지고, 100개짜리 배치로 평범한 경사 하강법을 써서 2,000스텝 동안 훈련합니다.
# 튜토리얼은 각 가중치 행렬을 표준 편차가 `1/sqrt(fan_in)`인 절단 정규 분포에서 뽑았고, 편향은 0에서 시작했습니다.
# 이 책의 다른 장들처럼 층은 저수준 연산 `tf.Variable`, `tf.matmul`, `tf.nn.relu`로 작성합니다.

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
# 원래 글의 히스토그램 부분은 공개된 데모에서 두 번째 신경망을 빌려 옵니다.
# 같은 784픽셀이 ReLU 유닛 625개짜리 은닉층 두 개를 거쳐 로짓 10개가 되고, 입력에(80% 유지) 그리고 각 은닉층 뒤에(50% 유지) 드롭아웃이 있습니다.
# 가중치의 이름은 `w_h`, `w_h2`, `w_o`이고, 원래 글이 히스토그램으로 보여 주는 것이 바로 이 텐서들입니다.
# (원래 글은 은닉층이 세 개라고 하지만, 가중치 행렬이 세 개일 뿐 은닉층은 두 개입니다.)
# 원래 글 스스로도 지적하듯이 이 데모는 편향을 빠뜨렸습니다. 각 은닉층은 `relu(x @ w)`이고 출력층은 `x @ w`일 뿐입니다.
# 여기서는 모든 층에 편향 `b_h`, `b_h2`, `b_o`를 주므로, 히스토그램이 있는 텐서는 여섯 개입니다.
#
# 아래의 두 데모 실행이 바꾸는 것은 가중치가 어떻게 시작하는지 하나뿐이므로, 이것을 인수로 받습니다.

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
# ## 스칼라 기록하기
#
# 실행마다 자기 폴더가 있고, 그 안에는 실행 내내 열려 있는 작성기가 하나 있습니다.
# 같은 폴더에 작성기를 새로 만들면 그때마다 이벤트 파일이 하나씩 더 생기므로, 아래의 헬퍼 함수는 폴더마다 작성기를 하나만 두고 호출할 때마다 그 작성기를 내줍니다.

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
# ### 연습 문제 1.1: log_scalars
#
# `log_scalars(log_dir, step, loss, accuracy)`를 작성하세요.
# `log_dir`의 작성기로 스칼라 두 개를 기록합니다. 태그는 원래 글처럼 `loss`와 `accuracy`이고, 둘 다 훈련 스텝 `step`에 기록합니다.
# 함수가 반환될 때는 두 값이 모두 디스크에 있어야 합니다. 채점기는 함수를 호출한 직후 텐서보드 자체의 리더로 이벤트 파일을 읽습니다.

# %% tags=["exercise"]
def log_scalars(log_dir, step, loss, accuracy):
    raise NotImplementedError("Exercise 1.1: log_scalars")


# %% tags=["feedback"]
check("log_scalars")

# %% [markdown] i18n="writing-histograms"
# ## 히스토그램 기록하기
#
# 스칼라는 스텝마다 숫자 하나입니다. 가중치 행렬은 숫자 수천 개입니다. 히스토그램 요약은 가장 작은 값과 가장 큰 값 사이를 버킷(기본 30개)으로 나누어 그 숫자들의 분포를 저장합니다.
# 텐서보드는 스텝에 따라 쌓인 히스토그램을 두 가지 방식으로 보여 줍니다. Distributions 탭과 Histograms 탭입니다(둘을 읽는 방법은 이 장의 끝에 있습니다).
#
# ### 연습 문제 1.2: log_histograms
#
# `log_histograms(log_dir, step, params)`를 작성하세요.
# 딕셔너리 `params`에 있는 *모든* 텐서(모든 층의 가중치와 편향)에 대해 `step`에 히스토그램을 기록하고, 태그는 딕셔너리에서 그 텐서의 키(`w_h`, `b_h`, ...)로 합니다.
# 앞에서처럼 함수가 반환될 때는 모든 것이 디스크에 있어야 합니다.

# %% tags=["exercise"]
def log_histograms(log_dir, step, params):
    raise NotImplementedError("Exercise 1.2: log_histograms")


# %% tags=["feedback"]
check("log_histograms")

# %% [markdown] i18n="model-graph"
# ## 모델의 그래프
#
# 원래 글의 작성기는 `sess.graph`를 받았고, 텐서보드의 Graphs 탭은 그것으로 신경망을 그렸습니다.
# 텐서플로 2에는 세션 그래프가 없습니다. 그래프는 `tf.function`이 트레이싱된 곳에만 있습니다.
# 트레이싱에는 이미지가 아니라 입력의 모양과 타입만 있으면 됩니다. `tf.function`의 `get_concrete_function`에 `tf.TensorSpec`을 주면 함수를 트레이싱해 트레이싱된 함수를 반환하고, 그 함수의 `.graph`가 바로 `tf.summary.graph`에 넘길 수 있는 신경망의 그래프입니다.
#
# (텐서플로에는 `tf.summary.trace_on`과 `trace_export`도 있습니다. 이들은 트레이싱이 켜져 있는 동안 실행되는 모든 함수를 기록합니다.
# 함수 호출 하나보다 많은 것, 예를 들어 작성기를 만드는 일까지 감싸면 그것들도 함께 기록되어, Graphs 탭은 원하던 그래프 주위로 `graph_1`, `graph_2`, ...라는 이름의 상자로 가득 찹니다.)
#
# ### 연습 문제 1.3: log_graph
#
# `log_graph(log_dir, params)`를 작성하세요.
# 이미지 배치(이미지 수는 몇 개든 되고, 각각 784픽셀)에 대해 `params`로 `fc_forward`를 실행하는 `tf.function`을 만들어 트레이싱하고, 그 그래프를 `log_dir`의 작성기로 기록한 다음 플러시합니다. 그래프는 하나만 기록해야 합니다.

# %% tags=["exercise"]
def log_graph(log_dir, params):
    raise NotImplementedError("Exercise 1.3: log_graph")


# %% tags=["feedback"]
check("log_graph")

# %% [markdown] i18n="runs"
# ## 실행: 훈련마다 폴더 하나
#
# 원래 글은 두 번의 훈련 "1st"와 "2nd"를 같은 차트에 그려 비교했습니다.
# 텐서보드는 각 훈련을 *실행*(run)이라고 부르고, 실행을 스스로 찾아냅니다. `--logdir` 아래에서 이벤트 파일이 있는 폴더는 모두 실행이 되고, 그 이름은 `--logdir` 아래의 경로입니다.
# 그러므로 실행을 다음과 같이 구성하세요.
#
# ```
# runs/ch01/logs/        <- give this to TensorBoard
#     1st/events.out.tfevents...
#     2nd/events.out.tfevents...
# ```
#
# 원래 글은 `tensorboard --logdir=1st:path1,2nd:path2`라고 썼습니다.
# 이 문법은 이제 `--logdir`에서 쓸 수 없습니다. 오늘날의 텐서보드는 이것을 `--logdir_spec`이라고 부르고, 특별한 경우를 위한 것이라고 밝혀 둡니다.
# 일상적으로 쓰기에는 상위 폴더 방식이 더 낫습니다. 텐서보드가 실행 중일 때 새 실행이 저절로 나타나고(더 긴 명령줄로 다시 시작할 필요가 없습니다), 실행 이름은 눈으로 보고 정리할 수 있는 폴더 이름이며, 실행이 많은 폴더는 UI에서 이름으로 필터링할 수 있습니다.
# *한* 폴더에 기록한 두 실행은 두 실행이 아닙니다. 텐서보드는 두 실행의 점을 합쳐 들쭉날쭉한 선 하나로 그립니다.
#
# ### 연습 문제 1.4: run_log_dir
#
# `run_log_dir(name)`을 작성하세요.
# 이 장의 로그 폴더 `tfbook.run_dir("01", "logs")` 안에서 `name`이라는 실행의 폴더를 `str`로 반환합니다.
# 이 로그 폴더는 채점기의 `TFBOOK_RUNS`를 따르므로, 경로를 절대 직접 쓰지 마세요.

# %% tags=["exercise"]
def run_log_dir(name):
    raise NotImplementedError("Exercise 1.4: run_log_dir")


# %% tags=["feedback"]
check("run_log_dir")

# %% [markdown] i18n="training-with-summaries"
# ## 요약을 기록하며 훈련하기
#
# 아래의 훈련 함수는 여러분의 `log_scalars`와 `log_graph`를 사용합니다.
# *스텝*은 지금까지 수행한 업데이트의 수입니다. 스텝 0은 훈련되지 않은 신경망이므로, 모든 곡선의 첫 번째 점과 첫 번째 히스토그램은 훈련이 어디서 시작했는지 보여 줍니다.
# 스칼라는 `settings["scalar_every"]`스텝마다, 히스토그램은 `settings["histogram_every"]`스텝마다 기록하며, 둘 다 고정된 측정용 배치(probe batch)에서 측정합니다(드롭아웃은 끕니다).
# 데모 신경망에서는 은닉층 출력의 히스토그램인 `activations/h`와 `activations/h2`도 기록합니다. 가중치가 데이터에 무슨 일을 하는지 보여 주기 때문입니다.
#
# 이 함수의 히스토그램은 여러분의 `log_histograms`를 거치지 않습니다. 그 이유는 다음 절에서 측정합니다.
# 이 함수는 원래 글의 예제들처럼 이따금 한 줄씩 출력도 합니다. 그렇게 늘어선 숫자를 아래에 나오는 곡선과 비교해 보세요.

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
# ### 요약의 비용
#
# 요약은 공짜가 아닙니다. 그래서 루프는 매 스텝이 아니라 수십 스텝마다(`quick` 프리셋에서는 50, `full`에서는 원래 글의 100) 요약을 기록하고, 튜토리얼의 신경망은 스칼라만 기록합니다.
# 가장 비싼 것은 히스토그램입니다.
# `tf.summary.histogram`은 뺄셈과 나눗셈으로 각 값의 버킷을 찾은 다음, 0과 1로 된 (값의 수 x 30) 행렬을 만들어 열마다 더하는 방식으로 버킷을 셉니다.
# 데모 신경망은 50스텝마다 가중치와 편향 여섯 개와 두 층의 활성화(측정용 이미지 1000개 전부가 아니라 200개에 대한 것)를 기록합니다. 백만 개가 넘는 값이고, 그 대부분은 `w_h`와 `w_h2`에 있습니다.
#
# 세는 데는 행렬이 필요 없습니다. 버킷 번호를 한 번 훑으면(`tf.math.bincount`) 됩니다.
# 이 책의 `tfbook.summaries.histogram`(`tfbook/summaries.py`에 있는 짧은 함수)은 `tf.summary.histogram`과 같은 인수를 받고, 같은 산술로 같은 버킷을 계산하고, 그 한 번의 훑기로 개수를 세고, 같은 `[left edge, right edge, count]` 행을 같은 태그와 플러그인 아래에 기록합니다.
# 텐서보드는 둘을 구별하지 못합니다. 이 책의 테스트는 같은 값을 두 방식으로 기록하고, 실행 중인 텐서보드가 각각에 대해 내주는 것을 비교합니다.
# 위의 훈련 함수는 모든 히스토그램에 이 함수를 씁니다.
#
# `bench/bench_ch01.py`가 이 선택을 측정합니다.
# 두 신경망에서 요약 없이(아무것도 쓰지 않는 작성기로), 이 장의 요약으로, 그리고 이 책의 함수 대신 `tf.summary.histogram`으로 `train`의 시간을 잽니다. 셋을 차례로 번갈아 가며 여러 라운드를 반복하고, 매번 요약이 없을 때의 시간으로 나눕니다.
# 기계에서 도는 다른 프로그램은 라운드를 느리게 만들 수만 있으므로, 가장 빠른 라운드끼리 비교합니다.
# 목표는 비율 1.05 이하, 즉 요약의 비용이 훈련의 5% 이하인 것입니다.
# 이 책의 2코어 기계에서 마지막으로 실행한 결과는 다음과 같습니다.

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
# `chapter` 행은 이 노트북이 실행하는 그대로의 루프이고, `fc +histograms` 행은 여기에 튜토리얼 신경망의 가중치 히스토그램을 더한 것입니다. 튜토리얼 신경망의 실행인 `1st`와 `2nd`는 이 히스토그램을 기록하지 않습니다.
# 여러분의 `log_histograms`는 `tf.summary.histogram`을 그대로 씁니다. 다른 어느 코드베이스에서나 만날 API이고, 이따금 히스토그램 몇 개를 기록하는 정도라면 그 비용은 문제가 되지 않습니다.
# 더 빠른 기록 방법은 여기서처럼 요약이 훈련을 느리게 한다는 측정 결과가 있을 때만 꺼내 드세요.


# %% [markdown] i18n="exercise-1-5-initial-loss"
# ### 연습 문제 1.5: predict_initial_loss
#
# 실행하기 전에 예측해 보세요. 신경망이 아직 아무것도 학습하지 않은 스텝 0에서 `1st` 실행은 어떤 손실을 기록할까요?
# 가중치는 작고 편향은 0이므로, 로짓 10개는 모두 서로 비슷합니다.
# 그러면 소프트맥스가 정답 숫자에 주는 확률이 얼마일지, 그리고 크로스 엔트로피가 그 확률로 무엇을 만드는지 생각해 보세요.
# `PREDICTED_INITIAL_LOSS`에 여러분이 생각한 값을 (소수점 둘째 자리까지) 넣으세요. 실제 값은 아래의 훈련이 출력합니다.

# %% tags=["exercise"]
PREDICTED_INITIAL_LOSS = ...  # Exercise 1.5: predict_initial_loss: your value here

# %% tags=["feedback"]
check("predict_initial_loss")

# %% [markdown] i18n="post-runs"
# 이제 원래 글의 두 실행입니다.
# 둘 다 같은 시드, 같은 배치, 같은 스텝 수로 튜토리얼의 신경망을 훈련합니다(`full` 프리셋은 원래 글의 2,000스텝을 실행합니다). 다른 것은 학습률 하나뿐입니다. `1st`는 튜토리얼의 0.01이고, `2nd`는 그 열 배입니다.
# `1st` 실행은 모델의 그래프도 기록합니다.
# 이 실행들은 스칼라만 기록합니다. 히스토그램은 아래의 데모 신경망에서 나옵니다.

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
# ## 노트북과 터미널에서 텐서보드 보기
#
# `tensorboard` 확장은 `%tensorboard` 매직을 추가합니다. 이 매직은 텐서보드 서버를 백그라운드에서 시작하고(또는 같은 인수로 이미 시작된 서버를 다시 쓰고) 노트북 안에 보여 줍니다.
# 이 셀은 여러분을 기다리지 않습니다. 여러분이 실행을 더 훈련하는 동안에도 서버는 계속 돌아가고, 페이지는 30초마다(또는 새로고침 버튼을 누르면) 새 점을 불러옵니다.
#
# 텐서보드는 따로 지정하지 않으면 포트 **6006**에서 요청을 받습니다. 원래 글의 `localhost:6060`은 오타입니다.
# 6006이 사용 중이면 텐서보드는 그다음 포트들을 시도하므로, 텐서보드가 알려 주는 포트를 확인하세요.
# Jupyter가 다른 기계나 컨테이너에서 돌아갈 때는, `jupyter-server-proxy`를 설치하고 Jupyter의 환경에 `TENSORBOARD_PROXY_URL=/proxy/%PORT%/`를 설정하면 프레임이 Jupyter 자체를 거쳐 텐서보드에 닿을 수 있습니다.

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
# 프로젝트 루트의 터미널에서는 다음과 같이 합니다.
#
# ```
# .venv/bin/tensorboard --logdir runs/ch01/logs
# ```
#
# 그리고 브라우저로 출력된 주소(그 포트가 비어 있으면 http://localhost:6006)에 접속합니다.
# `make tensorboard`는 모든 장을 한 번에 보여 줍니다(`--logdir runs`, 포트는 6006 또는 그다음 빈 포트이고, `make tensorboard PORT=8008`처럼 고를 수도 있습니다). 여기서는 실행 이름이 `runs/` 아래의 경로, 즉 `ch01/logs/1st`, `ch01/logs/2nd` 등이 됩니다.
# 실행 이름을 명시하는 원래 글의 형식은 다음과 같습니다.
#
# ```
# .venv/bin/tensorboard --logdir_spec 1st:runs/ch01/logs/1st,2nd:runs/ch01/logs/2nd
# ```
#
# Scalars 탭에서 `1st`와 `2nd` 실행은 `loss`와 `accuracy` 차트에 서로 다른 색의 곡선 두 개로 나타납니다. 스무딩 슬라이더(왼쪽 위)는 들쭉날쭉한 곡선을 평균 내어 주고, 마우스를 올리면 그 스텝에서 모든 실행의 값이 보입니다.
# 아래의 데모 실행들이 생기고 나면, 손실이 수천에서 시작하는 `demo-bad` 때문에 다른 곡선은 모두 x축에 납작하게 눌립니다. 실행 목록 위의 상자에 `1st|2nd`를 입력하면(정규 표현식으로 실행을 필터링합니다) 그 두 실행만 보이고, `demo`를 입력하면 데모 실행들만 보입니다.
# Graphs 탭은 `1st`의 신경망을 그립니다. `MatMul` 세 개, `Relu` 두 개, 그리고 편향을 더하는 덧셈입니다.

# %% [markdown] i18n="reading-event-files"
# ## 이벤트 파일 다시 읽기
#
# 이벤트 파일은 레코드가 죽 이어진 것입니다. 레코드 하나에는 이벤트가 하나 들어 있고, 이벤트 하나에는 스텝, 벽시계 시간(wall time), 그리고 태그가 붙은 값을 하나 이상 담은 요약이 들어 있습니다.
# 텐서플로 2는 스칼라를 0차원 텐서로, 히스토그램을 `[left edge, right edge, count]` 행으로 된 텐서로 저장합니다.
# 텐서보드의 `EventAccumulator`는 실행 폴더의 모든 이벤트 파일을 순서대로 읽고, `tf.compat.v1.train.summary_iterator`는 파일 하나를 이벤트 하나씩 훑습니다.
# `EventAccumulator`의 기본 *크기 지침*(size guidance)에 주의하세요. 모두 보관하라고 지정하지 않으면 태그마다 텐서를 무작위로 10개만 남깁니다.
#
# ### 연습 문제 1.6: read_scalars
#
# `read_scalars(log_dir, tag)`를 작성하세요.
# 실행 폴더 하나의 이벤트 파일에서 스칼라 태그 하나의 점들을 NumPy 배열 한 쌍(스텝, 그다음 값)으로 반환합니다. 스텝 순서로 정렬하고, 그 태그의 점은 빠짐없이 담고 다른 태그의 것은 하나도 담지 않아야 합니다.
# 채점기는 자신이 직접 기록한 이벤트 파일로 이 함수를 시험합니다.

# %% tags=["exercise"]
def read_scalars(log_dir, tag):
    raise NotImplementedError("Exercise 1.6: read_scalars")


# %% tags=["feedback"]
check("read_scalars")

# %% [markdown] i18n="plot-scalars"
# 리더가 있으면 두 실행의 곡선을 노트북에서도(그리고 보고서나 테스트에서도) 그릴 수 있습니다.

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
# 텐서보드의 Distributions 탭이 그리는 것이 바로 스텝에 따른 히스토그램입니다. 스텝마다 값의 백분위수 사이에 띠를 그립니다.
# 띠의 경계는 7, 16, 31, 69, 84, 93번째 백분위수이므로(정규 분포라면 중앙값 양쪽으로 표준 편차의 약 1.5배, 1배, 0.5배), 가장 진한 띠에는 가운데 38%의 값이 들어가고, 가장 옅은 띠는 최솟값과 최댓값까지 닿습니다.
# 아래의 함수들은 저장된 버킷에서 이 백분위수를 다시 계산해 띠를 그립니다.

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
# ## 히스토그램이 중요해지는 때
#
# 원래 글은 가중치의 분포가 무언가를 말해 주는지 확신하지 못한 채 끝납니다.
# 실제로 아무것도 말해 주지 않을 때가 많습니다. 건강한 실행에서 히스토그램은 천천히 넓어질 뿐입니다.
# 히스토그램이 제값을 하는 것은 무언가 잘못되었는데 손실 곡선이 그것이 무엇인지 말해 주지 못할 때입니다.
# 그런 경우를 보기 위해, 가중치가 어떻게 시작하는지만 바꾸어 데모 신경망을 두 번 훈련합니다.
# 두 실행 모두 학습률 0.05의 평범한 경사 하강법을 씁니다.
#
# * `demo-good`: 표준 편차 0.05로 뽑은 가중치. 약 `sqrt(2 / 784)`로, ReLU 층에 흔히 쓰는 규칙(He 초기화)입니다.
# * `demo-bad`: 표준 편차 1.0. 3장에서 옮긴 글이 완전 연결 층에 `stddev`를 주지 않아 빠져 버린 기본값입니다(계산을 간단히 하려고 여기서는 절단 정규 분포가 아니라 보통의 정규 분포를 씁니다).
#
# 첫 번째 층의 유닛은 각각 784개 픽셀에 가중치를 곱해 더합니다.
# 가중치가 스무 배 크면 모든 활성화 전 값(pre-activation)도 스무 배 커지고, 두 번째 층은 그것을 다시 곱합니다. 그래서 첫 로짓은 0 근처가 아니라 수천에 이릅니다.

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
# 나쁜 실행의 손실은 수천에서 시작합니다. 여러분이 훈련되지 않은 신경망에 대해 예측한 값과는 거리가 멉니다. 그러다 그 예측값까지 떨어진 뒤 거기에 머무르고, 정확도는 무작위로 찍은 수준 근처에 머뭅니다.
# 손실 곡선은 신경망이 멈춰 있다는 *사실*을 말해 주고, 히스토그램은 그 *이유*를 말해 줍니다.

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
# 그림을 읽는 방법은 다음과 같습니다.
#
# * **Distributions 탭**(위의 그림. 텐서보드의 y축은 선형이지만, 위 그림의 활성화 그래프는 0에서 떨어진 곳에서 로그 눈금인 y축을 씁니다): x는 스텝, y는 값입니다. 음영이 진 띠에는 각각 정해진 비율의 값이 들어가므로(가장 진한 띠: 가운데 38%, 가장 옅은 띠: 최솟값부터 최댓값까지), 넓어지는 띠는 퍼지는 분포이고, 선 하나로 눌린 띠는 값이 모두 같은 텐서입니다.
# * **Histograms 탭**: 기록된 스텝마다 히스토그램을 하나씩, 가장 오래된 것이 맨 뒤에 오도록 앞에서 뒤로 쌓아 보여 줍니다(원래 글이 말한 "중첩된" 그래프). x는 값이고 높이는 개수입니다. Distributions 탭이 요약하는 *모양*을 보여 줍니다. 봉우리 두 개, 0에 솟은 뾰족한 막대, 긴 꼬리 같은 것입니다.
#
# `demo-good`에서 `w_h`는 약 ±0.1의 퍼짐을 유지하고, 은닉층 출력은 몇 이내의 값에 머무르며, 어느 스텝에서든 대략 절반이 0입니다(가운데가 0인 입력에 ReLU가 하는 일입니다).
# `demo-bad`에서는 `w_h`가 스텝 0부터 스무 배 넓고, 첫 번째 은닉층의 출력은 수백에 이르며, `activations/h2`는 업데이트를 거듭할수록 0 쪽으로 가라앉다가 결국 (거의) 모든 값이 히스토그램의 가장 낮은 버킷, 즉 0에 놓입니다(텐서보드의 선형 축에서는 선 하나로 보이고, 위 그림의 로그 축에서는 띠가 여전히 그 버킷의 폭을 보여 줍니다).
# 처음의 거대한 그래디언트가 두 번째 층의 활성화 전 값을 모든 이미지에 대해 0 아래로 밀어낸 것입니다.
# 모든 이미지에 대해 입력이 음수인 ReLU 유닛은 0을 출력하고 그래디언트도 0을 돌려보내므로, 결코 회복하지 못합니다. 이런 유닛은 *죽은* 것입니다.
# `h2`의 유닛이 (거의) 모두 죽으면 로짓은 더 이상 이미지에 따라 달라지지 않습니다. 신경망은 클래스의 빈도만 학습할 수 있는데, 그 빈도는 거의 고르므로, 손실은 찍어서 맞히는 신경망의 손실, 곧 연습 문제 1.5에서 여러분이 예측한 값이 됩니다.
# 첫 번째 은닉층도 많은 유닛을 잃습니다. 얼마나 많이 잃는지가 다음 연습 문제입니다.
#
# ### 연습 문제 1.7: dead_units
#
# `dead_fraction(h)`를 작성하세요.
# 이미지 배치에 대한 ReLU 층의 출력 `h`(모양 `(images, units)`)가 주어지면, 배치의 *모든* 이미지에 대해 0을 출력하는 유닛의 비율을 반환합니다(0과 1 사이의 float).
# 그다음 `DEAD_FRACTION_BAD`를, 훈련된 `demo-bad` 신경망의 첫 번째 은닉층(`h`)에서 드롭아웃을 끄고 측정용 배치로 구한 그 비율로 설정하세요.
# (두 번째 층의 답은 그림을 보고 이미 알고 있습니다.)

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
# 훈련된 신경망과 이 책이 인용하는 수치는 로그 옆에 저장됩니다(채점기는 저장된 가중치로 각 실행에서 마지막으로 기록된 손실과 죽은 유닛의 비율을 다시 계산합니다).

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
# ## 요약
#
# * 출력한 숫자는 훈련이 어디에 있는지 보여 주고, 곡선은 어떻게 거기까지 왔는지 보여 줍니다. 텐서플로는 훈련하는 동안 그 숫자를 이벤트 파일에 기록하고, 텐서보드가 그것을 그립니다.
# * `tf.summary.create_file_writer(dir)`는 작성기를 만들고, `tf.summary.scalar`와 `tf.summary.histogram`은 명시한 스텝에 점을 하나씩 기록합니다.
#   작성기의 `flush`는 그것들을 지금 바로 디스크에 씁니다. 이제 `merge_all`도 세션도 없습니다.
# * 그래프는 `tf.function`을 트레이싱해서(`get_concrete_function`) 얻은 `.graph`를 `tf.summary.graph`로 기록합니다.
# * 히스토그램은 스칼라보다 훨씬 비쌉니다. `tf.summary.histogram`은 (값의 수 x 30) 행렬로 버킷을 셉니다.
#   요약의 비용을 측정하세요(`bench/bench_ch01.py`). 요약이 훈련을 느리게 하는 곳에서는, 한 번의 훑기로 센 같은 히스토그램(`tfbook.summaries.histogram`)이 텐서보드에서 똑같이 보입니다.
# * 상위 폴더 하나에 실행마다 하위 폴더 하나: 텐서보드는 실행들을 겹쳐 그리고 폴더 이름으로 부릅니다. `--logdir_spec name:path,...`는 원래 글의 옛 문법입니다.
# * `%load_ext tensorboard`와 `%tensorboard --logdir DIR`는 노트북 안에 텐서보드를 보여 줍니다.
#   터미널에서는 `tensorboard --logdir DIR`가 포트 6006(6060이 아닙니다)에서 텐서보드를 제공합니다.
# * `EventAccumulator`(`size_guidance`로 모든 텐서를 보관합니다)나 `summary_iterator`로 파일을 다시 읽어 그래프와 테스트에 씁니다.
# * 가중치와 활성화 히스토그램은 멈춘 손실을 설명해 줍니다. 스무 배나 지나치게 넓은 초기화는 첫 번째 은닉층의 출력을 폭발시키고 두 번째 층의 유닛을 (거의) 모두 죽였습니다.
#
# 이제 모든 것을 한 번에 검사해 봅시다(마지막 검사들은 여러분의 실행이 기록한 이벤트 파일을 읽습니다).

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## 연습 문제
#
# 1. 학습률 0.5로 세 번째 실행 `3rd`를 추가하세요. 그 곡선은 어디로 가나요?
#    출력된 숫자만 보고는 그것을 어떻게 알아챌 수 있었을까요?
# 2. 각 가중치의 그래디언트(테이프에서 얻은 것)도 히스토그램으로 기록하세요.
#    `demo-bad`에서 `h2`가 죽은 뒤 `w_h2`의 그래디언트는 어떤 모습인가요?
# 3. 평범한 경사 하강법 대신 Adam으로 `demo-bad`를 훈련하세요. `h2`의 유닛이 여전히 죽나요?
#    `w_h`의 히스토그램은 무엇을 보여 주나요?
# 4. `scalar_every`스텝마다가 아니라 매 스텝 스칼라를 기록하고, 요약이 있을 때와 없을 때의 훈련 시간을 재 보세요(`bench/bench_ch01.py`가 이 일을 합니다).
#    로그를 남기는 비용이 그것이 알려 주는 것보다 커지는 때는 언제인가요?
