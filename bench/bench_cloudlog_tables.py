"""How much creating a BigQuery-style table costs once a dataset already holds many.

    python -m bench.bench_cloudlog_tables [--old DIR] [--existing 3000] [--reps 3]

Each run is a fresh in-process store with one BigQuery sink: it first fills the dataset
with ``--existing`` date-sharded tables (100 new days per write, the per-request limit),
then times 5 more writes of 100 new tables each (write + apply). ``--old DIR`` runs the
same measurement against another copy of the ``cloudlog`` package (e.g. the previous
commit's, ``git archive HEAD cloudlog | tar -x -C /tmp/old``), interleaved with this one,
and prints the median of each.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
from cloudlog.model import normalize_entry, now_us, format_timestamp
from cloudlog.store import Store
existing, per = int(sys.argv[1]), 100
store = Store(tempfile.mkdtemp() + "/t.duckdb")
store.put_config("sink", "p", "bq", {"name": "bq", "filter": "",
                 "destination": "bigquery.googleapis.com/projects/p/datasets/ds"}, create=True)
day0 = 1_000_000 * 86_400 * 10_000          # 1997-05-19: one table per day from here

def batch(first_day):
    return [normalize_entry({"logName": "projects/p/logs/app", "jsonPayload": {"k": d},
                             "timestamp": format_timestamp(day0 + d * 86_400_000_000)},
                            {}, now_us()) for d in range(first_day, first_day + per)]

for start in range(0, existing, per):
    store.write(batch(start)); store.sync()
times = []
for i in range(5):
    rows = batch(existing + i * per)
    t0 = time.perf_counter()
    store.write(rows)
    store.sync()
    times.append(time.perf_counter() - t0)
store.close()
print(json.dumps({"ms_per_table": 1000 * sorted(times)[2] / per}))
"""


def run(pythonpath: str, existing: int) -> float:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    # cwd too: `python -c` puts the current directory first on sys.path
    out = subprocess.run([sys.executable, "-c", CHILD, str(existing)], env=env, check=True,
                         capture_output=True, text=True, cwd=pythonpath).stdout
    return json.loads(out.splitlines()[-1])["ms_per_table"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="a directory holding another cloudlog package to compare")
    ap.add_argument("--existing", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    variants = {"this checkout": here} | ({"--old": args.old} if args.old else {})
    results = {k: [] for k in variants}
    for _ in range(args.reps):                  # interleaved: both see the same machine load
        for name, path in variants.items():
            results[name].append(run(path, args.existing))
    for name, ms in results.items():
        print(f"{name:>14}: {statistics.median(ms):6.2f} ms per new table with "
              f"{args.existing} tables in the dataset (median of {args.reps}: "
              f"{', '.join(f'{x:.2f}' for x in ms)})")


if __name__ == "__main__":
    main()
