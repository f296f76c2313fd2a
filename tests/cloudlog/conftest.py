"""Fixtures for the local Cloud Logging service: a fresh service per test, the real client."""

from __future__ import annotations

import pytest

import google.cloud.logging_v2 as _gcl

import cloudlog

# The client writes one "diagnostic" entry (its version) the first time a process logs;
# mark it as done so tests can count their own entries exactly.
_gcl._instrumentation_emitted = True

PROJECT = "tfbook-test"


@pytest.fixture
def svc(tmp_path):
    service = cloudlog.start_local(tmp_path / "logs.duckdb", bucket_dir=tmp_path / "gcs")
    yield service
    service.stop()


@pytest.fixture
def client(svc):
    return cloudlog.client(svc.endpoint, PROJECT)
