"""Benchmark of chapter 02's log collector (python -m bench.bench_ch02).

1. The Flask server path, as deployed: the chapter's own routes (the solution's exercise cells)
   in a Flask app served by werkzeug's threaded server in its own process, the local logging
   service in another (``python -m cloudlog serve``), and 4 client threads here sending
   ``GET /slog?name=&text=&key=``; one request = one ``log_struct`` = one acknowledged write.
   Set beside the post's 500 entries/s write quota (target >= 1,000/s). A second row runs a
   variant server that lets the requests in flight share one entries:write (group commit in
   the API server; each request is still answered only after its write), to show how much of
   the cost is per write and how much per HTTP request. CPU per entry is read from /proc.
2. The chapter's load test, batched path, exactly as the notebook runs it (service in a thread
   of this process, batches of 500 through the client), against the service benchmark's
   batched figure (``bench.bench_cloudlog``'s ingest, server in a subprocess) measured in the
   same run: the chapter's figure should be within 20% of the service's.
Prints measured figures, targets and ratios; no assertions.
"""
from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import google.cloud.logging_v2 as gcl_v2
import requests

import cloudlog

ROOT = Path(__file__).resolve().parent.parent
gcl_v2._instrumentation_emitted = True   # no extra diagnostic entry
QUOTA = 500

try:  # the service benchmark's own functions, so that both figures mean the same thing
    from bench.bench_cloudlog import bench_ingest_batches, start_server, stop_server
    SERVICE_BENCH = "bench.bench_cloudlog.bench_ingest_batches"
