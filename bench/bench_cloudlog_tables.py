"""How much creating a BigQuery-style table costs once the store already holds many.

    python -m bench.bench_cloudlog_tables [--old DIR] [--existing 100 2000] [--reps 3]

Each run is a fresh in-process store with one BigQuery sink: it first fills the dataset with
``N`` date-sharded tables (100 new days per write, the per-request limit), then times 5 more
writes of 100 new tables each into the same dataset, and 5 writes of 100 new tables each into
a new dataset (another project's sink), each write + apply, in CPU time of the process (the
machine's other load hardly moves it). It does so for every ``N`` of ``--existing`` (the
baseline is the first) and prints the ms of CPU per new table and the ratio to the baseline:
1.0 means a new table costs the same however many exist. ``--old DIR`` runs the
same measurement against another copy of the ``cloudlog`` package (e.g. an earlier commit's,
``git archive HEAD cloudlog | tar -x -C /tmp/old``), interleaved with this one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.record import Recording

CHILD = r"""
import json, sys, tempfile, time
from cloudlog.model import normalize_entry, now_us, format_timestamp
from cloudlog.store import Store
existing, per = int(sys.argv[1]), 100
tmp = tempfile.TemporaryDirectory()       # ~0.4 MB per table: removed at exit
store = Store(tmp.name + "/t.duckdb")
if hasattr(store, "quota"):      # this measures making tables, not the per-minute limit
    store.quota.per_minute = 10 ** 9
for p in ["p"] + [f"q{i}" for i in range(5)]:
    store.put_config("sink", p, "bq", {"name": "bq", "filter": "",
                     "destination": f"bigquery.googleapis.com/projects/{p}/datasets/ds"}, create=True)
day0 = 1_000_000 * 86_400 * 10_000          # 1997-05-19: one table per day from here

def batch(first_day, project="p"):
    return [normalize_entry({"logName": f"projects/{project}/logs/app", "jsonPayload": {"k": d},
                             "timestamp": format_timestamp(day0 + d * 86_400_000_000)},
                            {}, now_us()) for d in range(first_day, first_day + per)]

def timed(rows):
    # CPU time of this process (the journal and applier threads do the work): unlike wall
    # time it hardly moves with what else the machine runs
    t0 = time.process_time()
    store.write(rows)
    store.sync()
    return time.process_time() - t0

for start in range(0, existing, per):
    store.write(batch(start)); store.sync()
same = [timed(batch(existing + i * per)) for i in range(5)]
new = [timed(batch(0, f"q{i}")) for i in range(5)]
store.close()
tmp.cleanup()
print(json.dumps({"same": 1000 * sorted(same)[2] / per, "new": 1000 * sorted(new)[2] / per}))
"""


def run(pythonpath: str, existing: int) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    # cwd too: `python -c` puts the current directory first on sys.path
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(existing)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=pythonpath,
    ).stdout
    return json.loads(out.splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="a directory holding another cloudlog package to compare")
    ap.add_argument(
        "--existing",
        type=int,
        nargs="+",
        default=[100, 2000],
        help="tables in the store before the timed writes (the first: baseline)",
    )
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    with Recording("bench_cloudlog_tables", "bench.bench_cloudlog_tables", argv) as record:
        measure(args, record.figures)


def measure(args, figures: dict) -> None:
    here = str(Path(__file__).resolve().parents[1])
    variants = {"this checkout": here} | ({"--old": args.old} if args.old else {})
    results = {(v, n): [] for v in variants for n in args.existing}
    for _ in range(args.reps):  # interleaved: every variant and size sees the same load
        for n in args.existing:
            for name, path in variants.items():
                results[name, n].append(run(path, n))
    base = args.existing[0]
    figures.update(existing=args.existing, reps=args.reps, ms_per_table={}, ratio_to_baseline={})
    for name in variants:
        for where in ("same", "new"):
            label = "the same dataset" if where == "same" else "a new dataset"
            ms = {n: statistics.median(r[where] for r in results[name, n]) for n in args.existing}
            cells = ", ".join(f"{ms[n]:.2f} ms at {n} tables" for n in args.existing)
            ratios = ", ".join(f"{ms[n] / ms[base]:.2f}x at {n}" for n in args.existing[1:])
            print(
                f"{name:>14}, new tables in {label}: {cells} of CPU (median of {args.reps}); "
                f"ratio to {base} tables: {ratios}"
            )
            key = f"{name}, {label}"
            figures["ms_per_table"][key] = {str(n): round(ms[n], 3) for n in args.existing}
            figures["ratio_to_baseline"][key] = {str(n): round(ms[n] / ms[base], 3) for n in args.existing[1:]}


if __name__ == "__main__":
    main()
