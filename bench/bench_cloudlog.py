"""Benchmark of the local Cloud Logging service (python -m bench.bench_cloudlog).

Prints a table: measured rate, target, ratio to the target, and a same-run baseline.
No assertions. The server runs as a subprocess (``python -m cloudlog serve``) so it has
its own interpreter, as it would beside a Flask app; the clients are the real
google-cloud-logging client over HTTP. The 1,000,000 entries for the query benchmark are
bulk-loaded straight into the DuckDB file (``bulk_load`` below, benchmark-only), not over HTTP.
The hostile-entry benchmark writes the widest entries the service accepts (999 new
jsonPayload fields each) into a large BigQuery-style table while another project writes
one small entry per request, and reports the applier's longest batch and that project's p99.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import google.cloud.logging_v2 as gcl_v2
import pyarrow as pa
import requests
from google.cloud.logging_v2.resource import Resource

import cloudlog
from cloudlog.applier import COLUMNS, rows_to_arrow
from cloudlog.model import format_timestamp, normalize_entry, now_us
from cloudlog.sinks import BigQueryExporter
from cloudlog.store import Store
from bench.record import Recording

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench"
GLOBAL = Resource(type="global", labels={})
gcl_v2._instrumentation_emitted = True  # no extra diagnostic entry


def start_server(db: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    return proc, line.split()[3]


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def on_fresh_server(db: Path, bench) -> float:
    """``bench(endpoint)`` against a server of its own (an empty database, nothing pending)."""
    proc, endpoint = start_server(db)
    try:
        return bench(endpoint)
    finally:
        stop_server(proc)


def payload(i: int) -> dict:
    return {"name": f"user{i % 1000}", "text": random.choice(["-a", "-b", "-c"]) + f" {i}", "key": f"k{i % 97}"}


def run_threads(n, fn):
    ths = [threading.Thread(target=fn, args=(t,)) for t in range(n)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return time.perf_counter() - t0


def bench_ingest_batches(endpoint, batches=40, threads=2):
    per = batches // threads

    def work(t):
        lg = cloudlog.client(endpoint, PROJECT).logger("struct_log")
        for b in range(per):
            batch = lg.batch()
            for i in range(500):
                batch.log_struct(payload(i), resource=GLOBAL)
            batch.commit()

    dt = run_threads(threads, work)
    return per * threads * 500 / dt


def _single_worker(args):
    endpoint, per, threads = args
    gcl_v2._instrumentation_emitted = True

    def work(t):
        lg = cloudlog.client(endpoint, PROJECT).logger("my-flask-log")
        for i in range(per):
            lg.log_struct(payload(i), resource=GLOBAL)

    run_threads(threads, work)
    return per * threads


def bench_ingest_single(endpoint, total=4000, procs=2, threads=4):
    """One entry per request, like the post's Flask app: 2 client processes x 4 threads."""
    import multiprocessing as mp

    per = total // (procs * threads)
    with mp.get_context("spawn").Pool(procs) as pool:
        pool.map(_single_worker, [(endpoint, 2, 1)] * procs)  # warm up the workers
        t0 = time.perf_counter()
        n = sum(pool.map(_single_worker, [(endpoint, per, threads)] * procs))
        return n / (time.perf_counter() - t0)


def make_rows(n, start_us, log="struct_log"):
    rows = []
    for i in range(n):
        raw = {
            "logName": f"projects/{PROJECT}/logs/{log}" if i % 10 else f"projects/{PROJECT}/logs/my-flask-log",
            "severity": ("DEBUG", "INFO", "INFO", "WARNING", "ERROR")[i % 5],
            "timestamp": format_timestamp(start_us + i * 1000),
            "jsonPayload": payload(i),
        }
        rows.append(normalize_entry(raw, {}, now_us()))
    return rows


