"""Peak memory of the service process for the largest hostile requests.

    python -m bench.bench_cloudlog_memory [--old DIR] [--cases empty or100 or500 big]

Each case starts a fresh ``python -m cloudlog serve`` (a subprocess, its own DuckDB file),
sends its requests over HTTP and reads the process's peak resident memory (``VmHWM`` in
/proc/PID/status) before and after the measured request:

* ``empty``: one ``entries:write`` body of 10 MB (the limit) of empty objects,
  ``{"entries": [{}, {}, ...]}`` (3.5 million of them);
* ``or100``: 10 MB of entries (10,000 of ~1 KB), then one ``entries:list`` whose filter
  ORs 100 payload terms, ``jsonPayload.text:"y0" OR jsonPayload.text:"y1" OR ...``;
* ``or500``: the same with 500 terms (the most a filter may have);
* ``big``: 10 MB of entries of 100 KB (100 of them), then the 100-term filter.

``--old DIR`` runs the same cases against another copy of the ``cloudlog`` package (e.g. an
earlier commit's: ``git archive HEAD cloudlog | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.record import Recording

LIMIT = 10 * 1024 * 1024


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def _post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def _entries(n: int, size: int) -> list[bytes]:
    """10 requests of n entries each, with a jsonPayload.text of ``size`` characters."""
    return [
        json.dumps(
            {
                "logName": "projects/p/logs/l",
                "entries": [{"jsonPayload": {"k": f"v{k}-{i}", "text": "x" * size}} for i in range(n)],
            }
        ).encode()
        for k in range(10)
    ]


def _filter(terms: int) -> bytes:
    flt = " OR ".join(f'jsonPayload.text:"y{i}"' for i in range(terms))
    return json.dumps({"resourceNames": ["projects/p"], "filter": flt, "pageSize": 1000}).encode()


CASES = {
    "empty": (
        "10 MB body of empty objects (entries:write)",
        list,
        "/v2/entries:write",
        lambda: b'{"entries":[' + b",".join([b"{}"] * ((LIMIT - 20) // 3)) + b"]}",
    ),
    "or100": (
        "100 OR'ed payload terms over 10,000 entries of 1 KB (entries:list)",
        lambda: _entries(1000, 1000),
        "/v2/entries:list",
        lambda: _filter(100),
    ),
    "or500": (
        "500 OR'ed payload terms over 10,000 entries of 1 KB (entries:list)",
        lambda: _entries(1000, 1000),
        "/v2/entries:list",
        lambda: _filter(500),
    ),
    "big": (
        "100 OR'ed payload terms over 100 entries of 100 KB (entries:list)",
        lambda: _entries(10, 100_000),
        "/v2/entries:list",
        lambda: _filter(100),
    ),
}


def run_case(pythonpath: str, case: str) -> str:
    """The case's printed line (measure_case gives its figures)."""
    return case_line(measure_case(pythonpath, case))


def case_line(m: dict) -> str:
    return (
        f"{m['title']}: {m['answer']} in {m['seconds']:.1f} s; peak RSS {m['peak_mb']} MB "
        f"({m['before_mb']} MB before the request)"
    )


def measure_case(pythonpath: str, case: str) -> dict:
    title, setup, path, body = CASES[case]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.TemporaryDirectory()
    db = Path(tmp.name) / "logs.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudlog", "serve", "--db", str(db), "--port", str(port)],
        cwd=pythonpath,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        proc.stdout.readline()  # "cloudlog listening on ..."
        for request in setup():
            status, data = _post(port, "/v2/entries:write", request)
            assert status == 200, data[:300]
        before = _status(proc.pid, "VmHWM")
        payload = body()
        t0 = time.perf_counter()
        status, data = _post(port, path, payload)
        seconds = time.perf_counter() - t0
        peak = _status(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(60)
        tmp.cleanup()
    answer = json.loads(data)
    what = (
        f"{status} {answer['error']['status']}"
        if "error" in answer
        else f"{status} ({len(answer.get('entries', []))} entries)"
    )
    return {
        "case": case,
        "title": title,
        "status": status,
        "answer": what,
        "seconds": seconds,
        "peak_mb": peak,
        "before_mb": before,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="a directory holding another cloudlog package to compare")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args(argv)
    here = str(Path(__file__).resolve().parents[1])
    variants = {"this checkout": here} | ({"--old": args.old} if args.old else {})
    with Recording("bench_cloudlog_memory", "bench.bench_cloudlog_memory", argv) as record:
        record.figures["cases"] = []
        for case in args.cases:
            for name, path in variants.items():
                measured = measure_case(path, case)
                print(f"{name:>14}: {case_line(measured)}", flush=True)
                record.figures["cases"].append({"variant": name, **measured})


if __name__ == "__main__":
    main()
