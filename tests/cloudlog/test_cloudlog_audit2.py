"""Issue 23: the second audit's findings. One test per finding, from the outside where it
can be (raw HTTP or the real client): the documented behaviour or error, and afterwards the
service still works."""

from __future__ import annotations

import json
import socket
import time

import duckdb
import pytest
import requests

import cloudlog
import cloudlog.config as config_mod
import cloudlog.server as server_mod
from cloudlog import query as query_mod
from cloudlog import sinks as sinks_mod
from cloudlog.model import normalize_entry, now_us
from helpers import service_stats

PROJECT = "tfbook-test"  # the same project as tests/cloudlog/conftest.py
DAY = "2024-05-01T12:00:00Z"


def post(svc, path, body=None, raw=None, method="POST", timeout=30):
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.request(
        method, svc.endpoint + path, data=data, headers={"Content-Type": "application/json"}, timeout=timeout
    )


def assert_error(resp, code, text=None):
    assert resp.status_code == code, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["status"] not in ("", "UNKNOWN"), err
    if text:
        assert text in err["message"], err["message"]
    return err


def write(svc, entries, project=PROJECT, log="struct_log", **extra):
    r = post(svc, "/v2/entries:write", dict({"logName": f"projects/{project}/logs/{log}", "entries": entries}, **extra))
    assert r.status_code == 200, r.text


def listed(svc, project=PROJECT, filter_="", page_size=1000, token=None):
    body = {"resourceNames": [f"projects/{project}"], "filter": filter_, "pageSize": page_size}
    if token:
        body["pageToken"] = token
    r = post(svc, "/v2/entries:list", body)
    assert r.status_code == 200, r.text
    return r


def ids(svc, project=PROJECT, filter_=""):
    return sorted(e["insertId"] for e in listed(svc, project, filter_).json().get("entries", []))


def sink(svc, name="bq", project=PROJECT, dataset="ds", filt=""):
    r = post(
        svc,
        f"/v2/projects/{project}/sinks",
        {"name": name, "filter": filt, "destination": f"bigquery.googleapis.com/projects/{project}/datasets/{dataset}"},
    )
    assert r.status_code == 200, r.text


def metric(svc, name="m", project=PROJECT, filt="severity>=DEFAULT"):
    r = post(svc, f"/v2/projects/{project}/metrics", {"name": name, "filter": filt})
    assert r.status_code == 200, r.text


def series(svc, name="m", project=PROJECT, bucket=60):
    return requests.get(
        f"{svc.endpoint}/local/v1/projects/{project}/metrics/{name}/series",
        params={"bucketSeconds": bucket},
        timeout=30,
    )


def table_ids(svc, schema, table):
    return sorted(i for (i,) in svc.query(f'SELECT insertId FROM "{schema}"."{table}"'))


# ---------------------------------------------------------------- 1: names that differ in case
def test_log_names_differing_only_in_case_get_their_own_tables(svc):
    sink(svc)
    entries = [
        {
            "logName": f"projects/{PROJECT}/logs/{log}",
            "insertId": f"{log}-{i}",
            "timestamp": DAY,
            "jsonPayload": {"n": i},
        }
        for log in ("app", "App", "other")
        for i in range(2)
    ]
    write(svc, entries)
    svc.drain()
    schema = f"{PROJECT}.ds"
    assert table_ids(svc, schema, "app_20240501") == ["app-0", "app-1"]
    assert table_ids(svc, schema, "^App_20240501") == ["App-0", "App-1"]
    assert table_ids(svc, schema, "other_20240501") == ["other-0", "other-1"]
    assert service_stats(svc)["processing_errors"] == 0
    # the names, and the scheme is one-to-one
    assert sinks_mod.table_name("My-App", 0) == "^My_^App_19700101"
    assert sinks_mod.table_name("my_app", 0) == "my_app_19700101"
    assert sinks_mod.duck_name("^App") == "^App"  # an escaped name stays as it is


def test_projects_differing_only_in_case_do_not_share_a_dataset(svc):
    for project in ("team", "Team"):
        sink(svc, project=project)
        write(svc, [{"insertId": f"{project}-1", "timestamp": DAY}], project=project)
    svc.drain()
    assert sinks_mod.dataset_schema("Team", "ds") == "^Team.ds"
    assert sinks_mod.split_schema("^Team.ds") == ("Team", "ds")
    assert table_ids(svc, "team.ds", "struct_log_20240501") == ["team-1"]
    assert table_ids(svc, "^Team.ds", "struct_log_20240501") == ["Team-1"]
    assert service_stats(svc)["processing_errors"] == 0


