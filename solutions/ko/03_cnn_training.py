# %% [markdown] i18n="overview"
# # MNIST로 합성곱 신경망 훈련하기
#
# ## 개요
#
# 이 장에서는 2016년 글 "딥러닝을 이용한 숫자 이미지 인식 #1/2"의 합성곱 신경망을 만들고, 훈련하고, 저장합니다.
# 합성곱 층 두 개, 드롭아웃을 적용한 완전 연결 층 하나, 소프트맥스 출력으로 이루어진 신경망을 MNIST의 손글씨 숫자 60,000개로 훈련합니다.
# 원래 글은 텐서플로 1.x의 플레이스홀더와 `Session`을 썼습니다.
# 여기서도 모든 층을 텐서플로의 저수준 연산(`tf.nn.conv2d`, `tf.nn.max_pool2d`, `tf.nn.dropout`)으로 작성하므로 모양, 패딩, 스트라이드, `keep_prob`이 그대로 눈에 보입니다. 다만 코드는 텐서플로 2에서 즉시 실행됩니다.
#
# 이 장에서 배울 내용은 다음과 같습니다.
#
# * 784픽셀짜리 행으로 된 배치가 이미지 텐서가 되는 방법과, 각 층이 그 모양을 바꾸는 방식(28x28x1 -> 28x28x32 -> 14x14x32 -> 14x14x64 -> 7x7x64 -> 행 하나 -> 1024 -> 10)
# * 패딩(`SAME`과 `VALID`)과 스트라이드가 출력 크기를 정하는 방식, 그리고 각 층의 매개변수 개수
# * 훈련하는 동안 드롭아웃의 `keep_prob`이 하는 일과, 평가할 때는 어떤 값이어야 하는지
# * 손실을 소프트맥스 확률이 아니라 로짓으로 계산하는 이유
# * Adam으로 훈련하고, 테스트 세트를 몇 덩어리로 나누어 평가하고, 텐서보드로 진행 상황을 지켜보고, 4장에서 복원할 체크포인트를 저장하는 방법
# * 원래 글의 초기화가 하는 일을 측정해 본 결과
# * 학습률 스케줄로 원래 글의 10분의 1 스텝 만에 99%에 도달하는 방법과, bfloat16이 그 연산 유닛을 갖춘 CPU에서 각 스텝을 더 빠르게 만드는 방법
#
# **연습 문제 진행 방식.** 열 개의 연습 문제(3.1~3.10)는 각각 함수나 값 하나를 채우는 문제입니다.
# 채울 곳에는 `raise NotImplementedError` 또는 `...`가 있습니다.
# 연습 문제마다 아래에 있는 `check("...")` 셀을 실행하면 바로 결과를 볼 수 있습니다.
# 점수로 인정되는 채점은 터미널에서 합니다. `python -m checks 03`은 이 노트북을 새 커널에서 실행하고, 스스로 고른 입력으로 여러분의 함수를 검사합니다.
# `tfbook hint 03 NAME`은 연습 문제의 힌트를 다시 보여 줍니다.
#
# **프리셋.** 얼마나 오래 훈련할지는 `book.toml`에서 활성화된 프리셋이 정합니다.
# `quick`(기본값, 훈련에 약 30초), `full`(원래 글의 방법 그대로 10,000 스텝, 약 10분), `best`(마지막의 선택 절, 몇 분) 중 하나입니다.
# Jupyter를 시작하기 전에 환경 변수 `TFBOOK_PRESET`으로 고르세요.

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
# ## 텐서플로 1에서 텐서플로 2로
#
# 원래 글은 플레이스홀더로 그래프를 만들고 세션에서 실행했습니다.
# 오늘날의 텐서플로에서 같은 신경망을 만들려면 다음만 바꾸면 되고, 그 밖에는 바꿀 것이 없습니다.
#
# | 텐서플로 1 (원래 글) | 텐서플로 2 (이 장) |
# |---|---|
# | `tf.placeholder(tf.float32, [None, 784])` | 평범한 인수: 함수는 텐서나 NumPy 배열을 받습니다 |
# | 셀을 다시 실행하기 전에 `tf.reset_default_graph()` | 필요 없음: 전역 그래프가 없고, 셀을 다시 실행하면 새 변수가 만들어집니다 |
# | `tf.nn.max_pool(x, ksize=[1,2,2,1], strides=[1,2,2,1], ...)` | `tf.nn.max_pool2d(x, ksize=2, strides=2, ...)` |
# | `tf.nn.dropout(h, keep_prob)` | `tf.nn.dropout(h, rate=...)`: `rate`는 *버리는* 비율, `keep_prob`은 남기는 비율 |
# | `tf.nn.softmax_cross_entropy_with_logits(k, t)` | 같은 연산을 키워드로 호출: `(labels=t, logits=k)` |
# | `tf.train.AdamOptimizer(1e-4).minimize(loss)` | `tf.GradientTape`와 `keras.optimizers.Adam(1e-4).apply_gradients` |
# | `sess.run(train_step, feed_dict=...)` | `@tf.function` 호출(한 번 그래프로 트레이싱된 뒤로는 빠름) |
# | `tf.train.Saver().save(sess, path)` | 변수들로 만든 `tf.train.Checkpoint`를 경로에 기록(연습 문제 3.9) |
# | `tf.summary.FileWriter` + `merge_all` | `tf.summary.create_file_writer` + `tf.summary.scalar` |

