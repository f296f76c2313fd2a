"""Checks for chapter 02: a log collector on a local Cloud Logging.

Every check starts its OWN local Cloud Logging service (``cloudlog.start_local`` in a temporary
folder, a random project id) in the grading process and works from its side: it drives the
learner's Flask routes against that service, writes its own entries (random names, keys, texts
with and without ``-a``, severities, times, explicit insertIds), evaluates the learner's filter
strings, sink, SQL and metric on them, and compares with the answer it computed itself.

The learner's functions take a ``logging_client``; a client is not a number the grader can send
into a kernel, so before each call the grader defines a door among the learner's globals
(``learner.bind(DOOR, kernel_door)``, nothing for the notebook to set up): the grader
passes plain strings (its endpoint, its project, the function's name, request parameters) and
the door builds the real client for the grader's service, calls the learner's function, and
returns plain text. Whatever the learner's code returns, only what reached the grader's service
(read back through the client API and SQL) is scored.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import random
import re
import string
import tempfile
import uuid
from pathlib import Path

from checks import engine
from checks.engine import Chapter, CheckFailed, Exercise, expect_equal

TEXT_LOG, STRUCT_LOG, OTHER_LOG = "my-flask-log", "struct_log", "audit_log"
DATASET = "structlog"
METRIC_NAME = "struct_log_minus_a"
SEVERITIES = ["DEFAULT", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"]
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
DIAGNOSTIC_KEY = "logging.googleapis.com/diagnostic"

chapter = Chapter("02", {
    "text_endpoint": Exercise(
        "2.1", "Take the logger named after the post's text log from logging_client, and inside the "
               "'/' route call its log_text with the text (the request's 'text' parameter, or a "
               "generated one); return that same text as the response.",
        "The '/' route writes a text entry"),
    "struct_endpoint": Exercise(
        "2.2", "Same shape as 2.1, with the post's structured logger and log_struct: a dict with "
               "exactly the keys name, text and key, taken from request.args (with defaults). "
               "Return the text.",
        "The '/slog' route writes a structured entry"),
    "predict_not": Exercise(
        "2.3", "NOT f:v is true whenever f:v is not: also for entries that have no field f at all. "
               "Which of the nine entries have no jsonPayload?",
        "Predict what NOT selects"),
    "minus_a_filter": Exercise(
        "2.4", "Two conditions joined with AND: the log name (logName=\"projects/PROJECT/logs/"
               "struct_log\") and the has operator ':' on jsonPayload.text with the quoted value "
               "\"-a\". '=' would compare the whole text.",
        "A filter: struct_log entries whose text contains -a"),
    "key_alert_filter": Exercise(
        "2.5", "Three conditions: the log name, jsonPayload.key compared with '=' (the whole value: "
               "':' would also match longer keys), and severity>=WARNING (severities are ordered).",
        "A filter: one key's warnings and worse"),
    "window_filter": Exercise(
        "2.6", "timestamp>=\"START\" and timestamp<\"END\" (quoted RFC 3339 times; the end is "
               "excluded), the log name, and NOT (or -) in front of the has-condition on the text.",
        "A filter: a time window without -a"),
    "create_sink": Exercise(
        "2.7", "logging_client.sink(name, filter_=..., destination=...).create(). The destination "
               "is bigquery.googleapis.com/projects/PROJECT/datasets/DATASET with the client's own "
               "project (logging_client.project) and the post's dataset; the filter selects the "
               "struct_log log only.",
        "A sink exports struct_log to BigQuery"),
    "daily_sql": Exercise(
        "2.8", "The table is structlog.struct_log_ followed by the day without dashes (day.replace). "
               "SELECT jsonPayload.key, COUNT(*), COUNTIF(jsonPayload.text LIKE '%-a%') ... GROUP BY "
               "the key. Three columns, one row per key.",
        "SQL on the day's table"),
    "minus_a_metric": Exercise(
        "2.9", "logging_client.metric(name, filter_=..., description=...).create() with the "
               "exercise's metric name; the filter is the one you wrote in 2.4 (for the client's "
               "project).",
        "A log-based metric counts -a entries"),
})


# --- the grader's side: its own service, data and queries ----------------------------------

def _quiet_client():
    """The client writes a 'diagnostic' entry the first time a process logs; not here."""
    import google.cloud.logging_v2 as gcl
    gcl._instrumentation_emitted = True


@contextlib.contextmanager
def grader_service():
    """A fresh local service in a temporary folder and a random project: ``(svc, project, client)``."""
    import cloudlog
    _quiet_client()
    with tempfile.TemporaryDirectory(prefix="tfbook-grade02-") as tmp:
        svc = cloudlog.start_local(Path(tmp) / "grader.duckdb")
        try:
            project = "grader-" + uuid.uuid4().hex[:8]
            yield svc, project, cloudlog.client(svc.endpoint, project)
        finally:
            svc.stop()


def query(svc, sql: str, project: str):
    """``svc.query`` for BigQuery-style SQL; project-scoped where the service supports it."""
    try:
        return svc.query(sql, project=project)
    except TypeError as e:
        if "project" not in str(e):
            raise
        return svc.query(sql)


def _word(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


MINUS_A_TEXTS = ["ls -a", "-a at the start", "git commit -a -m {w}", "x-ay {w}", "grep -a {w}", "{w} -a"]
PLAIN_TEXTS = ["ls -l", "This is struct log {w}", "{w} a-b", "git status", "-b {w}", "{w} -x -b"]


def _text(rng: random.Random, minus_a: bool) -> str:
    return rng.choice(MINUS_A_TEXTS if minus_a else PLAIN_TEXTS).format(w=_word(rng))


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_dataset(client, rng: random.Random, now: dt.datetime, n_struct: int = 36,
                  keys: list[str] | None = None, day: dt.datetime | None = None) -> list[dict]:
    """Write the grader's entries (one batch) and return what was written, as plain dicts."""
    keys = keys or _keys(rng)
    rows, pending = [], []
    tag = uuid.uuid4().hex[:6]

    def add(log, payload, severity, when):
        insert_id = f"g{tag}-{len(rows)}"
        rows.append(dict(log=log, payload=payload, severity=severity, time=when, id=insert_id))
        pending.append((log, payload, dict(severity=severity, timestamp=when, insert_id=insert_id)))

    base = day or (now - dt.timedelta(minutes=50))
    span = 49 * 60 if day is None else 23 * 3600

    def when():
        return base + dt.timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))

    for i in range(n_struct):
        minus_a = i % 3 == 0 or rng.random() < 0.2
        # every key gets one WARNING entry without -a first: '>' and '>=' always differ
        key = keys[i] if i < len(keys) else rng.choice(keys)
        severity = "WARNING" if i < len(keys) else rng.choice(SEVERITIES)
        add(STRUCT_LOG, {"name": _word(rng, 4), "text": _text(rng, minus_a and i >= len(keys)), "key": key},
            severity, when())
    if day is None:
        for i in range(8):
            add(TEXT_LOG, _text(rng, i % 2 == 0), rng.choice(SEVERITIES), when())
        for i in range(6):
            # every key also has a WARNING-or-worse entry in another log: a key filter without
            # the log name always selects one too many
            key = keys[i] if i < len(keys) else rng.choice(keys)
            severity = rng.choice(SEVERITIES[SEVERITY_RANK["WARNING"]:] if i < len(keys) else SEVERITIES)
            add(OTHER_LOG, {"name": _word(rng, 4), "text": _text(rng, i % 2 == 0), "key": key}, severity, when())
    # one batch (one request) per log
    by_log: dict = {}
    for log, payload, kw in pending:
        by_log.setdefault(log, []).append((payload, kw))
    for log, items in by_log.items():
        batch = client.logger(log).batch()
        for payload, kw in items:
            (batch.log_struct if isinstance(payload, dict) else batch.log_text)(payload, **kw)
        batch.commit()
    return rows


