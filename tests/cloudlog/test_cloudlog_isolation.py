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
        assert s.post(f"{ep}/v2/entries:write", timeout=30, json={
            "logName": "projects/quiet/logs/x", "entries": [{"textPayload": "q"}]}).ok
        r = s.post(f"{ep}/v2/projects/busy/sinks", timeout=30, json={
            "name": "bq", "destination": "bigquery.googleapis.com/projects/busy/datasets/d"})
        assert r.status_code == 200, r.text
        # 400 entries on 400 different days: 400 daily tables for the applier to create
        for k in range(4):
            entries = [{"textPayload": "b", "timestamp":
                        f"{2000 + (k * 100 + i) // 336:04d}-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z"}
                       for i in range(100)]
            assert s.post(f"{ep}/v2/entries:write", timeout=30, json={
                "logName": "projects/busy/logs/x", "entries": entries}).ok
        t0 = time.monotonic()
        r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/quiet"]},
                   timeout=60)
        quiet_s = time.monotonic() - t0
        assert [e["textPayload"] for e in r.json()["entries"]] == ["q"]
        t0 = time.monotonic()
        r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/busy"],
                                                   "pageSize": 1000}, timeout=60)
        busy_s = time.monotonic() - t0
        assert len(r.json()["entries"]) == 400          # the busy project reads its own writes
        assert quiet_s * 4 < busy_s, (f"the quiet project's list took {quiet_s:.3f} s, the "
                                      f"busy one's {busy_s:.3f} s")
    finally:
        svc.stop()