# %% [markdown] i18n="network-shapes"
# ## 층별로 살펴보는 신경망
#
# | 단계 | 연산 | 이미지 한 장당 출력 모양 |
# |---|---|---|
# | 입력 | 한 행에 놓인 784픽셀 | (784,) |
# | 모양 바꾸기 | 채널이 하나인 이미지로 | (28, 28, 1) |
# | 1층 | 5x5 필터 32개, 스트라이드 1, `SAME`; + 편향; ReLU | (28, 28, 32) |
# | 풀링 1 | 2x2 윈도마다 최댓값, 스트라이드 2, `SAME` | (14, 14, 32) |
# | 2층 | 채널 32개에 걸친 5x5 필터 64개; + 편향; ReLU | (14, 14, 64) |
# | 풀링 2 | 2x2마다 최댓값, 스트라이드 2 | (7, 7, 64) |
# | 펼치기 | 긴 행 하나 | (?,): 연습 문제 3.4 |
# | 완전 연결 층 | 행 하나 -> 1024; + 편향; ReLU | (1024,) |
# | 드롭아웃 | 각 유닛을 확률 `keep_prob`으로 남김 | (1024,) |
# | 출력 | 1024 -> 로짓 10개(소프트맥스가 확률로 바꿉니다) | (10,) |
#
# 배치는 모든 모양의 맨 앞에 차원 하나를 더합니다. 이미지 50장에 대한 1층의 출력은 (50, 28, 28, 32)입니다.

# %% [markdown] i18n="reshape-input"
# ### 연습 문제 3.1: reshape_input
#
# 합성곱은 `(batch, height, width, channels)` 모양을 기대합니다.
# 784픽셀짜리 행으로 된 배치를, 배치 크기가 얼마이든 `(batch, 28, 28, 1)` 이미지로 바꾸는 `reshape_input(x)`를 작성하세요.

# %% tags=["exercise"]
def reshape_input(x):
    ### BEGIN SOLUTION
    return tf.reshape(x, [-1, 28, 28, 1])
    ### END SOLUTION


# %% tags=["feedback"]
check("reshape_input")

# %% [markdown] i18n="padding-strides"
# ## 패딩과 스트라이드
#
# 가장자리 근처의 픽셀을 중심으로 놓인 5x5 필터는 이미지 바깥으로 삐져나옵니다.
# `VALID` 패딩은 필터가 완전히 들어가는 곳에만 필터를 놓으므로, 28픽셀짜리 행에서는 28 - 5 + 1 = 24개의 위치가 남습니다.
# `SAME`은 가장자리를 0으로 채워서, 스트라이드가 1이면 입력 픽셀마다 출력이 하나씩 있게 합니다. 28은 28 그대로입니다.
# 스트라이드가 2이면 윈도가 한 번에 두 픽셀씩 움직이고 출력은 절반이 됩니다(나머지는 올림).
# 텐서플로로 직접 확인해 봅시다.

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
# 위에 출력된 숫자를 규칙으로 읽어 봅시다.
# `VALID`에서는 먼저 윈도가 들어가는 자리를 셉니다(5x5 윈도라면 28 - 5 + 1 = 24). 그다음 스트라이드가 그중 일부를 건너뜁니다. 스트라이드 2는 자리를 하나 걸러 하나씩 남기고, 끝에 하나 남는 자리도 하나로 칩니다.
# `SAME`에서는 윈도가 가장자리 밖으로 걸쳐도 됩니다(비어 있는 픽셀은 0으로 칩니다). 그래서 모든 자리를 세고, 출력을 줄이는 것은 스트라이드뿐이며, 여기서도 마지막에 일부만 걸친 스텝도 하나로 칩니다(7픽셀을 스트라이드 2로 풀링하면 4가 됩니다).
#
# ### 연습 문제 3.2: output_size
#
# `output_size(n, window, stride, padding)`를 작성하세요.
# 크기가 `n`인 입력에 정사각형 `window`로 합성곱이나 풀링을 적용했을 때의 출력 높이(또는 너비)를 `int`로 반환합니다.
# 위에 출력된 경우만이 아니라 어떤 크기, 윈도, 스트라이드에도 동작하게 만드세요. 검사 코드는 자신이 고른 크기, 윈도, 스트라이드(홀수 크기, 크기를 나누어떨어지게 하지 않는 스트라이드)에 대해 여러분의 답을 `tf.nn.conv2d`와 `tf.nn.max_pool2d`가 실제로 내놓는 값과 비교합니다.
# 막히면 `tfbook hint 03 output_size`가 텐서플로의 공식을 알려 줍니다.

# %% tags=["exercise"]
def output_size(n, window, stride, padding):
    ### BEGIN SOLUTION
    if padding == "SAME":
        return math.ceil(n / stride)
    return math.ceil((n - window + 1) / stride)
    ### END SOLUTION


# %% tags=["feedback"]
check("output_size")

