"""Gradescope: ``tfbook autograder NN --out ch03-autograder.zip`` writes an autograder bundle.

The zip holds, at its top level (Gradescope unpacks it into ``/autograder/source``):

* ``setup.sh``: makes a virtual environment in ``/autograder/venv`` and installs the book with
  pip from its ``pyproject.toml``, pinned by ``constraints.txt``, then fetches MNIST once (the
  grader measures the checkpoint on the test set). Use a base image with Python 3.11 or newer
  (Gradescope's Ubuntu 24.04 image has 3.12).
* ``run_autograder``: grades ``/autograder/submission/*.ipynb`` (or a jupytext ``.py``) with
  this book's grader, in a process of its own with the bundle's limits, and writes
  ``/autograder/results/results.json`` (``booktools.gradescope``). A notebook that cannot be
  read, or that stops the grading process, still gets a results.json with the reason.
* the book's source (``tfbook/``, ``checks/``, ``booktools/``, ``book.toml``, the editions),
  ``autograder.json`` (chapter, preset, limits), and ``hidden/`` when ``--hidden`` was given:
  the bundle is uploaded by the instructor and never seen by learners.

Every path is under ``$AUTOGRADER_ROOT`` (default ``/autograder``), so the bundle can be run
locally in a temporary folder laid out like Gradescope's.
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from tfbook.manifest import ROOT, load_book

SOURCE_DIRS = ("tfbook", "checks", "booktools", "solutions", "chapters", "assets")
SOURCE_FILES = ("pyproject.toml", "constraints.txt", "book.toml", "README.md")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
PYTHON="${AUTOGRADER_PYTHON:-$(command -v python3.12 || command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "the book needs Python 3.11 or newer: pick a newer base image"'
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -c constraints.txt -e .
# MNIST once, into the image (the grader measures the trained checkpoint on the test set)
"$ROOT/venv/bin/python" -c 'from tfbook.data import load_mnist; print(load_mnist().source)'
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes $ROOT/results/results.json.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
cd "$ROOT/source" || exit 1
PYTHONPATH="$ROOT/source${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m booktools.autograder run --root "$ROOT"
"""


def _add_file(archive: zipfile.ZipFile, path: Path, name: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2016, 7, 4, 0, 0, 0))
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes() if isinstance(path, Path) else path)


