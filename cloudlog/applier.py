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

Fairness: what the journal delivers waits in one queue per project, and each commit takes
slices of the projects' queues in turn, a project that had nothing waiting first, up to
``SLICE_ROWS`` rows, ``SLICE_DAYS`` distinct (log, UTC day) and ``SLICE_HOURS`` (log, hour)
pairs in all (what bounds the tables and files its sinks may have to make). So a project
whose backlog needs hundreds of new tables delays another project's write by a commit or
two, not by the backlog.
Each project's rows are applied in order; the applied position is kept per project
(``cloudlog.state`` ``applied_seq:P``) besides the position below which every row is applied
(``applied_seq``), from which a restart replays, skipping each project's applied rows.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import OrderedDict, deque

import duckdb
import pyarrow as pa

from cloudlog import metrics as metrics_mod
from cloudlog.config import ConfigRepo
from cloudlog.journal import Job, Journal
from cloudlog.model import ApiError, Row, format_timestamp, now_us, search_text
from cloudlog.query import compile_filter
from cloudlog.sinks import BigQueryExporter, FileExporter, PubSub, parse_destination

log = logging.getLogger(__name__)

COLUMNS = [
    "seq",
    "project",
    "log_name",
    "log_id",
    "ts",
    "receive_ts",
    "severity",
    "insert_id",
    "text_payload",
    "entry",
    "search",
]
ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("project", pa.string()),
        ("log_name", pa.string()),
        ("log_id", pa.string()),
        ("ts", pa.int64()),
        ("receive_ts", pa.int64()),
        ("severity", pa.int32()),
        ("insert_id", pa.string()),
        ("text_payload", pa.string()),
        ("entry", pa.string()),
        ("search", pa.string()),
    ]
)
MAX_GROUP_ROWS = 100_000  # rows taken from the queue at once (a commit takes fewer)
# what one commit takes from the projects' queues (see the module docstring): rows, and
# distinct (log, day) and (log, hour) pairs, each a table or file its sinks may have to make
SLICE_ROWS, SLICE_DAYS, SLICE_HOURS = 10_000, 100, 200
_DAY_US, _HOUR_US = 86_400_000_000, 3_600_000_000
_MARK = (
    "INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq', "
    "greatest(?, coalesce((SELECT v FROM cloudlog.state WHERE k = 'applied_seq'), 0)))"
)
_MARK_PROJECT = "INSERT OR REPLACE INTO cloudlog.state VALUES ('applied_seq:' || ?, ?)"
FILE_EXPORTS_DDL = (
    "CREATE TABLE IF NOT EXISTS cloudlog.file_exports_owed (project VARCHAR, "
    "sink VARCHAR, first_seq BIGINT, last_seq BIGINT)"
)
_OWE_FILES = "INSERT INTO cloudlog.file_exports_owed VALUES (?, ?, ?, ?)"


def rows_to_arrow(rows: list[Row]) -> pa.Table:
    return pa.table(
        [
            pa.array([r.seq for r in rows], pa.int64()),
            [r.project for r in rows],
            [r.log_name for r in rows],
            [r.log_id for r in rows],
            pa.array([r.ts for r in rows], pa.int64()),
            pa.array([r.receive_ts for r in rows], pa.int64()),
            pa.array([r.severity for r in rows], pa.int32()),
            [r.insert_id for r in rows],
            [r.text_payload for r in rows],
            [r.text for r in rows],
            [search_text(r.entry) for r in rows],
        ],
        schema=ARROW_SCHEMA,
    )


class _Work:
    """One sink or metric applied to the rows of a batch it matched."""

    __slots__ = ("kind", "project", "name", "obj", "rows", "dest")

    def __init__(self, kind, project, name, obj, rows, dest=None):
        self.kind, self.project, self.name, self.obj = kind, project, name, obj
        self.rows, self.dest = rows, dest


