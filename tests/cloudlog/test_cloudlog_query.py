"""The Logging query language: documented examples, errors, and a property test comparing the
SQL evaluator behind entries:list with a brute-force Python reference."""

from __future__ import annotations

import hashlib
import json
import random
import re
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudlog.model import SEVERITIES, format_timestamp, normalize_entry, now_us, parse_timestamp
from cloudlog.query import FilterError, parse
from cloudlog.store import Store

P = "proj"
LOGS = [
    f"projects/{P}/logs/struct_log",
    f"projects/{P}/logs/my-flask-log",
    f"projects/{P}/logs/cloudaudit.googleapis.com%2Factivity",
]
WORDS = ["-a", "foo", "Bar", "baz qux", "10", "2.5", "-a foo", "Ünï", 'x"y', "a.b", ""]
BASE_US = parse_timestamp("2024-05-01T12:00:00Z")


# ---------------------------------------------------------------- a corpus of entries
def make_entry(rnd: random.Random, i: int) -> dict:
    e = {
        "logName": rnd.choice(LOGS),
        "severity": rnd.choice(list(SEVERITIES)),
        "timestamp": format_timestamp(BASE_US + rnd.randrange(0, 3600) * 1_000_000),
        "insertId": f"id{i:04d}",
        "resource": {"type": rnd.choice(["global", "gce_instance"]), "labels": {"zone": rnd.choice(["a", "b"])}},
    }
    if rnd.random() < 0.5:
        e["labels"] = {"env": rnd.choice(["prod", "dev", "Prod"])}
    if rnd.random() < 0.3:
        e["textPayload"] = rnd.choice(WORDS)
    else:
        p = {}
        for k in ("name", "text", "key", "n", "flag", "nested"):
            if rnd.random() < 0.6:
                p[k] = rnd.choice(
                    [
                        lambda: rnd.choice(WORDS),
                        lambda: rnd.randint(-5, 20),
                        lambda: rnd.randint(-10, 10) / 2,
                        lambda: rnd.random() < 0.5,
                        lambda: {"x": rnd.choice(WORDS + [3, 7.5])},
                        lambda: None,
                    ]
                )()
        e["jsonPayload"] = p
    return e


def store_entries(store: Store, raws: list[dict]) -> list[dict]:
    rows = [normalize_entry(r, {}, now_us()) for r in raws]
    store.write(rows)
    return [r.entry for r in rows]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("q") / "q.duckdb")
    rnd = random.Random(1234)
    entries = store_entries(store, [make_entry(rnd, i) for i in range(400)])
    yield store, entries
    store.close()


def ids(store, filter_):
    texts, token = store.list_entries([P], filter_, "asc", 1000, None)
    assert token is None
    return sorted(json.loads(t)["insertId"] for t in texts)


# ---------------------------------------------------------------- brute-force reference
NUM = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?")
MISSING = object()


def ref_get(entry, segs):
    v = entry
    for s in segs:
        if not isinstance(v, dict) or s not in v:
            return MISSING
        v = v[s]
    return v


def ref_str(v):
    if v is MISSING or v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v)


def ref_values(v, out):
    if isinstance(v, dict):
        for x in v.values():
            ref_values(x, out)
    elif isinstance(v, list):
        for x in v:
            ref_values(x, out)
    elif v is not None:
        out.append(ref_str(v).lower())
    return out


def sev_num(v: str) -> int:
    return int(v) if v.isdigit() else SEVERITIES[v.upper()]


OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def ref_cmp(entry, segs, op, v):
    if segs == ("severity",) and op not in ("=~", "!~"):
        return OPS["=" if op == ":" else op](SEVERITIES[entry["severity"]], sev_num(v))
    if segs in (("timestamp",), ("receiveTimestamp",)) and op in OPS:
        return OPS[op](parse_timestamp(entry[segs[0]]), parse_timestamp(v))
    s = ref_str(ref_get(entry, segs))
    if s is None:
        return False
    if op == ":":
        return v.lower() in s.lower()
    if op == "=~":
        return re.search(v, s) is not None
    if op == "!~":
        return re.search(v, s) is None
    if NUM.fullmatch(v):  # a number: compared numerically; a non-number value only "!="
        return OPS[op](float(s), float(v)) if NUM.fullmatch(s) else op == "!="
    return OPS[op](s.lower(), v.lower())


