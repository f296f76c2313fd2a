"""DuckDB storage with group commit.

One writer thread owns every write. HTTP threads hand it their validated batch and wait;
the writer takes *everything* queued, inserts it as one Arrow table, runs the sinks and
metrics in the same transaction, commits once (DuckDB syncs its WAL on commit) and only then
wakes the waiting threads, which answer 200. So an acknowledged entry is on disk, and many
one-entry requests share one commit. Reads use their own cursors (DuckDB MVCC).
"""
from __future__ import annotations

import base64
import json
import logging
import os
import queue
import threading
import time
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa

from tfbook.cloudlog import metrics as metrics_mod
from tfbook.cloudlog.model import (ApiError, Row, format_timestamp, now_us, search_text,
                                   split_log_name)
from tfbook.cloudlog.query import FilterError, compile_filter, lit
from tfbook.cloudlog.sinks import BigQueryExporter, FileExporter, PubSub, parse_destination

log = logging.getLogger(__name__)

SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS cloudlog",
    "CREATE TABLE IF NOT EXISTS cloudlog.entries (seq BIGINT, project VARCHAR, "
    "log_name VARCHAR, log_id VARCHAR, ts BIGINT, receive_ts BIGINT, severity INTEGER, "
    "insert_id VARCHAR, text_payload VARCHAR, entry VARCHAR, search VARCHAR)",
    "CREATE TABLE IF NOT EXISTS cloudlog.config (kind VARCHAR, project VARCHAR, name VARCHAR, "
    "body VARCHAR, PRIMARY KEY (kind, project, name))",
    metrics_mod.METRIC_COUNTS_DDL,
]
COLUMNS = ["seq", "project", "log_name", "log_id", "ts", "receive_ts", "severity",
           "insert_id", "text_payload", "entry", "search"]
ARROW_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("project", pa.string()), ("log_name", pa.string()),
    ("log_id", pa.string()), ("ts", pa.int64()), ("receive_ts", pa.int64()),
    ("severity", pa.int32()), ("insert_id", pa.string()), ("text_payload", pa.string()),
    ("entry", pa.string()), ("search", pa.string())])
MAX_GROUP_ROWS = 100_000   # one commit takes at most this many entries (bounded work per loop)


class _Job:
    __slots__ = ("kind", "payload", "done", "result", "error")

    def __init__(self, kind, payload):
        self.kind, self.payload = kind, payload
        self.done = threading.Event()
        self.result = self.error = None

    def finish(self, result=None, error=None):
        self.result, self.error = result, error
        self.done.set()


def rows_to_arrow(rows: list[Row], first_seq: int | None = None) -> pa.Table:
    seqs = (range(first_seq, first_seq + len(rows)) if first_seq is not None
            else [r.seq for r in rows])
    return pa.table([
        pa.array(seqs, pa.int64()),
        [r.project for r in rows], [r.log_name for r in rows], [r.log_id for r in rows],
        pa.array([r.ts for r in rows], pa.int64()),
        pa.array([r.receive_ts for r in rows], pa.int64()),
        pa.array([r.severity for r in rows], pa.int32()),
        [r.insert_id for r in rows], [r.text_payload for r in rows],
        [r.text for r in rows], [search_text(r.entry) for r in rows],
    ], schema=ARROW_SCHEMA)


def _journal_line(r: Row) -> bytes:
    return f"{r.seq}\t{r.ts}\t{r.receive_ts}\t{r.severity}\t{r.text}\n".encode()


def _row_from_journal(line: bytes) -> Row | None:
    try:
        seq, ts, rts, sev, text = line.decode().rstrip("\n").split("\t", 4)
        entry = json.loads(text)
        project, log_id = split_log_name(entry["logName"])
        row = Row(entry, project, log_id, int(ts), int(rts), int(sev))
        row.seq = int(seq)
        return row
    except Exception:  # a torn last line: it was never acknowledged
        return None


