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
from checks.engine import Chapter, CheckFailed, Exercise
from tfbook.i18n import N_, _, ngettext

TEXT_LOG, STRUCT_LOG, OTHER_LOG = "my-flask-log", "struct_log", "audit_log"
# logs whose names contain struct_log's: a log condition with ':' instead of '=' selects them too
LOOKALIKE_LOGS = ("struct_log2", "old_struct_log")
DATASET = "structlog"
METRIC_NAME = "struct_log_minus_a"
SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
AT_LEAST_WARNING = SEVERITIES[SEVERITY_RANK["WARNING"] :]
DIAGNOSTIC_KEY = "logging.googleapis.com/diagnostic"
ROUTE_BUILDERS = ("add_text_route", "add_struct_route")  # the order create_app adds them in

# Hints come in steps (checks/engine.py, Exercise): ``hint`` is the idea, shown when a check has
# not been attempted yet; each ``next_hints`` step (the API to look up) appears after one more
# failed try. No step is the code itself.
chapter = Chapter(
    "02",
    {
        "text_endpoint": Exercise(
            "2.1",
            N_(
                "Inside add_text_route: get a logger for the post's text log from the client you are "
                "given, register a view for '/' on app, and in the view write the text and return it. "
                "Without a text in the request, make up a new one on every request."
            ),
            N_("The '/' route writes a text entry"),
            next_hints=(
                N_(
                    "The client's logger(name) gives a logger, whose log_text writes a text entry; "
                    "Flask's request.args holds the query parameters; uuid.uuid4() differs on every call."
                ),
            ),
        ),
        "struct_endpoint": Exercise(
            "2.2",
            N_(
                "Like 2.1, with the post's structured log: the view builds a dict with exactly the three "
                "fields the exercise names, each from the query parameters or its default, and writes it "
                "as one structured entry."
            ),
            N_("The '/slog' route writes a structured entry"),
            next_hints=(
                N_(
                    "A logger's log_struct writes a dict as jsonPayload; request.args.get takes the "
                    "default as its second argument. Flask names a route after its view function, so "
                    "the two routes' views need different function names."
                ),
            ),
        ),
        "predict_not": Exercise(
            "2.3",
            N_(
                "Go through the nine entries one by one: is the condition after NOT true or false for "
                "each? NOT selects every entry for which it is false."
            ),
            N_("Predict what NOT selects"),
            next_hints=(
                N_(
                    "A text entry has a textPayload and no jsonPayload at all: what can a condition on "
                    "jsonPayload.text be for it?"
                ),
            ),
            prediction=True,
        ),
        "minus_a_filter": Exercise(
            "2.4",
            N_(
                "Two conditions must both hold: the entry is in the struct_log log of the project you are "
                "given, and its text contains -a anywhere."
            ),
            N_("A filter: struct_log entries whose text contains -a"),
            next_hints=(
                N_(
                    "A log is named by its full logName, projects/PROJECT/logs/LOG_ID; '=' compares a whole "
                    "value, so other logs whose names contain struct_log stay out."
                ),
                N_(
                    "'Contains' is the has operator ':'; a value that starts with '-' needs quotes "
                    "(a bare -a means NOT a)."
                ),
            ),
        ),
        "key_alert_filter": Exercise(
            "2.5",
            N_(
                "Three conditions: the log, a key that is exactly the one given (not merely containing "
                "it), and a severity of WARNING or anything more severe."
            ),
            N_("A filter: one key's warnings and worse"),
            next_hints=(
                N_(
                    "'=' compares the whole value, ':' looks for a substring; severities are ordered, so "
                    "they compare with >, >=, < and <=."
                ),
            ),
        ),
        "window_filter": Exercise(
            "2.6",
            N_(
                "Four conditions: the log, a time at or after start, a time before end (the end itself is "
                "excluded), and a text without -a."
            ),
            N_("A filter: a time window without -a"),
            next_hints=(
                N_(
                    "The timestamp field compares with >= and < against quoted RFC 3339 times; NOT (or a "
                    "leading -) negates the condition that follows it."
                ),
            ),
        ),
        "create_sink": Exercise(
            "2.7",
            N_(
                "A sink is a filter plus a destination: describe one that takes the struct_log log only "
                "and delivers it to the post's BigQuery dataset in the client's own project, create it on "
                "the service, and return the sink itself (the next cell reads its name and destination)."
            ),
            N_("A sink exports struct_log to BigQuery"),
            next_hints=(
                N_(
                    "logging_client.sink builds a sink (filter_ and destination as keywords), its create() "
                    "sends it and returns nothing; the client knows the project it belongs to (one of its "
                    "attributes), and the chapter shows the form of a BigQuery destination."
                ),
            ),
        ),
        "daily_sql": Exercise(
            "2.8",
            N_(
                "One day's rows are in one table, named after the log and the date, in the post's dataset. "
                "Group that table's rows by key and count two things per key: all rows, and the rows "
                "whose text contains -a."
            ),
            N_("SQL on the day's table"),
            next_hints=(
                N_(
                    "The table's date has no dashes (str.replace on day); GROUP BY the key column, with "
                    "COUNT(*) and COUNTIF(condition), and LIKE with % for 'contains'."
                ),
            ),
        ),
        "minus_a_metric": Exercise(
            "2.9",
            N_(
                "A log-based metric is a name plus a filter: the exercise's name, and the filter you wrote "
                "in 2.4 for the client's project; create it on the service and return it."
            ),
            N_("A log-based metric counts -a entries"),
            next_hints=(
                N_(
                    "logging_client.metric builds one (filter_ and description as keywords) and its "
                    "create() sends it; your minus_a_filter takes the client's project."
                ),
            ),
        ),
    },
)


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