class Applier:
    APPLY_DELAY_S = 0.05
    RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0  # a batch that failed is retried with back-off
    STOP_DRAIN_S = 3.0  # on stop, apply what is queued for at most this long (the rest
    #                        stays in the journal and is applied on the next start)
    REPLAY_WAIT_S = 10.0  # a read during start-up waits this long for the replay, then 503

    def __init__(
        self,
        db,
        config: ConfigRepo,
        files: FileExporter,
        pubsub: PubSub,
        applied_seq: int,
        journal_path=None,
        journal_seq: int = 0,
        applied_by_project: dict[str, int] | None = None,
    ):
        self.con = db.cursor()
        self.config, self.files, self.pubsub = config, files, pubsub
        self.bigquery = BigQueryExporter()
        # every row up to applied_seq is applied; a project's rows up to its own entry in
        # applied_by_project are too (projects are applied in turn, not in global order)
        self.applied_seq = applied_seq
        self.applied_by_project = dict(applied_by_project or {})
        self.passed_seq = applied_seq  # applied, or (in memory) failed: readers stop waiting
        self.passed_by_project: dict[str, int] = dict(self.applied_by_project)
        self._pending: OrderedDict[str, deque] = OrderedDict()  # project -> rows to apply
        self._waiters: list = []  # in memory: writes to finish once their rows apply
        self._taken_seq = applied_seq  # the last seq taken from the queue
        # With a journal, every delivered row is already acknowledged: a batch that fails to
        # apply stays pending and is retried, and nothing after it is applied before it.
        self.durable = journal_path is not None
        self._journal_path = journal_path
        self.replay_to = max(journal_seq, applied_seq) if self.durable else applied_seq
        self.stalled: str | None = None  # why the oldest pending batch cannot apply
        self.stalled_rows = (0, 0, 0)  # (first seq, last seq, count) pending
        self.cond = threading.Condition()
        self.readers = 0
        self.stats = {"commits": 0, "entries": 0, "processing_errors": 0, "max_apply_s": 0.0, "failed_commits": 0}
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
        err = ApiError(
            503,
            f"the log store is behind: {n} acknowledged entries (seq {first}-"
            f"{last}) cannot be applied to DuckDB yet ({self.stalled}); they are "
            f"kept in the journal and retried every few seconds, and new writes "
            f"are refused until they are applied",
        )
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

    def _passed(self, target) -> bool:
        """target: a seq (every row up to it) or {project: seq} (that project's rows)."""
        if isinstance(target, int):
            return self.passed_seq >= target
        return all(max(self.passed_seq, self.passed_by_project.get(p, 0)) >= seq for p, seq in target.items())

    def wait_applied(self, target: int | dict[str, int], timeout: float) -> None:
        """Return once every row up to ``target`` is applied (a seq, or {project: seq} for
        each project's own rows); 503 at once while the store is stalled on a failed
        batch, and after a short wait while replaying on start-up."""
        if self.replaying():
            timeout = min(timeout, self.REPLAY_WAIT_S)
        with self.cond:
            if self._passed(target):
                return
            self.readers += 1
            try:
                self._q.put(Job("nudge", None))  # wake the applier now
                ok = self.cond.wait_for(
                    lambda: self._passed(target) or self.stalled is not None or not self._thread.is_alive(), timeout
                )
            finally:
                self.readers -= 1
        behind = self.behind_error()
        if behind is not None and not self._passed(target):
            raise behind
        if not ok:
            if self.replaying():
                err = ApiError(
                    503,
                    f"the log store is starting: replaying its journal "
                    f"({self.applied_seq} of {self.replay_to} entries applied)",
                )
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
            self._drop_pending()
            while True:  # nobody is left to answer queued jobs: say so
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
            job.finish(error=ApiError(503, "the log store is closed") if job.kind == "call" else None)

    def _replay(self):
        """Apply journal lines past the applied position (start-up), batch by batch."""
        if not self.durable or not self.replaying():
            return True
        for k, rows in enumerate(Journal.replay(self._journal_path, self.applied_seq, self.replay_to), 1):
            if self._stop.is_set():
                return False  # stopped during start-up: what is applied stays applied
            # a project's rows may have been applied ahead of the global position
            todo = [r for r in rows if r.seq > self.applied_by_project.get(r.project, 0)]
            if not todo:
                self._advance([], rows[-1].seq)
            elif not self._apply_durably(todo, rows[-1].seq):
                return False
            if k % 8 == 0:  # keep DuckDB's write-ahead log small on a long journal
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
        barrier = None  # a call or stop: it runs once every row delivered before it applied
        while True:
            if barrier is None:
                barrier = self._collect()
            if self._pending:
                if self._past_stop_deadline():
                    self._drop_pending()  # in the journal: applied on the next start
                    continue
                rows, low = self._take_round()
                if not self._apply_rows(rows, low):
                    self._drop_pending()
                    if barrier is not None:
                        self._refuse(barrier)
                    return  # stopped while retrying a failed batch
                continue
            if barrier is None:
                continue
            job, barrier = barrier, None
            if job.kind == "stop":
                job.finish()
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

    def _collect(self):
        """Move what the journal delivered into the per-project queues; return the first job
        that is not rows (a call or a stop: it waits for the rows delivered before it)."""
        n, deadline = 0, None
        while n < MAX_GROUP_ROWS:
            try:
                if not self._pending and deadline is None:
                    job = self._q.get()  # idle: wait for work
                elif (
                    deadline is not None
                    and n < 2000
                    and not self.readers
                    and not self._stop.is_set()
                    and time.monotonic() < deadline
                ):
                    # a DuckDB commit costs ~2 ms of CPU: let a small batch grow for up to
                    # APPLY_DELAY_S (it is already durable), unless a reader is waiting
                    job = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                else:
                    job = self._q.get_nowait()
            except queue.Empty:
                return None
            if job.kind == "nudge":
                continue
            if job.kind != "rows":
                return job
            if deadline is None and not self._pending:
                deadline = time.monotonic() + self.APPLY_DELAY_S
            for r in job.payload:
                # in memory (nothing is acknowledged before it applies) one queue, in order
                key = r.project if self.durable else ""
                q = self._pending.get(key)
                if q is None:  # a project with nothing waiting goes first
                    q = self._pending[key] = deque()
                    self._pending.move_to_end(key, last=False)
                q.append(r)
            if job.payload:
                self._taken_seq = job.payload[-1].seq
            self._waiters.extend(job.waiters or ())
            n += len(job.payload)
        return None

    def _slice(self, q: deque, budget: list[int]) -> list[Row]:
        """The next rows of one project's queue that fit in what is left of the batch's
        ``budget`` [rows, (log, day) pairs, (log, hour) pairs], which it uses up (at least
        one row; in memory: every row, nothing is acknowledged before it applies)."""
        if not self.durable:
            out = list(q)
            q.clear()
            return out
        out: list[Row] = []
        days: set = set()
        hours: set = set()
        while q and len(out) < budget[0]:
            r = q[0]
            d, h = (r.log_id, r.ts // _DAY_US), (r.log_id, r.ts // _HOUR_US)
            if out and ((d not in days and len(days) >= budget[1]) or (h not in hours and len(hours) >= budget[2])):
                break
            days.add(d)
            hours.add(h)
            out.append(q.popleft())
        budget[0] -= len(out)
        budget[1] -= len(days)
        budget[2] -= len(hours)
        return out

    def _take_round(self) -> tuple[list[Row], int]:
        """The next batch: slices of the projects' queues in turn, until it holds
        SLICE_ROWS rows, SLICE_DAYS (log, day) or SLICE_HOURS (log, hour) pairs; and the
        seq up to which every row is applied once it commits."""
        rows: list[Row] = []
        budget = [SLICE_ROWS, SLICE_DAYS, SLICE_HOURS]
        for project in list(self._pending):
            if rows and min(budget) <= 0:
                break
            q = self._pending[project]
            rows += self._slice(q, budget)
            if q:
                self._pending.move_to_end(project)  # its next slice after the others'
            else:
                del self._pending[project]
        rows.sort(key=lambda r: r.seq)
        low = min((q[0].seq for q in self._pending.values()), default=self._taken_seq + 1) - 1
        return rows, low

    def _drop_pending(self) -> None:
        """Stopping: rows not applied stay in the journal (in memory: their writers get 503)."""
        self._pending.clear()
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.finish(error=ApiError(503, "the log store is closed"))

    def _advance(self, rows: list[Row], low: int, applied: bool = True) -> None:
        """Readers may stop waiting for ``rows`` and for every row up to ``low``."""
        with self.cond:
            for r in rows:  # sorted by seq: each project's last wins
                self.passed_by_project[r.project] = r.seq
                if applied:
                    self.applied_by_project[r.project] = r.seq
            if applied:
                self.applied_seq = max(self.applied_seq, low)
            self.passed_seq = max(self.passed_seq, low)
            self.cond.notify_all()

    def _apply_rows(self, rows: list[Row], low: int) -> bool:
        """Apply one round; False if the applier was stopped before it could."""
        if self.durable:
            return self._apply_durably(rows, low)
        err = None
        try:
            self.commit(rows, low)
        except BaseException as e:  # noqa: BLE001 - the thread must survive
            # in memory nothing was acknowledged yet: the writers get the error
            log.exception("applying to DuckDB failed")
            err = ApiError(500, f"storage error: {e}")
        self._advance(rows, low, applied=err is None)
        waiters, self._waiters = self._waiters, []  # in memory a round takes every row
        for w in waiters:
            w.finish(len(w.payload), err)
        return True

    def _apply_durably(self, rows: list[Row], low: int) -> bool:
        """Commit ``rows`` (acknowledged, in the journal), retrying with back-off until it
        works: the applied position never passes a batch that failed. False if stopped."""
        wait = self.RETRY_FIRST_S
        while True:
            try:
                self.commit(rows, low)
            except BaseException as e:  # noqa: BLE001 - the thread must survive
                self.stats["failed_commits"] += 1
                reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
                if self.stalled is None:
                    log.error(
                        "cannot apply %d acknowledged entries (seq %d-%d): %s; retrying",
                        len(rows),
                        rows[0].seq,
                        rows[-1].seq,
                        reason,
                    )
                with self.cond:
                    self.stalled = reason
                    self.stalled_rows = (rows[0].seq, rows[-1].seq, len(rows))
                    self.cond.notify_all()
                if self._stop.wait(wait):
                    return False
                wait = min(wait * 2, self.RETRY_MAX_S)
                continue
            self._advance(rows, low)
            if self.stalled is not None:
                log.warning("applied the %d pending entries after a failure", len(rows))
                with self.cond:
                    self.stalled = None
                    self.cond.notify_all()
            return True

    # ------------------------------------------------------------ one batch
    def _matching(self, project: str, filter_: str, by_seq: dict[int, Row]) -> list[Row]:
        sql = compile_filter(filter_)
        return [
            by_seq[s]
            for (s,) in self.con.execute(
                f"SELECT seq FROM __batch WHERE project = ? AND {sql} ORDER BY seq", [project]
            ).fetchall()
        ]

    def _plan(self, rows: list[Row]) -> tuple[list[_Work], list[tuple[_Work, str]]]:
        """Which sinks and metrics match which rows (read-only, outside the transaction)."""
        projects = {r.project for r in rows}
        by_seq = {r.seq: r for r in rows}  # a round's seqs have gaps (see _take_round)
        work, failed = [], []
        for kind in ("sink", "metric"):
            for (project, name), obj in self.config.snapshot(kind).items():
                if project not in projects or obj.get("disabled"):
                    continue
                w = _Work(kind, project, name, obj, None)
                try:
                    if kind == "sink":
                        w.dest = parse_destination(obj["destination"])
                    matched = self._matching(project, obj.get("filter") or "", by_seq)
                except Exception as e:  # noqa: BLE001 - this sink/metric only
                    w.rows = [r for r in rows if r.project == project]
                    failed.append((w, f"cannot evaluate the filter: {e}"))
                    continue
                if matched:
                    w.rows = matched
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
        self.bigquery.rolled_back()

    def commit(self, rows: list[Row], low: int) -> None:
        """Apply one batch (see the module docstring for what commits together), with the
        applied positions: every row up to ``low``, and each project's last row. Raises if
        the entries themselves cannot be committed; nothing of the batch is then applied."""
        t0 = time.perf_counter()
        con = self.con
        last_of = {r.project: r.seq for r in rows}  # rows are sorted by seq
        insert = f"INSERT INTO cloudlog.entries ({', '.join(COLUMNS)}) SELECT * FROM __batch"
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
                con.execute(_MARK, [low])
                for project, seq in last_of.items():
                    con.execute(_MARK_PROJECT, [project, seq])
                con.execute("COMMIT")
                self.bigquery.committed()

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
                    if w.kind == "sink":  # one transaction per table: one log's failure
                        _, (project, dataset) = w.dest  # drops no other log's rows
                        for rows_failed, message in self.bigquery.export_each_table(
                            con, w.name, project, dataset, w.rows
                        ):
                            failed.append((_Work(w.kind, w.project, w.name, w.obj, rows_failed, w.dest), message))
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
                self.con.execute(
                    "DELETE FROM cloudlog.file_exports_owed WHERE project = ? AND sink = ? AND last_seq <= ?",
                    [project, name, last],
                )
            self.con.execute("COMMIT")
        except Exception:  # noqa: BLE001 - exported again on the next start: lines repeat
            log.exception("cannot record a finished file export")
            self._rollback()

    def export_owed_files(self) -> int:
        """Start-up: write every file export a crash interrupted. Returns the rows written."""
        con, written = self.con, 0
        owed = con.execute(
            "SELECT project, sink, min(first_seq), max(last_seq) FROM "
            "cloudlog.file_exports_owed GROUP BY ALL ORDER BY ALL"
        ).fetchall()
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
                    [project, first, last],
                ).fetchall()
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
                log.error("cannot finish the interrupted export of sink %s/%s: %s", project, name, e)
            self._paid_files([(project, name, last)])
        return written

    def _record_failure(self, w: _Work, message: str) -> None:
        self.stats["processing_errors"] += 1
        message = message.split("\n")[0][:2000]
        log.error("%s %s/%s failed on %d entries: %s", w.kind, w.project, w.name, len(w.rows or ()), message)
        rows = w.rows or []
        err = {
            "time": format_timestamp(now_us()),
            "message": message,
            "firstSeq": rows[0].seq if rows else None,
            "lastSeq": rows[-1].seq if rows else None,
            "entries": len(rows),
        }
        self.config.add_error(w.kind, w.project, w.name, err)
        con = self.con
        try:
            con.execute("BEGIN")
            con.execute(
                "INSERT INTO cloudlog.processing_errors VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [w.kind, w.project, w.name, err["time"], message, err["firstSeq"], err["lastSeq"], err["entries"]],
            )
            if w.kind == "sink" and w.dest and w.dest[0] == "bigquery" and rows:
                self.bigquery.record_failure(con, w.name, w.dest[1][0], w.dest[1][1], rows, message)
            con.execute("COMMIT")
        except Exception:  # noqa: BLE001 - recording must not stop the applier
            log.exception("cannot record the failure")
            self._rollback()
