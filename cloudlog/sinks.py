"""Sink destinations, run by the applier after the entries of a batch are matched.

* ``bigquery.googleapis.com/projects/P/datasets/D`` -> DuckDB schema ``"P.D"`` (the project is
  part of where a sink writes), one table per log and UTC day (``struct_log_20240501``) with
  the BigQuery export columns; ``jsonPayload``, ``labels`` and ``resource`` are STRUCTs whose
  (lower-cased) fields are added as they appear. The first type seen for a field wins; a
  value of another type is written as NULL and the clash is recorded in ``"P.D"._sink_errors``
  (the entry itself is still exported). Growing a table costs one statement per changed
  top-level column, or - when the table is large - a new physical part (``T$1``, ``T$2``...)
  behind a view named ``T``, so adding fields never rewrites a large table. DuckDB names
  ignore case, BigQuery's do not: upper-case letters in table, project and dataset names are
  escaped with ``^`` (``App`` -> ``^App_20240501``, see :func:`duck_name`).
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
from collections import OrderedDict, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from cloudlog.model import Row, dumps

log = logging.getLogger(__name__)

_BQ = re.compile(
    r"^bigquery\.googleapis\.com/projects/([A-Za-z0-9][A-Za-z0-9_\-:.]{0,99})"
    r"/datasets/([A-Za-z0-9_]{1,1024})$"
)
# DuckDB schemas of the service itself and of DuckDB: never a dataset name
RESERVED_DATASETS = {"cloudlog", "main", "information_schema", "pg_catalog", "temp", "system"}
MAX_TABLE_FIELDS = 500  # local (BigQuery allows 10,000): DuckDB statements on a table cost ~0.3 ms per field
REWRITE_ROWS = 2_000  # a physical table up to this size grows in place, larger: a new part
MAX_PARTS = 64
MAX_CACHED_TABLES = 256  # table schemas the exporter keeps in memory (LRU; reloaded on a miss)
_GCS = re.compile(r"^storage\.googleapis\.com/([a-z0-9][a-z0-9._\-]{1,220}[a-z0-9])$")
_PUBSUB = re.compile(r"^pubsub\.googleapis\.com/(projects/[^/]+/topics/[A-Za-z][\w\-.~+%]{2,254})$")
_EPOCH = datetime(1970, 1, 1)
_ABSENT = object()  # "no such key" in the known-tables mirror's undo log


def parse_destination(dest) -> tuple[str, tuple]:
    """-> ("bigquery", (project, dataset)) | ("storage", (bucket,)) | ("pubsub", (topic,))."""
    if isinstance(dest, str):
        for kind, rx in (("bigquery", _BQ), ("storage", _GCS), ("pubsub", _PUBSUB)):
            m = rx.fullmatch(dest)  # not match + `$`: that allows a trailing newline
            if m:
                if kind == "bigquery" and m.group(2).lower() in RESERVED_DATASETS:
                    raise ValueError(
                        f"dataset name {m.group(2)!r} is reserved by the local service; choose another dataset"
                    )
                return kind, m.groups()
        m = re.fullmatch(r"bigquery\.googleapis\.com/projects/([^/]*)/datasets/(.*)", dest, re.S)
        if m and _BQ.fullmatch(f"bigquery.googleapis.com/projects/{m.group(1)}/datasets/d"):
            dataset = m.group(2)  # the project is fine: say what is wrong with the dataset
            bad = sorted({c for c in dataset if not re.fullmatch(r"[A-Za-z0-9_]", c)})
            if not dataset or len(dataset) > 1024:
                raise ValueError(
                    f"invalid BigQuery dataset name {dataset!r} in the sink "
                    "destination: it must have 1 to 1024 characters"
                )
            raise ValueError(
                f"invalid BigQuery dataset name {dataset!r} in the sink destination: it contains "
                f"{', '.join(repr(c) for c in bad)}; a dataset name may hold only letters, "
                "digits and underscores"
                + (" (a hyphen is allowed in project IDs, not in dataset names)" if "-" in bad else "")
            )
    raise ValueError(
        f"unsupported sink destination {dest!r}; use bigquery.googleapis.com/projects/P/"
        "datasets/D, storage.googleapis.com/BUCKET or pubsub.googleapis.com/projects/P/topics/T"
    )


class _NameCache:
    """Names computed from JSON keys, log IDs and days, kept for reuse; bounded by the bytes
    of what it holds (keys come from entries: a few long ones must not fill the memory).
    When full it starts again empty - simple, and the names are cheap to recompute."""

    def __init__(self, max_bytes: int = 4 * 1024 * 1024):
        self.max_bytes, self.bytes = max_bytes, 0
        self._d: dict = {}

    def get(self, key):
        return self._d.get(key)

    def put(self, key, value) -> None:
        size = _size(key) + _size(value) + 100  # ~ the dict slot and object headers
        if size > self.max_bytes // 16:
            return  # too big to be worth keeping
        if self.bytes + size > self.max_bytes:
            self._d = {}
            self.bytes = 0
        self._d[key] = value
        self.bytes += size

    def items(self):
        return list(self._d.items())

    def __len__(self):
        return len(self._d)


def _size(x) -> int:
    return len(x) if isinstance(x, str) else 8


_SANE = _NameCache()
_FIELD = _NameCache()
_DAYS = _NameCache(256 * 1024)


def sanitize(name: str) -> str:
    out = _SANE.get(name)
    if out is None:
        out = re.sub(r"[^A-Za-z0-9]", "_", name)
        _SANE.put(name, out)
    return out


def field_name(key: str) -> str:
    """A jsonPayload/labels key as a BigQuery column: lower case, non-alphanumerics as _."""
    out = _FIELD.get(key)
    if out is None:
        out = sanitize(key).lower() or "_"  # a column needs a name: "" becomes "_"
        _FIELD.put(key, out)
    return out


_UPPER = re.compile(r"(?<!\^)([A-Z])")


def duck_name(name: str) -> str:
    """A BigQuery name (case-sensitive) as a DuckDB identifier (case-insensitive, even
    quoted): every upper-case letter gets a ``^`` in front, so that ``app`` and ``App`` stay
    two tables (``app_20240501`` and ``^App_20240501``) and lower-case names are unchanged.
    One-to-one: BigQuery names never contain ``^``; a name already escaped is left as is."""
    return _UPPER.sub(r"^\1", name) if not name.islower() else name


def bigquery_name(name: str) -> str:
    """The inverse of :func:`duck_name`: ``^App_20240501`` -> ``App_20240501``."""
    return name.replace("^", "")


def table_name(log_id: str, ts_us: int) -> str:
    """The BigQuery-style table of a log and UTC day, as a DuckDB name: ``struct_log_20240501``
    (non-alphanumerics of the log ID as ``_``, upper-case letters escaped by duck_name)."""
    d = ts_us // 86_400_000_000
    day = _DAYS.get(d)
    if day is None:
        t = _EPOCH + timedelta(days=d)
        day = f"{t.year:04d}{t.month:02d}{t.day:02d}"
        _DAYS.put(d, day)
    return duck_name(f"{sanitize(log_id)}_{day}")


def dataset_schema(project: str, dataset: str) -> str:
    """The DuckDB schema a BigQuery destination writes to: ``P.D`` (datasets have no dots),
    with upper-case letters escaped (``Team`` -> ``^Team.ds``): projects and datasets that
    differ only in case are different schemas, as in BigQuery."""
    return f"{duck_name(project)}.{duck_name(dataset)}"


def split_schema(schema: str) -> tuple[str, str]:
    """A DuckDB schema of a dataset -> (project, dataset) as BigQuery spells them."""
    project, dataset = schema.rsplit(".", 1)
    return bigquery_name(project), bigquery_name(dataset)


def count_fields(t) -> int:
    if isinstance(t, tuple):
        if t[0] == "LIST":
            return count_fields(t[1])
        return sum(1 + count_fields(x) for x in t[1].values())
    return 0


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- BigQuery export types
# A type is "BOOLEAN", "DOUBLE", "VARCHAR", "TIMESTAMP", ("LIST", t) or ("STRUCT", {name: t}).
FIXED = {
    "timestamp": "TIMESTAMP",
    "receiveTimestamp": "TIMESTAMP",
    "logName": "VARCHAR",
    "severity": "VARCHAR",
    "insertId": "VARCHAR",
    "trace": "VARCHAR",
    "spanId": "VARCHAR",
    "textPayload": "VARCHAR",
}
DYNAMIC = ("resource", "labels", "jsonPayload", "httpRequest", "operation", "sourceLocation")


def infer(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, (int, float)):
        return "DOUBLE"  # jsonPayload is a protobuf Struct: every number is a double
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
        return {"BOOLEAN": pa.bool_(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us")}[
            t
        ]
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
        return ("STRUCT", {at.field(i).name: from_arrow(at.field(i).type) for i in range(at.num_fields)})
    return "VARCHAR"


def _kind(v) -> str:
    return type_name(infer(v)) if infer(v) is not None else "NULL"


class _Conformer:
    """Coerces one value to a table's type, growing STRUCTs; records additions and clashes."""

    def __init__(self, budget: int = MAX_TABLE_FIELDS):
        self.additions: list[tuple[tuple, str]] = []
        self.clashes: list[tuple[str, str, str]] = []
        self.budget = budget  # how many more fields the table may get
        self.capped = False  # this entry already has its "table is full" error

    def conform(self, t, v, path: tuple):
        if v is None:
            return None
        if t is None:  # a new field: its first type wins
            t = infer(v)
            if t is None:
                return None
            n = 1 + count_fields(t)
            if n > self.budget:
                if not self.capped:  # one error per entry, not one per dropped field
                    self.capped = True
                    self.clashes.append(
                        (
                            ".".join(path),
                            "(no new field)",
                            f"the table has reached {MAX_TABLE_FIELDS} fields; new fields of this entry were not added",
                        )
                    )
                return None
            self.budget -= n
            self.additions.append((path, type_name(t)))  # the type as first seen
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
                tx = type(x)  # fast paths for scalars that fit (the common case)
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
        if isinstance(t, tuple):  # LIST: elements must fit the element type as is
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