def write_dataset(
    client,
    rng: random.Random,
    now: dt.datetime,
    n_struct: int = 36,
    keys: list[str] | None = None,
    day: dt.datetime | None = None,
) -> list[dict]:
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

    # every key gets one entry at each severity from WARNING up, the WARNING one without -a: '>'
    # and '>=' always differ, and so does a list of severities that stops short of EMERGENCY
    fixed = [(key, severity) for key in keys for severity in AT_LEAST_WARNING]
    for i in range(max(n_struct, len(fixed) + 8)):
        if i < len(fixed):
            key, severity = fixed[i]
            minus_a = severity != "WARNING" and rng.random() < 0.4
        else:
            key, severity = rng.choice(keys), rng.choice(SEVERITIES)
            minus_a = i % 3 == 0 or rng.random() < 0.2
        add(STRUCT_LOG, {"name": _word(rng, 4), "text": _text(rng, minus_a), "key": key}, severity, when())
    if day is None:
        for i in range(8):
            add(TEXT_LOG, _text(rng, i % 2 == 0), rng.choice(SEVERITIES), when())
        for i in range(6):
            # every key also has a WARNING-or-worse entry in another log: a key filter without
            # the log name always selects one too many
            key = keys[i] if i < len(keys) else rng.choice(keys)
            severity = rng.choice(AT_LEAST_WARNING if i < len(keys) else SEVERITIES)
            add(OTHER_LOG, {"name": _word(rng, 4), "text": _text(rng, i % 2 == 0), "key": key}, severity, when())
        for log in LOOKALIKE_LOGS:
            # struct_log's own kind of entries (the key that 2.5 asks for, with and without -a, at
            # WARNING or worse) in logs whose names contain struct_log: only logName="..." leaves them out
            for key, severity, minus_a in (
                (keys[0], "WARNING", True),
                (keys[0], "ERROR", False),
                (rng.choice(keys), rng.choice(AT_LEAST_WARNING), True),
                (rng.choice(keys), rng.choice(SEVERITIES), False),
            ):
                # near the middle of the span, so that 2.6's window (around the middle) holds them
                middle = base + dt.timedelta(seconds=span * rng.uniform(0.45, 0.55))
                add(log, {"name": _word(rng, 4), "text": _text(rng, minus_a), "key": key}, severity, middle)
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
    what = (
        _("text {text}").format(text=repr(payload.get("text")))
        if isinstance(payload, dict)
        else f"textPayload {payload!r}"
    )
    return _("{log} {severity} at {time} {what}").format(
        log=row["log"], severity=row["severity"], time=rfc3339(row["time"]), what=what
    )


def selected_ids(client, project: str, filter_: str, what: str) -> set[str]:
    """insertIds the service selects for ``filter_`` (diagnostic entries left out)."""
    from google.api_core import exceptions

    try:
        entries = list(
            client.list_entries(resource_names=[f"projects/{project}"], filter_=filter_.strip() or None, page_size=1000)
        )
    except exceptions.GoogleAPICallError as e:
        reason = re.sub(r"^[A-Z]+ https?://\S+: ", "", str(getattr(e, "message", e)))  # no request line
        raise CheckFailed(
            _("the service refused {what}: {reason}").format(what=what, reason=reason),
            got=filter_,
            hint=_("Check the quotes and the operators (= : >= AND OR NOT)."),
        ) from None
    return {e.insert_id for e in entries if not (isinstance(e.payload, dict) and DIAGNOSTIC_KEY in e.payload)}


# TRANSLATORS: joins two or three names or requests: 'and' and 'or'; GET / and GET /
AND = N_(" and ")

# a lower-case and/or/not standing as a word of its own (outside double quotes)
_LOWER_KEYWORD = re.compile(r"(?<![^\s()])(and|or|not)(?![^\s()])")


def lowercase_keywords(filter_: str) -> list[str]:
    """The lower-case ``and``/``or``/``not`` a filter uses as words. Cloud Logging reads them as
    search words (every entry must contain "and" somewhere), not as operators, and its answer
    cannot warn: such a filter quietly selects nothing, so the check says why."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"?', " ", filter_)  # strings hold text, not operators
    return list(dict.fromkeys(_LOWER_KEYWORD.findall(bare)))


def lowercase_note(filter_: str) -> tuple[str, str] | None:
    """(a sentence for the message, the hint) when ``filter_`` has lower-case keywords."""
    words = lowercase_keywords(filter_)
    if not words:
        return None
    quoted = _(AND).join(repr(w) for w in words)
    return (
        ngettext(
            "; it writes {quoted} in lower case, which the Logging query language reads as a word to "
            "search for (every selected entry must contain it), not as an operator",
            "; it writes {quoted} in lower case, which the Logging query language reads as words to "
            "search for (every selected entry must contain each), not as operators",
            len(words),
        ).format(quoted=quoted),
        ngettext(
            "Write AND, OR and NOT in capitals. In lower case, {quoted} is a search word, here as on "
            "Google Cloud: the filter then selects only entries that contain it, usually none.",
            "Write AND, OR and NOT in capitals. In lower case, {quoted} are search words, here as on "
            "Google Cloud: the filter then selects only entries that contain them, usually none.",
            len(words),
        ).format(quoted=quoted),
    )


ENTRIES = N_("{count} entries")
ENTRIES_FROM = N_("{count} entries from {filter}")


def compare_selection(
    rows: list[dict], got: set[str], expected: set[str], what: str, meaning: str, filter_: str, hint: str
) -> None:
    if got == expected:
        return
    lowercase = lowercase_note(filter_)
    by_id = {r["id"]: r for r in rows}
    extra, missing = sorted(got - expected), sorted(expected - got)
    parts = []
    if extra:
        parts.append(
            _("selected but wrong: {count}, e.g. {entry}").format(count=len(extra), entry=_describe(by_id[extra[0]]))
            if extra[0] in by_id
            else _("{count} entries the grader did not write").format(count=len(extra))
        )
    if missing:
        parts.append(
            _("it misses {count}, e.g. {entry}").format(count=len(missing), entry=_describe(by_id[missing[0]]))
        )
    raise CheckFailed(
        _("{what} selects {got} of the grader's {total} entries; the right answer is {expected} ({meaning}). ").format(
            what=what, got=len(got), total=len(rows), expected=len(expected), meaning=meaning
        )
        + "; ".join(parts)
        + (lowercase[0] if lowercase else ""),
        expected=_(ENTRIES).format(count=len(expected)),
        got=_(ENTRIES_FROM).format(count=len(got), filter=repr(filter_)),
        hint=lowercase[1] if lowercase else hint,
    )


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
        return _("a dict")
    shape = getattr(value, "shape", None)
    if shape == ():
        return _("a number ({value})").format(value=repr(value.item()))
    if shape is not None:
        return _("a list or array of shape {shape}").format(shape=shape)
    return _("a {type}").format(type=type(value).__name__)


MUST_RETURN_TEXT = N_("`{name}` must return a string (the {kind} text), not {returned}")


def _learner_string(learner, name: str, *args, kind: str = "filter") -> str:
    """The learner's filter (``kind="filter"``) or SQL (``kind="SQL"``) text; anything else fails."""
    shown = _("filter") if kind == "filter" else kind  # SQL is SQL in every language
    hint = _('Build the {kind} as text (an f-string) and return it: `return f"..."`.').format(kind=shown)
    try:
        got = learner.call(name, *args)
    except CheckFailed as e:  # as_plain refused the result: not numbers, and not a str either
        if type(e) is not CheckFailed or e.got == "None":
            raise  # not written yet, raised, a dead kernel, a missing `return`: said well already
        returned = e.got or _("another kind of object")
        raise CheckFailed(
            _(MUST_RETURN_TEXT).format(name=name, kind=shown, returned=returned),
            expected=_("a {type}").format(type="str"),
            got=returned,
            hint=hint,
        ) from None
    if not isinstance(got, str):
        raise CheckFailed(
            _(MUST_RETURN_TEXT).format(name=name, kind=shown, returned=_what_is(got)),
            expected=_("a {type}").format(type="str"),
            got=f"{got!r}"[:80],
            hint=hint,
        )
    bare = re.sub(r"--[^\n]*|/\*.*?\*/" + ("|;" if kind == "SQL" else ""), "", got, flags=re.DOTALL)
    if not bare.strip():  # nothing but blanks and comments
        empty = (
            _("`{name}` returned an empty filter: an empty filter selects every entry")
            if kind == "filter"
            else _("`{name}` returned an empty SQL: nothing to run")
        )
        raise CheckFailed(
            empty.format(name=name), expected=_("the {kind} text").format(kind=shown), got=repr(got)[:80], hint=hint
        )
    return got


