# %% [markdown] i18n="overview"
# # 로컬 Cloud Logging으로 만드는 로그 수집기
#
# ## 개요
#
# 거의 모든 백엔드는 클라이언트에서 로그를 수집해 리포트로 만들어야 합니다.
# 2017년 글 "한시간에 만드는 대용량 로그 수집 시스템"은 코드 수십 줄로 이런 시스템을 만들었습니다.
# Flask API 서버가 로그 한 줄 한 줄을 Google의 관리형 로깅 서비스(당시에는 Stackdriver, 지금은 Cloud Logging)에 넘기면, 이 서비스가 로그를 저장하고, SQL로 다룰 수 있도록 BigQuery로 내보내고, 이벤트별로 처리할 수 있도록 큐로 전달하고, 대시보드를 위해 개수를 셉니다.
# 이 장에서는 같은 시스템을 여러분의 컴퓨터에서 만듭니다.
# 작은 로컬 서비스가 `127.0.0.1`에서 Cloud Logging의 REST API를 제공하므로, 실제 `google-cloud-logging` 클라이언트가 클라우드 계정도 인터넷도 없이 그대로 동작합니다.
#
# 이 장에서 배울 내용은 다음과 같습니다.
#
# * 로그 파이프라인의 전형적인 아키텍처(API 서버, 큐, 컨슈머, 저장소, 리포팅)와, 관리형 서비스가 덜어 주는 일
# * `google.cloud.logging`으로 Flask 서버에서 텍스트 로그 항목과 구조화된 로그 항목을 쓰는 방법
# * Logging 쿼리 언어로 로그 항목을 다시 읽는 방법: 로그 이름, `jsonPayload` 필드, 심각도, has 연산자 `:`, `NOT`, 시간 범위
# * *싱크*가 로그를 BigQuery 방식의 일별 테이블로 내보내고, 그 테이블을 SQL로 쿼리하는 방법
# * 로그 기반 *측정항목*이 대시보드를 위해 항목 수를 세는 방법과, Pub/Sub 방식의 내보내기가 항목이 도착하는 대로 하나씩 여러분의 코드에 넘겨주는 방법
# * 파이프라인이 얼마나 빠른지 직접 측정하고, 원래 글이 부딪혔던 할당량과 비교하는 방법
# * 더 빠르게 서비스하는 방법(백그라운드에서 배치로 쓰기, 워커 프로세스)과, 서버가 비정상 종료될 때 각 방법이 잃는 것
# * 같은 코드를 Google Cloud에 연결하면 달라지는 것과 달라지지 않는 것
#
# **연습 문제 진행 방식.** 아홉 개의 연습 문제(2.1~2.9)는 각각 함수나 값 하나를 채우는 문제입니다.
# 채울 곳에는 `raise NotImplementedError` 또는 `...`가 있습니다.
# 연습 문제마다 아래에 있는 `check("...")` 셀을 실행하면 바로 결과를 볼 수 있습니다.
# 점수로 인정되는 채점은 터미널에서 합니다. `python -m checks 02`는 이 노트북을 새 커널에서 실행하고, *자체* 로깅 서비스를 시작한 다음, 무작위로 고른 데이터로 그 서비스에 대해 여러분의 함수를 호출합니다.
# 검사에 실패하면 힌트가 나옵니다. 처음에는 핵심 아이디어를 보여 주고, 다시 실패할 때마다 단계를 하나씩 더 보여 줍니다(무엇을 찾아보면 되는지).
# `tfbook hint 02 NAME`은 모든 단계를 한 번에 보여 줍니다.
# 예측 문제(2.3)는 여러분이 추측한 값을 적기 전까지는 힌트를 주지 않습니다.
#
# **프리셋.** 부하 테스트의 크기와 시뮬레이션한 대시보드 트래픽의 크기는 `book.toml`에서 활성화된 프리셋이 정합니다(기본값은 `quick`이고, `smoke`는 몇 초, `full`은 몇 분 걸립니다).
# Jupyter를 시작하기 전에 환경 변수 `TFBOOK_PRESET`으로 프리셋을 고르세요.

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
import datetime as dt
import functools
import inspect
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import requests
from flask import Flask, request
from google.cloud.logging import Resource
from google.cloud.logging.handlers import CloudLoggingHandler
from google.cloud.logging.handlers.transports import BackgroundThreadTransport
from matplotlib.patches import FancyBboxPatch
from tqdm.auto import tqdm
from werkzeug.serving import make_server

import cloudlog
import tfbook
from checks import checker

settings = tfbook.preset("02")
check, check_all = checker("02", globals())
RUN_DIR = tfbook.run_dir("02")
PROJECT = "log-collector-demo"
print(f"preset {settings['name']!r}: {settings}; everything this notebook makes goes to {RUN_DIR}")

# %% [markdown] i18n="classic-architecture"
# ## 전형적인 아키텍처
#
# 로그 수집 시스템은 다섯 부분으로 이루어집니다.
# **API 서버**는 클라이언트에서 로그 줄을 받아 정제합니다.
# 저장소가 순간적으로 몰리는 트래픽을 늘 감당할 수 있는 것은 아니므로, 그 사이에 **메시지 큐**(RabbitMQ, Kafka, 또는 SQS나 Pub/Sub 같은 클라우드 큐)를 두어 완충 역할을 하게 합니다.
# **컨슈머**는 자기 속도에 맞춰 큐를 읽어 **로그 저장소**(Hadoop/HBase, Druid나 Drill 같은 SQL 엔진, Elasticsearch)에 쓰고, **리포팅** 도구(Jupyter, Zeppelin, Kibana)가 저장된 로그를 차트로 만듭니다.
# 흔히 쓰는 두 번째 길은 큐를 건너뜁니다. API 서버가 로컬 파일에 로그를 덧붙여 쓰고, Fluentd나 Logstash 같은 수집기가 그 파일을 실어 나릅니다.
#
# 이 중 이해하기 어려운 부분은 없지만, 하나하나가 배우고, 설치하고, 용량을 정하고, 모니터링하고, 업그레이드해야 하는 제품입니다.
# 원래 글의 요점은 관리형 로깅 서비스가 큐와 컨슈머와 저장소를 설정으로 대신한다는 것이었습니다.
# API 서버는 클라이언트 라이브러리 하나만 호출하고, 내보내기가 로그를 BigQuery(SQL), Pub/Sub이나 Dataflow(이벤트별 처리나 스트리밍 작업), 측정항목(대시보드, 알림)으로 보냅니다.
# 통제권을 내주고 비용을 치르는 대신, 운영 부담은 훨씬 줄어들고 바로 그날 오후에 동작하는 시스템을 얻습니다.
# 그림은 세 가지 길, 곧 전통적인 길과 파일 길과 관리형 길을 보여 줍니다.

# %% tags=["extra"]
# extra code: draw the two architectures
def draw_boxes(ax, y, boxes, color):
    centres = []
    for i, label in enumerate(boxes):
        x = 0.2 + i * 1.6
        ax.add_patch(FancyBboxPatch((x, y - 0.3), 1.3, 0.6, boxstyle="round,pad=0.05",
                                    facecolor=color, edgecolor="black"))
        ax.text(x + 0.65, y, label, ha="center", va="center", fontsize=8)
        centres.append((x, x + 1.3))
    for (_, right), (left, _) in zip(centres, centres[1:]):
        ax.annotate("", xy=(left - 0.05, y), xytext=(right + 0.05, y),
                    arrowprops=dict(arrowstyle="->"))


fig, ax = plt.subplots(figsize=(11, 4.2))
draw_boxes(ax, 3.2, ["clients", "API server\n(node, php...)", "message queue\n(Kafka, RabbitMQ)",
                     "consumer\n(threads + timer)", "log storage\n(HBase, Druid,\nElasticsearch)",
                     "reporting\n(Jupyter, Kibana)"], "#f3d9b1")
draw_boxes(ax, 2.0, ["clients", "API server", "log files", "Fluentd /\nLogstash", "log storage",
                     "reporting"], "#eeeeee")
draw_boxes(ax, 0.8, ["clients", "Flask API server\n(this chapter)", "Cloud Logging\n(local: cloudlog)",
                     "sink\n(export)", "BigQuery tables\n(DuckDB here)", "SQL, charts\n(this notebook)"],
           "#c9e3f6")
ax.text(6.6, 0.05, "also from Cloud Logging: Pub/Sub export (per event), log-based metrics (dashboard)",
        ha="center", fontsize=8, style="italic")
for y, title in ((3.62, "classic: you run every box"), (2.42, "the file road"),
                 (1.22, "managed (the post): you run only the API server")):
    ax.text(0.2, y, title, fontsize=9, weight="bold")