except ImportError:  # pragma: no cover - if the service benchmark is reorganised
    SERVICE_BENCH = "a copy of bench_cloudlog's batched ingest (it could not be imported)"
    import signal

    def start_server(db: Path):
        proc = subprocess.Popen([sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", "0"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        return proc, proc.stdout.readline().split()[3]

    def stop_server(proc):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    def bench_ingest_batches(endpoint, batches=40, threads=2):
        def work(t):
            lg = cloudlog.client(endpoint, "bench").logger("struct_log")
            for _ in range(batches // threads):
                batch = lg.batch()
                for i in range(500):
                    batch.log_struct({"name": f"user{i}", "text": f"-a {i}", "key": f"k{i % 97}"})
                batch.commit()
        ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        return batches // threads * threads * 500 / (time.perf_counter() - t0)


# The Flask server process: the chapter's own exercise cells, served on a free port.
FLASK_SERVER = r'''
import logging, sys, uuid
import jupytext
import google.cloud.logging_v2 as gcl_v2
from flask import Flask, request
from werkzeug.serving import make_server
import cloudlog
gcl_v2._instrumentation_emitted = True
ns = {"Flask": Flask, "request": request, "uuid": uuid}
import ast
for cell in jupytext.read(sys.argv[1]).cells:  # the chapter's route functions and create_app
    if cell.cell_type == "code":
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef) and node.name in ("add_text_route", "add_struct_route", "create_app"):
                exec(compile(ast.Module([node], []), "chapter", "exec"), ns)
client = cloudlog.client(sys.argv[2], "bench")
if sys.argv[3] == "chapter":
    app = ns["create_app"](client)
else:  # "group": requests in flight share one entries:write; each is answered after it
    import threading
    logger, cond, pending = client.logger("struct_log"), threading.Condition(), []

    def flusher():
        while True:
            with cond:
                while not pending:
                    cond.wait()
                items = pending[:]
                pending.clear()
            batch = logger.batch()
            for payload, done in items:
                batch.log_struct(payload)
            try:
                batch.commit()
                ok = True
            except Exception:
                ok = False
            for _, done in items:
                done.append(ok)
                done[0].set()
    threading.Thread(target=flusher, daemon=True).start()
    app = Flask("group_commit")

    @app.route("/slog")
    def slog():
        text = request.args.get("text") or f"This is struct log {uuid.uuid4()}"
        done = [threading.Event()]
        with cond:
            pending.append(({"name": request.args.get("name", "myterry"), "text": text,
                             "key": request.args.get("key", "mykey")}, done))
            cond.notify()
        done[0].wait()
        return (text, 200) if done[1] else ("write failed", 500)
logging.getLogger("werkzeug").setLevel(logging.WARNING)
server = make_server("127.0.0.1", 0, app, threaded=True)
print("port", server.server_port, flush=True)
server.serve_forever()
'''


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux /proc), to split the cost per entry."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flask_path(endpoint: str, n: int, threads: int = 4, servers: int = 1, service_pid: int | None = None,
               mode: str = "chapter"):
    """Requests/s through ``servers`` Flask processes (client threads spread over them, as a load
    balancer would); the load generator uses http.client with keep-alive, so that the client side
    costs as little CPU as possible (in the field, clients run on other machines)."""
    solution = ROOT / "solutions" / "02_log_collector.py"
    procs = [subprocess.Popen([sys.executable, "-c", FLASK_SERVER, str(solution), endpoint, mode], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(servers)]
    try:
        ports = [int(p.stdout.readline().split()[1]) for p in procs]
        for port in ports:
            requests.get(f"http://127.0.0.1:{port}/slog", params={"name": "warm", "text": "up", "key": "k"},
                         timeout=30).raise_for_status()
        failures = []

        def work(t):
            conn = http.client.HTTPConnection("127.0.0.1", ports[t % servers], timeout=60)
            for i in range(t, n, threads):
                query = urlencode({"name": f"load{i % 50}", "text": "load -a" if i % 5 == 0 else "load",
                                   "key": f"k{i % 3}"})
                conn.request("GET", f"/slog?{query}")
                reply = conn.getresponse()
                reply.read()
                if reply.status != 200:
                    failures.append(reply.status)
            conn.close()
        ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        pids = {"Flask": [p.pid for p in procs], "service": [service_pid] if service_pid else []}
        cpu0 = {k: sum(map(cpu_seconds, v)) for k, v in pids.items()}
        own0 = time.process_time()
        t0 = time.perf_counter()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        seconds = time.perf_counter() - t0
        cpu = {k: (sum(map(cpu_seconds, v)) - cpu0[k]) / n * 1e3 for k, v in pids.items() if v}
        cpu["load generator"] = (time.process_time() - own0) / n * 1e3
        if failures:
            raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
        return n / seconds, cpu
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def chapter_batched(tmp: Path, n: int, batch_size: int = 500) -> float:
    """The notebook's load_direct(n, 500): service in a background thread of this process."""
    svc = cloudlog.start_local(tmp / "chapter.duckdb")
    try:
        logger = cloudlog.client(svc.endpoint, "bench").logger("struct_log")
        keys = ["web", "batch", "mobile"]
        t0 = time.perf_counter()
        for first in range(0, n, batch_size):
            batch = logger.batch()
            for i in range(min(batch_size, n - first)):
                batch.log_struct({"name": "direct", "text": "direct -a" if i % 5 == 0 else "direct",
                                  "key": keys[i % 3]})
            batch.commit()
        return n / (time.perf_counter() - t0)
    finally:
        svc.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000, help="requests through the Flask server")
    ap.add_argument("--servers", type=int, default=1, help="Flask server processes (App Engine instances)")
    ap.add_argument("--batched", type=int, default=20000, help="entries for the batched comparison")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; service figure from {SERVICE_BENCH}")
    with tempfile.TemporaryDirectory(prefix="bench-ch02-") as tmp:
        tmp = Path(tmp)
        proc, endpoint = start_server(tmp / "service.duckdb")
        try:
            flask_rate, cpu = flask_path(endpoint, args.requests, 4, args.servers, proc.pid)
            group_rate, group_cpu = flask_path(endpoint, args.requests, 4, args.servers, proc.pid, "group")
            service_rate = bench_ingest_batches(endpoint, batches=max(2, args.batched // 500))
        finally:
            stop_server(proc)
        chapter_rate = chapter_batched(tmp, args.batched)

    rows = [
        (f"Flask /slog -> log_struct -> ack, 4 client threads, {args.servers} server process(es)",
         f"{flask_rate:,.0f} entries/s", ">=1,000", flask_rate / 1000,
         f"post's write quota 500/s: {flask_rate / QUOTA:.2f}x"),
        ("same, group commit in the server (requests share one write; ack after it)",
         f"{group_rate:,.0f} entries/s", ">=1,000", group_rate / 1000,
         f"post's write quota 500/s: {group_rate / QUOTA:.2f}x; vs the chapter's server {group_rate / flask_rate:.2f}x"),
        (f"chapter load test, batches of 500 (in-process service, {args.batched:,})",
         f"{chapter_rate:,.0f} entries/s", "within 20%", chapter_rate / service_rate,
         f"service benchmark, batches of 500 (subprocess): {service_rate:,.0f}/s"),
    ]
    print(f"{'benchmark':78} {'measured':>20} {'target':>12} {'ratio':>7}  baseline")
    for name, measured, target, ratio, baseline in rows:
        print(f"{name:78} {measured:>20} {target:>12} {ratio:6.2f}x  {baseline}")
    print("Flask ratio >= 1.00x meets the target; the chapter/service ratio should lie in 0.80x-1.20x.")
    for label, c in (("the chapter's Flask server", cpu), ("the group-commit server", group_cpu)):
        total = sum(c.values())
        print(f"CPU per entry, {label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in c.items())
              + f"; total {total:.2f} ms: {os.cpu_count()} idle cores could carry at most "
              f"~{os.cpu_count() * 1000 / total:,.0f} entries/s")


if __name__ == "__main__":
    main()
