"""Helpers shared by the test modules (import with ``from helpers import ...``; pytest puts
tests/ on sys.path): judging check results, driving JupyterLab and Chromium, serving event
files with a real TensorBoard, and counting the local logging service's entries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tfbook.manifest import ROOT

# --- check results --------------------------------------------------------------------------


def variant(ns: dict, **replacements) -> dict:
    """A copy of a chapter's namespace with some definitions replaced (a learner's variant)."""
    ns = dict(ns)
    ns.update(replacements)
    return ns


def failing(results: dict, check: str):
    result = results[check]
    assert result.status == "failed", f"{check} should fail but {result.status}: {result.message}"
    return result


def passing(results: dict) -> dict:
    failed = {k: (r.status, r.message, r.expected, r.got) for k, r in results.items() if not r.passed}
    assert not failed
    return results


# --- a browser and a JupyterLab ---------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "build" / "test-artifacts"  # screenshots and logs a person can look at


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: install the Debian package `chromium`")
    pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` to run the browser test")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root_dir: Path, port: int, token: str, log, env: dict, extra_args=()) -> subprocess.Popen:
    """JupyterLab on 127.0.0.1:port serving ``root_dir``, with its own settings (no news toast,
    every cell rendered), kernels importing this checkout, and ``window.jupyterapp`` exposed."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    jupyter = root_dir.parent / "jupyter"
    for name, text in (
        ("@jupyterlab/apputils-extension/notification.jupyterlab-settings", '{"fetchNews": "false"}'),
        ("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", '{"windowingMode": "none"}'),
    ):
        path = jupyter / "jupyterlab_settings_dir" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
        "IPYTHONDIR",
    ):
        env[name] = str(jupyter / name.lower())
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--allow-root",  # containers often run tests as root; harmless otherwise
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *extra_args,
    ]
    return subprocess.Popen(cmd, env=env, cwd=root_dir, stdout=log, stderr=subprocess.STDOUT)


def wait_for_lab(proc, port: int, token: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not answer in {timeout_s}s:\n{log_path.read_text()[-3000:]}")


def stop(proc, timeout_s: float = 20) -> None:
    """Terminate (a server shuts its kernels down), then kill if it does not go."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- a real TensorBoard (tests/test_tensorboard_server.py, test_summaries.py) ---------------

TENSORBOARD = Path(sys.executable).parent / "tensorboard"
START_S = 120  # TensorBoard imports TensorFlow at start-up: slow on a busy 2-core machine


def tensorboard_get(port: int, path: str, **query):
    """What a server on the loopback port answers to GET path?query, as JSON."""
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@contextmanager
def serving(log_root: Path, runs, log_path: Path):
    """A TensorBoard on a free loopback port serving log_root, once it lists ``runs``; yields
    the port and stops the server at the end."""
    assert TENSORBOARD.exists(), f"{TENSORBOARD} is missing: the pinned tensorboard package installs it"
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(TENSORBOARD),
                "--logdir",
                str(log_root),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--reload_interval",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
    try:
        deadline, listed = time.monotonic() + START_S, []
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"tensorboard exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                listed = tensorboard_get(port, "/data/runs")
                if set(runs) <= set(listed):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError(
                f"TensorBoard did not list runs {runs} within {START_S} s (got {listed}):\n"
                f"{log_path.read_text()[-3000:]}"
            )
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with socket.socket() as s:  # the port is free again: nothing left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0


# --- the local Cloud Logging service, seen from outside -------------------------------------


def count_entries(svc, filter_: str = "", project: str = "tfbook-test") -> int:
    """How many entries of ``project`` match ``filter_``, through the public entries:list API."""
    import requests

    body, total = {"resourceNames": [f"projects/{project}"], "filter": filter_, "pageSize": 1000}, 0
    while True:
        response = requests.post(svc.endpoint + "/v2/entries:list", json=body, timeout=60)
        assert response.status_code == 200, response.text
        page = response.json()
        total += len(page.get("entries", []))
        if not page.get("nextPageToken"):
            return total
        body["pageToken"] = page["nextPageToken"]


def service_stats(svc) -> dict:
    """The service's counters (commits, processing errors, longest apply), over HTTP."""
    import requests

    response = requests.get(svc.endpoint + "/local/v1/stats", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()