# --- 2.1, 2.2: the Flask routes --------------------------------------------------------------


def _requests(learner, svc, project, route_fn: str, path: str, *params: dict) -> list[tuple[int, str]]:
    """GET ``path`` once per ``params`` (one app, in order): [(status, body)].

    The door builds the app as the chapter's create_app does (both routes on one app, the text
    route first), so a view name that the other route already uses fails here as it fails there."""
    reply = json.loads(_door(learner, "flask", svc.endpoint, project, route_fn, path, json.dumps(params)))
    if "taken" in reply:
        before = [name for name in reply["before"] if name != route_fn]
        where = (
            _("as a view that {names} registered before it").format(names=_(AND).join(f"`{b}`" for b in before))
            if before
            else _("as another view it registers")
        )
        raise CheckFailed(
            _(
                "`{function}` registers a view function named '{view}', the same name {where}: "
                "Flask names each route's endpoint after its view function, so create_app, which "
                'puts both routes on one app, fails with "View function mapping is overwriting '
                'an existing endpoint function"'
            ).format(function=route_fn, view=reply["taken"], where=where),
            expected=_("a view function with a name of its own"),
            got=reply["taken"],
            hint=_("Give each route's view function its own name."),
        )
    return [(r["status"], r["body"]) for r in reply["replies"]]


def _entries(client, project):
    return [
        e
        for e in client.list_entries(resource_names=[f"projects/{project}"], page_size=1000)
        if not (isinstance(e.payload, dict) and DIAGNOSTIC_KEY in e.payload)
    ]


def _one_entry_each(client, project, requests: list[str], route: str):
    """The entries that ``requests`` wrote, one each, in order."""
    entries = _entries(client, project)
    sent = _(AND).join(requests)
    if not entries:
        raise CheckFailed(
            _("after {requests}, no entry reached the grader's service").format(requests=sent),
            hint=_(
                "The {route} route must write through the logging_client it is given "
                "(not a client of its own, and not print)."
            ).format(route=route),
        )
    if len(entries) != len(requests):
        raise CheckFailed(
            _("after {requests}, {entries} reached the service; expected {expected}, one per request").format(
                requests=sent, entries=_n_entries(len(entries)), expected=len(requests)
            ),
            expected=_n_entries(len(requests)),
            got=", ".join(e.log_name.rsplit("/", 1)[-1] for e in entries),
            hint=_("Write exactly one entry per request."),
        )
    return entries


def _n_entries(n: int) -> str:
    return ngettext("{n} entry", "{n} entries", n).format(n=n)


def _check_log_name(entry, project, log_id, request, method):
    expected = f"projects/{project}/logs/{log_id}"
    if entry.log_name != expected:
        raise CheckFailed(
            _("after {request} the entry went to log '{log}'").format(
                request=request, log=entry.log_name.rsplit("/", 1)[-1]
            ),
            expected=log_id,
            got=entry.log_name.rsplit("/", 1)[-1],
            hint=_("Take the logger of the post's log name, {log}, and write with its {method}.").format(
                log=log_id, method=method
            ),
        )


def _expect_ok(status, body, request, hint):
    if status != 200:
        raise CheckFailed(
            _("{request} answered HTTP {status}").format(request=request, status=status),
            expected=200,
            got=f"{status}: {body[:120]}",
            hint=hint,
        )


A_TEXT_ENTRY, A_JSON_ENTRY = N_("a text entry"), N_("a JSON entry")


def _expect_text_entry(entry, request):
    if isinstance(entry.payload, dict):
        raise CheckFailed(
            _(
                "{request} wrote a structured entry (jsonPayload {payload}); '/' writes a text entry (textPayload)"
            ).format(request=request, payload=entry.payload),
            expected=_(A_TEXT_ENTRY),
            got=_(A_JSON_ENTRY),
            hint=_("Use log_text on '/', log_struct on '/slog'."),
        )