def ref_tokens(q):
    if len(q) >= 2 and q[0] == q[-1] == "`":
        return None, q[1:-1].lower()
    return re.findall(r"[a-z0-9]+", q.lower()), None


def ref_eval(node, entry) -> bool:
    kind = node[0]
    if kind == "true":
        return True
    if kind == "and":
        return all(ref_eval(n, entry) for n in node[1])
    if kind == "or":
        return any(ref_eval(n, entry) for n in node[1])
    if kind == "not":
        return not ref_eval(node[1], entry)
    if kind == "cmp":
        return ref_cmp(entry, *node[1:])
    if kind == "vlist":  # field OP (v1 OR v2 ...)
        return any(ref_cmp(entry, node[1], node[2], v) for v in node[3])
    if kind == "present":
        v = ref_get(entry, node[1])
        return v is not MISSING and v is not None
    if kind == "global":
        return node[1].lower() in "\n".join(ref_values(entry, []))
    if kind == "log_id":
        return unquote(entry["logName"].split("/logs/", 1)[1]) == node[1]
    if kind == "sample":
        s = ref_str(ref_get(entry, node[1]))
        return s is not None and int(hashlib.md5(s.encode()).hexdigest()[:8], 16) < node[2] * 2**32
    if kind == "search":
        text = "\n".join(ref_values(entry, [])) if node[1] is None else (ref_str(ref_get(entry, node[1])) or "")
        if node[1] is not None and ref_str(ref_get(entry, node[1])) is None:
            return False
        toks, exact = ref_tokens(node[2])
        if exact is not None:
            return exact in text.lower()
        return all(re.search(r"(^|[^a-z0-9])" + re.escape(t) + r"([^a-z0-9]|$)", text.lower()) for t in toks)
    raise AssertionError(kind)


# ---------------------------------------------------------------- filter generation
def q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


FIELDS = [
    ("jsonPayload", "name"),
    ("jsonPayload", "text"),
    ("jsonPayload", "n"),
    ("jsonPayload", "key"),
    ("jsonPayload", "flag"),
    ("jsonPayload", "nested", "x"),
    ("labels", "env"),
    ("resource", "type"),
    ("resource", "labels", "zone"),
    ("textPayload",),
    ("logName",),
    ("insertId",),
    ("severity",),
    ("timestamp",),
]
VALUES = WORDS + [
    "prod",
    "PROD",
    "global",
    "true",
    "False",
    "3",
    "7.5",
    "-2",
    "0",
    "id0100",
    "struct_log",
    "projects/proj/logs/struct_log",
]
REGEXES = ["^a", "o+", "[0-9]", "Ba", "^-", "z$"]


@st.composite
def cmp_node(draw):
    segs = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", ":", "=~", "!~", ":*"]))
    if op == ":*":
        return ("present", segs), ".".join(segs) + ":*"
    if op in ("=~", "!~"):
        v = draw(st.sampled_from(REGEXES))
    elif segs == ("severity",):
        v = draw(st.sampled_from(list(SEVERITIES) + ["error", "Warning", "200", "450", "800"]))
    elif segs == ("timestamp",) and op != ":":
        m = draw(st.integers(0, 3600))
        us = BASE_US + m * 1_000_000
        style = draw(st.integers(0, 2))
        v = (
            format_timestamp(us)
            if style == 0
            else (
                format_timestamp(us)[:19] + "+0000"
                if style == 1
                else format_timestamp(us + 3_600_000_000)[:19] + "+01:00"
            )
        )
    else:
        v = draw(st.sampled_from(VALUES))
    field = ".".join(segs)
    if draw(st.booleans()) and op in ("=", ":") and segs != ("timestamp",):
        vs = draw(
            st.lists(st.sampled_from(VALUES if segs != ("severity",) else list(SEVERITIES)), min_size=2, max_size=3)
        )
        return ("vlist", segs, op, vs), f"{field}{op}({' OR '.join(q(x) for x in vs)})"
    rendered = v if re.fullmatch(r"[A-Za-z0-9_.]+", v) and draw(st.booleans()) else q(v)
    sp = draw(st.sampled_from(["", " "]))
    return ("cmp", segs, op, v), f"{field}{sp}{op}{sp}{rendered}"


