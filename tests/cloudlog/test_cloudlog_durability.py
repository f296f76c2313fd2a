"""kill -9 of the server process under load loses no acknowledged entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "durable"


def start(db: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # "cloudlog listening on http://127.0.0.1:PORT (db=...)"
    assert "listening on" in line, line
    return proc, line.split()[3]


def all_insert_ids(endpoint: str) -> list[str]:
    body = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1000}
    out = []
    deadline = time.monotonic() + 120
    for _ in range(1000):
        response = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=30)
        # 503 + Retry-After while the restarted service is still replaying its journal (slow on
        # a loaded machine): wait as a client should, rather than read "no entries"
        while response.status_code == 503 and time.monotonic() < deadline:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            response = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=30)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        r = response.json()
        out += [e["insertId"] for e in r.get("entries", [])]
        if "nextPageToken" not in r:
            return out
        body["pageToken"] = r["nextPageToken"]
    raise AssertionError("too many pages")


def test_kill_9_loses_no_acknowledged_entry(tmp_path):
    db = tmp_path / "logs.duckdb"
    proc, endpoint = start(db)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(t: int):
        s = requests.Session()
        for i in range(100_000):
            if stop.is_set():
                return
            n = 1 + i % 5
            ids = [f"t{t}-{i}-{k}" for k in range(n)]
            body = {
                "logName": f"projects/{PROJECT}/logs/load",
                "entries": [{"insertId": x, "jsonPayload": {"t": t, "i": i}} for x in ids],
            }
            try:
                r = s.post(f"{endpoint}/v2/entries:write", json=body, timeout=10)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acked.extend(ids)

    threads = [threading.Thread(target=load, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        if proc.poll() is None:
            proc.kill()
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= 3000

    proc2, endpoint2 = start(db)
    try:
        stored = all_insert_ids(endpoint2)
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(timeout=30)
    assert len(stored) == len(set(stored))
    assert len(stored) >= len(acknowledged)
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {sorted(missing)[:5]}"


def exported_ids(bucket_root: Path) -> list[str]:
    """insertIds in every JSON-lines file a storage sink wrote (a torn line is skipped)."""
    import json

    out = []
    for path in bucket_root.rglob("*.json"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line)["insertId"])
            except (ValueError, KeyError):
                pass
    return out


def test_kill_9_during_file_exports_loses_no_exported_entry(tmp_path):
    """A Cloud Storage (file) sink resumes after kill -9: lines may repeat, never vanish."""
    db = tmp_path / "logs.duckdb"
    proc, endpoint = start(db)
    sink = {"name": "files", "destination": "storage.googleapis.com/bucket", "filter": ""}
    r = requests.post(f"{endpoint}/v2/projects/{PROJECT}/sinks", json=sink, timeout=10)
    assert r.status_code == 200, r.text
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(t: int):
        # every entry of a request in another hour: each batch appends to (and fsyncs)
        # hundreds of files, so the kill lands inside an export; 600 files in all (25 days x
        # 24 hours), within the 1,000 new files a project may make per minute
        s = requests.Session()
        for i in range(100_000):
            if stop.is_set():
                return
            ids = [f"f{t}-{i}-{k}" for k in range(50)]
            body = {
                "logName": f"projects/{PROJECT}/logs/files",
                "entries": [
                    {
                        "insertId": x,
                        "textPayload": "x",
                        "timestamp": f"2026-01-{1 + (i + k) % 25:02d}T{(t + k) % 24:02d}:00:00Z",
                    }
                    for k, x in enumerate(ids)
                ],
            }
            try:
                r = s.post(f"{endpoint}/v2/entries:write", json=body, timeout=10)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acked.extend(ids)

    threads = [threading.Thread(target=load, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        if proc.poll() is None:
            proc.kill()
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= 2000

    proc2, endpoint2 = start(db)
    try:
        stored = all_insert_ids(endpoint2)  # waits for the replay; the files come first
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(timeout=30)
    assert acknowledged <= set(stored)
    missing = acknowledged - set(exported_ids(tmp_path / "gcs" / "bucket"))
    assert not missing, (
        f"{len(missing)} of {len(acknowledged)} acknowledged entries are "
        f"missing from the sink's files, e.g. {sorted(missing)[:5]}"
    )