def _expect_struct_entry(entry, request):
    if not isinstance(entry.payload, dict):
        raise CheckFailed(
            _(
                "{request} wrote a text entry (textPayload {payload}); '/slog' writes a structured entry (jsonPayload)"
            ).format(request=request, payload=repr(entry.payload)),
            expected=_(A_JSON_ENTRY),
            got=_(A_TEXT_ENTRY),
            hint=_("Use log_struct with a dict on '/slog', log_text on '/'."),
        )


STRUCT_FIELDS = ("name", "text", "key")


def _expect_struct_fields(payload: dict, request: str):
    """Exactly the exercise's three fields: the sink's table and the SQL read those columns."""
    extra = sorted(set(payload) - set(STRUCT_FIELDS))
    if extra:
        raise CheckFailed(
            _("the jsonPayload written for {request} has fields the exercise does not ask for: {fields}").format(
                request=request, fields=", ".join(extra)
            ),
            expected=", ".join(STRUCT_FIELDS),
            got=", ".join(payload),
            hint=_("Write a dict with exactly the three fields name, text and key."),
        )


def _expect_new_texts(texts: list, request: str, route: str):
    if len(set(texts)) < len(texts):
        raise CheckFailed(
            _(
                "two {request} requests logged the same default text {text}; each request should make up a new one"
            ).format(request=request, text=repr(texts[0])),
            expected=_("a different text per request"),
            got=_("{text} twice").format(text=repr(texts[0]))[:120],
            hint=_(
                "Make the default text inside the {route} view, when a request arrives "
                "(a text made once, outside the view, is the same for every "
                "request)."
            ).format(route=route),
        )


RESPONSE_BODY = N_("the response body of {request}")
RETURN_THE_TEXT = N_("Return the text you logged.")
MAKE_ONE_UP = N_("Without a 'text' parameter, make one up (the post used a random uuid).")


@chapter.check("text_endpoint", 3, N_("GET /?text=... writes that text as a text entry to my-flask-log and returns it"))
def text_route(learner):
    rng = engine.py_random()
    text = _text(rng, rng.random() < 0.5) + " " + uuid.uuid4().hex[:6]
    request = f"GET /?text={text}"
    with grader_service() as (svc, project, client):
        [(status, body)] = _requests(learner, svc, project, "add_text_route", "/", {"text": text})
        _expect_ok(
            status,
            body,
            request,
            _("Inside add_text_route, register a view for '/' on the app you are given (Flask's route decorator)."),
        )
        [entry] = _one_entry_each(client, project, [request], "'/'")
        _check_log_name(entry, project, TEXT_LOG, request, "log_text")
        _expect_text_entry(entry, request)
        expect_equal_text(
            entry.payload,
            text,
            _("the textPayload written for {request}").format(request=request),
            _("Write the request's 'text' parameter itself (request.args.get(\"text\"))."),
        )
        expect_equal_text(body, text, _(RESPONSE_BODY).format(request=request), _(RETURN_THE_TEXT))


@chapter.check("text_endpoint", 1, N_("GET / without parameters logs a new generated text per request and returns it"))
def text_route_default(learner):
    with grader_service() as (svc, project, client):
        replies = _requests(learner, svc, project, "add_text_route", "/", {}, {})
        for status, body in replies:
            _expect_ok(status, body, "GET /", _(MAKE_ONE_UP))
        entries = _one_entry_each(client, project, ["GET /", "GET /"], "'/'")
        for entry, (_status, body) in zip(entries, replies):
            _check_log_name(entry, project, TEXT_LOG, "GET /", "log_text")
            _expect_text_entry(entry, "GET /")
            if not isinstance(entry.payload, str) or not entry.payload.strip():
                raise CheckFailed(
                    _("GET / must log a non-empty text"), got=repr(entry.payload)[:80], hint=_(MAKE_ONE_UP)
                )
            expect_equal_text(body, entry.payload, _(RESPONSE_BODY).format(request="GET /"), _(RETURN_THE_TEXT))
        _expect_new_texts([e.payload for e in entries], "GET /", "'/'")


def expect_equal_text(got, expected, what, hint):
    if got != expected:
        raise CheckFailed(
            _("{what} is not right").format(what=what), expected=repr(expected), got=repr(got)[:120], hint=hint
        )


@chapter.check(
    "struct_endpoint",
    3,
    N_("GET /slog?name=&text=&key= writes exactly {name, text, key} as a JSON entry to struct_log"),
)
def struct_route(learner):
    rng = engine.py_random()
    params = {"name": _word(rng, 6), "text": _text(rng, rng.random() < 0.5), "key": rng.choice(_keys(rng))}
    request = "GET /slog?" + "&".join(f"{k}={v}" for k, v in params.items())
    with grader_service() as (svc, project, client):
        [(status, body)] = _requests(learner, svc, project, "add_struct_route", "/slog", params)
        _expect_ok(
            status,
            body,
            request,
            _(
                "Inside add_struct_route, register a view for '/slog' on the app "
                "you are given (Flask's route decorator)."
            ),
        )
        [entry] = _one_entry_each(client, project, [request], "'/slog'")
        _check_log_name(entry, project, STRUCT_LOG, request, "log_struct")
        _expect_struct_entry(entry, request)
        got = {k: entry.payload.get(k) for k in params}
        if got != params:
            wrong = [k for k in params if got[k] != params[k]]
            raise CheckFailed(
                _("the jsonPayload written for {request} has the wrong {fields}").format(
                    request=request, fields=", ".join(wrong)
                ),
                expected=json.dumps(params),
                got=json.dumps(entry.payload),
                hint=_("Copy name, text and key from request.args into the dict, under those keys."),
            )
        _expect_struct_fields(entry.payload, request)
        expect_equal_text(body, params["text"], _(RESPONSE_BODY).format(request=request), _(RETURN_THE_TEXT))


