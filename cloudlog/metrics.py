"""Log-based counter metrics: counted on ingest into ``cloudlog.metric_counts`` (one row per
metric and second), read back as a time series with any bucket width."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone

import pyarrow as pa

METRIC_COUNTS_DDL = (
    "CREATE TABLE IF NOT EXISTS cloudlog.metric_counts (project VARCHAR, "
    "metric VARCHAR, sec BIGINT, n BIGINT, PRIMARY KEY (project, metric, sec))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_SEC = -62135596800  # 0001-01-01T00:00:00Z, the earliest entry timestamp
MAX_SERIES_POINTS = 20_000  # buckets in one series (local limit; ~1 MB of JSON)


def count(con, project: str, metric: str, ts_us: list[int]) -> None:
    """Add one to the per-second counter of each entry timestamp (in the caller's transaction)."""
    if not ts_us:
        return
    c = Counter(t // 1_000_000 for t in ts_us)
    tbl = pa.table(
        {"project": [project] * len(c), "metric": [metric] * len(c), "sec": list(c.keys()), "n": list(c.values())}
    )
    con.register("__mc", tbl)
    try:
        con.execute(
            "INSERT INTO cloudlog.metric_counts SELECT * FROM __mc ON CONFLICT DO UPDATE SET n = n + excluded.n"
        )
    finally:
        con.unregister("__mc")


def series(
    con, project: str, metric: str, bucket_seconds: int = 60, start: datetime | None = None, end: datetime | None = None
) -> list[tuple[datetime, int]]:
    """[(bucket start (UTC), count)], contiguous from the first to the last non-empty bucket
    (or over [start, end) when given), zero-filled: ready to plot. Buckets are aligned on
    multiples of ``bucket_seconds`` since 1970 (floored, also before 1970); a first bucket
    that would start before 0001-01-01 is dated 0001-01-01T00:00:00Z. At most
    ``MAX_SERIES_POINTS`` buckets: ValueError (naming the limit) for more."""
    if not isinstance(bucket_seconds, int) or isinstance(bucket_seconds, bool) or bucket_seconds <= 0:
        raise ValueError("bucket_seconds must be a positive integer")
    b = bucket_seconds
    lo = math.floor(start.timestamp()) // b * b if start else None
    # end is exclusive: the last bucket is the one holding the last second before it (an end on
    # a bucket boundary adds no bucket that starts at end, which would read as traffic stopping)
    hi = (math.ceil(end.timestamp()) - 1) // b * b if end else None
    if lo is None or hi is None:
        first, last = con.execute(
            "SELECT min(sec), max(sec) FROM cloudlog.metric_counts WHERE project = ? AND metric = ?", [project, metric]
        ).fetchone()
        if first is None:
            return []
        lo = first // b * b if lo is None else lo  # Python's // floors
        hi = last // b * b if hi is None else hi
    if hi < lo:
        return []
    n = (hi - lo) // b + 1
    if n > MAX_SERIES_POINTS:
        raise ValueError(
            f"the series would have {n} buckets of {b} s; at most "
            f"{MAX_SERIES_POINTS} are returned: use wider buckets or a shorter "
            "time range"
        )
    # DuckDB's // truncates toward zero: subtract the floored remainder instead
    rows = con.execute(
        "SELECT sec - ((sec % ?) + ?) % ? AS bucket, sum(n) FROM cloudlog.metric_counts "
        "WHERE project = ? AND metric = ? AND sec >= ? AND sec < ? GROUP BY bucket",
        [b, b, b, project, metric, lo, hi + b],
    ).fetchall()
    counts = {int(k): int(v) for k, v in rows}
    return [(_start(t), counts.get(t, 0)) for t in range(lo, hi + 1, b)]


def _start(sec: int) -> datetime:
    return _EPOCH + timedelta(seconds=max(sec, _MIN_SEC))