def _keys(rng: random.Random) -> list[str]:
    """Keys where one is a prefix of another, so ':' and '=' select different entries."""
    stem = _word(rng, 3)
    return [stem, stem + "2", _word(rng, 4), "key-" + _word(rng, 2)]


def _has_minus_a(row) -> bool:
    return isinstance(row["payload"], dict) and "-a" in row["payload"].get("text", "").lower()


def _describe(row) -> str:
    payload = row["payload"]
    what = f"text {payload.get('text')!r}" if isinstance(payload, dict) else f"textPayload {payload!r}"
    return f"{row['log']} {row['severity']} at {rfc3339(row['time'])} {what}"


def selected_ids(client, project: str, filter_: str, what: str) -> set[str]:
    """insertIds the service selects for ``filter_`` (diagnostic entries left out)."""
    from google.api_core import exceptions
    try:
        entries = list(client.list_entries(resource_names=[f"projects/{project}"],
                                           filter_=filter_.strip() or None, page_size=1000))
    except exceptions.GoogleAPICallError as e:
        reason = re.sub(r"^[A-Z]+ https?://\S+: ", "", str(getattr(e, "message", e)))  # no request line
        raise CheckFailed(f"the service refused {what}: {reason}",
                          got=filter_, hint="Check the quotes and the operators (= : >= AND OR NOT).") from None
    return {e.insert_id for e in entries if not (isinstance(e.payload, dict) and DIAGNOSTIC_KEY in e.payload)}