@chapter.check(
    "struct_endpoint", 1, N_("GET /slog without parameters still writes name, text and key, a new text per request")
)
def struct_route_default(learner):
    with grader_service() as (svc, project, client):
        replies = _requests(learner, svc, project, "add_struct_route", "/slog", {}, {})
        for status, body in replies:
            _expect_ok(
                status,
                body,
                "GET /slog",
                _("Give every parameter a default (request.args.get takes one as its second argument)."),
            )
        entries = _one_entry_each(client, project, ["GET /slog", "GET /slog"], "'/slog'")
        for entry in entries:
            _check_log_name(entry, project, STRUCT_LOG, "GET /slog", "log_struct")
            _expect_struct_entry(entry, "GET /slog")
            if not all(entry.payload.get(k) for k in STRUCT_FIELDS):
                raise CheckFailed(
                    _("GET /slog without parameters must still log name, text and key"),
                    got=repr(entry.payload)[:120],
                    hint=_("Use the defaults the exercise gives."),
                )
            _expect_struct_fields(entry.payload, "GET /slog")
        _expect_new_texts([e.payload.get("text") for e in entries], "GET /slog", "'/slog'")


# --- 2.3: the prediction ---------------------------------------------------------------------

PREDICT_FILTER = 'NOT jsonPayload.text:"-a"'
NOT_SELECTS = N_("the number of entries NOT selects")


@chapter.check(
    "predict_not", 2, N_('the predicted count matches what the service selects for NOT jsonPayload.text:"-a"')
)
def predict_not(learner):
    got = learner.value("PREDICTED_NOT_COUNT")
    rng = engine.py_random()
    with grader_service() as (svc, project, client):
        texts = [_text(rng, True), _text(rng, False), _text(rng, False), _text(rng, False)]
        for t in texts:
            client.logger(TEXT_LOG).log_text(t)
        for minus_a in (True, True, False, False, False):
            client.logger(STRUCT_LOG).log_struct({"name": _word(rng), "text": _text(rng, minus_a), "key": "k"})
        expected = len(selected_ids(client, project, PREDICT_FILTER, _("the prediction's filter")))
    value = got.item() if getattr(got, "shape", None) == () else got
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise CheckFailed(
            _("PREDICTED_NOT_COUNT must be a whole number (how many entries NOT selects), not {value}").format(
                value=repr(value) if isinstance(value, (bool, int, float)) else _what_is(got)
            ),
            expected=_("a whole number"),
            got=f"{value!r}"[:80],
            hint=_("Write the count itself, e.g. PREDICTED_NOT_COUNT = 4: no quotes, no list."),
        )
    # a wrong guess learns which way and roughly how far, never the count: the next cell shows it
    hint = chapter.exercises["predict_not"].hint
    if value == 3:
        hint = _(
            'You counted only struct_log entries. What is jsonPayload.text:"-a" for an entry that has '
            "no jsonPayload at all, and what does NOT make of that?"
        )
    elif value == 6:
        hint = _('Where does the text entry "ls -a" keep its text? Is jsonPayload.text:"-a" true for it?')
    elif value == 2:
        hint = _("That is what the condition itself selects; NOT selects the other entries.")
    if value <= 0:
        raise CheckFailed(
            _("PREDICTED_NOT_COUNT {value} is not right: it is too low, NOT selects some of the nine entries").format(
                value=f"{value:g}"
            ),
            expected=_(NOT_SELECTS),
            got=_("{value} (too low)").format(value=f"{value:g}"),
            hint=hint,
        )
    try:
        engine.judge_prediction(float(value), float(expected), 0, "PREDICTED_NOT_COUNT", hint=hint)
    except CheckFailed as e:
        e.expected = _(NOT_SELECTS)
        raise


# --- 2.4 - 2.6: filters ------------------------------------------------------------------------


def _filter_case(learner, name, args_of, expected_of, meaning, hint_of):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        rows = write_dataset(client, rng, now)
        args = args_of(project, rows, rng, now)
        filter_ = _learner_string(learner, name, *args)
        expected = {r["id"] for r in rows if expected_of(r, *args)}
        got = selected_ids(client, project, filter_, _("{name}(...)'s filter").format(name=name))
        compare_selection(
            rows,
            got,
            expected,
            f"{name}({', '.join(map(repr, args))})",
            meaning,
            filter_,
            hint_of(filter_, rows, got, expected),
        )


def _common_hint(filter_: str, rows, got, expected, default: str) -> str:
    by_id = {r["id"]: r for r in rows}
    extra_logs = {by_id[i]["log"] for i in got - expected if i in by_id}
    others = extra_logs - {STRUCT_LOG}
    if others and others <= set(LOOKALIKE_LOGS):
        return _(
            "Your filter also selects entries of {logs}, whose names contain struct_log: ':' on logName "
            "looks for a substring; compare the whole log name with '='."
        ).format(logs=", ".join(sorted(others)))
    if others:
        return _(
            "Your filter also selects entries of {logs}: add the log name, "
            'logName="projects/PROJECT/logs/struct_log", with the project you are '
            "given."
        ).format(logs=", ".join(sorted(others)))
    if re.search(r'jsonPayload\.text\s*=\s*"', filter_):
        return _(
            "'=' compares the whole text, so only a text that is exactly -a matches; the has "
            "operator ':' tests for a substring."
        )
    return default


@chapter.check(
    "minus_a_filter", 3, N_("minus_a_filter(project) selects exactly the struct_log entries whose text contains -a")
)
def minus_a_filter(learner):
    _filter_case(
        learner,
        "minus_a_filter",
        lambda project, rows, rng, now: (project,),
        lambda r, project: r["log"] == STRUCT_LOG and _has_minus_a(r),
        _("struct_log entries whose jsonPayload.text contains -a"),
        lambda f, rows, got, exp: _common_hint(f, rows, got, exp, chapter.exercises["minus_a_filter"].hint),
    )


