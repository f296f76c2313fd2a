"""Log entries: validation, normalisation, severities, timestamps and API errors.

Everything the HTTP layer accepts goes through :func:`normalize_write` before it reaches
storage, so storage only ever sees canonical entries: a UTC timestamp with microseconds and
a ``Z``, a severity name, an insertId, and the request-level defaults already filled in.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

MAX_ENTRY_BYTES = 256 * 1024  # Cloud Logging: 256 KB per LogEntry
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # Cloud Logging: 10 MB per entries.write request
MAX_LABELS = 64  # Cloud Logging: 64 labels per LogEntry
MAX_LABEL_KEY_BYTES = 512  # Cloud Logging: label key 512 B
MAX_LABEL_VALUE_BYTES = 64 * 1024  # Cloud Logging: label value 64 KB
MAX_LOG_ID_CHARS = 512  # Cloud Logging: LOG_ID under 512 characters
# local limits (Cloud Logging documents none, or only indirectly):
MAX_ENTRIES_PER_REQUEST = 10_000  # entries in one entries.write request
MAX_DEPTH = 64  # nesting of any JSON value in a request
MAX_FIELDS_PER_ENTRY = 1_000  # object keys in one entry (all levels together)
MAX_TABLES_PER_REQUEST = 100  # distinct (log, UTC day) pairs in one entries.write request:
#                                       each is a date-sharded table a BigQuery sink may create
MIN_TS_US = -62135596800000000  # 0001-01-01T00:00:00Z
MAX_TS_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z

SEVERITIES = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
SEVERITY_NAMES = {v: k for k, v in SEVERITIES.items()}

ENTRY_FIELDS = {
    "logName",
    "resource",
    "timestamp",
    "receiveTimestamp",
    "severity",
    "insertId",
    "httpRequest",
    "labels",
    "operation",
    "trace",
    "spanId",
    "traceSampled",
    "sourceLocation",
    "split",
    "textPayload",
    "jsonPayload",
    "protoPayload",
    "errorGroups",
    "apphub",
    "apphubDestination",
}
PAYLOADS = ("textPayload", "jsonPayload", "protoPayload")
# proto3 JSON accepts both lowerCamelCase and the original snake_case names.
WRITE_FIELDS = {
    "logName": "logName",
    "log_name": "logName",
    "resource": "resource",
    "labels": "labels",
    "entries": "entries",
    "partialSuccess": "partialSuccess",
    "partial_success": "partialSuccess",
    "dryRun": "dryRun",
    "dry_run": "dryRun",
}

_LOG_NAME = re.compile(r"projects/([^/]+)/logs/(.+)")  # used with fullmatch
_TS = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(?:\.([0-9]{1,9}))?)?[ \t]*(Z|z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "status"}}``."""

    STATUS = {
        400: "INVALID_ARGUMENT",
        404: "NOT_FOUND",
        409: "ALREADY_EXISTS",
        413: "PAYLOAD_TOO_LARGE",
        405: "METHOD_NOT_ALLOWED",
        408: "DEADLINE_EXCEEDED",
        411: "INVALID_ARGUMENT",
        414: "INVALID_ARGUMENT",
        431: "INVALID_ARGUMENT",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        505: "HTTP_VERSION_NOT_SUPPORTED",
    }

    def __init__(self, code: int, message: str, details: list | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.retry_after = retry_after  # seconds: answered as a Retry-After header

    def body(self) -> dict:
        err = {
            "code": self.code,
            "message": self.message,
            "status": self.STATUS.get(self.code, "INVALID_ARGUMENT" if self.code < 500 else "INTERNAL"),
        }
        if self.details:
            err["details"] = self.details
        return {"error": err}


def bad(message: str) -> ApiError:
    return ApiError(400, message)


# ---------------------------------------------------------------- timestamps
def parse_timestamp(text: str) -> int:
    """RFC 3339 (``Z``, ``+00:00`` or ``+0000``; a bare date means midnight UTC) -> epoch µs."""
    m = _TS.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"invalid timestamp {str(text)[:100]!r}")
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=timezone.utc)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"invalid timestamp {text!r}: {e}") from None
    us = (dt - _EPOCH) // timedelta(microseconds=1)
    if frac:
        us += int((frac + "00000")[:6])
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        us -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1_000_000
    if not MIN_TS_US <= us <= MAX_TS_US:
        raise ValueError(f"invalid timestamp {text!r}: outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z")
    return us


