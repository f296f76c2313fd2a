"""How many date-sharded tables and hourly files one project may make per minute.

A BigQuery sink makes a table for each log and UTC day its entries fall in, a Cloud Storage
sink a file for each log and hour, and all of them are made by the one applier thread (a
table costs ~5 ms of DuckDB work, a file an fsync). Entries with timestamps spread over many
days would let one project keep that thread busy for everyone, so each project may make at
most ``MAX_NEW_PER_MINUTE`` new tables and as many new files per minute (a token bucket,
refilled continuously). A write that needs more is refused before it is acknowledged - 429
with Retry-After, nothing of it stored - so the limit never loses an acknowledged entry:
the client retries the same write later.

What counts as new errs on the high side: a table or file this project's writes have not
touched since the service started (a bounded memory of the recent ones), for every enabled
BigQuery and Cloud Storage sink of the project, whatever the sink's filter selects.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from cloudlog.model import ApiError, Row, bad
from cloudlog.sinks import dataset_schema, parse_destination, sanitize, table_name

MAX_NEW_PER_MINUTE = 1_000  # new tables, and new files, per project per minute (local)
REMEMBERED = 50_000  # recently used tables and files kept (~20 MB); older: new again
_HOUR_US = 3_600_000_000


class CreationQuota:
    def __init__(self, per_minute: int | None = None, clock=time.monotonic):
        self.per_minute = per_minute or MAX_NEW_PER_MINUTE
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple, None] = OrderedDict()  # LRU of (project, target)
        self._tokens: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, time)
        self._targets: tuple = (None, {})  # (a sink snapshot, its targets by project)

    def _targets_of(self, snapshot) -> dict[str, tuple[list[str], list[str]]]:
        """project -> (its BigQuery sinks' DuckDB schemas, its Cloud Storage buckets)."""
        seen, targets = self._targets  # one read: another thread may replace it
        if snapshot is not seen:  # snapshots are immutable: recompute on change
            targets: dict[str, tuple[list[str], list[str]]] = {}
            for (project, _), sink in snapshot.items():
                if sink.get("disabled"):
                    continue
                try:
                    kind, dest = parse_destination(sink.get("destination"))
                except ValueError:
                    continue
                schemas, buckets = targets.setdefault(project, ([], []))
                if kind == "bigquery":
                    schemas.append(dataset_schema(*dest))
                elif kind == "storage":
                    buckets.append(dest[0])
            self._targets = (snapshot, targets)
        return targets

    def admit(self, rows: list[Row], sinks) -> None:
        """Charge the tables and files ``rows`` would make to their projects' budgets, or
        raise (charging nothing): 429 + Retry-After when the budget refills in time, 400
        when one request alone needs more than a minute's budget."""
        targets = self._targets_of(sinks)
        wanted: dict[str, tuple[set, set]] = {}
        for r in rows:
            if r.project in targets:
                days, hours = wanted.setdefault(r.project, (set(), set()))
                days.add((r.log_id, r.ts // (24 * _HOUR_US)))
                hours.add((r.log_id, r.ts // _HOUR_US))
        if not wanted:
            return
        with self._lock:
            now = self._clock()
            charges = []
            for project, (days, hours) in wanted.items():
                schemas, buckets = targets[project]
                tables = {(project, "t", s, table_name(log, day * 24 * _HOUR_US)) for s in schemas for log, day in days}
                files = {(project, "f", b, sanitize(log), hour) for b in buckets for log, hour in hours}
                for what, keys in (("tables", tables), ("files", files)):
                    new = []
                    for k in keys:
                        if k in self._seen:
                            self._seen.move_to_end(k)  # in use: remembered the longest
                        else:
                            new.append(k)
                    if new:
                        charges.append((project, what, new, self._refill(project, what, now)))
            for project, what, new, tokens in charges:
                self._check(project, what, len(new), tokens)
            for project, what, new, tokens in charges:
                self._tokens[project, what] = (tokens - len(new), now)
                for k in new:
                    self._seen[k] = None
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)

    def _refill(self, project: str, what: str, now: float) -> float:
        tokens, then = self._tokens.get((project, what), (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - then) * self.per_minute / 60.0)

    def _check(self, project: str, what: str, n: int, tokens: float) -> None:
        noun = (
            "BigQuery-style tables (one per log and UTC day, for each BigQuery sink)"
            if what == "tables"
            else "Cloud Storage files (one per log and hour, for each Cloud Storage sink)"
        )
        fix = (
            "write fewer distinct logs and days per minute (timestamps far in the past or "
            "future each need a table of their own)"
            if what == "tables"
            else "write fewer distinct logs and hours per minute"
        )
        limit = f"at most {self.per_minute} new {what} per project per minute are made (a local limit)"
        if n > self.per_minute:
            raise bad(
                f"this request would make {n} new {noun} in project {project!r}; {limit}: split the batch, or {fix}"
            )
        if n > tokens:
            wait = math.ceil((n - tokens) * 60.0 / self.per_minute)
            raise ApiError(
                429,
                f"project {project!r} would make {n} new {noun} with this "
                f"request, but only {int(tokens)} more are allowed now: {limit}. "
                f"Nothing of this request was stored; retry it in {wait} s, "
                f"or {fix}",
                retry_after=wait,
            )
