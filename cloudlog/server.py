"""The HTTP side: the Cloud Logging v2 REST paths the google-cloud-logging client calls.

Standard library only (``http.server.ThreadingHTTPServer``, one thread per connection,
HTTP/1.1 keep-alive, at most ``MAX_CONNECTIONS`` at once and ``MAX_CONNECTIONS_PER_CLIENT``
per client address, idle ones closed after ``Handler.timeout`` seconds, the request line and
headers due within ``HEADER_TIMEOUT_S`` of their first byte and the body within
``BODY_TIMEOUT_S``). Every handler validates, then talks to :class:`~.store.Store` through
its API. Every error, malformed HTTP included, is a JSON ``google.rpc.Status``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb

from cloudlog.config import MAX_METRICS_TOTAL, MAX_PROJECTS, MAX_SINKS_TOTAL
from cloudlog.model import (
    MAX_DEPTH,
    MAX_REQUEST_BYTES,
    ApiError,
    bad,
    check_json_value,
    normalize_write,
    partial_errors,
    split_log_name,
)
from cloudlog.query import FilterError, compile_filter
from cloudlog.sinks import parse_destination
from cloudlog.store import MAX_QUERY_ROWS, SqlError, Store

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
WRITER_IDENTITY = "serviceAccount:cloud-logs@local-cloudlog.iam.gserviceaccount.com"
_NAME = re.compile(r"[A-Za-z0-9_\-.]{1,100}")  # fullmatch: `$` allows a trailing newline
_LIST_FIELDS = {
    "resourceNames": "resourceNames",
    "resource_names": "resourceNames",
    "projectIds": "projectIds",
    "project_ids": "projectIds",
    "filter": "filter",
    "orderBy": "orderBy",
    "order_by": "orderBy",
    "pageSize": "pageSize",
    "page_size": "pageSize",
    "pageToken": "pageToken",
    "page_token": "pageToken",
}
_DISCARD_LIMIT = 64 * 1024 * 1024  # bodies above this are not even drained: the socket closes
_INT = re.compile(r"-?[0-9]{1,18}")
MAX_CONNECTIONS = 256  # open connections; more are answered 503 and closed
MAX_CONNECTIONS_PER_CLIENT = 64  # of those, from one client address (slow clients from
#                                      one address cannot take every connection)
IDLE_TIMEOUT_S = 10  # an idle keep-alive connection is closed after this
HEADER_TIMEOUT_S = 10  # request line + headers, from their first byte: 408
BODY_TIMEOUT_S = 30  # the whole body, once the headers are in: 408
MAX_LIST_RESPONSE_BYTES = 10 * 1024 * 1024  # an entries:list page stops early at this size
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110)


def _int(value, what: str, default: int) -> int:
    if value is None or value == "":
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, str))
        or (isinstance(value, str) and not _INT.fullmatch(value))
        or (isinstance(value, int) and abs(value) >= 10**18)
    ):
        raise bad(f"{what} must be an integer")
    return int(value)


def _json_depth_ok(obj, limit: int = 2 * MAX_DEPTH) -> bool:
    """No object or array deeper than ``limit`` (``obj`` comes from json.loads). One level
    at a time, keeping the non-empty containers of the next level only: a 10 MB body of 3.5
    million empty objects costs one pass over a list, not a (value, depth) pair per value
    (300 MB and 13 s)."""
    level, depth = ([obj] if type(obj) in (dict, list) else []), 1
    while level:
        below = []
        for v in level:
            for x in v.values() if type(v) is dict else v:
                if type(x) in (dict, list):
                    if depth >= limit:
                        return False
                    if x:
                        below.append(x)
        level, depth = below, depth + 1
    return True


def _log_id(log_name: str) -> str | None:
    try:
        return split_log_name(log_name)[1]
    except ValueError:
        return None


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _page(items: list, page_size, page_token) -> tuple[list, str | None]:
    size = _int(page_size, "pageSize", 50)
    if size < 0:
        raise bad("pageSize must not be negative")
    size = min(size or 50, 1000)
    start = 0
    if page_token:
        try:
            text = base64.urlsafe_b64decode(str(page_token).encode("ascii")).decode("ascii")
        except (ValueError, UnicodeError):
            text = ""
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise bad("invalid pageToken")
        start = int(text)
    chunk = items[start : start + size]
    nxt = start + size
    return chunk, (base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(items) else None)


class App:
    """Routing and request semantics, independent of the socket plumbing."""

    def __init__(self, store: Store):
        self.store = store
        self.routes = [
            ("POST", r"/v2/entries:write", self.write),
            ("POST", r"/v2/entries:list", self.list_entries),
            ("GET", r"/v2/projects/([^/]+)/logs", self.list_logs),
            ("DELETE", r"/v2/projects/([^/]+)/logs/(.+)", self.delete_log),
            ("GET", r"/v2/projects/([^/]+)/(sinks|metrics)", self.list_config),
            ("POST", r"/v2/projects/([^/]+)/(sinks|metrics)", self.create_config),
            ("GET", r"/v2/projects/([^/]+)/(sinks|metrics)/([^/]+)", self.get_config),
            ("PUT", r"/v2/projects/([^/]+)/(sinks|metrics)/([^/]+)", self.update_config),
            ("PATCH", r"/v2/projects/([^/]+)/(sinks|metrics)/([^/]+)", self.update_config),
            ("DELETE", r"/v2/projects/([^/]+)/(sinks|metrics)/([^/]+)", self.delete_config),
            ("GET", r"/local/v1/projects/([^/]+)/metrics/([^/]+)/series", self.series),
            ("GET", r"/local/v1/projects/([^/]+)/(sinks|metrics)/([^/]+)/errors", self.errors),
            ("GET", r"/local/v1/stats", self.stats),
            ("POST", r"/local/v1/projects/([^/]+)/queries", self.run_query),
            ("POST", r"/local/v1/queries", self.run_query_any),
        ]
        self.routes = [(m, re.compile(p), f) for m, p, f in self.routes]  # fullmatch
        self._projects: set[str] | None = None  # known projects (loaded on first use)
        self._projects_lock = threading.Lock()

    def dispatch(self, method: str, raw_path: str, body: bytes | None):
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            query = {k: v[-1] for k, v in parse_qs(parts.query, errors="strict").items()}
        except (ValueError, UnicodeError):
            raise bad("malformed query string") from None
        allowed = False
        for m, rx, fn in self.routes:
            match = rx.fullmatch(path)
            if match:
                allowed = True
                if m == method:
                    data = None
                    if method in ("POST", "PUT", "PATCH"):
                        data = self._json(body)
                    try:
                        args = [unquote(g, errors="strict") for g in match.groups()]
                    except UnicodeError:
                        raise bad("the path is not valid UTF-8") from None
                    return fn(*args, data=data, query=query)
        if allowed:
            raise ApiError(405, f"method {method} not allowed on {path}")
        raise ApiError(404, f"unknown path {path}")

    @staticmethod
    def _json(body: bytes | None):
        if not body:
            return {}
        try:
            data = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as e:
            raise bad(f"Invalid JSON payload received. {e}") from None
        except RecursionError:
            raise bad(f"Invalid JSON payload received: nested deeper than {MAX_DEPTH} levels") from None
        if not _json_depth_ok(data):
            raise bad(f"Invalid JSON payload received: nested deeper than {2 * MAX_DEPTH} levels")
        return data

    def _admit_projects(self, projects) -> None:
        """Refuse a request that would make the service hold more than MAX_PROJECTS projects
        (those with entries, sinks or metrics; a project stays counted once it had any)."""
        with self._projects_lock:
            if self._projects is None:
                self._projects = self._load_projects()
            new = set(projects) - self._projects
            if not new:
                return
            if len(self._projects) + len(new) > MAX_PROJECTS:
                raise bad(
                    f"the service already holds {len(self._projects)} projects and "
                    f"this request adds {len(new)} ({sorted(new)[0]!r}...); at most "
                    f"{MAX_PROJECTS} are allowed (a local limit): reuse a project"
                )
            self._projects |= new

    def _load_projects(self) -> set[str]:
        """The projects DuckDB holds entries of, and those with sinks or metrics (once, on
        first use; entries still being replayed from the journal at start-up are not seen,
        so the limit may be passed by those)."""
        cur = self.store.db.cursor()
        try:
            stored = {p for (p,) in cur.execute("SELECT DISTINCT project FROM cloudlog.entries").fetchall()}
        finally:
            cur.close()
        return stored | self.store.config.projects()

    # -- entries
    def write(self, data, query):
        rows, errors, partial, dry = normalize_write(data)
        if errors and not partial:
            raise partial_errors(errors, len(rows) + len(errors))
        if rows and not dry:
            self._admit_projects({r.project for r in rows})
            self.store.write(rows)
        if errors:
            raise partial_errors(errors, len(rows) + len(errors))
        return {}

    def list_entries(self, data, query):
        if not isinstance(data, dict):
            raise bad("request body must be a JSON object")
        unknown = set(data) - set(_LIST_FIELDS)
        if unknown:
            raise bad(f"Invalid JSON payload received. Unknown name(s): {', '.join(sorted(unknown))}")
        data = {_LIST_FIELDS[k]: v for k, v in data.items()}
        for k in ("resourceNames", "projectIds"):
            v = data.get(k)
            if v is not None and not (isinstance(v, list) and len(v) <= 100 and all(isinstance(x, str) for x in v)):
                raise bad(f"{k} must be a list of at most 100 strings")
        names = list(data.get("resourceNames") or [])
        names += [f"projects/{p}" for p in data.get("projectIds") or []]
        if not names:
            raise bad('resourceNames must be a non-empty list like ["projects/PROJECT_ID"]')
        projects = []
        for n in names:
            m = re.fullmatch(r"projects/([^/]{1,100})", n)
            if not m:
                raise bad(f"unsupported resource name {n!r}; only projects/PROJECT_ID is served")
            projects.append(m.group(1))
        filter_ = data.get("filter")
        if filter_ is not None and not isinstance(filter_, str):
            raise bad("filter must be a string")
        order = data.get("orderBy") or "timestamp asc"
        if not isinstance(order, str):
            raise bad("orderBy must be a string")
        order = " ".join(order.lower().split())
        if order not in ("timestamp", "timestamp asc", "timestamp desc"):
            raise bad(f"orderBy must be 'timestamp asc' or 'timestamp desc', not {order!r}")
        size = _int(data.get("pageSize"), "pageSize", 50)
        if size < 0:
            raise bad("pageSize must not be negative")
        token = data.get("pageToken")
        if token is not None and not isinstance(token, str):
            raise bad("pageToken must be a string")
        compile_filter(filter_)  # a bad filter is a 400 here; any later failure is ours
        texts, nxt = self._list_page(
            projects, filter_, order.split()[-1] if " " in order else "asc", min(size or 50, 1000), token or None
        )
        out = '{"entries":[' + ",".join(texts) + "]"
        if nxt:
            out += ',"nextPageToken":"' + nxt + '"'
        return out + "}"  # pre-serialised: the entries are stored as canonical JSON

    def _list_page(self, projects, filter_, order, size, token):
        """One page of at most ``size`` entries and MAX_LIST_RESPONSE_BYTES of JSON: read in
        chunks, each continuing from the previous one's page token; a page that would grow
        past the byte limit stops early with a nextPageToken (always at least one entry)."""
        texts, used, biggest = [], 0, 1024
        chunk = min(size, 50)
        while True:
            got, nxt = self._store_list(projects, filter_, order, chunk, token)
            sizes = [len(t.encode("utf-8")) for t in got]
            fit, total = 0, used
            room = MAX_LIST_RESPONSE_BYTES - 512  # the envelope and the page token
            for n in sizes:
                if (texts or fit) and total + n + 1 > room:  # a page has at least one entry
                    break
                total += n + 1
                fit += 1
            if fit < len(got):
                # read the part that fits again, to get the token right after it
                if fit:
                    got, nxt = self._store_list(projects, filter_, order, fit, token)
                    texts += got
                    return texts, nxt
                return texts, token
            texts += got
            used = total
            if not nxt or len(texts) >= size:
                return texts, nxt
            token = nxt
            biggest = max([biggest, *sizes])
            # the next chunk: what still fits if its entries are as large as the largest
            # seen so far (at least 32 KB each), so one read never holds much more than a page
            chunk = min(size - len(texts), max(1, (MAX_LIST_RESPONSE_BYTES - used) // max(biggest, 32 * 1024)))

    def _store_list(self, projects, filter_, order, size, token):
        try:
            return self.store.list_entries(projects, filter_, order, size, token)
        except FilterError as e:
            # the filter was checked (compiled and evaluated on a sample entry) before: a
            # failure now is the store's (out of memory, a storage error), never the request's
            text = str(e).split("cannot evaluate filter: ", 1)[-1]
            if "Out of Memory" in text:
                raise ApiError(
                    503,
                    f"the log store ran out of memory for this query ({text}); retry, or ask for a smaller page",
                    retry_after=1,
                ) from None
            raise ApiError(500, f"the log store failed to run this query: {text}") from None

    def list_logs(self, project, data, query):
        names = self.store.list_logs(project)
        chunk, nxt = _page(names, query.get("pageSize"), query.get("pageToken"))
        out = {"logNames": chunk}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    def delete_log(self, project, log_id, data, query):
        # log_id arrives decoded (my-app%2Frequests -> my-app/requests); entries are stored
        # with one spelling of it, the URL-encoded one (model.canonical_log_name)
        names = [n for n in self.store.list_logs(project) if _log_id(n) == log_id]
        if not names:
            raise ApiError(404, f"Log projects/{project}/logs/{log_id} does not exist")
        for n in names:
            self.store.delete_log(project, n)
        return {}

    # -- sinks and metrics
    @staticmethod
    def _kind(plural):
        return "sink" if plural == "sinks" else "metric"

    def _validate(self, kind, body: dict, old: dict | None) -> dict:
        if not isinstance(body, dict):
            raise bad("request body must be a JSON object")
        allowed = (
            {
                "name",
                "destination",
                "filter",
                "description",
                "disabled",
                "exclusions",
                "outputVersionFormat",
                "writerIdentity",
                "includeChildren",
                "createTime",
                "updateTime",
                "bigqueryOptions",
            }
            if kind == "sink"
            else {
                "name",
                "filter",
                "description",
                "metricDescriptor",
                "valueExtractor",
                "labelExtractors",
                "bucketOptions",
                "createTime",
                "updateTime",
                "version",
                "disabled",
                "bucketName",
            }
        )
        unknown = set(body) - allowed
        if unknown:
            raise bad(f"Invalid JSON payload received. Unknown name(s): {', '.join(sorted(unknown))}")
        obj = dict(old or {})
        obj.update({k: v for k, v in body.items() if k not in ("createTime", "updateTime", "writerIdentity")})
        name = obj.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise bad(f"invalid {kind} name {name!r}: use 1-100 of A-Z a-z 0-9 _ - .")
        for k in ("filter", "description"):
            if obj.get(k) is not None and not isinstance(obj[k], str):
                raise bad(f"{k} must be a string")
        if kind == "metric" and not obj.get("filter"):
            raise bad("a log-based metric needs a filter")
        if kind == "sink" and obj.get("destination") is not None and not isinstance(obj["destination"], str):
            raise bad("destination must be a string")
        for k in ("disabled", "includeChildren"):
            if obj.get(k) is not None and not isinstance(obj[k], bool):
                raise bad(f"{k} must be a boolean")
        try:  # 1e999 parses as infinity, which is not JSON: never store or echo it
            check_json_value(obj, f"the {kind}")
        except ValueError as e:
            raise bad(str(e)) from None
        if len(json.dumps(obj)) > 100_000:
            raise bad(f"the {kind} is larger than 100,000 bytes")
        try:
            compile_filter(obj.get("filter") or "")
        except FilterError as e:
            raise bad(str(e)) from None
        if kind == "sink":
            try:
                parse_destination(obj.get("destination"))
            except ValueError as e:
                raise bad(str(e)) from None
            obj["writerIdentity"] = WRITER_IDENTITY
        return obj

    def list_config(self, project, plural, data, query):
        items, nxt = _page(
            self.store.list_config(self._kind(plural), project), query.get("pageSize"), query.get("pageToken")
        )
        out = {plural: items} if items else {}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    def create_config(self, project, plural, data, query):
        kind = self._kind(plural)
        obj = self._validate(kind, data, None)
        limit = MAX_SINKS_TOTAL if kind == "sink" else MAX_METRICS_TOTAL
        if self.store.config.total(kind) >= limit:
            raise bad(
                f"the service already has {limit} {kind}s in all projects together, the local limit; delete some first"
            )
        self._admit_projects([project])
        return self.store.put_config(kind, project, obj["name"], obj, create=True)

    def get_config(self, project, plural, name, data, query):
        return self.store.get_config(self._kind(plural), project, name)

    def update_config(self, project, plural, name, data, query):
        kind = self._kind(plural)
        old = self.store.get_config(kind, project, name)
        if isinstance(data, dict) and data.get("name") not in (None, name):
            raise bad(f"the body names {data.get('name')!r} but the URL names {name!r}")
        obj = self._validate(kind, dict(data, name=name) if isinstance(data, dict) else data, old)
        return self.store.put_config(kind, project, name, obj, create=False)

    def delete_config(self, project, plural, name, data, query):
        self.store.delete_config(self._kind(plural), project, name)
        return {}

    def series(self, project, name, data, query):
        bucket = _int(query.get("bucketSeconds"), "bucketSeconds", 60)
        if not 0 < bucket <= 10**9:
            raise bad("bucketSeconds must be between 1 and 1000000000")
        try:
            points = self.store.metric_series(project, name, bucket)
        except ValueError as e:
            raise bad(str(e)) from None
        # not strftime: its %Y prints year 1 as "1", not "0001"
        return {
            "points": [
                {
                    "start": f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z",
                    "count": n,
                }
                for t, n in points
            ]
        }

    def run_query(self, project, data, query):
        """Local extension, in the spirit of BigQuery's jobs.query: read-only SQL on the
        project's sink datasets, while the server holds the DuckDB file (``python -m cloudlog
        query``)."""
        if not isinstance(data, dict) or set(data) - {"query", "maxResults"}:
            raise bad('the body must be {"query": "SELECT ...", "maxResults": N}')
        sql = data.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise bad("query must be a non-empty string of SQL")
        limit = _int(data.get("maxResults"), "maxResults", MAX_QUERY_ROWS)
        if not 0 < limit <= MAX_QUERY_ROWS:
            raise bad(f"maxResults must be between 1 and {MAX_QUERY_ROWS}")
        try:
            return self.store.run_query(sql, project, limit)
        except SqlError as e:
            raise bad(e.describe(sql)) from None
        except ValueError as e:  # names that resolve to no dataset
            raise bad(str(e)) from None

    def run_query_any(self, data, query):
        """The query route without a project: the one project whose sinks wrote datasets."""
        self.store.sync()  # every project's sinks: any of them may create a dataset
        projects = sorted({p for p, _ in self.store.datasets()})
        if len(projects) != 1:
            raise bad(
                "no sink has written a BigQuery-style dataset yet"
                if not projects
                else f"datasets exist in several projects ({', '.join(projects)}); say "
                "which one (python -m cloudlog query --project PROJECT ...)"
            )
        return self.run_query(projects[0], data=data, query=query)

    def stats(self, data, query):
        """Local extension: commits, entries, fsyncs, processing errors, longest apply
        (``?reset=true`` starts a new longest-apply measurement)."""
        out = self.store.stats
        if query.get("reset") == "true":
            self.store.applier.stats["max_apply_s"] = 0.0
        return out

    def errors(self, project, plural, name, data, query):
        """Local extension: the processing errors of a sink or metric, oldest first."""
        return {"errors": self.store.config_errors(self._kind(plural), project, name)}


class _Expired(Exception):
    """A read phase ran past its deadline (not an OSError: http.server must not swallow it)."""

    def __init__(self, phase: str):
        super().__init__(phase)
        self.phase = phase


class _DeadlineReader(io.RawIOBase):
    """The socket's read side with one deadline for a whole phase - waiting for a request
    (idle), its request line and headers, its body - instead of one timeout per recv: a
    client trickling a byte at a time cannot hold a connection for longer than that."""

    def __init__(self, sock, rest_timeout):
        self.sock, self.rest_timeout = sock, rest_timeout
        self.phase, self.deadline, self.header_s = "idle", None, None

    def readable(self):
        return True

    def wait_for_request(self, idle_s, header_s):
        """Idle until the first byte; from then on the request line and headers get header_s."""
        self.phase, self.header_s = "idle", header_s
        self.deadline = time.monotonic() + idle_s

    def start_body(self, body_s):
        self.phase, self.header_s = "body", None
        self.deadline = time.monotonic() + body_s

    def readinto(self, buf):
        left = self.deadline - time.monotonic() if self.deadline is not None else None
        if left is not None and left <= 0:
            raise _Expired(self.phase)
        try:
            self.sock.settimeout(left)
            n = self.sock.recv_into(buf)
        except TimeoutError:
            raise _Expired(self.phase) from None
        finally:
            try:
                self.sock.settimeout(self.rest_timeout)  # for the writes
            except OSError:
                pass
        if n and self.header_s is not None:  # the first byte of a request
            self.phase, self.deadline = "headers", time.monotonic() + self.header_s
            self.header_s = None
        return n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudlog-local/1.0"
    timeout = IDLE_TIMEOUT_S  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def setup(self):
        super().setup()
        self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
        self.rfile.close()  # reads go through the deadline reader instead
        self._reader = _DeadlineReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._reader, 65536)

    def handle_one_request(self):
        self._reader.wait_for_request(self.timeout, HEADER_TIMEOUT_S)
        try:
            super().handle_one_request()
        except _Expired as e:
            self.close_connection = True
            if e.phase == "idle":
                return  # an idle keep-alive connection: just close it
            self.send_error(
                408, f"the request line and headers did not arrive within {HEADER_TIMEOUT_S} s of their first byte"
            )

    def log_message(self, fmt, *args):  # quiet: the access log would dominate the runtime
        log.debug("%s " + fmt, self.address_string(), *args)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (malformed request line, long URL or headers, unknown
        method) as JSON google.rpc.Status instead of HTML."""
        if code == 501:
            code = 405
            message = f"method {self.command!r} is not supported"
        if code == 505:
            message = f"HTTP version {self.request_version or '?'} is not supported; use HTTP/1.1"
        if getattr(self, "request_version", "HTTP/0.9") in ("HTTP/0.9", ""):
            self.request_version = "HTTP/1.0"  # a status line and headers, always
        self.close_connection = True
        self._send_json(code, ApiError(code, message or "bad request").body(), head=False)

    def _send_json(self, status, result, head=False, retry_after=None):
        payload = (result if isinstance(result, str) else json.dumps(result)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", str(int(retry_after)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _unsupported(self):
        self.close_connection = True
        self._send_json(
            405, ApiError(405, f"method {self.command} is not supported").body(), head=self.command == "HEAD"
        )

    do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _unsupported

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _body_length(self) -> int:
        """Content-Length, read strictly (RFC 9112): anything ambiguous about where the body
        ends is a 400 and closes the connection, so no request can hide inside another."""
        h = self.headers
        if h.defects or h.get_payload():
            raise bad("malformed header line (a field name must be a token followed directly by ':')")
        for name, value in h.items():
            if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
                raise bad(f"malformed header {name[:40]!r} (no spaces before ':', no line folding)")
        if "Transfer-Encoding" in h:
            raise bad("Transfer-Encoding is not supported (chunked bodies included); send the body with Content-Length")
        lengths = h.get_all("Content-Length") or []
        if len(lengths) > 1:
            raise bad(f"{len(lengths)} Content-Length headers; send exactly one")
        value = lengths[0].strip(" \t") if lengths else ""
        if value == "":
            return 0
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise bad(f"bad Content-Length {value[:40]!r}: it must be a decimal number of bytes (digits only)")
        return int(value)

    def _handle(self, method):
        app: App = self.server.app
        retry_after = None
        try:
            try:
                length = self._body_length()
            except ApiError:
                self.close_connection = True
                raise
            if length > MAX_REQUEST_BYTES:
                self._discard(length)
                raise ApiError(
                    413, f"Request payload size {length} exceeds the limit: {MAX_REQUEST_BYTES} bytes (10 MB)"
                )
            self._reader.start_body(BODY_TIMEOUT_S)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                self.close_connection = True
                raise bad("request body shorter than Content-Length")
            status, result = 200, app.dispatch(method, self.path, body)
        except _Expired:
            self.close_connection = True
            status, result = 408, ApiError(408, f"the request body did not arrive within {BODY_TIMEOUT_S} s").body()
        except ApiError as e:
            status, result, retry_after = e.code, e.body(), getattr(e, "retry_after", None)
        except FilterError as e:
            status, result = 400, bad(str(e)).body()
        except RecursionError:
            status, result = 400, bad("the request is nested too deeply").body()
        except duckdb.OutOfMemoryException as e:
            log.warning("out of memory: %s", e)
            status, result, retry_after = (
                503,
                ApiError(503, f"the log store ran out of memory ({str(e).splitlines()[0]}); retry").body(),
                1,
            )
        except Exception as e:  # noqa: BLE001 - a bug answers 500, the server keeps serving
            log.exception("internal error")
            status, result = 500, ApiError(500, f"internal error: {e}").body()
        self._send_json(status, result, retry_after=retry_after)

    def _discard(self, length):
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return
        self._reader.start_body(BODY_TIMEOUT_S)
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                self.close_connection = True
                return
            left -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()

    def _refuse(self, request, message: str) -> None:
        body = json.dumps(ApiError(503, message).body()).encode()
        try:
            request.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                b"application/json; charset=UTF-8\r\nConnection: close\r\n"
                b"Retry-After: 1\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        except OSError:
            pass
        self.shutdown_request(request)

    def _leave(self, client_address) -> None:
        with self._per_client_lock:
            n = self._per_client.get(client_address[0], 1) - 1
            if n > 0:
                self._per_client[client_address[0]] = n
            else:
                self._per_client.pop(client_address[0], None)
        self._slots.release()

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request, "too many open connections; retry")
            return
        addr = client_address[0]
        with self._per_client_lock:
            n = self._per_client.get(addr, 0)
            if n < MAX_CONNECTIONS_PER_CLIENT:
                self._per_client[addr] = n + 1
        if n >= MAX_CONNECTIONS_PER_CLIENT:
            self._slots.release()
            self._refuse(
                request,
                f"too many open connections from {addr} (at most "
                f"{MAX_CONNECTIONS_PER_CLIENT} per client address); retry",
            )
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._leave(client_address)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._leave(client_address)