SINK_ERRORS_DDL = (
    "CREATE TABLE IF NOT EXISTS {ds}._sink_errors (sink VARCHAR, "
    "table_name VARCHAR, insertId VARCHAR, timestamp TIMESTAMP, field VARCHAR, "
    "expected VARCHAR, got VARCHAR, entry VARCHAR, recorded_at TIMESTAMP, "
    "message VARCHAR)"
)


class _Table:
    """What the exporter knows about one BigQuery-style table."""

    __slots__ = ("cols", "parts", "rows", "nfields")

    def __init__(self, cols, parts, rows):
        self.cols = cols  # {column: type}, the latest physical table's (the full schema)
        self.parts = parts  # None: a plain table; else the number of the latest part
        self.rows = rows  # rows in the latest physical table
        self.nfields = sum(1 + count_fields(t) for t in cols.values())


class BigQueryExporter:
    """Exports rows into BigQuery-style tables, in the caller's transaction."""

    def __init__(self):
        self._tables: OrderedDict[tuple[str, str], _Table] = OrderedDict()  # LRU
        self._datasets: set[str] = set()
        # lower-cased schema -> {lower-cased table name: None (a plain table) or its latest
        # part}: a mirror of the tables that exist, read from DuckDB's catalogue once and
        # then kept up to date as tables are made, so that making one looks at no others
        # (duckdb_tables() lists every table of every schema: ~15 ms at 2,000, 84 ms at 5,000)
        self._known: dict[str, dict[str, int | None]] | None = None
        # what the open transaction changed in the mirror, to undo on a rollback (so that a
        # failed batch does not cost a new listing of the whole catalogue)
        self._undo: list[tuple[dict, str, object]] = []

    def reset(self):
        """Forget everything: the next export reads the catalogue again (after a table
        failed to export: DuckDB may hold something this exporter did not make)."""
        self._tables.clear()
        self._datasets.clear()
        self._known = None
        self._undo.clear()

    def committed(self) -> None:
        """The transaction that made the mirror's latest changes committed: keep them."""
        self._undo.clear()

    def rolled_back(self) -> None:
        """The transaction rolled back: undo its changes to the mirror, forget cached schemas."""
        for names, key, old in reversed(self._undo):
            if old is _ABSENT:
                names.pop(key, None)
            else:
                names[key] = old
        self._undo.clear()
        self._tables.clear()
        self._datasets.clear()

    def _known_tables(self, con, schema: str) -> dict[str, int | None]:
        if self._known is None:
            # DuckDB matches names case-insensitively, so the mirror does too (a table made
            # by an older version under another case is found, not created twice)
            self._known = {}
            for sch, name in con.execute(
                "SELECT lower(schema_name), lower(table_name) FROM duckdb_tables() "
                "WHERE database_name = current_database() AND contains(schema_name, '.')"
            ).fetchall():
                base, _, part = name.partition("$")
                known = self._known.setdefault(sch, {})
                if part.isdigit():
                    known[base] = max(int(part), known.get(base) or 0)
                elif not part:
                    known.setdefault(base, None)
        return self._known.setdefault(schema.lower(), {})

    def _note_table(self, con, schema: str, table: str, parts: int | None) -> None:
        known = self._known_tables(con, schema)
        self._undo.append((known, table.lower(), known.get(table.lower(), _ABSENT)))
        known[table.lower()] = parts

    @staticmethod
    def _physical(table: str, t: _Table) -> str:
        return table if t.parts is None else f"{table}${t.parts}"

    def _table(self, con, schema: str, table: str) -> _Table:
        key = (schema, table)
        t = self._tables.get(key)
        if t is not None:
            self._tables.move_to_end(key)
            return t
        known = self._known_tables(con, schema)
        low = table.lower()
        if low not in known:
            cols = ", ".join(f"{qi(k)} {v}" for k, v in FIXED.items())
            con.execute(f"CREATE TABLE {qi(schema)}.{qi(table)} ({cols})")
            self._note_table(con, schema, table, None)
            t = _Table(dict(FIXED), None, 0)  # its columns are known: no need to ask
            self._cache(key, t)
            return t
        t = _Table({}, known[low], 0)
        t.rows = con.execute(f"SELECT count(*) FROM {qi(schema)}.{qi(self._physical(table, t))}").fetchall()[0][0]
        # every earlier result on con is fully fetched (fetchall), so a new statement is safe
        at = con.sql(f"SELECT * FROM {qi(schema)}.{qi(self._physical(table, t))} LIMIT 0").to_arrow_table()
        t.cols = {f.name: from_arrow(f.type) for f in at.schema}
        t.nfields = sum(1 + count_fields(x) for x in t.cols.values())
        self._cache(key, t)
        return t

    def _cache(self, key, t: _Table) -> None:
        self._tables[key] = t
        if len(self._tables) > MAX_CACHED_TABLES:
            self._tables.popitem(last=False)

    def _grow(self, con, schema: str, table: str, t: _Table, changed: list[str], new: set):
        """Give the table the columns in t.cols: bounded work however many fields arrive."""
        phys = self._physical(table, t)
        if t.rows <= REWRITE_ROWS or (t.parts or 0) >= MAX_PARTS:
            for k in changed:
                if k in new:
                    con.execute(f"ALTER TABLE {qi(schema)}.{qi(phys)} ADD COLUMN {qi(k)} {type_name(t.cols[k])}")
                else:
                    con.execute(
                        f"ALTER TABLE {qi(schema)}.{qi(phys)} ALTER COLUMN {qi(k)} SET DATA TYPE {type_name(t.cols[k])}"
                    )
            return
        # a large table: the rows stay where they are; a new part gets the full schema
        if t.parts is None:
            con.execute(f"ALTER TABLE {qi(schema)}.{qi(table)} RENAME TO {qi(table + '$0')}")
            t.parts = 0
        t.parts += 1
        t.rows = 0
        self._note_table(con, schema, table, t.parts)
        cols = ", ".join(f"{qi(k)} {type_name(v)}" for k, v in t.cols.items())
        con.execute(f"CREATE TABLE {qi(schema)}.{qi(self._physical(table, t))} ({cols})")
        union = " UNION ALL BY NAME ".join(
            f"SELECT * FROM {qi(schema)}.{qi(table + '$' + str(i))}" for i in range(t.parts + 1)
        )
        con.execute(f"CREATE OR REPLACE VIEW {qi(schema)}.{qi(table)} AS {union}")

    def _dataset(self, con, project: str, dataset: str) -> str:
        schema = dataset_schema(project, dataset)
        if schema not in self._datasets:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(schema)}")
            con.execute(SINK_ERRORS_DDL.format(ds=qi(schema)))
            con.execute(f"ALTER TABLE {qi(schema)}._sink_errors ADD COLUMN IF NOT EXISTS message VARCHAR")
            self._datasets.add(schema)
        return schema

    @staticmethod
    def by_table(rows: list[Row]) -> dict[str, list[Row]]:
        """The rows of a batch grouped by the table (log and UTC day) they go to."""
        out: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            out[table_name(r.log_id, r.ts)].append(r)
        return out

    def export(self, con, sink: str, project: str, dataset: str, rows: list[Row]) -> int:
        """Export rows in the caller's transaction (a DuckDB error aborts it: see
        :meth:`export_each_table` for the retry that isolates tables from each other)."""
        schema = self._dataset(con, project, dataset)
        errors = []
        for table, trows in self.by_table(rows).items():
            try:
                self._export_table(con, sink, schema, table, trows, errors)
            except duckdb.Error:
                raise  # the transaction is aborted: the caller retries
            except Exception as e:  # noqa: BLE001 - a bug in one table's conversion (before
                # any of its rows reached DuckDB) must not drop the other tables' rows
                log.exception("sink %s: cannot export to %s", sink, table)
                self._tables.pop((schema, table), None)
                self.record_errors(
                    con,
                    schema,
                    [(sink, table, r.insert_id, r.ts, None, None, None, r.text) for r in trows],
                    f"cannot export to {table}: {e!r}"[:2000],
                )
        if errors:
            self.record_errors(con, schema, errors)
        return len(rows)

    def export_each_table(
        self, con, sink: str, project: str, dataset: str, rows: list[Row]
    ) -> list[tuple[list[Row], str]]:
        """Export rows with one transaction per table (call it outside a transaction), so
        that a table that cannot be written loses no other table's rows. Returns the
        [(rows, message)] that failed; the caller records them as the sink's errors."""
        failed = []
        for table, trows in self.by_table(rows).items():
            try:
                con.execute("BEGIN")
                errors = []
                schema = self._dataset(con, project, dataset)
                self._export_table(con, sink, schema, table, trows, errors)
                if errors:
                    self.record_errors(con, schema, errors)
                con.execute("COMMIT")
                self.committed()
            except Exception as e:  # noqa: BLE001 - this table only
                try:
                    con.execute("ROLLBACK")
                except Exception:  # noqa: BLE001
                    pass
                self.reset()
                failed.append((trows, f"table {table}: {str(e).splitlines()[0] if str(e) else e!r}"))
        return failed

    def _export_table(self, con, sink: str, schema: str, table: str, trows: list[Row], errors: list) -> None:
        t = self._table(con, schema, table)
        cols = dict(t.cols)  # changed here; t.cols only once the table has them
        before = {k: type_name(v) for k, v in cols.items()}
        conf = _Conformer(MAX_TABLE_FIELDS - t.nfields)
        entries = [r.entry for r in trows]
        values = {"timestamp": [r.ts for r in trows], "receiveTimestamp": [r.receive_ts for r in trows]}
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
                conf.capped = False
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
        for k in cols:  # a dynamic column no entry of this batch has
            values.setdefault(k, [None] * len(trows))
        batch = pa.table({k: pa.array(values[k], type=arrow_type(cols[k])) for k in cols})
        if conf.additions:
            changed = [k for k in cols if before.get(k) != type_name(cols[k])]
            t.cols = cols
            t.nfields = sum(1 + count_fields(x) for x in cols.values())
            self._grow(con, schema, table, t, changed, set(cols) - set(before))
        con.register("__bq_batch", batch)
        try:
            con.execute(f"INSERT INTO {qi(schema)}.{qi(self._physical(table, t))} BY NAME SELECT * FROM __bq_batch")
        finally:
            con.unregister("__bq_batch")
        t.rows += len(trows)

    @staticmethod
    def record_errors(con, schema: str, errors: list, message: str | None = None) -> None:
        """errors: [(sink, table, insertId, ts_us, field, expected, got, entry_text)]."""
        ts_now = int(datetime.now(timezone.utc).timestamp() * 1e6)
        et = pa.table(
            {
                "sink": [e[0] for e in errors],
                "table_name": [e[1] for e in errors],
                "insertId": [e[2] for e in errors],
                "timestamp": pa.array([e[3] for e in errors], pa.timestamp("us")),
                "field": [e[4] for e in errors],
                "expected": [e[5] for e in errors],
                "got": [e[6] for e in errors],
                "entry": [e[7] for e in errors],
                "recorded_at": pa.array([ts_now] * len(errors), pa.timestamp("us")),
                "message": [message] * len(errors),
            }
        )
        con.register("__bq_err", et)
        try:
            con.execute(f"INSERT INTO {qi(schema)}._sink_errors BY NAME SELECT * FROM __bq_err")
        finally:
            con.unregister("__bq_err")

    def record_failure(self, con, sink: str, project: str, dataset: str, rows: list[Row], message: str) -> None:
        """The sink could not export these rows: one _sink_errors row per entry."""
        schema = dataset_schema(project, dataset)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(schema)}")
        con.execute(SINK_ERRORS_DDL.format(ds=qi(schema)))
        con.execute(f"ALTER TABLE {qi(schema)}._sink_errors ADD COLUMN IF NOT EXISTS message VARCHAR")
        self.record_errors(
            con,
            schema,
            [(sink, table_name(r.log_id, r.ts), r.insert_id, r.ts, None, None, None, r.text) for r in rows],
            message[:2000],
        )


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
            if self.root.resolve() not in path.resolve().parents:
                raise ValueError(f"refusing to write outside the bucket directory: {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+b") as f:
                # a crash mid-append leaves a torn last line: end it, so that the lines
                # written again after the restart stay whole
                end = f.seek(0, os.SEEK_END)
                torn = end > 0 and f.seek(end - 1) >= 0 and f.read(1) != b"\n"
                f.write((("\n" if torn else "") + "\n".join(lines) + "\n").encode("utf-8"))
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
                return  # a topic without subscribers drops its messages, as Pub/Sub does
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