def format_timestamp(us: int) -> str:
    """Epoch µs -> ``2024-05-01T12:00:00.123456Z`` (always UTC, always six digits)."""
    dt = _EPOCH + timedelta(microseconds=us)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond:06d}Z"
    )


def now_us() -> int:
    return time.time_ns() // 1000


# ---------------------------------------------------------------- severities
def parse_severity(value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"invalid severity {value!r}")
    if isinstance(value, int):
        if value in SEVERITY_NAMES:
            return value
    elif isinstance(value, str):
        v = value.strip().upper()
        if v in SEVERITIES:
            return SEVERITIES[v]
        if v.isdigit() and int(v) in SEVERITY_NAMES:
            return int(v)
    raise ValueError(f"invalid severity {value!r}; use a name ({', '.join(SEVERITIES)}) or its number")


# ---------------------------------------------------------------- log names
def split_log_name(log_name: str) -> tuple[str, str]:
    """``projects/P/logs/ID`` -> (P, decoded ID); ValueError otherwise."""
    # fullmatch: `$` would also match before a trailing newline
    m = _LOG_NAME.fullmatch(log_name) if isinstance(log_name, str) else None
    if not m or not m.group(2) or len(m.group(2)) > MAX_LOG_ID_CHARS or len(m.group(1)) > 100:
        raise ValueError(f"invalid logName {log_name!r}; expected projects/PROJECT/logs/LOG_ID")
    return m.group(1), unquote(m.group(2))


def canonical_log_name(project: str, log_id: str) -> str:
    """``projects/P/logs/ID`` with the (decoded) log ID URL-encoded, as Cloud Logging stores and
    returns it: ``my-app/requests`` -> ``projects/P/logs/my-app%2Frequests``. The real client
    sends ``client.logger("my-app/requests")`` unencoded; Cloud Logging lists, filters and
    exports the encoded form, so that is the one stored. Only ``/`` and ``%`` are encoded (the
    characters a log ID may hold that a URL path segment cannot), so every other name is
    stored exactly as written."""
    return f"projects/{project}/logs/" + log_id.replace("%", "%25").replace("/", "%2F")


_ids = itertools.count()
_ID_PREFIX = f"{os.getpid() & 0xFFFF:04x}{time.time_ns() & 0xFFFFFF:06x}"


def new_insert_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):010x}"