class Store:
    """Writes: journal (fsync'd, then acknowledged) -> applied to DuckDB in large batches.

    * the *journal writer* thread takes every queued write, appends it to ``<db>.journal``,
      fdatasyncs once and wakes the waiting requests: that is the acknowledgement;
    * the *applier* thread inserts what was journalled into DuckDB, runs sinks and metrics,
      and records the last applied sequence number, all in one DuckDB transaction;
    * on start, journal lines past the recorded sequence number are applied again, and the
      journal is truncated once DuckDB holds everything in it.
    Reads call :meth:`sync` first, so they see every write acknowledged before them.
    """

    JOURNAL_ROTATE_BYTES = 32 * 1024 * 1024
    APPLY_DELAY_S = 0.05

    def __init__(self, db_path: str | Path, bucket_dir: str | Path | None = None):
        self.path = str(db_path)
        memory = self.path == ":memory:"
        if not memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(self.path, config={"threads": 2})
        for stmt in SCHEMA:
            self.db.execute(stmt)
        self.db.execute("CREATE TABLE IF NOT EXISTS cloudlog.state (k VARCHAR PRIMARY KEY, v BIGINT)")
        self.applied_seq = self.db.execute(
            "SELECT coalesce((SELECT v FROM cloudlog.state WHERE k = 'applied_seq'), "
            "(SELECT max(seq) FROM cloudlog.entries), 0)").fetchone()[0]
        self.sinks: dict[tuple[str, str], dict] = {}
        self.metrics: dict[tuple[str, str], dict] = {}
        for kind, project, name, body in self.db.execute(
                "SELECT kind, project, name, body FROM cloudlog.config").fetchall():
            (self.sinks if kind == "sink" else self.metrics)[(project, name)] = json.loads(body)
        if bucket_dir is None:
            bucket_dir = (Path(self.path).parent if not memory else Path(".")) / "gcs"
        self.files = FileExporter(Path(bucket_dir))
        self.bigquery = BigQueryExporter()
        self.pubsub = PubSub()
        self.stats = {"commits": 0, "entries": 0, "processing_errors": 0, "fsyncs": 0}
        self._con = self.db.cursor()
        self._cond = threading.Condition()
        self._readers = 0
        self.written_seq = self.applied_seq
        self._journal_path = None if memory else Path(self.path + ".journal")
        self._journal = None
        if self._journal_path is not None:
            self._replay()
            self._journal = open(self._journal_path, "ab")
        self._wq: queue.Queue = queue.Queue()      # to the journal writer
        self._aq: queue.Queue = queue.Queue()      # to the applier
        self._writer = threading.Thread(target=self._run_writer, name="cloudlog-journal",
                                        daemon=True)
        self._applier = threading.Thread(target=self._run_applier, name="cloudlog-apply",
                                         daemon=True)
        self._writer.start()
        self._applier.start()

    # ------------------------------------------------------------ recovery
    def _replay(self):
        if not self._journal_path.exists():
            return
        pending: list[Row] = []
        with open(self._journal_path, "rb") as f:
            for line in f:
                row = _row_from_journal(line)
                if row is None or row.seq <= self.applied_seq:
                    continue
                pending.append(row)
                if len(pending) >= 50_000:
                    self._commit(pending)
                    pending = []
        if pending:
            self._commit(pending)
        self.written_seq = self.applied_seq
        self._journal_path.write_bytes(b"")     # DuckDB holds everything now
        log.info("replayed the journal up to seq %s", self.applied_seq)

    # ------------------------------------------------------------ submitting
    def write(self, rows: list[Row], timeout: float = 120.0) -> int:
        """Durably store rows; returns once they are journalled (or, in memory, applied)."""
        if not rows:
            return 0
        return self._wait(self._put(self._wq, _Job("write", rows)), timeout)

    def call(self, fn, timeout: float = 120.0):
        """Run fn(con) on the applier thread, after everything acknowledged so far."""
        return self._wait(self._put(self._aq, _Job("call", fn)), timeout)

    def sync(self, timeout: float = 60.0) -> None:
        """Wait until DuckDB holds every write acknowledged before this call."""
        with self._cond:
            target = self.written_seq
            if self.applied_seq >= target:
                return
            self._readers += 1
            try:
                self._aq.put(_Job("nudge", None))      # wake the applier now
                ok = self._cond.wait_for(lambda: self.applied_seq >= target or
                                         not self._applier.is_alive(), timeout)
            finally:
                self._readers -= 1
            if not ok:
                raise ApiError(503, "timed out waiting for the log store")

    def _put(self, q, job):
        if not (self._writer.is_alive() and self._applier.is_alive()):
            raise ApiError(503, "the log store is closed")
        q.put(job)
        return job

    @staticmethod
    def _wait(job, timeout):
        if not job.done.wait(timeout):
            raise ApiError(503, "timed out waiting for the log store")
        if job.error is not None:
            raise job.error
        return job.result

    # ------------------------------------------------------------ journal writer thread
    def _run_writer(self):
        while True:
            jobs = [self._wq.get()]
            n = len(jobs[0].payload) if jobs[0].kind != "stop" else 0
            while n < MAX_GROUP_ROWS:
                try:
                    j = self._wq.get_nowait()
                except queue.Empty:
                    break
                jobs.append(j)
                n += len(j.payload) if j.kind != "stop" else 0
            stop = [j for j in jobs if j.kind == "stop"]
            writes = [j for j in jobs if j.kind != "stop"]
            if writes:
                self._journal_writes(writes)
            if stop:
                self._aq.put(_Job("stop", None))
                for j in stop:
                    j.finish()
                return

    def _journal_writes(self, jobs: list[_Job]):
        seq = self.written_seq
        for j in jobs:
            for r in j.payload:
                seq += 1
                r.seq = seq
        rows = [r for j in jobs for r in j.payload]
        if self._journal is not None:
            try:
                if self._journal.tell() > self.JOURNAL_ROTATE_BYTES and \
                        self.applied_seq >= self.written_seq:
                    self._journal.truncate(0)       # everything in it is in DuckDB
                    self._journal.seek(0)
                self._journal.write(b"".join(_journal_line(r) for r in rows))
                self._journal.flush()
                os.fdatasync(self._journal.fileno())
                self.stats["fsyncs"] += 1
            except OSError as e:
                log.exception("journal write failed")
                for j in jobs:
                    j.finish(error=ApiError(500, f"storage error: {e}"))
                return
        with self._cond:
            self.written_seq = seq
        apply = _Job("rows", rows)
        self._aq.put(apply)
        for j in jobs:
            if self._journal is not None:
                j.finish(len(j.payload))          # durable in the journal: acknowledge now
            else:
                threading.Thread(target=self._finish_after, args=(j, apply), daemon=True).start()

    @staticmethod
    def _finish_after(job, apply):
        apply.done.wait(120)
        job.finish(len(job.payload), apply.error)

    # ------------------------------------------------------------ applier thread
    def _run_applier(self):
        while True:
            jobs = [self._aq.get()]
            n = len(jobs[0].payload) if jobs[0].kind == "rows" else 0
            # a DuckDB commit costs ~2 ms of CPU: let small batches grow for up to
            # APPLY_DELAY_S (the data is already durable), unless a reader is waiting
            deadline = time.monotonic() + self.APPLY_DELAY_S
            while n < MAX_GROUP_ROWS and jobs[-1].kind == "rows":
                wait = deadline - time.monotonic()
                try:
                    if n >= 2000 or self._readers or wait <= 0:
                        j = self._aq.get_nowait()
                    else:
                        j = self._aq.get(timeout=wait)
                except queue.Empty:
                    break
                jobs.append(j)
                n += len(j.payload) if j.kind == "rows" else 0
            i = 0
            while i < len(jobs):
                if jobs[i].kind == "rows":
                    k = i
                    while k < len(jobs) and jobs[k].kind == "rows":
                        k += 1
                    batch = jobs[i:k]
                    try:
                        self._commit([r for j in batch for r in j.payload])
                        err = None
                    except BaseException as e:  # noqa: BLE001
                        log.exception("applying to DuckDB failed")
                        err = ApiError(500, f"storage error: {e}")
                    for j in batch:
                        j.finish(len(j.payload), err)
                    i = k
                    continue
                job = jobs[i]
                i += 1
                if job.kind == "nudge":
                    continue
                if job.kind == "stop":
                    self._con.close()
                    job.finish()
                    with self._cond:
                        self._cond.notify_all()
                    return
                try:
                    job.finish(job.payload(self._con))
                except BaseException as e:  # noqa: BLE001 - handed back to the caller
                    if not isinstance(e, ApiError):
                        log.exception("store call failed")
                        e = ApiError(500, f"{e}")
                    job.finish(error=e)

    def _commit(self, rows: list[Row]):
        """Entries, sinks, metrics and the applied sequence number: one DuckDB transaction."""
        con = self._con
        tbl = rows_to_arrow(rows)
        last = rows[-1].seq
        published = []
        insert = f"INSERT INTO cloudlog.entries ({', '.join(COLUMNS)}) SELECT * FROM __batch"
        mark = ("INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq', "
                f"greatest({int(last)}, coalesce((SELECT v FROM cloudlog.state "
                "WHERE k = 'applied_seq'), 0)))")
        con.register("__batch", tbl)
        try:
            con.execute("BEGIN")
            try:
                con.execute(insert)
                published = self._process(con, rows)
                con.execute(mark)
                con.execute("COMMIT")
            except _ProcessingError as e:
                # a sink or metric failed: roll it back, but the entries must still be stored
                con.execute("ROLLBACK")
                self.bigquery.reset()
                self.stats["processing_errors"] += 1
                log.error("sink/metric processing failed, storing entries only: %s", e)
                published = []
                con.execute("BEGIN")
                con.execute(insert)
                con.execute(mark)
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                self.bigquery.reset()
                raise
        finally:
            con.unregister("__batch")
        with self._cond:
            self.applied_seq = max(self.applied_seq, last)
            self._cond.notify_all()
        self.stats["commits"] += 1
        self.stats["entries"] += len(rows)
        for topic, entries in published:
            self.pubsub.publish(topic, entries)

    def _matching(self, con, project: str, filter_: str, rows: list[Row]) -> list[int]:
        sql = compile_filter(filter_)
        first = rows[0].seq
        return [s - first for (s,) in con.execute(
            f"SELECT seq FROM __batch WHERE project = {lit(project)} AND {sql} ORDER BY seq"
        ).fetchall()]

    def _process(self, con, rows: list[Row]) -> list:
        """Sinks and metrics for one batch, inside the commit's transaction."""
        published = []
        if not self.sinks and not self.metrics:
            return published
        try:
            for (project, name), sink in self.sinks.items():
                if sink.get("disabled"):
                    continue
                idx = self._matching(con, project, sink.get("filter") or "", rows)
                if not idx:
                    continue
                matched = [rows[i] for i in idx]
                kind, args = parse_destination(sink["destination"])
                if kind == "bigquery":
                    self.bigquery.export(con, name, args[1], matched)
                elif kind == "storage":
                    self.files.export(args[0], matched)
                else:
                    published.append((args[0], [r.entry for r in matched]))
            for (project, name), metric in self.metrics.items():
                idx = self._matching(con, project, metric.get("filter") or "", rows)
                metrics_mod.count(con, project, name, [rows[i].ts for i in idx])
        except Exception as e:
            raise _ProcessingError(str(e)) from e
        return published

    def close(self):
        if self._writer.is_alive():
            try:
                self._wait(self._put(self._wq, _Job("stop", None)), 60)
            except ApiError:
                pass
            self._writer.join(timeout=30)
            self._applier.join(timeout=60)
        self.pubsub.close()
        if self._journal is not None:
            self._journal.close()
        try:
            self.db.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        self.db.close()

    # ------------------------------------------------------------ reads
    def list_entries(self, projects: list[str], filter_: str | None, order: str = "asc",
                     page_size: int = 50, page_token: str | None = None) -> tuple[list[str], str | None]:
        """-> (entry JSON texts, next page token or None)."""
        sql = compile_filter(filter_)
        self.sync()
        fingerprint = zlib.crc32(json.dumps([sorted(projects), filter_ or "", order]).encode())
        where = [f"project IN ({', '.join(lit(p) for p in projects)})", sql]
        if page_token:
            try:
                fp, ts, seq = json.loads(base64.urlsafe_b64decode(page_token.encode()))
                assert fp == fingerprint and isinstance(ts, int) and isinstance(seq, int)
            except Exception:
                raise ApiError(400, "invalid pageToken (it must come from a previous "
                                    "response with the same resourceNames, filter and orderBy)")
            cmp = ">" if order == "asc" else "<"
            where.append(f"(ts {cmp} {ts} OR (ts = {ts} AND seq {cmp} {seq}))")
        direction = "ASC" if order == "asc" else "DESC"
        cur = self.db.cursor()
        try:
            rows = cur.execute(
                f"SELECT entry, ts, seq FROM cloudlog.entries WHERE {' AND '.join(where)} "
                f"ORDER BY ts {direction}, seq {direction} LIMIT {int(page_size) + 1}").fetchall()
        except duckdb.Error as e:   # e.g. a regex RE2 rejects
            raise FilterError(f"cannot evaluate filter: {e}", 0, "") from None
        finally:
            cur.close()
        token = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            token = base64.urlsafe_b64encode(
                json.dumps([fingerprint, last[1], last[2]]).encode()).decode()
        return [r[0] for r in rows], token

    def count(self, filter_: str | None = None) -> int:
        self.sync()
        cur = self.db.cursor()
        try:
            return cur.execute(
                f"SELECT count(*) FROM cloudlog.entries WHERE {compile_filter(filter_)}"
            ).fetchone()[0]
        finally:
            cur.close()

    def query(self, sql: str, params=None):
        """Read-only convenience for notebooks: run SQL on a fresh cursor, return the rows."""
        self.sync()
        cur = self.db.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    # ------------------------------------------------------------ logs, sinks, metrics
    def delete_log(self, project: str, log_name: str) -> int:
        def fn(con):
            n = con.execute("DELETE FROM cloudlog.entries WHERE project = ? AND log_name = ?",
                            [project, log_name]).fetchone()[0]
            if not n:
                raise ApiError(404, f"Log {log_name} does not exist")
            return n
        return self.call(fn)

    def _table(self, kind):
        return self.sinks if kind == "sink" else self.metrics

    def get_config(self, kind: str, project: str, name: str) -> dict:
        obj = self._table(kind).get((project, name))
        if obj is None:
            raise ApiError(404, f"{kind.capitalize()} {name} does not exist in project {project}")
        return dict(obj)

    def list_config(self, kind: str, project: str) -> list[dict]:
        return [dict(v) for (p, n), v in sorted(self._table(kind).items()) if p == project]

    def put_config(self, kind: str, project: str, name: str, body: dict, create: bool) -> dict:
        def fn(con):
            table = self._table(kind)
            old = table.get((project, name))
            if create and old is not None:
                raise ApiError(409, f"{kind.capitalize()} {name} already exists")
            if not create and old is None:
                raise ApiError(404, f"{kind.capitalize()} {name} does not exist")
            stamp = format_timestamp(now_us())
            obj = dict(body, createTime=old["createTime"] if old else stamp, updateTime=stamp)
            con.execute("INSERT OR REPLACE INTO cloudlog.config VALUES (?, ?, ?, ?)",
                        [kind, project, name, json.dumps(obj)])
            table[(project, name)] = obj
            return dict(obj)
        return self.call(fn)

    def delete_config(self, kind: str, project: str, name: str) -> None:
        def fn(con):
            if (project, name) not in self._table(kind):
                raise ApiError(404, f"{kind.capitalize()} {name} does not exist")
            con.execute("DELETE FROM cloudlog.config WHERE kind = ? AND project = ? AND name = ?",
                        [kind, project, name])
            del self._table(kind)[(project, name)]
        self.call(fn)

    def metric_series(self, project: str, name: str, bucket_seconds: int = 60,
                      start=None, end=None):
        self.get_config("metric", project, name)
        self.sync()
        cur = self.db.cursor()
        try:
            return metrics_mod.series(cur, project, name, bucket_seconds, start, end)
        finally:
            cur.close()

    # ------------------------------------------------------------ bulk load (benchmarks)
    def bulk_load(self, rows: list[Row]) -> None:
        """Insert rows straight into DuckDB, no journal, sinks or metrics (seeding benchmarks)."""
        def fn(con):
            with self._cond:
                first = self.written_seq + 1
                self.written_seq += len(rows)
            for k, r in enumerate(rows):
                r.seq = first + k
            con.register("__bulk", rows_to_arrow(rows))
            try:
                con.execute("BEGIN")
                con.execute(f"INSERT INTO cloudlog.entries ({', '.join(COLUMNS)}) "
                            "SELECT * FROM __bulk")
                con.execute("INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq', ?)",
                            [self.written_seq])
                con.execute("COMMIT")
            finally:
                con.unregister("__bulk")
            with self._cond:
                self.applied_seq = max(self.applied_seq, first + len(rows) - 1)
                self._cond.notify_all()
        self.call(fn)


class _ProcessingError(Exception):
    pass


def wait_until(pred, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll pred() until true or timeout (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