# %% [markdown] i18n="conv-layer"
# ## 1층: 합성곱, ReLU, 풀링
#
# 1층은 서로 다른 5x5 필터 32개를 이미지 위에서 옮겨 가며 적용합니다.
# 필터마다 *특성 맵*이 하나씩 만들어지고, 편향은 맵마다 더해지며, ReLU(`max(0, x)`)는 양수 반응만 남깁니다.
# 그다음 최대 풀링이 2x2 윈도마다 가장 강한 반응만 남깁니다. 그러면 높이와 너비가 절반이 되고, 특성이 작은 이동을 조금 견딜 수 있게 됩니다.
#
# ### 연습 문제 3.3: conv_layer
#
# `conv_layer(x, W, b)`를 작성하세요. 필터 `W`와 편향 `b`로 위의 방법을 따르되, 합성곱이 `x`의 높이와 너비를 유지해야 합니다(그렇게 되는 스트라이드와 패딩을 고르세요).
# `max_pool_2x2(x)`도 작성하세요. 위에서 설명한 풀링으로, 높이와 너비를 절반으로 줄이되 앞에서 출력한 예처럼 홀수 크기는 올림합니다.
# 두 함수 모두 배치 크기와 채널 수에 상관없이 동작해야 합니다(2층에서도 이 함수들을 씁니다).

# %% tags=["exercise"]
def conv_layer(x, W, b):
    ### BEGIN SOLUTION
    return tf.nn.relu(tf.nn.conv2d(x, W, strides=1, padding="SAME") + b)
    ### END SOLUTION


def max_pool_2x2(x):
    ### BEGIN SOLUTION
    return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
    ### END SOLUTION


# %% tags=["feedback"]
check("conv_layer")

# %% [markdown] i18n="flatten"
# ## 2층과 펼치기
#
# 2층은 같은 방법에 필터 64개를 씁니다. 각 필터는 1층의 맵 32개 전체에 걸친 5x5 크기이므로, 가중치의 모양은 (5, 5, 32, 64)입니다.
# 두 번째 풀링을 거치면 이미지 한 장은 7x7x64 블록이 되는데, 완전 연결 층에는 이것이 행 하나로 필요합니다.
# (같은 식으로, 채널이 3개인 4x4 블록이라면 숫자 48개짜리 행이 됩니다.)
#
# ### 연습 문제 3.4: flatten
#
# `FLATTEN_SIZE`를 2층의 풀링 뒤 이미지 한 장당 값의 개수로 정하고, `(batch, 7, 7, 64)` 텐서를 `(batch, FLATTEN_SIZE)`로 바꾸는 `flatten(h)`를 작성하세요.

# %% tags=["exercise"]
### BEGIN SOLUTION
FLATTEN_SIZE = 7 * 7 * 64
### END SOLUTION


def flatten(h):
    ### BEGIN SOLUTION
    return tf.reshape(h, [-1, FLATTEN_SIZE])
    ### END SOLUTION


# %% tags=["feedback"]
check("flatten")

# %% [markdown] i18n="dense-dropout"
# ## 완전 연결 층과 드롭아웃
#
# 완전 연결 층은 펼친 특성에 (FLATTEN_SIZE, 1024) 가중치 행렬을 곱하고, 편향을 더한 뒤 ReLU를 적용합니다.
# 그다음 드롭아웃이 훈련 스텝마다 유닛 1024개 중 무작위로 일부를 꺼서, 어떤 유닛도 특정한 다른 유닛이 있으리라고 기대지 못하게 합니다. 과대적합을 막는 값싼 방법입니다.
# 원래 글은 드롭아웃을 유닛을 *남길* 확률인 `keep_prob`으로 표현했습니다.
# 훈련하는 동안 드롭아웃은 유닛의 일부만 남기고(원래 글의 훈련 스텝은 그 비율을 `feed_dict`로 넘깁니다), 평가할 때는 모든 유닛을 남깁니다. 평가할 때는 신경망 전체를 쓰고, 매번 같은 답을 얻고 싶기 때문입니다.
# 살아남은 유닛은 `keep_prob`으로 나누어, 층의 합의 기댓값이 훈련과 평가 사이에 달라지지 않게 합니다.
# 텐서플로 2의 `tf.nn.dropout`은 `keep_prob`이 아니라 유닛을 *버릴* 확률인 `rate`를 받습니다. 유닛의 90%를 남기는 층의 `rate`는 10%입니다.
#
# ### 연습 문제 3.5: dense_dropout
#
# 위에서 설명한 층인 `fully_connected(h, W, b)`와, 훈련할 때는 유닛을 버리고 평가할 때는 아무것도 바꾸지 않는 `dropout(h, keep_prob)`을 작성하세요.
# 원래 글의 두 값 `KEEP_PROB_TRAIN`과 `KEEP_PROB_EVAL`도 정하세요.
# 아래의 훈련 스텝은 `dropout`을 `tf.function` 안에서 실행하므로, 텐서플로 연산으로 작성하세요(검사 코드도 그 안에서 실행합니다).

# %% tags=["exercise"]
def fully_connected(h, W, b):
    ### BEGIN SOLUTION
    return tf.nn.relu(tf.matmul(h, W) + b)
    ### END SOLUTION


def dropout(h, keep_prob):
    ### BEGIN SOLUTION
    if keep_prob == 1.0:
        return h
    return tf.nn.dropout(h, rate=1.0 - keep_prob)
    ### END SOLUTION


### BEGIN SOLUTION
KEEP_PROB_TRAIN = 0.5
KEEP_PROB_EVAL = 1.0
### END SOLUTION

# %% tags=["feedback"]
check("dense_dropout")

