"""bench/bench_ch02.py and bench/ch02_servers.py: a smoke test of the functions the chapter 02
benchmark is made of (a few dozen requests, no figures checked)."""

from __future__ import annotations

import os

import pytest

import cloudlog
from bench import bench_ch02 as bench
from bench import ch02_servers


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = cloudlog.start_local(tmp_path_factory.mktemp("bench-ch02") / "logs.duckdb")
    yield svc
    svc.stop()


def test_request_texts_name_each_entry():
    assert bench.request_text(5) == "load -a 5" and bench.request_text(6) == "load 6"


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        ch02_servers.make_app("fast", "http://127.0.0.1:1", "p")


@pytest.mark.slow  # loads and kills a Flask server process, about 8 s
def test_sync_server_every_200_is_stored_and_a_crash_loses_none(service):
    """The post's way answers after the write: whatever got a 200 is in the service, even when
    the server is killed under load."""
    # the in-thread service runs in this process: its CPU is read from os.getpid()
    rate = bench.throughput("sync", None, service.endpoint, service_pid=os.getpid(), project="rate", n=40)
    assert rate["errors"] == [] and rate["missing"] == 0
    assert rate["stored_rate"] > 0 and set(rate["cpu"]) == {"Flask", "service", "load gen"}
    lost = bench.crash("sync", None, service.endpoint, "crash", after=0.3)
    assert lost["acked"] > 0 and lost["lost"] == 0


def test_batched_server_drains_its_queue_and_reads_back(service):
    """The background variant answers before the write; /flush on each client's connection
    returns once the queue is written, and the entries read back by id."""
    server = bench.FlaskServer("batched", service.endpoint, "batched")
    try:
        load = bench.drive(server.port, range(30), flush=True)
        assert sorted(load.acked) == list(range(30)) and load.flushed_seconds >= load.seconds
        assert bench.stored_ids(cloudlog.client(service.endpoint, "batched"), "batched") == set(range(30))
    finally:
        server.kill()


def test_group_commit_under_gunicorn_keeps_connections_and_loses_nothing(service):
    """gunicorn on a socket the bench binds: its worker serves keep-alive connections, each
    200 comes after the write, and a SIGKILL of the process group loses no acknowledged entry."""
    pytest.importorskip("gunicorn")
    lost = bench.crash("group", 1, service.endpoint, "gunicorn", after=0.3)
    assert lost["acked"] > 0 and lost["lost"] == 0
