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
    proc = subprocess.Popen([sys.executable, "-m", "cloudlog", "serve", "--db", str(db),
                             "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()      # "cloudlog listening on http://127.0.0.1:PORT (db=...)"
    assert "listening on" in line, line
    return proc, line.split()[3]


def all_insert_ids(endpoint: str) -> list[str]:
    body = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1000}
    out = []
    for _ in range(1000):
        r = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=30).json()
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
            body = {"logName": f"projects/{PROJECT}/logs/load",
                    "entries": [{"insertId": x, "jsonPayload": {"t": t, "i": i}} for x in ids]}
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