def bulk_load(db: Path, chunks) -> None:
    """Insert rows straight into a stopped service's DuckDB file: no journal, sinks or
    metrics (seeding the query benchmark)."""
    Store(db).close()  # creates the schema
    con = duckdb.connect(str(db))
    seq = con.execute("SELECT coalesce(max(seq), 0) FROM cloudlog.entries").fetchone()[0]
    for rows in chunks:
        for r in rows:
            seq += 1
            r.seq = seq
        tbl = rows_to_arrow(rows)
        con.execute("BEGIN")
        con.execute(f"INSERT INTO cloudlog.entries ({', '.join(COLUMNS)}) SELECT * FROM tbl")
        con.execute("INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq', ?)", [seq])
        con.execute("COMMIT")
    con.close()


def baseline_duckdb_insert(tmp: Path, rows, batch=500):
    """Raw DuckDB: the same rows as one Arrow table per commit, and single-row commits."""
    con = duckdb.connect(str(tmp / "baseline.duckdb"))
    con.execute(
        "CREATE TABLE t (seq BIGINT, project VARCHAR, log_name VARCHAR, log_id VARCHAR, "
        "ts BIGINT, receive_ts BIGINT, severity INTEGER, insert_id VARCHAR, "
        "text_payload VARCHAR, entry VARCHAR, search VARCHAR)"
    )
    for k, r in enumerate(rows):
        r.seq = k + 1
    t0 = time.perf_counter()
    for s in range(0, len(rows), batch):
        tbl = rows_to_arrow(rows[s : s + batch])
        con.execute("BEGIN")
        con.execute("INSERT INTO t SELECT * FROM tbl")
        con.execute("COMMIT")
    arrow_rate = len(rows) / (time.perf_counter() - t0)
    one = rows[:300]
    t0 = time.perf_counter()
    for r in one:
        con.execute(
            "INSERT INTO t VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
            [r.project, r.log_name, r.log_id, r.ts, r.receive_ts, r.severity, r.insert_id, r.text_payload, r.text],
        )
    single_rate = len(one) / (time.perf_counter() - t0)
    con.close()
    return arrow_rate, single_rate


def bench_query(tmp: Path, n_entries: int, runs: int = 7):
    db = tmp / "big.duckdb"
    start_us = now_us() - n_entries * 1000 - 60_000_000  # all within the last 24 h
    t0 = time.perf_counter()
    chunk = 100_000

    def chunks():
        for s in range(0, n_entries, chunk):
            rows = make_rows(min(chunk, n_entries - s), start_us + s * 1000)
            for k, r in enumerate(rows):  # make insertIds unique across chunks
                r.insert_id = f"b{s + k}"
            yield rows

    bulk_load(db, chunks())
    load_s = time.perf_counter() - t0
    proc, endpoint = start_server(db)
    try:
        client = cloudlog.client(endpoint, PROJECT)
        filt = 'logName="projects/bench/logs/struct_log" AND jsonPayload.key="k42" AND severity>=ERROR'
        times, hits = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            got = list(itertools.islice(client.list_entries(filter_=filt, page_size=50), 50))
            times.append(time.perf_counter() - t0)
            hits = len(got)
    finally:
        stop_server(proc)
    con = duckdb.connect(str(db), read_only=True)
    btimes = []
    for _ in range(runs):
        t0 = time.perf_counter()
        con.execute(
            "SELECT entry FROM cloudlog.entries WHERE log_name = "
            "'projects/bench/logs/struct_log' AND severity >= 500 AND "
            "json_extract_string(entry, '$.jsonPayload.key') = 'k42' "
            "ORDER BY ts, seq LIMIT 51"
        ).fetchall()
        btimes.append(time.perf_counter() - t0)
    con.close()
    return statistics.median(times), statistics.median(btimes), hits, load_s