# %% [markdown] i18n="forward"
# ## 전체 순전파
#
# 신경망의 변수는 딕셔너리 하나, `params`에 원래 글의 이름으로 들어 있습니다. `W_conv1`, `b_conv1`, `W_conv2`, `b_conv2`, `W_fc1`, `b_fc1`, `W_fc2`, `b_fc2`입니다(4장은 이 이름으로 변수를 복원합니다).
#
# ### 연습 문제 3.6: forward
#
# 여러분의 함수들을 차례로 이어, 모든 중간 텐서를 담은 딕셔너리를 반환하는 `forward(x, params, keep_prob)`를 작성하세요.
# 중간 텐서는 `x_image`, `h_conv1`, `h_pool1`, `h_conv2`, `h_pool2`, `h_flat`, `h_fc1`, `h_drop`, `logits`입니다(`logits`는 출력층으로, `W_fc2`와 `b_fc2`를 쓰는 완전 연결 층이지만 ReLU도 소프트맥스도 적용하지 않습니다).
# 검사 코드는 이 장이 쓰는 두 가지 방식으로 모두 실행해 봅니다. 아래의 `evaluate`처럼 `KEEP_PROB_EVAL`로 즉시 실행하고, 훈련 스텝처럼 `tf.function` 안에서 `KEEP_PROB_TRAIN`으로 실행합니다.

# %% tags=["exercise"]
def forward(x, params, keep_prob):
    ### BEGIN SOLUTION
    out = {"x_image": reshape_input(x)}
    out["h_conv1"] = conv_layer(out["x_image"], params["W_conv1"], params["b_conv1"])
    out["h_pool1"] = max_pool_2x2(out["h_conv1"])
    out["h_conv2"] = conv_layer(out["h_pool1"], params["W_conv2"], params["b_conv2"])
    out["h_pool2"] = max_pool_2x2(out["h_conv2"])
    out["h_flat"] = flatten(out["h_pool2"])
    out["h_fc1"] = fully_connected(out["h_flat"], params["W_fc1"], params["b_fc1"])
    out["h_drop"] = dropout(out["h_fc1"], keep_prob)
    out["logits"] = tf.matmul(out["h_drop"], params["W_fc2"]) + params["b_fc2"]
    return out
    ### END SOLUTION


# %% tags=["feedback"]
check("forward")

# %% [markdown] i18n="initial-values"
# 원래 글의 초깃값은 이렇습니다. 합성곱 필터는 표준 편차가 0.1인 절단 정규 분포에서 뽑고, 편향은 0.1, 출력층은 모두 0이며, 완전 연결 층의 가중치는 *기본* 표준 편차인 1.0의 절단 정규 분포에서 뽑습니다(이 선택은 아래에서 더 살펴봅니다).
# 이 값들로 이미지 50장짜리 배치를 넣으면 위 표의 모양이 나타납니다.

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
# ## 손실과 정확도
#
# 출력층은 정규화되지 않은 점수인 *로짓* 10개를 만듭니다.
# 소프트맥스는 로짓을 확률로 바꾸고, 원-핫 레이블과의 크로스 엔트로피는 신경망이 올바른 숫자에 확률을 얼마나 두었는지를 잽니다.
# 텐서플로는 이 둘을 `tf.nn.softmax_cross_entropy_with_logits` 하나로 합쳐 두었고, 이 함수에는 로짓을 넣어야 합니다. 함수 안에서 수치적으로 안정적인 공식으로 소프트맥스를 계산하기 때문입니다(확신이 강한 예측에서도 `log(0)`이 생기지 않습니다).
# 여기에 소프트맥스 출력을 대신 넣으면 소프트맥스가 두 번 적용됩니다. 손실은 좁은 범위로 눌리고 그래디언트는 거의 사라집니다.
# 원래 글도 바로 이 점에 대한 텐서플로의 경고를 인용했습니다.
#
# ### 연습 문제 3.7: loss
#
# `loss_fn(logits, labels)`를 작성하세요. 배치의 소프트맥스 크로스 엔트로피 평균(숫자 하나)을 반환합니다.

# %% tags=["exercise"]
def loss_fn(logits, labels):
    ### BEGIN SOLUTION
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    ### END SOLUTION


# %% tags=["feedback"]
check("loss")

# %% [markdown] i18n="accuracy"
# ### 연습 문제 3.8: accuracy
#
# 정확도를 계산하는 `accuracy_fn(logits, labels)`를 작성하세요. 가장 큰 로짓이 레이블의 1과 같은 위치에 있는 행의 비율을 반환합니다.
# (가장 큰 로짓은 가장 큰 확률이기도 하므로, 여기서도 소프트맥스가 필요 없습니다.)

# %% tags=["exercise"]
def accuracy_fn(logits, labels):
    ### BEGIN SOLUTION
    correct = tf.equal(tf.argmax(logits, axis=1), tf.argmax(labels, axis=1))
    return tf.reduce_mean(tf.cast(correct, tf.float32))
    ### END SOLUTION


# %% tags=["feedback"]
check("accuracy")

# %% [markdown] i18n="checkpoint"
# ## 훈련된 변수 저장하기
#
# 체크포인트는 변수의 *값*을 각각 이름 하나 아래에 저장할 뿐, 그 값을 쓰는 코드에 대해서는 아무것도 저장하지 않습니다.
# `tf.train.Checkpoint`는 변수를 키워드 인수로 받고, 각 변수에 그 키워드를 이름으로 붙입니다. `tf.train.Checkpoint(step=counter, w=weights)`는 값 두 개를 `step`과 `w`라는 이름으로 저장합니다.
# `write(prefix)`는 값을 정확히 그 접두사로 저장하고 접두사를 반환합니다(`save(prefix)`는 여러 개를 보관할 수 있도록 `prefix-1`, `prefix-2`, ...처럼 카운터를 붙입니다).
# 그러면 새 프로그램(4장)이 같은 이름으로 변수를 만들어 훈련된 값을 되찾을 수 있습니다.
# 원래 글은 TF1의 `Saver`를 썼는데, `Saver`는 변수를 그래프 안의 이름으로 짝지었습니다.
#
# ### 연습 문제 3.9: checkpoint
#
# `params`의 모든 변수를 각자의 키 아래에 `prefix` 경로로 기록하고, 기록한 경로를 반환하는 `save_checkpoint(params, prefix)`를 작성하세요.

