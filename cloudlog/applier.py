"""The applier: one thread that owns every DuckDB write.

It takes what the journal has made durable, inserts it into ``cloudlog.entries`` as one Arrow
table per batch, runs the sinks and metrics, and records the last applied sequence number.

Isolation: each sink's and metric's filter is evaluated *before* the transaction, so a filter
that fails affects only its own sink or metric. The entries, the BigQuery-style exports, the
metric counts and the applied sequence number then commit together. If that transaction fails
anyway, the entries commit alone and every sink and metric is retried in its own transaction;
whatever still fails is recorded as that sink's or metric's error (``errors()`` in the API,
``cloudlog.processing_errors``, and for BigQuery sinks the dataset's ``_sink_errors``), never
rolling back the entries or the others. File and Pub/Sub sinks run after the commit.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

import duckdb
import pyarrow as pa

from cloudlog import metrics as metrics_mod
from cloudlog.config import ConfigRepo
from cloudlog.journal import Job
from cloudlog.model import ApiError, Row, format_timestamp, now_us, search_text
from cloudlog.query import compile_filter
from cloudlog.sinks import BigQueryExporter, FileExporter, PubSub, parse_destination

log = logging.getLogger(__name__)

COLUMNS = ["seq", "project", "log_name", "log_id", "ts", "receive_ts", "severity",
           "insert_id", "text_payload", "entry", "search"]
ARROW_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("project", pa.string()), ("log_name", pa.string()),
    ("log_id", pa.string()), ("ts", pa.int64()), ("receive_ts", pa.int64()),
    ("severity", pa.int32()), ("insert_id", pa.string()), ("text_payload", pa.string()),
    ("entry", pa.string()), ("search", pa.string())])
MAX_GROUP_ROWS = 100_000   # one DuckDB commit takes at most this many entries


def rows_to_arrow(rows: list[Row]) -> pa.Table:
    return pa.table([
        pa.array([r.seq for r in rows], pa.int64()),
        [r.project for r in rows], [r.log_name for r in rows], [r.log_id for r in rows],
        pa.array([r.ts for r in rows], pa.int64()),
        pa.array([r.receive_ts for r in rows], pa.int64()),
        pa.array([r.severity for r in rows], pa.int32()),
        [r.insert_id for r in rows], [r.text_payload for r in rows],
        [r.text for r in rows], [search_text(r.entry) for r in rows],
    ], schema=ARROW_SCHEMA)


class _Work:
    """One sink or metric applied to the rows of a batch it matched."""
    __slots__ = ("kind", "project", "name", "obj", "rows", "dest")

    def __init__(self, kind, project, name, obj, rows, dest=None):
        self.kind, self.project, self.name, self.obj = kind, project, name, obj
        self.rows, self.dest = rows, dest


class Applier:
    APPLY_DELAY_S = 0.05

    def __init__(self, db, config: ConfigRepo, files: FileExporter, pubsub: PubSub,
                 applied_seq: int):
        self.con = db.cursor()
        self.config, self.files, self.pubsub = config, files, pubsub
        self.bigquery = BigQueryExporter()
        self.applied_seq = applied_seq
        self.passed_seq = applied_seq    # applied, or failed to apply: readers stop waiting
        self.cond = threading.Condition()
        self.readers = 0
        self.stats = {"commits": 0, "entries": 0, "processing_errors": 0,
                      "max_apply_s": 0.0}
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cloudlog-apply", daemon=True)

    def start(self):
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ submitting
    def deliver(self, rows: list[Row], waiters) -> None:
        """From the journal: rows to apply; ``waiters`` finish once applied (in memory)."""
        self._q.put(Job("rows", rows, waiters))

    def call(self, fn, timeout: float = 120.0):
        """Run fn(con) on the applier thread, after everything delivered so far."""
        if not self._thread.is_alive():
            raise ApiError(503, "the log store is closed")
        job = Job("call", fn)
        self._q.put(job)
        return job.wait(timeout)

    def wait_applied(self, target: int, timeout: float) -> None:
        with self.cond:
            if self.passed_seq >= target:
                return
            self.readers += 1
            try:
                self._q.put(Job("nudge", None))      # wake the applier now
                ok = self.cond.wait_for(lambda: self.passed_seq >= target or
                                        not self._thread.is_alive(), timeout)
            finally:
                self.readers -= 1
        if not ok:
            raise ApiError(503, "timed out waiting for the log store")

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive():
            job = Job("stop", None)
            self._q.put(job)
            job.done.wait(timeout)
            self._thread.join(timeout)

    # ------------------------------------------------------------ the thread
    def _run(self):
        while True:
            jobs = [self._q.get()]
            n = len(jobs[0].payload) if jobs[0].kind == "rows" else 0
            # a DuckDB commit costs ~2 ms of CPU: let small batches grow for up to
            # APPLY_DELAY_S (the data is already durable), unless a reader is waiting
            deadline = time.monotonic() + self.APPLY_DELAY_S
            while n < MAX_GROUP_ROWS and jobs[-1].kind == "rows":
                wait = deadline - time.monotonic()
                try:
                    if n >= 2000 or self.readers or wait <= 0:
                        j = self._q.get_nowait()
                    else:
                        j = self._q.get(timeout=wait)
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
                    self._apply_jobs(jobs[i:k])
                    i = k
                    continue
                job = jobs[i]
                i += 1
                if job.kind == "nudge":
                    continue
                if job.kind == "stop":
                    try:
                        self.con.close()
                    except duckdb.Error:
                        pass
                    job.finish()
                    with self.cond:
                        self.cond.notify_all()
                    return
                try:
                    job.finish(job.payload(self.con))
                except BaseException as e:  # noqa: BLE001 - handed back to the caller
                    if not isinstance(e, ApiError):
                        log.exception("store call failed")
                        e = ApiError(500, f"{e}")
                    try:
                        self.con.execute("ROLLBACK")
                    except duckdb.Error:
                        pass
                    job.finish(error=e)

    def _apply_jobs(self, batch: list[Job]):
        rows = [r for j in batch for r in j.payload]
        err = None
        try:
            self.commit(rows)
        except BaseException as e:  # noqa: BLE001 - the thread must survive
            log.exception("applying to DuckDB failed")
            err = ApiError(500, f"storage error: {e}")
            with self.cond:      # do not leave readers waiting for rows that cannot apply
                self.passed_seq = max(self.passed_seq, rows[-1].seq)
                self.cond.notify_all()
        for j in batch:
            for w in j.waiters or ():
                w.finish(len(w.payload), err)

    # ------------------------------------------------------------ one batch
    def _matching(self, project: str, filter_: str, rows: list[Row]) -> list[int]:
        sql = compile_filter(filter_)
        first = rows[0].seq
        return [s - first for (s,) in self.con.execute(
            f"SELECT seq FROM __batch WHERE project = ? AND {sql} ORDER BY seq",
            [project]).fetchall()]

    def _plan(self, rows: list[Row]) -> tuple[list[_Work], list[tuple[_Work, str]]]:
        """Which sinks and metrics match which rows (read-only, outside the transaction)."""
        projects = {r.project for r in rows}
        work, failed = [], []
        for kind in ("sink", "metric"):
            for (project, name), obj in self.config.snapshot(kind).items():
                if project not in projects or obj.get("disabled"):
                    continue
                w = _Work(kind, project, name, obj, None)
                try:
                    if kind == "sink":
                        w.dest = parse_destination(obj["destination"])
                    idx = self._matching(project, obj.get("filter") or "", rows)
                except Exception as e:  # noqa: BLE001 - this sink/metric only
                    w.rows = [r for r in rows if r.project == project]
                    failed.append((w, f"cannot evaluate the filter: {e}"))
                    continue
                if idx:
                    w.rows = [rows[i] for i in idx]
                    work.append(w)
        return work, failed

    def _apply(self, w: _Work) -> None:
        if w.kind == "metric":
            metrics_mod.count(self.con, w.project, w.name, [r.ts for r in w.rows])
        else:
            _, (project, dataset) = w.dest
            self.bigquery.export(self.con, w.name, project, dataset, w.rows)

    def _rollback(self):
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        self.bigquery.reset()

    def commit(self, rows: list[Row]) -> None:
        """Apply one batch (see the module docstring for what commits together)."""
        t0 = time.perf_counter()
        con = self.con
        last = rows[-1].seq
        insert = f"INSERT INTO cloudlog.entries ({', '.join(COLUMNS)}) SELECT * FROM __batch"
        mark = ("INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq', "
                "greatest(?, coalesce((SELECT v FROM cloudlog.state "
                "WHERE k = 'applied_seq'), 0)))")
        con.register("__batch", rows_to_arrow(rows))
        try:
            work, failed = self._plan(rows)
            in_txn = [w for w in work if w.kind == "metric" or w.dest[0] == "bigquery"]
            after = [w for w in work if w not in in_txn]
            try:
                con.execute("BEGIN")
                con.execute(insert)
                for w in in_txn:
                    self._apply(w)
                con.execute(mark, [last])
                con.execute("COMMIT")
            except Exception as e:  # noqa: BLE001 - isolate: entries first, then one by one
                self._rollback()
                log.warning("batch apply failed (%s); retrying sinks and metrics one by one", e)
                con.execute("BEGIN")
                con.execute(insert)
                con.execute(mark, [last])
                con.execute("COMMIT")
                for w in in_txn:
                    try:
                        con.execute("BEGIN")
                        self._apply(w)
                        con.execute("COMMIT")
                    except Exception as e2:  # noqa: BLE001
                        self._rollback()
                        failed.append((w, str(e2)))
        finally:
            con.unregister("__batch")
        for w in after:
            try:
                if w.dest[0] == "storage":
                    self.files.export(w.dest[1][0], w.rows)
                else:
                    self.pubsub.publish(w.dest[1][0], [r.entry for r in w.rows])
            except Exception as e:  # noqa: BLE001
                failed.append((w, str(e)))
        for w, message in failed:
            self._record_failure(w, message)
        with self.cond:
            self.applied_seq = max(self.applied_seq, last)
            self.passed_seq = max(self.passed_seq, last)
            self.cond.notify_all()
        self.stats["commits"] += 1
        self.stats["entries"] += len(rows)
        self.stats["max_apply_s"] = max(self.stats["max_apply_s"], time.perf_counter() - t0)

    def _record_failure(self, w: _Work, message: str) -> None:
        self.stats["processing_errors"] += 1
        message = message.split("\n")[0][:2000]
        log.error("%s %s/%s failed on %d entries: %s", w.kind, w.project, w.name,
                  len(w.rows or ()), message)
        rows = w.rows or []
        err = {"time": format_timestamp(now_us()), "message": message,
               "firstSeq": rows[0].seq if rows else None,
               "lastSeq": rows[-1].seq if rows else None, "entries": len(rows)}
        self.config.add_error(w.kind, w.project, w.name, err)
        con = self.con
        try:
            con.execute("BEGIN")
            con.execute("INSERT INTO cloudlog.processing_errors VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [w.kind, w.project, w.name, err["time"], message, err["firstSeq"],
                         err["lastSeq"], err["entries"]])
            if w.kind == "sink" and w.dest and w.dest[0] == "bigquery" and rows:
                self.bigquery.record_failure(con, w.name, w.dest[1][0], w.dest[1][1], rows,
                                             message)
            con.execute("COMMIT")
        except Exception:  # noqa: BLE001 - recording must not stop the applier
            log.exception("cannot record the failure")
            self._rollback()