class LocalService:
    """A running local Cloud Logging service. Use :func:`start_local` to make one."""

    def __init__(self, db_path, port: int = 0, bucket_dir=None):
        self.store = Store(db_path, bucket_dir=bucket_dir)
        self.app = App(self.store)
        try:
            self.httpd = _Server((HOST, port), Handler)
        except OSError:
            self.store.close()
            raise
        self.httpd.app = self.app
        self.port = self.httpd.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self._thread = None

    def start(self) -> "LocalService":
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="cloudlog-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self):
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- Python API for notebooks and tests
    def subscribe(self, topic: str, callback) -> None:
        """Call ``callback(entry_dict)`` for each entry a Pub/Sub sink sends to ``topic``
        (``projects/P/topics/T``)."""
        self.store.pubsub.subscribe(topic, callback)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until sinks have run on every acknowledged write and Pub/Sub callbacks have
        seen everything published so far."""
        self.store.sync(timeout)
        return self.store.pubsub.drain(timeout)

    def metric_series(self, name: str, bucket_seconds: int = 60, project: str | None = None, start=None, end=None):
        """[(bucket start datetime UTC, count)] for a log-based counter metric."""
        if project is None:
            projects = self.store.metric_projects(name)
            if len(projects) != 1:
                raise KeyError(f"metric {name!r} is defined in {len(projects)} projects; pass project=")
            project = projects[0]
        return self.store.metric_series(project, name, bucket_seconds, start, end)

    def query(self, sql: str, params=None, project: str | None = None):
        """Run read-only SQL against the DuckDB file (e.g. the sink tables).

        With ``project="P"``, BigQuery-style names ``dataset.table`` mean P's dataset, as
        with BigQuery's default project (``P.dataset.table`` works too). Without it, a
        dataset name that only one project has is resolved to that project; one that
        several have is an error naming the fix."""
        return self.store.query(sql, params, project)

    def sink_errors(self, name: str, project: str | None = None, kind: str = "sink"):
        """The processing errors recorded for a sink (or, kind="metric", a metric)."""
        if project is None:
            projects = sorted({p for (p, n) in self.store.config.snapshot(kind) if n == name})
            if len(projects) != 1:
                raise KeyError(f"{kind} {name!r} is defined in {len(projects)} projects; pass project=")
            project = projects[0]
        return self.store.config_errors(kind, project, name)

    def __repr__(self):
        return f"<LocalService {self.endpoint} db={self.store.path}>"


def start_local(db_path="runs/logs.duckdb", port: int = 0, bucket_dir=None) -> LocalService:
    """Start the service on 127.0.0.1 in a background thread; ``.endpoint``, ``.stop()``."""
    return LocalService(Path(db_path) if db_path != ":memory:" else db_path, port, bucket_dir).start()
