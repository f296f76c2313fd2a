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
import contextlib
import datetime
import json
import logging
import math
import re
import threading
import zlib
from pathlib import Path

import duckdb

from cloudlog import metrics as metrics_mod
from cloudlog.applier import FILE_EXPORTS_DDL, Applier
from cloudlog.config import CONFIG_DDL, ERRORS_DDL, MAX_METRICS, MAX_SINKS, ConfigRepo
from cloudlog.journal import Journal
from cloudlog.model import ApiError, Row, canonical_log_name, dumps, format_timestamp, now_us
from cloudlog.query import FilterError, compile_filter
from cloudlog.quota import CreationQuota
from cloudlog.sinks import FileExporter, PubSub, bigquery_name, dataset_schema, duck_name, qi, split_schema

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
_INT64 = (-(2**63), 2**63 - 1)
# Acknowledged but not yet applied entries above which writes get 503 + Retry-After: the
# backlog is held in memory until applied, and reads wait for it.
MAX_BACKLOG_ROWS = 500_000
MAX_QUERY_ROWS = 10_000  # rows one query-route answer returns (the rest is cut, truncated: true)
MAX_QUERY_BYTES = 10 * 1024 * 1024  # and at most this much JSON of rows
MEMORY_LIMIT = "2GB"  # DuckDB's memory_limit for the whole store
_TOKEN_ERROR = (
    "invalid pageToken (it must come from a previous response with the same resourceNames, filter and orderBy)"
)


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
    if not (
        isinstance(value, list)
        and len(value) == 3
        and all(type(x) is int and _INT64[0] <= x <= _INT64[1] for x in value)
        and value[0] == fingerprint
    ):
        raise ApiError(400, _TOKEN_ERROR)
    return value[1], value[2]


class SqlError(ValueError):
    """A query the query route refuses or DuckDB cannot run; ``position`` is a character
    offset in the SQL as the caller wrote it (None when there is no place to point at)."""

    def __init__(self, message: str, position: int | None):
        super().__init__(message)
        self.message, self.position = message, position

    def describe(self, sql: str) -> str:
        """The message, and where: line, column and the line with a caret under the place."""
        if self.position is None:
            return self.message
        pos = max(0, min(self.position, len(sql)))
        line_no = sql.count("\n", 0, pos) + 1
        start = sql.rfind("\n", 0, pos) + 1
        end = sql.find("\n", pos)
        line = sql[start : end if end >= 0 else len(sql)]
        col = pos - start
        if len(line) > 100:  # a window around the place, like DuckDB's
            cut = max(0, col - 50)
            shown = ("..." if cut else "") + line[cut : cut + 100]
            caret = col - cut + (3 if cut else 0)
        else:
            shown, caret = line, col
        return f"{self.message}\nat line {line_no}, column {col + 1} of your SQL:\n  {shown}\n  {' ' * caret}^"


def _origin_at(origin: list[int], pos: int, text: str | None = None) -> int:
    """The position in the SQL as written of character ``pos`` of the rewritten SQL (``pos``
    in bytes of UTF-8 when ``text`` is given, as DuckDB's query_location counts)."""
    if text is not None:
        pos = len(text.encode("utf-8")[:pos].decode("utf-8", errors="ignore"))
    if not origin:
        return 0
    return origin[min(max(pos, 0), len(origin) - 1)] if pos < len(origin) else origin[-1] + 1


_DUCK_LINE = re.compile(r"\n\nLINE (\d+): (.*)\n( *)\^+\s*$", re.S)
_ESCAPED_CAPITAL = re.compile(r"\^(?=[A-Z])")
# the errors a query's own SQL causes (others - out of memory, I/O - are the store's)
_SQL_ERRORS = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.NotImplementedException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
)


def _as_written(message: str, sql: str) -> str:
    """DuckDB's message with table, dataset and project names as BigQuery spells them:
    without the ``^`` that escapes a capital letter in a DuckDB name (``^App_20240501`` ->
    ``App_20240501``, see sinks.duck_name) - unless the SQL as written holds a ``^`` itself
    (raw DuckDB names, or text the message may quote)."""
    return message if "^" in sql else _ESCAPED_CAPITAL.sub("", message)


