"""``python -m cloudlog query``: SQL against a running server, printed like ``bq query``.

It talks HTTP to the server's query route (``POST /local/v1/projects/P/queries``) with the
standard library only, so it needs nothing the service does not."""

from __future__ import annotations

import csv
import json
import os
import sys
import urllib.error
import urllib.request


def format_table(columns: list[str], rows: list[list]) -> str:
    """``bq``-style box: +---+ borders, one line per row, values as text (NULL for None)."""

    def text(v):
        if v is None:
            return "NULL"
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        return str(v)

    cells = [[text(v).replace("\n", "\\n") for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values):
        return "|" + "|".join(f" {v:<{w}} " for v, w in zip(values, widths)) + "|"

    return "\n".join([rule, line(columns), rule] + [line(r) for r in cells] + [rule])


def run_query_command(args) -> int:
    # an explicit --endpoint or --port wins over $LOGGING_ENDPOINT, which wins over 8085
    endpoint = (
        args.endpoint
        or (args.port and f"http://127.0.0.1:{args.port}")
        or os.environ.get("LOGGING_ENDPOINT")
        or "http://127.0.0.1:8085"
    ).rstrip("/")
    port = args.port or 8085
    if not 0 < args.max_rows <= 10_000:
        print("error: --max-rows must be between 1 and 10000", file=sys.stderr)
        return 2
    # without a project the server takes the one project whose sinks wrote datasets
    url = (
        f"{endpoint}/local/v1/projects/{urllib.request.quote(args.project, safe='')}/queries"
        if args.project
        else f"{endpoint}/local/v1/queries"
    )
    body = json.dumps({"query": args.sql, "maxResults": args.max_rows}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            result = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {e.code} {e.reason}"
        print(f"error: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        print(
            f"error: no cloudlog service answers at {endpoint} ({reason}).\n"
            f"Start one with: python -m cloudlog serve --db runs/logs.duckdb --port "
            f"{port}   (or pass --endpoint / --port)",
            file=sys.stderr,
        )
        return 1
    columns, rows = result["columns"], result["rows"]
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False))
    elif args.format == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    else:
        print(format_table(columns, rows))
    if result.get("truncated"):
        print(f"(only the first {len(rows)} rows; use --max-rows or LIMIT)", file=sys.stderr)
    return 0
