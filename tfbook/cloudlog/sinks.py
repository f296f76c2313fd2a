"""Sink destinations, evaluated on ingest inside the writer's transaction.

* ``bigquery.googleapis.com/projects/P/datasets/D`` -> DuckDB schema ``D``, one table per log and
  UTC day (``struct_log_20240501``) with the BigQuery export columns; ``jsonPayload``,
  ``labels`` and ``resource`` are STRUCTs whose (lower-cased) fields are added as they appear.
  The first type seen for a field wins; a value of another type is written as NULL and the
  clash is recorded in ``D._sink_errors`` (the entry itself is still exported).
* ``storage.googleapis.com/BUCKET`` -> JSON lines under ``<bucket_dir>/BUCKET/LOG_ID/YYYY/MM/DD/``.
* ``pubsub.googleapis.com/projects/P/topics/T`` -> Python callbacks registered with
  ``handle.subscribe(topic, fn)``, called on a dispatcher thread after the commit.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from tfbook.cloudlog.model import Row, dumps

log = logging.getLogger(__name__)

_BQ = re.compile(r"^bigquery\.googleapis\.com/projects/([^/]+)/datasets/([A-Za-z0-9_]+)$")
_GCS = re.compile(r"^storage\.googleapis\.com/([a-z0-9][a-z0-9._\-]{1,220}[a-z0-9])$")
_PUBSUB = re.compile(r"^pubsub\.googleapis\.com/(projects/[^/]+/topics/[A-Za-z][\w\-.~+%]{2,254})$")
_EPOCH = datetime(1970, 1, 1)


def parse_destination(dest) -> tuple[str, tuple]:
    """-> ("bigquery", (project, dataset)) | ("storage", (bucket,)) | ("pubsub", (topic,))."""
    if isinstance(dest, str):
        for kind, rx in (("bigquery", _BQ), ("storage", _GCS), ("pubsub", _PUBSUB)):
            m = rx.match(dest)
            if m:
                return kind, m.groups()
    raise ValueError(
        f"unsupported sink destination {dest!r}; use bigquery.googleapis.com/projects/P/"
        "datasets/D, storage.googleapis.com/BUCKET or pubsub.googleapis.com/projects/P/topics/T")


_SANE: dict[str, str] = {}
_FIELD: dict[str, str] = {}
_DAYS: dict[int, str] = {}


def sanitize(name: str) -> str:
    out = _SANE.get(name)
    if out is None:
        out = re.sub(r"[^A-Za-z0-9]", "_", name)
        if len(_SANE) < 100_000:
            _SANE[name] = out
    return out


def field_name(key: str) -> str:
    """A jsonPayload/labels key as a BigQuery column: lower case, non-alphanumerics as _."""
    out = _FIELD.get(key)
    if out is None:
        out = sanitize(key).lower()
        if len(_FIELD) < 100_000:
            _FIELD[key] = out
    return out


def table_name(log_id: str, ts_us: int) -> str:
    d = ts_us // 86_400_000_000
    day = _DAYS.get(d)
    if day is None:
        day = _DAYS[d] = (_EPOCH + timedelta(days=d)).strftime("%Y%m%d")
    return f"{sanitize(log_id)}_{day}"


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- BigQuery export types
# A type is "BOOLEAN", "DOUBLE", "VARCHAR", "TIMESTAMP", ("LIST", t) or ("STRUCT", {name: t}).
FIXED = {"timestamp": "TIMESTAMP", "receiveTimestamp": "TIMESTAMP", "logName": "VARCHAR",
         "severity": "VARCHAR", "insertId": "VARCHAR", "trace": "VARCHAR", "spanId": "VARCHAR",
         "textPayload": "VARCHAR"}
DYNAMIC = ("resource", "labels", "jsonPayload", "httpRequest", "operation", "sourceLocation")


def infer(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, (int, float)):
        return "DOUBLE"      # jsonPayload is a protobuf Struct: every number is a double
    if isinstance(v, str):
        return "VARCHAR"
    if isinstance(v, dict):
        fields = {}
        for k, x in v.items():
            t = infer(x)
            if t is not None:
                fields.setdefault(field_name(k), t)
        return ("STRUCT", fields) if fields else None
    if isinstance(v, list):
        for x in v:
            t = infer(x)
            if t is not None:
                return ("LIST", t)
    return None


def type_name(t) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "LIST":
        return type_name(t[1]) + "[]"
    return "STRUCT(" + ", ".join(f"{qi(k)} {type_name(x)}" for k, x in t[1].items()) + ")"


def arrow_type(t):
    if isinstance(t, str):
        return {"BOOLEAN": pa.bool_(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(),
                "TIMESTAMP": pa.timestamp("us")}[t]
    if t[0] == "LIST":
        return pa.list_(arrow_type(t[1]))
    return pa.struct([(k, arrow_type(x)) for k, x in t[1].items()])


def from_arrow(at):
    if pa.types.is_boolean(at):
        return "BOOLEAN"
    if pa.types.is_floating(at) or pa.types.is_integer(at):
        return "DOUBLE"
    if pa.types.is_timestamp(at):
        return "TIMESTAMP"
    if pa.types.is_list(at) or pa.types.is_large_list(at):
        return ("LIST", from_arrow(at.value_type))
    if pa.types.is_struct(at):
        return ("STRUCT", {at.field(i).name: from_arrow(at.field(i).type)
                           for i in range(at.num_fields)})
    return "VARCHAR"


def _kind(v) -> str:
    return type_name(infer(v)) if infer(v) is not None else "NULL"


class _Conformer:
    """Coerces one value to a table's type, growing STRUCTs; records additions and clashes."""

    def __init__(self):
        self.additions: list[tuple[tuple, str]] = []
        self.clashes: list[tuple[str, str, str]] = []

    def conform(self, t, v, path: tuple):
        if v is None:
            return None
        if t is None:          # a new field: its first type wins
            t = infer(v)
            if t is None:
                return None
            self.additions.append((path, type_name(t)))   # the type as first seen
            return self._fit(t, v, path, grow=False), t
        return self._fit(t, v, path, grow=True)

    def _fit(self, t, v, path, grow):
        if isinstance(t, tuple) and t[0] == "STRUCT":
            if not isinstance(v, dict):
                return self._clash(t, v, path)
            fields, out = t[1], {}
            for k, x in v.items():
                key = _FIELD.get(k) or field_name(k)
                if key in out:
                    continue
                ft = fields.get(key)
                tx = type(x)       # fast paths for scalars that fit (the common case)
                if (ft == "VARCHAR" and tx is str) or (ft == "BOOLEAN" and tx is bool):
                    out[key] = x
                    continue
                if ft == "DOUBLE" and (tx is float or tx is int):
                    out[key] = float(x)
                    continue
                if x is None:
                    continue
                if ft is None:
                    if not grow:
                        continue
                    res = self.conform(None, x, path + (key,))
                    if res is not None:
                        out[key], fields[key] = res
                else:
                    out[key] = self._fit(ft, x, path + (key,), grow)
            return out
        if isinstance(t, tuple):          # LIST: elements must fit the element type as is
            if not isinstance(v, list):
                return self._clash(t, v, path)
            return [None if x is None else self._fit(t[1], x, path + ("[]",), False) for x in v]
        if t == "DOUBLE" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if (t == "VARCHAR" and isinstance(v, str)) or (t == "BOOLEAN" and isinstance(v, bool)):
            return v
        if v is None:
            return None
        return self._clash(t, v, path)

    def _clash(self, t, v, path):
        self.clashes.append((".".join(path), type_name(t), _kind(v)))
        return None


