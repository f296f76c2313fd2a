"""The real google-cloud-logging client (HTTP transport) against the local service."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud.logging_v2.handlers import CloudLoggingHandler
from google.cloud.logging_v2.handlers.transports import BackgroundThreadTransport
from google.cloud.logging_v2.resource import Resource
from helpers import count_entries

PROJECT = "tfbook-test"  # the same project as tests/cloudlog/conftest.py

GLOBAL = Resource(type="global", labels={})


def _payloads(client, filter_, **kw):
    return [e.payload for e in client.list_entries(filter_=filter_, **kw)]


def test_text_and_struct_round_trip(client):
    flask_log = client.logger("my-flask-log")
    struct_log = client.logger("struct_log")
    flask_log.log_text("GET /hello 200", severity="INFO", resource=GLOBAL)
    for i, text in enumerate(["-a one", "plain", "x -a y"]):
        struct_log.log_struct(
            {"name": f"n{i}", "text": text, "key": f"k{i}"},
            severity="WARNING" if i else "ERROR",
            resource=GLOBAL,
            labels={"i": str(i)},
        )
    texts = [e for e in client.list_entries(filter_=f'logName="projects/{PROJECT}/logs/my-flask-log"')]
    assert [e.payload for e in texts] == ["GET /hello 200"]
    assert texts[0].severity == "INFO"
    assert texts[0].timestamp.tzinfo is not None
    assert texts[0].insert_id and texts[0].received_timestamp >= texts[0].timestamp

    hits = _payloads(client, 'jsonPayload.text:"-a"')
    assert sorted(p["name"] for p in hits) == ["n0", "n2"]
    assert _payloads(client, "severity>=ERROR AND logName:struct_log")[0]["key"] == "k0"
    assert _payloads(client, 'labels.i="1"') == [{"name": "n1", "text": "plain", "key": "k1"}]
    newest = next(iter(client.list_entries(filter_="logName:struct_log", order_by="timestamp desc")))
    assert newest.payload["name"] == "n2"


def test_paging_through_client_and_raw(client, svc):
    lg = client.logger("paged")
    with lg.batch() as batch:
        for i in range(23):
            batch.log_struct({"i": i}, resource=GLOBAL)
    got = [e.payload["i"] for e in client.list_entries(filter_="logName:paged", page_size=5)]
    assert got == list(range(23))

    body = {"resourceNames": [f"projects/{PROJECT}"], "filter": "logName:paged", "pageSize": 10}
    seen, pages = [], 0
    while True:
        r = requests.post(f"{svc.endpoint}/v2/entries:list", json=body, timeout=10).json()
        pages += 1
        seen += [e["jsonPayload"]["i"] for e in r["entries"]]
        assert all(e["timestamp"].endswith("Z") and e["receiveTimestamp"].endswith("Z") for e in r["entries"])
        if "nextPageToken" not in r:
            break
        body["pageToken"] = r["nextPageToken"]
        assert pages < 10
    assert pages == 3 and seen == list(range(23))


def test_batch_of_500(client, svc):
    lg = client.logger("bulk")
    batch = lg.batch()
    for i in range(500):
        batch.log_text(f"line {i}", resource=GLOBAL, severity="DEBUG")
    batch.commit()
    assert count_entries(svc, "logName:bulk") == 500
    assert count_entries(svc, 'logName:bulk AND textPayload="line 499"') == 1


def test_cloud_logging_handler_numeric_severities(client, svc):
    handler = CloudLoggingHandler(client, name="pyhandler", resource=GLOBAL, transport=BackgroundThreadTransport)
    pylog = logging.getLogger("cloudlog.test.handler")
    pylog.propagate = False
    pylog.setLevel(logging.DEBUG)
    pylog.addHandler(handler)
    try:
        pylog.info("starting up")
        pylog.warning("disk at %d%%", 91)
        pylog.error("it broke")
        handler.flush()
    finally:
        pylog.removeHandler(handler)
        handler.close()
    entries = list(client.list_entries(filter_="logName:pyhandler"))
    by_text = {e.payload if isinstance(e.payload, str) else e.payload.get("message"): e.severity for e in entries}
    assert by_text == {"starting up": "INFO", "disk at 91%": "WARNING", "it broke": "ERROR"}


def test_sinks_through_client_api(client, svc):
    dest = f"bigquery.googleapis.com/projects/{PROJECT}/datasets/structlog"
    sink = client.sink("structlog-sink", filter_='logName:"struct_log"', destination=dest)
    assert not sink.exists()
    sink.create()
    assert sink.exists()
    with pytest.raises(gexc.Conflict):
        client.sink("structlog-sink", filter_="", destination=dest).create()
    again = client.sink("structlog-sink")
    again.reload()
    assert again.destination == dest and again.filter_ == 'logName:"struct_log"'
    assert [s.name for s in client.list_sinks()] == ["structlog-sink"]
    again.filter_ = 'logName:"struct_log" AND severity>=WARNING'
    again.update()
    fresh = client.sink("structlog-sink")
    fresh.reload()
    assert fresh.filter_.endswith("severity>=WARNING")
    with pytest.raises(gexc.BadRequest):
        client.sink("bad", filter_="a =", destination=dest).create()
    with pytest.raises(gexc.BadRequest):
        client.sink("bad", filter_="", destination="ftp://nowhere").create()
    fresh.delete()
    assert not fresh.exists()
    with pytest.raises(gexc.NotFound):
        fresh.delete()


def test_bigquery_sink_tables_and_type_clash(client, svc):
    dest = f"bigquery.googleapis.com/projects/{PROJECT}/datasets/structlog"
    client.sink("s", filter_='logName:"struct_log"', destination=dest).create()
    lg = client.logger("struct_log")
    day1 = datetime(2024, 5, 1, 23, 59, 59, tzinfo=timezone.utc)
    day2 = day1 + timedelta(seconds=2)
    lg.log_struct({"Name": "a", "Text": "-a x", "key": 1}, timestamp=day1, resource=GLOBAL)
    lg.log_struct(
        {"name": "b", "text": "y", "key": "oops", "extra": {"Deep": True}},
        timestamp=day2,
        resource=GLOBAL,
        severity="ERROR",
    )
    client.logger("other").log_text("not exported", resource=GLOBAL)
    tables = sorted(
        r[0]
        for r in svc.query(  # the project is part of the schema's name
            f"SELECT table_name FROM duckdb_tables() WHERE schema_name = '{PROJECT}.structlog'"
        )
    )
    assert tables == ["_sink_errors", "struct_log_20240501", "struct_log_20240502"]
    r1 = svc.query("SELECT jsonPayload, severity, logName, timestamp FROM structlog.struct_log_20240501")
    assert r1 == [
        (
            {"name": "a", "text": "-a x", "key": 1.0},
            "DEFAULT",
            f"projects/{PROJECT}/logs/struct_log",
            datetime(2024, 5, 1, 23, 59, 59),
        )
    ]
    # day 2 is a new table: "key" is a string there (first type seen in that table wins)
    r2 = svc.query("SELECT jsonPayload.key, jsonPayload.extra.deep FROM structlog.struct_log_20240502")
    assert r2 == [("oops", True)]
    lg.log_struct({"name": "c", "key": 5}, timestamp=day2, resource=GLOBAL)
    r3 = svc.query(
        "SELECT jsonPayload.name, jsonPayload.key FROM structlog.struct_log_20240502 ORDER BY timestamp, insertId"
    )
    assert sorted(r3, key=str) == sorted([("b", "oops"), ("c", None)], key=str)
    errs = svc.query("SELECT sink, table_name, field, expected, got, entry FROM structlog._sink_errors")
    assert [e[:5] for e in errs] == [("s", "struct_log_20240502", "jsonPayload.key", "VARCHAR", "DOUBLE")]
    assert json.loads(errs[0][5])["jsonPayload"] == {"name": "c", "key": 5}


def test_file_and_pubsub_sinks(client, svc, tmp_path):
    got = []
    svc.subscribe(f"projects/{PROJECT}/topics/errors", got.append)
    client.sink("to-files", filter_="logName:app", destination="storage.googleapis.com/my-bucket").create()
    client.sink(
        "to-topic", filter_="severity>=ERROR", destination=f"pubsub.googleapis.com/projects/{PROJECT}/topics/errors"
    ).create()
    lg = client.logger("app")
    lg.log_text("fine", resource=GLOBAL)
    lg.log_text("bad thing", severity="ERROR", resource=GLOBAL)
    assert svc.drain(10)
    assert [e["textPayload"] for e in got] == ["bad thing"]
    files = list((tmp_path / "gcs" / "my-bucket" / "app").rglob("*.json"))
    assert len(files) == 1
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert [x["textPayload"] for x in lines] == ["fine", "bad thing"]


def test_metrics_through_client_api(client, svc):
    m = client.metric("errors", filter_="severity>=ERROR", description="errors per minute")
    assert not m.exists()
    m.create()
    with pytest.raises(gexc.Conflict):
        m.create()
    lg = client.logger("app")
    base = datetime(2024, 5, 1, 12, 0, 10, tzinfo=timezone.utc)
    for minute, n in ((0, 3), (2, 1)):
        for k in range(n):
            lg.log_text(
                "boom", severity="ERROR", resource=GLOBAL, timestamp=base + timedelta(minutes=minute, seconds=k)
            )
    lg.log_text("fine", severity="INFO", resource=GLOBAL, timestamp=base)
    series = svc.metric_series("errors", bucket_seconds=60)
    assert [(t.strftime("%H:%M"), n) for t, n in series] == [("12:00", 3), ("12:01", 0), ("12:02", 1)]
    raw = requests.get(
        f"{svc.endpoint}/local/v1/projects/{PROJECT}/metrics/errors/series", params={"bucketSeconds": 180}, timeout=10
    ).json()
    assert raw == {"points": [{"start": "2024-05-01T12:00:00Z", "count": 4}]}
    m2 = client.metric("errors")
    m2.reload()
    assert m2.filter_ == "severity>=ERROR" and m2.description == "errors per minute"
    m2.filter_ = "severity>=CRITICAL"
    m2.update()
    assert [x.filter_ for x in client.list_metrics()] == ["severity>=CRITICAL"]
    m2.delete()
    with pytest.raises(gexc.NotFound):
        m2.reload()


def test_errors_surface_as_client_exceptions(client):
    with pytest.raises(gexc.BadRequest) as e:
        list(client.list_entries(filter_="severity >= (ERROR"))
    assert "position" in str(e.value)
    with pytest.raises(gexc.BadRequest):
        client.logger("x").log_text("y", severity="LOUD", resource=GLOBAL)
    with pytest.raises(gexc.NotFound):
        client.sink("missing").reload()
    with pytest.raises(gexc.NotFound):
        client.logger("never-written").delete()


def test_delete_log(client, svc):
    client.logger("gone").log_text("a", resource=GLOBAL)
    client.logger("kept").log_text("b", resource=GLOBAL)
    client.logger("gone").delete()
    assert count_entries(svc, "logName:gone") == 0
    assert count_entries(svc, "logName:kept") == 1


def test_concurrent_clients(svc):
    from concurrent.futures import ThreadPoolExecutor
    import cloudlog

    def work(t):
        c = cloudlog.client(svc.endpoint, PROJECT)
        lg = c.logger("conc")
        for i in range(40):
            lg.log_struct({"t": t, "i": i}, resource=GLOBAL)
        return t

    with ThreadPoolExecutor(6) as ex:
        assert sorted(ex.map(work, range(6))) == list(range(6))
    assert count_entries(svc, "logName:conc") == 240
    assert count_entries(svc, "logName:conc AND jsonPayload.t=3 AND jsonPayload.i>=20") == 20
