"""The Logging query language: a parser and a translation to DuckDB SQL.

Supported (see docs/cloudlog.md for the exact semantics):

* comparisons ``= != < <= > >= : =~ !~`` and the presence test ``field:*``;
* ``AND``, ``OR``, ``NOT`` and the ``-`` prefix, implicit ``AND`` between terms, parentheses;
  as in Cloud Logging, ``OR`` binds tighter than ``AND`` (``a OR b c`` is ``(a OR b) AND c``);
* value lists on the right of a comparison: ``severity=(ERROR OR WARNING)``;
* bare words / quoted strings as a global text search over every value of the entry;
* ``SEARCH("tokens")``, ``SEARCH(field, "tokens")``, ``sample(insertId, 0.25)``, ``log_id("x")``;
* severities by name or number, timestamps with ``Z``, ``+00:00`` or ``+0000``.

A malformed filter raises :class:`FilterError`, whose message names the position.
The parse tree is plain tuples, so tests can build and evaluate it independently.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict

import duckdb

from cloudlog.model import ENTRY_FIELDS, SEVERITY_NAMES, parse_severity, parse_timestamp

NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?"
_NUMBER = re.compile(NUMBER)
_IDENT = re.compile(r"[A-Za-z_@$][A-Za-z0-9_@$\-]*")
_OPS = ("=~", "!~", "!=", "<=", ">=", ":*", "=", "<", ">", ":")
_STOP = set(' \t\r\n()"')
_WORD_STOP = _STOP | set(":=<>!~,")
KEYWORDS = ("AND", "OR", "NOT")
# operators from other languages, typed as two comparison characters, and what to write
_OP_HINTS = {
    ">>": "'>' or '>='",
    "<<": "'<' or '<='",
    "=>": "'>='",
    "=<": "'<='",
    "==": "'='",
    "!!": "'!='",
    "=!": "'!='",
    "<>": "'!='",
    "!=~": "'!~'",
    ":=": "'=' or ':'",
}
# what google-cloud-logging's list_entries appends to a filter that does not mention
# timestamp (a 24-hour window): `<filter> AND timestamp>="2024-05-01T12:00:00.000000+0000"`;
# a Logger's list_entries puts its own log in between: `<filter> AND logName=projects/P/logs/L AND ...`
_CLIENT_WINDOW = re.compile(
    r'(?: AND logName=projects/[^\s"]+/logs/[^\s"]+)?'
    r' AND timestamp>="[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+'
    r'(?:[+-][0-9]{2}:?[0-9]{2}|Z)?"\Z'
)
MAX_FILTER_CHARS = 20_000  # Cloud Logging: a query is at most 20,000 characters
MAX_FILTER_DEPTH = 32  # local: nesting of parentheses, NOT/- prefixes and value lists
MAX_FILTER_TERMS = 500  # local: comparisons and searches in one filter
MAX_FILTER_REGEXES = 50  # local: =~ / !~ comparisons in one filter
CACHE_BYTES = 8 * 1024 * 1024  # per cache (parse trees, compiled SQL)
FUNCTIONS = ("search", "sample", "log_id")

# column name, kind ("str", "sev", "ts") for the fields storage keeps as columns
COLUMNS = {
    "logName": ("log_name", "str"),
    "insertId": ("insert_id", "str"),
    "textPayload": ("text_payload", "str"),
    "severity": ("severity", "sev"),
    "timestamp": ("ts", "ts"),
    "receiveTimestamp": ("receive_ts", "ts"),
}


class FilterError(ValueError):
    def __init__(self, message: str, pos: int, text: str):
        near = f"(near {text[pos : pos + 20]!r})" if pos < len(text) else "(at the end)"
        super().__init__(f"Unparseable filter: {message} at position {pos + 1} {near}")
        self.pos = pos

    @classmethod
    def with_note(cls, error: "FilterError", note: str) -> "FilterError":
        out = cls.__new__(cls)
        ValueError.__init__(out, str(error) + note)
        out.pos = error.pos
        return out


class _Parser:
    def __init__(self, text: str):
        self.s, self.i = text, 0
        self.depth = self.terms = self.regexes = 0

    def enter(self):
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            self.err(f"the filter is nested deeper than {MAX_FILTER_DEPTH} levels")

    def count(self, op=None):
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            self.err(f"the filter has more than {MAX_FILTER_TERMS} terms")
        if op in ("=~", "!~"):
            self.regexes += 1
            if self.regexes > MAX_FILTER_REGEXES:
                self.err(f"the filter has more than {MAX_FILTER_REGEXES} regular expressions")

    # -- low level
    def err(self, message, pos=None):
        raise FilterError(message, self.i if pos is None else pos, self.s)

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def peek(self, k=1):
        return self.s[self.i : self.i + k]

    def keyword(self, kw):
        """Consume keyword ``kw`` if it stands here as a whole word."""
        self.ws()
        j = self.i + len(kw)
        if self.s.startswith(kw, self.i) and (j >= len(self.s) or self.s[j] in _STOP):
            self.i = j
            return True
        return False

    def string(self):
        start = self.i
        self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\":
                self.i += 1
                if self.i >= len(self.s):
                    break
                c = self.s[self.i]
                if c == "u":
                    hexd = self.s[self.i + 1 : self.i + 5]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", hexd):
                        self.err("bad \\u escape")
                    out.append(chr(int(hexd, 16)))
                    self.i += 4
                else:
                    out.append({"n": "\n", "t": "\t", "r": "\r"}.get(c, c))
            else:
                out.append(c)
            self.i += 1
        self.err("unterminated string", start)

    def word(self, stop=_WORD_STOP):
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in stop:
            self.i += 1
        return self.s[start : self.i]

    def op(self):
        for o in _OPS:
            if self.s.startswith(o, self.i):
                self.i += len(o)
                return o
        return None

    # -- grammar
    def parse(self):
        self.ws()
        if self.i >= len(self.s):
            return ("true",)
        node = self.conj()
        self.ws()
        if self.i < len(self.s):
            self.err("unexpected " + repr(self.s[self.i]))
        return node

    def conj(self):
        items = [self.disj()]
        while True:
            self.ws()
            if self.i >= len(self.s) or self.peek() == ")":
                break
            self.keyword("AND")
            items.append(self.disj())
        return items[0] if len(items) == 1 else ("and", items)

    def disj(self):
        items = [self.unary()]
        while self.keyword("OR"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else ("or", items)

    def unary(self):
        self.enter()
        try:
            if self.keyword("NOT"):
                return ("not", self.unary())
            self.ws()
            if self.peek() == "-" and self.peek(2)[1:] not in ("", " ", "\t", "\n", "\r"):
                self.i += 1
                return ("not", self.unary())
            return self.primary()
        finally:
            self.depth -= 1

    def primary(self):
        self.ws()
        start = self.i
        if self.i >= len(self.s):
            self.err("expected an expression")
        c = self.s[self.i]
        if c == "(":
            self.i += 1
            self.ws()
            if self.peek() == ")":
                self.err("empty parentheses")
            node = self.conj()
            self.ws()
            if self.peek() != ")":
                self.err("expected ')'")
            self.i += 1
            return node
        if c == ")":
            self.err("unexpected ')'")
        for kw in ("AND", "OR"):
            if self.keyword(kw):
                self.err(f"{kw} needs an expression on its left", start)
        if c == '"':
            text = self.string()
            self.ws()
            if self.op():
                self.err("a comparison needs a field name, not a string", start)
            self.count()
            return ("global", text)
        path = self.path()
        if self.peek() == "(" and _IDENT.fullmatch(path or "") and "." not in path:
            return self.function(path, start)
        self.ws()
        pos = self.i
        op = self.op()
        if op is None:
            if not path:
                self.err("unexpected " + repr(self.s[self.i]))
            self._check_bare(path, start)
            self.count()
            return ("global", path)
        segs = self._segments(path, start)
        if op == ":*":
            self.count()
            return ("present", segs)
        return self.values(segs, op, pos)

    def _check_bare(self, word, pos):
        """Refuse what looks like another language's syntax instead of searching for it:
        ``&&``/``||`` (Cloud Logging's operators are AND/OR) and single quotes (its strings
        take double quotes; unquoted text must not hold special characters)."""
        for bad_op, right in (("&&", "AND"), ("||", "OR")):
            if bad_op in word:
                self.err(
                    f"{bad_op!r} is not an operator of the Logging query language: "
                    f"write {right} (in capitals); to search for the text itself, quote "
                    "it with double quotes",
                    pos + word.index(bad_op),
                )
        if word.startswith("'"):
            self.err(
                "single quotes do not make a string in the Logging query language: "
                'quote text with double quotes ("...")',
                pos,
            )

    def path(self):
        """A bare word, possibly a field path with quoted segments (labels."a/b")."""
        out = []
        while True:
            if self.peek() == '"' and out and out[-1].endswith("."):
                out.append('"' + self.string().replace('"', "") + '"')
            else:
                w = self.word()
                if not w:
                    break
                out.append(w)
        return "".join(out)

    def _segments(self, path, pos):
        segs, i = [], 0
        for m in re.finditer(r'"([^"]*)"|([^."]+)', path):
            if m.start() != i:
                self.err("bad field path " + repr(path), pos)
            segs.append(m.group(1) if m.group(1) is not None else m.group(2))
            i = m.end() + 1
            if i <= len(path) and m.end() < len(path) and path[m.end()] != ".":
                self.err("bad field path " + repr(path), pos)
        if not segs or i != len(path) + 1 or any(s == "" for s in segs):
            self.err("bad field path " + repr(path), pos)
        if segs[0] not in ENTRY_FIELDS:
            self.err(f"unknown field {segs[0]!r}", pos)
        if segs[0] in COLUMNS and len(segs) > 1:
            self.err(f"{segs[0]} has no subfields", pos)
        return tuple(segs)

    def values(self, segs, op, pos):
        self.ws()
        if self.peek() == "(":
            return self.vgroup(segs, op, "expected ')' after the value list")
        return self.value(segs, op)

    def vgroup(self, segs, op, missing_close):
        """A parenthesised list of values: `(a OR b)`; the cursor is on the '('."""
        self.i += 1
        node = self.vconj(segs, op)
        self.ws()
        if self.peek() != ")":
            self.err(missing_close)
        self.i += 1
        return node

    def vconj(self, segs, op):
        items = [self.vdisj(segs, op)]
        while True:
            self.ws()
            if self.i >= len(self.s) or self.peek() == ")":
                break
            self.keyword("AND")
            items.append(self.vdisj(segs, op))
        return items[0] if len(items) == 1 else ("and", items)

    def vdisj(self, segs, op):
        items = [self.vunary(segs, op)]
        while self.keyword("OR"):
            items.append(self.vunary(segs, op))
        return items[0] if len(items) == 1 else ("or", items)

    def vunary(self, segs, op):
        self.enter()
        try:
            if self.keyword("NOT"):
                return ("not", self.vunary(segs, op))
            self.ws()
            if self.peek() == "(":
                return self.vgroup(segs, op, "expected ')'")
            return self.value(segs, op)
        finally:
            self.depth -= 1

    def value(self, segs, op):
        self.ws()
        pos = self.i
        self.count(op)
        if self.peek() == '"':
            v = self.string()
        else:
            v = self.word(_STOP)
            if not v:
                self.err(f"expected a value after {op!r}")
            if v[0] in "<>=!~" and op != ":*":  # severity>>300, severity=>300, a==b
                joined = op + v[0]
                hint = _OP_HINTS.get(joined, "one of = != < <= > >= : =~ !~")
                start = len(self.s[:pos].rstrip())  # the operator right before the value?
                if self.s[start - len(op) : start] == op:
                    start -= len(op)
                    if start + len(op) < pos and joined in _OPS:  # severity > = ERROR
                        hint = f"{joined!r}, without the space"
                else:  # in a value list: (ERROR OR >3)
                    self.err(f"a value cannot start with {v[0]!r}; quote it if it is text", pos)
                self.err(
                    f"{self.s[start : pos + 1]!r} is not an operator of the Logging query language; use {hint}", start
                )
            self._check_bare(v, pos)
        return check_cmp(("cmp", segs, op, v), lambda m: self.err(m, pos))

    def function(self, name, start):
        self.count()
        fname = name.lower()
        if fname not in FUNCTIONS:
            self.err(f"unknown function {name!r}", start)
        self.i += 1
        args = []
        while True:
            self.ws()
            if self.peek() == ")":
                self.i += 1
                break
            if args:
                if self.peek() != ",":
                    self.err("expected ',' or ')'")
                self.i += 1
                self.ws()
            apos = self.i
            if self.peek() == '"':
                args.append(("str", self.string(), apos))
            else:
                w = self.path()
                if not w:
                    self.err("expected an argument")
                args.append(("word", w, apos))
        if fname == "search":
            if len(args) not in (1, 2) or args[-1][0] != "str":
                self.err('SEARCH takes ("query") or (field, "query")', start)
            segs = self._segments(args[0][1], args[0][2]) if len(args) == 2 else None
            tokens = search_tokens(args[-1][1])
            if not tokens:
                self.err("SEARCH needs a non-empty query", args[-1][2])
            return ("search", segs, args[-1][1])
        if fname == "sample":
            if len(args) != 2 or not _NUMBER.fullmatch(args[1][1]) or not 0 <= float(args[1][1]) <= 1:
                self.err("sample takes (field, fraction between 0 and 1)", start)
            return ("sample", self._segments(args[0][1], args[0][2]), float(args[1][1]))
        if len(args) != 1:
            self.err('log_id takes one argument: log_id("LOG_ID")', start)
        return ("log_id", args[0][1])


def filter_severity(value: str) -> int:
    """A severity in a filter: a level's name, or any number (`severity>=450` is legal there,
    even though an entry's own severity must be one of the levels)."""
    v = str(value).strip()
    return int(v) if v.isdigit() else parse_severity(v)