ax.set_xlim(0, 9.9)
ax.set_ylim(-0.1, 3.9)
ax.axis("off")
fig.savefig(RUN_DIR / "architecture.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown] i18n="local-service"
# ## 로컬 Cloud Logging
#
# 이 책과 함께 제공되는 `cloudlog` 패키지는 작은 서버입니다. Cloud Logging v2 REST API 중에서 이 장에 필요한 부분(항목 쓰기와 나열, 싱크, 측정항목)을 제공하고, 모든 것을 DuckDB 파일 하나에 보관합니다.
# 이 서버를 백그라운드 스레드에서 비어 있는 포트로 시작합니다. 데이터베이스는 이 장의 실행 폴더 아래에 있으며, 실행할 때마다 빈 상태로 시작합니다.
# 노트북이 시작하는 모든 서버는 `started`라는 목록에 들어가고, `stop_all()`은 가장 최근에 시작한 것부터 이 서버들을 멈춥니다.
# 마지막 셀이 이 함수를 호출하고, 같은 커널에서 노트북을 처음부터 다시 실행할 때는 이 셀도 호출합니다(아직 실행 중인 서비스가 있으면 옛 파일을 연 채로 계속 쓰게 됩니다).

# %% tags=["train"]
if "stop_all" in globals():
    stop_all()  # a re-run in this kernel: stop the previous run's servers before deleting their files
started = []  # a function that stops it, for each server this run starts


def stop_all():
    while started:
        started.pop()()


DB_PATH = RUN_DIR / "logs.duckdb"
for leftover in RUN_DIR.glob("logs.duckdb*"):
    leftover.unlink()  # a fresh start on every run
svc = cloudlog.start_local(DB_PATH)
started.append(svc.stop)
print(svc)

# %% [markdown] i18n="client"
# 클라이언트는 Google이 만든 `google.cloud.logging.Client` 그대로입니다.
# Google Cloud에 연결할 때는 프로젝트 ID만 주어 만들고(사용자 인증 정보는 환경에서 가져옵니다), 로컬 서비스에 연결할 때는 서비스의 주소를 주고 사용자 인증 정보는 주지 않습니다.
# `connect`는 환경 변수 하나, `LOGGING_ENDPOINT`로 어느 쪽인지 고릅니다. 이 변수가 설정되어 있으면 그 값이 로컬 서비스의 주소이고, 설정되어 있지 않으면 클라이언트는 Google Cloud와 통신합니다.
# 노트북은 이 변수를 방금 시작한 서비스의 주소로 설정합니다.

# %% tags=["train"]
def connect(project):
    """The real google.cloud.logging client: local if LOGGING_ENDPOINT is set, Google Cloud if not."""
    endpoint = os.environ.get("LOGGING_ENDPOINT")
    if endpoint:
        import cloudlog
        return cloudlog.client(endpoint, project)
    import google.cloud.logging
    return google.cloud.logging.Client(project=project)


os.environ["LOGGING_ENDPOINT"] = svc.endpoint
logging_client = connect(PROJECT)
print(type(logging_client), "talks to", os.environ["LOGGING_ENDPOINT"])

# %% [markdown] i18n="api-server"
# ## API 서버
#
# 원래 글의 서버에는 라우트가 두 개 있습니다.
# `/`는 `my-flask-log`라는 로그에 텍스트 한 줄을 쓰고, `/slog`는 `name`, `text`, `key` 필드가 있는 작은 JSON 객체인 *구조화된* 항목을 `struct_log`라는 로그에 씁니다.
# *로거*는 로그 이름 하나를 가리키는 클라이언트의 핸들입니다. 나중에 필터링하고 내보낼 때 기준이 되는 것이 이 이름이므로, 원래 글은 두 종류의 항목을 따로 두었습니다.
# 텍스트 항목은 Cloud Logging에 `textPayload`로, 구조화된 항목은 `jsonPayload`로 도착하며, `jsonPayload`의 필드는 하나하나 따로 쿼리할 수 있습니다.
#
# 여기서는 Flask `app`과 `logging_client`를 받는 함수가 각 라우트를 추가합니다. 그래서 같은 코드가 어떤 클라이언트에 대해서도 동작합니다(채점기는 자체 서비스에 연결된 클라이언트를 여러분의 함수에 넘깁니다).
#
# ### 연습 문제 2.1: text_endpoint
#
# `add_text_route(app, logging_client)`를 작성하세요.
# 이 함수는 `app`에 라우트 `/`를 등록합니다.
# 뷰 함수는 요청의 쿼리 매개변수 `text`에서 텍스트를 가져오고, 그 매개변수가 없으면 원래 글처럼 텍스트를 만들어 냅니다(`"This is random log "` 뒤에 새 uuid를 붙입니다).
# 그 텍스트를 `my-flask-log` 로그에 *텍스트* 항목으로 쓰고, 같은 텍스트를 응답으로 반환합니다.

# %% tags=["exercise"]
def add_text_route(app, logging_client):
    ### BEGIN SOLUTION
    text_logger = logging_client.logger("my-flask-log")

    @app.route("/")
    def text_log():
        text = request.args.get("text") or f"This is random log {uuid.uuid4()}"
        text_logger.log_text(text)
        return text
    ### END SOLUTION


# %% tags=["feedback"]
check("text_endpoint")

# %% [markdown] i18n="exercise-2-2-struct-endpoint"
# ### 연습 문제 2.2: struct_endpoint
#
# `add_struct_route(app, logging_client)`를 작성하세요.
# 이 함수는 `/slog`를 등록합니다.
# 뷰 함수는 쿼리 매개변수 `name`, `text`, `key`를 읽고(기본값은 원래 글의 값인 `"myterry"`, `"This is struct log "` 뒤에 새 uuid를 붙인 것, `"mykey"`입니다), 정확히 이 세 필드가 있는 *구조화된* 항목 하나로 `struct_log` 로그에 쓴 다음, 텍스트를 반환합니다.

# %% tags=["exercise"]
def add_struct_route(app, logging_client):
    ### BEGIN SOLUTION
    struct_logger = logging_client.logger("struct_log")

    @app.route("/slog")
    def struct_log():
        text = request.args.get("text") or f"This is struct log {uuid.uuid4()}"
        struct_logger.log_struct({"name": request.args.get("name", "myterry"), "text": text,
                                  "key": request.args.get("key", "mykey")})
        return text
    ### END SOLUTION


# %% tags=["feedback"]
check("struct_endpoint")

# %% [markdown] i18n="create-app"
# 애플리케이션 자체는 두 라우트를 한데 모으는 팩토리입니다.
# 원래 글은 `app.run('0.0.0.0', 7001)`로 앱을 실행했는데, 이 호출은 실행을 붙잡아 둔 채(블로킹) 모든 네트워크 인터페이스에서 요청을 기다립니다.
# 노트북은 셀의 실행이 끝나야 다음 셀로 넘어갈 수 있고, 여기서 띄운 것은 어느 것도 다른 컴퓨터에서 접근할 수 있어서는 안 됩니다.
# 그래서 앱을 `127.0.0.1`의 백그라운드 스레드에서 서비스하고, 비어 있는 포트는 운영체제가 고르게 합니다(노트북 두 개를 띄우거나 두 번째로 실행해도 7001번 포트에서 충돌하는 일이 없습니다).

# %% tags=["support", "train"]
def create_app(logging_client):
    app = Flask("log_collector")
    add_text_route(app, logging_client)
    add_struct_route(app, logging_client)
    return app


def serve_in_thread(app, thread_name):
    """Serve app on 127.0.0.1 (a free port) from a background thread: (server, a function that
    stops it). stop_all() stops it too."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=thread_name, daemon=True)
    thread.start()

    def stop():
        server.shutdown()      # returns once serve_forever has ended
        server.server_close()  # frees the port
        thread.join(timeout=10)
    started.append(stop)
    return server, stop


app = create_app(logging_client)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # Python's logging: no access log line per request
server, _ = serve_in_thread(app, "flask-log-server")
BASE_URL = f"http://127.0.0.1:{server.server_port}"
print(f"the log API server listens on {BASE_URL} (the post used port 7001)")

# %% [markdown] i18n="sample-requests"
# 클라이언트처럼 `requests`로 서버를 호출해 봅시다.
# 어떤 텍스트에는 (`ls -a`처럼) `-a` 옵션이 들어 있습니다. 원래 글은 나중에 필터, 측정항목, 차트로 바로 이 항목들을 골라냅니다.
#
# 원래 글의 기본 텍스트에는 함정이 하나 있습니다.
# uuid는 16진수 숫자 묶음을 `-`로 이은 것이므로, 첫 번째 묶음 다음의 어느 묶음이든 `a`로 시작하면 만들어진 텍스트에 `"-a"`가 들어갑니다. 기본 텍스트 세 개 중 하나 정도가 그렇습니다(네 번째 묶음은 항상 8, 9, a, b 중 하나로 시작합니다).
# 그런 항목은 아무도 `-a`를 입력하지 않았는데도 아래의 모든 필터, 테이블, 측정항목에서 `-a` 항목으로 세어집니다.
# 아래의 마지막 요청은 기본값을 쓰고, 그 uuid가 그런 경우인지 알려 줍니다.

# %% tags=["train"]
written = Counter()  # entries this notebook wrote, per log (for the summary at the end)
print(requests.get(f"{BASE_URL}/").text)
print(requests.get(f"{BASE_URL}/", params={"text": "GET /index.html 200"}).text)
written["my-flask-log"] += 2
samples = [("ann", "ls -a", "web"), ("bob", "git commit -a", "web"), ("cho", "ls -l", "batch"),
           ("dan", "This is struct log, nothing special", "web"), ("eve", "grep -a pattern", "batch"),
           ("fay", "tar -xzf logs.tgz", "mobile")]
for name, text, key in samples:
    reply = requests.get(f"{BASE_URL}/slog", params={"name": name, "text": text, "key": key})
    assert reply.status_code == 200, reply.text
default_text = requests.get(f"{BASE_URL}/slog").text  # the post's defaults
print(default_text, '<- contains "-a": counted as an -a entry below' if "-a" in default_text else "")
written["struct_log"] += len(samples) + 1

# %% [markdown] i18n="viewing-entries"
# ## 항목 보기
#
# `logging_client.list_entries(filter_=...)`는 필터가 선택한 항목을 반환하며, 따로 요청하지 않으면 가장 최근 항목이 마지막에 옵니다.
# 필터는 로그 탐색기의 검색창과 같은 쿼리 언어로 씁니다.
# 다음의 작은 헬퍼 함수는 필터가 선택한 항목을 출력합니다.

# %% tags=["train"]
def log_id(entry):
    return entry.log_name.rsplit("/", 1)[-1]


def show(filter_, limit=6):
    entries = list(logging_client.list_entries(filter_=filter_, page_size=1000))
    print(f"{filter_!r}: {len(entries)} entries")
    for entry in entries[:limit]:
        payload = entry.payload if isinstance(entry.payload, str) else json.dumps(entry.payload)
        print(f"    {log_id(entry):13} {entry.severity or 'DEFAULT':8} {payload[:70]}")
    return entries


STRUCT = f'logName="projects/{PROJECT}/logs/struct_log"'
_ = show(f'logName="projects/{PROJECT}/logs/my-flask-log"')
_ = show(STRUCT)

# %% [markdown] i18n="log-names-and-operators"
# 로그 이름은 항상 `projects/PROJECT/logs/LOG_ID` 형식입니다.
# `struct_log`나 `my-flask-log`에 여러분이 쓰지 않은 항목이 하나 보일 수 있습니다. 프로세스가 처음으로 로그를 쓸 때 클라이언트 라이브러리가 *진단* 항목(자신의 버전)을 추가하기 때문입니다.
# 구조화된 필드는 점으로 이어서 가리키고, `AND`, `OR`, `NOT`(대문자)으로 조건을 조합합니다. 두 조건을 나란히 쓰면 `AND`라는 뜻입니다.
# 소문자로 쓴 `and`, `or`, `not`은 검색할 단어로 취급됩니다. 그래서 이들을 연산자로 쓴 필터는 아무 경고 없이 (거의) 아무것도 선택하지 않습니다. Google Cloud에서도 여기서와 마찬가지입니다.
# 심각도가 있는 항목을 몇 개 추가한 다음 연산자를 사용해 봅시다.
# 이제부터 노트북은 자기 항목을 로거 없이 씁니다. `send_entries`가 클라이언트의 `logging_api`로 `entries:write` 요청을 직접 보내고, 각 항목은 REST API의 형태를 따르는 딕셔너리입니다. 그 `jsonPayload`와 `severity`가 바로 필터가 가리키는 필드입니다.

# %% tags=["train"]
def send_entries(client, project, log_id, entries):
    """One entries:write request through client: entries (dicts in the REST API's shape) into
    the log log_id of project."""
    client.logging_api.write_entries(entries, logger_name=f"projects/{project}/logs/{log_id}",
                                     resource={"type": "global"})


send_entries(logging_client, PROJECT, "struct_log",
             [{"jsonPayload": {"name": name, "text": text, "key": key}, "severity": severity}
              for name, text, key, severity in [("gil", "disk -a almost full", "batch", "WARNING"),
                                                ("hal", "timeout calling payments", "web", "ERROR"),
                                                ("ivy", "retrying -a", "web", "INFO"),
                                                ("jon", "crash in worker 3", "web2", "CRITICAL")]])
written["struct_log"] += 4

_ = show(f'{STRUCT} jsonPayload.key="web"')          # equality: the whole value
_ = show(f'{STRUCT} jsonPayload.key:"web"')          # has: a substring, so web2 too
_ = show(f"{STRUCT} severity>=WARNING")              # severities are ordered
_ = show(f'{STRUCT} jsonPayload.text:"crash"')       # has, on a field of jsonPayload

# %% [markdown] i18n="filter-details"
# 세 가지 세부 사항이 중요합니다.
# `=`는 값 전체를 비교하고, `:`("has")는 부분 문자열을 찾습니다. 둘 다 대소문자를 구분하지 않습니다.
# 값 `"-a"`는 따옴표로 감싸세요. 따옴표 없이 어떤 항 앞에 `-`가 붙으면 `NOT`이라는 뜻이 됩니다(따옴표 없는 `-a`는 "a"가 들어 있지 *않은* 항목을 선택합니다).
# 그리고 `NOT`(또는 `-`)은 *모든* 항목에 대해 조건을 뒤집습니다. 그 필드가 아예 없는 항목도 마찬가지입니다.
#
# ### 연습 문제 2.3: predict_not
#
# 다음 셀을 실행하기 전에 먼저 예측해 보세요.
# 새 프로젝트에 항목이 아홉 개 있습니다. `my-flask-log`에는 텍스트 항목 네 개(그중 하나는 `"ls -a"`)가 있고, `struct_log`에는 구조화된 항목 다섯 개가 있는데 그중 두 개의 텍스트에 `-a`가 들어 있습니다.
# 모든 로그를 통틀어 필터 `NOT jsonPayload.text:"-a"`는 항목을 몇 개 선택할까요?
# `PREDICTED_NOT_COUNT`에 여러분이 예측한 수를 넣으세요.

# %% tags=["exercise"]
### BEGIN SOLUTION
PREDICTED_NOT_COUNT = 7
### END SOLUTION

# %% tags=["feedback"]
check("predict_not")

# %% tags=["train"]
# extra code: the experiment, in a separate project so that nothing else interferes
demo = connect("predict-demo")
send_entries(demo, "predict-demo", "my-flask-log",
             [{"textPayload": text} for text in ("ls -a", "GET /", "GET /about", "POST /login")])
send_entries(demo, "predict-demo", "struct_log",
             [{"jsonPayload": {"name": "demo", "text": text, "key": "k"}}
              for text in ("ls -a", "git commit -a", "ls -l", "cd /tmp", "make")])
selected = list(demo.list_entries(resource_names=["projects/predict-demo"],
                                  filter_='NOT jsonPayload.text:"-a"'))
print(f"selected {len(selected)}:", [e.payload if isinstance(e.payload, str) else e.payload.get("text")
                                     for e in selected])

# %% [markdown] i18n="not-and-missing-fields"
# 텍스트 항목에는 `jsonPayload.text`가 없으므로 네 항목 모두에서 조건은 거짓이고(`-a`가 `textPayload`에 들어 있는 `"ls -a"`도 마찬가지입니다), `NOT`이 이를 참으로 바꿉니다.
# "-a가 없는 struct_log 항목"을 찾으려면 로그 이름도 함께 지정하세요.
# 이제 이 장의 나머지 부분에 필요한 필터 세 개를 작성합니다.
# 각 필터는 주어진 프로젝트에 대한 필터 문자열을 반환하는 함수이므로, 어떤 프로젝트에서도 동작합니다(채점기는 자체 프로젝트를 씁니다).
#
# ### 연습 문제 2.4: minus_a_filter
#
# `minus_a_filter(project)`를 작성하세요. `project`에 있는 `struct_log` 로그의 항목 중에서 `jsonPayload.text`의 어느 위치에든 `-a`가 들어 있는 항목을 선택하는 필터를 반환합니다.

# %% tags=["exercise"]
def minus_a_filter(project):
    ### BEGIN SOLUTION
    return f'logName="projects/{project}/logs/struct_log" AND jsonPayload.text:"-a"'
    ### END SOLUTION


# %% tags=["train"]
check("minus_a_filter")
_ = show(minus_a_filter(PROJECT))

# %% [markdown] i18n="exercise-2-5-key-alert-filter"
# ### 연습 문제 2.5: key_alert_filter
#
# `key_alert_filter(project, key)`를 작성하세요. `project`의 `struct_log` 항목 중에서 `jsonPayload.key`가 정확히 `key`이고(단지 `key`를 포함하는 것이 아니라) 심각도가 `WARNING` 이상인 항목을 선택하는 필터를 반환합니다.

# %% tags=["exercise"]
def key_alert_filter(project, key):
    ### BEGIN SOLUTION
    return f'logName="projects/{project}/logs/struct_log" jsonPayload.key="{key}" severity>=WARNING'
    ### END SOLUTION


# %% tags=["train"]
check("key_alert_filter")
_ = show(key_alert_filter(PROJECT, "web"))

# %% [markdown] i18n="time-windows"
# 시간은 RFC 3339 형식으로 씁니다. 예를 들면 `timestamp>="2026-11-28T09:00:00Z"`이며, 시간으로서 비교됩니다.
# 시간을 기록해 두고, 두 번째 배치로 항목을 쓴 다음, 그 시간 범위를 살펴봅시다.

# %% tags=["train"]
def rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


window_start = dt.datetime.now(dt.timezone.utc)
for i, text in enumerate(["late -a entry", "late entry", "another late entry"]):
    requests.get(f"{BASE_URL}/slog", params={"name": f"late{i}", "text": text, "key": "web"})
written["struct_log"] += 3
window_end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
_ = show(f'{STRUCT} timestamp>="{rfc3339(window_start)}" timestamp<"{rfc3339(window_end)}"')

# %% [markdown] i18n="exercise-2-6-window-filter"
# ### 연습 문제 2.6: window_filter
#
# `window_filter(project, start, end)`를 작성하세요. `start`와 `end`는 RFC 3339 문자열입니다.
# `project`의 `struct_log` 항목 중에서 `start`부터(포함) `end`까지(제외) 쓰였고, 텍스트에 `-a`가 들어 있지 **않은** 항목을 선택하는 필터를 반환합니다.

# %% tags=["exercise"]
def window_filter(project, start, end):
    ### BEGIN SOLUTION
    return (f'logName="projects/{project}/logs/struct_log" timestamp>="{start}" '
            f'timestamp<"{end}" -jsonPayload.text:"-a"')
    ### END SOLUTION


# %% tags=["train"]
check("window_filter")
_ = show(window_filter(PROJECT, rfc3339(window_start), rfc3339(window_end)))

# %% [markdown] i18n="export-to-bigquery"
# ## BigQuery로 내보내기
#
# 원래 글의 다음 단계는 *내보내기*였습니다. **싱크**에는 필터와 대상이 있고, 싱크가 생긴 순간부터 서비스는 조건에 맞는 새 항목을 모두 그 대상으로 복사합니다.
# 대상이 BigQuery(`bigquery.googleapis.com/projects/PROJECT/datasets/DATASET`)이면 각 로그는 하루에 테이블 하나씩을 얻고, 테이블 이름은 로그 ID와 UTC 날짜로 정해집니다.
# 원래 글의 `struct_log`는 `structlog.struct_log_YYYYMMDD`에 들어가고, `jsonPayload`의 필드는 `jsonPayload.name`, `jsonPayload.key`, `jsonPayload.text` 열이 됩니다.
# 로컬에서는 "BigQuery"가 서비스 파일 안의 DuckDB 스키마이며, `svc.query`로 쿼리합니다.
#
# ### 연습 문제 2.7: create_sink
#
# `create_struct_sink(logging_client)`를 작성하세요.
# `struct_log` 로그의 항목만(다른 것은 빼고) 클라이언트 자신의 프로젝트에 있는 BigQuery 데이터 세트 `structlog`로 내보내는, `struct-log-to-bigquery`라는 이름의 싱크를 만들고 그 싱크를 반환합니다.

# %% tags=["exercise"]
def create_struct_sink(logging_client):
    ### BEGIN SOLUTION
    project = logging_client.project
    sink = logging_client.sink(
        "struct-log-to-bigquery",
        filter_=f'logName="projects/{project}/logs/struct_log"',
        destination=f"bigquery.googleapis.com/projects/{project}/datasets/structlog")
    sink.create()
    return sink
    ### END SOLUTION


# %% tags=["feedback"]
check("create_sink")

# %% tags=["train"]
sink = create_struct_sink(logging_client)
print(f"sink {sink.name}: {sink.filter_!r} -> {sink.destination}")
print("writer identity:", sink.writer_identity)

# %% [markdown] i18n="daily-table"
# (이 셀을 두 번 실행하면 `Conflict`(HTTP 409)가 발생합니다. Google Cloud에서와 마찬가지로 싱크가 이미 있기 때문입니다. 새 서비스로 시작하려면 노트북을 처음부터 다시 실행하세요. 서비스를 시작하는 셀이 먼저 옛 서비스를 멈춥니다.)
#
# 싱크는 만들어진 뒤에 도착한 항목만 내보냅니다. 그러니 API 서버를 통해 트래픽을 조금 더 보낸 다음, 그날의 테이블을 살펴봅시다.
# `bq`는 프로젝트 안에서 BigQuery 방식의 SQL을 실행합니다. `structlog.struct_log_20261128` 같은 이름은 BigQuery가 기본 프로젝트에서 이름을 찾듯이 이 프로젝트 안에서 해석됩니다.

# %% tags=["train"]
def bq(sql):
    """SQL on the exported tables of PROJECT (project-scoped where the service supports it)."""
    try:
        return svc.query(sql, project=PROJECT)
    except TypeError as e:  # an older service: one global set of datasets
        if "project" not in str(e):
            raise
        return svc.query(sql)


keys = ["web", "batch", "mobile"]
traffic = random.Random(settings["seed"])  # the same traffic on every run
for i in range(30):
    text = f"{'ls -a' if traffic.random() < 0.4 else 'ls -l'} #{i}"
    requests.get(f"{BASE_URL}/slog", params={"name": f"user{i % 7}", "text": text, "key": traffic.choice(keys)})
written["struct_log"] += 30
svc.drain()  # locally, wait until the exports ran (BigQuery streaming takes a few seconds too)

today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
TABLE = f"structlog.struct_log_{today.replace('-', '')}"
for row in bq(f"SELECT timestamp, jsonPayload.name, jsonPayload.key, jsonPayload.text FROM {TABLE} "
              "ORDER BY timestamp LIMIT 5"):
    print(row)

# %% [markdown] i18n="wildcard-tables"
# BigQuery에서는 보통 이런 이름을 `` `structlog.struct_log_20261128` ``처럼 백틱으로 감싸서 쓰고(또는 앞에 프로젝트를 붙여서), 여러 날을 한 번에 읽을 때는 *와일드카드 테이블*을 씁니다.
# `` `structlog.struct_log_*` ``는 이름이 `struct_log_`로 시작하는 모든 테이블을 나타내고, 유사 열 `_TABLE_SUFFIX`에는 `*`에 해당한 부분, 여기서는 날짜가 들어 있습니다. 그래서 이 열에 `WHERE`를 걸면 원하는 날짜를 고를 수 있습니다.
# `bq`는 두 형식을 모두 받아들입니다.

# %% tags=["train"]
for day, entries in bq("SELECT _TABLE_SUFFIX AS day, COUNT(*) AS entries FROM `structlog.struct_log_*` "
                       "GROUP BY day ORDER BY day"):
    print(f"struct_log_{day}: {entries} rows")

# %% [markdown] i18n="exercise-2-8-daily-sql"
# ### 연습 문제 2.8: daily_sql
#
# `key_report_sql(day)`를 작성하세요. `day`는 `"YYYY-MM-DD"` 형식으로 쓴 날짜입니다.
# 이 함수는 그날의 `struct_log` 테이블을 읽어 `jsonPayload.key`마다 한 행을 내놓는 SQL을 반환합니다. 각 행에는 열이 세 개 있습니다. 키, 항목 수, 그리고 텍스트에 `-a`가 들어 있는 항목 수입니다.
# (BigQuery와 DuckDB 모두 `COUNTIF(condition)`과 `LIKE`를 지원합니다.)

# %% tags=["exercise"]
def key_report_sql(day):
    ### BEGIN SOLUTION
    table = f"structlog.struct_log_{day.replace('-', '')}"
    return (f"SELECT jsonPayload.key AS key, COUNT(*) AS entries, "
            f"COUNTIF(jsonPayload.text LIKE '%-a%') AS minus_a "
            f"FROM {table} GROUP BY jsonPayload.key ORDER BY key")
    ### END SOLUTION


# %% tags=["train"]
check("daily_sql")
for key, entries, minus_a in bq(key_report_sql(today)):
    print(f"{key:8} {entries:4} entries, {minus_a:3} with -a")

# %% [markdown] i18n="metric-and-dashboard"
# ## 측정항목과 대시보드
#
# 로그 기반 **측정항목**은 필터와 일치하는 항목을, 측정항목이 만들어진 때부터 셉니다.
# 원래 글은 두 측정항목을 나란히 차트로 그렸습니다. 모든 `struct_log` 항목의 수와, 그중 텍스트에 `-a`가 들어 있는 항목의 수입니다.
# Cloud Monitoring은 이런 차트를 그리고 차트를 기준으로 알림을 보낼 수 있습니다. 로컬에서는 `svc.metric_series(name, bucket_seconds)`가 시간 버킷별 개수를 matplotlib에 바로 쓸 수 있는 형태로 반환합니다.
#
# ### 연습 문제 2.9: minus_a_metric
#
# `create_minus_a_metric(logging_client)`를 작성하세요.
# 클라이언트의 프로젝트에서 텍스트에 `-a`가 들어 있는 `struct_log` 항목을 세는, `struct_log_minus_a`라는 이름의 카운터 측정항목을 만들고 그 측정항목을 반환합니다.

# %% tags=["exercise"]
def create_minus_a_metric(logging_client):
    ### BEGIN SOLUTION
    metric = logging_client.metric("struct_log_minus_a", filter_=minus_a_filter(logging_client.project),
                                   description="struct_log entries whose text contains -a")
    metric.create()
    return metric
    ### END SOLUTION


# %% tags=["feedback"]
check("minus_a_metric")

# %% [markdown] i18n="replay-traffic"
# 두 측정항목을 만든 다음, 일정 시간 동안의 트래픽을 재현합니다.
# 모든 `struct_log` 항목을 세는 측정항목은 노트북이 클라이언트의 `metrics_api`로 만드는데, 항목을 쓸 때처럼 REST 요청을 직접 보냅니다.
# 최근 `dashboard_minutes`분 동안 1분마다 무작위 개수의 항목이 그 1분 안의 타임스탬프로 기록되며, 중간에는 `-a` 항목이 한꺼번에 몰립니다.
# (측정항목은 항목 자신의 타임스탬프를 기준으로 버킷을 나누므로, 실제로는 1초 만에 쓰더라도 차트에는 시뮬레이션한 시간대가 나타납니다.)
# 항목은 모두 `entries:write` 요청 하나로 서비스에 전달됩니다. 요청 하나에 항목을 여러 개 담을 수 있습니다.

# %% tags=["train"]
metric_created = dt.datetime.now(dt.timezone.utc)  # a metric counts what arrives from now on
logging_client.metrics_api.metric_create(PROJECT, "struct_log_all", STRUCT, "every struct_log entry")
minus_a_metric = create_minus_a_metric(logging_client)

rng = random.Random(settings["seed"])
minutes = settings["dashboard_minutes"]
start_minute = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)
replay = []
for m in range(minutes):
    burst = minutes // 3 <= m < minutes // 2
    for _ in range(rng.randint(settings["dashboard_rate"] // 2, settings["dashboard_rate"])):
        minus_a = rng.random() < (0.6 if burst else 0.15)
        when = start_minute + dt.timedelta(minutes=m, seconds=rng.uniform(0, 59.9))
        replay.append({"jsonPayload": {"name": f"user{rng.randrange(20)}", "text": "ls -a" if minus_a else "ls -l",
                                       "key": rng.choice(keys)}, "timestamp": rfc3339(when)})
        written["struct_log"] += 1
send_entries(logging_client, PROJECT, "struct_log", replay)
svc.drain()

end_minute = start_minute + dt.timedelta(minutes=minutes)  # the minute now under way: not simulated
# [start_minute, end_minute): end is exclusive, so the chart stops at the last simulated minute
series = {name: svc.metric_series(name, bucket_seconds=60, project=PROJECT, start=start_minute, end=end_minute)
          for name in ("struct_log_all", "struct_log_minus_a")}
print({name: sum(count for _, count in points) for name, points in series.items()})

# %% tags=["extra"]
# extra code: the dashboard chart
fig, ax = plt.subplots(figsize=(9, 3.2))
for name, label in (("struct_log_all", "all struct_log entries"), ("struct_log_minus_a", 'entries containing "-a"')):
    times, counts = zip(*series[name])
    # each count holds for its whole minute: the last one up to end_minute
    ax.step([*times, end_minute], [*counts, counts[-1]], where="post", label=label)
ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=dt.timezone.utc))
ax.set_xlabel("minute (UTC), the entries' own timestamps")
ax.set_ylabel("entries per minute")
ax.set_ylim(bottom=0)
ax.set_title("log-based metrics, per minute")
ax.legend()
fig.autofmt_xdate()
fig.savefig(RUN_DIR / "dashboard.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown] i18n="sql-versus-metric"
# 같은 차트를 내보낸 테이블에서 분 단위 `GROUP BY`로 만들 수도 있습니다(BigQuery에서는 `TIMESTAMP_TRUNC(timestamp, MINUTE)`, DuckDB에서는 `date_trunc('minute', timestamp)`로 씁니다).
# 와일드카드 테이블은 모든 날짜를 읽으므로, UTC 자정을 넘어가는 시간 범위도 빠짐없이 다룹니다.
# SQL과 측정항목의 결과는 일치할까요? 항상 그렇지는 않습니다.
# 측정항목은 자신이 만들어진 뒤에 도착한 항목만 세지만, 테이블에는 측정항목이 생기기 전에 내보낸 `-a` 항목도 들어 있고, 그중 타임스탬프가 시간 범위 안에 드는 항목은 SQL이 셉니다.
# 셀을 하나씩 실행하면 이런 일이 생기고(위의 `ls -a #i` 요청은 몇 분 전에 쓰였습니다), 모두 실행(Run All)할 때도 그 사이에 분 경계가 지나가면 생깁니다.
# 서비스가 항목을 받은 시간인 `receiveTimestamp`로 둘을 구분할 수 있습니다. 측정항목이 만들어진 때부터 세면 SQL의 결과는 측정항목과 일치합니다.

# %% tags=["train"]
window = f"timestamp >= '{rfc3339(start_minute)}' AND timestamp < '{rfc3339(end_minute)}'"
per_minute = bq(f"SELECT date_trunc('minute', timestamp) AS minute, COUNT(*) AS entries, "
                f"COUNTIF(jsonPayload.text LIKE '%-a%') AS minus_a, "
                f"COUNTIF(jsonPayload.text LIKE '%-a%' AND receiveTimestamp >= '{rfc3339(metric_created)}') "
                f"AS minus_a_after FROM `structlog.struct_log_*` WHERE {window} GROUP BY minute ORDER BY minute")
metric_total = sum(c for _, c in series["struct_log_minus_a"])
print(f"{len(per_minute)} minutes with rows; -a entries in the window by SQL: {sum(r[2] for r in per_minute)}, "
      f"of which received since the metric existed: {sum(r[3] for r in per_minute)}; "
      f"the metric counted {metric_total}")

# %% [markdown] i18n="pubsub-export"
# ## 이벤트별 처리: Pub/Sub 경로
#
# 싱크는 각 항목을 Pub/Sub 주제로 보낼 수도 있습니다. 그러면 구독자(Cloud Function, Dataflow 작업)가 중간에 테이블 없이, 항목이 도착하는 대로 하나씩 처리합니다.
# 전형적인 아키텍처에서 큐와 컨슈머가 맡던 절반을 다른 누군가가 운영해 주는 셈입니다.
# 로컬에서는 `svc.subscribe(topic, callback)`이 싱크가 게시하는 모든 항목에 대해 `callback(entry)`를 호출하며, 항목은 REST API의 형태를 따르는 딕셔너리로 전달됩니다.
# 아래 셀은 클라이언트의 `sinks_api`로 이 싱크를 만듭니다. REST 요청을 직접 보내는 방법으로, 상위 프로젝트, 이름, 필터, 대상을 넘깁니다.

# %% tags=["train"]
TOPIC = f"projects/{PROJECT}/topics/struct-log-events"
logging_client.sinks_api.sink_create(f"projects/{PROJECT}", "struct-log-events", STRUCT,
                                     f"pubsub.googleapis.com/{TOPIC}")
minus_a_per_key, lock = Counter(), threading.Lock()


def on_entry(entry):
    payload = entry.get("jsonPayload", {})
    if "-a" in payload.get("text", ""):
        with lock:
            minus_a_per_key[payload.get("key")] += 1


svc.subscribe(TOPIC, on_entry)
for i in range(20):
    requests.get(f"{BASE_URL}/slog", params={"name": "sub", "text": "ls -a" if i % 4 else "ls", "key": keys[i % 3]})
written["struct_log"] += 20
svc.drain()
print("-a entries per key, counted as they arrived:", dict(minus_a_per_key))

# %% [markdown] i18n="how-fast"
# ## 얼마나 빠를까요?
#
# 원래 글은 "초당 500건 이상"을 약속했다가 나중에 스스로 정정했습니다.
# BigQuery 스트리밍은 테이블당 초당 약 100,000행을 받아들이지만, 로깅 서비스의 쓰기 할당량 때문에 프로젝트 하나는 초당 약 500개 항목, 하루 약 2,500만 개로 제한되었습니다.
# 이 컴퓨터에서 세 가지 경로를 측정해 봅시다(크기는 프리셋에서 정합니다).
#
# * **API 서버를 거쳐서**: HTTP 요청 -> Flask -> `log_struct` -> 확인 응답. 실제 현장의 클라이언트처럼 클라이언트 스레드 네 개로 보냅니다.
# * **요청 하나에 항목 하나, 직접**: 노트북에서 항목마다 `entries:write`를 한 번씩 보냅니다(`send_entries`, 로거의 `log_struct`가 보내는 바로 그 요청). 중간에 Flask는 없습니다.
# * **배치**: `entries:write` 하나에 항목 `batch_size`개를 담습니다(로거의 `batch()`가 하는 것처럼).
#
# 모든 것(클라이언트, Flask, 로깅 서비스, DuckDB)이 이 컴퓨터의 코어를 나누어 쓰므로, 이 숫자는 각 부분이 자기 컴퓨터를 따로 갖는 실제 배포 환경에서 기대할 수 있는 최저치입니다.

# %% tags=["train"]
def load_through_flask(n, threads, url=None, name="load", desc="through Flask"):
    """n requests to url (the chapter's /slog) from `threads` clients: (entries acknowledged, seconds)."""
    url = url or f"{BASE_URL}/slog"
    local = threading.local()

    def one(i):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        reply = local.session.get(url, params={"name": f"{name}{i % 50}",
                                               "text": "load -a" if i % 5 == 0 else "load", "key": keys[i % 3]})
        return reply.status_code == 200

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool, tqdm(total=n, desc=desc, unit="entry") as bar:
        ok = 0
        for success in pool.map(one, range(n)):
            ok += success
            bar.update()
    return ok, time.perf_counter() - t0


def load_direct(n, batch_size):
    """n entries written from the notebook, batch_size per entries:write request: (entries, seconds)."""
    t0 = time.perf_counter()
    with tqdm(total=n, desc=f"direct, {batch_size} per request", unit="entry") as bar:
        for first in range(0, n, batch_size):
            size = min(batch_size, n - first)
            if batch_size == 1:
                entries = [{"jsonPayload": {"name": "direct", "text": "direct", "key": "web"}}]
            else:
                entries = [{"jsonPayload": {"name": "direct", "text": "direct -a" if i % 5 == 0 else "direct",
                                            "key": keys[i % 3]}} for i in range(size)]
            send_entries(logging_client, PROJECT, "struct_log", entries)
            bar.update(size)
    return n, time.perf_counter() - t0


load = {}
load["through Flask, 4 client threads"] = load_through_flask(settings["load_flask"], 4)
load["direct, 1 entry per request"] = load_direct(settings["load_single"], 1)
load["direct, batches of 500"] = load_direct(settings["load_batched"], 500)
written["struct_log"] += sum(n for n, _ in load.values())

QUOTA = 500  # entries/s per project, the post's write quota
print(f"{'path':34} {'entries':>8} {'seconds':>8} {'entries/s':>10} {'x 500/s quota':>14} {'per day':>12}")
rates = {}
for path, (n, seconds) in load.items():
    rates[path] = n / seconds
    print(f"{path:34} {n:8,} {seconds:8.2f} {rates[path]:10,.0f} {rates[path] / QUOTA:13.1f}x "
          f"{rates[path] * 86400 / 1e6:10.1f} M")
print("post's figures: 500 entries/s write quota, 25 M entries/day, 100,000 rows/s BigQuery streaming per table")

# %% [markdown] i18n="what-the-numbers-mean"
# 이 숫자가 뜻하는 바는 이렇습니다.
# 초당 500개 항목이 계속 이어지면 하루 4,300만 개가 되므로, 원래 글의 두 한도 중 더 빡빡한 쪽은 하루 2,500만 개였습니다. 평균으로 따지면 초당 약 290개입니다.
# 클라이언트, Flask, 로깅 서비스가 코어를 나누어 쓰는 2코어 랩톱에서는 요청 하나에 항목 하나를 쓰는 경로가 초당 수백 개 수준으로, 원래 글의 할당량 근처에 머뭅니다.
# 이 경로들이 쓰는 것은 저장소가 아니라 요청당 CPU입니다(두 구간의 HTTP 파싱, JSON, 클라이언트 라이브러리. `python -m bench.bench_ch02`는 2코어에서 항목당 CPU 3.96ms를 측정했고, 그중 Flask가 2.63, 로깅 서비스가 1.12, 부하 생성기가 0.21이었습니다).
# 실제 배포에서는 컴퓨터를 늘리고(App Engine은 트래픽이 늘면 인스턴스를 더 시작합니다), 배치 처리가 항목당 비용의 대부분을 없앱니다. 항목 500개를 담은 요청 하나는 항목당으로 따지면 몇 배나 빠릅니다.
# 버퍼에 모았다가 한꺼번에 보내는 수집기(Fluentd, 클라이언트 라이브러리의 백그라운드 전송)가 훨씬 높은 처리량을 내는 이유가 여기에 있습니다.
# BigQuery의 테이블당 초당 100,000행은 여기의 어떤 경로보다도 훨씬 높습니다. Google Cloud에서 한계는 저장소가 아니라 할당량이었고, 할당량을 늘리는 일은 엔지니어링 프로젝트가 아니라 지원 요청 한 번이면 됩니다.

# %% [markdown] i18n="serving-faster"
# ## 더 빠르게 서비스하기
#
# 원래 글의 서버도, 여러분의 서버도 요청마다 항목 하나를 쓰고 서비스가 그 항목을 받은 뒤에 응답합니다.
# 요청마다 `entries:write` 한 번의 비용 전체(두 번째 HTTP 요청, JSON, 저장소의 트랜잭션)를 치르고, Python 프로세스 하나가 한 번에 코어 하나에서 모든 요청을 처리합니다.
# 프로덕션 코드는 두 가지를 모두 바꿉니다(라우트는 여전히 같은 항목을 쓰지만, 200 응답이 약속하는 내용은 달라질 수 있습니다).
#
# * **백그라운드에서 배치로 쓰기.** 클라이언트 라이브러리의 `CloudLoggingHandler`는 Python의 `logging` 모듈을 Cloud Logging에 연결합니다.
#   `BackgroundThreadTransport`를 쓰면 로거를 호출해도 항목을 메모리의 큐에 넣기만 하고 요청에는 곧바로 응답하며, 클라이언트의 스레드가 큐를 배치로 씁니다.
#   한 번 쓸 때 최대 `batch_size`개의 항목을 담고, 배치를 채우려고 최대 `max_latency`초까지 기다립니다(기본값인 10과 0은 작은 배치를 곧바로 보냅니다).
# * **워커 프로세스로 서비스하기.** gunicorn(`gunicorn -w 2 app:app`) 같은 WSGI 서버는 앱의 복사본 여러 개를 코어마다 하나씩 실행합니다. 프로세스가 하나뿐이면 전역 인터프리터 잠금 때문에 한 번에 스레드 하나만 실행됩니다.
#   App Engine과 Cloud Run은 트래픽이 늘면 인스턴스를 추가합니다.
#
# 여기서는 첫 번째 방법을 시도해 봅니다. 두 번째 앱을 만드는데, 이 앱의 `/slog`는 `CloudLoggingHandler`를 통해 로그를 쓰고, 배치는 최대 500개 항목을 최대 50ms 동안 채웁니다.
# 이 앱의 뷰 함수는 쿼리의 필드를 들어온 그대로 두고(아래의 부하는 항상 세 필드를 보냅니다) "queued"(큐에 넣었음)라고 응답합니다. 이제 이 앱의 200 응답이 뜻하는 것이 바로 그것입니다.

# %% tags=["train"]
batched_handler = CloudLoggingHandler(
    logging_client, name="struct_log",
    resource=Resource(type="global", labels={}),  # given, so the handler does not look for a cloud VM
    transport=functools.partial(BackgroundThreadTransport, batch_size=500, max_latency=0.05))
batched_logger = logging.getLogger("log_collector.batched")  # Python's logging, not a Cloud Logging logger
batched_logger.setLevel(logging.INFO)
batched_logger.propagate = False  # to Cloud Logging only, not also to the notebook's output
batched_logger.addHandler(batched_handler)
batched_app = Flask("batched_log_collector")


@batched_app.route("/slog")
def queue_struct_entry():
    batched_logger.info(request.args.to_dict())  # a dict becomes the entry's jsonPayload
    return "queued"


def close_batched_handler():
    batched_logger.removeHandler(batched_handler)
    batched_handler.close()  # its thread writes what is still queued, then ends


started.append(close_batched_handler)  # stop_all() stops the newer server first, then this
batched_server, stop_batched_server = serve_in_thread(batched_app, "flask-log-server-batched")
BATCHED_URL = f"http://127.0.0.1:{batched_server.server_port}/slog"
print("the batched server listens on", BATCHED_URL)

# %% [markdown] i18n="batched-load"
# 앞에서와 같은 부하를 이번에는 배치 서버에 보낸 다음, 플러시하고(큐가 모두 쓰일 때까지 기다립니다) 서비스에 저장된 항목을 셉니다.

# %% tags=["train"]
acked, seconds = load_through_flask(settings["load_flask"], 4, url=BATCHED_URL, name="batched",
                                    desc="batched server")
batched_handler.flush()  # the queue is written: every acknowledged entry should now be stored
svc.drain()
stored = len(list(logging_client.list_entries(filter_=f'{STRUCT} jsonPayload.name:"batched"', page_size=1000)))
written["struct_log"] += stored
batched_rate = acked / seconds
print(f"batched server: {acked:,} acknowledged, {stored:,} stored, {batched_rate:,.0f} entries/s "
      f"({batched_rate / rates['through Flask, 4 client threads']:.1f}x the one-write-per-request server "
      "measured above, in this same process)")

# %% tags=["train"]
# clean-up: stop the batched server, then its handler's thread (stop_all() at the end would too);
# the client reports on stderr that it sent what was still queued
for stop in (stop_batched_server, close_batched_handler):
    started.remove(stop)
    stop()
print("handler threads left:",
      [t.name for t in threading.enumerate() if t.name.startswith("google.cloud.logging")] or "none")

# %% [markdown] i18n="benchmark-table"
# 이 노트북에서는 부하, 두 서버, 로깅 서비스가 모두 Python 프로세스 하나를 함께 씁니다. 그래서 위의 속도는 두 서버를 서로 비교한 것일 뿐, 각 서버가 낼 수 있는 속도를 말해 주지는 않습니다.
# 벤치마크 `python -m bench.bench_ch02`는 각 부분을 별도의 프로세스로 실행하고, 이 라우트를 서비스하는 여섯 가지 방법을 같은 부하(클라이언트 16개)로 측정합니다.
# 그리고 각 방법을 한 번 더 실행해 부하를 1.5초 준 뒤에 `kill -9`로 종료하고, 확인 응답했지만 서비스가 받지 못한 항목을 셉니다.
# 2코어에서 측정한 결과입니다(부하 생성기를 포함하며, 다른 작업도 함께 실행 중이었습니다).
#
# | `/slog`를 서비스하는 방법 | 200의 의미 | 저장된 항목/초 | 항목당 CPU ms | kill -9로 잃은 비율 |
# |---|---|---|---|---|
# | a. 동기: 요청마다 `log_struct` 한 번(원래 글의 방식) | 쓰기 완료 | 334 | 3.96 | 0% |
# | b. 그룹 커밋: 처리 중인 요청들이 쓰기 한 번을 공유 | 쓰기 완료 | 421 | 3.17 | 0% |
# | c. 백그라운드: `CloudLoggingHandler`, 기본값 | 큐에 넣음 | 561 | 2.01 | 0% |
# | d. 백그라운드, <=500개 배치를 최대 50ms 동안 채움 | 큐에 넣음 | 566 | 1.61 | 4% |
# | e. b를 gunicorn 워커 프로세스 2개로 실행 | 쓰기 완료 | 711 | 1.50 | 0% |
# | f. d를 gunicorn 워커 프로세스 2개로 실행 | 큐에 넣음 | 1,360 | 0.94 | 7% |
#
# 항목당 CPU에는 Flask 프로세스(들), 로깅 서비스, 부하 생성기가 모두 포함됩니다. "잃은 비율"은 확인 응답한 항목 중에서 부하 중의 `kill -9`로 잃어버린 항목의 비율입니다.
# 2코어에서 초당 1,000개 항목을 넘는 것은 f 행뿐입니다. 원래 글의 할당량의 2.7배이고, 항목당 CPU는 원래 글의 4분의 1입니다.
# 대신 그만한 대가를 치릅니다. 이 방식의 200은 "이 프로세스의 큐에 넣었음"이라는 뜻이므로, 프로세스가 죽을 때 큐에 있던 항목은 사라집니다(확인 응답한 항목의 7%).
# 쓰기가 끝난 뒤에 응답하면 잃는 것이 없습니다(a, b, e 행). 워커 프로세스만으로도 안전한 방식을 지키면서 초당 711개까지 갑니다.
# 핸들러의 기본값(c 행)은 이번 실행에서 아무것도 잃지 않았지만, 큐에 한도가 없습니다. 쓰는 쪽이 뒤처지면 비정상 종료 때 더 많이 잃습니다.
# 정상적으로 멈추면(SIGTERM, `close()`) 핸들러가 먼저 큐를 다 쓰지만, 비정상 종료에서는 그렇지 않습니다.
# 항목 하나를 잃을 때의 대가를 보고 고르세요. 감사 기록이나 결제 기록은 쓰기가 끝난 뒤에 응답하고(워커 추가, 그룹 커밋), 디버깅과 분석용 트래픽은 백그라운드에서 배치로 처리해도 됩니다.

# %% [markdown] i18n="google-cloud"
# ## Google Cloud에서 실행하기
#
# 이 장의 코드가 곧 여러분이 배포할 코드입니다. 달라지는 것은 다음과 같습니다.
#
# 1. **클라이언트.** `LOGGING_ENDPOINT`를 설정하지 않은 채로 두세요. 그러면 `connect(project)`는 `google.cloud.logging.Client(project=project)`를 반환하고, 이 클라이언트는 `api_endpoint`를 바꾸지 않은 채 `logging.googleapis.com`과 통신합니다.
#    사용자 인증 정보는 환경에서 가져옵니다. 여러분의 컴퓨터에서는 `gcloud auth application-default login`을, App Engine, Cloud Run, VM에서는 서비스 계정을 씁니다(또는 `GOOGLE_APPLICATION_CREDENTIALS`가 키 파일을 가리키게 합니다).
#    프로젝트는 Logging API가 사용 설정된 실제 프로젝트 ID입니다.
# 2. **서버.** 노트북 안의 스레드 대신 프로덕션용 WSGI 서버로 앱을 실행하거나, 원래 글처럼 App Engine에 배포하세요(확장과 롤백을 대신 해 줍니다).
#    ```python
#    app = create_app(connect(os.environ["GOOGLE_CLOUD_PROJECT"]))
#    ```
# 3. **싱크의 권한.** 싱크를 만드는 호출은 같지만, 데이터 세트가 먼저 있어야 하고(`bq mk structlog`), 싱크는 자신의 서비스 계정, 즉 `writer_identity`로 씁니다.
#    그 ID에 데이터 세트에 대한 BigQuery 데이터 편집자 역할을 부여하세요. 그러지 않으면 아무것도 도착하지 않습니다.
#    (로컬에서는 이 ID가 고정된 가짜 값이고, 데이터 세트는 처음 내보낼 때 생깁니다.)
# 4. **읽기.** SQL은 `svc.query` 대신 BigQuery(콘솔, `bq query`, 또는 `google-cloud-bigquery`)로 보냅니다. Pub/Sub 구독자는 Pub/Sub 구독이나 Cloud Function이 되고, 차트는 두 측정항목을 보여 주는 Cloud Monitoring 대시보드가 됩니다.
#
# 실제로 전환해 보면 이렇습니다. 아래 셀은 여러분이 작성한 바로 그 함수들로(`connect`를 더해서) 이 장의 서버를 `log_server.py`라는 프로그램으로 저장하고, `LOGGING_ENDPOINT`가 로컬 서비스를 가리키게 한 채 별도의 프로세스로 시작합니다.
# Google Cloud에서는 이 파일의 `app`을 App Engine이나 WSGI 서버가 바꾸지 않고 그대로 서비스합니다(예: `gunicorn -b :8080 log_server:app`). 이때 이 변수는 설정하지 않고 `GOOGLE_CLOUD_PROJECT`를 설정합니다.

# %% tags=["train"]
server_file = RUN_DIR / "log_server.py"
server_file.write_text("\n\n".join([
    '"""The log API server of chapter 02. LOGGING_ENDPOINT set: a local service; unset: Google Cloud."""',
    "import os\nimport uuid\n\nfrom flask import Flask, request",
    *(inspect.getsource(f) for f in (connect, add_text_route, add_struct_route, create_app)),
    'app = create_app(connect(os.environ.get("GOOGLE_CLOUD_PROJECT", "log-collector-demo")))',
    'if __name__ == "__main__":\n    app.run("127.0.0.1", int(os.environ.get("PORT", "7001")))\n']))

with socket.socket() as s:  # a free port for the program (7001 would do when it is free)
    s.bind(("127.0.0.1", 0))
    program_port = s.getsockname()[1]
program = subprocess.Popen([sys.executable, str(server_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "LOGGING_ENDPOINT": svc.endpoint, "PORT": str(program_port)})
try:
    for _ in range(300):  # wait up to 30 s for it to listen
        try:
            reply = requests.get(f"http://127.0.0.1:{program_port}/slog",
                                 params={"name": "program", "text": "from log_server.py -a", "key": "cli"})
            break
        except requests.ConnectionError:
            if program.poll() is not None:
                raise RuntimeError(f"log_server.py exited with status {program.returncode}") from None
            time.sleep(0.1)
    else:
        raise RuntimeError("log_server.py did not start listening within 30 s")
    print(f"log_server.py on port {program_port} answered {reply.status_code}: {reply.text!r}")
finally:
    program.terminate()
    program.wait(timeout=30)
written["struct_log"] += 1
_ = show(f'{STRUCT} jsonPayload.key="cli"')

# %% [markdown] i18n="cloud-differences"
# 동작에서 달라지는 점은 다음과 같습니다.
# **할당량**(프로젝트당 초당 쓰기 수와 일일 쓰기 수. 로컬 서비스에는 할당량이 없습니다), **지연 시간**(BigQuery로 내보내는 데 밀리초가 아니라 몇 초가 걸리고, `list_entries`의 결과가 쓰기보다 조금 늦을 수 있습니다), **비용**(수집은 월별 무료 할당량을 넘는 만큼 GiB 단위로 청구됩니다. 원래 글의 무료 등급은 한 달에 5 GB에서 수집을 멈췄고, 그래서 원래 글은 일찍부터 BigQuery로 내보냈습니다. 항목을 수백만 개 보내기 전에 현재 가격 책정 페이지를 확인하세요), 그리고 **보관**(로그는 보관 기간이 지나면 만료되지만, BigQuery의 사본은 남습니다)입니다.
# 그 밖의 모든 것(로거, `log_text`, `log_struct`, 필터, 싱크, 측정항목)은 같은 API입니다. 이것이 관리형 서비스의 핵심이고, 이 장의 로컬 서비스의 핵심이기도 합니다.

# %% [markdown] i18n="summary"
# ## 요약
#
# * 전형적인 로그 파이프라인에는 API 서버, 큐, 컨슈머, 저장소, 리포팅이 있습니다. 관리형 로깅 서비스는 가운데 세 가지를 설정으로 대신합니다.
# * `logging_client.logger(NAME)`은 로그 하나에 대한 핸들입니다. `log_text`는 `textPayload`를, `log_struct`는 `jsonPayload`를 쓰며, `jsonPayload`의 필드는 하나하나 필터링하고 내보낼 수 있습니다.
# * 필터: `logName="projects/P/logs/ID"`, 값 전체에는 `=`, 부분 문자열에는 `:`(`"-a"`는 따옴표로 감쌉니다), `severity>=WARNING`, `timestamp>=".."`, 그리고 `NOT`/`-`. `NOT`/`-`는 그 필드가 없는 항목도 선택합니다.
# * 싱크는 조건에 맞는 새 항목을 내보냅니다. BigQuery로 내보내면 로그와 UTC 날짜마다 테이블이 하나씩(`dataset.logid_YYYYMMDD`) 생기고, 열은 `jsonPayload.*`입니다.
# * 로그 기반 측정항목은 조건에 맞는 항목을 시간 버킷마다 셉니다. 대시보드의 선 하나이자 알림 하나가 됩니다.
# * Pub/Sub 내보내기는 항목이 도착하는 대로 하나씩 여러분의 코드에 넘겨줍니다.
# * 원래 글의 한계는 저장소가 아니라 쓰기 할당량(초당 500개 항목, 하루 2,500만 개)이었습니다. CPU당 처리량을 높이는 것은 배치 처리입니다.
# * 서버는 백그라운드 배치 처리(`BackgroundThreadTransport(batch_size, max_latency)`를 쓰는 `CloudLoggingHandler`)와 워커 프로세스로 빨라집니다. "queued"(큐에 넣었음)라는 뜻일 뿐인 200을 받은 항목은 프로세스가 비정상 종료되면 사라지지만, 쓰기가 끝난 뒤에 200을 받은 항목은 사라지지 않습니다.
#
# 이제 모든 것을 한 번에 검사한 다음, 책의 빌드가 보고하는 수치를 기록합니다.

# %% tags=["feedback"]
check_all()

# %% tags=["train"]
exported_rows = sum(bq(f"SELECT COUNT(*) FROM structlog.struct_log_{day}")[0][0]
                    for day in sorted({today.replace("-", ""),
                                       start_minute.strftime("%Y%m%d")}))
metrics = {"entries_written": sum(written.values()), "exported_rows": exported_rows,
           **{f"entries_per_s_{key}": round(rate, 1) for key, rate in
              zip(("flask", "single", "batched"), rates.values())},
           "preset": settings["name"]}
(RUN_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# %% [markdown] i18n="exercises"
# ## 연습 문제
#
# 1. 심각도가 `ERROR`인 구조화된 항목을 쓰는 라우트 `/error`와, 그런 항목을 세는 측정항목을 추가하세요.
#    "1분에 오류 10개 초과"에 대한 알림은 어떤 필터를 써야 할까요?
# 2. `storage.googleapis.com/BUCKET`으로 내보내는 두 번째 싱크를 만드세요. 로컬에서는 파일이 어디에 생기고, 시간에 따라 어떻게 나뉘나요?
# 3. 클라이언트 스레드 1, 2, 4, 8개로 부하 테스트를 실행해 보세요. 속도는 어디에서 더 이상 늘지 않고, 그때 바쁜 프로세스는 어느 것인가요?
# 4. `log_server.py`의 `app`을 gunicorn 워커 2개로 서비스하고(`LOGGING_ENDPOINT`는 로컬 서비스로 설정합니다), 그 서버에 부하 테스트를 실행해 보세요. 결과는 표의 a 행과 e 행 사이 어디쯤에 놓이나요?
#    그다음 배치 서버에 핸들러의 기본 `batch_size`와 `max_latency`를 주세요. 속도는 어떻게 달라지고, 왜 그런가요(c 행과 d 행을 비교해 보세요)?
#
# 마지막으로 API 서버와 로깅 서비스를 멈춥니다. 이 셀을 실행하고 나면 이 장에서 실행한 것은 아무것도 남지 않습니다(포트도, 스레드도).

# %% tags=["train"]
stop_all()  # newest first: the API server, then the logging service


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


left = [t.name for t in threading.enumerate()
        if t.name.startswith(("flask-log-server", "cloudlog", "google.cloud.logging"))]
print(f"Flask port {server.server_port} open: {port_open(server.server_port)}; "
      f"service port {svc.port} open: {port_open(svc.port)}; threads left: {left or 'none'}")
assert not left and not port_open(server.server_port) and not port_open(svc.port)
