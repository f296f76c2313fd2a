"""The HTTP side: the Cloud Logging v2 REST paths the google-cloud-logging client calls.

Standard library only (``http.server.ThreadingHTTPServer``, one thread per connection,
HTTP/1.1 keep-alive, at most ``MAX_CONNECTIONS`` at once, idle ones closed after
``Handler.timeout`` seconds). Every handler validates, then talks to :class:`~.store.Store`
through its API. Every error, malformed HTTP included, is a JSON ``google.rpc.Status``.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cloudlog.model import (MAX_DEPTH, MAX_REQUEST_BYTES, ApiError, bad, normalize_write,
                            partial_errors)
from cloudlog.query import FilterError, compile_filter
from cloudlog.sinks import parse_destination
from cloudlog.store import Store

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
WRITER_IDENTITY = "serviceAccount:cloud-logs@local-cloudlog.iam.gserviceaccount.com"
_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,100}$")
_LIST_FIELDS = {"resourceNames": "resourceNames", "resource_names": "resourceNames",
                "projectIds": "projectIds", "project_ids": "projectIds", "filter": "filter",
                "orderBy": "orderBy", "order_by": "orderBy", "pageSize": "pageSize",
                "page_size": "pageSize", "pageToken": "pageToken", "page_token": "pageToken"}
_DISCARD_LIMIT = 64 * 1024 * 1024   # bodies above this are not even drained: the socket closes
_INT = re.compile(r"-?[0-9]{1,18}")
MAX_CONNECTIONS = 256                # open connections; more are answered 503 and closed
IDLE_TIMEOUT_S = 10                  # an idle keep-alive connection is closed after this


def _int(value, what: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or \
            (isinstance(value, str) and not _INT.fullmatch(value)) or \
            (isinstance(value, int) and abs(value) >= 10 ** 18):
        raise bad(f"{what} must be an integer")
    return int(value)


def _json_depth_ok(obj, limit: int = 2 * MAX_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


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
    chunk = items[start:start + size]
    nxt = start + size
    return chunk, (base64.urlsafe_b64encode(str(nxt).encode()).decode()
                   if nxt < len(items) else None)


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
        ]
        self.routes = [(m, re.compile(p + "$"), f) for m, p, f in self.routes]

    def dispatch(self, method: str, raw_path: str, body: bytes | None):
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            query = {k: v[-1] for k, v in parse_qs(parts.query, errors="strict").items()}
        except (ValueError, UnicodeError):
            raise bad("malformed query string") from None
        allowed = False
        for m, rx, fn in self.routes:
            match = rx.match(path)
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
            raise bad(f"Invalid JSON payload received: nested deeper than {MAX_DEPTH} "
                      "levels") from None
        if not _json_depth_ok(data):
            raise bad(f"Invalid JSON payload received: nested deeper than {2 * MAX_DEPTH} levels")
        return data

    # -- entries
    def write(self, data, query):
        rows, errors, partial, dry = normalize_write(data)
        if errors and not partial:
            raise partial_errors(errors, len(rows) + len(errors))
        if rows and not dry:
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
            if v is not None and not (isinstance(v, list) and len(v) <= 100 and
                                      all(isinstance(x, str) for x in v)):
                raise bad(f"{k} must be a list of at most 100 strings")
        names = list(data.get("resourceNames") or [])
        names += [f"projects/{p}" for p in data.get("projectIds") or []]
        if not names:
            raise bad("resourceNames must be a non-empty list like [\"projects/PROJECT_ID\"]")
        projects = []
        for n in names:
            m = re.fullmatch(r"projects/([^/]{1,100})", n)
            if not m:
                raise bad(f"unsupported resource name {n!r}; only projects/PROJECT_ID is served")
            projects.append(m.group(1))
        filter_ = data.get("filter")
        if filter_ is not None and not isinstance(filter_, str):
            raise bad("filter must be a string")
        order = (data.get("orderBy") or "timestamp asc")
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
        texts, nxt = self.store.list_entries(projects, filter_, order.split()[-1] if " " in order
                                             else "asc", min(size or 50, 1000), token or None)
        out = '{"entries":[' + ",".join(texts) + "]"
        if nxt:
            out += ',"nextPageToken":"' + nxt + '"'
        return out + "}"      # pre-serialised: the entries are stored as canonical JSON

    def list_logs(self, project, data, query):
        names = self.store.list_logs(project)
        chunk, nxt = _page(names, query.get("pageSize"), query.get("pageToken"))
        out = {"logNames": chunk}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    def delete_log(self, project, log_id, data, query):
        self.store.delete_log(project, f"projects/{project}/logs/{log_id}")
        return {}

    # -- sinks and metrics
    @staticmethod
    def _kind(plural):
        return "sink" if plural == "sinks" else "metric"

    def _validate(self, kind, body: dict, old: dict | None) -> dict:
        if not isinstance(body, dict):
            raise bad("request body must be a JSON object")
        allowed = ({"name", "destination", "filter", "description", "disabled", "exclusions",
                    "outputVersionFormat", "writerIdentity", "includeChildren", "createTime",
                    "updateTime", "bigqueryOptions"} if kind == "sink" else
                   {"name", "filter", "description", "metricDescriptor", "valueExtractor",
                    "labelExtractors", "bucketOptions", "createTime", "updateTime", "version",
                    "disabled", "bucketName"})
        unknown = set(body) - allowed
        if unknown:
            raise bad(f"Invalid JSON payload received. Unknown name(s): {', '.join(sorted(unknown))}")
        obj = dict(old or {})
        obj.update({k: v for k, v in body.items() if k not in ("createTime", "updateTime",
                                                                "writerIdentity")})
        name = obj.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad(f"invalid {kind} name {name!r}: use 1-100 of A-Z a-z 0-9 _ - .")
        for k in ("filter", "description"):
            if obj.get(k) is not None and not isinstance(obj[k], str):
                raise bad(f"{k} must be a string")
        if kind == "metric" and not obj.get("filter"):
            raise bad("a log-based metric needs a filter")
        if kind == "sink" and obj.get("destination") is not None and \
                not isinstance(obj["destination"], str):
            raise bad("destination must be a string")
        for k in ("disabled", "includeChildren"):
            if obj.get(k) is not None and not isinstance(obj[k], bool):
                raise bad(f"{k} must be a boolean")
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
        items, nxt = _page(self.store.list_config(self._kind(plural), project),
                           query.get("pageSize"), query.get("pageToken"))
        out = {plural: items} if items else {}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    def create_config(self, project, plural, data, query):
        kind = self._kind(plural)
        obj = self._validate(kind, data, None)
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
        if not 0 < bucket <= 10 ** 9:
            raise bad("bucketSeconds must be between 1 and 1000000000")
        try:
            points = self.store.metric_series(project, name, bucket)
        except ValueError as e:
            raise bad(str(e)) from None
        return {"points": [{"start": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "count": n}
                           for t, n in points]}

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudlog-local/1.0"
    timeout = IDLE_TIMEOUT_S   # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True   # headers and body go out as separate writes

    def log_message(self, fmt, *args):  # quiet: the access log would dominate the runtime
        log.debug("%s " + fmt, self.address_string(), *args)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (malformed request line, long URL or headers, unknown
        method) as JSON google.rpc.Status instead of HTML."""
        if code == 501:
            code = 405
            message = f"method {self.command!r} is not supported"
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"     # a status line and headers, always
        self.close_connection = True
        self._send_json(code, ApiError(code, message or "bad request").body(), head=False)

    def _send_json(self, status, result, head=False):
        payload = (result if isinstance(result, str) else json.dumps(result)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _unsupported(self):
        self.close_connection = True
        self._send_json(405, ApiError(405, f"method {self.command} is not supported").body(),
                        head=self.command == "HEAD")

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

    def _handle(self, method):
        app: App = self.server.app
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self.close_connection = True
                raise bad("chunked request bodies are not supported; send Content-Length")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise bad("bad Content-Length") from None
            if length < 0:
                self.close_connection = True
                raise bad("bad Content-Length")
            if length > MAX_REQUEST_BYTES:
                self._discard(length)
                raise ApiError(413, f"Request payload size {length} exceeds the limit: "
                                    f"{MAX_REQUEST_BYTES} bytes (10 MB)")
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                self.close_connection = True
                raise bad("request body shorter than Content-Length")
            status, result = 200, app.dispatch(method, self.path, body)
        except ApiError as e:
            status, result = e.code, e.body()
        except FilterError as e:
            status, result = 400, bad(str(e)).body()
        except RecursionError:
            status, result = 400, bad("the request is nested too deeply").body()
        except Exception as e:  # noqa: BLE001 - a bug answers 500, the server keeps serving
            log.exception("internal error")
            status, result = 500, ApiError(500, f"internal error: {e}").body()
        self._send_json(status, result)

    def _discard(self, length):
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return
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

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            body = json.dumps(ApiError(503, "too many open connections; retry").body()).encode()
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                b"application/json; charset=UTF-8\r\nConnection: close\r\n"
                                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


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
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="cloudlog-http", daemon=True)
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

    def metric_series(self, name: str, bucket_seconds: int = 60, project: str | None = None,
                      start=None, end=None):
        """[(bucket start datetime UTC, count)] for a log-based counter metric."""
        if project is None:
            projects = self.store.metric_projects(name)
            if len(projects) != 1:
                raise KeyError(f"metric {name!r} is defined in {len(projects)} projects; "
                               "pass project=")
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
                raise KeyError(f"{kind} {name!r} is defined in {len(projects)} projects; "
                               "pass project=")
            project = projects[0]
        return self.store.config_errors(kind, project, name)

    def __repr__(self):
        return f"<LocalService {self.endpoint} db={self.store.path}>"


def start_local(db_path="runs/logs.duckdb", port: int = 0, bucket_dir=None) -> LocalService:
    """Start the service on 127.0.0.1 in a background thread; ``.endpoint``, ``.stop()``."""
    return LocalService(Path(db_path) if db_path != ":memory:" else db_path, port,
                        bucket_dir).start()
