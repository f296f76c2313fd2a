"""The durable journal: an append-only file of canonical entries, fsync'd before a write is
acknowledged, with group commit (every write queued while one fsync runs shares the next).

One line per entry: ``seq TAB ts TAB receive_ts TAB severity TAB entry-JSON``. On start, the
lines past DuckDB's applied sequence number are replayed. The writer thread never dies on
data: a write that cannot be encoded fails alone (500), a failed fsync fails its group.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path

from cloudlog.model import ApiError, Row, canonical_log_name, split_log_name

log = logging.getLogger(__name__)

MAX_GROUP_ROWS = 100_000  # one fsync covers at most this many entries


class Job:
    """A unit of work handed to a thread; the submitter waits on ``done``."""

    __slots__ = ("kind", "payload", "done", "result", "error", "waiters")

    def __init__(self, kind, payload, waiters=None):
        self.kind, self.payload, self.waiters = kind, payload, waiters
        self.done = threading.Event()
        self.result = self.error = None

    def finish(self, result=None, error=None):
        self.result, self.error = result, error
        self.done.set()

    def wait(self, timeout: float):
        if not self.done.wait(timeout):
            raise ApiError(503, "timed out waiting for the log store")
        if self.error is not None:
            raise self.error
        return self.result


def _unavailable(message: str, retry_after: int = 5) -> ApiError:
    err = ApiError(503, message)
    err.retry_after = retry_after
    return err


def encode_line(r: Row) -> bytes:
    return f"{r.seq}\t{r.ts}\t{r.receive_ts}\t{r.severity}\t{r.text}\n".encode("utf-8")


def decode_line(line: bytes) -> Row | None:
    try:
        seq, ts, rts, sev, text = line.decode("utf-8").rstrip("\n").split("\t", 4)
        entry = json.loads(text)
        project, log_id = split_log_name(entry["logName"])
        # a journal written before logNames were stored URL-encoded replays encoded
        entry["logName"] = canonical_log_name(project, log_id)
        row = Row(entry, project, log_id, int(ts), int(rts), int(sev))
        row.seq = int(seq)
        return row
    except Exception:  # a torn last line: it was never acknowledged
        return None


class Journal:
    """``write(rows)`` returns once the rows are durable (or, with no file, applied).

    ``deliver(rows, waiters)`` hands journalled rows to the applier; ``waiters`` are the jobs
    to finish after applying (only without a file: in memory, applied means acknowledged).
    """

    ROTATE_BYTES = 32 * 1024 * 1024

    def __init__(self, path: Path | None, first_seq: int, deliver, applied_seq):
        self.path = path
        self.written_seq = first_seq
        self._deliver, self._applied_seq = deliver, applied_seq
        self._file = open(path, "ab") if path is not None else None
        self._q: queue.Queue = queue.Queue()
        self.fsyncs = 0
        self.lock = threading.Lock()  # guards written_seq for readers
        # a read of project P waits only for P's own writes (not for another's backlog)
        self.last_seq_by_project: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="cloudlog-journal", daemon=True)
        self._thread.start()

    @staticmethod
    def recover(path: Path) -> int:
        """The last sequence number the journal holds (0 if none), after cutting off a torn
        last line, so that the next append starts on a line of its own."""
        if not path.exists():
            return 0
        last_seq, good_end = 0, 0
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn: it was never acknowledged
                head = line.split(b"\t", 1)[0]
                if not head.isdigit():
                    break
                last_seq, good_end = int(head), good_end + len(line)
        if path.stat().st_size != good_end:
            log.warning("journal: cutting a torn tail of %d bytes", path.stat().st_size - good_end)
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        return last_seq

    @staticmethod
    def replay(
        path: Path, after_seq: int, up_to_seq: int, batch_rows: int = 10_000, batch_bytes: int = 8 * 1024 * 1024
    ):
        """Yield lists of rows journalled after ``after_seq`` up to ``up_to_seq``, in batches
        of at most ``batch_rows`` rows or ``batch_bytes`` of journal, so that replaying a large
        journal needs bounded memory and bounded DuckDB write-ahead log per commit."""
        if not path.exists() or up_to_seq <= after_seq:
            return
        pending: list[Row] = []
        size = 0
        with open(path, "rb") as f:
            for line in f:
                row = decode_line(line)
                if row is None or row.seq <= after_seq:
                    continue
                if row.seq > up_to_seq:
                    break
                pending.append(row)
                size += len(line)
                if len(pending) >= batch_rows or size >= batch_bytes:
                    yield pending
                    pending, size = [], 0
        if pending:
            yield pending

    def alive(self) -> bool:
        return self._thread.is_alive()

    def last_seq(self, projects=None) -> int:
        """The newest sequence number written for any of ``projects`` (all: None)."""
        with self.lock:
            if projects is None:
                return self.written_seq
            return max((self.last_seq_by_project.get(p, 0) for p in projects), default=0)

    def write(self, rows: list[Row], timeout: float = 120.0) -> int:
        if not self._thread.is_alive():
            raise ApiError(503, "the log store is closed")
        job = Job("write", rows)
        self._q.put(job)
        return job.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            job = Job("stop", None)
            self._q.put(job)
            job.done.wait(timeout)
            self._thread.join(timeout)
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass

    # ------------------------------------------------------------ the writer thread
    def _run(self):
        while True:
            jobs = [self._q.get()]
            n = len(jobs[0].payload) if jobs[0].kind == "write" else 0
            while n < MAX_GROUP_ROWS:
                try:
                    j = self._q.get_nowait()
                except queue.Empty:
                    break
                jobs.append(j)
                n += len(j.payload) if j.kind == "write" else 0
            writes = [j for j in jobs if j.kind == "write"]
            stops = [j for j in jobs if j.kind == "stop"]
            if writes:
                try:
                    self._write_group(writes)
                except BaseException as e:  # noqa: BLE001 - never die on data
                    log.exception("journal write failed")
                    for j in writes:
                        if not j.done.is_set():
                            j.finish(error=ApiError(500, f"storage error: {e}"))
            if stops:
                for j in stops:
                    j.finish()
                return

    def _write_group(self, jobs: list[Job]):
        seq = self.written_seq
        ok, data = [], []
        for j in jobs:
            try:
                lines = []
                s = seq
                for r in j.payload:
                    s += 1
                    r.seq = s
                    lines.append(encode_line(r))
            except Exception as e:  # noqa: BLE001 - this request fails, the others go on
                log.warning("cannot journal a write: %s", e)
                j.finish(error=ApiError(500, f"cannot store the entries: {e}"))
                continue
            seq = s
            ok.append(j)
            data.extend(lines)
        if not ok:
            return
        if self._file is not None:
            pos = None
            try:
                if self._file.tell() > self.ROTATE_BYTES and self._applied_seq() >= self.written_seq:
                    self._file.truncate(0)  # everything in it is in DuckDB
                    self._file.seek(0)
                pos = self._file.tell()
                self._file.write(b"".join(data))
                self._file.flush()
                os.fdatasync(self._file.fileno())
                self.fsyncs += 1
            except OSError as e:
                log.exception("journal write failed")
                for j in ok:  # a full disk is transient: the client may retry later
                    j.finish(
                        error=_unavailable(
                            f"cannot write the journal ({e}); nothing of this request was stored, retry later"
                        )
                    )
                try:  # drop a partial append: those entries were not acknowledged
                    if pos is not None:
                        self._file.truncate(pos)
                        self._file.seek(pos)
                except OSError:
                    pass
                return
        rows = [r for j in ok for r in j.payload]
        with self.lock:
            self.written_seq = seq
            for r in rows:
                self.last_seq_by_project[r.project] = r.seq
        if self._file is not None:
            self._deliver(rows, None)
            for j in ok:
                j.finish(len(j.payload))  # durable in the journal: acknowledge now
        else:
            self._deliver(rows, ok)  # acknowledged once applied
