"""Bad requests get Cloud Logging's error shape and status, and the service keeps serving."""

from __future__ import annotations

import json

import pytest
import requests
from helpers import count_entries

PROJECT = "tfbook-test"  # the same project as tests/cloudlog/conftest.py

LOG = f"projects/{PROJECT}/logs/bad"


def post(svc, path, body=None, raw=None, method="POST"):
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.request(
        method, svc.endpoint + path, data=data, headers={"Content-Type": "application/json"}, timeout=30
    )


def assert_error(resp, code, status, text=None):
    assert resp.status_code == code, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["status"] == status
    if text:
        assert text in err["message"], err["message"]
    return err


def still_serving(svc):
    r = post(svc, "/v2/entries:write", {"logName": LOG, "entries": [{"textPayload": "ok"}]})
    assert r.status_code == 200 and r.json() == {}


CASES = [
    ("malformed json", "/v2/entries:write", None, b"{not json", 400, "Invalid JSON"),
    ("body not object", "/v2/entries:write", [1, 2], None, 400, "JSON object"),
    ("no entries", "/v2/entries:write", {"logName": LOG, "entries": []}, None, 400, "entries"),
    ("entries wrong type", "/v2/entries:write", {"entries": "x"}, None, 400, "entries"),
    ("unknown field", "/v2/entries:write", {"entries": [{}], "bogus": 1}, None, 400, "bogus"),
    ("no logName", "/v2/entries:write", {"entries": [{"textPayload": "x"}]}, None, 400, "logName"),
    ("bad logName", "/v2/entries:write", {"logName": "nope", "entries": [{}]}, None, 400, "logName"),
    (
        "textPayload not str",
        "/v2/entries:write",
        {"logName": LOG, "entries": [{"textPayload": 5}]},
        None,
        400,
        "textPayload",
    ),
    (
        "labels not strings",
        "/v2/entries:write",
        {"logName": LOG, "entries": [{"labels": {"a": 1}}]},
        None,
        400,
        "labels",
    ),
    ("bad severity", "/v2/entries:write", {"logName": LOG, "entries": [{"severity": "LOUD"}]}, None, 400, "severity"),
    (
        "bad timestamp",
        "/v2/entries:write",
        {"logName": LOG, "entries": [{"timestamp": "yesterday"}]},
        None,
        400,
        "timestamp",
    ),
    (
        "two payloads",
        "/v2/entries:write",
        {"logName": LOG, "entries": [{"textPayload": "a", "jsonPayload": {}}]},
        None,
        400,
        "one of",
    ),
    ("list without resourceNames", "/v2/entries:list", {"filter": ""}, None, 400, "resourceNames"),
    (
        "list bad filter",
        "/v2/entries:list",
        {"resourceNames": [f"projects/{PROJECT}"], "filter": "severity >= (ERROR"},
        None,
        400,
        "position 19",
    ),
    (
        "list bad order",
        "/v2/entries:list",
        {"resourceNames": [f"projects/{PROJECT}"], "orderBy": "severity"},
        None,
        400,
        "orderBy",
    ),
    (
        "list bad pageSize",
        "/v2/entries:list",
        {"resourceNames": [f"projects/{PROJECT}"], "pageSize": "ten"},
        None,
        400,
        "pageSize",
    ),
    (
        "list bad token",
        "/v2/entries:list",
        {"resourceNames": [f"projects/{PROJECT}"], "pageToken": "garbage"},
        None,
        400,
        "pageToken",
    ),
    (
        "sink bad destination",
        f"/v2/projects/{PROJECT}/sinks",
        {"name": "s", "destination": "nowhere", "filter": ""},
        None,
        400,
        "destination",
    ),
    (
        "sink bad filter",
        f"/v2/projects/{PROJECT}/sinks",
        {"name": "s", "destination": "storage.googleapis.com/bucket", "filter": "a ="},
        None,
        400,
        "position",
    ),
    (
        "sink bad name",
        f"/v2/projects/{PROJECT}/sinks",
        {"name": "a b", "destination": "storage.googleapis.com/bucket"},
        None,
        400,
        "name",
    ),
    ("metric without filter", f"/v2/projects/{PROJECT}/metrics", {"name": "m"}, None, 400, "filter"),
    ("unknown path", "/v2/nothing", {}, None, 404, "unknown path"),
]