def bench_sink_export(tmp: Path, n=100_000, batch=5000):
    rows = make_rows(n, now_us())
    con = duckdb.connect(str(tmp / "sink.duckdb"))
    exp = BigQueryExporter()
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        con.execute("BEGIN")
        exp.export(con, "bench-sink", PROJECT, "structlog", rows[s : s + batch])
        con.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    exported = con.execute(
        "SELECT sum(estimated_size) FROM duckdb_tables() "
        f"WHERE schema_name = '{PROJECT}.structlog' AND table_name <> '_sink_errors'"
    ).fetchone()[0]
    # baseline: the same rows' flat export columns as Arrow tables straight into DuckDB
    con.execute(
        "CREATE TABLE flat (timestamp TIMESTAMP, logName VARCHAR, severity VARCHAR, "
        "insertId VARCHAR, name VARCHAR, text VARCHAR, key VARCHAR)"
    )
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        part = rows[s : s + batch]
        tbl = pa.table(
            {
                "timestamp": pa.array([r.ts for r in part], pa.timestamp("us")),
                "logName": [r.log_name for r in part],
                "severity": [r.entry["severity"] for r in part],
                "insertId": [r.insert_id for r in part],
                "name": [r.entry["jsonPayload"]["name"] for r in part],
                "text": [r.entry["jsonPayload"]["text"] for r in part],
                "key": [r.entry["jsonPayload"]["key"] for r in part],
            }
        )
        con.execute("BEGIN")
        con.execute("INSERT INTO flat SELECT * FROM tbl")
        con.execute("COMMIT")
    base = n / (time.perf_counter() - t0)
    con.close()
    return rate, base, exported