SINK_ERRORS_DDL = ("CREATE TABLE IF NOT EXISTS {ds}._sink_errors (sink VARCHAR, table_name VARCHAR, "
                   "insertId VARCHAR, timestamp TIMESTAMP, field VARCHAR, expected VARCHAR, "
                   "got VARCHAR, entry VARCHAR, recorded_at TIMESTAMP)")


class BigQueryExporter:
    def __init__(self):
        self._schemas: dict[tuple[str, str], dict] = {}   # (dataset, table) -> {column: type}
        self._datasets: set[str] = set()

    def reset(self):
        """Forget cached schemas (after a rollback the tables may differ)."""
        self._schemas.clear()
        self._datasets.clear()

    def _schema(self, con, ds: str, table: str) -> dict:
        key = (ds, table)
        if key not in self._schemas:
            exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [ds, table]).fetchone()[0]
            if not exists:
                cols = ", ".join(f"{qi(k)} {t}" for k, t in FIXED.items())
                con.execute(f"CREATE TABLE {qi(ds)}.{qi(table)} ({cols})")
            at = con.sql(f"SELECT * FROM {qi(ds)}.{qi(table)} LIMIT 0").to_arrow_table()
            self._schemas[key] = {f.name: from_arrow(f.type) for f in at.schema}
        return self._schemas[key]

    def export(self, con, sink: str, dataset: str, rows: list[Row]) -> int:
        if dataset not in self._datasets:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(dataset)}")
            con.execute(SINK_ERRORS_DDL.format(ds=qi(dataset)))
            self._datasets.add(dataset)
        by_table: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            by_table[table_name(r.log_id, r.ts)].append(r)
        errors = []
        for table, trows in by_table.items():
            cols = self._schema(con, dataset, table)
            conf = _Conformer()
            entries = [r.entry for r in trows]
            values = {"timestamp": [r.ts for r in trows],
                      "receiveTimestamp": [r.receive_ts for r in trows]}
            for k in ("logName", "severity", "insertId", "trace", "spanId", "textPayload"):
                values[k] = [e.get(k) for e in entries]
            for k in DYNAMIC:
                raw = [e.get(k) for e in entries]
                if all(v is None for v in raw):
                    if k in cols:
                        values[k] = raw
                    continue
                out = []
                for i, v in enumerate(raw):
                    if v is None:
                        out.append(None)
                        continue
                    n_clash = len(conf.clashes)
                    if k in cols:
                        out.append(conf._fit(cols[k], v, (k,), True))
                    else:
                        res = conf.conform(None, v, (k,))
                        if res is None:
                            out.append(None)
                        else:
                            cols[k] = res[1]
                            out.append(res[0])
                    r = trows[i]
                    for field, exp, got in conf.clashes[n_clash:]:
                        errors.append((sink, table, r.insert_id, r.ts, field, exp, got, r.text))
                values[k] = out
            for k in cols:    # a dynamic column no entry of this batch has
                values.setdefault(k, [None] * len(trows))
            for path, t in conf.additions:
                con.execute(f"ALTER TABLE {qi(dataset)}.{qi(table)} ADD COLUMN "
                            f"{'.'.join(qi(p) for p in path)} {t}")
            arrays = {k: pa.array(values[k], type=arrow_type(cols[k])) for k in cols}
            batch = pa.table(arrays)
            con.register("__bq_batch", batch)
            try:
                con.execute(f"INSERT INTO {qi(dataset)}.{qi(table)} BY NAME "
                            "SELECT * FROM __bq_batch")
            finally:
                con.unregister("__bq_batch")
        if errors:
            ts_now = int(datetime.now(timezone.utc).timestamp() * 1e6)
            et = pa.table({
                "sink": [e[0] for e in errors], "table_name": [e[1] for e in errors],
                "insertId": [e[2] for e in errors],
                "timestamp": pa.array([e[3] for e in errors], pa.timestamp("us")),
                "field": [e[4] for e in errors], "expected": [e[5] for e in errors],
                "got": [e[6] for e in errors], "entry": [e[7] for e in errors],
                "recorded_at": pa.array([ts_now] * len(errors), pa.timestamp("us"))})
            con.register("__bq_err", et)
            try:
                con.execute(f"INSERT INTO {qi(dataset)}._sink_errors BY NAME SELECT * FROM __bq_err")
            finally:
                con.unregister("__bq_err")
        return len(rows)