def compare_selection(rows: list[dict], got: set[str], expected: set[str], what: str,
                      meaning: str, filter_: str, hint: str) -> None:
    if got == expected:
        return
    by_id = {r["id"]: r for r in rows}
    extra, missing = sorted(got - expected), sorted(expected - got)
    parts = []
    if extra:
        parts.append(f"selected but wrong: {len(extra)}, e.g. {_describe(by_id[extra[0]])}"
                     if extra[0] in by_id else f"{len(extra)} entries the grader did not write")
    if missing:
        parts.append(f"it misses {len(missing)}, e.g. {_describe(by_id[missing[0]])}")
    raise CheckFailed(f"{what} selects {len(got)} of the grader's {len(rows)} entries; the right "
                      f"answer is {len(expected)} ({meaning}). " + "; ".join(parts),
                      expected=f"{len(expected)} entries", got=f"{len(got)} entries from {filter_!r}",
                      hint=hint)


DOOR = "_tfbook_grader_door"  # a name no learner would choose, defined in the learner's globals


def _door(learner, kind, endpoint, project, function_name, *args) -> str:
    """Call the learner's ``function_name`` with a client for the grader's service."""
    learner.bind(DOOR, kernel_door)  # again on every call: a variant's namespace gets its own door
    try:
        got = learner.call(DOOR, kind, endpoint, project, function_name, *args)
    except CheckFailed as e:
        e.message = e.message.replace(f"`{DOOR}`", f"`{function_name}`")
        raise
    return str(got)


def _what_is(value) -> str:
    """A learner's value as the learner wrote it (``as_plain`` made numbers numpy arrays)."""
    if isinstance(value, dict):
        return "a dict"
    shape = getattr(value, "shape", None)
    if shape == ():
        return f"a number ({value.item()!r})"
    if shape is not None:
        return f"a list or array of shape {shape}"
    return f"a {type(value).__name__}"


def _learner_string(learner, name: str, *args, kind: str = "filter") -> str:
    """The learner's filter (``kind="filter"``) or SQL (``kind="SQL"``) text; anything else fails."""
    hint = f"Build the {kind} as text (an f-string) and return it: `return f\"...\"`."
    try:
        got = learner.call(name, *args)
    except CheckFailed as e:  # as_plain refused the result: not numbers, and not a str either
        if type(e) is not CheckFailed or e.got == "None":
            raise  # not written yet, raised, a dead kernel, a missing `return`: said well already
        returned = e.got or "another kind of object"
        raise CheckFailed(f"`{name}` must return a string (the {kind} text), not {returned}",
                          expected="a str", got=returned, hint=hint) from None
    if not isinstance(got, str):
        raise CheckFailed(f"`{name}` must return a string (the {kind} text), not {_what_is(got)}",
                          expected="a str", got=f"{got!r}"[:80], hint=hint)
    bare = re.sub(r"--[^\n]*|/\*.*?\*/" + ("|;" if kind == "SQL" else ""), "", got, flags=re.DOTALL)
    if not bare.strip():  # nothing but blanks and comments
        raise CheckFailed(f"`{name}` returned an empty {kind}"
                          + (": an empty filter selects every entry" if kind == "filter" else ": nothing to run"),
                          expected=f"the {kind} text", got=repr(got)[:80], hint=hint)
    return got


# --- 2.1, 2.2: the Flask routes --------------------------------------------------------------

def _request(learner, svc, project, route_fn: str, path: str, params: dict) -> tuple[int, str]:
    reply = json.loads(_door(learner, "flask", svc.endpoint, project, route_fn, path, json.dumps(params)))
    return reply["status"], reply["body"]


def _entries(client, project):
    return [e for e in client.list_entries(resource_names=[f"projects/{project}"], page_size=1000)
            if not (isinstance(e.payload, dict) and DIAGNOSTIC_KEY in e.payload)]


def _one_entry(client, project, request: str, route: str):
    entries = _entries(client, project)
    if not entries:
        raise CheckFailed(f"after {request}, no entry reached the grader's service",
                          hint=f"The {route} route must write through the logging_client it is given "
                               "(not a client of its own, and not print).")
    if len(entries) > 1:
        raise CheckFailed(f"after {request}, {len(entries)} entries reached the service; expected one",
                          expected="1 entry", got=", ".join(e.log_name.rsplit('/', 1)[-1] for e in entries),
                          hint="Write exactly one entry per request.")
    return entries[0]


def _check_log_name(entry, project, log_id, request, method):
    expected = f"projects/{project}/logs/{log_id}"
    if entry.log_name != expected:
        raise CheckFailed(f"after {request} the entry went to log '{entry.log_name.rsplit('/', 1)[-1]}'",
                          expected=log_id, got=entry.log_name.rsplit("/", 1)[-1],
                          hint=f"Use the post's logger name: logging_client.logger(\"{log_id}\") and its {method}.")


