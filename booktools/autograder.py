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
* what grading needs and nothing else: the packages ``pyproject.toml`` declares
  (``[tool.setuptools.packages.find]``) with the files pip installs them from, ``book.toml``,
  the chapter's student edition and what book.toml says it needs (chapter 04: chapter 03's
  reference checkpoint), ``assets/``, ``autograder.json`` (chapter, preset, limits), and
  ``hidden/`` when ``--hidden`` was given. No reference solution: the grader scores from its
  own computations, never by comparing with the solution (``solutions/`` holds one-line
  placeholders, because book.toml names the files).

The learner's notebook runs in a kernel of user ``tfbook-learner`` (``setup.sh`` and
``run_autograder`` create it), started through a kernel spec of this bundle
(``checks.kernel_user``): that user cannot read ``hidden/`` (root only), nor the grader's
working files, nor write anything of the grader's. What the learner reads in results.json is
the checks' messages and, for a cell that raised, its number and the exception's name only.

Every path is under ``$AUTOGRADER_ROOT`` (default ``/autograder``), so the bundle can be run
locally in a temporary folder laid out like Gradescope's.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tfbook.manifest import ROOT, load_book

# pip installs the packages from these (pyproject.toml names README.md as the readme)
INSTALL_FILES = ("pyproject.toml", "constraints.txt", "README.md")
DATA_DIRS = ("assets",)  # read by tfbook at the project root (the canvas widget, sample drawings)
PLACEHOLDER = "# Not shipped: the Gradescope bundle grades without the reference solution (booktools/autograder.py).\n"
KERNEL_USER = "tfbook-learner"
KERNEL_SPEC = "tfbook-learner"

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
# the learner's kernel runs as an unprivileged user; MNIST once, into the image, readable by it
# (the notebook trains on it; the grader measures the trained checkpoint on the test set)
PYTHONPATH="$ROOT/source" "$ROOT/venv/bin/python" -m booktools.autograder setup
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