def build_bundle(chapter_id: str, out: Path, preset: str = "quick", hidden: Path | None = None,
                 cell_timeout: int | None = None, memory_mb: int | None = None) -> list[str]:
    """Write the zip; return the names it holds."""
    from booktools.build import REFERENCE_RUNS
    from booktools.grading import DEFAULT_MEMORY_MB
    book = load_book()
    chapter = book.chapter(chapter_id)
    if not chapter.ready:
        raise ValueError(f"chapter {chapter.id} is not ready (status {chapter.status!r})")
    config = {"chapter": chapter.id, "preset": preset, "cell_timeout": cell_timeout,
              "memory_mb": memory_mb or DEFAULT_MEMORY_MB, "hidden": bool(hidden)}
    names = []
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        def add(content, name, executable=False):
            _add_file(archive, content, name, executable)
            names.append(name)
        add(SETUP_SH.encode(), "setup.sh", executable=True)
        add(RUN_AUTOGRADER.encode(), "run_autograder", executable=True)
        add((json.dumps(config, indent=2) + "\n").encode(), "autograder.json")
        for name in SOURCE_FILES:
            if (ROOT / name).exists():
                add(ROOT / name, name)
        for folder in SOURCE_DIRS:
            for path in sorted((ROOT / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
                    add(path, str(path.relative_to(ROOT)))
        if hidden is not None:
            source = Path(hidden) / f"ch{chapter.id}.py"
            if not source.exists():
                raise FileNotFoundError(f"no hidden checks for chapter {chapter.id}: {source} does not exist")
            add(source, f"hidden/ch{chapter.id}.py")
        for need in chapter.needs:  # what another chapter makes (chapter 04: 03's checkpoint)
            if not need.startswith("runs/"):
                continue
            origin = REFERENCE_RUNS / need.removeprefix("runs/")
            if not origin.exists():
                raise FileNotFoundError(f"chapter {chapter.id} needs {need}: run `make book` first "
                                        f"({origin} does not exist)")
            files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
            for path in files:
                add(path, str(path.relative_to(ROOT)))
    return names


def run_autograder_command(args) -> int:
    """``tfbook autograder NN --out FILE.zip``."""
    from booktools.hidden import hidden_dir
    out = Path(args.out)
    try:
        names = build_bundle(args.chapter, out, preset=args.preset, hidden=hidden_dir(args.hidden),
                             cell_timeout=args.timeout)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    chapter = load_book().chapter(args.chapter)
    print(f"wrote {out} ({len(names)} files, {out.stat().st_size / 1024:,.0f} KB): chapter {chapter.id} "
          f"({chapter.title}), preset {args.preset}"
          + ("; with hidden checks" if "hidden/" in " ".join(names) else ""))
    print("On Gradescope: a Programming Assignment, autograder 'zip file upload', base image Ubuntu 24.04 "
          f"(Python 3.12); learners upload {chapter.notebook('student').name}.")
    return 0


# --- inside Gradescope ------------------------------------------------------------------

def find_submission(folder: Path, chapter) -> Path | None:
    from booktools.submissions import find_submissions
    if not folder.is_dir():
        return None
    found = find_submissions(folder)
    if not found:
        nested = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".ipynb", ".py")
                  and ".ipynb_checkpoints" not in p.parts]
        return nested[0] if nested else None
    wanted = chapter.notebook("student").stem
    return next((s.path for s in found if s.path.stem == wanted), found[0].path)


def grade_for_gradescope(root: Path) -> dict:
    from booktools.gradescope import results_json
    from booktools.grading import Job, Limits, failed_payload, prepare_one, run_worker
    from booktools.hidden import add_hidden_checks
    from checks.engine import results_json as grade_json
    from checks.registry import load_chapter_checks

    source = root / "source"
    config = json.loads((source / "autograder.json").read_text())
    chapter = load_book().chapter(config["chapter"])
    hidden = source / "hidden" if config.get("hidden") else None
    from tfbook.quiet import import_tensorflow_quietly
    import_tensorflow_quietly()  # the chapter's check module imports TensorFlow
    checks = load_chapter_checks(chapter.id)
    add_hidden_checks(checks, hidden)  # this process only lists them, for a failed grade
    template = grade_json(chapter.id, [checks.not_scored(c, "") for c in checks.checks],
                          preset=config["preset"])
    submission = find_submission(root / "submission", chapter)
    if submission is None:
        reason = (f"no notebook found in your submission: upload {chapter.notebook('student').name} "
                  "(or its .py)")
        return results_json(failed_payload(chapter.id, reason, template))
    with tempfile.TemporaryDirectory(prefix="tfbook-autograder-") as tmp:
        job = prepare_one(Job(submission.name, submission, submission.stem), Path(tmp), 0)
        if job.notebook is not None:
            limits = Limits(cell_timeout=config.get("cell_timeout"), memory_mb=config.get("memory_mb") or 4096)
            from booktools.build import REFERENCE_RUNS
            run_worker(job, chapter.id, config["preset"], limits, hidden, Path(tmp) / "work", REFERENCE_RUNS)
    payload = job.payload or failed_payload(chapter.id, job.problem, template)
    return results_json(payload, job.notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="grade /autograder/submission and write /autograder/results/results.json")
    p.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    root = Path(args.root)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        data = grade_for_gradescope(root)
    except Exception as e:  # the learner must always get a results.json, never nothing
        data = {"score": 0, "output": f"The autograder failed: {type(e).__name__}: {e}. "
                                      "Please tell your instructor.", "tests": []}
    (results / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"score {data.get('score')}; wrote {results / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
