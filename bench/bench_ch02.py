"""Benchmark of chapter 02's log collector (python -m bench.bench_ch02).

1. The Flask server path: the local logging service in its own process
   (``python -m cloudlog serve``), a Flask log collector in another (``bench.ch02_servers``),
   and here a load generator of 16 threads, each a client sending ``GET /slog?name=&text=&key=``
   over HTTP/1.1 keep-alive (a minimal client, ``KeepAliveClient``: every request is a real HTTP
   request to Flask, every 200 means the server accepted the entry; werkzeug answers
   ``Connection: close``, so on rows a-d each request opens a new connection). One row per way
   of writing the entries:

   a. sync, the post's way: the chapter's own ``create_app`` (its exercise cells), one
      ``log_struct`` per request, answered after the service acknowledged that write;
      werkzeug's threaded server, as in the chapter.
   b. group commit: the requests in flight share one entries:write; each is still answered
      only after the write that carries its entry (werkzeug).
   c. background, the client library's own batching with its defaults: ``CloudLoggingHandler``
      with ``BackgroundThreadTransport`` (at most 10 entries a write, no waiting): the request
      queues the entry in memory and is answered at once; the client's thread writes later.
   d. the same, configured for throughput: ``batch_size=500, max_latency=0.05`` (a write waits
      up to 50 ms to collect entries).
   e. b under gunicorn: 2 worker processes (gthread, 16 threads each) instead of werkzeug.
   f. d under gunicorn, 2 worker processes.

   Rows e and f need gunicorn (in the test extra; without it they are skipped).
   acked/s: requests answered 200 per second. stored/s: the same entries per second counted
   until the service holds every one (each client ends with ``GET /flush`` on its connection,
   answered once that process's queue is written; then the bench lists the entries through the
   service and reports any acked entry it lacks). For c-f the queue drains after the last 200;
   acks faster than the writer only grow the queue, so stored/s is the sustained rate and the
   one compared with the target: 1,000 entries/s on this machine, load generator included (the
   post's write quota was 500/s). CPU ms per entry from /proc: the Flask process(es) and the
   service until all are stored, the load generator (this process) during the load.

   Crash: a second run of each server (its own project), killed with SIGKILL (its whole
   process group) after 1.5 s under the same load; "lost" counts the entries whose request got
   a 200 but which the service never received, listed through the service after the kill.
2. The chapter's load test, batched path, exactly as the notebook runs it (service in a thread
   of this process, batches of 500 through the client), against the service benchmark's
   batched figure (``bench.bench_cloudlog``'s ingest, server in a subprocess) measured in the
   same run: the chapter's figure should be within 20% of the service's.
Prints measured figures, targets and ratios; no assertions.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import google.cloud.logging_v2 as gcl_v2

import cloudlog
from bench.record import Recording

ROOT = Path(__file__).resolve().parent.parent
gcl_v2._instrumentation_emitted = True  # no extra diagnostic entry
QUOTA = 500
TARGET = 1000
THREADS = 16  # load generator: clients, each with one keep-alive connection
WORKERS = 2  # gunicorn worker processes (rows e and f)
CRASH_AFTER = 1.5  # seconds of load before the SIGKILL
# (row, mode in bench.ch02_servers, gunicorn workers or None for werkzeug, what it is)
ROWS = [
    ("a", "sync", None, "sync: log_struct per request, 200 after the write (the post's way)"),
    ("b", "group", None, "group commit: requests in flight share a write, 200 after it"),
    ("c", "background", None, "background: CloudLoggingHandler's defaults, 200 before the write"),
    ("d", "batched", None, "background, batches of <=500 filled for up to 50 ms"),
    ("e", "group", WORKERS, f"group commit (b) under gunicorn, {WORKERS} worker processes"),
    ("f", "batched", WORKERS, f"batched background (d) under gunicorn, {WORKERS} worker processes"),
]

try:  # the service benchmark's own functions, so that both figures mean the same thing
    from bench.bench_cloudlog import bench_ingest_batches, stop_server

    SERVICE_BENCH = "bench.bench_cloudlog.bench_ingest_batches"
except ImportError:  # pragma: no cover - if the service benchmark is reorganised
    SERVICE_BENCH = "a copy of bench_cloudlog's batched ingest (it could not be imported)"

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


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux /proc), to split the cost per entry."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def have_gunicorn() -> bool:
    return importlib.util.find_spec("gunicorn") is not None


class FlaskServer:
    """One log collector (``bench.ch02_servers``) in a process group of its own, so that a
    crash can be simulated by SIGKILL to all of its processes at once."""

    def __init__(self, mode: str, endpoint: str, project: str, workers: int | None = None):
        if workers is None:  # werkzeug's threaded server, as the chapter runs it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.ch02_servers", mode, endpoint, project],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self.port = int(self.proc.stdout.readline().split()[1])
        else:  # gunicorn on a socket bound here (port 0: a free one), handed over as a file descriptor
            sock = socket.socket()
            # connections the kernel accepts before gunicorn has set up the socket take its
            # options: without TCP_NODELAY each response would wait ~40 ms for a delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            self.port = sock.getsockname()[1]
            env = dict(os.environ, CH02_MODE=mode, CH02_ENDPOINT=endpoint, CH02_PROJECT=project)
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"fd://{sock.fileno()}",
                    "--workers",
                    str(workers),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(THREADS),
                    "--keep-alive",
                    "60",
                    "--log-level",
                    "warning",
                    "bench.ch02_servers:app_from_env()",
                ],
                cwd=ROOT,
                env=env,
                pass_fds=[sock.fileno()],
                start_new_session=True,
            )
            sock.close()

    def pids(self) -> list[int]:
        """The server process and its children (gunicorn's workers)."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, kids)]

    def kill(self):
        """SIGKILL to every process of the server: nothing runs an exit handler."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


def request_text(i: int) -> str:
    return f"load -a {i}" if i % 5 == 0 else f"load {i}"


@dataclass
class Load:
    acked: list = field(default_factory=list)  # ids answered 200
    errors: list = field(default_factory=list)  # non-200 answers and broken connections
    seconds: float = 0.0  # first request to last 200
    flushed_seconds: float = 0.0  # first request to the last /flush answer
    cpu_ms: float = 0.0  # this process's CPU per acked request


class KeepAliveClient:
    """A minimal HTTP/1.1 client: it sends a GET and reads the status line, the headers and
    exactly Content-Length bytes of body. It keeps the connection open unless the server says
    ``Connection: close`` (werkzeug's development server does, after every answer; then the
    next request opens a new connection, as http.client would). It costs a fraction of
    http.client's CPU, so that the load generator, on the same 2 cores, leaves the server as
    much as it can; every request is still a real HTTP request answered by Flask."""

    def __init__(self, port: int, timeout: float = 60):
        self.port, self.timeout, self.sock = port, timeout, None
        self._connect()

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, target: str) -> tuple[int, bytes]:
        if self.sock is None:
            self._connect()
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._read()
        head, self.buf = self.buf[:end].decode("latin-1").split("\r\n"), self.buf[end + 4 :]
        version, status = head[0].split(" ", 2)[:2]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:])}
        if not version.startswith("HTTP/1."):
            raise http.client.HTTPException(f"not an HTTP/1 answer: {head[0]!r}")
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._read()
        body, self.buf = self.buf[:length], self.buf[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status), body

    def _read(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("the server closed the connection")
        self.buf += chunk

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def drive(port: int, ids: range, stop: threading.Event | None = None, on_ready=None, flush: bool = False) -> Load:
    """THREADS clients, each on its own keep-alive connection, send ``GET /slog`` for ``ids``
    (client t sends ids[t::THREADS]) until done or ``stop``; each first sends one untimed
    request (connection set up, server warm), then ``on_ready()`` runs and the timed load
    starts. A broken connection ends that client. With ``flush``, each client then sends
    ``GET /flush`` on the same connection, so to the same server process (gunicorn's workers
    keep a connection): answered once that process has written everything queued before it."""
    load = Load()
    ready, go = threading.Barrier(THREADS + 1), threading.Event()
    done_at, flushed_at = [], []

    def client(t):
        conn = None
        try:
            conn = KeepAliveClient(port)
            conn.get("/slog?" + urlencode({"name": "warm", "text": "warm up", "key": "k"}))
        finally:
            ready.wait()
            go.wait()
        try:
            for i in ids[t::THREADS]:
                if stop is not None and stop.is_set():
                    break
                status, _ = conn.get(
                    "/slog?" + urlencode({"name": f"load{i % 50}", "text": request_text(i), "key": f"k{i % 3}"})
                )
                if status == 200:
                    load.acked.append(i)
                else:
                    load.errors.append(status)
            done_at.append(time.perf_counter())
            if flush:
                conn.get("/flush")
                flushed_at.append(time.perf_counter())
        except (OSError, http.client.HTTPException, AttributeError) as e:  # the server died under us
            load.errors.append(type(e).__name__)
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    ready.wait()
    if on_ready is not None:
        on_ready()
    own0, t0 = time.process_time(), time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    load.seconds = max(done_at, default=time.perf_counter()) - t0
    load.flushed_seconds = max(flushed_at, default=time.perf_counter()) - t0
    load.cpu_ms = (time.process_time() - own0) / max(1, len(load.acked)) * 1e3
    return load


def stored_ids(client, project: str) -> set[int]:
    """Ids of the bench's entries that the service holds, read back through the service's
    entries:list with the real client."""
    got = set()
    for entry in client.list_entries(
        resource_names=[f"projects/{project}"], filter_=f'logName="projects/{project}/logs/struct_log"', page_size=1000
    ):
        text = (entry.payload or {}).get("text", "")
        if text.startswith("load "):
            got.add(int(text.rsplit(" ", 1)[1]))
    return got


def throughput(mode: str, workers, endpoint: str, service_pid: int, project: str, n: int) -> dict:
    server = FlaskServer(mode, endpoint, project, workers)
    reader = cloudlog.client(endpoint, project)
    try:
        start = {}

        def on_ready():  # after the warm-up: gunicorn's workers are up, CPU so far not counted
            start["pids"] = server.pids()
            start["flask"] = sum(map(cpu_seconds, start["pids"]))
            start["service"] = cpu_seconds(service_pid)

        load = drive(server.port, range(n), on_ready=on_ready, flush=True)
        flask = sum(map(cpu_seconds, start["pids"])) - start["flask"]
        service = cpu_seconds(service_pid) - start["service"]
        missing = set(load.acked) - stored_ids(reader, project)  # after the CPU readings
        acked = len(load.acked)
        return {
            "acked_rate": acked / load.seconds,
            "stored_rate": acked / load.flushed_seconds,
            "cpu": {"Flask": flask / acked * 1e3, "service": service / acked * 1e3, "load gen": load.cpu_ms},
            "errors": load.errors,
            "missing": len(missing),
        }
    finally:
        server.kill()


def crash(mode: str, workers, endpoint: str, project: str, after: float = CRASH_AFTER) -> dict:
    """SIGKILL the server after ``after`` seconds under load; count 200s the service never got."""
    server = FlaskServer(mode, endpoint, project, workers)
    stop, loading, result = threading.Event(), threading.Event(), {}
    loader = threading.Thread(
        target=lambda: result.update(load=drive(server.port, range(10**9), stop, on_ready=loading.set))
    )
    loader.start()
    try:
        loading.wait(timeout=60)
        time.sleep(after)
    finally:
        server.kill()
        stop.set()
        loader.join()
    load = result["load"]
    stored = stored_ids(cloudlog.client(endpoint, project), project)
    return {"acked": len(load.acked), "lost": len(set(load.acked) - stored)}


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
                batch.log_struct(
                    {"name": "direct", "text": "direct -a" if i % 5 == 0 else "direct", "key": keys[i % 3]}
                )
            batch.commit()
        return n / (time.perf_counter() - t0)
    finally:
        svc.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000, help="requests per row through the Flask server")
    ap.add_argument("--rows", default="".join(r[0] for r in ROWS), help="which Flask rows to run (letters)")
    ap.add_argument("--batched", type=int, default=20000, help="entries for the batched comparison")
    ap.add_argument("--crash-after", type=float, default=CRASH_AFTER, help="seconds of load before the SIGKILL")
    args = ap.parse_args(argv)
    with Recording("bench_ch02", "bench.bench_ch02", argv) as record:
        measure(args, record.figures)


def measure(args, figures: dict) -> None:
    """Run the rows and the batched comparison, print the table; ``figures`` gets its numbers."""
    rows = [r for r in ROWS if r[0] in args.rows]
    if not have_gunicorn():
        skipped = [r[0] for r in rows if r[2] is not None]
        rows = [r for r in rows if r[2] is None]
        if skipped:
            print(
                f"rows {', '.join(skipped)} skipped: gunicorn is not installed "
                "(pip install -c constraints.txt gunicorn)"
            )
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_avg} (1, 5, 15 min) at start; "
        f"service figure from {SERVICE_BENCH}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ch02-") as tmp:
        tmp = Path(tmp)
        # the service's stderr to a file: each SIGKILL makes it report a connection reset
        with open(tmp / "service.err", "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloudlog", "serve", "--db", str(tmp / "service.duckdb"), "--port", "0"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        endpoint = proc.stdout.readline().split()[3]
        try:
            for row, mode, workers, what in rows:
                rate = throughput(mode, workers, endpoint, proc.pid, f"rate-{row}", args.requests)
                lost = crash(mode, workers, endpoint, f"crash-{row}", args.crash_after)
                results.append((row, what, rate, lost))
            service_rate = bench_ingest_batches(endpoint, batches=max(2, args.batched // 500))
        finally:
            stop_server(proc)
        chapter_rate = chapter_batched(tmp, args.batched)

    print(
        f"\nFlask /slog -> Cloud Logging service, {THREADS} keep-alive clients, {args.requests:,} requests per row; "
        f"target >= {TARGET:,} entries/s (post's write quota {QUOTA}/s)"
    )
    print(
        f"{'row':72} {'acked/s':>8} {'stored/s':>9} {'vs 1,000':>8}  {'CPU ms/entry: Flask + service + load gen = total':58}"
        f"  {'SIGKILL under load: lost of acked':>34}"
    )
    figures.update(requests=args.requests, target=TARGET, clients=THREADS, rows={})
    for row, what, r, c in results:
        cpu = r["cpu"]
        total = sum(cpu.values())
        figures["rows"][row] = {
            "what": what,
            "acked_per_s": round(r["acked_rate"], 1),
            "stored_per_s": round(r["stored_rate"], 1),
            "vs_target": round(r["stored_rate"] / TARGET, 3),
            "cpu_ms_per_entry": {k: round(v, 3) for k, v in cpu.items()} | {"total": round(total, 3)},
            "failed_requests": len(r["errors"]),
            "acked_never_stored": r["missing"],
            "sigkill": {"acked": c["acked"], "lost": c["lost"]},
        }
        ceiling = os.cpu_count() * 1000 / total
        split = f"{cpu['Flask']:.2f} + {cpu['service']:.2f} + {cpu['load gen']:.2f} = {total:.2f} (<={ceiling:,.0f}/s)"
        note = ""
        if r["errors"] or r["missing"]:
            note = f"  ({len(r['errors'])} failed requests, {r['missing']} acked entries never stored)"
        print(
            f"{row + '. ' + what:72} {r['acked_rate']:8,.0f} {r['stored_rate']:9,.0f} "
            f"{r['stored_rate'] / TARGET:7.2f}x  {split:58}  {c['lost']:>16,} of {c['acked']:>6,} "
            f"({c['lost'] / max(1, c['acked']):.0%}){note}"
        )
    print(
        f"vs 1,000 uses stored/s (sustained); >= 1.00x meets the target. (<=N/s): what {os.cpu_count()} idle cores "
        "could carry at that CPU per entry."
    )
    print(
        f"\n{'chapter load test, batches of 500 (in-process service, ' + format(args.batched, ',') + ')':72} "
        f"{chapter_rate:,.0f} entries/s, vs service benchmark (subprocess) {service_rate:,.0f}/s: "
        f"{chapter_rate / service_rate:.2f}x (should lie in 0.80x-1.20x)"
    )
    figures.update(
        chapter_batched_per_s=round(chapter_rate, 1),
        service_batched_per_s=round(service_rate, 1),
        chapter_vs_service=round(chapter_rate / service_rate, 3),
    )
    print("load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " at the end")


if __name__ == "__main__":
    main()