# %% tags=["exercise"]
def save_checkpoint(params, prefix):
    ### BEGIN SOLUTION
    return tf.train.Checkpoint(**params).write(str(prefix))
    ### END SOLUTION


# %% tags=["feedback"]
check("checkpoint")

# %% [markdown] i18n="parameter-count"
# ## 훈련할 숫자는 몇 개일까요?
#
# 모든 가중치와 모든 편향은 옵티마이저가 조정하는 숫자 하나입니다.
# 1층에는 입력 채널 하나에 걸친 5x5 필터가 32개 있으므로 가중치가 32 x 5 x 5 x 1 = 800개이고, 필터마다 편향이 하나씩 있으므로 매개변수는 832개입니다.
# 입력 3개에서 출력 2개로 가는 완전 연결 층이라면 가중치 3 x 2 = 6개와 편향 2개가 있을 것입니다.
#
# ### 연습 문제 3.10: parameter_count
#
# 검사 셀 다음에 있는 셀을 실행하기 전에 먼저 예측해 보세요.
# `CONV2_PARAMS`에는 2층의 매개변수 개수를, `TOTAL_PARAMS`에는 신경망 전체(변수 여덟 개 모두)의 매개변수 개수를 넣으세요.
# 모양 표와 여러분의 `FLATTEN_SIZE`로 계산하고, 코드로 세지는 마세요.

# %% tags=["exercise"]
### BEGIN SOLUTION
CONV2_PARAMS = 5 * 5 * 32 * 64 + 64
TOTAL_PARAMS = (5 * 5 * 1 * 32 + 32) + (5 * 5 * 32 * 64 + 64) + (7 * 7 * 64 * 1024 + 1024) + (1024 * 10 + 10)
### END SOLUTION

# %% tags=["feedback"]
check("parameter_count")

# %%
counts = {name: int(tf.size(value)) for name, value in params.items()}
print(f"layer 2: {counts['W_conv2'] + counts['b_conv2']:,} parameters; the network: {sum(counts.values()):,}")
print(f"the fully connected layer W_fc1 alone: {counts['W_fc1']:,} "
      f"({counts['W_fc1'] / sum(counts.values()):.0%} of them)")

# %% [markdown] i18n="training"
# ## 훈련
#
# 아래 루프는 원래 글의 것과 같습니다. 미니 배치에 Adam을 쓰고, 훈련하는 동안에는 `KEEP_PROB_TRAIN`을 쓰며, 몇백 스텝마다 테스트 이미지 10,000개에 대한 손실과 정확도를 계산합니다. 메모리를 적게 쓰도록 4개의 덩어리로 나누어 계산합니다.
# 텐서플로 2에서 달라진 점이 두 가지 있습니다. `train_step`은 `tf.function`이어서 첫 호출 때 그래프로 트레이싱되고 그다음부터는 파이썬 오버헤드 없이 실행됩니다. 그리고 `input_signature` 덕분에 마지막 배치가 더 작아도 다시 트레이싱되지 않습니다.
# 스칼라 값은 `runs/ch03/logs/` 아래에 텐서보드용으로 기록되고, 훈련된 변수는 `runs/ch03/checkpoint/`에 저장됩니다.
# 학습률은 스텝마다 바뀔 수 있고(*스케줄*이라고 하며, 훈련 셀 바로 앞에서 설명합니다), 훈련은 `bfloat16_rewrite(...)` 안에서 실행됩니다.
# 이 블록은 프리셋의 `precision`이 `"bf16"`이고 CPU에 bfloat16 유닛이 있을 때만 무언가를 바꿉니다. 자세한 내용은 아래의 "이 CPU에서 더 빠르게" 절에서 설명합니다.

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
# ### 30초 만에 99%: 시간에 따른 학습률
#
# 원래 글은 10,000 스텝 내내 Adam의 학습률을 1e-4로 유지했습니다.
# 고정된 학습률은 타협입니다. 초반에 진전을 낼 만큼 크면서도 후반에 가중치를 이리저리 흔들지 않을 만큼 작아야 하고, 끝에 가서도 가중치는 좋은 지점 주변에서 대략 한 스텝 크기만큼 흔들립니다.
# 스케줄은 이 타협을 없애 줍니다.
# `quick` 프리셋은 처음 `warmup_steps` 동안 학습률을 0에서부터 직선으로 올립니다(이때는 각 가중치의 그래디언트에 대한 Adam의 추정치가 아직 부정확하므로, 초반의 큰 스텝은 가중치를 나쁜 곳으로 보낼 수 있습니다).
# 학습률은 웜업이 끝나는 시점, 즉 신경망이 가장 많이 배우는 초반에 최고점에 이르고, 그다음 마지막 스텝에서 0이 되도록 직선으로 내려옵니다. 그래서 마지막 수백 스텝은 흔들리지 않고 자리를 잡습니다.
# 신경망의 다른 부분은 아무것도 바뀌지 않습니다.
# 벤치마크 `python -m bench.bench_cnn --part limits`가 이것으로 얻는 효과를 측정하고(그 표는 끝에 있는 선택 절 "이 신경망은 어디까지 갈 수 있을까요?"에 있습니다), 훈련 셀은 여러분이 직접 실행한 결과를 출력합니다.
# 두 가지 모양은 다음과 같습니다.

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
# 텐서보드에서 같은 곡선을 보려면 프로젝트 루트의 터미널에서 다음 명령을 실행하고 브라우저에서 http://localhost:6006 주소를 여세요(1장은 온통 텐서보드에 관한 장입니다).
#
# ```
# .venv/bin/tensorboard --logdir runs/ch03/logs
# ```