@chapter.check("text_endpoint", 3, "GET /?text=... writes that text as a text entry to my-flask-log and returns it")
def text_route(learner):
    rng = engine.py_random()
    text = _text(rng, rng.random() < 0.5) + " " + uuid.uuid4().hex[:6]
    request = f"GET /?text={text}"
    with grader_service() as (svc, project, client):
        status, body = _request(learner, svc, project, "add_text_route", "/", {"text": text})
        if status != 200:
            raise CheckFailed(f"{request} answered HTTP {status}", expected=200, got=f"{status}: {body[:120]}",
                              hint="Register the view with @app.route(\"/\") inside add_text_route.")
        entry = _one_entry(client, project, request, "'/'")
        _check_log_name(entry, project, TEXT_LOG, request, "log_text")
        if isinstance(entry.payload, dict):
            raise CheckFailed(f"{request} wrote a structured entry (jsonPayload {entry.payload}); "
                              "'/' writes a text entry (textPayload)", expected="a text entry",
                              got="a JSON entry", hint="Use log_text on '/', log_struct on '/slog'.")
        expect_equal_text(entry.payload, text, f"the textPayload written for {request}",
                          "Write the request's 'text' parameter itself (request.args.get(\"text\")).")
        expect_equal_text(body, text, f"the response body of {request}", "Return the text you logged.")


@chapter.check("text_endpoint", 1, "GET / without parameters logs a generated text and returns the same text")
def text_route_default(learner):
    with grader_service() as (svc, project, client):
        status, body = _request(learner, svc, project, "add_text_route", "/", {})
        if status != 200:
            raise CheckFailed(f"GET / answered HTTP {status}", expected=200, got=f"{status}: {body[:120]}",
                              hint="Without a 'text' parameter, make one up (the post used a random uuid).")
        entry = _one_entry(client, project, "GET /", "'/'")
        _check_log_name(entry, project, TEXT_LOG, "GET /", "log_text")
        if isinstance(entry.payload, dict):
            raise CheckFailed(f"GET / wrote a structured entry (jsonPayload {entry.payload}); '/' writes a "
                              "text entry (textPayload)", expected="a text entry", got="a JSON entry",
                              hint="Use log_text on '/', log_struct on '/slog'.")
        if not isinstance(entry.payload, str) or not entry.payload.strip():
            raise CheckFailed("GET / must log a non-empty text", got=repr(entry.payload)[:80],
                              hint="Without a 'text' parameter, make one up (the post used a random uuid).")
        expect_equal_text(body, entry.payload, "the response body of GET /", "Return the text you logged.")


def expect_equal_text(got, expected, what, hint):
    if got != expected:
        raise CheckFailed(f"{what} is not right", expected=repr(expected), got=repr(got)[:120], hint=hint)


@chapter.check("struct_endpoint", 3, "GET /slog?name=&text=&key= writes {name, text, key} as a JSON entry to struct_log")
def struct_route(learner):
    rng = engine.py_random()
    params = {"name": _word(rng, 6), "text": _text(rng, rng.random() < 0.5), "key": rng.choice(_keys(rng))}
    request = "GET /slog?" + "&".join(f"{k}={v}" for k, v in params.items())
    with grader_service() as (svc, project, client):
        status, body = _request(learner, svc, project, "add_struct_route", "/slog", params)
        if status != 200:
            raise CheckFailed(f"{request} answered HTTP {status}", expected=200, got=f"{status}: {body[:120]}",
                              hint="Register the view with @app.route(\"/slog\") inside add_struct_route.")
        entry = _one_entry(client, project, request, "'/slog'")
        _check_log_name(entry, project, STRUCT_LOG, request, "log_struct")
        if not isinstance(entry.payload, dict):
            raise CheckFailed(f"{request} wrote a text entry (textPayload {entry.payload!r}); '/slog' "
                              "writes a structured entry (jsonPayload)", expected="a JSON entry",
                              got="a text entry", hint="Use log_struct with a dict on '/slog', log_text on '/'.")
        got = {k: entry.payload.get(k) for k in params}
        if got != params:
            wrong = [k for k in params if got[k] != params[k]]
            raise CheckFailed(f"the jsonPayload written for {request} has the wrong "
                              f"{', '.join(wrong)}", expected=json.dumps(params), got=json.dumps(entry.payload),
                              hint="Copy name, text and key from request.args into the dict, under those keys.")
        expect_equal_text(body, params["text"], f"the response body of {request}", "Return the text you logged.")


@chapter.check("struct_endpoint", 1, "GET /slog without parameters still writes name, text and key")
def struct_route_default(learner):
    with grader_service() as (svc, project, client):
        status, body = _request(learner, svc, project, "add_struct_route", "/slog", {})
        if status != 200:
            raise CheckFailed(f"GET /slog answered HTTP {status}", expected=200, got=f"{status}: {body[:120]}",
                              hint="Give every parameter a default (request.args.get(\"name\", \"myterry\")).")
        entry = _one_entry(client, project, "GET /slog", "'/slog'")
        _check_log_name(entry, project, STRUCT_LOG, "GET /slog", "log_struct")
        if not isinstance(entry.payload, dict) or not all(entry.payload.get(k) for k in ("name", "text", "key")):
            raise CheckFailed("GET /slog without parameters must still log name, text and key",
                              got=repr(entry.payload)[:120], hint="Use the defaults the exercise gives.")


