"""Log-based counter metrics: counted on ingest into ``cloudlog.metric_counts`` (one row per
metric and second), read back as a time series with any bucket width."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pyarrow as pa

METRIC_COUNTS_DDL = ("CREATE TABLE IF NOT EXISTS cloudlog.metric_counts (project VARCHAR, "
                     "metric VARCHAR, sec BIGINT, n BIGINT, PRIMARY KEY (project, metric, sec))")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def count(con, project: str, metric: str, ts_us: list[int]) -> None:
    """Add one to the per-second counter of each entry timestamp (in the caller's transaction)."""
    if not ts_us:
        return
    c = Counter(t // 1_000_000 for t in ts_us)
    tbl = pa.table({"project": [project] * len(c), "metric": [metric] * len(c),
                    "sec": list(c.keys()), "n": list(c.values())})
    con.register("__mc", tbl)
    try:
        con.execute("INSERT INTO cloudlog.metric_counts SELECT * FROM __mc "
                    "ON CONFLICT DO UPDATE SET n = n + excluded.n")
    finally:
        con.unregister("__mc")


def series(con, project: str, metric: str, bucket_seconds: int = 60,
           start: datetime | None = None, end: datetime | None = None
           ) -> list[tuple[datetime, int]]:
    """[(bucket start (UTC), count)], contiguous from the first to the last non-empty bucket
    (or over [start, end) when given), zero-filled: ready to plot."""
    if not isinstance(bucket_seconds, int) or bucket_seconds <= 0:
        raise ValueError("bucket_seconds must be a positive integer")
    b = bucket_seconds
    rows = con.execute(
        "SELECT sec // ? * ? AS bucket, sum(n) FROM cloudlog.metric_counts "
        "WHERE project = ? AND metric = ? GROUP BY bucket ORDER BY bucket",
        [b, b, project, metric]).fetchall()
    counts = {int(k): int(v) for k, v in rows}
    lo = int(start.timestamp()) // b * b if start else (min(counts) if counts else None)
    hi = int(end.timestamp()) // b * b if end else (max(counts) if counts else None)
    if lo is None or hi is None or hi < lo:
        return []
    if (hi - lo) // b > 1_000_000:
        raise ValueError("too many buckets; pass start/end or a wider bucket")
    return [(_EPOCH + timedelta(seconds=t), counts.get(t, 0)) for t in range(lo, hi + 1, b)]
