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

import json
import logging
import queue
import threading
import time

import duckdb
import pyarrow as pa

from cloudlog import metrics as metrics_mod
from cloudlog.config import ConfigRepo
from cloudlog.journal import Job, Journal
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
FILE_EXPORTS_DDL = ("CREATE TABLE IF NOT EXISTS cloudlog.file_exports_owed (project VARCHAR, "
                    "sink VARCHAR, first_seq BIGINT, last_seq BIGINT)")
_OWE_FILES = "INSERT INTO cloudlog.file_exports_owed VALUES (?, ?, ?, ?)"


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
    RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0   # a batch that failed is retried with back-off
    STOP_DRAIN_S = 3.0     # on stop, apply what is queued for at most this long (the rest
    #                        stays in the journal and is applied on the next start)
    REPLAY_WAIT_S = 10.0   # a read during start-up waits this long for the replay, then 503

    def __init__(self, db, config: ConfigRepo, files: FileExporter, pubsub: PubSub,
                 applied_seq: int, journal_path=None, journal_seq: int = 0):
        self.con = db.cursor()
        self.config, self.files, self.pubsub = config, files, pubsub
        self.bigquery = BigQueryExporter()
        self.applied_seq = applied_seq
        self.passed_seq = applied_seq    # applied, or (in memory) failed: readers stop waiting
        # With a journal, every delivered row is already acknowledged: a batch that fails to
        # apply stays pending and is retried, and nothing after it is applied before it.
        self.durable = journal_path is not None
        self._journal_path = journal_path
        self.replay_to = max(journal_seq, applied_seq) if self.durable else applied_seq
        self.stalled: str | None = None          # why the oldest pending batch cannot apply
        self.stalled_rows = (0, 0, 0)            # (first seq, last seq, count) pending
        self.cond = threading.Condition()
        self.readers = 0
        self.stats = {"commits": 0, "entries": 0, "processing_errors": 0,
                      "max_apply_s": 0.0, "failed_commits": 0}
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._stop_deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="cloudlog-apply", daemon=True)

    def start(self):
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ state for callers
    def replaying(self) -> bool:
        return self.applied_seq < self.replay_to

    def behind_error(self) -> ApiError | None:
        """A 503 (with Retry-After) while acknowledged entries cannot be applied, else None."""
        if self.stalled is None:
            return None
        first, last, n = self.stalled_rows
        err = ApiError(503, f"the log store is behind: {n} acknowledged entries (seq {first}-"
                            f"{last}) cannot be applied to DuckDB yet ({self.stalled}); they are "
                            f"kept in the journal and retried every few seconds, and new writes "
                            f"are refused until they are applied")
        err.retry_after = int(self.RETRY_MAX_S)
        return err

    # ------------------------------------------------------------ submitting
    def deliver(self, rows: list[Row], waiters) -> None:
        """From the journal: rows to apply; ``waiters`` finish once applied (in memory)."""
        self._q.put(Job("rows", rows, waiters))

    def call(self, fn, timeout: float = 120.0):
        """Run fn(con) on the applier thread, after everything delivered so far."""
        if not self._thread.is_alive():
            raise ApiError(503, "the log store is closed")
        behind = self.behind_error()
        if behind is not None:
            raise behind
        job = Job("call", fn)
        self._q.put(job)
        return job.wait(timeout)

    def wait_applied(self, target: int, timeout: float) -> None:
        """Return once every row up to ``target`` is applied; 503 at once while the store
        is stalled on a failed batch, and after a short wait while replaying on start-up."""
        if self.replaying():
            timeout = min(timeout, self.REPLAY_WAIT_S)
        with self.cond:
            if self.passed_seq >= target:
                return
            self.readers += 1
            try:
                self._q.put(Job("nudge", None))      # wake the applier now
                ok = self.cond.wait_for(lambda: self.passed_seq >= target or
                                        self.stalled is not None or
                                        not self._thread.is_alive(), timeout)
            finally:
                self.readers -= 1
        behind = self.behind_error()
        if behind is not None and self.passed_seq < target:
            raise behind
        if not ok:
            if self.replaying():
                err = ApiError(503, f"the log store is starting: replaying its journal "
                                    f"({self.applied_seq} of {self.replay_to} entries applied)")
                err.retry_after = 2
                raise err
            raise ApiError(503, "timed out waiting for the log store")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after at most STOP_DRAIN_S of applying what is queued; what is left is safe
        in the journal (the applied position is committed with every batch)."""
        if self._thread.is_alive():
            self._stop_deadline = time.monotonic() + self.STOP_DRAIN_S
            self._stop.set()
            job = Job("stop", None)
            self._q.put(job)
            job.done.wait(timeout)
            self._thread.join(timeout)

    def _past_stop_deadline(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() > self._stop_deadline

    # ------------------------------------------------------------ the thread
    def _run(self):
        try:
            if self.durable:
                try:
                    self.export_owed_files()
                except Exception:  # noqa: BLE001 - retried on the next start
                    log.exception("cannot finish interrupted file exports")
            if self._replay() is not False:
                self._serve()
        finally:
            try:
                self.con.close()
            except duckdb.Error:
                pass
            with self.cond:
                self.cond.notify_all()
            while True:                # nobody is left to answer queued jobs: say so
                try:
                    job = self._q.get_nowait()
                except queue.Empty:
                    break
                self._refuse(job)

    @staticmethod
    def _refuse(job: Job) -> None:
        if job.kind == "rows":
            for w in job.waiters or ():
                w.finish(error=ApiError(503, "the log store is closed"))
        elif job.kind in ("call", "stop"):
            job.finish(error=ApiError(503, "the log store is closed")
                       if job.kind == "call" else None)

    def _replay(self):
        """Apply journal lines past the applied position (start-up), batch by batch."""
        if not self.durable or not self.replaying():
            return True
        for k, rows in enumerate(Journal.replay(self._journal_path, self.applied_seq,
                                                self.replay_to), 1):
            if self._stop.is_set():
                return False       # stopped during start-up: what is applied stays applied
            if not self._apply_durably(rows):
                return False
            if k % 8 == 0:         # keep DuckDB's write-ahead log small on a long journal
                try:
                    self.con.execute("CHECKPOINT")
                except duckdb.Error:
                    pass
        log.info("replayed the journal up to seq %s", self.applied_seq)
        with self.cond:
            self.replay_to = self.applied_seq
            self.cond.notify_all()
        return True

    def _serve(self):
        while True:
            jobs = [self._q.get()]
            n = len(jobs[0].payload) if jobs[0].kind == "rows" else 0
            # a DuckDB commit costs ~2 ms of CPU: let small batches grow for up to
            # APPLY_DELAY_S (the data is already durable), unless a reader is waiting
            deadline = time.monotonic() + self.APPLY_DELAY_S
            while n < MAX_GROUP_ROWS and jobs[-1].kind == "rows":
                wait = deadline - time.monotonic()
                try:
                    if n >= 2000 or self.readers or wait <= 0 or self._stop.is_set():
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
                    if self._past_stop_deadline():
                        for j in jobs[i:k]:
                            self._refuse(j)      # in the journal: applied on the next start
                    elif not self._apply_jobs(jobs[i:k]):
                        for j in jobs[k:]:
                            self._refuse(j)
                        return                   # stopped while retrying a failed batch
                    i = k
                    continue
                job = jobs[i]
                i += 1
                if job.kind == "nudge":
                    continue
                if job.kind == "stop":
                    job.finish()
                    for j in jobs[i:]:
                        self._refuse(j)
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

    def _apply_jobs(self, batch: list[Job]) -> bool:
        """Apply the rows of ``batch``; False if the applier was stopped before it could."""
        rows = [r for j in batch for r in j.payload]
        if self.durable:
            return self._apply_durably(rows)
        err = None
        try:
            self.commit(rows)
        except BaseException as e:  # noqa: BLE001 - the thread must survive
            # in memory nothing was acknowledged yet: the writers get the error
            log.exception("applying to DuckDB failed")
            err = ApiError(500, f"storage error: {e}")
            with self.cond:      # do not leave readers waiting for rows that cannot apply
                self.passed_seq = max(self.passed_seq, rows[-1].seq)
                self.cond.notify_all()
        for j in batch:
            for w in j.waiters or ():
                w.finish(len(w.payload), err)
        return True

    def _apply_durably(self, rows: list[Row]) -> bool:
        """Commit ``rows`` (acknowledged, in the journal), retrying with back-off until it
        works: the applied position never passes a batch that failed. False if stopped."""
        wait = self.RETRY_FIRST_S
        while True:
            try:
                self.commit(rows)
            except BaseException as e:  # noqa: BLE001 - the thread must survive
                self.stats["failed_commits"] += 1
                reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
                if self.stalled is None:
                    log.error("cannot apply %d acknowledged entries (seq %d-%d): %s; "
                              "retrying", len(rows), rows[0].seq, rows[-1].seq, reason)
                with self.cond:
                    self.stalled = reason
                    self.stalled_rows = (rows[0].seq, rows[-1].seq, len(rows))
                    self.cond.notify_all()
                if self._stop.wait(wait):
                    return False
                wait = min(wait * 2, self.RETRY_MAX_S)
                continue
            if self.stalled is not None:
                log.warning("applied the %d pending entries after a failure", len(rows))
                with self.cond:
                    self.stalled = None
                    self.cond.notify_all()
            return True

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
        """Apply one batch (see the module docstring for what commits together). Raises if
        the entries themselves cannot be committed; nothing of the batch is then applied."""
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
            files = [w for w in work if w.kind == "sink" and w.dest[0] == "storage"]
            after = [w for w in work if w not in in_txn]

            def commit_entries(*extra):
                """The entries, the applied position and the file exports still owed,
                in one transaction."""
                con.execute("BEGIN")
                con.execute(insert)
                for w in extra:
                    self._apply(w)
                for w in files:
                    con.execute(_OWE_FILES, [w.project, w.name, w.rows[0].seq, w.rows[-1].seq])
                con.execute(mark, [last])
                con.execute("COMMIT")
            try:
                commit_entries(*in_txn)
            except Exception as e:  # noqa: BLE001 - isolate: entries first, then one by one
                self._rollback()
                log.warning("batch apply failed (%s); retrying sinks and metrics one by one", e)
                try:
                    commit_entries()
                except BaseException:
                    self._rollback()
                    raise
                for w in in_txn:
                    if w.kind == "sink":      # one transaction per table: one log's failure
                        _, (project, dataset) = w.dest      # drops no other log's rows
                        for rows_failed, message in self.bigquery.export_each_table(
                                con, w.name, project, dataset, w.rows):
                            failed.append((_Work(w.kind, w.project, w.name, w.obj,
                                                 rows_failed, w.dest), message))
                        continue
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
        if files:
            self._paid_files([(w.project, w.name, w.rows[-1].seq) for w in files])
        for w, message in failed:
            self._record_failure(w, message)
        with self.cond:
            self.applied_seq = max(self.applied_seq, last)
            self.passed_seq = max(self.passed_seq, last)
            self.cond.notify_all()
        self.stats["commits"] += 1
        self.stats["entries"] += len(rows)
        self.stats["max_apply_s"] = max(self.stats["max_apply_s"], time.perf_counter() - t0)

    # ------------------------------------------------------------ file exports owed
    # A Cloud Storage (file) export runs after the DuckDB commit, so a crash between the two
    # would lose its lines. The commit therefore records the seq range each file sink still
    # owes (cloudlog.file_exports_owed); the row is deleted once the files are written, and
    # on start-up every range still owed is exported again from cloudlog.entries (lines
    # may then repeat; they never vanish).
    def _paid_files(self, paid: list[tuple[str, str, int]]) -> None:
        try:
            self.con.execute("BEGIN")
            for project, name, last in paid:
                self.con.execute("DELETE FROM cloudlog.file_exports_owed WHERE project = ? "
                                 "AND sink = ? AND last_seq <= ?", [project, name, last])
            self.con.execute("COMMIT")
        except Exception:  # noqa: BLE001 - exported again on the next start: lines repeat
            log.exception("cannot record a finished file export")
            self._rollback()

    def export_owed_files(self) -> int:
        """Start-up: write every file export a crash interrupted. Returns the rows written."""
        con, written = self.con, 0
        owed = con.execute("SELECT project, sink, min(first_seq), max(last_seq) FROM "
                           "cloudlog.file_exports_owed GROUP BY ALL ORDER BY ALL").fetchall()
        for project, name, first, last in owed:
            sink = self.config.get("sink", project, name)
            try:
                if sink is None or sink.get("disabled"):
                    raise LookupError("the sink was deleted or disabled")
                kind, dest = parse_destination(sink["destination"])
                if kind != "storage":
                    raise LookupError("the sink no longer writes files")
                sql = compile_filter(sink.get("filter") or "")
                found = con.execute(
                    "SELECT seq, log_id, ts, receive_ts, severity, entry FROM cloudlog.entries "
                    f"WHERE project = ? AND seq BETWEEN ? AND ? AND {sql} ORDER BY seq",
                    [project, first, last]).fetchall()
                rows = []
                for seq, log_id, ts, rts, sev, text in found:
                    row = Row(json.loads(text), project, log_id, ts, rts, sev)
                    row.seq = seq
                    rows.append(row)
                if rows:
                    self.files.export(dest[0], rows)
                    written += len(rows)
            except LookupError:
                pass
            except Exception as e:  # noqa: BLE001 - this sink only
                log.error("cannot finish the interrupted export of sink %s/%s: %s",
                          project, name, e)
            self._paid_files([(project, name, last)])
        return written

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