# --- 2.3: the prediction ---------------------------------------------------------------------

PREDICT_FILTER = 'NOT jsonPayload.text:"-a"'


@chapter.check("predict_not", 2, "the predicted count matches what the service selects for NOT jsonPayload.text:\"-a\"")
def predict_not(learner):
    got = learner.value("PREDICTED_NOT_COUNT")
    rng = engine.py_random()
    with grader_service() as (svc, project, client):
        texts = [_text(rng, True), _text(rng, False), _text(rng, False), _text(rng, False)]
        for t in texts:
            client.logger(TEXT_LOG).log_text(t)
        for minus_a in (True, True, False, False, False):
            client.logger(STRUCT_LOG).log_struct({"name": _word(rng), "text": _text(rng, minus_a), "key": "k"})
        expected = len(selected_ids(client, project, PREDICT_FILTER, "the prediction's filter"))
    hint = "Count the struct_log entries without -a, then ask what NOT does with the text entries."
    value = got.item() if getattr(got, "shape", None) == () else got
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise CheckFailed(f"PREDICTED_NOT_COUNT must be a whole number (how many entries NOT selects), "
                          f"not {repr(value) if isinstance(value, (bool, int, float)) else _what_is(got)}",
                          expected="a whole number", got=f"{value!r}"[:80],
                          hint="Write the count itself, e.g. PREDICTED_NOT_COUNT = 4: no quotes, no list.")
    if value == 3:
        hint = ("3 counts only struct_log entries: the 4 text entries have no jsonPayload.text, so "
                "jsonPayload.text:\"-a\" is false for them and NOT makes it true.")
    elif value == 6:
        hint = ("The text entry that contains -a has it in textPayload, not in jsonPayload.text: "
                "the condition is false for it too, so NOT selects it.")
    elif value == 2:
        hint = "2 is what the condition itself selects; NOT selects every other entry."
    expect_equal(got, expected, "PREDICTED_NOT_COUNT", hint=hint)


# --- 2.4 - 2.6: filters ------------------------------------------------------------------------

def _filter_case(learner, name, args_of, expected_of, meaning, hint_of):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        rows = write_dataset(client, rng, now)
        args = args_of(project, rows, rng, now)
        filter_ = _learner_string(learner, name, *args)
        expected = {r["id"] for r in rows if expected_of(r, *args)}
        got = selected_ids(client, project, filter_, f"{name}(...)'s filter")
        compare_selection(rows, got, expected, f"{name}({', '.join(map(repr, args))})", meaning, filter_,
                          hint_of(filter_, rows, got, expected))


def _common_hint(filter_: str, rows, got, expected, default: str) -> str:
    by_id = {r["id"]: r for r in rows}
    extra_logs = {by_id[i]["log"] for i in got - expected if i in by_id}
    if extra_logs - {STRUCT_LOG}:
        return (f"Your filter also selects entries of {', '.join(sorted(extra_logs - {STRUCT_LOG}))}: "
                "add the log name, logName=\"projects/PROJECT/logs/struct_log\", with the project you are given.")
    if re.search(r'jsonPayload\.text\s*=\s*"', filter_):
        return ("'=' compares the whole text, so only a text that is exactly -a matches; the has "
                "operator ':' tests for a substring.")
    return default


@chapter.check("minus_a_filter", 3, "minus_a_filter(project) selects exactly the struct_log entries whose text contains -a")
def minus_a_filter(learner):
    _filter_case(learner, "minus_a_filter", lambda project, rows, rng, now: (project,),
                 lambda r, project: r["log"] == STRUCT_LOG and _has_minus_a(r),
                 "struct_log entries whose jsonPayload.text contains -a",
                 lambda f, rows, got, exp: _common_hint(f, rows, got, exp, chapter.exercises["minus_a_filter"].hint))


