"""Sinks and metrics: a lock-guarded repository of immutable snapshots.

Request threads read a snapshot (a read-only mapping that is never changed after it is
published); the applier thread publishes a new one after the change is stored in DuckDB.
Each sink's and metric's processing errors are kept here too (the last ``MAX_ERRORS``), and
persisted in ``cloudlog.processing_errors``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from types import MappingProxyType

CONFIG_DDL = (
    "CREATE TABLE IF NOT EXISTS cloudlog.config (kind VARCHAR, project VARCHAR, "
    "name VARCHAR, body VARCHAR, PRIMARY KEY (kind, project, name))"
)
ERRORS_DDL = (
    "CREATE TABLE IF NOT EXISTS cloudlog.processing_errors (kind VARCHAR, "
    "project VARCHAR, name VARCHAR, recorded_at VARCHAR, message VARCHAR, "
    "first_seq BIGINT, last_seq BIGINT, entries BIGINT)"
)
MAX_SINKS = 200  # Cloud Logging: 200 sinks per project
MAX_METRICS = 500  # Cloud Logging: 500 user-defined log-based metrics per project
MAX_ERRORS = 100  # kept in memory per sink/metric
# local limits: every batch looks at every sink and metric, and each project costs memory
MAX_SINKS_TOTAL = 1_000  # sinks in all projects together
MAX_METRICS_TOTAL = 2_000  # metrics in all projects together
MAX_PROJECTS = 1_000  # projects with entries, sinks or metrics


class ConfigRepo:
    KINDS = ("sink", "metric")

    def __init__(self):
        self._lock = threading.Lock()
        self._snap = {k: MappingProxyType({}) for k in self.KINDS}
        self._errors: dict[tuple[str, str, str], deque] = {}

    def load(self, con) -> None:
        rows = con.execute("SELECT kind, project, name, body FROM cloudlog.config").fetchall()
        data = {k: {} for k in self.KINDS}
        for kind, project, name, body in rows:
            if kind in data:
                data[kind][(project, name)] = _freeze(json.loads(body))
        errs = con.execute(
            "SELECT kind, project, name, recorded_at, message, first_seq, last_seq, entries "
            "FROM cloudlog.processing_errors ORDER BY rowid DESC LIMIT 10000"
        ).fetchall()
        with self._lock:
            self._snap = {k: MappingProxyType(v) for k, v in data.items()}
            for kind, project, name, at, msg, a, b, n in reversed(errs):
                self._errors.setdefault((kind, project, name), deque(maxlen=MAX_ERRORS)).append(
                    {"time": at, "message": msg, "firstSeq": a, "lastSeq": b, "entries": n}
                )

    # -- reads (any thread)
    def snapshot(self, kind: str):
        """An immutable {(project, name): config} mapping."""
        return self._snap[kind]

    def get(self, kind: str, project: str, name: str):
        return self._snap[kind].get((project, name))

    def list(self, kind: str, project: str) -> list[dict]:
        return [_thaw(v) for (p, _), v in sorted(self._snap[kind].items()) if p == project]

    def count(self, kind: str, project: str) -> int:
        return sum(1 for (p, _) in self._snap[kind] if p == project)

    def total(self, kind: str) -> int:
        return len(self._snap[kind])

    def projects(self) -> set[str]:
        return {p for kind in self.KINDS for (p, _) in self._snap[kind]}

    def errors(self, kind: str, project: str, name: str) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._errors.get((kind, project, name), ())]

    # -- writes (the applier thread, after DuckDB has the change)
    def put(self, kind: str, project: str, name: str, obj: dict) -> None:
        with self._lock:
            new = dict(self._snap[kind])
            new[(project, name)] = _freeze(obj)
            self._snap[kind] = MappingProxyType(new)

    def delete(self, kind: str, project: str, name: str) -> None:
        with self._lock:
            new = dict(self._snap[kind])
            new.pop((project, name), None)
            self._snap[kind] = MappingProxyType(new)
            self._errors.pop((kind, project, name), None)

    def add_error(self, kind: str, project: str, name: str, err: dict) -> None:
        with self._lock:
            self._errors.setdefault((kind, project, name), deque(maxlen=MAX_ERRORS)).append(err)


def _freeze(obj: dict):
    """A deep copy nobody else holds, wrapped read-only."""
    return MappingProxyType(copy.deepcopy(dict(obj)))


def _thaw(obj) -> dict:
    return copy.deepcopy(dict(obj))