# %% [markdown] i18n="initialisation"
# ## 원래 글의 초기화, 측정해 보기
#
# 원래 글은 완전 연결 층의 가중치 `W_fc1`을 `stddev` 없이 `tf.truncated_normal(shape)`로 뽑습니다.
# 그래서 기본값 1.0이 적용되는데, 이는 다른 모든 층(그리고 0.1을 쓴 텐서플로 자체의 MNIST 튜토리얼)보다 10배 넓은 퍼짐입니다.
# 유닛 1024개는 각각 입력 3136개에 크기가 1 정도인 가중치를 곱해 더하므로, 활성화 함수를 거치기 전의 값이 0.1일 때보다 10배쯤 커집니다.
# 처음 상태에서 유닛의 활성화 값을 비교해 봅시다.

# %%
probe = x_train[:200]
for stddev in (1.0, 0.1):
    h_fc1 = forward(probe, init_params(stddev, settings["seed"]), KEEP_PROB_EVAL)["h_fc1"].numpy()
    print(f"W_fc1 stddev {stddev}: h_fc1 mean {h_fc1.mean():8.3f}, largest {h_fc1.max():8.2f}, "
          f"dead units {np.mean(h_fc1.max(axis=0) == 0):.0%}")

# %% [markdown] i18n="initialisation-race"
# 이것이 결함일까요? 짐작하는 대신 둘을 경주시켜 봅시다. 배치 50으로, 한 번은 원래 글의 학습률 1e-4로, 한 번은 1e-3으로 실행하고 다른 것은 아무것도 바꾸지 않습니다(여기서 `full` 프리셋은 실행마다 1,000 스텝을 돌리고, `quick`은 그보다 적게 돌립니다).

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
# 2코어 머신에서 우리가 실행한 결과는 이랬습니다(`python -m bench.bench_cnn --part full --steps 500`이 그중 첫 번째 결과를 출력합니다).
# 원래 글의 학습률에서는 500 스텝 뒤에 큰 초기화가 오히려 *앞섰습니다*(95.9% 대 94.0%).
# Adam은 가중치마다 그 가중치 자신의 그래디언트 이력으로 스텝 크기를 조정하므로, 거대한 활성화 값은 주로 출력층이 처음에 더 빨리 배우게 만듭니다.
# Adam 1e-3에서는 우리가 실행한 결과에서 순서가 뒤집혀, 0.1이 약 1퍼센트포인트 앞섰습니다(위에 출력된 줄은 여러분이 직접 실행한 결과입니다).
# 원래 글에 그렇게 많은 스텝이 필요한 것은 주로 작은 학습률 때문입니다. `quick` 프리셋(stddev 0.1, 배치 100, 0까지 줄어드는 더 높은 학습률)은 원래 글의 10분의 1 스텝 만에 99%를 넘깁니다.
# 교훈은 두 가지입니다. 여러분이 고르지 않은 기본값 하나가 그 뒤에 오는 모든 것의 규모를 바꿀 수 있으니 활성화 통계를 살펴보세요. 그리고 무언가를 결함이라고 부르기 전에 측정하세요.
# 벤치마크 `python -m bench.bench_cnn`은 원래 글의 전체 방법을 두 방식으로 각각 10,000 스텝씩 실행하고, 비교를 위해 같은 방법을 텐서플로 1 스타일로도 실행합니다(docs/benchmarks.md의 "Chapter 03").

# %% [markdown] i18n="bfloat16"
# ## 이 CPU에서 더 빠르게
#
# 이 신경망의 모든 숫자는 32비트 부동소수점(fp32)입니다. 부호 비트 1개, 지수 비트 8개, 저장되는 가수 비트 23개로 이루어집니다.
# *bfloat16*("brain float", bf16)은 이 32비트의 위쪽 절반입니다. 부호 비트 1개와 같은 지수 비트 8개를 가지므로 범위도 같습니다(약 3.4e38까지: fp32에서 생기지 않을 오버플로는 생기지 않습니다).
# 하지만 가수 비트는 8개(저장되는 7개와 암묵적인 맨 앞의 1)뿐이어서, 유효 숫자가 십진수로 7자리가 아니라 2~3자리 정도입니다.
# bf16으로 바꿨다가 다시 되돌렸을 때 무엇이 살아남는지 직접 확인해 보세요.

# %%
values = tf.constant([1 / 3, 1000.1, 3e38, 1e-30])
print("fp32:", values.numpy())
print("bf16:", tf.cast(tf.cast(values, tf.bfloat16), tf.float32).numpy())

