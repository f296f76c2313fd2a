"""Issue 13: the service under hostile input. One test per finding, from the outside (raw
HTTP or the real client): the documented error, and afterwards the service still writes,
exports to its sinks and counts its metrics."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import cloudlog
import cloudlog.server as server_mod
from cloudlog import query as query_mod
from helpers import count_entries, service_stats

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "tfbook-test"  # the same project as tests/cloudlog/conftest.py
LOG = f"projects/{PROJECT}/logs/struct_log"
DAY = "2024-05-01T12:00:00Z"
TABLE = "struct_log_20240501"


def post(svc, path, body=None, raw=None, method="POST", timeout=30):
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.request(
        method, svc.endpoint + path, data=data, headers={"Content-Type": "application/json"}, timeout=timeout
    )


def assert_error(resp, code, text=None):
    assert resp.status_code == code, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code and isinstance(err["status"], str) and err["status"]
    if text:
        assert text in err["message"], err["message"]
    return err


def write(svc, entries, project=PROJECT, log="struct_log"):
    r = post(svc, "/v2/entries:write", {"logName": f"projects/{project}/logs/{log}", "entries": entries})
    assert r.status_code == 200, r.text
    return r


def listed(svc, project=PROJECT, filter_=""):
    body = {"resourceNames": [f"projects/{project}"], "filter": filter_, "pageSize": 1000}
    r = post(svc, "/v2/entries:list", body)
    assert r.status_code == 200, r.text
    return r.json().get("entries", [])


def make_sink_and_metric(svc, project=PROJECT, dataset="structlog", filt='logName:"struct_log"'):
    dest = f"bigquery.googleapis.com/projects/{project}/datasets/{dataset}"
    r = post(svc, f"/v2/projects/{project}/sinks", {"name": "bq", "destination": dest, "filter": filt})
    assert r.status_code == 200, r.text
    r = post(svc, f"/v2/projects/{project}/metrics", {"name": "m", "filter": filt})
    assert r.status_code == 200, r.text


def metric_total(svc, project=PROJECT, name="m"):
    r = requests.get(
        f"{svc.endpoint}/local/v1/projects/{project}/metrics/{name}/series", params={"bucketSeconds": 10**9}, timeout=30
    )
    assert r.status_code == 200, r.text
    return sum(p["count"] for p in r.json()["points"])


def exported_ids(svc, project=PROJECT, dataset="structlog", table=TABLE):
    return sorted(r[0] for r in svc.query(f"SELECT insertId FROM {dataset}.{table}", project=project))


def still_healthy(svc, tag, project=PROJECT):
    """A write is stored, exported to the BigQuery sink and counted by the metric."""
    before = metric_total(svc, project)
    write(svc, [{"insertId": tag, "timestamp": DAY, "jsonPayload": {"ok": tag}}], project)
    assert [e["insertId"] for e in listed(svc, project, f'insertId="{tag}"')] == [tag]
    assert tag in exported_ids(svc, project)
    assert metric_total(svc, project) == before + 1


# ---------------------------------------------------------------- finding 1: the journal
def test_lone_surrogate_is_a_400_and_writes_go_on(svc):
    make_sink_and_metric(svc)
    raw = ('{"logName": "%s", "entries": [{"textPayload": "\\ud800"}]}' % LOG).encode()
    err = assert_error(post(svc, "/v2/entries:write", raw=raw), 400, "not valid Unicode")
    assert err["details"][0]["logEntryErrors"]["0"]["code"] == 3
    raw = ('{"logName": "%s", "entries": [{"jsonPayload": {"\\udc00k": 1}}]}' % LOG).encode()
    assert_error(post(svc, "/v2/entries:write", raw=raw), 400, "not valid Unicode")
    still_healthy(svc, "after-surrogate")
    # a sink and a metric can still be changed (the old journal thread had died: 503)
    r = post(svc, f"/v2/projects/{PROJECT}/metrics/m", {"filter": "severity>=ERROR"}, method="PUT")
    assert r.status_code == 200, r.text


def test_journal_survives_a_write_it_cannot_encode(svc):
    from cloudlog.model import normalize_entry, now_us

    row = normalize_entry({"logName": LOG, "textPayload": "x"}, {}, now_us())
    row.text = '{"textPayload": "\ud800"}'  # what validation now refuses
    with pytest.raises(cloudlog.ApiError) as e:
        svc.store.write([row])
    assert e.value.code == 500
    write(svc, [{"textPayload": "after"}])
    assert [x["textPayload"] for x in listed(svc)] == ["after"]


# ---------------------------------------------------------------- finding 2: exports
def test_exports_and_metrics_keep_working_after_restart(tmp_path):
    db = tmp_path / "logs.duckdb"
    svc = cloudlog.start_local(db, bucket_dir=tmp_path / "gcs")
    try:
        make_sink_and_metric(svc)
        write(svc, [{"insertId": "a1", "timestamp": DAY, "jsonPayload": {"k": "v"}}])
    finally:
        svc.stop()
    svc = cloudlog.start_local(db, bucket_dir=tmp_path / "gcs")
    try:
        write(svc, [{"insertId": f"b{i}", "timestamp": DAY, "jsonPayload": {"k": "v", "n": i}} for i in range(3)])
        ids = sorted(e["insertId"] for e in listed(svc, filter_='logName:"struct_log"'))
        assert ids == ["a1", "b0", "b1", "b2"]
        assert exported_ids(svc) == ids
        assert metric_total(svc) == 4
    finally:
        svc.stop()


def test_a_failing_sink_rolls_back_nothing_else(svc, tmp_path):
    make_sink_and_metric(svc)
    dest = f"bigquery.googleapis.com/projects/{PROJECT}/datasets/other"
    assert (
        post(svc, f"/v2/projects/{PROJECT}/sinks", {"name": "broken", "destination": dest, "filter": ""}).status_code
        == 200
    )
    # someone breaks the broken sink's table: no row can go in
    svc.query(f'CREATE SCHEMA IF NOT EXISTS "{PROJECT}.other"')
    svc.query(
        f"CREATE TABLE \"{PROJECT}.other\".{TABLE} (timestamp TIMESTAMP, insertId VARCHAR CHECK (insertId = 'never'))"
    )
    # and a storage sink whose bucket directory cannot be created
    (tmp_path / "gcs").mkdir(exist_ok=True)
    (tmp_path / "gcs" / "blocked").write_text("a file, not a directory")
    assert (
        post(
            svc,
            f"/v2/projects/{PROJECT}/sinks",
            {"name": "files", "destination": "storage.googleapis.com/blocked", "filter": ""},
        ).status_code
        == 200
    )
    write(svc, [{"insertId": f"e{i}", "timestamp": DAY, "jsonPayload": {"i": i}} for i in range(3)])
    assert exported_ids(svc) == ["e0", "e1", "e2"]
    assert metric_total(svc) == 3
    for name in ("broken", "files"):
        r = requests.get(f"{svc.endpoint}/local/v1/projects/{PROJECT}/sinks/{name}/errors", timeout=10)
        errs = r.json()["errors"]
        assert errs and errs[-1]["entries"] == 3, errs
    rows = svc.query("SELECT insertId, message FROM other._sink_errors ORDER BY insertId", project=PROJECT)
    assert [r[0] for r in rows] == ["e0", "e1", "e2"] and all(r[1] for r in rows)
    still_healthy(svc, "after-broken-sink")


def test_regexes_are_checked_by_the_engine_that_runs_them(svc):
    make_sink_and_metric(svc)
    for filt in ('jsonPayload.x =~ "(?<=a)b"', r'jsonPayload.x =~ "(a)\\1"'):
        for kind, body in (
            ("sinks", {"name": "s2", "filter": filt, "destination": "storage.googleapis.com/bucket"}),
            ("metrics", {"name": "m2", "filter": filt}),
        ):
            assert_error(post(svc, f"/v2/projects/{PROJECT}/{kind}", body), 400, "regular expression")
        assert_error(
            post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "filter": filt}),
            400,
            "regular expression",
        )
    still_healthy(svc, "after-regex")


@pytest.mark.parametrize(
    "payload,text",
    [
        ({"n": 10**400}, "out of range"),
        ("DEEP", "nested deeper"),
    ],
)
def test_numbers_and_nesting_that_broke_exports_are_400(svc, payload, text):
    make_sink_and_metric(svc)
    if payload == "DEEP":
        payload = {}
        cur = payload
        for _ in range(200):
            cur["d"] = {}
            cur = cur["d"]
    body = json.dumps({"logName": LOG, "entries": [{"jsonPayload": payload}]})
    assert_error(post(svc, "/v2/entries:write", raw=body.encode()), 400, text)
    raw = ('{"logName": "%s", "entries": [{"jsonPayload": {"x": 1e999}}]}' % LOG).encode()
    assert_error(post(svc, "/v2/entries:write", raw=raw), 400, "out of range")
    raw = ('{"logName": "%s", "entries": [{"jsonPayload": {"x": NaN}}]}' % LOG).encode()
    assert_error(post(svc, "/v2/entries:write", raw=raw), 400, "Invalid JSON")
    still_healthy(svc, "after-number")


# ---------------------------------------------------------------- finding 3: wide entries
def test_a_wide_entry_does_not_stall_other_projects(svc):
    make_sink_and_metric(svc)
    make_sink_and_metric(svc, project="other-proj")
    write(svc, [{"timestamp": DAY, "jsonPayload": {"seed": i}} for i in range(3000)])
    assert len(exported_ids(svc)) == 3000
    too_wide = {f"k{i}": "v" for i in range(1001)}
    assert_error(
        post(svc, "/v2/entries:write", {"logName": LOG, "entries": [{"jsonPayload": too_wide}]}),
        400,
        "more than 1000 fields",
    )
    assert_error(
        post(svc, "/v2/entries:write", {"logName": LOG, "entries": [{"labels": {f"l{i}": "v" for i in range(65)}}]}),
        400,
        "at most 64",
    )
    lat, stop = [], threading.Event()

    def other():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            r = s.post(
                f"{svc.endpoint}/v2/entries:write",
                json={
                    "logName": "projects/other-proj/logs/struct_log",
                    "entries": [{"insertId": f"o{i}", "timestamp": DAY, "jsonPayload": {"i": i}}],
                },
                timeout=30,
            )
            assert r.status_code == 200
            lat.append(time.perf_counter() - t0)
            i += 1
            time.sleep(0.01)

    th = threading.Thread(target=other)
    th.start()
    try:
        time.sleep(0.2)
        t0 = time.perf_counter()
        for name, n in (("wide", 450), ("wider", 999)):  # the second one overflows
            write(svc, [{"insertId": name, "timestamp": DAY, "jsonPayload": {f"{name}{i:04d}": i for i in range(n)}}])
            listed(svc, filter_=f'insertId="{name}"')  # waits until it is applied
        wide_s = time.perf_counter() - t0
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    cols = svc.query(f"SELECT jsonPayload FROM structlog.{TABLE} WHERE insertId = 'wide'", project=PROJECT)[0][0]
    assert len([k for k, v in cols.items() if v is not None]) == 450
    assert exported_ids(svc).count("wider") == 1  # exported, without its new fields
    errs = svc.query("SELECT insertId, got FROM structlog._sink_errors", project=PROJECT)
    assert len(errs) == 1 and errs[0][0] == "wider" and "500 fields" in errs[0][1], errs
    assert wide_s < 5, wide_s
    assert max(lat) < 1.0, sorted(lat)[-5:]
    assert service_stats(svc)["max_apply_s"] < 5
    still_healthy(svc, "after-wide", project="other-proj")


# ---------------------------------------------------------------- finding 4: request size
def test_entries_per_request_are_capped(svc):
    make_sink_and_metric(svc)
    raw = ('{"logName": "%s", "entries": [%s]}' % (LOG, ",".join(["{}"] * 10_001))).encode()
    assert_error(post(svc, "/v2/entries:write", raw=raw), 400, "at most 10000")
    still_healthy(svc, "after-cap")


# ---------------------------------------------------------------- finding 5: projects
def test_bigquery_destinations_are_per_project(svc):
    for project in ("proj-a", "proj-b"):
        make_sink_and_metric(svc, project=project, dataset="shared")
        write(svc, [{"insertId": f"{project}-1", "timestamp": DAY, "jsonPayload": {"p": project}}], project)
    sql = f"SELECT insertId FROM shared.{TABLE}"
    assert svc.query(sql, project="proj-a") == [("proj-a-1",)]
    assert svc.query(sql, project="proj-b") == [("proj-b-1",)]
    assert svc.query(f"SELECT insertId FROM `proj-b`.shared.{TABLE}".replace("`", '"')) == [("proj-b-1",)]
    with pytest.raises(ValueError, match="project="):
        svc.query(sql)
    assert metric_total(svc, "proj-a") == metric_total(svc, "proj-b") == 1
    for ds in ("cloudlog", "main", "information_schema", "pg_catalog"):
        assert_error(
            post(
                svc,
                "/v2/projects/proj-a/sinks",
                {"name": "x", "destination": f"bigquery.googleapis.com/projects/proj-a/datasets/{ds}"},
            ),
            400,
            "reserved",
        )
    for dest in (
        "bigquery.googleapis.com/projects/p/datasets/../x",
        "storage.googleapis.com/../../etc",
        "pubsub.googleapis.com/projects/p/topics/../t",
    ):
        assert_error(post(svc, "/v2/projects/proj-a/sinks", {"name": "x", "destination": dest}), 400, "destination")
    # one project cannot read another's entries
    assert [e["insertId"] for e in listed(svc, "proj-a")] == ["proj-a-1"]


# ---------------------------------------------------------------- finding 6: page tokens
def _forged(fp_from: str, ts):
    fp = json.loads(base64.urlsafe_b64decode(fp_from))[0]
    return base64.urlsafe_b64encode(json.dumps([fp, ts, 0]).encode()).decode()


def test_forged_page_tokens_are_400_even_with_python_O(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-O", "-m", "cloudlog", "serve", "--db", str(tmp_path / "o.duckdb"), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = proc.stdout.readline().split()[3]
        body = {"logName": f"projects/{PROJECT}/logs/l", "entries": [{"textPayload": "a"}, {"textPayload": "b"}]}
        assert requests.post(f"{endpoint}/v2/entries:write", json=body, timeout=30).ok
        lst = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1}
        tok = requests.post(f"{endpoint}/v2/entries:list", json=lst, timeout=30).json()["nextPageToken"]
        for bad in ("0) OR (1=1", 1.5, "x", None, 2**70, [1]):
            r = requests.post(f"{endpoint}/v2/entries:list", timeout=30, json=dict(lst, pageToken=_forged(tok, bad)))
            assert r.status_code == 400 and "pageToken" in r.json()["error"]["message"], r.text
        r = requests.post(f"{endpoint}/v2/entries:list", json=dict(lst, pageToken=tok), timeout=30)
        assert [e["textPayload"] for e in r.json()["entries"]] == ["b"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


# ---------------------------------------------------------------- finding 7: filters
@pytest.mark.parametrize(
    "filt,text",
    [
        ("x" * 20_001, "at most 20000"),
        (" AND ".join(f'jsonPayload.a{i} =~ "^x{i}"' for i in range(51)), "regular expressions"),
        (" AND ".join(f"jsonPayload.a{i} = {i}" for i in range(501)), "terms"),
        ("(" * 3000 + "a" + ")" * 3000, "nested deeper"),
        ("NOT " * 3000 + "a", "nested deeper"),
        ("-" * 3000 + "a", "nested deeper"),
        ("jsonPayload.x = " + "(" * 3000 + "a" + ")" * 3000, "nested deeper"),
    ],
)
def test_filters_are_limited(svc, filt, text):
    make_sink_and_metric(svc)
    t0 = time.perf_counter()
    assert_error(post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "filter": filt}), 400, text)
    assert_error(
        post(
            svc,
            f"/v2/projects/{PROJECT}/sinks",
            {"name": "big", "filter": filt, "destination": "storage.googleapis.com/bucket"},
        ),
        400,
        text,
    )
    assert time.perf_counter() - t0 < 5
    still_healthy(svc, "after-filter")


@pytest.mark.slow  # a stress test of the largest filters, about 10 s of CPU
def test_largest_allowed_filters_are_quick_and_caches_are_bounded(svc):
    write(svc, [{"timestamp": DAY, "jsonPayload": {"a1": "x1"}}])
    regexes = " OR ".join(f'jsonPayload.a{i} =~ "^x{i}$"' for i in range(50))
    terms = " OR ".join(f'jsonPayload.a{i} = "x{i}"' for i in range(450))
    t0 = time.perf_counter()
    assert len(listed(svc, filter_=f"({regexes}) OR ({terms})")) == 1
    assert time.perf_counter() - t0 < 5
    for i in range(60):  # many distinct large filters: the caches stay within their bytes
        query_mod.compile_filter(f"({terms}) OR jsonPayload.z{i} = 1")
    assert query_mod._COMPILED.bytes <= query_mod.CACHE_BYTES
    assert query_mod._PARSED.bytes <= query_mod.CACHE_BYTES


# ---------------------------------------------------------------- finding 8: 400 not 500
BAD_BODIES = [
    ("/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "pageSize": "\u00b2"}, "pageSize"),
    ("/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "pageSize": "\uff11\uff10"}, "pageSize"),
    ("/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 10**30}, "pageSize"),
    ("/v2/entries:list", {"resourceNames": {"a": 1}}, "resourceNames"),
    ("/v2/entries:list", {"resourceNames": 5}, "resourceNames"),
    ("/v2/entries:list", {"projectIds": "abc"}, "projectIds"),
    ("/v2/entries:list", {"projectIds": [1]}, "projectIds"),
    ("/v2/entries:write", {"logName": LOG, "entries": [{"timestamp": "0001-01-01T00:00:00+01:00"}]}, "timestamp"),
    ("/v2/entries:write", {"logName": LOG, "entries": [{"timestamp": "9999-12-31T23:59:59-01:00"}]}, "timestamp"),
    ("/v2/entries:write", {"logName": LOG, "entries": [{"timestamp": "\uff12024-01-01T00:00:00Z"}]}, "timestamp"),
    (
        "/v2/entries:list",
        {"resourceNames": [f"projects/{PROJECT}"], "filter": 'timestamp > "0001-01-01T00:00:00+01:00"'},
        "timestamp",
    ),
    ("/v2/entries:write", {"logName": ["x"], "entries": [{}]}, "logName"),
    ("/v2/entries:write", {"logName": LOG, "entries": [{"logName": 5}]}, "logName"),
    (f"/v2/projects/{PROJECT}/sinks", {"name": "s", "destination": ["x"]}, "destination"),
    (f"/v2/projects/{PROJECT}/metrics", {"name": "m", "filter": ["x"]}, "filter"),
]


@pytest.mark.parametrize("path,body,text", BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
def test_bad_values_are_400(svc, path, body, text):
    make_sink_and_metric(svc)
    assert_error(post(svc, path, body), 400, text)
    still_healthy(svc, "after-bad-value")


def test_deep_request_json_is_400(svc):
    make_sink_and_metric(svc)
    assert_error(post(svc, "/v2/entries:write", raw=b"[" * 100_000 + b"]" * 100_000), 400, "nested")
    assert_error(post(svc, "/v2/entries:list", raw=b'{"filter": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"), 400)
    still_healthy(svc, "after-deep")


def raw_http(svc, data: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode("latin-1"), body


@pytest.mark.parametrize(
    "request_bytes,code",
    [
        (b"HEAD /v2/entries:write HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"OPTIONS /v2/entries:write HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"\x16\x03\x01garbage\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /v2/projects/p/logs HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 431),
    ],
)
def test_malformed_http_gets_json_errors(svc, request_bytes, code):
    make_sink_and_metric(svc)
    status, head, body = raw_http(svc, request_bytes)
    assert status == code, head
    assert "application/json" in head
    if not request_bytes.startswith(b"HEAD"):
        assert json.loads(body)["error"]["code"] == code
    still_healthy(svc, "after-http")


@pytest.mark.slow  # starts the service as a process under load, about 6 s
def test_sigterm_stops_quickly_with_status_0_and_keeps_acknowledged(tmp_path):
    db = tmp_path / "t.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    endpoint = proc.stdout.readline().split()[3]
    host, port = endpoint.rsplit(":", 1)
    idle = socket.create_connection(("127.0.0.1", int(port)))  # an idle keep-alive client
    acked, stop = [], threading.Event()

    def load():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            try:
                r = s.post(
                    f"{endpoint}/v2/entries:write",
                    timeout=10,
                    json={
                        "logName": f"projects/{PROJECT}/logs/l",
                        "entries": [{"insertId": f"i{i}", "jsonPayload": {"i": i}}],
                    },
                )
                s.post(
                    f"{endpoint}/v2/entries:list",
                    timeout=10,
                    json={"resourceNames": [f"projects/{PROJECT}"], "filter": "jsonPayload.i >= 0"},
                )
            except requests.RequestException:
                return
            if r.status_code == 200:
                acked.append(f"i{i}")
            i += 1

    heavy = " OR ".join(f'jsonPayload.t =~ "^(a|b)*c{i}$"' for i in range(50))

    def long_queries():  # queries that run for a while when SIGTERM arrives
        while not stop.is_set():
            try:
                requests.post(
                    f"{endpoint}/v2/entries:list",
                    timeout=30,
                    json={"resourceNames": [f"projects/{PROJECT}"], "filter": heavy},
                )
            except requests.RequestException:
                return

    for b in range(4):
        assert requests.post(
            f"{endpoint}/v2/entries:write",
            timeout=60,
            json={
                "logName": f"projects/{PROJECT}/logs/big",
                "entries": [{"jsonPayload": {"t": "ab" * 20 + str(i)}} for i in range(10_000)],
            },
        ).ok
    th = threading.Thread(target=load)
    th.start()
    heavies = [threading.Thread(target=long_queries) for _ in range(3)]
    for h in heavies:
        h.start()
    try:
        time.sleep(1.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        stop.set()
        th.join(timeout=30)
        for h in heavies:
            h.join(timeout=30)
        idle.close()
        if proc.poll() is None:
            proc.kill()
    assert rc == 0 and took < 5, (rc, took)
    assert acked
    svc = cloudlog.start_local(db, bucket_dir=tmp_path / "gcs")
    try:
        stored = {e["insertId"] for e in listed(svc, filter_='log_id("l")')}
        assert count_entries(svc, 'log_id("big")') == 40_000
    finally:
        svc.stop()
    assert set(acked) <= stored


# ---------------------------------------------------------------- finding 9: config races
@pytest.mark.slow  # a stress test: writes race config changes, about 13 s of CPU
def test_sink_and_metric_changes_race_with_writes(svc):
    make_sink_and_metric(svc)
    errors, stop = [], threading.Event()

    def churn(t):
        s = requests.Session()
        for i in range(2):
            for k in range(10):
                s.post(
                    f"{svc.endpoint}/v2/projects/churn/metrics",
                    timeout=30,
                    json={"name": f"c{t}-{k}", "filter": "severity>=ERROR"},
                )
                s.delete(f"{svc.endpoint}/v2/projects/churn/metrics/c{t}-{k}", timeout=30)
            for kind, body in (
                (
                    "sinks",
                    {"name": f"c{t}", "filter": "jsonPayload.i >= 0", "destination": "storage.googleapis.com/bucket"},
                ),
                ("metrics", {"name": f"c{t}", "filter": "jsonPayload.i >= 0"}),
            ):
                r = s.post(f"{svc.endpoint}/v2/projects/{PROJECT}/{kind}", json=body, timeout=30)
                r2 = s.get(f"{svc.endpoint}/v2/projects/{PROJECT}/{kind}", timeout=30)
                r3 = s.delete(f"{svc.endpoint}/v2/projects/{PROJECT}/{kind}/c{t}", timeout=30)
                errors.extend(x.text for x in (r, r2, r3) if x.status_code >= 500)

    def writes():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            r = s.post(
                f"{svc.endpoint}/v2/entries:write",
                timeout=30,
                json={"logName": LOG, "entries": [{"timestamp": DAY, "jsonPayload": {"i": i}}]},
            )
            if r.status_code != 200:
                errors.append(r.text)
            i += 1

    def readers():  # Python-level iteration over the configuration, in this process
        while not stop.is_set():
            try:
                svc.metric_series("none")  # looks the name up in every project
            except KeyError:
                pass  # expected: no project has it
            except Exception as e:  # noqa: BLE001 - e.g. "dictionary changed size"
                errors.append(repr(e))
                return

    for i in range(100):
        assert requests.post(
            f"{svc.endpoint}/v2/projects/other{i}/metrics",
            timeout=30,
            json={"name": f"x{i}", "filter": "severity>=ERROR"},
        ).ok
    ths = [threading.Thread(target=churn, args=(t,)) for t in range(3)]
    w, rd = threading.Thread(target=writes), threading.Thread(target=readers)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often: races show up quickly
    try:
        w.start()
        rd.start()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    finally:
        stop.set()
        w.join()
        rd.join()
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    assert service_stats(svc)["processing_errors"] == 0
    assert len(exported_ids(svc)) == metric_total(svc) == count_entries(svc) > 0
    still_healthy(svc, "after-race")


# ---------------------------------------------------------------- finding 10: connections
def test_idle_connections_are_closed_and_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_CONNECTIONS", 8)
    # long enough that no idle connection is dropped before the ninth arrives on a busy machine
    # (at 1 s, one was: the ninth got its slot and a 200 under 3 pytest workers)
    monkeypatch.setattr(server_mod.Handler, "timeout", 4)
    svc = cloudlog.start_local(tmp_path / "c.duckdb", bucket_dir=tmp_path / "gcs")
    socks = []
    try:
        make_sink_and_metric(svc)
        socks = [socket.create_connection(("127.0.0.1", svc.port), timeout=10) for _ in range(8)]
        time.sleep(0.3)
        status, head, body = raw_http(svc, b"GET /v2/projects/p/logs HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and json.loads(body)["error"]["code"] == 503
        # the idle ones are dropped after Handler.timeout: each recv waits (up to the sockets'
        # 10 s) until the server closes its end
        assert all(s.recv(10) == b"" for s in socks)
        still_healthy(svc, "after-idle")
    finally:
        for s in socks:
            s.close()
        svc.stop()
