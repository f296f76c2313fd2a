"""Property test (issue 13): generated hostile entries and filters against a running service.

Every acknowledged entry is listed, exported to every BigQuery sink whose filter matches it,
and counted by every metric whose filter matches it; rejected entries and filters get a JSON
400 and change nothing."""

from __future__ import annotations

import itertools
import json

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import cloudlog
from helpers import service_stats

_ids = itertools.count()

KEYS = st.sampled_from(["a", "A", "b", "a-b", "x.y", "ü", "", "n", "\ud800", "deep", "k" * 300])
TEXT = st.text(st.characters(codec=None, categories=("L", "N", "P", "S", "Zs", "Cs", "Cc")), max_size=12)
SCALARS = st.one_of(
    TEXT,
    st.booleans(),
    st.none(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False),
    st.sampled_from([10**400, 1.5, -0.0]),
)
JSON = st.recursive(
    SCALARS, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(KEYS, c, max_size=4)), max_leaves=12
)


def deep(n):
    out = cur = {}
    for _ in range(n):
        cur["deep"] = {}
        cur = cur["deep"]
    return out


ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "jsonPayload": st.one_of(st.dictionaries(KEYS, JSON, max_size=5), st.sampled_from([deep(70), deep(10)])),
        "textPayload": TEXT,
        "labels": st.one_of(
            st.dictionaries(st.sampled_from(["l0", "l1", "L2", "\ud800"]), TEXT, max_size=3),
            st.just({f"l{i}": "v" for i in range(70)}),
        ),
        "severity": st.sampled_from(["ERROR", "info", 200, "LOUD", 450]),
        "timestamp": st.sampled_from(
            [
                "2024-05-01T12:00:00Z",
                "2024-05-02T00:00:00+01:00",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59Z",
                "yesterday",
            ]
        ),
    },
)

FIELDS = [
    "jsonPayload.a",
    "jsonPayload.A",
    "jsonPayload.n",
    "jsonPayload.deep.deep",
    "labels.l0",
    "textPayload",
    "severity",
    '"jsonPayload"."a-b"',
]
VALUES = ['"x"', "1", "true", '""', "ERROR", '"\\u00fc"']
REGEXES = ['"^a"', '"[0-9]"', '"(?<=a)b"', '"(a)\\\\1"', '"(?i)X"']


@st.composite
def filters(draw):
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        f = draw(st.sampled_from(FIELDS))
        op = draw(st.sampled_from(["=", "!=", ":", ">", "=~", "!~", ":*"]))
        if op == ":*":
            parts.append(f + ":*")
        else:
            v = draw(st.sampled_from(REGEXES if op in ("=~", "!~") else VALUES))
            parts.append(f"{'NOT ' if draw(st.booleans()) else ''}{f}{op}{v}")
    return draw(st.sampled_from([" AND ", " OR "])).join(parts)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    d = tmp_path_factory.mktemp("prop")
    svc = cloudlog.start_local(d / "p.duckdb", bucket_dir=d / "gcs")
    yield svc
    svc.stop()


def exported(svc, project, dataset) -> list[str]:
    schema = f"{project}.{dataset}"
    tables = [
        t
        for (t,) in svc.query(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND table_name <> '_sink_errors'", [schema]
        )
    ]
    out = []
    for t in tables:
        out += [i for (i,) in svc.query(f'SELECT insertId FROM "{schema}"."{t}"')]
    return sorted(out)


@settings(
    max_examples=25,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(entries=st.lists(ENTRY, min_size=1, max_size=8), fs=st.lists(filters(), min_size=1, max_size=3))
def test_acknowledged_entries_are_listed_exported_and_counted(service, entries, fs):
    svc = service
    project = f"prop-{next(_ids)}"
    base = f"{svc.endpoint}/v2/projects/{project}"
    live = []
    for k, f in enumerate(fs):
        r1 = requests.post(
            f"{base}/sinks",
            timeout=30,
            json={
                "name": f"s{k}",
                "filter": f,
                "destination": f"bigquery.googleapis.com/projects/{project}/datasets/d{k}",
            },
        )
        r2 = requests.post(f"{base}/metrics", json={"name": f"m{k}", "filter": f}, timeout=30)
        assert r1.status_code == r2.status_code, (r1.text, r2.text)
        if r1.status_code == 400:
            assert r1.json()["error"]["status"] == "INVALID_ARGUMENT"
            continue
        assert r1.status_code == 200, r1.text
        live.append((k, f))
    for i, e in enumerate(entries):
        e["insertId"] = f"e{i}"
    raw = json.dumps(
        {"logName": f"projects/{project}/logs/struct_log", "partialSuccess": True, "entries": entries},
        ensure_ascii=True,
    ).encode()
    r = requests.post(
        f"{svc.endpoint}/v2/entries:write", data=raw, timeout=60, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (200, 400), r.text
    failed = set()
    if r.status_code == 400:
        err = r.json()["error"]
        assert err["status"] == "INVALID_ARGUMENT"
        if "details" in err:  # per entry: the others were written
            failed = {int(i) for i in err["details"][0]["logEntryErrors"]}
        else:  # the body is not JSON (Infinity/NaN): nothing was written
            assert "Invalid JSON" in err["message"], err
            failed = set(range(len(entries)))
    acked = sorted(f"e{i}" for i in range(len(entries)) if i not in failed)

    def listed(filter_=""):
        resp = requests.post(
            f"{svc.endpoint}/v2/entries:list",
            timeout=60,
            json={"resourceNames": [f"projects/{project}"], "filter": filter_, "pageSize": 1000},
        )
        assert resp.status_code == 200, resp.text
        return sorted(e["insertId"] for e in resp.json().get("entries", []))

    assert listed() == acked
    for k, f in live:
        matching = listed(f)
        assert exported(svc, project, f"d{k}") == matching, f
        assert sum(n for _, n in svc.metric_series(f"m{k}", 10**9, project=project)) == len(matching), f
    assert service_stats(svc)["processing_errors"] == 0
