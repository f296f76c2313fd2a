"""``python -m cloudlog serve --db runs/logs.duckdb --port 8085``

``python -m cloudlog query --project my-project "SELECT ..."`` runs read-only SQL on a
running server's sink datasets (DuckDB's file lock keeps other processes out of the file
while the server runs), in the spirit of ``bq query``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudlog", description="Local Cloud Logging service (127.0.0.1 only)."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve the Cloud Logging v2 REST API")
    serve.add_argument("--db", default="runs/logs.duckdb", help="DuckDB file (created if absent)")
    serve.add_argument("--port", type=int, default=8085, help="TCP port on 127.0.0.1 (0: any)")
    serve.add_argument(
        "--bucket-dir", default=None, help="where storage.googleapis.com sinks write (default: next to --db)"
    )
    serve.add_argument("-v", "--verbose", action="store_true")
    query = sub.add_parser(
        "query", help="run read-only SQL on a running server's sink datasets (like bq query) and print a table"
    )
    query.add_argument(
        "sql",
        help='e.g. "SELECT count(*) FROM structlog.struct_log_20261128" '
        "(dataset.table, `project.dataset.table`, wildcard tables)",
    )
    query.add_argument(
        "--project",
        default=os.environ.get("CLOUDLOG_PROJECT"),
        help="whose datasets dataset.table names (default: $CLOUDLOG_PROJECT, else "
        "the one project whose sinks wrote datasets)",
    )
    query.add_argument(
        "--endpoint",
        default=None,
        help="the server's URL (default: http://127.0.0.1:PORT, else $LOGGING_ENDPOINT, else http://127.0.0.1:8085)",
    )
    query.add_argument("--port", type=int, default=None, help="the server's port on 127.0.0.1 (default 8085)")
    query.add_argument("--max-rows", type=int, default=100, help="rows to print (default 100)")
    query.add_argument("--format", choices=("table", "json", "csv"), default="table")
    args = parser.parse_args(argv)
    if args.cmd == "query":
        from cloudlog.cli_query import run_query_command

        return run_query_command(args)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)

    # SIGTERM at any moment, start-up included, stops the service cleanly: the applied
    # position is committed with every batch, and the rest stays in the journal.
    state = {"svc": None, "stop": False}

    def on_term(*_):  # stop accepting, finish the writer, checkpoint (see the finally below)
        state["stop"] = True
        if state["svc"] is not None:
            threading.Thread(target=state["svc"].httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    from cloudlog.server import LocalService  # after the handler: importing takes a while

    svc = state["svc"] = LocalService(args.db, args.port, args.bucket_dir)
    if state["stop"]:
        svc.httpd.server_close()
        svc.store.close()
        os._exit(0)
    print(f"cloudlog listening on {svc.endpoint} (db={args.db})", flush=True)
    status = 0
    try:
        svc.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        try:
            svc.httpd.server_close()
            svc.store.close()  # applies what was acknowledged (it is in the journal anyway)
        except Exception:  # noqa: BLE001 - acknowledged writes are in the journal already
            logging.getLogger("cloudlog").exception("error while stopping")
            status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # connection threads may still be inside a (now interrupted) query: do not wait for them
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