@chapter.check("key_alert_filter", 3, "key_alert_filter(project, key) selects one key's struct_log entries at WARNING or worse")
def key_alert_filter(learner):
    def args_of(project, rows, rng, now):
        # always a key that another key contains (the stem of stem2): ':' then selects that key's
        # entries too, on every draw, so '=' and ':' never give the same answer by luck
        keys = sorted({r["payload"]["key"] for r in rows if r["log"] == STRUCT_LOG})
        inside = [k for k in keys if any(k != other and k.lower() in other.lower() for other in keys)]
        return project, rng.choice(inside)

    def expected_of(r, project, key):
        return (r["log"] == STRUCT_LOG and r["payload"]["key"] == key
                and SEVERITY_RANK[r["severity"]] >= SEVERITY_RANK["WARNING"])

    def hint_of(f, rows, got, expected):
        by_id = {r["id"]: r for r in rows}
        extra = [by_id[i] for i in got - expected if i in by_id]
        missing = [by_id[i] for i in expected - got if i in by_id]
        if any(r["log"] == STRUCT_LOG and SEVERITY_RANK[r["severity"]] < SEVERITY_RANK["WARNING"] for r in extra):
            return "Some selected entries are below WARNING: severity>=WARNING keeps WARNING, ERROR, CRITICAL..."
        if any(r["log"] == STRUCT_LOG and SEVERITY_RANK[r["severity"]] >= SEVERITY_RANK["WARNING"] for r in extra):
            return ("Entries of another key slipped in: ':' matches any key that contains yours; "
                    "compare the key with '='.")
        if missing and all(r["severity"] == "WARNING" for r in missing):
            return "WARNING itself is missing: use >= rather than >."
        return _common_hint(f, rows, got, expected, chapter.exercises["key_alert_filter"].hint)

    _filter_case(learner, "key_alert_filter", args_of, expected_of,
                 "struct_log entries with exactly that key and severity WARNING or above", hint_of)