@st.composite
def leaf(draw):
    k = draw(st.integers(0, 9))
    if k <= 5:
        return draw(cmp_node())
    if k == 6:
        w = draw(st.sampled_from(["foo", "bar", "prod", "qux", "-a", "10", "2.5"]))
        return ("global", w), q(w)
    if k == 7:
        lid = draw(st.sampled_from(["struct_log", "my-flask-log", "cloudaudit.googleapis.com/activity"]))
        return ("log_id", lid), f"log_id({q(lid)})"
    if k == 8:
        f = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
        return ("sample", ("insertId",), f), f"sample(insertId, {f})"
    qs = draw(st.sampled_from(["foo", "baz qux", "`a.b`", "Bar foo", "10"]))
    field = draw(st.sampled_from([None, ("jsonPayload", "text"), ("textPayload",)]))
    txt = f"SEARCH({q(qs)})" if field is None else f"SEARCH({'.'.join(field)}, {q(qs)})"
    return ("search", field, qs), txt


def combine(children):
    return st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: ((t[0], [c[0] for c in t[1]]), f" {t[0].upper()} ".join(f"({c[1]})" for c in t[1]))
        ),
        children.map(lambda c: (("not", c[0]), f"NOT ({c[1]})")),
        children.map(lambda c: (("not", c[0]), f"-({c[1]})")),
        st.lists(children, min_size=2, max_size=3).map(  # implicit AND
            lambda cs: (("and", [c[0] for c in cs]), " ".join(f"({c[1]})" for c in cs))
        ),
    )


filters = st.recursive(leaf(), combine, max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters)
def test_sql_evaluator_matches_reference(corpus, f):
    store, entries = corpus
    tree, text = f
    expected = sorted(e["insertId"] for e in entries if ref_eval(tree, e))
    assert ids(store, text) == expected, text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.lists(filters, min_size=1, max_size=4))
def test_reference_on_generated_entries(tmp_path_factory, seed, fs):
    rnd = random.Random(seed)
    store = Store(":memory:")
    try:
        entries = store_entries(store, [make_entry(rnd, i) for i in range(rnd.randint(1, 40))])
        for tree, text in fs:
            assert ids(store, text) == sorted(e["insertId"] for e in entries if ref_eval(tree, e)), text
    finally:
        store.close()