def bench_hostile(tmp: Path, wide_entries: int = 12, seed_rows: int = 20_000):
    """The widest allowed entries (999 new fields each) into a large BigQuery-style table of
    project "hostile", while project "victim" writes one small entry per request.
    -> (longest applier batch in s, victim p99 write latency in s, victim writes, wide s)."""
    proc, endpoint = start_server(tmp / "hostile.duckdb")
    s = requests.Session()
    try:
        for project in ("hostile", "victim"):
            s.post(
                f"{endpoint}/v2/projects/{project}/sinks",
                timeout=60,
                json={
                    "name": "bq",
                    "filter": "",
                    "destination": f"bigquery.googleapis.com/projects/{project}/datasets/ds",
                },
            ).raise_for_status()
            s.post(
                f"{endpoint}/v2/projects/{project}/metrics",
                timeout=60,
                json={"name": "m", "filter": "jsonPayload.i >= 0"},
            ).raise_for_status()
        day = "2026-11-28T12:00:00Z"
        for b in range(seed_rows // 1000):  # a large table to grow
            s.post(
                f"{endpoint}/v2/entries:write",
                timeout=60,
                json={
                    "logName": "projects/hostile/logs/big",
                    "entries": [{"timestamp": day, "jsonPayload": {"i": b * 1000 + i, "k": "v"}} for i in range(1000)],
                },
            ).raise_for_status()
        s.post(
            f"{endpoint}/v2/entries:list", timeout=60, json={"resourceNames": ["projects/hostile"], "pageSize": 1}
        ).raise_for_status()
        lat, stop = [], threading.Event()

        def victim():
            v = requests.Session()
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                v.post(
                    f"{endpoint}/v2/entries:write",
                    timeout=60,
                    json={"logName": "projects/victim/logs/app", "entries": [{"jsonPayload": {"i": i}}]},
                ).raise_for_status()
                lat.append(time.perf_counter() - t0)
                i += 1
                time.sleep(0.005)

        th = threading.Thread(target=victim)  # alone first: the baseline
        th.start()
        time.sleep(2.0)
        stop.set()
        th.join()
        alone = sorted(lat)
        lat, stop = [], threading.Event()
        s.get(f"{endpoint}/local/v1/stats", params={"reset": "true"}, timeout=60)
        th = threading.Thread(target=victim)
        th.start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        for w in range(wide_entries):
            body = json.dumps(
                {
                    "logName": "projects/hostile/logs/big",
                    "entries": [{"timestamp": day, "jsonPayload": {f"w{w}_{i}": i for i in range(999)}}],
                }
            )
            s.post(
                f"{endpoint}/v2/entries:write", data=body, timeout=60, headers={"Content-Type": "application/json"}
            ).raise_for_status()
            s.post(
                f"{endpoint}/v2/entries:list",
                timeout=60,
                json={  # wait until applied
                    "resourceNames": ["projects/hostile"],
                    "pageSize": 1,
                },
            ).raise_for_status()
        wide_s = time.perf_counter() - t0
        time.sleep(0.3)
        stop.set()
        th.join()
        stats = s.get(f"{endpoint}/local/v1/stats", timeout=60).json()
    finally:
        stop_server(proc)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    p99_alone = alone[min(len(alone) - 1, int(len(alone) * 0.99))]
    return stats["max_apply_s"], p99, len(lat), wide_s, p99_alone


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries for the query bench")
    args = ap.parse_args(argv)
    with Recording("bench_cloudlog", "bench.bench_cloudlog", argv) as record:
        record.figures["rows"] = measure(args)


def measure(args) -> list[dict]:
    """Run every benchmark and print the table; returns its rows as figures."""
    random.seed(0)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-cloudlog-") as d:
        tmp = Path(d)
        # Each ingest benchmark gets a fresh server: the 20,000 batched entries are acknowledged
        # once journaled, and the applier would still be loading them into DuckDB, on the same
        # 2 cores, while the one-entry-per-request clients run (a third of their rate, see README).
        batch_rate = on_fresh_server(tmp / "ingest-batches.duckdb", bench_ingest_batches)
        single_rate = on_fresh_server(tmp / "ingest-single.duckdb", bench_ingest_single)
        arrow_rate, commit_rate = baseline_duckdb_insert(tmp, make_rows(20_000, now_us()))
        results.append(
            (
                "ingest, real client, batches of 500",
                batch_rate,
                "entries/s",
                10_000,
                True,
                f"raw DuckDB Arrow insert+commit per 500: {arrow_rate:,.0f}/s",
            )
        )
        results.append(
            (
                "ingest, real client, 1 entry/request (2 procs x 4 thr)",
                single_rate,
                "entries/s",
                1_000,
                True,
                f"raw DuckDB single-row commits: {commit_rate:,.0f}/s",
            )
        )
        q_med, q_base, hits, load_s = bench_query(tmp, args.entries)
        results.append(
            (
                f"entries:list selective filter, {args.entries:,} entries (median)",
                q_med,
                "s",
                1.0,
                False,
                f"hand-written SQL: {q_base:.3f} s; {hits} hits; bulk load {load_s:.0f} s",
            )
        )
        sink_rate, sink_base, _ = bench_sink_export(tmp)
        results.append(
            (
                "sink export to BigQuery-style tables",
                sink_rate,
                "rows/s",
                100_000,
                True,
                f"flat Arrow insert of the same rows: {sink_base:,.0f}/s",
            )
        )
        hold, p99, n_victim, wide_s, p99_alone = bench_hostile(tmp)
        results.append(
            (
                "widest entry (999 new fields): longest applier batch",
                hold,
                "s",
                0.5,
                False,
                f"12 wide entries into a 20,000-row table in {wide_s:.1f} s",
            )
        )
        results.append(
            (
                "other project's 1-entry write meanwhile (p99)",
                p99,
                "s",
                0.1,
                False,
                f"{n_victim} writes; p99 without the wide entries: {p99_alone:.3f} s",
            )
        )
    print()
    print(f"{'benchmark':<62} {'measured':>14} {'target':>12} {'ratio':>7}  baseline")
    rows = []
    for name, value, unit, target, higher, base in results:
        ratio = value / target if higher else target / value
        tgt = f"{'>=' if higher else '<='}{target:,}"
        val = f"{value:,.0f} {unit}" if unit != "s" else f"{value:.3f} s"
        print(f"{name:<62} {val:>14} {tgt:>12} {ratio:>6.2f}x  {base}")
        rows.append(
            {
                "benchmark": name,
                "measured": round(value, 4),
                "unit": unit,
                "target": f"{'>=' if higher else '<='} {target}",
                "ratio": round(ratio, 3),
                "baseline": base,
            }
        )
    print("\nratio >= 1.00x meets the target.")
    return rows


if __name__ == "__main__":
    main()