@chapter.check("window_filter", 3, "window_filter(project, start, end) selects struct_log entries in [start, end) without -a")
def window_filter(learner):
    def args_of(project, rows, rng, now):
        times = sorted(r["time"] for r in rows if r["log"] == STRUCT_LOG and not _has_minus_a(r))

        def telling(i, j):  # the window holds entries that a filter without NOT / the log name would add
            inside = [r for r in rows if times[i] <= r["time"] < times[j]]
            return (any(r["log"] == STRUCT_LOG and _has_minus_a(r) for r in inside)
                    and any(r["log"] != STRUCT_LOG and not _has_minus_a(r) for r in inside))
        n = len(times)  # first a window over the middle third, else any: an entry without -a stays outside
        good = ([(i, j) for i in range(1, n // 3) for j in range(2 * n // 3, n - 1) if telling(i, j)]
                or [(i, j) for i in range(1, n - 2) for j in range(i + 1, n - 1) if telling(i, j)]
                or [(1, n - 2)])
        i, j = rng.choice(good)
        return project, rfc3339(times[i]), rfc3339(times[j])  # an entry without -a on each edge

    def expected_of(r, project, start, end):
        t = rfc3339(r["time"])
        return r["log"] == STRUCT_LOG and start <= t < end and not _has_minus_a(r)

    def hint_of(f, rows, got, expected):
        by_id = {r["id"]: r for r in rows}
        wrong = [by_id[i] for i in (got ^ expected) if i in by_id]
        if any(_has_minus_a(r) for r in wrong if r["id"] in got):
            return "Entries with -a are selected: put NOT (or -) in front of jsonPayload.text:\"-a\"."
        if wrong and all(r["log"] == STRUCT_LOG and not _has_minus_a(r) for r in wrong):
            return ("The difference is at the window's edges: the start is included (>=), the end is "
                    "excluded (<). Quote both times.")
        return _common_hint(f, rows, got, expected, chapter.exercises["window_filter"].hint)

    _filter_case(learner, "window_filter", args_of, expected_of,
                 "struct_log entries from start (included) to end (excluded) whose text has no -a", hint_of)


# --- 2.7: the sink -----------------------------------------------------------------------------

def _bigquery_destination(project: str) -> str:
    return f"bigquery.googleapis.com/projects/{project}/datasets/{DATASET}"


@chapter.check("create_sink", 2, "create_struct_sink(logging_client) creates a sink to the project's structlog dataset")
def sink_destination(learner):
    with grader_service() as (svc, project, client):
        _door(learner, "client", svc.endpoint, project, "create_struct_sink")
        _the_sink(client, project)


def _the_sink(client, project):
    sinks = list(client.list_sinks())
    if not sinks:
        raise CheckFailed("create_struct_sink created no sink in the grader's project",
                          hint="Call .create() on the sink you build with logging_client.sink(...).")
    expected = _bigquery_destination(project)
    for sink in sinks:
        if sink.destination == expected:
            return sink
    got = sinks[0].destination
    m = re.match(r"bigquery\.googleapis\.com/projects/([^/]+)/datasets/([^/]+)$", got or "")
    if not m:
        hint = "A BigQuery destination reads bigquery.googleapis.com/projects/PROJECT/datasets/DATASET."
    elif m.group(1) != project:
        hint = (f"The destination names project '{m.group(1)}', but the client you were given belongs to "
                f"'{project}': use logging_client.project.")
    else:
        hint = f"The post exported to the dataset '{DATASET}', not '{m.group(2)}'."
    raise CheckFailed("the sink exports to the wrong destination", expected=expected, got=got, hint=hint)


@chapter.check("create_sink", 3, "the sink exports exactly the struct_log entries, with name, key and text columns")
def sink_export(learner):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        _door(learner, "client", svc.endpoint, project, "create_struct_sink")
        sink = _the_sink(client, project)
        rows = write_dataset(client, rng, now)
        expected = {r["id"] for r in rows if r["log"] == STRUCT_LOG}
        got = selected_ids(client, project, sink.filter_ or "", "the sink's filter")
        compare_selection(rows, got, expected, "the sink's filter", "the struct_log entries", sink.filter_ or "",
                          _common_hint(sink.filter_ or "", rows, got, expected,
                                       "The sink's filter is the log name of struct_log, for the client's project."))
        svc.drain()
        days = sorted({r["time"].strftime("%Y%m%d") for r in rows if r["log"] == STRUCT_LOG})
        exported = {}
        for day in days:
            table = f"{DATASET}.{STRUCT_LOG}_{day}"
            try:
                for insert_id, name, key, text in query(
                        svc, f"SELECT insertId, jsonPayload.name, jsonPayload.key, jsonPayload.text FROM {table}", project):
                    exported[insert_id] = {"name": name, "key": key, "text": text}
            except Exception as e:
                raise CheckFailed(f"the exported table {table} cannot be read: {str(e).splitlines()[0]}",
                                  hint="Create the sink before the entries are written; it exports from then on.") from None
        want = {r["id"]: r["payload"] for r in rows if r["log"] == STRUCT_LOG}
        if set(exported) != set(want):
            raise CheckFailed(f"the daily table holds {len(exported)} rows; the grader wrote {len(want)} struct_log entries",
                              expected=len(want), got=len(exported))
        bad = [i for i in want if exported[i] != want[i]]
        if bad:
            raise CheckFailed("exported rows differ from what was written", expected=want[bad[0]], got=exported[bad[0]])


# --- 2.8: SQL on the day's table -------------------------------------------------------------

@chapter.check("daily_sql", 4, "key_report_sql(day) gives (key, entries, entries with -a) per key from that day's table")
def daily_sql(learner):
    rng = engine.py_random()
    day = dt.datetime(rng.randrange(2024, 2026), rng.randrange(1, 13), rng.randrange(1, 28), tzinfo=dt.timezone.utc)
    day_str = day.strftime("%Y-%m-%d")
    with grader_service() as (svc, project, client):
        client.sink("grader-export", filter_=f'logName="projects/{project}/logs/{STRUCT_LOG}"',
                    destination=_bigquery_destination(project)).create()
        keys = _keys(rng)
        rows = write_dataset(client, rng, day, n_struct=40, keys=keys, day=day)
        before = write_dataset(client, rng, day, n_struct=25, keys=keys, day=day - dt.timedelta(days=1))
        svc.drain()
        sql = _learner_string(learner, "key_report_sql", day_str, kind="SQL")

        def report(rs):
            out = {}
            for r in rs:
                k = r["payload"]["key"]
                n, a = out.get(k, (0, 0))
                out[k] = (n + 1, a + ("-a" in r["payload"]["text"]))
            return sorted((k, n, a) for k, (n, a) in out.items())
        expected, yesterday = report(rows), report(before)
        tables = re.findall(r"struct_log_(\d{8})", sql)
        want_table = f"struct_log_{day.strftime('%Y%m%d')}"
        try:
            got = query(svc, sql, project)
        except Exception as e:
            hint = chapter.exercises["daily_sql"].hint
            if tables and tables[0] != want_table[-8:]:
                hint = f"For day {day_str} the table is {DATASET}.{want_table}; your SQL reads struct_log_{tables[0]}."
            raise CheckFailed(f"key_report_sql({day_str!r}) fails on the grader's tables: {str(e).splitlines()[0][:200]}",
                              got=sql[:200], hint=hint) from None
        got = list(got or [])
        try:
            got_rows = sorted((str(r[0]), _count(r[1]), _count(r[2])) for r in got)
        except IndexError:
            raise CheckFailed(f"key_report_sql({day_str!r}) must return three columns: key, entries, entries with -a",
                              got=repr(got[:2])[:200]) from None
        except (TypeError, ValueError, OverflowError):
            raise CheckFailed(f"key_report_sql({day_str!r}) must return whole numbers in its second and third "
                              "columns (entries, entries with -a)", expected="(key, count, count) per row",
                              got=repr(got[:2])[:200],
                              hint="COUNT(*) and COUNTIF(...) (or SUM(CASE ... THEN 1 ELSE 0 END)) give counts.") from None
        if got_rows == expected:
            if any(len(r) != 3 for r in got):
                raise CheckFailed("the query returns extra columns", expected="3 columns", got=f"{len(got[0])} columns")
            return
        hint = "Group by jsonPayload.key; count every row, and count the rows whose text contains -a."
        if got_rows == yesterday or (tables and tables[0] != want_table[-8:]):
            hint = (f"Your SQL reads the table of another day (struct_log_{tables[0] if tables else '?'}); "
                    f"for {day_str} it is {want_table}: build the name from day.")
        raise CheckFailed(f"key_report_sql({day_str!r}) returns other rows than the grader's answer "
                          f"for its {len(rows)} entries of that day", expected=expected, got=got_rows, hint=hint)


def _count(value) -> int:
    """A count from the learner's SQL: an int (or bool, digits, an integral float or decimal)."""
    if isinstance(value, (bool, int, str)):
        return int(value)  # ValueError for text that is not digits
    number = float(value)  # TypeError for dates, lists, ...
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


# --- 2.9: the metric ---------------------------------------------------------------------------

@chapter.check("minus_a_metric", 3, f"create_minus_a_metric(logging_client) creates '{METRIC_NAME}' counting struct_log entries with -a")
def minus_a_metric(learner):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        _door(learner, "client", svc.endpoint, project, "create_minus_a_metric")
        metrics = {m.name: m for m in client.list_metrics()}
        if METRIC_NAME not in metrics:
            raise CheckFailed(f"no metric named '{METRIC_NAME}' in the grader's project",
                              expected=METRIC_NAME, got=", ".join(metrics) or "no metric",
                              hint="Use the metric name the exercise gives, and call .create().")
        metric = metrics[METRIC_NAME]
        rows = write_dataset(client, rng, now)
        expected_ids = {r["id"] for r in rows if r["log"] == STRUCT_LOG and _has_minus_a(r)}
        svc.drain()
        series = svc.metric_series(METRIC_NAME, bucket_seconds=3600, project=project,
                                   start=now - dt.timedelta(hours=2), end=now + dt.timedelta(hours=1))
        counted = int(sum(c for _, c in series))
        got_ids = selected_ids(client, project, metric.filter_ or "", "the metric's filter")
        if counted == len(expected_ids) and got_ids == expected_ids:
            return
        hint = _common_hint(metric.filter_ or "", rows, got_ids, expected_ids,
                            "The metric's filter is your 2.4 filter for the client's project.")
        by_id = {r["id"]: r for r in rows}
        extra = [by_id[i] for i in got_ids - expected_ids if i in by_id]
        if len(got_ids) >= len(rows) - 1 or not (metric.filter_ or "").strip():
            hint = "The metric counts every entry: give it the filter of exercise 2.4."
        elif extra and all(r["log"] == STRUCT_LOG for r in extra):
            hint = ("The metric counts every struct_log entry, not only those whose text contains -a: "
                    "add the has-condition on jsonPayload.text (your 2.4 filter).")
        if counted == len(expected_ids):  # the right number by chance: the filter selects other entries
            raise CheckFailed(f"the metric counted {counted} entries, as many as there are struct_log entries "
                              f"with -a, but its filter selects others: {len(got_ids - expected_ids)} it should "
                              f"not, and it misses {len(expected_ids - got_ids)}", expected=f"{len(expected_ids)} entries",
                              got=f"{len(got_ids)} entries from {metric.filter_!r}", hint=hint)
        raise CheckFailed(f"the metric counted {counted} of the grader's {len(rows)} entries; "
                          f"{len(expected_ids)} are struct_log entries whose text contains -a",
                          expected=len(expected_ids), got=counted, hint=hint)


# --- the door the grader defines in the learner's globals ---------------------------------------------------

def kernel_door(namespace: dict):
    """``door(kind, endpoint, project, function_name, *args)``, bound to a notebook's globals.

    ``kind == "flask"``: a fresh Flask app, ``namespace[function_name](app, client)``, one GET of
    ``args[0]`` with the query parameters in the JSON ``args[1]`` through Flask's test client;
    returns ``{"status", "body"}`` as JSON. ``kind == "client"``: ``namespace[function_name](client,
    *args)``; returns its result as text. Only literals cross; the grader reads its own service.
    """
    def grader_door(kind: str, endpoint: str, project: str, function_name: str, *args) -> str:
        import cloudlog
        _quiet_client()
        if function_name not in namespace:
            raise NotImplementedError(f"{function_name} is not defined yet: run its cell")
        func = namespace[function_name]
        logging_client = cloudlog.client(endpoint, project)
        if kind == "flask":
            from flask import Flask
            app = Flask("grader_probe")
            app.testing = True  # an exception in a view reaches the grader with its message
            func(app, logging_client)
            path, params = args
            response = app.test_client().get(path, query_string=json.loads(params))
            return json.dumps({"status": response.status_code, "body": response.get_data(as_text=True)[:2000]})
        result = func(logging_client, *args)
        return result if isinstance(result, str) else type(result).__name__
    return grader_door