def package_dirs(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The top-level packages that ``[tool.setuptools]`` of ``pyproject`` installs: its
    ``packages`` list, or what ``packages.find`` finds."""
    import fnmatch
    import tomllib

    packages = tomllib.loads(Path(pyproject).read_text())["tool"]["setuptools"]["packages"]
    if isinstance(packages, list):  # "tfbook.edition" is tfbook's package data (book.toml, chapters/)
        return sorted({name.split(".")[0] for name in packages})
    find = packages["find"]
    include, exclude = find.get("include", ["*"]), find.get("exclude", [])
    root = Path(pyproject).parent
    return sorted(
        d.name
        for w in find.get("where", ["."])
        for d in (root / w).iterdir()
        if (d / "__init__.py").exists()
        and any(fnmatch.fnmatchcase(d.name, p) for p in include)
        and not any(fnmatch.fnmatchcase(d.name, p) for p in exclude)
    )


def _tree(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
    )


def build_bundle(
    chapter_id: str,
    out: Path,
    preset: str = "quick",
    hidden: Path | None = None,
    cell_timeout: int | None = None,
    memory_mb: int | None = None,
) -> list[str]:
    """Write the zip; return the names it holds."""
    from booktools.build import REFERENCE_RUNS
    from booktools.workers import DEFAULT_MEMORY_MB

    book = load_book()
    chapter = book.chapter(chapter_id)
    if not chapter.ready:
        raise ValueError(f"chapter {chapter.id} is not ready (status {chapter.status!r})")
    config = {
        "chapter": chapter.id,
        "preset": preset,
        "cell_timeout": cell_timeout,
        "memory_mb": memory_mb or DEFAULT_MEMORY_MB,
        "hidden": bool(hidden),
    }
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
        for name in (*INSTALL_FILES, "book.toml"):
            if (ROOT / name).exists():
                add(ROOT / name, name)
        for folder in (*package_dirs(), *DATA_DIRS):
            for path in _tree(ROOT / folder):
                add(path, str(path.relative_to(ROOT)))
        for path in (chapter.student, chapter.notebook("student")):  # what the learner hands in
            add(path, str(path.relative_to(ROOT)))
        for other in book.ready_chapters():  # book.toml must find a file there, not the solution
            add(PLACEHOLDER.encode(), str(other.solution.relative_to(ROOT)))
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
                raise FileNotFoundError(
                    f"chapter {chapter.id} needs {need}: run `make book` first ({origin} does not exist)"
                )
            files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
            for path in files:
                add(path, str(path.relative_to(ROOT)))
    return names


def run_autograder_command(args) -> int:
    """``tfbook autograder NN --out FILE.zip``."""
    from booktools.hidden import hidden_dir

    out = Path(args.out)
    try:
        names = build_bundle(
            args.chapter, out, preset=args.preset, hidden=hidden_dir(args.hidden), cell_timeout=args.timeout
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    chapter = load_book().chapter(args.chapter)
    print(
        f"wrote {out} ({len(names)} files, {out.stat().st_size / 1024:,.0f} KB): chapter {chapter.id} "
        f"({chapter.title}), preset {args.preset}" + ("; with hidden checks" if "hidden/" in " ".join(names) else "")
    )
    print(
        "On Gradescope: a Programming Assignment, autograder 'zip file upload', base image Ubuntu 24.04 "
        f"(Python 3.12); learners upload {chapter.notebook('student').name}."
    )
    return 0


# --- inside Gradescope ------------------------------------------------------------------


def find_submission(folder: Path, chapter) -> Path | None:
    from booktools.submissions import find_submissions

    if not folder.is_dir():
        return None
    found = find_submissions(folder)
    if not found:
        nested = [
            p
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".ipynb", ".py") and ".ipynb_checkpoints" not in p.parts
        ]
        return nested[0] if nested else None
    wanted = chapter.notebook("student").stem
    return next((s.path for s in found if s.path.stem == wanted), found[0].path)


def ensure_user(name: str = KERNEL_USER):
    """The unprivileged user the learner's kernel runs as (made once, with a home)."""
    import pwd

    try:
        return pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )
    try:  # a grader started at the same moment may have made it first (useradd then fails)
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"could not create the user {name} for learners' kernels: {made.stderr.strip()}") from None


def isolate_kernel(source: Path, private: Path) -> str | None:
    """As root: make the learner's kernel start as ``KERNEL_USER``, unable to read the hidden
    checks or the grader's working files; return the user (None when not root)."""
    if os.geteuid() != 0:
        print("note: not root, so the learner's kernel runs as this user and could read hidden/")
        return None
    ensure_user(KERNEL_USER)
    hidden = source / "hidden"
    for path in [hidden, *hidden.rglob("*")] if hidden.exists() else []:
        os.chown(path, 0, 0)
        path.chmod(0o700 if path.is_dir() else 0o600)
    spec = private / "jupyter" / "kernels" / KERNEL_SPEC
    spec.mkdir(parents=True)
    # -P: nothing importable from the kernel's working folder while this still runs as root
    argv = [sys.executable, "-P", "-m", "booktools.autograder", "kernel", "--user", KERNEL_USER, "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "language": "python", "display_name": f"Python 3 ({KERNEL_USER})"})
    )
    from checks.kernel_user import KERNEL_ENV, KERNEL_USER_ENV

    os.environ.update({"JUPYTER_PATH": str(private / "jupyter"), KERNEL_ENV: KERNEL_SPEC, KERNEL_USER_ENV: KERNEL_USER})
    os.umask(0o077)  # what the grader writes stays its own, unless it hands it to the kernel
    return KERNEL_USER


def launch_kernel(connection_file: str, user: str) -> None:
    """The kernel spec's command: as root, give ``user`` a temporary folder with a copy of the
    connection file (jupyter_client wrote it for root alone), become ``user`` and start IPython."""
    from checks.kernel_user import give

    account = ensure_user(user)
    own = Path(tempfile.mkdtemp(prefix="tfbook-kernel-"))
    copy = own / "kernel.json"
    copy.write_bytes(Path(connection_file).read_bytes())
    give(own, user)
    home = account.pw_dir if Path(account.pw_dir).is_dir() else str(own)
    os.environ.update(HOME=home, USER=user, LOGNAME=user, TMPDIR=str(own), JUPYTER_RUNTIME_DIR=str(own))
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", str(copy)])