@pytest.mark.parametrize("name,path,body,raw,code,text", CASES, ids=[c[0] for c in CASES])
def test_bad_request(svc, name, path, body, raw, code, text):
    status = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}[code]
    assert_error(post(svc, path, body, raw), code, status, text)
    still_serving(svc)
    assert count_entries(svc) == 1  # nothing from the bad request was stored


def test_unknown_sinks_and_metrics(svc):
    for kind in ("sinks", "metrics"):
        base = f"/v2/projects/{PROJECT}/{kind}/missing"
        assert_error(post(svc, base, method="GET"), 404, "NOT_FOUND", "missing")
        assert_error(post(svc, base, {"filter": "x"}, method="PUT"), 404, "NOT_FOUND")
        assert_error(post(svc, base, method="DELETE"), 404, "NOT_FOUND")
    assert_error(post(svc, f"/v2/projects/{PROJECT}/logs/missing", method="DELETE"), 404, "NOT_FOUND")
    sink = {"name": "s", "destination": "storage.googleapis.com/bucket"}
    assert post(svc, f"/v2/projects/{PROJECT}/sinks", sink).status_code == 200
    assert_error(post(svc, f"/v2/projects/{PROJECT}/sinks", sink), 409, "ALREADY_EXISTS")
    still_serving(svc)


def test_oversized_entry_and_request(svc):
    big = "x" * (256 * 1024 + 10)
    err = assert_error(
        post(svc, "/v2/entries:write", {"logName": LOG, "partialSuccess": False, "entries": [{"textPayload": big}]}),
        400,
        "INVALID_ARGUMENT",
        "exceeds the maximum size",
    )
    assert err["details"][0]["logEntryErrors"]["0"]["code"] == 3
    huge = {"logName": LOG, "entries": [{"textPayload": "y" * 200_000} for _ in range(60)]}
    assert_error(post(svc, "/v2/entries:write", huge), 413, "PAYLOAD_TOO_LARGE", "10 MB")
    still_serving(svc)
    assert count_entries(svc) == 1


def test_partial_success_and_dry_run(svc):
    body = {"logName": LOG, "entries": [{"textPayload": "good"}, {"severity": "LOUD"}, {"textPayload": "also good"}]}
    err = assert_error(post(svc, "/v2/entries:write", dict(body, partialSuccess=False)), 400, "INVALID_ARGUMENT")
    assert list(err["details"][0]["logEntryErrors"]) == ["1"]
    assert count_entries(svc) == 0
    assert_error(post(svc, "/v2/entries:write", dict(body, partialSuccess=True)), 400, "INVALID_ARGUMENT", "1 of 3")
    assert count_entries(svc) == 2
    r = post(svc, "/v2/entries:write", {"logName": LOG, "dryRun": True, "entries": [{"textPayload": "dry"}]})
    assert r.status_code == 200 and count_entries(svc) == 2


def test_request_level_defaults_and_severity_numbers(svc):
    body = {
        "logName": LOG,
        "resource": {"type": "gce_instance", "labels": {"zone": "z"}},
        "labels": {"app": "web", "env": "dev"},
        "entries": [
            {"textPayload": "a", "severity": 500, "labels": {"env": "prod"}},
            {"textPayload": "b", "severity": "warning", "timestamp": "2024-05-01T12:00:00.123456789+02:00"},
        ],
    }
    assert post(svc, "/v2/entries:write", body).status_code == 200
    r = post(svc, "/v2/entries:list", {"resourceNames": [f"projects/{PROJECT}"], "orderBy": "timestamp asc"}).json()[
        "entries"
    ]
    b, a = r
    assert a["severity"] == "ERROR" and a["labels"] == {"app": "web", "env": "prod"}
    assert a["resource"] == {"type": "gce_instance", "labels": {"zone": "z"}}
    assert b["severity"] == "WARNING" and b["timestamp"] == "2024-05-01T10:00:00.123456Z"
    assert a["insertId"] and a["insertId"] != b["insertId"]
