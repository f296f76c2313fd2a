"""A submission that kills its grading process leaves no temporary files behind (issue 22):
the worker's and the kernel's temporary files (scratch, connection file, autograph's files)
all live in the job's own folder, which class grading removes."""

from __future__ import annotations

import os

import nbformat
import pytest


@pytest.mark.slow  # starts a real worker (imports TensorFlow) and a kernel: about 20 s
def test_a_submission_that_kills_its_grading_process_leaves_nothing_in_the_temp_dir(tmp_path, monkeypatch):
    from booktools.jobs import Job
    from booktools.workers import Limits, run_worker

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))  # what the worker would litter
    monkeypatch.delenv("JUPYTER_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import os, signal, tempfile\n"
                "tempfile.NamedTemporaryFile(suffix='.py', delete=False).write(b'# like autograph')\n"
                "os.kill(os.getppid(), signal.SIGKILL)"
            )
        ]
    )
    notebook = tmp_path / "killer.ipynb"
    nbformat.write(nb, notebook)
    job = run_worker(
        Job("killer.ipynb", notebook, "killer", notebook=notebook),
        "02",
        "smoke",
        Limits(cell_timeout=120, notebook_timeout=300),
        None,
        tmp_path / "job",
        None,
    )
    assert "killed by SIGKILL" in job.problem
    assert list(system_tmp.iterdir()) == []
    left = [p.name for p in (tmp_path / "job" / "tmp").rglob("*")]
    assert any(name.startswith("tfbook-grade-") for name in left)  # the grader's scratch
    assert any(name.startswith("tmp") and name.endswith(".json") for name in left)  # the connection file
    assert any(name.endswith(".py") for name in left)  # what the kernel wrote
    assert not (tmp_path / "jupyter-data" / "runtime").exists() or not os.listdir(tmp_path / "jupyter-data" / "runtime")
