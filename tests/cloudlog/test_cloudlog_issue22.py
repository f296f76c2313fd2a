"""Issue 22, chapter 02's service items: URL-encoded log IDs, a query route and command for
SQL while the server runs, filter errors relative to the learner's filter, and clear sink
destination errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import requests

import cloudlog
from cloudlog.store import Store

PROJECT = "tfbook-test"  # the same project as tests/cloudlog/conftest.py
DAY = "2024-05-01T12:00:00Z"
ROOT = Path(__file__).resolve().parents[2]


def post(svc, path, body):
    return requests.post(
        svc.endpoint + path, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30
    )


def error_message(resp, code=400) -> str:
    assert resp.status_code == code, resp.text
    return resp.json()["error"]["message"]


def listed(svc, filter_="", project=PROJECT):
    r = post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{project}"], "filter": filter_, "pageSize": 1000})
    assert r.status_code == 200, r.text
    return r.json().get("entries", [])


# ---------------------------------------------------------------- 1: log IDs with "/"
def test_a_log_id_with_a_slash_is_stored_url_encoded_as_cloud_logging_does(svc, client):
    client.logger("my-app/requests").log_struct({"path": "/"})  # the client sends it unencoded
    client.logger("plain").log_text("x")
    encoded = f"projects/{PROJECT}/logs/my-app%2Frequests"
    entries = list(client.list_entries(filter_=f'logName="{encoded}"'))  # the documented filter
    assert [e.log_name for e in entries] == [encoded]
    assert entries[0].logger.name == "my-app%2Frequests"  # the client parses the name as GCP's
    assert len(list(client.list_entries(filter_='log_id("my-app/requests")'))) == 1
    # as in Cloud Logging, the unencoded spelling is not the stored logName
    assert listed(svc, f'logName="projects/{PROJECT}/logs/my-app/requests"') == []
    logs = requests.get(f"{svc.endpoint}/v2/projects/{PROJECT}/logs", timeout=30).json()
    assert logs["logNames"] == [encoded, f"projects/{PROJECT}/logs/plain"]
    # a request-level logName and an entry-level one, encoded or not, are one log
    r = post(svc, "/v2/entries:write", {"logName": encoded, "entries": [{"textPayload": "a"}]})
    assert r.status_code == 200, r.text
    r = post(
        svc,
        "/v2/entries:write",
        {"entries": [{"logName": f"projects/{PROJECT}/logs/my-app/requests", "textPayload": "b"}]},
    )
    assert r.status_code == 200, r.text
    assert {e["logName"] for e in listed(svc, f'logName="{encoded}"')} == {encoded}
    assert len(listed(svc, f'logName="{encoded}"')) == 3


def test_a_bigquery_sink_names_the_table_after_the_log_id_with_underscores(svc, client):
    client.sink("bq", filter_="", destination=(f"bigquery.googleapis.com/projects/{PROJECT}/datasets/ds")).create()
    client.logger("cloudaudit.googleapis.com/activity").log_struct({"k": "v"}, timestamp=None)
    svc.drain()
    rows = svc.query("SELECT logName FROM `ds.cloudaudit_googleapis_com_activity_*`", project=PROJECT)
    assert rows == [(f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity",)]


def test_old_unencoded_log_names_are_encoded_on_start_journal_and_duckdb(tmp_path):
    db = tmp_path / "old.duckdb"
    old_name = f"projects/{PROJECT}/logs/my-app/requests"
    # DuckDB rows written by the previous version (logName as written) ...
    store = Store(db)
    from cloudlog.model import normalize_entry, now_us

    store.write(
        [
            normalize_entry(
                {"logName": old_name, "textPayload": "in duckdb", "insertId": "d", "timestamp": DAY}, {}, now_us()
            )
        ]
    )
    store.close()
    con = duckdb.connect(str(db))
    con.execute(
        "UPDATE cloudlog.entries SET log_name = ?, entry = replace(entry, ?, ?), search = replace(search, ?, ?)",
        [old_name, "my-app%2Frequests", "my-app/requests", "my-app%2frequests", "my-app/requests"],
    )
    con.execute("DELETE FROM cloudlog.state WHERE k = 'log_names_encoded'")
    (seq,) = con.execute("SELECT max(seq) FROM cloudlog.entries").fetchone()
    con.close()
    # ... and a journal line of the previous version, not yet applied
    entry = {
        "logName": old_name,
        "resource": {"type": "global"},
        "timestamp": DAY,
        "receiveTimestamp": DAY,
        "severity": "DEFAULT",
        "insertId": "j",
        "textPayload": "in the journal",
    }
    with open(str(db) + ".journal", "ab") as f:
        f.write(
            f"{seq + 1}\t1714564800000000\t1714564800000000\t0\t{json.dumps(entry, separators=(',', ':'))}\n".encode()
        )
    store = Store(db)
    try:
        texts, _ = store.list_entries([PROJECT], f'logName="projects/{PROJECT}/logs/my-app%2Frequests"')
        got = sorted((json.loads(t)["insertId"], json.loads(t)["logName"]) for t in texts)
        encoded = f"projects/{PROJECT}/logs/my-app%2Frequests"
        assert got == [("d", encoded), ("j", encoded)]
        assert store.list_logs(PROJECT) == [encoded]
        texts, _ = store.list_entries([PROJECT], '"my-app%2Frequests" "in duckdb"')
        assert len(texts) == 1  # the search text was rewritten too
    finally:
        store.close()


# ---------------------------------------------------------------- 2: SQL while the server runs
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args, port):
    return subprocess.run(
        [sys.executable, "-m", "cloudlog", "query", "--port", str(port), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, LOGGING_ENDPOINT="", CLOUDLOG_PROJECT=""),
    )


@pytest.mark.slow  # starts the service as a process and runs the query command four times, about 5 s
def test_query_command_runs_sql_against_a_running_server(tmp_path):
    port = free_port()
    r = cli("SELECT 1", port=port)  # nothing listens yet: say so, and how to start one
    assert r.returncode == 1 and "no cloudlog service answers" in r.stderr, r.stderr
    assert "python -m cloudlog serve" in r.stderr and "Traceback" not in r.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(tmp_path / "logs.duckdb"), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "listening" in server.stdout.readline()
        client = cloudlog.client(f"http://127.0.0.1:{port}", PROJECT)
        client.sink(
            "bq", filter_="", destination=(f"bigquery.googleapis.com/projects/{PROJECT}/datasets/structlog")
        ).create()
        for day, name in [("2024-05-01", "ann"), ("2024-05-02", "bob"), ("2024-05-02", "cy")]:
            client.logger("struct_log").log_struct(
                {"name": name}, timestamp=datetime.fromisoformat(f"{day}T12:00:00+00:00")
            )
        r = cli(
            "SELECT _TABLE_SUFFIX AS day, count(*) AS n FROM `structlog.struct_log_*` GROUP BY 1 ORDER BY 1", port=port
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [
            "+----------+---+",
            "| day      | n |",
            "+----------+---+",
            "| 20240501 | 1 |",
            "| 20240502 | 2 |",
            "+----------+---+",
        ]
        r = cli(
            "--project",
            PROJECT,
            "--format",
            "json",
            f"SELECT jsonPayload.name, timestamp FROM `{PROJECT}.structlog.struct_log_20240501`",
            port=port,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [{"name": "ann", "timestamp": "2024-05-01T12:00:00Z"}]
        # bad SQL: DuckDB's message, placed in the SQL as written (not the rewritten one)
        r = cli("SELECT count(*)\nFROM `structlog.struct_log_*`\nWHERE nmae = 'ann'", port=port)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert 'column "nmae" not found' in r.stderr
        assert "at line 3, column 7 of your SQL:\n  WHERE nmae = 'ann'\n        ^" in r.stderr
        # the service's own tables, other projects' and files are out of reach
        for sql in (
            "SELECT * FROM cloudlog.entries",
            "SELECT * FROM read_text('/etc/passwd')",
            "SELECT * FROM '/etc/passwd'",
            "DELETE FROM structlog.struct_log_20240501",
        ):
            r = cli(sql, port=port)
            assert r.returncode == 1 and "error:" in r.stderr, (sql, r.stdout)
        assert (
            cli("SELECT count(*) FROM structlog.struct_log_20240501", port=port).stdout.count("| 1 ") == 1
        )  # nothing was deleted
    finally:
        server.terminate()
        server.communicate(timeout=60)


def test_query_route_is_read_only_and_limited_to_one_project(svc):
    for project in (PROJECT, "other"):
        r = post(
            svc,
            f"/v2/projects/{project}/sinks",
            {"name": "bq", "destination": f"bigquery.googleapis.com/projects/{project}/datasets/ds"},
        )
        assert r.status_code == 200, r.text
        r = post(
            svc,
            "/v2/entries:write",
            {"logName": f"projects/{project}/logs/app", "entries": [{"textPayload": project, "timestamp": DAY}]},
        )
        assert r.status_code == 200, r.text
    route = f"/local/v1/projects/{PROJECT}/queries"
    r = post(svc, route, {"query": "SELECT textPayload FROM ds.app_20240501"})
    assert r.status_code == 200, r.text
    assert r.json() == {"columns": ["textPayload"], "rows": [[PROJECT]], "truncated": False}
    msg = error_message(post(svc, route, {"query": 'SELECT * FROM "other.ds".app_20240501'}))
    assert "is not a table of project tfbook-test's datasets" in msg
    msg = error_message(post(svc, route, {"query": "SELECT * FROM `other.ds.app_20240501`"}))
    assert "'other.ds.app_20240501' is not a table of project" in msg
    r = post(svc, "/local/v1/queries", {"query": "SELECT 1"})  # no project: which one?
    assert "several projects" in error_message(r)
    r = post(svc, route, {"query": "SELECT current_setting('enable_external_access') AS x"})
    assert r.json()["rows"] == [[False]]
    r = post(svc, route, {"query": "SELECT * FROM range(5) t(x)", "maxResults": 2})
    assert "table functions" in error_message(r)
    r = post(svc, route, {"query": "WITH t AS (SELECT 1 AS x UNION ALL SELECT 2) SELECT * FROM t", "maxResults": 1})
    assert r.json() == {"columns": ["x"], "rows": [[1]], "truncated": True}


# ---------------------------------------------------------------- 3: filter errors
def client_error(client, filter_) -> str:
    from google.api_core.exceptions import BadRequest

    with pytest.raises(BadRequest) as info:
        list(client.list_entries(filter_=filter_))  # the client appends its 24 h window
    return info.value.message


def test_filter_errors_point_into_the_learners_own_filter(client):
    msg = client_error(client, "severity>=WARNING AND (")
    assert "at position 24 (at the end)" in msg, msg
    assert "the client library appended 'AND timestamp>=" in msg
    msg = client_error(client, 'jsonPayload.text:"-a" AND severity=BAD')
    assert "at position 36 (near 'BAD')" in msg and "timestamp" not in msg, msg


def test_a_loggers_list_entries_errors_point_into_the_learners_own_filter(client):
    """Logger.list_entries puts ` AND logName=projects/P/logs/NAME` before the 24 h window."""
    from google.api_core.exceptions import BadRequest

    logger = client.logger("struct_log")
    with pytest.raises(BadRequest) as info:
        list(logger.list_entries(filter_="severity>=WARNING AND ("))
    msg = info.value.message
    assert "at position 24 (at the end)" in msg, msg
    assert "the client library appended 'AND logName=projects/" in msg, msg
    with pytest.raises(BadRequest) as info:
        list(logger.list_entries(filter_="severity>>300"))
    assert "(near '>>300')" in info.value.message, info.value.message


@pytest.mark.parametrize(
    "filter_, expected",
    [
        ('jsonPayload.a="x" && severity>=ERROR', "'&&' is not an operator of the Logging query language: write AND"),
        ("severity>=ERROR || severity=DEBUG", "'||' is not an operator of the Logging query language: write OR"),
        ("severity>>300", "'>>' is not an operator of the Logging query language; use '>' or '>='"),
        ("severity=>WARNING", "'=>' is not an operator of the Logging query language; use '>='"),
        ("textPayload=='hi'", "'==' is not an operator"),
        ("textPayload='hi'", "single quotes do not make a string"),
        (
            "severity > = ERROR",
            "'> =' is not an operator of the Logging query language; use '>=', without the space at position 10",
        ),
        ("severity=(ERROR OR >3)", "a value cannot start with '>'"),
        ("'hi'", "single quotes do not make a string"),
    ],
)
def test_other_languages_operators_and_quotes_are_refused_with_the_right_one(client, filter_, expected):
    msg = client_error(client, filter_)
    assert expected in msg, msg


def test_quoted_and_lowercase_words_stay_searches(client):
    client.logger("app").log_text("a && b and 'c'")
    for f in ('"&&"', "\"'c'\"", "a and b", 'textPayload:"&&"'):
        assert len(list(client.list_entries(filter_=f))) == 1, f


# ---------------------------------------------------------------- 4: destinations
@pytest.mark.parametrize(
    "dataset, expected",
    [
        (
            "my-logs",
            "invalid BigQuery dataset name 'my-logs' in the sink destination: it contains "
            "'-'; a dataset name may hold only letters, digits and underscores",
        ),
        ("logs.v2", "it contains '.'"),
        ("", "it must have 1 to 1024 characters"),
    ],
)
def test_a_bad_dataset_name_is_named_with_the_character_at_fault(svc, dataset, expected):
    r = post(
        svc,
        f"/v2/projects/{PROJECT}/sinks",
        {"name": "bq", "destination": f"bigquery.googleapis.com/projects/{PROJECT}/datasets/{dataset}"},
    )
    msg = error_message(r)
    assert expected in msg and "unsupported sink destination" not in msg, msg


# ---------------------------------------------------------------- 5: cheap table creation
class CountingConnection:
    """A DuckDB connection that counts the statements listing every table."""

    def __init__(self, con):
        self.con, self.scans = con, 0

    def execute(self, sql, *args):
        self.scans += "duckdb_tables()" in sql
        return self.con.execute(sql, *args)

    def __getattr__(self, name):  # register, unregister, sql, ...
        return getattr(self.con, name)


def day_rows(days, first=0, fields=None):
    from cloudlog.model import format_timestamp, normalize_entry, now_us

    base = 1_714_521_600_000_000  # 2024-05-01
    return [
        normalize_entry(
            {
                "logName": f"projects/{PROJECT}/logs/app",
                "insertId": f"{d}",
                "jsonPayload": dict(fields or {}, d=d),
                "timestamp": format_timestamp(base + d * 86_400_000_000),
            },
            {},
            now_us(),
        )
        for d in range(first, first + days)
    ]


def test_a_new_table_does_not_list_every_table_and_the_names_stay_right(tmp_path):
    from cloudlog.sinks import BigQueryExporter

    raw = duckdb.connect(str(tmp_path / "t.duckdb"))
    con = CountingConnection(raw)
    exporter = BigQueryExporter()
    exporter.export(con, "bq", PROJECT, "ds", day_rows(60))  # 60 tables
    con.scans = 0
    exporter.export(con, "bq", PROJECT, "ds", day_rows(40, first=60))
    assert con.scans == 0  # 40 new tables, not one listing of all tables
    exporter.export(con, "bq", PROJECT, "ds", day_rows(3, first=58))  # existing ones
    # a fresh exporter (a restart) finds the tables that exist with one listing
    again = BigQueryExporter()
    con.scans = 0
    again.export(con, "bq", PROJECT, "ds", day_rows(100))
    assert con.scans == 1
    counts = raw.execute(
        f"SELECT table_name, estimated_size FROM duckdb_tables() WHERE "
        f"schema_name = '{PROJECT}.ds' AND table_name LIKE 'app_%'"
    ).fetchall()
    assert len(counts) == 100
    n = {t: raw.execute(f'SELECT count(*) FROM "{PROJECT}.ds"."{t}"').fetchone()[0] for t, _ in counts}
    assert sorted(set(n.values())) == [2, 3] and n["app_20240630"] == 3  # days 58-60: 3
    # after a rollback the names are read again: a table the rollback removed is made anew
    raw.execute("BEGIN")
    again.export(con, "bq", PROJECT, "ds", day_rows(1, first=500))
    raw.execute("ROLLBACK")
    again.reset()
    again.export(con, "bq", PROJECT, "ds", day_rows(1, first=500))
    assert raw.execute(f'SELECT count(*) FROM "{PROJECT}.ds".app_20250913').fetchone()[0] == 1


def test_a_large_table_split_into_parts_keeps_its_name_in_the_cache(tmp_path, monkeypatch):
    from cloudlog import sinks
    from cloudlog.sinks import BigQueryExporter

    monkeypatch.setattr(sinks, "REWRITE_ROWS", 5)
    raw = duckdb.connect(str(tmp_path / "t.duckdb"))
    exporter = BigQueryExporter()
    one_day = [r for i in range(8) for r in day_rows(1, fields={"a": i})]
    exporter.export(raw, "bq", PROJECT, "ds", one_day)  # 8 rows > 5
    exporter.export(raw, "bq", PROJECT, "ds", day_rows(1, fields={"new": "x"}))  # a new part
    exporter._tables.clear()  # the schema cache evicted: found through the names
    exporter.export(raw, "bq", PROJECT, "ds", day_rows(1, fields={"new2": "y"}))
    rows = raw.execute(
        f'SELECT count(*), count(jsonPayload.new), count(jsonPayload.new2) FROM "{PROJECT}.ds".app_20240501'
    ).fetchone()
    assert rows == (10, 1, 1)


def test_a_metric_series_end_is_exclusive(svc):
    """[start, end): an end on a minute boundary adds no bucket starting at end (chapter 02's
    dashboard would end in an empty minute that looks like traffic stopping)."""
    from datetime import timedelta, timezone

    r = post(svc, f"/v2/projects/{PROJECT}/metrics", {"name": "m", "filter": "severity>=DEFAULT"})
    assert r.status_code == 200, r.text
    start = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    stamps = [start + timedelta(minutes=m, seconds=30) for m in range(3)]
    r = post(
        svc,
        "/v2/entries:write",
        {
            "logName": f"projects/{PROJECT}/logs/x",
            "entries": [{"textPayload": "x", "timestamp": t.isoformat().replace("+00:00", "Z")} for t in stamps],
        },
    )
    assert r.status_code == 200, r.text
    points = svc.metric_series("m", 60, project=PROJECT, start=start, end=start + timedelta(minutes=3))
    assert [(t.minute, n) for t, n in points] == [(0, 1), (1, 1), (2, 1)]
    # an end inside a minute keeps that minute
    points = svc.metric_series("m", 60, project=PROJECT, start=start, end=start + timedelta(minutes=2, seconds=1))
    assert [(t.minute, n) for t, n in points] == [(0, 1), (1, 1), (2, 1)]