def _duckdb_error(e: Exception, resolved: str, origin: list[int], sql: str) -> SqlError:
    """DuckDB's error, its ``LINE n: ...`` pointer moved from the rewritten SQL back to the
    SQL as written (DuckDB shows the line around the place, with ... where it cut it), and
    its names as the learner wrote them."""
    text = str(e)
    m = _DUCK_LINE.search(text)
    message = _as_written(text[: m.start()] if m else text.strip(), sql)
    if not m:
        return SqlError(message, None)
    line_no, shown, pad = int(m.group(1)), m.group(2), len(m.group(3))
    caret = pad - len(f"LINE {line_no}: ")
    lines = resolved.split("\n")
    if not 0 < line_no <= len(lines):
        return SqlError(message, None)
    line = lines[line_no - 1]
    body = shown[3:] if shown.startswith("...") else shown
    skip = 3 if shown.startswith("...") else 0
    body = body[:-3] if body.endswith("...") and body not in line else body
    found = line.find(body)
    if found < 0:
        return SqlError(message, None)
    pos = sum(len(x) + 1 for x in lines[: line_no - 1]) + found + caret - skip
    return SqlError(message, _origin_at(origin, pos))


def _jsonable(v):
    """A DuckDB value as JSON: timestamps as RFC 3339 UTC, structs as objects."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat() + "Z"
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    return str(v)  # Decimal, UUID, intervals


def _encode_stored_log_names(db) -> None:
    """Once per database: entries stored before logNames were kept URL-encoded
    (``projects/P/logs/my-app/requests``) get the encoded form Cloud Logging returns
    (``my-app%2Frequests``) in ``log_name``, the entry's JSON and its search text, so old
    data answers the same filters as new. A fresh database only records that it is done."""
    done = db.execute("SELECT v FROM cloudlog.state WHERE k = 'log_names_encoded'").fetchall()
    if done:
        return
    db.execute("BEGIN TRANSACTION")
    try:
        stale = [
            (p, n, i)
            for p, n, i in db.execute("SELECT DISTINCT project, log_name, log_id FROM cloudlog.entries").fetchall()
            if n != canonical_log_name(p, i)
        ]
        for project, old, log_id in stale:
            new = canonical_log_name(project, log_id)
            # logName is the first key of every stored entry, and its value the first line
            # of the search text (see model.normalize_entry and search_text)
            old_json, new_json = '{"logName":' + dumps(old), '{"logName":' + dumps(new)
            db.execute(
                "UPDATE cloudlog.entries SET log_name = ?, "
                "entry = CASE WHEN starts_with(entry, ?) THEN ? || entry[? + 1:] ELSE entry END, "
                "search = CASE WHEN starts_with(search, ?) THEN ? || search[? + 1:] "
                "ELSE search END WHERE project = ? AND log_name = ?",
                [new, old_json, new_json, len(old_json), old.lower(), new.lower(), len(old.lower()), project, old],
            )
        db.execute("INSERT OR REPLACE INTO cloudlog.state VALUES ('log_names_encoded', 1)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


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
        _encode_stored_log_names(self.db)
        applied = self.db.execute(
            "SELECT coalesce((SELECT v FROM cloudlog.state WHERE k = 'applied_seq'), "
            "(SELECT max(seq) FROM cloudlog.entries), 0)"
        ).fetchone()[0]
        by_project = {
            k.split(":", 1)[1]: v
            for k, v in self.db.execute(
                "SELECT k, v FROM cloudlog.state WHERE starts_with(k, 'applied_seq:')"
            ).fetchall()
        }
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
        self.applier = Applier(
            self.db,
            self.config,
            FileExporter(Path(bucket_dir)),
            self.pubsub,
            applied,
            journal_path,
            journal_seq,
            by_project,
        )
        self.applier.start()
        self.journal = Journal(
            journal_path, max(applied, journal_seq), self.applier.deliver, lambda: self.applier.applied_seq
        )
        self.quota = CreationQuota()  # new tables and files per project per minute
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
        behind = self.applier.behind_error()  # back-pressure while a batch cannot apply
        if behind is not None:
            raise behind
        with self.journal.lock:
            backlog = self.journal.written_seq - self.applier.applied_seq
        if backlog > MAX_BACKLOG_ROWS:
            err = ApiError(
                503, f"the log store is {backlog} entries behind (at most {MAX_BACKLOG_ROWS}); retry in a moment"
            )
            err.retry_after = 1
            raise err
        # refused before it is acknowledged: a write over the budget stores nothing
        self.quota.admit(rows, self.config.snapshot("sink"))
        return self.journal.write(rows, timeout)

    def sync(self, timeout: float = 60.0, projects=None) -> None:
        """Wait until DuckDB holds every write acknowledged before this call (of
        ``projects`` only, when given: another project's backlog does not delay a read,
        since the applier takes the projects in turn)."""
        if self.applier.replaying():  # the journal's old lines may be any project's
            self.applier.wait_applied(self.applier.replay_to, timeout)
        if projects is None:
            self.applier.wait_applied(self.journal.last_seq(), timeout)
        else:
            self.applier.wait_applied({p: self.journal.last_seq([p]) for p in projects}, timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.journal.close()
        with self._readers_lock:  # a long read must not hold up shutdown
            for cur in list(self._readers):
                try:
                    cur.interrupt()
                except Exception:  # noqa: BLE001
                    pass
        # applies what is queued for a few seconds at most; the rest stays in the journal
        self.applier.stop()
        if self.journal.path is not None and self.applier.applied_seq >= self.journal.written_seq:
            try:  # DuckDB holds everything: start the next run empty
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
        with self._reader() as cur:
            try:
                return cur.execute(sql, params or []).fetchall()
            except duckdb.InterruptException:
                raise ApiError(503, "the log store is shutting down") from None
            except duckdb.Error as e:
                if filter_error:
                    raise FilterError(f"cannot evaluate filter: {str(e).splitlines()[0]}", 0, "") from None
                raise

    @contextlib.contextmanager
    def _reader(self):
        """A cursor of its own for one read, registered so that shutdown can interrupt it."""
        if self._closed:
            raise ApiError(503, "the log store is closed")
        cur = self.db.cursor()
        with self._readers_lock:
            self._readers.add(cur)
        try:
            yield cur
        finally:
            with self._readers_lock:
                self._readers.discard(cur)
            cur.close()

    def list_entries(
        self,
        projects: list[str],
        filter_: str | None,
        order: str = "asc",
        page_size: int = 50,
        page_token: str | None = None,
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
            f"ORDER BY ts {direction}, seq {direction} LIMIT ?",
            params + [int(page_size) + 1],
            filter_error=True,
        )
        token = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            token = encode_page_token(fingerprint, rows[-1][1], rows[-1][2])
        return [r[0] for r in rows], token

    def list_logs(self, project: str) -> list[str]:
        self.sync(projects=[project])
        return [
            n
            for (n,) in self._read(
                "SELECT DISTINCT log_name FROM cloudlog.entries WHERE project = ? ORDER BY 1", [project]
            )
        ]

    def datasets(self) -> list[tuple[str, str]]:
        """[(project, dataset)] of the BigQuery-style datasets sinks have written."""
        out = []
        for (name,) in self._read("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()"):
            if "." in name:
                out.append(split_schema(name))  # as BigQuery spells them (case kept)
        return out

    def resolve_sql(self, sql: str, project: str | None = None) -> str:
        """BigQuery-style names -> this store's: ``dataset.table`` is resolved in ``project``
        (like BigQuery's default project), ``project.dataset.table`` as written. BigQuery's
        backticks work too (`` `project.dataset.table` ``, `` `dataset.table` ``), and so do
        wildcard tables: `` `dataset.struct_log_*` `` reads every table of the dataset whose
        name starts with ``struct_log_``, with the rest of each name in the column
        ``_TABLE_SUFFIX`` (``WHERE _TABLE_SUFFIX BETWEEN '20240101' AND '20240107'``)."""
        return self._resolve(sql, project)[0]

    def _resolve(self, sql: str, project: str | None, only_project: bool = False) -> tuple[str, list[int]]:
        """:meth:`resolve_sql`, and for each character of the result the position in ``sql``
        it came from (so that an error DuckDB reports in the rewritten SQL can be shown in
        the SQL as written). With ``only_project`` every table must be one of ``project``'s
        datasets (the query route: one project's sink tables, nothing else)."""
        if not isinstance(sql, str):
            raise TypeError("sql must be a string")
        sql, origin = self._unbacktick(sql)
        pairs = set(self.datasets())
        ast = json.loads(self._read("SELECT json_serialize_sql(?)", [sql])[0][0])
        if ast.get("error"):
            if project is None:
                return sql, origin  # not a single SELECT: run it as written
            if only_project and ast.get("error_type") == "parser":
                raise SqlError(
                    "Parser Error: " + ast.get("error_message", ""), _origin_at(origin, int(ast.get("position") or 0))
                )
            if only_project:
                raise SqlError(f"the query route runs one read-only SELECT statement: {ast.get('error_message')}", None)
            raise ValueError(f"svc.query(sql, project=...) runs one SELECT statement: {ast.get('error_message')}")
        if only_project and len(ast.get("statements", [])) != 1:
            raise SqlError("the query route runs one read-only SELECT statement", None)
        edits = []
        ctes = set()

        def collect_ctes(node):
            if isinstance(node, dict):
                for item in (node.get("cte_map") or {}).get("map", []):
                    ctes.add(item["key"].lower())
                for v in node.values():
                    collect_ctes(v)
            elif isinstance(node, list):
                for v in node:
                    collect_ctes(v)

        def walk(node):
            if isinstance(node, dict):
                if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
                    edit = self._resolve_table(node, project, pairs)
                    if only_project and (edit is None or not edit[3]):
                        raise SqlError(self._outside(node, project), _origin_at(origin, node["query_location"], sql))
                    if edit:
                        edits.append(edit[:3])
                elif only_project and node.get("type") == "BASE_TABLE" and node["table_name"].lower() not in ctes:
                    raise SqlError(self._outside(node, project), _origin_at(origin, node["query_location"], sql))
                elif only_project and node.get("type") == "TABLE_FUNCTION":
                    raise SqlError(
                        "the query route reads tables only, not table functions (read_csv, duckdb_tables(), ...)",
                        _origin_at(origin, node["query_location"], sql),
                    )
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        if only_project:
            collect_ctes(ast)
        walk(ast)
        if not edits:
            return sql, origin
        # query_location counts bytes of the UTF-8 text; origin counts characters
        raw = sql.encode("utf-8")
        for start, length, text in sorted(edits, reverse=True):
            c_start = len(raw[:start].decode("utf-8"))
            c_end = len(raw[: start + length].decode("utf-8"))
            origin = origin[:c_start] + [origin[c_start]] * len(text) + origin[c_end:]
            raw = raw[:start] + text.encode("utf-8") + raw[start + length :]
        return raw.decode("utf-8"), origin

    @staticmethod
    def _outside(node, project) -> str:
        name = ".".join(x for x in (node.get("catalog_name"), node.get("schema_name"), node["table_name"]) if x)
        return (
            f"{name!r} is not a table of project {project}'s datasets: the query route "
            "reads the tables its sinks wrote, named dataset.table (or "
            "`project.dataset.table`, or a wildcard table `dataset.prefix*`)"
        )

    def _resolve_table(self, node, project, pairs):
        schema, catalog, table = node["schema_name"], node.get("catalog_name"), node["table_name"]
        wildcard = table.endswith("*")
        target = None
        if catalog:
            if (catalog, schema) in pairs:
                target = (catalog, schema)
        elif project is not None:
            if (project, schema) in pairs:
                target = (project, schema)
            elif any(d == schema for _, d in pairs):
                raise ValueError(
                    f"project {project!r} has no dataset {schema!r} (a sink creates it on its first export)"
                )
        else:
            owners = sorted(p for p, d in pairs if d == schema)
            if len(owners) > 1:
                raise ValueError(
                    f"dataset {schema!r} exists in projects {owners}; say which with svc.query(sql, project=...)"
                )
            if owners:
                target = (owners[0], schema)
        if target is None:
            if wildcard:  # DuckDB would only say that no table is named "struct_log_*"
                raise ValueError(
                    f"no table matches {schema}.{table}: there is no dataset "
                    f"{schema!r}" + (f" in project {catalog or project!r}" if catalog or project else "")
                )
            return None
        if wildcard:
            text = self._wildcard_union(target, table)
        else:
            text = f"{qi(dataset_schema(*target))}.{qi(duck_name(table))}"
        if node.get("alias"):
            text += f" AS {qi(node['alias'])}"
        if node.get("column_name_alias"):
            text += "(" + ", ".join(qi(c) for c in node["column_name_alias"]) + ")"
        return (node["query_location"], node["query_location_length"], text, target[0] == project)

    def _wildcard_union(self, target, table: str) -> str:
        """BigQuery's wildcard table ``dataset.prefix*`` as a subquery: the matching tables
        stacked by column name (days whose columns differ still line up), each row with the
        rest of its table's name in ``_TABLE_SUFFIX``."""
        prefix = table[:-1]
        if "*" in prefix:
            raise ValueError(f"{table!r}: a wildcard table has one * at the end of its name")
        schema = dataset_schema(*target)
        names = sorted(
            n
            for (n,) in self._read(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?",
                [schema],
            )
            # internal tables such as _sink_errors only when the prefix asks for them
            if bigquery_name(n).startswith(prefix) and (prefix.startswith("_") or not n.startswith("_"))
        )
        if not names:
            raise ValueError(f"no table matches {target[1]}.{table} in project {target[0]!r}")

        def literal(text):
            return "'" + text.replace("'", "''") + "'"

        return (
            "("
            + " UNION ALL BY NAME ".join(
                f"SELECT *, {literal(bigquery_name(n)[len(prefix) :])} AS _TABLE_SUFFIX FROM {qi(schema)}.{qi(n)}"
                for n in names
            )
            + ")"
        )

    @staticmethod
    def _unbacktick(sql: str) -> tuple[str, list[int]]:
        """BigQuery's backtick names -> DuckDB's quoted identifiers: `p.d.t` -> "p"."d"."t"
        (strings, quoted identifiers and comments are copied as they are); and for each
        character of the result, its position in ``sql``."""
        if "`" not in sql:
            return sql, list(range(len(sql)))
        out, origin, i, n = [], [], 0, len(sql)

        def copy(a, b):
            out.append(sql[a:b])
            origin.extend(range(a, b))

        while i < n:
            c = sql[i]
            if c in "'\"":  # up to the closing quote ('' escapes one)
                j = i + 1
                while j < n and (sql[j] != c or sql[j + 1 : j + 2] == c):
                    j += 2 if sql[j] == c else 1
                copy(i, min(j + 1, n))
                i = j + 1
            elif sql.startswith("--", i):
                j = sql.find("\n", i)
                j = n if j < 0 else j
                copy(i, j)
                i = j
            elif sql.startswith("/*", i):
                j = sql.find("*/", i + 2)
                j = n if j < 0 else j + 2
                copy(i, j)
                i = j
            elif c == "`":
                j = sql.find("`", i + 1)
                if j < 0:
                    raise SqlError("a backtick (`) opens a name that is never closed", i)
                text = ".".join(qi(part) for part in sql[i + 1 : j].split("."))
                out.append(text)
                origin.extend([i] * len(text))
                i = j + 1
            else:
                copy(i, i + 1)
                i += 1
        return "".join(out), origin

    def query(self, sql: str, params=None, project: str | None = None):
        """Run SQL on a fresh cursor and return the rows (a convenience for notebooks). Names
        are resolved as :meth:`resolve_sql` says.

        The SQL reaches the store's tables and nothing else: on the first query DuckDB's file
        access (``read_text``, ``read_csv``, ``COPY ... TO``, ``ATTACH``, ``INSTALL``) is turned
        off for the whole store and the setting locked, so SQL someone else wrote (a learner's,
        graded in this process) cannot read or write this machine's files. The store itself
        needs no file access from SQL: the journal and file sinks write with Python."""
        self.sync()
        self._deny_file_access()
        resolved, origin = self._resolve(sql, project)
        try:
            return self._read(resolved, params)
        except duckdb.PermissionException as e:
            raise PermissionError(
                "svc.query runs SQL on the service's tables only; reading or writing files "
                f"(read_text, read_csv, COPY ... TO, ATTACH, ...) is turned off: "
                f"{str(e).splitlines()[0]}"
            ) from None
        except _SQL_ERRORS as e:
            if resolved == sql:
                raise  # DuckDB's message is about the SQL as written
            # the same kind of error, told in the SQL and the names as written
            raise type(e)(_duckdb_error(e, resolved, origin, sql).describe(sql)) from None

    def run_query(self, sql: str, project: str, max_rows: int = MAX_QUERY_ROWS) -> dict:
        """The query route (``python -m cloudlog query``): one SELECT on ``project``'s sink
        datasets, names resolved as in :meth:`resolve_sql`, no file access, in a transaction
        that is rolled back. -> ``{"columns": [...], "rows": [[...]], "truncated": bool}``;
        :class:`SqlError` (with a position in ``sql`` as written) for what cannot run."""
        self.sync(projects=[project])
        self._deny_file_access()
        resolved, origin = self._resolve(sql, project, only_project=True)
        with self._reader() as cur:
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    cur.execute(resolved)
                    columns = [d[0] for d in cur.description or []]
                    rows = cur.fetchmany(max_rows + 1)
                finally:
                    cur.execute("ROLLBACK")
            except duckdb.InterruptException:
                raise ApiError(503, "the log store is shutting down") from None
            except duckdb.PermissionException as e:
                raise SqlError(
                    "the query route reads the service's tables only; reading or "
                    f"writing files is turned off: {str(e).splitlines()[0]}",
                    None,
                ) from None
            except duckdb.OutOfMemoryException as e:
                raise ApiError(
                    503, f"the query needs more memory than the store allows: {str(e).splitlines()[0]}"
                ) from None
            except _SQL_ERRORS as e:
                raise _duckdb_error(e, resolved, origin, sql) from None
        out, size = [], 0
        for r in rows[:max_rows]:
            row = [_jsonable(v) for v in r]
            size += len(json.dumps(row))
            if size > MAX_QUERY_BYTES and out:  # like an entries:list page: cut, say so
                break
            out.append(row)
        return {"columns": columns, "rows": out, "truncated": len(out) < len(rows)}

    def _deny_file_access(self) -> None:
        """DuckDB's enable_external_access off and lock_configuration on, once per store. Both
        are database-wide settings: every cursor and connection of ``self.db`` gets them."""
        if getattr(self, "_no_file_access", False):
            return
        cur = self.db.cursor()
        try:
            if not cur.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
                cur.execute("SET enable_external_access = false")
                cur.execute("SET lock_configuration = true")
        except duckdb.InvalidInputException:
            pass  # another thread locked the configuration between the two lines
        finally:
            cur.close()
        cur = self.db.cursor()
        try:
            if cur.execute("SELECT current_setting('enable_external_access')").fetchone()[0]:
                raise RuntimeError("the store's configuration was locked with file access on")
        finally:
            cur.close()
        self._no_file_access = True

    # ------------------------------------------------------------ logs, sinks, metrics
    def delete_log(self, project: str, log_name: str) -> int:
        def fn(con):
            n = con.execute(
                "DELETE FROM cloudlog.entries WHERE project = ? AND log_name = ?", [project, log_name]
            ).fetchone()[0]
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
                raise ApiError(400, f"project {project} already has {limit} {kind}s, the Cloud Logging limit")
            stamp = format_timestamp(now_us())
            obj = dict(body, createTime=old["createTime"] if old else stamp, updateTime=stamp)
            con.execute(
                "INSERT OR REPLACE INTO cloudlog.config VALUES (?, ?, ?, ?)", [kind, project, name, json.dumps(obj)]
            )
            self.config.put(kind, project, name, obj)
            return obj

        return self.applier.call(fn)

    def delete_config(self, kind: str, project: str, name: str) -> None:
        def fn(con):
            if self.config.get(kind, project, name) is None:
                raise ApiError(404, f"{kind.capitalize()} {name} does not exist")
            con.execute(
                "DELETE FROM cloudlog.config WHERE kind = ? AND project = ? AND name = ?", [kind, project, name]
            )
            self.config.delete(kind, project, name)

        self.applier.call(fn)

    def metric_projects(self, name: str) -> list[str]:
        return sorted({p for (p, n) in self.config.snapshot("metric") if n == name})

    def metric_series(self, project: str, name: str, bucket_seconds: int = 60, start=None, end=None):
        self.get_config("metric", project, name)
        self.sync(projects=[project])
        cur = self.db.cursor()
        try:
            return metrics_mod.series(cur, project, name, bucket_seconds, start, end)
        finally:
            cur.close()