@chapter.check(
    "key_alert_filter", 3, N_("key_alert_filter(project, key) selects one key's struct_log entries at WARNING or worse")
)
def key_alert_filter(learner):
    def args_of(project, rows, rng, now):
        # always a key that another key contains (the stem of stem2): ':' then selects that key's
        # entries too, on every draw, so '=' and ':' never give the same answer by luck
        keys = sorted({r["payload"]["key"] for r in rows if r["log"] == STRUCT_LOG})
        inside = [k for k in keys if any(k != other and k.lower() in other.lower() for other in keys)]
        return project, rng.choice(inside)

    def expected_of(r, project, key):
        return (
            r["log"] == STRUCT_LOG
            and r["payload"]["key"] == key
            and SEVERITY_RANK[r["severity"]] >= SEVERITY_RANK["WARNING"]
        )

    def hint_of(f, rows, got, expected):
        by_id = {r["id"]: r for r in rows}
        extra = [by_id[i] for i in got - expected if i in by_id]
        missing = [by_id[i] for i in expected - got if i in by_id]
        if any(r["log"] == STRUCT_LOG and SEVERITY_RANK[r["severity"]] < SEVERITY_RANK["WARNING"] for r in extra):
            return _("Some selected entries are below WARNING: severity>=WARNING keeps WARNING, ERROR, CRITICAL...")
        if any(r["log"] == STRUCT_LOG and SEVERITY_RANK[r["severity"]] >= SEVERITY_RANK["WARNING"] for r in extra):
            return _(
                "Entries of another key slipped in: ':' matches any key that contains yours; compare the key with '='."
            )
        if missing and all(r["severity"] == "WARNING" for r in missing):
            return _("WARNING itself is missing: use >= rather than >.")
        if missing and all(SEVERITY_RANK[r["severity"]] > SEVERITY_RANK["WARNING"] for r in missing):
            return _(
                "Entries at {severities} are missing: every severity above WARNING counts, up to EMERGENCY "
                "(severities are ordered)."
            ).format(severities=", ".join(sorted({r["severity"] for r in missing})))
        return _common_hint(f, rows, got, expected, chapter.exercises["key_alert_filter"].hint)

    _filter_case(
        learner,
        "key_alert_filter",
        args_of,
        expected_of,
        _("struct_log entries with exactly that key and severity WARNING or above"),
        hint_of,
    )