def test_a_table_that_cannot_be_written_drops_no_other_tables_rows():
    """The fallback the applier uses after a failed batch: one transaction per table."""
    con = duckdb.connect(":memory:")
    con.execute('CREATE SCHEMA "p.ds"')
    # a view where a table should go: creating that table fails inside DuckDB
    con.execute('CREATE VIEW "p.ds".bad_20240501 AS SELECT 1 AS x')
    rows = []
    for k, log in enumerate(["bad", "good", "bad", "good2"]):
        row = normalize_entry(
            {"logName": f"projects/p/logs/{log}", "insertId": f"{log}{k}", "timestamp": DAY}, {}, now_us()
        )
        row.seq = k + 1
        rows.append(row)
    exporter = sinks_mod.BigQueryExporter()
    failed = exporter.export_each_table(con, "s", "p", "ds", rows)
    assert [[r.insert_id for r in f_rows] for f_rows, _ in failed] == [["bad0", "bad2"]]
    assert "bad_20240501" in failed[0][1]
    assert con.execute('SELECT insertId FROM "p.ds".good_20240501').fetchall() == [("good1",)]
    assert con.execute('SELECT insertId FROM "p.ds".good2_20240501').fetchall() == [("good23",)]


# ---------------------------------------------------------------- 2: HTTP framing and slowloris
def http_exchange(svc, data: bytes, source="127.0.0.1", timeout=10) -> bytes:
    with socket.create_connection(("127.0.0.1", svc.port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return buf
            buf += chunk


def responses(buf: bytes) -> list[tuple[int, dict]]:
    """The status and JSON body of each HTTP response in buf."""
    out = []
    while buf:
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        n = int(headers.get("content-length", 0))
        out.append((int(lines[0].split()[1]), json.loads(rest[:n]) if n else None))
        buf = rest[n:]
    return out


SMUGGLED = b"GET /v2/projects/p/logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
LIST_BODY = json.dumps({"resourceNames": [f"projects/{PROJECT}"]}).encode()


@pytest.mark.parametrize(
    "headers,text",
    [
        (b"Transfer-Encoding: identity, chunked\r\n", "Transfer-Encoding"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", "Transfer-Encoding"),
        (b"Content-Length: +{n}\r\n", "Content-Length"),
        (b"Content-Length: {n_}\r\n", "Content-Length"),
        (b"Content-Length: 0\r\nContent-Length: {n}\r\n", "Content-Length"),
        (b"Content-Length : {n}\r\n", "header"),
    ],
    ids=["te-list", "te-and-cl", "plus", "underscore", "two-cl", "space-before-colon"],
)
def test_ambiguous_framing_is_400_and_nothing_is_smuggled(svc, headers, text):
    """The body is a whole second request: a server that misreads where the body ends
    answers it too. Exactly one response - a 400 - and the connection is closed."""
    body = SMUGGLED
    n = str(len(body)).encode()
    headers = headers.replace(b"{n}", n).replace(b"{n_}", n[:1] + b"_" + n[1:])  # 6_4
    request = b"POST /v2/entries:list HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body
    got = responses(http_exchange(svc, request))
    assert [code for code, _ in got] == [400], got
    assert text in got[0][1]["error"]["message"]
    assert got[0][1]["error"]["status"] == "INVALID_ARGUMENT"
    # a well-framed request still works
    ok = (
        b"POST /v2/entries:list HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(LIST_BODY)
    ) + LIST_BODY
    assert [c for c, _ in responses(http_exchange(svc, ok))] == [200]


def test_http2_request_line_gets_a_proper_status(svc):
    got = responses(http_exchange(svc, b"GET /v2/projects/p/logs HTTP/2.0\r\nHost: x\r\n\r\n"))
    assert len(got) == 1
    code, body = got[0]
    assert code == 505 and body["error"]["code"] == 505
    assert body["error"]["status"] == "HTTP_VERSION_NOT_SUPPORTED"
    assert "HTTP/1.1" in body["error"]["message"]


def trickle(sock, data: bytes, interval: float, stop_after: float) -> tuple[bool, bytes]:
    """Send data a byte at a time; -> (closed by the server, what it answered)."""
    t0 = time.monotonic()
    sock.settimeout(interval)
    got = b""
    for b in data:
        if time.monotonic() - t0 > stop_after:
            return False, got
        try:
            sock.sendall(bytes([b]))
        except OSError:
            return True, got
        try:
            chunk = sock.recv(65536)
            if not chunk:
                return True, got
            got += chunk
        except socket.timeout:
            pass
        except OSError:  # reset: the server closed with our bytes unread
            return True, got
    return False, got


def test_headers_trickled_past_the_deadline_get_408(svc, monkeypatch):
    monkeypatch.setattr(server_mod, "HEADER_TIMEOUT_S", 1, raising=False)
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        t0 = time.monotonic()
        data = b"GET /v2/projects/p/logs HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        closed, got = trickle(s, data, 0.1, stop_after=4)
        assert closed or got, "the server kept a trickling connection open for 4 s"
        assert time.monotonic() - t0 < 3
        if not closed:
            closed, more = trickle(s, b"aa", 0.5, 2)
            got += more
    assert [c for c, _ in responses(got)] == [408]


def test_a_body_trickled_past_the_deadline_gets_408(svc, monkeypatch):
    monkeypatch.setattr(server_mod, "BODY_TIMEOUT_S", 1, raising=False)
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(b"POST /v2/entries:list HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        t0 = time.monotonic()
        closed, got = trickle(s, b" " * 1000, 0.1, stop_after=4)
        assert closed or got, "the server kept a trickling body open for 4 s"
        assert time.monotonic() - t0 < 3
    got = responses(got)
    assert [c for c, _ in got] == [408] and "body" in got[0][1]["error"]["message"]


def test_slow_connections_from_one_address_do_not_lock_out_others(tmp_path, monkeypatch):
    """100 connections trickling headers from 127.0.0.2 while the server takes 100 in
    all: a client from 127.0.0.1 still gets its answer at once."""
    monkeypatch.setattr(server_mod, "MAX_CONNECTIONS", 100)
    try:
        probe = socket.socket()
        probe.bind(("127.0.0.2", 0))
        probe.close()
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    svc = cloudlog.start_local(tmp_path / "c.duckdb", bucket_dir=tmp_path / "gcs")
    slow = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=5, source_address=("127.0.0.2", 0))
            s.sendall(b"GET /v2/projects/p/logs HTTP/1.1\r\nHost: x\r\n")  # never finished
            slow.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = requests.get(f"{svc.endpoint}/v2/projects/{PROJECT}/logs", timeout=2)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 2
        # the slow ones beyond the per-address cap were told why, with Retry-After
        refused = []
        for s in slow:
            s.settimeout(0.05)
            try:
                refused.append(s.recv(65536))
            except socket.timeout:
                pass
        refused = [x for x in refused if x]
        assert refused and all(b" 503 " in x and b"Retry-After: 1" in x for x in refused)
        assert b"per client address" in refused[0]
    finally:
        for s in slow:
            s.close()
        svc.stop()


def test_retry_after_is_sent_for_errors_that_carry_it(svc, monkeypatch):
    def busy(*a, **kw):
        raise cloudlog.ApiError(503, "busy", retry_after=7)

    monkeypatch.setattr(svc.store, "write", busy)
    r = post(svc, "/v2/entries:write", {"logName": f"projects/{PROJECT}/logs/l", "entries": [{"textPayload": "x"}]})
    assert_error(r, 503, "busy")
    assert r.headers["Retry-After"] == "7"
    r = post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"]})
    assert r.status_code == 200 and "Retry-After" not in r.headers


# ---------------------------------------------------------------- 3: small ones
def test_labels_are_limited_after_merging_the_request_labels(svc):
    r = post(
        svc,
        "/v2/entries:write",
        {
            "logName": f"projects/{PROJECT}/logs/l",
            "labels": {f"r{i}": "x" for i in range(64)},
            "entries": [{"labels": {f"e{i}": "y" for i in range(64)}}],
        },
    )
    assert_error(r, 400, "labels has 128 labels")
    write(svc, [{"insertId": "ok", "labels": {"r0": "y"}}], labels={f"r{i}": "x" for i in range(64)})
    assert ids(svc) == ["ok"]


@pytest.mark.parametrize(
    "path,raw",
    [
        (
            f"/v2/projects/{PROJECT}/sinks",
            b'{"name": "s", "destination": "storage.googleapis.com/bkt", "bigqueryOptions": {"x": 1e999}}',
        ),
        (
            f"/v2/projects/{PROJECT}/metrics",
            b'{"name": "m", "filter": "severity>=ERROR", "bucketOptions": {"x": -1e999}}',
        ),
    ],
)
def test_non_finite_numbers_in_sinks_and_metrics_are_400(svc, path, raw):
    assert_error(post(svc, path, raw=raw), 400, "out of range")
    assert requests.get(svc.endpoint + path, timeout=30).json() == {}


@pytest.mark.parametrize("name", ["s\n", "s\r\n", "s\x00"])
def test_names_with_a_trailing_newline_are_400(svc, name):
    dest = "storage.googleapis.com/bkt"
    assert_error(
        post(svc, f"/v2/projects/{PROJECT}/sinks", {"name": name, "destination": dest}), 400, "invalid sink name"
    )
    assert_error(
        post(svc, f"/v2/projects/{PROJECT}/metrics", {"name": name, "filter": "x"}), 400, "invalid metric name"
    )
    assert_error(
        post(svc, f"/v2/projects/{PROJECT}/sinks", {"name": "s", "destination": dest + "\n"}), 400, "destination"
    )
    assert_error(
        post(svc, "/v2/entries:write", {"logName": f"projects/{PROJECT}/logs/l\n", "entries": [{}]}), 400, "logName"
    )


def test_filters_that_cannot_be_evaluated_are_refused_when_given(svc, monkeypatch):
    huge = "1" + "0" * 400  # parses as a number, but is no finite double
    for path, body in [
        (f"/v2/projects/{PROJECT}/metrics", {"name": "m", "filter": f"jsonPayload.x > {huge}"}),
        (
            f"/v2/projects/{PROJECT}/sinks",
            {"name": "s", "filter": f"jsonPayload.x < {huge}", "destination": "storage.googleapis.com/bkt"},
        ),
        ("/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "filter": f"jsonPayload.x = {huge}"}),
    ]:
        assert_error(post(svc, path, body), 400, "out of range")
    # whatever else DuckDB cannot evaluate is found by evaluating the filter on a sample entry
    real = query_mod.to_sql
    monkeypatch.setattr(
        query_mod,
        "to_sql",
        lambda node, fields=None: "no_such_column = 1" if node == ("global", "zzz") else real(node, fields),
    )
    err = assert_error(
        post(svc, f"/v2/projects/{PROJECT}/metrics", {"name": "m", "filter": "zzz"}), 400, "cannot be evaluated"
    )
    assert "no_such_column" in err["message"]
    metric(svc)  # a good filter still works, and the batch after it has no errors
    write(svc, [{"textPayload": "x"}])
    svc.drain()
    assert service_stats(svc)["processing_errors"] == 0


def test_series_buckets_before_1970_start_at_or_before_their_entry(svc):
    metric(svc)
    write(svc, [{"timestamp": "1969-12-31T23:59:30Z"}, {"timestamp": "1969-12-31T23:58:59Z"}])
    r = series(svc, bucket=60)
    assert r.status_code == 200, r.text
    assert r.json()["points"] == [
        {"start": "1969-12-31T23:58:00Z", "count": 1},
        {"start": "1969-12-31T23:59:00Z", "count": 1},
    ]
    pts = svc.metric_series("m", 3600, project=PROJECT)
    assert [(t.isoformat(), n) for t, n in pts] == [("1969-12-31T23:00:00+00:00", 2)]
    metric(svc, "old", filt='timestamp<"1000-01-01"')
    write(svc, [{"timestamp": "0001-01-01T00:00:30Z"}])
    r = series(svc, "old", bucket=60)
    assert r.json()["points"] == [{"start": "0001-01-01T00:00:00Z", "count": 1}]
    # a bucket aligned before year 1 is dated 0001-01-01 instead of failing
    r = series(svc, "old", bucket=10**9)
    assert r.status_code == 200, r.text
    assert r.json()["points"] == [{"start": "0001-01-01T00:00:00Z", "count": 1}]


def test_a_url_encoded_log_name_can_be_deleted(svc, client):
    log = "my-app%2Frequests"
    write(svc, [{"insertId": "a"}], log=log)
    write(svc, [{"insertId": "b"}], log="keep")
    r = requests.get(f"{svc.endpoint}/v2/projects/{PROJECT}/logs", timeout=30)
    assert f"projects/{PROJECT}/logs/{log}" in r.json()["logNames"]
    client.logger(log).delete()  # DELETE .../logs/my-app%2Frequests
    assert ids(svc) == ["b"]
    write(svc, [{"insertId": "c"}], log="x/y")  # written unencoded: the same log as x%2Fy
    r = requests.delete(f"{svc.endpoint}/v2/projects/{PROJECT}/logs/x%2Fy", timeout=30)
    assert r.status_code == 200, r.text
    assert ids(svc) == ["b"]
    assert_error(requests.delete(f"{svc.endpoint}/v2/projects/{PROJECT}/logs/x%2Fy", timeout=30), 404, "does not exist")


# ---------------------------------------------------------------- 4: memory and limits
def test_name_caches_are_bounded_in_bytes():
    long_keys = [f"{i:05d}" + "k" * 64_000 for i in range(100)]  # 6.4 MB of keys
    for k in long_keys:
        sinks_mod.field_name(k)
        sinks_mod.sanitize(k + "x")
    for cache in (sinks_mod._SANE, sinks_mod._FIELD):
        assert sum(len(k) + len(v) for k, v in cache.items()) <= 4 * 1024 * 1024
    assert sinks_mod.field_name(long_keys[0]) == long_keys[0]  # still right, just recomputed


def test_series_with_too_many_buckets_is_400_naming_the_limit(svc):
    metric(svc)
    write(svc, [{"timestamp": "2024-05-01T00:00:00Z"}, {"timestamp": "2024-05-03T00:00:00Z"}])
    err = assert_error(series(svc, bucket=1), 400, "at most 20000")
    assert "172801 buckets" in err["message"]
    assert len(series(svc, bucket=60).json()["points"]) == 2881
    with pytest.raises(ValueError, match="at most 20000"):
        svc.metric_series("m", 1, project=PROJECT)


def test_list_pages_stop_early_at_the_byte_limit(svc, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_LIST_RESPONSE_BYTES", 1_000_000, raising=False)
    write(
        svc,
        [
            {"insertId": f"e{i:02d}", "timestamp": f"2024-05-01T12:00:{i:02d}Z", "textPayload": "x" * 100_000}
            for i in range(25)
        ],
    )
    seen, token, pages = [], None, 0
    while True:
        r = listed(svc, page_size=1000, token=token)
        assert len(r.content) <= 1_000_000
        body = r.json()
        seen += [e["insertId"] for e in body["entries"]]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break
    assert seen == [f"e{i:02d}" for i in range(25)] and pages == 3
    # a page size smaller than what fits is still honoured
    body = listed(svc, page_size=4).json()
    assert len(body["entries"]) == 4 and body["nextPageToken"]


def test_projects_and_sinks_in_all_projects_are_limited(svc, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_PROJECTS", 3, raising=False)
    monkeypatch.setattr(server_mod, "MAX_SINKS_TOTAL", 2, raising=False)
    for p in ("p1", "p2", "p3"):
        write(svc, [{"textPayload": "x"}], project=p)
    r = post(svc, "/v2/entries:write", {"logName": "projects/p4/logs/l", "entries": [{}]})
    assert_error(r, 400, "at most 3 are allowed")
    write(svc, [{"textPayload": "again"}], project="p1")  # known projects go on
    sink(svc, "a", project="p1")
    sink(svc, "b", project="p2")
    assert_error(
        post(svc, "/v2/projects/p3/sinks", {"name": "c", "destination": "storage.googleapis.com/bkt"}),
        400,
        "2 sinks in all projects",
    )
    assert_error(post(svc, "/v2/projects/p9/metrics", {"name": "m", "filter": "x"}), 400, "at most 3 are allowed")
    assert config_mod.MAX_PROJECTS >= 100 and config_mod.MAX_SINKS_TOTAL >= config_mod.MAX_SINKS


class _OomCursor:
    def __init__(self, cur):
        self._cur = cur

    def execute(self, sql, *a):
        if "FROM cloudlog.entries WHERE" in sql:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return self._cur.execute(sql, *a)

    def __getattr__(self, name):
        return getattr(self._cur, name)


class _OomDb:
    def __init__(self, db):
        self._db = db

    def cursor(self):
        return _OomCursor(self._db.cursor())

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_an_internal_failure_during_a_list_is_5xx_not_a_filter_error(svc, monkeypatch):
    write(svc, [{"textPayload": "x"}])
    monkeypatch.setattr(svc.store, "db", _OomDb(svc.store.db))
    r = post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "filter": "textPayload:x"})
    assert r.status_code >= 500, r.text
    assert "Unparseable filter" not in r.json()["error"]["message"]
    assert "Out of Memory" in r.json()["error"]["message"]
    monkeypatch.undo()
    assert ids(svc) != []


# ---------------------------------------------------------------- 5: tables per request
def test_one_request_may_create_a_bounded_number_of_tables(svc):
    sink(svc)
    many = [{"timestamp": "2024-01-01T00:00:00Z"}] + [
        {"timestamp": f"{2000 + i // 12:04d}-{i % 12 + 1:02d}-01T00:00:00Z"} for i in range(101)
    ]
    err = assert_error(
        post(
            svc, "/v2/entries:write", {"logName": f"projects/{PROJECT}/logs/l", "entries": many, "partialSuccess": True}
        ),
        400,
        "at most 100 are accepted",
    )
    assert "split the batch" in err["message"]
    assert ids(svc) == []
    write(svc, many[:100], log="l")  # 100 (log, day) tables is fine
    assert len(ids(svc)) == 100