def setup() -> None:
    """``setup.sh``'s last step: the kernel's user, and MNIST in the image, readable by it."""
    import shutil
    from tfbook.data import CACHE_DIR, load_mnist

    account = ensure_user(KERNEL_USER)
    print(f"MNIST: {load_mnist().source}")
    for path in [CACHE_DIR, *CACHE_DIR.rglob("*")] if CACHE_DIR.exists() else []:
        path.chmod(0o755 if path.is_dir() else 0o644)
    keras = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if keras.exists():  # the kernel's user finds it in its own Keras cache
        target = Path(account.pw_dir) / ".keras" / "datasets" / "mnist.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(keras, target)
        for path in (target.parent.parent, target.parent, target):
            os.chown(path, account.pw_uid, account.pw_gid)


def grade_for_gradescope(root: Path) -> dict:
    from booktools.gradescope import results_json
    from booktools.hidden import add_hidden_checks
    from booktools.jobs import Job, failed_payload, prepare_one
    from booktools.workers import Limits, run_worker
    from checks.engine import results_json as grade_json
    from checks.kernel_user import give
    from checks.registry import load_chapter_checks

    source = root / "source"
    config = json.loads((source / "autograder.json").read_text())
    chapter = load_book().chapter(config["chapter"])
    hidden = source / "hidden" if config.get("hidden") else None
    from tfbook.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # the chapter's check module imports TensorFlow
    checks = load_chapter_checks(chapter.id)
    add_hidden_checks(checks, hidden)  # this process only lists them, for a failed grade
    template = grade_json(chapter.id, [checks.not_scored(c, "") for c in checks.checks], preset=config["preset"])
    submission = find_submission(root / "submission", chapter)
    if submission is None:
        reason = f"no notebook found in your submission: upload {chapter.notebook('student').name} (or its .py)"
        return results_json(failed_payload(chapter.id, reason, template))
    with tempfile.TemporaryDirectory(prefix="tfbook-autograder-") as tmp:
        user = isolate_kernel(source, Path(tmp) / "private")
        # the notebook's folder (the kernel's working folder) is the kernel's; the grader's work/ is not
        job = prepare_one(Job(submission.name, submission, submission.stem), Path(tmp) / "kernel", 0)
        if job.notebook is not None:
            if user:
                give(job.notebook.parent, user)
            limits = Limits(cell_timeout=config.get("cell_timeout"), memory_mb=config.get("memory_mb") or 4096)
            from booktools.build import REFERENCE_RUNS

            run_worker(job, chapter.id, config["preset"], limits, hidden, Path(tmp) / "work", REFERENCE_RUNS)
    payload = job.payload or failed_payload(chapter.id, job.problem or job.grader, template, job.scored)
    return results_json(payload, job.notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="grade /autograder/submission and write /autograder/results/results.json")
    p.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    sub.add_parser("setup", help="setup.sh's last step: the kernel's user, and MNIST readable by it")
    p = sub.add_parser("kernel", help="the kernel spec's command: start IPython as an unprivileged user")
    p.add_argument("--user", default=KERNEL_USER)
    p.add_argument("connection_file")
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup()
        return 0
    if args.command == "kernel":
        launch_kernel(args.connection_file, args.user)
        return 1  # not reached: launch_kernel replaces this process
    root = Path(args.root)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        data = grade_for_gradescope(root)
    except Exception as e:  # the learner must always get a results.json, never nothing
        data = {
            "score": 0,
            "output": f"The autograder failed: {type(e).__name__}: {e}. Please tell your instructor.",
            "tests": [],
        }
    (results / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"score {data.get('score')}; wrote {results / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