# %% [markdown] i18n="bf16-units"
# 훈련에는 알맞은 곳에만 쓴다면 대개 2~3자리로 충분합니다. 합성곱이나 행렬 곱셈 안의 곱셈은 bf16으로 해도 되지만, 그 곱을 더하는 일과 가중치를 갱신하는 일은 fp32로 해야 합니다.
# 어떤 CPU에는 바로 그 일을 하는 유닛, 즉 명령어 하나로 bf16 곱셈-덧셈을 여러 번 수행하는 유닛이 있습니다. 인텔의 AMX(Sapphire Rapids 이후)와 AVX512-BF16 명령어(인텔 Cooper Lake, AMD Zen 4 이후)입니다.
# 리눅스는 `/proc/cpuinfo`의 플래그 목록에 이들을 `amx_bf16`과 `avx512_bf16`으로 표시합니다. 설정 셀에서 가져온 `tfbook.hardware.bf16_units()`가 이 플래그를 대신 읽어 줍니다.

# %%
print(f"bfloat16 units on this CPU: {bf16_units() or 'none found'}")  # bf16_units: imported in Setup

# %% [markdown] i18n="bf16-rewrite"
# 텐서플로의 oneDNN 백엔드(x86 리눅스에서 기본으로 켜져 있습니다)는 모델을 전혀 바꾸지 않고도 그래프를 이 유닛에 맞게 재작성할 수 있습니다.
# 그래프 최적화 옵션 `auto_mixed_precision_onednn_bfloat16`을 켜면, 합성곱과 행렬 곱셈, 그리고 그 옆에서 안전하다고 판단한 연산을 bf16 연산으로 바꾸고 경계에 형변환을 넣습니다.
# 반올림에 민감하다고 판단한 연산은 fp32로 남고, 변수도 마찬가지입니다. 재작성은 변수의 값을 들여올 때 형변환하므로 가중치는 자릿수를 모두 유지합니다.
# 이 장의 `bfloat16_rewrite()`(`train`과 함께 정의되어 있습니다)는 코드 블록 하나에 대해 이 옵션을 켜고, 블록이 끝나면 되돌립니다.
#
# ```python
# with bfloat16_rewrite():
#     history, train_seconds = train(params, ...)
# ```
#
# 이 옵션에는 잘못 쓰기 쉬운 점이 두 가지 있습니다.
# 먼저 *전역* 설정이므로, 노트북에서 옵션을 켜 놓고 끄는 것을 잊으면 그 뒤의 모든 `tf.function`도 bf16으로 실행됩니다(그래서 `with` 블록을 씁니다).
# 그리고 이 옵션은 `tf.function`을 작성하거나 트레이싱할 때가 아니라 *실행할* 때 적용됩니다. 텐서플로는 함수가 옵션의 어떤 설정으로 처음 호출될 때 그 설정에 맞는 그래프를 준비하고, 호출할 때마다 설정에 맞는 그래프를 씁니다.
# 옵션을 켠 상태에서 만든 훈련 스텝이라도 옵션을 끈 뒤에 호출하면 fp32로 실행되고, 그 반대도 마찬가지입니다. 여기 있는 `evaluate` 같은 즉시 실행 코드는 결코 재작성되지 않습니다.
#
# 아래 셀은 이 장의 훈련 스텝을 재작성을 켠 경우와 끈 경우로, 각각 배치 50에서 수십 스텝씩 경주시킵니다. 번갈아 실행하므로 머신의 다른 부하가 양쪽에 똑같이 영향을 줍니다(bf16 유닛이 없는 CPU에서는 건너뜁니다).

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
# 속도는 문제의 절반이고, 나머지 절반은 신경망이 그만큼 잘 배우는가입니다.
# `python -m bench.bench_cnn --part limits`는 `quick` 프리셋의 방법을 같은 시작점에서 같은 미니 배치로 세 가지 방식으로 훈련하고(fp32, 재작성, 그리고 직접 구현한 혼합 정밀도: 입력과 가중치의 bf16 복사본으로 순전파를 계산하고, Adam이 갱신하는 가중치로는 fp32 가중치를 유지하는 방식), 속도와 테스트 정확도를 비교합니다. 이 장의 끝에 있는 표가 그 출력의 일부입니다.
# 직접 구현한다면 훈련 스텝의 안쪽은 다음과 같을 것입니다.
#
# ```python
# bf16_params = {name: tf.cast(value, tf.bfloat16) for name, value in params.items()}
# logits = forward(tf.cast(x, tf.bfloat16), bf16_params, KEEP_PROB_TRAIN)["logits"]
# loss = loss_fn(tf.cast(logits, tf.float32), t)  # the loss, the gradients and Adam's update in fp32
# ```
#
# 그래디언트는 형변환을 거슬러 fp32 변수까지 흘러갑니다.
# 이 장은 재작성을 씁니다. 벤치마크에 따르면 여기서는 두 방법의 속도가 거의 같은데, 재작성은 여러분의 함수를 바꿀 필요가 없지만 형변환 방식은 모든 함수가 bf16 텐서를 받아들여야 하기 때문입니다.
# `book.toml`에 있는 이 장의 프리셋의 `precision` 키(`"fp32"` 또는 `"bf16"`)가 위의 훈련 셀을 어떻게 실행할지 정합니다.
#
# 쓰지 말아야 할 때는 다음과 같습니다.
#
# * bf16 유닛이 없는 CPU: 이때 oneDNN은 fp32 명령어와 변환으로 bf16을 흉내 내므로 그냥 fp32보다 느립니다.
# * 모델이 큰 합성곱과 행렬 곱이 아닌 다른 곳(작은 층, 데이터 로딩, 파이썬 오버헤드)에서 시간을 쓸 때: 빨라지는 것은 큰 합성곱과 행렬 곱뿐입니다.
# * 결과가 스텝마다 fp32와 거의 같아야 할 때: bf16은 모든 곱을 2~3자리로 반올림하므로 손실이 fp32로 실행한 결과에서 점점 벌어지고, 좁은 허용 오차로 비교하는 테스트는 실패합니다.
# * GPU: GPU에서는 이런 CPU 그래프 재작성이 아니라 케라스의 혼합 정밀도 정책(`mixed_float16`, `mixed_bfloat16`)이 일반적인 도구입니다.