# ---------------------------------------------------------------- documented examples
def test_documented_examples(corpus):
    store, entries = corpus
    n = lambda f: len(ids(store, f))  # noqa: E731
    by = lambda pred: len([e for e in entries if pred(e)])  # noqa: E731
    assert n("") == 400
    assert n("severity >= ERROR") == by(lambda e: SEVERITIES[e["severity"]] >= 500) > 0
    assert n("severity>=500") == n("severity >= error")
    assert n("severity=(ERROR OR WARNING)") == by(lambda e: e["severity"] in ("ERROR", "WARNING"))
    assert n('logName = "projects/proj/logs/struct_log"') == by(lambda e: e["logName"].endswith("struct_log")) > 0
    assert n('log_id("cloudaudit.googleapis.com/activity")') == by(lambda e: "cloudaudit" in e["logName"]) > 0
    assert (
        n('jsonPayload.text:"-a"')
        == by(lambda e: isinstance(e.get("jsonPayload", {}).get("text"), str) and "-a" in e["jsonPayload"]["text"])
        > 0
    )
    assert n("labels.env = prod") == by(lambda e: e.get("labels", {}).get("env", "").lower() == "prod")
    assert n("labels.env:*") == by(lambda e: "labels" in e)
    assert n("NOT labels.env:*") == n("-labels.env:*") == 400 - n("labels.env:*")
    # numbers (and numeric strings such as "10") compare numerically; other values never match
    assert (
        n("jsonPayload.n > 5")
        == by(
            lambda e: (
                (
                    type(e.get("jsonPayload", {}).get("n")) in (int, float)
                    or NUM.fullmatch(str(e.get("jsonPayload", {}).get("n")))
                )
                and float(e["jsonPayload"]["n"]) > 5
            )
        )
        > 0
    )
    assert (
        n('timestamp >= "2024-05-01T12:30:00Z"')
        == n('timestamp>="2024-05-01T12:30:00+0000"')
        == n('timestamp >= "2024-05-01T13:30:00+01:00"')
        == by(lambda e: e["timestamp"] >= "2024-05-01T12:30:00")
        > 0
    )
    assert n("resource.type = gce_instance AND resource.labels.zone = a") > 0
    assert n("sample(insertId, 0)") == 0 and n("sample(insertId, 1)") == 400
    assert 100 < n("sample(insertId, 0.5)") < 300
    # OR binds tighter than AND: a OR b c == (a OR b) AND c, not a OR (b AND c)
    a, b, c = "severity=ERROR", "severity=WARNING", "labels.env=dev"
    assert n(f"{a} OR {b} {c}") == n(f"({a} OR {b}) AND {c}")
    assert n(f"{a} OR {b} AND {c}") == n(f"({a} OR {b}) AND {c}")
    assert n(f"{a} OR {b} AND {c}") != n(f"{a} OR ({b} AND {c})")
    assert n('"-a foo"') == n('SEARCH("`-a foo`")') > 0
    assert n("foo") >= n('SEARCH("foo")') > 0


@pytest.mark.parametrize(
    "bad,pos",
    [
        ("severity >= (ERROR", 19),
        ("jsonPayload.text = ", 20),
        ('"unterminated', 1),
        ("severity = LOUD", 12),
        ("a AND", 6),
        ("(severity=ERROR", 16),
        ("x) y", 2),
        ("AND x", 1),
        ("nosuchfield.x = 1", 1),
        ("timestamp > yesterday", 13),
        ('jsonPayload.x =~ "("', 18),
        ("FOO(1)", 1),
        ("sample(insertId, 2)", 1),
    ],
)
def test_malformed_filters_name_position(bad, pos):
    with pytest.raises(FilterError) as e:
        parse(bad)
    assert e.value.pos + 1 == pos, str(e.value)
    assert f"position {pos}" in str(e.value)


def test_parse_tree_shape():
    assert parse("a OR b c") == ("and", [("or", [("global", "a"), ("global", "b")]), ("global", "c")])
    assert parse("NOT a -b") == ("and", [("not", ("global", "a")), ("not", ("global", "b"))])
    assert parse('labels."k8s-pod/app" = web') == ("cmp", ("labels", "k8s-pod/app"), "=", "web")
    assert parse("severity=(ERROR OR WARNING)") == (
        "or",
        [("cmp", ("severity",), "=", "ERROR"), ("cmp", ("severity",), "=", "WARNING")],
    )
    assert parse("and or") == ("and", [("global", "and"), ("global", "or")])


def test_numeric_severity_between_levels(corpus):
    # found by the property test: a filter may compare with any number, not only a level's
    from cloudlog.model import SEVERITIES as LEVELS

    store, entries = corpus
    expected = sorted(e["insertId"] for e in entries if LEVELS[e["severity"]] >= 450)
    assert expected and ids(store, "severity >= 450") == expected
