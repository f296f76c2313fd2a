"""``python -m tfbook.cloudlog serve --db runs/logs.duckdb --port 8085``"""
from __future__ import annotations

import argparse
import logging
import signal
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfbook.cloudlog",
                                     description="Local Cloud Logging service (127.0.0.1 only).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve the Cloud Logging v2 REST API")
    serve.add_argument("--db", default="runs/logs.duckdb", help="DuckDB file (created if absent)")
    serve.add_argument("--port", type=int, default=8085, help="TCP port on 127.0.0.1 (0: any)")
    serve.add_argument("--bucket-dir", default=None,
                       help="where storage.googleapis.com sinks write (default: next to --db)")
    serve.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)

    from tfbook.cloudlog.server import LocalService

    svc = LocalService(args.db, args.port, args.bucket_dir)
    import threading

    def on_term(*_):  # shut down cleanly: stop accepting, finish the writer, checkpoint
        threading.Thread(target=svc.httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)
    print(f"cloudlog listening on {svc.endpoint} (db={args.db})", flush=True)
    try:
        svc.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        svc.httpd.server_close()
        svc.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