# %% [markdown] i18n="how-far"
# ## 이 신경망은 어디까지 갈 수 있을까요? (선택)
#
# `quick` 프리셋은 99%가 손에 닿자마자 멈춥니다. 신경망 자체는 그대로 두고도, 훈련 시간만 드는 세 가지로 더 나아질 수 있습니다.
#
# * **더 많은 에포크**: `quick`은 훈련 이미지 하나하나를 약 두 번 보여 주고, `best` 프리셋은 약 열일곱 번 보여 줍니다.
# * 위에서 본 **스케줄**을 더 긴 훈련에 맞게 늘린 것
# * **데이터 증강**: 이미지를 쓸 때마다 `shift_images`(`train`과 함께 정의되어 있습니다)가 그 이미지를 무작위 방향으로 최대 `max_shift` 픽셀만큼 옮깁니다.
#   숫자의 레이블은 바뀌지 않지만 픽셀은 바뀌므로, 신경망은 정확한 픽셀 위치를 외울 수 없고 모양을 배워야 합니다. 그렇지 않으면 더 긴 훈련은 바로 그 픽셀 위치에 과대적합하게 됩니다.
#   (실제 숫자도 모두 똑같이 가운데에 놓여 있지는 않습니다.) 신경망이 보는 것은 다음과 같습니다.

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
# `book.toml`의 `best` 프리셋은 이 세 가지를 합친 것입니다.
# 직접 훈련하려면 `TFBOOK_PRESET=best`로 Jupyter를 시작해 이 노트북을 실행하거나(그러면 4장이 더 좋은 체크포인트를 복원합니다), 터미널에서 `python -m checks 03 --preset best`로 채점하세요.
# 몇 분이 걸리므로, 여기서는 대신 벤치마크가 측정한 결과를 벤치마크가 기록하는 파일(`assets/bench/ch03_limits.json`, 명령과 날짜와 머신 정보가 함께 들어 있습니다)에서 읽어 보여 줍니다. bf16 유닛이 없는 CPU에서는 같은 실행이 fp32로 더 오래 걸립니다.

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
# ## 요약
#
# * 합성곱 층은 `tf.nn.conv2d` + 편향 + ReLU입니다. `SAME` 패딩과 스트라이드 1이면 높이와 너비가 유지되고, 스트라이드 2인 2x2 최대 풀링은 높이와 너비를 절반으로 줄입니다.
# * 모양은 28x28x1 -> 28x28x32 -> 14x14x32 -> 14x14x64 -> 7x7x64 -> 3136 -> 1024 -> 10 순서로 바뀝니다.
# * 드롭아웃은 훈련하는 동안 각 유닛을 확률 `keep_prob`으로 남기고 살아남은 유닛에 `1/keep_prob`을 곱합니다. 평가할 때는 모든 유닛을 남깁니다. TF2의 `rate`는 버리는 비율입니다.
# * 훈련 스텝은 `tf.function`입니다. 그 안에서 호출하는 것은 텐서플로 연산으로 작성해야 합니다.
# * 신경망의 매개변수 330만 개는 거의 모두 완전 연결 층에 있습니다.
# * 손실은 로짓을 받습니다. `softmax_cross_entropy_with_logits`가 소프트맥스를 스스로 적용합니다.
# * `tf.train.Checkpoint(**params)`는 변수를 이름별로 저장하고, 4장은 그 변수를 복원합니다.
# * 기본값으로 남겨 둔 `stddev` 하나가 완전 연결 층의 활성화 값을 10배로 키웁니다. 이것이 도움이 될지 해가 될지는 옵티마이저와 학습률에 달려 있으니 측정해 보세요.
# * 웜업한 뒤 0까지 줄어드는 학습률은 같은 신경망을 원래 글의 10분의 1 스텝 만에 99%에 이르게 합니다. bfloat16은 그 연산 유닛이 있는 CPU에서 각 스텝을 더 빠르게 만듭니다.
#
# 이제 모든 것을 한 번에 검사해 봅시다(훈련된 체크포인트의 정확도를 테스트 세트 전체에서 측정하는 것도 포함됩니다).

# %% tags=["feedback"]
check_all()

# %% [markdown] i18n="exercises"
# ## 연습 문제
#
# 1. 1층을 `VALID` 패딩으로 바꿔 보세요. 어떤 모양이 바뀌고, `FLATTEN_SIZE`는 얼마가 되어야 하나요?
# 2. `KEEP_PROB_TRAIN = 1.0`과 `full` 프리셋으로 훈련해 보세요. 훈련 정확도와 테스트 정확도의 차이가 커지나요?
# 3. 손실에 로짓 대신 `tf.nn.softmax(logits)`를 넘기고 300 스텝 동안 훈련해 보세요. 손실 곡선은 어떻게 되고, 왜 그런가요?
# 4. 2x2 최대 풀링을 스트라이드 2인 합성곱으로 바꿔 보세요. 신경망의 변수는 몇 개 늘어나나요?
