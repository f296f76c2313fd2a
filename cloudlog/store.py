"""The log store: the public storage API the HTTP layer and notebooks use.

It wires three parts together (see docs/cloudlog.md, "Durability and concurrency"):

* :class:`~cloudlog.journal.Journal` - ``write(rows)`` appends to ``<db>.journal`` and
  fdatasyncs (one fsync per group of concurrent writes); that is the acknowledgement;
* :class:`~cloudlog.applier.Applier` - one thread applies journalled rows to DuckDB in
  batches and runs sinks and metrics (each isolated from the others);
* :class:`~cloudlog.config.ConfigRepo` - sinks and metrics as immutable snapshots behind a
  lock, changed only by the applier after DuckDB has the change.

Reads call :meth:`Store.sync` first, so they see every write acknowledged before them, and
run on their own cursors (DuckDB MVCC).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import zlib
from pathlib import Path

import duckdb

from cloudlog import metrics as metrics_mod
from cloudlog.applier import FILE_EXPORTS_DDL, Applier
from cloudlog.config import CONFIG_DDL, ERRORS_DDL, MAX_METRICS, MAX_SINKS, ConfigRepo
from cloudlog.journal import Journal
from cloudlog.model import ApiError, Row, format_timestamp, now_us
from cloudlog.query import FilterError, compile_filter
from cloudlog.sinks import FileExporter, PubSub, qi

log = logging.getLogger(__name__)

SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS cloudlog",
    "CREATE TABLE IF NOT EXISTS cloudlog.entries (seq BIGINT, project VARCHAR, "
    "log_name VARCHAR, log_id VARCHAR, ts BIGINT, receive_ts BIGINT, severity INTEGER, "
    "insert_id VARCHAR, text_payload VARCHAR, entry VARCHAR, search VARCHAR)",
    CONFIG_DDL,
    ERRORS_DDL,
    metrics_mod.METRIC_COUNTS_DDL,
    FILE_EXPORTS_DDL,
    "CREATE TABLE IF NOT EXISTS cloudlog.state (k VARCHAR PRIMARY KEY, v BIGINT)",
]
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
# Acknowledged but not yet applied entries above which writes get 503 + Retry-After: the
# backlog is held in memory until applied, and reads wait for it.
MAX_BACKLOG_ROWS = 500_000
MEMORY_LIMIT = "2GB"      # DuckDB's memory_limit for the whole store
_TOKEN_ERROR = ("invalid pageToken (it must come from a previous response with the same "
                "resourceNames, filter and orderBy)")


def encode_page_token(fingerprint: int, ts: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([fingerprint, ts, seq]).encode()).decode()


def decode_page_token(token: str, fingerprint: int) -> tuple[int, int]:
    """-> (ts, seq) as ints; ApiError 400 for anything else (never an assert)."""
    if not isinstance(token, str) or len(token) > 200:
        raise ApiError(400, _TOKEN_ERROR)
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise ApiError(400, _TOKEN_ERROR) from None
    if not (isinstance(value, list) and len(value) == 3
            and all(type(x) is int and _INT64[0] <= x <= _INT64[1] for x in value)
            and value[0] == fingerprint):
        raise ApiError(400, _TOKEN_ERROR)
    return value[1], value[2]


class Store:
    def __init__(self, db_path: str | Path, bucket_dir: str | Path | None = None):
        self.path = str(db_path)
        memory = self.path == ":memory:"
        if not memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # a bound on DuckDB's memory (it spills to disk or fails the one query, answered 5xx)
        self.db = duckdb.connect(self.path, config={"threads": 2, "memory_limit": MEMORY_LIMIT})
        for stmt in SCHEMA:
            self.db.execute(stmt)
        applied = self.db.execute(
            "SELECT coalesce((SELECT v FROM cloudlog.state WHERE k = 'applied_seq'), "
            "(SELECT max(seq) FROM cloudlog.entries), 0)").fetchone()[0]
        self.config = ConfigRepo()
        self.config.load(self.db)
        if bucket_dir is None:
            bucket_dir = (Path(self.path).parent if not memory else Path(".")) / "gcs"
        self.pubsub = PubSub()
        journal_path = None if memory else Path(self.path + ".journal")
        # The journal's lines past the applied position are replayed by the applier thread
        # (batch by batch, in bounded space), so the service answers at once: writes are
        # journalled meanwhile, reads wait for the replay (or get a 503 saying how far it is).
        journal_seq = Journal.recover(journal_path) if journal_path is not None else 0
        self.applier = Applier(self.db, self.config, FileExporter(Path(bucket_dir)),
                               self.pubsub, applied, journal_path, journal_seq)
        self.applier.start()
        self.journal = Journal(journal_path, max(applied, journal_seq), self.applier.deliver,
                               lambda: self.applier.applied_seq)
        self._readers: set = set()
        self._readers_lock = threading.Lock()
        self._closed = False

    @property
    def stats(self) -> dict:
        return dict(self.applier.stats, fsyncs=self.journal.fsyncs)

    # ------------------------------------------------------------ writes
    def write(self, rows: list[Row], timeout: float = 120.0) -> int:
        """Durably store rows; returns once they are journalled (or, in memory, applied)."""
        if not rows:
            return 0
        if not (self.journal.alive() and self.applier.alive()):
            raise ApiError(503, "the log store is closed")
        behind = self.applier.behind_error()      # back-pressure while a batch cannot apply
        if behind is not None:
            raise behind
        with self.journal.lock:
            backlog = self.journal.written_seq - self.applier.applied_seq
        if backlog > MAX_BACKLOG_ROWS:
            err = ApiError(503, f"the log store is {backlog} entries behind (at most "
                                f"{MAX_BACKLOG_ROWS}); retry in a moment")
            err.retry_after = 1
            raise err
        return self.journal.write(rows, timeout)

    def sync(self, timeout: float = 60.0, projects=None) -> None:
        """Wait until DuckDB holds every write acknowledged before this call (of
        ``projects`` only, when given: another project's backlog does not delay a read)."""
        self.applier.wait_applied(self.journal.last_seq(projects), timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.journal.close()
        with self._readers_lock:       # a long read must not hold up shutdown
            for cur in list(self._readers):
                try:
                    cur.interrupt()
                except Exception:  # noqa: BLE001
                    pass
        # applies what is queued for a few seconds at most; the rest stays in the journal
        self.applier.stop()
        if self.journal.path is not None and \
                self.applier.applied_seq >= self.journal.written_seq:
            try:                       # DuckDB holds everything: start the next run empty
                with open(self.journal.path, "r+b") as f:
                    f.truncate(0)
            except OSError:
                pass
        self.pubsub.close()
        try:
            self.db.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        try:
            self.db.close()
        except duckdb.Error:
            pass

    # ------------------------------------------------------------ reads
    def _read(self, sql: str, params=None, filter_error: bool = False) -> list[tuple]:
        if self._closed:
            raise ApiError(503, "the log store is closed")
        cur = self.db.cursor()
        with self._readers_lock:
            self._readers.add(cur)
        try:
            return cur.execute(sql, params or []).fetchall()
        except duckdb.InterruptException:
            raise ApiError(503, "the log store is shutting down") from None
        except duckdb.Error as e:
            if filter_error:
                raise FilterError(f"cannot evaluate filter: {str(e).splitlines()[0]}", 0,
                                  "") from None
            raise
        finally:
            with self._readers_lock:
                self._readers.discard(cur)
            cur.close()

    def list_entries(self, projects: list[str], filter_: str | None, order: str = "asc",
                     page_size: int = 50, page_token: str | None = None
                     ) -> tuple[list[str], str | None]:
        """-> (entry JSON texts, next page token or None)."""
        sql = compile_filter(filter_)
        fingerprint = zlib.crc32(json.dumps([sorted(projects), filter_ or "", order]).encode())
        where = [f"project IN ({', '.join('?' for _ in projects)})", sql]
        params: list = list(projects)
        if page_token:
            ts, seq = decode_page_token(page_token, fingerprint)
            cmp = ">" if order == "asc" else "<"
            where.append(f"(ts {cmp} ? OR (ts = ? AND seq {cmp} ?))")
            params += [ts, ts, seq]
        direction = "ASC" if order == "asc" else "DESC"
        self.sync(projects=projects)
        rows = self._read(
            f"SELECT entry, ts, seq FROM cloudlog.entries WHERE {' AND '.join(where)} "
            f"ORDER BY ts {direction}, seq {direction} LIMIT ?", params + [int(page_size) + 1],
            filter_error=True)
        token = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            token = encode_page_token(fingerprint, rows[-1][1], rows[-1][2])
        return [r[0] for r in rows], token

    def list_logs(self, project: str) -> list[str]:
        self.sync(projects=[project])
        return [n for (n,) in self._read(
            "SELECT DISTINCT log_name FROM cloudlog.entries WHERE project = ? ORDER BY 1",
            [project])]

    def datasets(self) -> list[tuple[str, str]]:
        """[(project, dataset)] of the BigQuery-style datasets sinks have written."""
        out = []
        for (name,) in self._read("SELECT schema_name FROM duckdb_schemas() "
                                  "WHERE database_name = current_database()"):
            if "." in name:
                p, d = name.rsplit(".", 1)
                out.append((p, d))
        return out

    def resolve_sql(self, sql: str, project: str | None = None) -> str:
        """BigQuery-style names -> this store's: ``dataset.table`` is resolved in ``project``
        (like BigQuery's default project), ``project.dataset.table`` as written."""
        if not isinstance(sql, str):
            raise TypeError("sql must be a string")
        pairs = set(self.datasets())
        if not pairs and project is None:
            return sql
        ast = json.loads(self._read("SELECT json_serialize_sql(?)", [sql])[0][0])
        if ast.get("error"):
            if project is None:
                return sql        # not a single SELECT: run it as written
            raise ValueError("svc.query(sql, project=...) runs one SELECT statement: "
                             f"{ast.get('error_message')}")
        edits = []

        def walk(node):
            if isinstance(node, dict):
                if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
                    edit = self._resolve_table(node, project, pairs)
                    if edit:
                        edits.append(edit)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(ast)
        if not edits:
            return sql
        raw = sql.encode("utf-8")
        for start, length, text in sorted(edits, reverse=True):
            raw = raw[:start] + text.encode("utf-8") + raw[start + length:]
        return raw.decode("utf-8")

    @staticmethod
    def _resolve_table(node, project, pairs):
        schema, catalog, table = node["schema_name"], node.get("catalog_name"), node["table_name"]
        if catalog:
            if (catalog, schema) not in pairs:
                return None
            target = (catalog, schema)
        elif project is not None:
            if (project, schema) not in pairs:
                if any(d == schema for _, d in pairs):
                    raise ValueError(f"project {project!r} has no dataset {schema!r} (a sink "
                                     "creates it on its first export)")
                return None
            target = (project, schema)
        else:
            owners = sorted(p for p, d in pairs if d == schema)
            if not owners:
                return None
            if len(owners) > 1:
                raise ValueError(f"dataset {schema!r} exists in projects {owners}; say which "
                                 "with svc.query(sql, project=...)")
            target = (owners[0], schema)
        text = f"{qi(target[0] + '.' + target[1])}.{qi(table)}"
        if node.get("alias"):
            text += f" AS {qi(node['alias'])}"
        if node.get("column_name_alias"):
            text += "(" + ", ".join(qi(c) for c in node["column_name_alias"]) + ")"
        return node["query_location"], node["query_location_length"], text

    def query(self, sql: str, params=None, project: str | None = None):
        """Read-only convenience for notebooks: run SQL on a fresh cursor, return the rows.
        BigQuery-style ``dataset.table`` names are resolved in ``project``."""
        self.sync()
        return self._read(self.resolve_sql(sql, project), params)

    # ------------------------------------------------------------ logs, sinks, metrics
    def delete_log(self, project: str, log_name: str) -> int:
        def fn(con):
            n = con.execute("DELETE FROM cloudlog.entries WHERE project = ? AND log_name = ?",
                            [project, log_name]).fetchone()[0]
            if not n:
                raise ApiError(404, f"Log {log_name} does not exist")
            return n
        return self.applier.call(fn)

    def get_config(self, kind: str, project: str, name: str) -> dict:
        obj = self.config.get(kind, project, name)
        if obj is None:
            raise ApiError(404, f"{kind.capitalize()} {name} does not exist in project {project}")
        return json.loads(json.dumps(dict(obj)))

    def list_config(self, kind: str, project: str) -> list[dict]:
        return self.config.list(kind, project)

    def config_errors(self, kind: str, project: str, name: str) -> list[dict]:
        self.get_config(kind, project, name)
        self.sync(projects=[project])
        return self.config.errors(kind, project, name)

    def put_config(self, kind: str, project: str, name: str, body: dict, create: bool) -> dict:
        limit = MAX_SINKS if kind == "sink" else MAX_METRICS

        def fn(con):
            old = self.config.get(kind, project, name)
            if create and old is not None:
                raise ApiError(409, f"{kind.capitalize()} {name} already exists")
            if not create and old is None:
                raise ApiError(404, f"{kind.capitalize()} {name} does not exist")
            if create and self.config.count(kind, project) >= limit:
                raise ApiError(400, f"project {project} already has {limit} {kind}s, the "
                                    "Cloud Logging limit")
            stamp = format_timestamp(now_us())
            obj = dict(body, createTime=old["createTime"] if old else stamp, updateTime=stamp)
            con.execute("INSERT OR REPLACE INTO cloudlog.config VALUES (?, ?, ?, ?)",
                        [kind, project, name, json.dumps(obj)])
            self.config.put(kind, project, name, obj)
            return obj
        return self.applier.call(fn)

    def delete_config(self, kind: str, project: str, name: str) -> None:
        def fn(con):
            if self.config.get(kind, project, name) is None:
                raise ApiError(404, f"{kind.capitalize()} {name} does not exist")
            con.execute("DELETE FROM cloudlog.config WHERE kind = ? AND project = ? AND name = ?",
                        [kind, project, name])
            self.config.delete(kind, project, name)
        self.applier.call(fn)

    def metric_projects(self, name: str) -> list[str]:
        return sorted({p for (p, n) in self.config.snapshot("metric") if n == name})

    def metric_series(self, project: str, name: str, bucket_seconds: int = 60,
                      start=None, end=None):
        self.get_config("metric", project, name)
        self.sync(projects=[project])
        cur = self.db.cursor()
        try:
            return metrics_mod.series(cur, project, name, bucket_seconds, start, end)
        finally:
            cur.close()