@chapter.check(
    "window_filter", 3, N_("window_filter(project, start, end) selects struct_log entries in [start, end) without -a")
)
def window_filter(learner):
    def args_of(project, rows, rng, now):
        times = sorted(r["time"] for r in rows if r["log"] == STRUCT_LOG and not _has_minus_a(r))

        def telling(i, j):  # the window holds entries that a filter without NOT / the log name would add
            inside = [r for r in rows if times[i] <= r["time"] < times[j]]
            return (
                any(r["log"] == STRUCT_LOG and _has_minus_a(r) for r in inside)
                and any(r["log"] in LOOKALIKE_LOGS and not _has_minus_a(r) for r in inside)
                and any(r["log"] in (TEXT_LOG, OTHER_LOG) and not _has_minus_a(r) for r in inside)
            )

        n = len(times)  # first a window over the middle third, else any: an entry without -a stays outside
        good = (
            [(i, j) for i in range(1, n // 3) for j in range(2 * n // 3, n - 1) if telling(i, j)]
            or [(i, j) for i in range(1, n - 2) for j in range(i + 1, n - 1) if telling(i, j)]
            or [(1, n - 2)]
        )
        i, j = rng.choice(good)
        return project, rfc3339(times[i]), rfc3339(times[j])  # an entry without -a on each edge

    def expected_of(r, project, start, end):
        t = rfc3339(r["time"])
        return r["log"] == STRUCT_LOG and start <= t < end and not _has_minus_a(r)

    def hint_of(f, rows, got, expected):
        by_id = {r["id"]: r for r in rows}
        wrong = [by_id[i] for i in (got ^ expected) if i in by_id]
        if any(_has_minus_a(r) for r in wrong if r["id"] in got):
            return _('Entries with -a are selected: put NOT (or -) in front of jsonPayload.text:"-a".')
        if wrong and all(r["log"] == STRUCT_LOG and not _has_minus_a(r) for r in wrong):
            return _(
                "The difference is at the window's edges: the start is included (>=), the end is "
                "excluded (<). Quote both times."
            )
        return _common_hint(f, rows, got, expected, chapter.exercises["window_filter"].hint)

    _filter_case(
        learner,
        "window_filter",
        args_of,
        expected_of,
        _("struct_log entries from start (included) to end (excluded) whose text has no -a"),
        hint_of,
    )


# --- 2.7: the sink -----------------------------------------------------------------------------


def _bigquery_destination(project: str) -> str:
    return f"bigquery.googleapis.com/projects/{project}/datasets/{DATASET}"


@chapter.check(
    "create_sink", 2, N_("create_struct_sink(logging_client) creates a sink to the project's structlog dataset")
)
def sink_destination(learner):
    with grader_service() as (svc, project, client):
        returned = json.loads(_door(learner, "object", svc.endpoint, project, "create_struct_sink"))
        sink = _the_sink(client, project)
        _expect_the_sink_returned(returned, sink)


def _expect_the_sink_returned(returned: dict, sink) -> None:
    """The chapter's next cell reads the returned sink's name, filter_ and destination."""
    if returned["type"] == "NoneType":
        raise CheckFailed(
            _(
                "create_struct_sink created the sink but returned None; the chapter's next cell "
                "reads the sink it returns (sink.name, sink.destination)"
            ),
            expected=_("the sink"),
            got="None",
            hint=_("create() returns nothing: return the sink object you created."),
        )
    if returned["name"] != sink.name or returned["destination"] != sink.destination:
        got = (
            _("a {type} named {name}").format(type=returned["type"], name=repr(returned["name"]))
            if returned["name"] is not None
            else _("a {type} (no name, destination, filter_)").format(type=returned["type"])
        )
        raise CheckFailed(
            _(
                "create_struct_sink must return the sink it created ({name}, exporting to {destination}), not {got}"
            ).format(name=repr(sink.name), destination=sink.destination, got=got),
            expected=_("the sink {name}").format(name=repr(sink.name)),
            got=got,
            hint=_("Return the sink object itself, the one you called create() on."),
        )


def _the_sink(client, project):
    sinks = list(client.list_sinks())
    if not sinks:
        raise CheckFailed(
            _("create_struct_sink created no sink in the grader's project"),
            hint=_("Building a sink changes nothing on the service until you call its create()."),
        )
    expected = _bigquery_destination(project)
    for sink in sinks:
        if sink.destination == expected:
            return sink
    got = sinks[0].destination
    m = re.match(r"bigquery\.googleapis\.com/projects/([^/]+)/datasets/([^/]+)$", got or "")
    if not m:
        hint = _("A BigQuery destination reads bigquery.googleapis.com/projects/PROJECT/datasets/DATASET.")
    elif m.group(1) != project:
        hint = _(
            "The destination names project '{named}', but the client you were given belongs to "
            "'{project}': take the project from the client instead of writing it."
        ).format(named=m.group(1), project=project)
    else:
        hint = _("The post exported to the dataset '{dataset}', not '{named}'.").format(
            dataset=DATASET, named=m.group(2)
        )
    raise CheckFailed(_("the sink exports to the wrong destination"), expected=expected, got=got, hint=hint)


@chapter.check("create_sink", 3, N_("the sink exports exactly the struct_log entries, with name, key and text columns"))
def sink_export(learner):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        _door(learner, "client", svc.endpoint, project, "create_struct_sink")
        sink = _the_sink(client, project)
        rows = write_dataset(client, rng, now)
        expected = {r["id"] for r in rows if r["log"] == STRUCT_LOG}
        got = selected_ids(client, project, sink.filter_ or "", _("the sink's filter"))
        compare_selection(
            rows,
            got,
            expected,
            _("the sink's filter"),
            _("the struct_log entries"),
            sink.filter_ or "",
            _common_hint(
                sink.filter_ or "",
                rows,
                got,
                expected,
                _("The sink's filter is the log name of struct_log, for the client's project."),
            ),
        )
        svc.drain()
        days = sorted({r["time"].strftime("%Y%m%d") for r in rows if r["log"] == STRUCT_LOG})
        exported = {}
        for day in days:
            table = f"{DATASET}.{STRUCT_LOG}_{day}"
            try:
                for insert_id, name, key, text in query(
                    svc, f"SELECT insertId, jsonPayload.name, jsonPayload.key, jsonPayload.text FROM {table}", project
                ):
                    exported[insert_id] = {"name": name, "key": key, "text": text}
            except Exception as e:
                raise CheckFailed(
                    _("the exported table {table} cannot be read: {error}").format(
                        table=table, error=str(e).splitlines()[0]
                    ),
                    hint=_("Create the sink before the entries are written; it exports from then on."),
                ) from None
        want = {r["id"]: r["payload"] for r in rows if r["log"] == STRUCT_LOG}
        if set(exported) != set(want):
            raise CheckFailed(
                _("the daily table holds {rows} rows; the grader wrote {entries} struct_log entries").format(
                    rows=len(exported), entries=len(want)
                ),
                expected=len(want),
                got=len(exported),
            )
        bad = [i for i in want if exported[i] != want[i]]
        if bad:
            raise CheckFailed(
                _("exported rows differ from what was written"), expected=want[bad[0]], got=exported[bad[0]]
            )


# --- 2.8: SQL on the day's table -------------------------------------------------------------

COLUMNS = N_("{count} columns")


@chapter.check(
    "daily_sql", 4, N_("key_report_sql(day) gives (key, entries, entries with -a) per key from that day's table")
)
def daily_sql(learner):
    rng = engine.py_random()
    day = dt.datetime(rng.randrange(2024, 2026), rng.randrange(1, 13), rng.randrange(1, 28), tzinfo=dt.timezone.utc)
    day_str = day.strftime("%Y-%m-%d")
    with grader_service() as (svc, project, client):
        client.sink(
            "grader-export",
            filter_=f'logName="projects/{project}/logs/{STRUCT_LOG}"',
            destination=_bigquery_destination(project),
        ).create()
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
        except PermissionError:  # the service runs SQL without file access (the grader's machine)
            raise CheckFailed(
                _("key_report_sql({day}) reads or writes a file; the SQL may read the exported tables only").format(
                    day=repr(day_str)
                ),
                expected=_("a SELECT on the day's table"),
                got=sql[:200],
                hint=_("Read the day's table of the post's dataset, and nothing else."),
            ) from None
        except Exception as e:
            hint = chapter.exercises["daily_sql"].hint
            if "one SELECT statement" in str(e):
                hint = _("Return one SELECT statement: no COPY, no second statement after a ';'.")
            if tables and tables[0] != want_table[-8:]:
                hint = _("For day {day} the table is {table}; your SQL reads struct_log_{read}.").format(
                    day=day_str, table=f"{DATASET}.{want_table}", read=tables[0]
                )
            raise CheckFailed(
                _("key_report_sql({day}) fails on the grader's tables: {error}").format(
                    day=repr(day_str), error=str(e).splitlines()[0][:200]
                ),
                got=sql[:200],
                hint=hint,
            ) from None
        got = list(got or [])
        try:
            got_rows = sorted((str(r[0]), _count(r[1]), _count(r[2])) for r in got)
        except IndexError:
            raise CheckFailed(
                _("key_report_sql({day}) must return three columns: key, entries, entries with -a").format(
                    day=repr(day_str)
                ),
                got=repr(got[:2])[:200],
            ) from None
        except (TypeError, ValueError, OverflowError):
            raise CheckFailed(
                _(
                    "key_report_sql({day}) must return whole numbers in its second and third "
                    "columns (entries, entries with -a)"
                ).format(day=repr(day_str)),
                expected=_("(key, count, count) per row"),
                got=repr(got[:2])[:200],
                hint=_("COUNT(*) and COUNTIF(...) (or SUM(CASE ... THEN 1 ELSE 0 END)) give counts."),
            ) from None
        if got_rows == expected:
            if any(len(r) != 3 for r in got):
                raise CheckFailed(
                    _("the query returns extra columns"),
                    expected=_(COLUMNS).format(count=3),
                    got=_(COLUMNS).format(count=len(got[0])),
                )
            return
        hint = _("Group by jsonPayload.key; count every row, and count the rows whose text contains -a.")
        if got_rows == yesterday or (tables and tables[0] != want_table[-8:]):
            hint = _(
                "Your SQL reads the table of another day (struct_log_{read}); for {day} it is {table}: build "
                "the name from day."
            ).format(read=tables[0] if tables else "?", day=day_str, table=want_table)
        raise CheckFailed(
            _(
                "key_report_sql({day}) returns other rows than the grader's answer for its {count} entries of that day"
            ).format(day=repr(day_str), count=len(rows)),
            expected=expected,
            got=got_rows,
            hint=hint,
        )


def _count(value) -> int:
    """A count from the learner's SQL: an int (or bool, digits, an integral float or decimal)."""
    if isinstance(value, (bool, int, str)):
        return int(value)  # ValueError for text that is not digits
    number = float(value)  # TypeError for dates, lists, ...
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


# --- 2.9: the metric ---------------------------------------------------------------------------


@chapter.check(
    "minus_a_metric",
    3,
    N_("create_minus_a_metric(logging_client) creates 'struct_log_minus_a' counting struct_log entries with -a"),
)
def minus_a_metric(learner):
    rng = engine.py_random()
    now = dt.datetime.now(dt.timezone.utc)
    with grader_service() as (svc, project, client):
        _door(learner, "client", svc.endpoint, project, "create_minus_a_metric")
        metrics = {m.name: m for m in client.list_metrics()}
        if METRIC_NAME not in metrics:
            raise CheckFailed(
                _("no metric named '{name}' in the grader's project").format(name=METRIC_NAME),
                expected=METRIC_NAME,
                got=", ".join(metrics) or _("no metric"),
                hint=_("Use the metric name the exercise gives, and call .create()."),
            )
        metric = metrics[METRIC_NAME]
        rows = write_dataset(client, rng, now)
        expected_ids = {r["id"] for r in rows if r["log"] == STRUCT_LOG and _has_minus_a(r)}
        svc.drain()
        series = svc.metric_series(
            METRIC_NAME,
            bucket_seconds=3600,
            project=project,
            start=now - dt.timedelta(hours=2),
            end=now + dt.timedelta(hours=1),
        )
        counted = int(sum(c for _, c in series))
        got_ids = selected_ids(client, project, metric.filter_ or "", _("the metric's filter"))
        if counted == len(expected_ids) and got_ids == expected_ids:
            return
        hint = _common_hint(
            metric.filter_ or "",
            rows,
            got_ids,
            expected_ids,
            _("The metric's filter is your 2.4 filter for the client's project."),
        )
        by_id = {r["id"]: r for r in rows}
        extra = [by_id[i] for i in got_ids - expected_ids if i in by_id]
        if len(got_ids) >= len(rows) - 1 or not (metric.filter_ or "").strip():
            hint = _("The metric counts every entry: give it the filter of exercise 2.4.")
        elif extra and all(r["log"] == STRUCT_LOG for r in extra):
            hint = _(
                "The metric counts every struct_log entry, not only those whose text contains -a: "
                "add the has-condition on jsonPayload.text (your 2.4 filter)."
            )
        lowercase = lowercase_note(metric.filter_ or "")
        if lowercase:
            hint = lowercase[1]
        if counted == len(expected_ids):  # the right number by chance: the filter selects other entries
            raise CheckFailed(
                _(
                    "the metric counted {counted} entries, as many as there are struct_log entries "
                    "with -a, but its filter selects others: {extra} it should not, and it misses "
                    "{missing}"
                ).format(counted=counted, extra=len(got_ids - expected_ids), missing=len(expected_ids - got_ids)),
                expected=_(ENTRIES).format(count=len(expected_ids)),
                got=_(ENTRIES_FROM).format(count=len(got_ids), filter=repr(metric.filter_)),
                hint=hint,
            )
        raise CheckFailed(
            _(
                "the metric counted {counted} of the grader's {total} entries; {expected} are "
                "struct_log entries whose text contains -a"
            ).format(counted=counted, total=len(rows), expected=len(expected_ids))
            + (lowercase[0] if lowercase else ""),
            expected=len(expected_ids),
            got=counted,
            hint=hint,
        )


# --- the door the grader defines in the learner's globals ---------------------------------------------------


def kernel_door(namespace: dict):
    """``door(kind, endpoint, project, function_name, *args)``, bound to a notebook's globals.

    ``kind == "flask"``: a fresh Flask app with the chapter's routes added as create_app adds them
    (``add_text_route`` then ``add_struct_route``; the one under test must work, the other is
    added when it can be: its own check judges it), then one GET of ``args[0]`` per query-parameter
    dict in the JSON list ``args[1]``, through Flask's test client; returns ``{"replies": [{"status",
    "body"}, ...]}``, or ``{"taken": view name, "before": [...]}`` when the route under test reuses
    a view name. ``kind == "client"``: ``namespace[function_name](client, *args)``; returns its
    result as text. ``kind == "object"``: the same, returning the result's type and the attributes
    the chapter's next cell reads. Only literals cross; the grader reads its own service.
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

            app = Flask("log_collector")
            app.testing = True  # an exception in a view reaches the grader with its message
            added = []
            for name in ROUTE_BUILDERS if function_name in ROUTE_BUILDERS else (function_name,):
                if name == function_name:
                    try:
                        func(app, logging_client)
                    except AssertionError as e:  # Flask: "View function mapping is overwriting ..."
                        if "overwriting an existing endpoint" not in str(e):
                            raise
                        return json.dumps({"taken": str(e).rsplit(":", 1)[-1].strip(), "before": added})
                elif callable(namespace.get(name)):
                    try:
                        namespace[name](app, logging_client)
                    except Exception:  # not written yet, or broken: that route's own check says so
                        continue
                added.append(name)
            path, params = args
            client = app.test_client()
            replies = []
            for query in json.loads(params):
                response = client.get(path, query_string=query)
                replies.append({"status": response.status_code, "body": response.get_data(as_text=True)[:2000]})
            return json.dumps({"replies": replies})
        result = func(logging_client, *args)
        if kind == "object":

            def text(attribute):
                try:
                    value = getattr(result, attribute)
                except Exception:  # missing, or a property that raises
                    return None
                return value if isinstance(value, str) else None

            return json.dumps(
                {"type": type(result).__name__, **{a: text(a) for a in ("name", "filter_", "destination")}}
            )
        return result if isinstance(result, str) else type(result).__name__

    return grader_door
