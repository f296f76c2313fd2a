"""How long a quiet project's write waits while another project has a large backlog.

    python -m bench.bench_cloudlog_fairness [--old DIR] [--reps 2]

Each run is a fresh in-process service: a busy project with a BigQuery sink has 1,200
entries acknowledged at once, each on its own day (1,200 new daily tables for the applier,
seconds of work); right after, a quiet project writes one entry and lists it. Printed: when
the quiet project's list returned it, and when the busy project's last entry could be listed
(the backlog applied), both from the quiet write. ``--old DIR`` runs the same against another
copy of the ``cloudlog`` package (e.g. ``git archive HEAD cloudlog | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.record import Recording

CHILD = r"""
import json, tempfile, time
import requests
import cloudlog

def days(n, first):
    return [{"textPayload": f"d{k}", "timestamp": f"{2001 + k // 336:04d}-"
             f"{1 + k % 336 // 28:02d}-{1 + k % 28:02d}T00:00:00Z"} for k in range(first, first + n)]

tmp = tempfile.TemporaryDirectory()
svc = cloudlog.start_local(tmp.name + "/logs.duckdb", bucket_dir=tmp.name + "/gcs")
if hasattr(svc.store, "quota"):        # 1,200 new tables: more than a minute's budget
    svc.store.quota.per_minute = 10 ** 9
s, ep = requests.Session(), svc.endpoint
s.post(f"{ep}/v2/projects/busy/sinks", json={
    "name": "bq", "destination": "bigquery.googleapis.com/projects/busy/datasets/ds"})
s.post(f"{ep}/v2/entries:write", json={"logName": "projects/quiet/logs/app",
                                       "entries": [{"textPayload": "warm-up"}]})
svc.drain()
for k in range(12):
    assert s.post(f"{ep}/v2/entries:write", json={"logName": "projects/busy/logs/app",
                                                  "entries": days(100, k * 100)}).ok
t0 = time.monotonic()
s.post(f"{ep}/v2/entries:write", json={"logName": "projects/quiet/logs/app",
                                       "entries": [{"textPayload": "q"}]})
r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/quiet"]})
quiet = time.monotonic() - t0
assert len(r.json()["entries"]) == 2
r = s.post(f"{ep}/v2/entries:list", json={"resourceNames": ["projects/busy"],
                                          "filter": 'textPayload="d1199"'})
busy = time.monotonic() - t0
assert len(r.json()["entries"]) == 1
svc.stop()
tmp.cleanup()
print(json.dumps({"quiet": quiet, "busy": busy}))
"""


def run(pythonpath: str) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True, cwd=pythonpath
    ).stdout
    return json.loads(out.splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="a directory holding another cloudlog package to compare")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    with Recording("bench_cloudlog_fairness", "bench.bench_cloudlog_fairness", argv) as record:
        measure(args, record.figures)


def measure(args, figures: dict) -> None:
    here = str(Path(__file__).resolve().parents[1])
    variants = {"this checkout": here} | ({"--old": args.old} if args.old else {})
    figures["runs"] = []
    for _ in range(args.reps):
        for name, path in variants.items():
            r = run(path)
            print(
                f"{name:>14}: the quiet project's write listed after {r['quiet']:.2f} s; "
                f"the busy backlog (1,200 new tables) applied after {r['busy']:.2f} s",
                flush=True,
            )
            figures["runs"].append(
                {"variant": name, "quiet_seconds": round(r["quiet"], 3), "busy_seconds": round(r["busy"], 3)}
            )


if __name__ == "__main__":
    main()