def search_text(entry: dict) -> str:
    """Lower-cased scalar values of an entry, one per line (keys excluded): what a bare
    global restriction searches."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif v is not None:
            out.append(json.dumps(v))

    walk(entry)
    return "\n".join(out).lower()


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- entries.write
class Row:
    """One canonical entry plus the columns storage indexes."""

    __slots__ = (
        "project",
        "log_name",
        "log_id",
        "ts",
        "receive_ts",
        "severity",
        "insert_id",
        "text_payload",
        "entry",
        "text",
        "seq",
    )

    def __init__(self, entry: dict, project: str, log_id: str, ts: int, rts: int, sev: int):
        self.entry = entry
        self.project, self.log_name, self.log_id = project, entry["logName"], log_id
        self.ts, self.receive_ts, self.severity = ts, rts, sev
        self.insert_id = entry["insertId"]
        self.text_payload = entry.get("textPayload")
        self.text = dumps(entry)
        self.seq = 0  # assigned by the store


def _check_string_map(value, what: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{what} must be a map of string to string")
    if len(value) > MAX_LABELS:
        raise ValueError(f"{what} has {len(value)} labels; at most {MAX_LABELS} are allowed")
    for k, v in value.items():
        if len(k.encode("utf-8", "surrogatepass")) > MAX_LABEL_KEY_BYTES:
            raise ValueError(f"{what} key {k[:40]!r}... is longer than {MAX_LABEL_KEY_BYTES} bytes")
        if len(v) > MAX_LABEL_VALUE_BYTES // 4 and len(v.encode("utf-8", "surrogatepass")) > MAX_LABEL_VALUE_BYTES:
            raise ValueError(f"{what} value of {k[:40]!r} is longer than {MAX_LABEL_VALUE_BYTES} bytes (64 KB)")
    return value


def check_json_value(value, what: str) -> None:
    """Depth, key count, finite numbers and encodable text of a JSON value (iterative: no
    recursion, so any nesting is a clean ValueError)."""
    stack = [(value, 1)]
    keys = 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            if depth > MAX_DEPTH:
                raise ValueError(f"{what} is nested deeper than {MAX_DEPTH} levels")
            if depth > 1:  # fields below the entry's own (they become columns)
                keys += len(v)
            if keys > MAX_FIELDS_PER_ENTRY:
                raise ValueError(f"{what} has more than {MAX_FIELDS_PER_ENTRY} fields")
            for k, x in v.items():
                if not isinstance(k, str):
                    raise ValueError(f"{what}: keys must be strings")
                stack.append((x, depth + 1))
        elif isinstance(v, list):
            if depth > MAX_DEPTH:
                raise ValueError(f"{what} is nested deeper than {MAX_DEPTH} levels")
            stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            continue
        elif isinstance(v, (int, float)):
            try:
                ok = math.isfinite(float(v))
            except OverflowError:
                ok = False
            if not ok:
                raise ValueError(f"{what}: number {str(v)[:40]} is out of range (a finite double is required)")
        else:
            raise ValueError(f"{what}: unsupported value of type {type(v).__name__}")


def _check_resource(res) -> dict:
    if not isinstance(res, dict) or set(res) - {"type", "labels"}:
        raise ValueError("resource must be an object with 'type' and 'labels'")
    if not isinstance(res.get("type", ""), str):
        raise ValueError("resource.type must be a string")
    out = {"type": res.get("type") or "global"}
    if res.get("labels") is not None:
        out["labels"] = _check_string_map(res["labels"], "resource.labels")
    return out


def normalize_entry(raw, defaults: dict, received: int) -> Row:
    """Validate one LogEntry (with request-level defaults) -> Row; ValueError on bad input."""
    if not isinstance(raw, dict):
        raise ValueError("each entry must be a JSON object")
    unknown = set(raw) - ENTRY_FIELDS
    if unknown:
        raise ValueError(f"unknown LogEntry field(s): {', '.join(sorted(unknown))}")
    log_name = raw.get("logName") or defaults.get("logName")
    if not log_name:
        raise ValueError("logName is required (on the entry or the request)")
    project, log_id = split_log_name(log_name)
    entry: dict = {"logName": canonical_log_name(project, log_id)}
    res = raw.get("resource") or defaults.get("resource") or {"type": "global"}
    entry["resource"] = _check_resource(res)
    ts = parse_timestamp(raw["timestamp"]) if raw.get("timestamp") else received
    entry["timestamp"] = format_timestamp(ts)
    entry["receiveTimestamp"] = format_timestamp(received)
    sev = parse_severity(raw["severity"]) if raw.get("severity") is not None else 0
    entry["severity"] = SEVERITY_NAMES[sev]
    iid = raw.get("insertId")
    if iid is not None and not isinstance(iid, str):
        raise ValueError("insertId must be a string")
    entry["insertId"] = iid or new_insert_id()
    labels = dict(defaults.get("labels") or {})
    if raw.get("labels") is not None:
        labels.update(_check_string_map(raw["labels"], "labels"))
    if len(labels) > MAX_LABELS:  # the limit holds for what is stored: after merging
        raise ValueError(
            f"labels has {len(labels)} labels once the request's labels are "
            f"merged with the entry's; at most {MAX_LABELS} are allowed"
        )
    if labels:
        entry["labels"] = labels
    payloads = [p for p in PAYLOADS if raw.get(p) is not None]
    if len(payloads) > 1:
        raise ValueError("only one of textPayload, jsonPayload, protoPayload may be set")
    for p in payloads:
        v = raw[p]
        if p == "textPayload" and not isinstance(v, str):
            raise ValueError("textPayload must be a string")
        if p != "textPayload" and not isinstance(v, dict):
            raise ValueError(f"{p} must be a JSON object")
        entry[p] = v
    for k in ("httpRequest", "operation", "sourceLocation", "split"):
        if raw.get(k) is not None:
            if not isinstance(raw[k], dict):
                raise ValueError(f"{k} must be a JSON object")
            entry[k] = raw[k]
    check_json_value(entry, "the log entry")
    for k in ("trace", "spanId"):
        if raw.get(k) is not None:
            if not isinstance(raw[k], str):
                raise ValueError(f"{k} must be a string")
            entry[k] = raw[k]
    if raw.get("traceSampled") is not None:
        if not isinstance(raw["traceSampled"], bool):
            raise ValueError("traceSampled must be a boolean")
        entry["traceSampled"] = raw["traceSampled"]
    row = Row(entry, project, log_id, ts, received, sev)
    try:
        size = len(row.text.encode("utf-8"))
    except UnicodeEncodeError as e:
        bad_char = row.text[e.start : e.end]
        raise ValueError(
            f"the log entry holds text that is not valid Unicode ({bad_char!r}: a lone UTF-16 surrogate?)"
        ) from None
    if size > MAX_ENTRY_BYTES:
        raise ValueError(
            f"log entry with size {size} bytes exceeds the maximum size of {MAX_ENTRY_BYTES} bytes (256 KB)"
        )
    return row


def normalize_write(body) -> tuple[list[Row], dict[int, str], bool, bool]:
    """Validate an entries.write body -> (rows, {index: error}, partial_success, dry_run)."""
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object")
    unknown = set(body) - set(WRITE_FIELDS)
    if unknown:
        raise bad(f"Invalid JSON payload received. Unknown name(s): {', '.join(sorted(unknown))}")
    body = {WRITE_FIELDS[k]: v for k, v in body.items()}
    entries = body.get("entries")
    if not isinstance(entries, list) or not entries:
        raise bad("entries must be a non-empty list")
    if len(entries) > MAX_ENTRIES_PER_REQUEST:
        raise bad(
            f"{len(entries)} entries in one request; at most {MAX_ENTRIES_PER_REQUEST} are accepted (split the batch)"
        )
    defaults = {}
    try:
        if body.get("logName") is not None:
            split_log_name(body["logName"])
            defaults["logName"] = body["logName"]
        if body.get("resource") is not None:
            defaults["resource"] = _check_resource(body["resource"])
        if body.get("labels") is not None:
            defaults["labels"] = _check_string_map(body["labels"], "labels")
    except (ValueError, TypeError) as e:
        raise bad(str(e)) from None
    for flag in ("partialSuccess", "dryRun"):
        if not isinstance(body.get(flag, False), bool):
            raise bad(f"{flag} must be a boolean")
    received = now_us()
    rows, errors = [], {}
    for i, raw in enumerate(entries):
        try:
            rows.append(normalize_entry(raw, defaults, received))
        except (ValueError, TypeError, RecursionError) as e:
            errors[i] = str(e)
    tables = {(r.log_id, r.ts // 86_400_000_000) for r in rows}
    if len(tables) > MAX_TABLES_PER_REQUEST:
        # every (log, day) is a table a BigQuery sink creates, all on the one applier thread
        days = len({d for _, d in tables})
        raise bad(
            f"the entries of this request fall into {len(tables)} distinct (log, UTC "
            f"day) pairs ({days} days); at most {MAX_TABLES_PER_REQUEST} are accepted "
            "in one request (each becomes a date-sharded table in a BigQuery sink): "
            "split the batch by log and date"
        )
    return rows, errors, bool(body.get("partialSuccess")), bool(body.get("dryRun"))


def partial_errors(errors: dict[int, str], total: int) -> ApiError:
    first = min(errors)
    details = [
        {
            "@type": "type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors",
            "logEntryErrors": {str(i): {"code": 3, "message": m} for i, m in sorted(errors.items())},
        }
    ]
    return ApiError(400, f"{len(errors)} of {total} log entries failed; entry {first}: {errors[first]}", details)
