"""Start-up and shutdown with a long journal: the port opens at once, a read during the
replay waits or says how far it is, SIGTERM stops within seconds at any point and keeps the
progress made, and every journalled entry is stored in the end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "replay"
N_ENTRIES = 150_000


def write_journal(db: Path, n: int) -> None:
    """A journal as a killed server leaves it: n acknowledged entries DuckDB never got."""
    with open(str(db) + ".journal", "wb") as f:
        for seq in range(1, n + 1):
            ts = 1_780_000_000_000_000 + seq
            entry = {
                "logName": f"projects/{PROJECT}/logs/r",
                "insertId": f"r{seq}",
                "textPayload": f"entry {seq}",
                "severity": "INFO",
                "timestamp": "2026-05-28T20:26:40.000000Z",
                "receiveTimestamp": "2026-05-28T20:26:40.000000Z",
                "resource": {"type": "global", "labels": {}},
            }
            f.write(f"{seq}\t{ts}\t{ts}\t200\t{json.dumps(entry)}\n".encode())
        f.write(b'999999999\t1\t1\t200\t{"torn')  # a torn last line: never acked


def start(db: Path) -> tuple[subprocess.Popen, str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line.split()[3], time.monotonic() - t0


def count(endpoint: str, wait_s: float = 120) -> int:
    body = {
        "resourceNames": [f"projects/{PROJECT}"],
        "pageSize": 1,
        "orderBy": "timestamp desc",
        "filter": f'logName="projects/{PROJECT}/logs/r"',
    }
    deadline = time.monotonic() + wait_s
    while True:
        r = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=60)
        if r.status_code == 200:
            entries = r.json().get("entries", [])
            return int(entries[0]["textPayload"].split()[1]) if entries else 0
        assert r.status_code == 503 and "replaying" in r.text, r.text
        assert int(r.headers.get("Retry-After", "1")) > 0
        assert time.monotonic() < deadline, "the replay never finished"
        time.sleep(0.5)


def term(proc: subprocess.Popen) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return time.monotonic() - t0


def applied_position(db: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT v FROM cloudlog.state WHERE k = 'applied_seq'").fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow  # builds a large journal and replays it in a process, about 8 s
def test_replay_in_the_background_and_sigterm_during_it(tmp_path):
    db = tmp_path / "logs.duckdb"
    write_journal(db, N_ENTRIES)
    proc, endpoint, _ = start(db)
    try:
        # writes are taken (journalled) while the old journal is replayed
        r = requests.post(
            f"{endpoint}/v2/entries:write",
            timeout=30,
            json={"logName": f"projects/{PROJECT}/logs/new", "entries": [{"textPayload": "new"}]},
        )
        assert r.status_code == 200, r.text
        time.sleep(1.0)
    finally:
        took = term(proc)  # SIGTERM in the middle of the replay
    assert took < 10, f"SIGTERM during the replay took {took:.1f} s"
    progress = applied_position(db)
    assert 0 < progress < N_ENTRIES, f"applied {progress} of {N_ENTRIES}: not mid-replay"

    proc, endpoint, opened = start(db)
    try:
        t0 = time.monotonic()
        assert count(endpoint) == N_ENTRIES  # the newest replayed entry: all are there
        replay_s = time.monotonic() - t0
        # the port opened before the replay finished, not after it
        assert opened < replay_s, f"port after {opened:.1f} s, replay {replay_s:.1f} s more"
        body = {"resourceNames": [f"projects/{PROJECT}"], "filter": f'logName="projects/{PROJECT}/logs/new"'}
        r = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=60)
        assert [e["textPayload"] for e in r.json()["entries"]] == ["new"]
        # nothing was applied twice
        for seq in (1, progress, progress + 1, N_ENTRIES):
            body = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1000, "filter": f'textPayload="entry {seq}"'}
            r = requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=60)
            assert len(r.json()["entries"]) == 1, (seq, r.text)
    finally:
        assert term(proc) < 10


@pytest.mark.slow  # builds a backlog in a service process, about 6 s
def test_sigterm_with_a_backlog_stops_within_seconds(tmp_path):
    db = tmp_path / "logs.duckdb"
    proc, endpoint, _ = start(db)
    try:
        s = requests.Session()
        for i in range(20):  # 100,000 entries acknowledged quickly
            body = {
                "logName": f"projects/{PROJECT}/logs/r",
                "entries": [{"insertId": f"r{i * 5000 + k + 1}", "textPayload": "backlog"} for k in range(5000)],
            }
            assert s.post(f"{endpoint}/v2/entries:write", json=body, timeout=60).ok
    finally:
        took = term(proc)
    assert took < 10, f"SIGTERM with a backlog took {took:.1f} s"
    proc, endpoint, _ = start(db)
    try:
        body = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1, "filter": 'insertId="r100000"'}
        deadline = time.monotonic() + 120
        while (r := requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=60)).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert len(r.json()["entries"]) == 1, r.text
    finally:
        term(proc)