class FileExporter:
    """Cloud Storage analogue: hourly JSON-lines files per log."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def export(self, bucket: str, rows: list[Row]) -> int:
        files: dict[Path, list[str]] = defaultdict(list)
        for r in rows:
            t = _EPOCH + timedelta(microseconds=r.ts)
            name = f"{t:%H}-00-00_{t:%H}-59-59_S0.json"
            files[self.root / bucket / sanitize(r.log_id) / f"{t:%Y/%m/%d}" / name].append(r.text)
        for path, lines in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return len(rows)


class PubSub:
    """In-process topics: callbacks run on one dispatcher thread, after the entry is committed."""

    def __init__(self, maxsize: int = 100_000):
        self._subs: dict[str, list] = defaultdict(list)
        self._q: queue.Queue = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self.delivered = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name="cloudlog-pubsub", daemon=True)
        self._thread.start()

    def subscribe(self, topic: str, fn) -> None:
        with self._lock:
            self._subs[topic].append(fn)

    def unsubscribe(self, topic: str, fn) -> None:
        with self._lock:
            if fn in self._subs.get(topic, []):
                self._subs[topic].remove(fn)

    def publish(self, topic: str, entries: list[dict]) -> None:
        with self._lock:
            if not self._subs.get(topic):
                return        # a topic without subscribers drops its messages, as Pub/Sub does
        for e in entries:
            try:
                self._q.put_nowait((topic, e))
            except queue.Full:
                self.dropped += 1

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every published message has been handed to its callbacks."""
        done = threading.Event()
        try:
            self._q.put((None, done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self):
        self._q.put((None, None))
        self._thread.join(timeout=10)

    def _run(self):
        while True:
            topic, e = self._q.get()
            if topic is None:
                if e is None:
                    return
                e.set()
                continue
            with self._lock:
                fns = list(self._subs.get(topic, []))
            for fn in fns:
                try:
                    fn(json.loads(dumps(e)))
                    self.delivered += 1
                except Exception:  # a subscriber's bug must not stop delivery
                    self.failed += 1
                    log.exception("pubsub callback for %s failed", topic)
