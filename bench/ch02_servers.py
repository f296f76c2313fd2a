"""The Flask log collectors that ``bench.bench_ch02`` compares, one per way of writing an entry.

Every variant serves ``GET /slog?name=&text=&key=`` and answers 200 with the text once it has
taken the entry; they differ in what "taken" means:

- ``sync``: the chapter's own ``create_app`` (its exercise cells, loaded from the solution):
  one ``log_struct`` per request, answered after the service acknowledged that write.
- ``group``: requests in flight share one ``entries:write`` (group commit); each request is
  still answered only after the write that carries its entry succeeded.
- ``background``: the client library's ``CloudLoggingHandler`` with its default
  ``BackgroundThreadTransport``: the request puts the entry on an in-memory queue and is
  answered at once; a thread of the client writes the queue in batches later.

Run one with werkzeug's threaded server (as the chapter does):
``python -m bench.ch02_servers MODE ENDPOINT PROJECT`` prints ``port N`` and serves on 127.0.0.1.
Under gunicorn, ``app_from_env()`` builds the same app from CH02_MODE, CH02_ENDPOINT and
CH02_PROJECT. ``GET /flush`` (bench only) returns once this process's queue is written.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import uuid
from pathlib import Path

import google.cloud.logging_v2 as gcl_v2
from flask import Flask, request

import cloudlog
from tfbook.chapter_code import load_chapter

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "02_log_collector.py"
MODES = ("sync", "group", "background", "batched")
BATCH_SIZE, MAX_LATENCY = 500, 0.05  # "batched": up to 500 entries a write, filled for up to 50 ms
gcl_v2._instrumentation_emitted = True  # no extra diagnostic entry


def chapter_create_app(solution: Path = SOLUTION):
    """The chapter's ``create_app`` with its two route exercises: the notebook's exercises part
    (tfbook/chapter_code.py: its support and exercise cells; of the create_app cell, which also
    starts the chapter's server, its definitions only)."""
    return load_chapter(solution, part="exercises").create_app


def entry_from_request() -> dict:
    """The chapter's struct entry: the query's three fields with the post's defaults."""
    return {
        "name": request.args.get("name", "myterry"),
        "text": request.args.get("text") or f"This is struct log {uuid.uuid4()}",
        "key": request.args.get("key", "mykey"),
    }


def group_commit_app(client) -> Flask:
    """Requests that arrive while a write is under way wait for the next one, which carries
    them all: one entries:write per group instead of per request, and still no 200 before the
    service has the entry."""
    logger, cond, pending = client.logger("struct_log"), threading.Condition(), []

    def writer():
        while True:
            with cond:
                while not pending:
                    cond.wait()
                items = pending[:]
                pending.clear()
            batch = logger.batch()
            for entry, _ in items:
                batch.log_struct(entry)
            try:
                batch.commit()
                ok = True
            except Exception:  # every request of the group answers 500
                ok = False
            for _, done in items:
                done["ok"] = ok
                done["event"].set()

    threading.Thread(target=writer, name="group-commit", daemon=True).start()
    app = Flask("group_commit")

    @app.route("/slog")
    def struct_log():
        entry, done = entry_from_request(), {"event": threading.Event()}
        with cond:
            pending.append((entry, done))
            cond.notify()
        done["event"].wait()
        return (entry["text"], 200) if done["ok"] else ("write failed", 500)

    return app


def background_app(client, batch_size: int = 10, max_latency: float = 0) -> tuple[Flask, logging.Handler]:
    """The client's own batching: a Python logger whose CloudLoggingHandler queues each entry
    for the client's background thread (BackgroundThreadTransport). Its defaults write at most
    10 entries per entries:write and do not wait for more (``max_latency=0``)."""
    from google.cloud.logging_v2.handlers import CloudLoggingHandler
    from google.cloud.logging_v2.handlers.transports import BackgroundThreadTransport
    from google.cloud.logging_v2.resource import Resource

    transport = functools.partial(BackgroundThreadTransport, batch_size=batch_size, max_latency=max_latency)
    # resource given, so that the handler does not probe for a cloud metadata server
    handler = CloudLoggingHandler(
        client, name="struct_log", transport=transport, resource=Resource(type="global", labels={})
    )
    struct_logger = logging.getLogger("struct_log")
    struct_logger.setLevel(logging.INFO)
    struct_logger.propagate = False  # only to Cloud Logging, not to the console
    struct_logger.addHandler(handler)
    app = Flask("background")

    @app.route("/slog")
    def struct_log():
        entry = entry_from_request()
        struct_logger.info(entry)  # a dict becomes the entry's jsonPayload
        return entry["text"]

    return app, handler


def make_app(mode: str, endpoint: str, project: str) -> Flask:
    client = cloudlog.client(endpoint, project)
    flush = lambda: None  # noqa: E731 - sync and group have nothing queued
    if mode == "sync":
        app = chapter_create_app()(client)
    elif mode == "group":
        app = group_commit_app(client)
    elif mode == "background":
        app, handler = background_app(client)
        flush = handler.flush
    elif mode == "batched":
        app, handler = background_app(client, batch_size=BATCH_SIZE, max_latency=MAX_LATENCY)
        flush = handler.flush
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    @app.route("/flush")
    def flush_route():  # bench only: answered once this process has written its queue
        flush()
        return "flushed"

    return app


def app_from_env() -> Flask:
    """For gunicorn: ``gunicorn 'bench.ch02_servers:app_from_env()'``."""
    return make_app(os.environ["CH02_MODE"], os.environ["CH02_ENDPOINT"], os.environ["CH02_PROJECT"])


def main(argv=None):
    from werkzeug.serving import make_server

    mode, endpoint, project = argv or sys.argv[1:]
    app = make_app(mode, endpoint, project)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print("port", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
