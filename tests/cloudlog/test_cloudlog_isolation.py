"""One project's backlog does not delay another project's reads: a read waits only for its
own projects' acknowledged writes (the applier still applies everything in order)."""

from __future__ import annotations

import time

import requests

import cloudlog


def test_a_busy_project_does_not_hold_up_another_projects_list(tmp_path):
    svc = cloudlog.start_local(tmp_path / "logs.duckdb", bucket_dir=tmp_path / "gcs")
    try:
        s, ep = requests.Session(), svc.endpoint
        assert s.post(
            f"{ep}/v2/entries:write",
            timeout=30,
            json={"logName": "projects/quiet/logs/x", "entries": [{"textPayload": "q"}]},
        ).ok
        r = s.post(
            f"{ep}/v2/projects/busy/sinks",
            timeout=30,
            json={"name": "bq", "destination": "bigquery.googleapis.com/projects/busy/datasets/d"},
        )
        assert r.status_code == 200, r.text
        # 400 entries on 400 different days: 400 daily tables for the applier to create
        for k in range(4):
            entries = [
                {
                    "textPayload": "b",
                    "timestamp": f"{2000 + (k * 100 + i) // 336:04d}-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
                }
                for i in range(100)
            ]
            assert s.post(
                f"{ep}/v2/entries:write", timeout=30, json={"logName": "projects/busy/logs/x", "entries": entries}
            ).ok
        t0 = time.monotonic()
        r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/quiet"]}, timeout=60)
        quiet_s = time.monotonic() - t0
        assert [e["textPayload"] for e in r.json()["entries"]] == ["q"]
        t0 = time.monotonic()
        r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/busy"], "pageSize": 1000}, timeout=60)
        busy_s = time.monotonic() - t0
        assert len(r.json()["entries"]) == 400  # the busy project reads its own writes
        assert quiet_s * 4 < busy_s, f"the quiet project's list took {quiet_s:.3f} s, the busy one's {busy_s:.3f} s"
    finally:
        svc.stop()


def test_one_logs_table_failure_drops_no_other_logs_exports(tmp_path):
    """The applier's fallback after a failed batch exports table by table: the log whose table
    cannot be written is recorded as the sink's error, the other logs' rows are exported."""
    svc = cloudlog.start_local(tmp_path / "logs.duckdb", bucket_dir=tmp_path / "gcs")
    try:
        s, ep = requests.Session(), svc.endpoint
        r = s.post(
            f"{ep}/v2/projects/p/sinks",
            timeout=30,
            json={"name": "bq", "destination": "bigquery.googleapis.com/projects/p/datasets/ds"},
        )
        assert r.status_code == 200, r.text
        # a view where the 'bad' log's daily table should go: creating that table fails
        svc.store.applier.call(
            lambda con: con.execute(
                'CREATE SCHEMA IF NOT EXISTS "p.ds"; CREATE VIEW "p.ds".bad_20240501 AS SELECT 1 AS x'
            )
        )
        entries = [
            {"logName": f"projects/p/logs/{log}", "textPayload": log, "timestamp": "2024-05-01T12:00:00Z"}
            for log in ("bad", "good", "bad")
        ]
        assert s.post(f"{ep}/v2/entries:write", json={"entries": entries}, timeout=30).ok
        svc.drain()
        assert svc.query('SELECT textPayload FROM "p.ds".good_20240501') == [("good",)]
        errors = svc.sink_errors("bq", project="p")
        assert errors and "bad_20240501" in errors[-1]["message"] and errors[-1]["entries"] == 2
    finally:
        svc.stop()


def test_svc_query_finds_datasets_and_tables_whose_names_have_capitals(tmp_path):
    """BigQuery names are case-sensitive; svc.query resolves them as written."""
    svc = cloudlog.start_local(tmp_path / "logs.duckdb", bucket_dir=tmp_path / "gcs")
    try:
        s, ep = requests.Session(), svc.endpoint
        for project in ("Team", "team"):
            r = s.post(
                f"{ep}/v2/projects/{project}/sinks",
                timeout=30,
                json={"name": "bq", "destination": f"bigquery.googleapis.com/projects/{project}/datasets/Ds"},
            )
            assert r.status_code == 200, r.text
            entries = [
                {
                    "logName": f"projects/{project}/logs/{log}",
                    "textPayload": f"{project}/{log}",
                    "timestamp": "2024-05-01T12:00:00Z",
                }
                for log in ("App", "app")
            ]
            assert s.post(f"{ep}/v2/entries:write", json={"entries": entries}, timeout=30).ok
        svc.drain()
        assert ("Team", "Ds") in svc.store.datasets()
        assert svc.query("SELECT textPayload FROM Ds.App_20240501", project="Team") == [("Team/App",)]
        assert svc.query("SELECT textPayload FROM `team.Ds.app_20240501`") == [("team/app",)]
        rows = svc.query("SELECT textPayload, _TABLE_SUFFIX FROM `Team.Ds.App_*`")
        assert rows == [("Team/App", "20240501")]
    finally:
        svc.stop()