def check_cmp(node, fail):
    """Validate a comparison's literal for its field (severity names, timestamps, regexes)."""
    _, segs, op, v = node
    kind = COLUMNS.get(segs[0], (None, "json"))[1]
    try:
        if kind == "sev" and op not in ("=~", "!~"):
            filter_severity(v)
        if kind == "ts" and op in ("=", "!=", "<", "<=", ">", ">="):
            parse_timestamp(v)
        if op in ("=~", "!~"):
            check_regex(v)
    except (ValueError, re.error) as e:
        fail(str(e))
    if op not in ("=~", "!~") and _NUMBER.fullmatch(v) and not math.isfinite(float(v)):
        fail(f"number {v[:40]}... is out of range (a finite double is required)")
    if "\x00" in v:
        fail("NUL character in a value")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        fail("a value is not valid Unicode (a lone surrogate?)")
    return node


_re2 = None
_re2_lock = threading.Lock()


def check_regex(pattern: str) -> None:
    """Compile ``pattern`` with the engine that runs it (DuckDB's RE2); ValueError if it
    rejects it. Python's ``re`` accepts patterns RE2 does not (look-around, back-references)."""
    global _re2
    if "\x00" in pattern:
        raise ValueError("NUL character in a regular expression")
    with _re2_lock:
        if _re2 is None:
            _re2 = duckdb.connect(":memory:", config={"threads": 1})
        try:
            _re2.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as e:
            msg = str(e).split("\n")[0]
            raise ValueError(f"invalid regular expression {pattern[:80]!r}: {msg}") from None


