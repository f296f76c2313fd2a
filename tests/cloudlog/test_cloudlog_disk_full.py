"""A DuckDB commit that fails after the journal has acknowledged entries loses nothing.

The service runs as a subprocess under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so
writes past it fail with EFBIG as on a full disk; no root needed). Entries of ~200 KB fit the
journal but not DuckDB's write-ahead log. The failed batch must stay pending: reads and
writes say the store is behind (503 + Retry-After) instead of moving past it, and once the
limit is lifted (on the running process, or by a restart) every acknowledged entry is stored.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "diskfull"
LIMIT = 6 * 1024 * 1024  # bytes any one file of the server may reach
BIG = "x" * 200_000  # one entry: ~200 KB (the entry limit is 256 KB)


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


def start(db: Path, limited: bool) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_file_size if limited else None,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line.split()[3]


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def write(endpoint: str, ids: list[str], payload: str = "small") -> requests.Response:
    body = {
        "logName": f"projects/{PROJECT}/logs/big",
        "entries": [{"insertId": x, "textPayload": payload} for x in ids],
    }
    return requests.post(f"{endpoint}/v2/entries:write", json=body, timeout=60)


def listed(endpoint: str) -> requests.Response:
    body = {
        "resourceNames": [f"projects/{PROJECT}"],
        "pageSize": 1000,
        "filter": 'logName="projects/diskfull/logs/big"',
    }
    return requests.post(f"{endpoint}/v2/entries:list", json=body, timeout=60)


def stored_ids(endpoint: str) -> set[str]:
    r = listed(endpoint)
    assert r.status_code == 200, r.text
    return {e["insertId"] for e in r.json().get("entries", [])}


def fill_until_stalled(endpoint: str) -> list[str]:
    """Write big entries until the store says it is behind; -> the acknowledged ids."""
    acked: list[str] = []
    for i in range(60):
        ids = [f"big-{i}-{k}" for k in range(2)]
        r = write(endpoint, ids, BIG)
        if r.status_code == 200:
            acked += ids
            continue
        assert r.status_code == 503, r.text
        break
    # the failed commit shows in reads: they say the store is behind, never a partial list
    deadline = time.monotonic() + 30
    while True:
        r = listed(endpoint)
        if r.status_code == 503:
            break
        assert r.status_code == 200, r.text
        assert time.monotonic() < deadline, "the store never reported the failed commit"
        time.sleep(0.2)
    assert "behind" in r.json()["error"]["message"], r.text
    assert int(r.headers["Retry-After"]) > 0
    return acked


def test_a_failed_commit_blocks_instead_of_losing_entries(tmp_path):
    db = tmp_path / "logs.duckdb"
    proc, endpoint = start(db, limited=True)
    try:
        acked = fill_until_stalled(endpoint)
        assert len(acked) >= 10, "the journal should take a few big entries before DuckDB fails"
        # back-pressure: a small write is refused while acknowledged entries are pending
        r = write(endpoint, ["small-while-stalled"])
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) > 0
        assert "behind" in r.json()["error"]["message"]
        # the disk frees space: the same process applies the pending batch by itself
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 60
        while listed(endpoint).status_code != 200:
            assert time.monotonic() < deadline, "the pending batch was never applied"
            time.sleep(0.3)
        assert write(endpoint, ["small-after"]).status_code == 200
        assert stored_ids(endpoint) == set(acked) | {"small-after"}
    finally:
        stop(proc)
    proc, endpoint = start(db, limited=False)  # and it is all still there after a restart
    try:
        assert stored_ids(endpoint) == set(acked) | {"small-after"}
    finally:
        stop(proc)


def test_a_clean_stop_while_stalled_keeps_every_acknowledged_entry(tmp_path):
    db = tmp_path / "logs.duckdb"
    proc, endpoint = start(db, limited=True)
    try:
        acked = fill_until_stalled(endpoint)
        t0 = time.monotonic()
    finally:
        stop(proc)  # SIGTERM while the batch keeps failing: exit 0, promptly
    assert time.monotonic() - t0 < 15
    proc, endpoint = start(db, limited=False)
    try:
        deadline = time.monotonic() + 60
        while (r := listed(endpoint)).status_code == 503:  # replaying the journal
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert r.status_code == 200, r.text
        assert stored_ids(endpoint) == set(acked)
    finally:
        stop(proc)


@pytest.mark.parametrize("limited", [False])
def test_nothing_is_pending_in_a_healthy_store(tmp_path, limited):
    """The control: the same writes with no limit are all acknowledged and listed."""
    db = tmp_path / "logs.duckdb"
    proc, endpoint = start(db, limited=limited)
    try:
        ids = [f"ok-{i}" for i in range(20)]
        for i in range(0, 20, 2):
            assert write(endpoint, ids[i : i + 2], BIG).status_code == 200
        assert stored_ids(endpoint) == set(ids)
    finally:
        stop(proc)