def search_tokens(query: str) -> list[str]:
    if len(query) >= 2 and query[0] == query[-1] == "`":
        return [query[1:-1].lower()] if query[1:-1] else []
    return re.findall(r"[a-z0-9]+", query.lower())


class ByteCache:
    """A thread-safe LRU cache bounded by the summed size of its keys and values."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes, self.bytes = max_bytes, 0
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key, value, size: int):
        if size > self.max_bytes // 8:
            return  # too big to be worth keeping
        with self._lock:
            if key in self._d:
                return
            self._d[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, s) = self._d.popitem(last=False)
                self.bytes -= s


_PARSED = ByteCache()
_COMPILED = ByteCache()


def parse(text: str | None):
    """Filter text -> parse tree (tuples). Raises FilterError."""
    if text is not None and not isinstance(text, str):
        raise FilterError("the filter must be a string", 0, "")
    text = text or ""
    hit = _PARSED.get(text)
    if hit is not None:
        return hit[0]
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(
            f"the filter is {len(text)} characters long; at most {MAX_FILTER_CHARS} are allowed", MAX_FILTER_CHARS, text
        )
    tree = _Parser(text).parse()
    _PARSED.put(text, tree, 3 * len(text) + 64)
    return tree


# ---------------------------------------------------------------- SQL translation
def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


_SEV_NAME = "CASE severity " + " ".join(f"WHEN {n} THEN '{name}'" for n, name in SEVERITY_NAMES.items()) + " END"
_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _json_path(segs) -> str:
    for s in segs:
        if '"' in s or "\\" in s:
            raise FilterError(f"unsupported character in field name {s!r}", 0, "")
    return lit("$." + ".".join(f'"{s}"' for s in segs))


class _JsonFields:
    """The JSON fields one part of a filter reads, for reading them all at once per entry.

    Each ``json_type``/``json_extract_string(entry, path)`` call parses the entry again, and
    DuckDB keeps every call's parsed copies (and every ``lower()``'s strings) of a whole
    2,048-row vector while the filter runs: 100 comparisons on 1 KB entries took 1.4 GB and
    then failed on the store's memory limit. With the fields in ``__j.s[i]`` (the scalar
    value as text, NULL for an object or array), ``__j.l[i]`` (the same, lower-cased) and
    ``__j.t[i]`` (its JSON type), one ``json_extract_string`` and one ``json_type`` with
    the list of paths parse each entry twice, and each field is lower-cased once, whatever
    the number of comparisons (see :func:`filter_sql`)."""

    def __init__(self):
        self.paths: list[str] = []

    def ref(self, path: str) -> int:
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path) + 1


def field_sql(segs, fields: _JsonFields | None = None):
    """-> (string expression or NULL when absent/non-scalar, presence expression)."""
    if segs[0] in COLUMNS:
        col, kind = COLUMNS[segs[0]]
        if kind == "sev":
            return _SEV_NAME, "TRUE"
        if kind == "ts":
            if fields is not None:
                return f"__j.s[{fields.ref(_json_path(segs))}]", "TRUE"
            return f"json_extract_string(entry, {_json_path(segs)})", "TRUE"
        return col, f"{col} IS NOT NULL"
    p = _json_path(segs)
    if fields is not None:
        i = fields.ref(p)
        return f"__j.s[{i}]", f"coalesce(__j.t[{i}] <> 'NULL', FALSE)"
    return (
        f"(CASE WHEN json_type(entry, {p}) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(entry, {p}) END)",
        f"coalesce(json_type(entry, {p}) <> 'NULL', FALSE)",
    )


def _lower(expr: str) -> str:
    """lower(expr); a JSON field read with :class:`_JsonFields` is lower-cased already."""
    m = re.fullmatch(r"__j\.s\[(\d+)\]", expr)
    return f"__j.l[{m.group(1)}]" if m else f"lower({expr})"


def _cmp_sql(segs, op, v, fields=None) -> str:
    kind = COLUMNS.get(segs[0], (None, "json"))[1]
    if kind == "sev" and op not in ("=~", "!~"):
        return f"severity {_SQL_OPS.get(op, '=')} {filter_severity(v)}"
    if kind == "ts" and op in _SQL_OPS:
        return f"{COLUMNS[segs[0]][0]} {_SQL_OPS[op]} {parse_timestamp(v)}"
    s, _ = field_sql(segs, fields)
    if op == ":":
        return f"contains({_lower(s)}, {lit(v.lower())})"
    if op == "=~":
        return f"regexp_matches({s}, {lit(v)})"
    if op == "!~":
        return f"NOT regexp_matches({s}, {lit(v)})"
    sop = _SQL_OPS[op]
    text = f"{_lower(s)} {sop} {lit(v.lower())}"
    if _NUMBER.fullmatch(v):
        return (
            f"(CASE WHEN regexp_full_match({s}, {lit(NUMBER)}) "
            f"THEN CAST({s} AS DOUBLE) {sop} {float(v)!r} ELSE {s} IS NOT NULL AND "
            f"{'TRUE' if op == '!=' else 'FALSE'} END)"
        )
    return text


def _search_sql(expr: str, query: str) -> str:
    toks = search_tokens(query)
    if query.startswith("`"):
        return f"contains({_lower(expr)}, {lit(toks[0])})"
    return " AND ".join(
        f"regexp_matches({_lower(expr)}, {lit('(^|[^a-z0-9])' + re.escape(t) + '([^a-z0-9]|$)')})" for t in toks
    )


def to_sql(node, fields: _JsonFields | None = None) -> str:
    """Parse tree -> a DuckDB boolean expression (never NULL) over the entries columns (with
    ``fields``: JSON fields read as ``__j.s[i]``/``__j.t[i]``, see :func:`filter_sql`)."""
    kind = node[0]
    if kind == "true":
        return "TRUE"
    if kind in ("and", "or"):
        return "(" + f" {kind.upper()} ".join(to_sql(n, fields) for n in node[1]) + ")"
    if kind == "not":
        return f"(NOT {to_sql(node[1], fields)})"
    if kind == "cmp":
        _, segs, op, v = node
        return f"coalesce({_cmp_sql(segs, op, v, fields)}, FALSE)"
    if kind == "present":
        return field_sql(node[1], fields)[1]
    if kind == "global":
        return f"contains(search, {lit(node[1].lower())})"
    if kind == "search":
        expr = "search" if node[1] is None else field_sql(node[1], fields)[0]
        return f"coalesce({_search_sql(expr, node[2])}, FALSE)"
    if kind == "sample":
        s = field_sql(node[1], fields)[0]
        return f"coalesce(CAST('0x' || left(md5({s}), 8) AS UBIGINT) < {node[2] * 4294967296.0!r}, FALSE)"
    if kind == "log_id":
        return f"log_id = {lit(node[1])}"
    raise ValueError(f"unknown node {kind}")


def filter_sql(tree) -> str:
    """The SQL of a whole filter. Each part joined by AND stays a conjunct of its own, so
    DuckDB evaluates the cheap ones first and reads JSON only for the rows they keep. A part
    that reads JSON fields more than once reads them all at once (see
    :class:`_JsonFields`): lambdas evaluate their argument once per row, which a repeated
    subexpression in a WHERE clause does not::

        list_transform([{s: json_extract_string(entry, [paths]), t: json_type(entry, [paths])}],
          lambda __k: list_transform([{s: scalars of __k, l: lower-cased, t: __k.t}],
            lambda __j: <the part, over __j>)[1])[1]
    """
    parts = tree[1] if tree[0] == "and" else [tree]
    out = []
    for node in parts:
        fields = _JsonFields()
        body = to_sql(node, fields)
        if body.count("__j.") <= 1:  # at most one field read: two parses as it is
            out.append(to_sql(node))
            continue
        paths = "[" + ", ".join(fields.paths) + "]"
        scalar = "CASE WHEN __z[2] IN ('OBJECT', 'ARRAY') THEN NULL ELSE __z[1] END"
        each = (
            f"{{'t': __k.t, 's': list_transform(list_zip(__k.s, __k.t), lambda __z: {scalar}), "
            f"'l': list_transform(list_zip(__k.s, __k.t), lambda __z: lower({scalar}))}}"
        )
        out.append(
            f"list_transform([{{'s': json_extract_string(entry, {paths}), "
            f"'t': json_type(entry, {paths})}}], lambda __k: "
            f"list_transform([{each}], lambda __j: {body})[1])[1]"
        )
    return out[0] if len(out) == 1 else "(" + " AND ".join(out) + ")"


def _relative_to_own_filter(error: FilterError, text: str) -> FilterError:
    """An error in a filter the Python client extended with its 24-hour window, told in
    the learner's own filter: the client appends `` AND timestamp>="..."`` to a filter that
    does not mention timestamp, so a position (or "near ...") past the learner's text would
    point at words the learner never wrote."""
    m = _CLIENT_WINDOW.search(text)
    if not m or m.start() == 0:
        return error
    own, added = text[: m.start()], text[m.start() :]
    note = f" [positions count in your filter; the client library appended {added.strip()!r} to it]"
    try:
        parse(own)
    except FilterError as own_error:  # the learner's text alone: its "near" stops there
        return FilterError.with_note(own_error, note) if error.pos >= len(own) else own_error
    return FilterError.with_note(error, note)


def compile_filter(text: str | None) -> str:
    """Filter text -> SQL (cached, the cache bounded in bytes). Raises FilterError, also for
    a filter that parses but that DuckDB cannot evaluate (checked once, on a sample entry),
    so that such a filter is refused when it is given, not on every batch afterwards."""
    if text is not None and not isinstance(text, str):
        raise FilterError("the filter must be a string", 0, "")
    text = text or ""
    hit = _COMPILED.get(text)
    if hit is not None:
        return hit[0]
    try:
        tree = parse(text)
    except FilterError as e:
        raise _relative_to_own_filter(e, text) from None
    sql = filter_sql(tree)
    trial_evaluate(sql, text)
    _COMPILED.put(text, sql, len(text) + len(sql) + 64)
    return sql


# A one-row stand-in for cloudlog.entries (and the applier's __batch, which has the same
# columns): binding and running a filter's SQL on it finds what can never be evaluated.
_TRIAL_DDL = (
    "CREATE TABLE __trial (seq BIGINT, project VARCHAR, log_name VARCHAR, "
    "log_id VARCHAR, ts BIGINT, receive_ts BIGINT, severity INTEGER, "
    "insert_id VARCHAR, text_payload VARCHAR, entry VARCHAR, search VARCHAR)"
)
_TRIAL_ROW = [
    1,
    "p",
    "projects/p/logs/l",
    "l",
    0,
    0,
    200,
    "i",
    "t",
    '{"logName":"projects/p/logs/l","resource":{"type":"global","labels":{"k":"v"}},'
    '"timestamp":"1970-01-01T00:00:00.000000Z","severity":"INFO","insertId":"i",'
    '"labels":{"k":"v"},"jsonPayload":{"s":"t","n":1.5,"b":true,"o":{"a":[1,"x"]}}}',
    "t\nv\n1.5\ntrue\n1\nx",
]
_trial_ready = False


def trial_evaluate(sql: str, text: str) -> None:
    """Run ``sql`` on one sample entry; FilterError (with DuckDB's reason) if it fails."""
    global _re2, _trial_ready
    with _re2_lock:
        if _re2 is None:
            _re2 = duckdb.connect(":memory:", config={"threads": 1})
        if not _trial_ready:
            _re2.execute(_TRIAL_DDL)
            _re2.execute("INSERT INTO __trial VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _TRIAL_ROW)
            _trial_ready = True
        try:
            _re2.execute(f"SELECT count(*) FROM __trial WHERE {sql}").fetchall()
        except duckdb.Error as e:
            msg = str(e).split("\n")[0]
            raise FilterError(f"the filter cannot be evaluated ({msg})", 0, text) from None
