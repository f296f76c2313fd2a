"""Reading what learners hand in: whatever the file holds, a clean notebook or a clear reason.

A submission is an ``.ipynb`` or a jupytext ``.py`` (percent format). ``load_submission``
returns the notebook the grader will run, with every output, execution count and attachment
removed (outputs left in cannot influence the grade, and huge ones cost nothing), plus notes
for the instructor (e.g. "not UTF-8: read as Windows-1252"). A file that cannot be read as a
notebook raises ``Rejected`` with a reason written for the class report.

The ``.py`` and ``.ipynb`` of one learner are one notebook (jupytext pairs them):
``find_submissions`` groups them by name and keeps the newer when they differ, with a note.
A subfolder is one learner's submission, named by the folder: the usual export of a learning
management system (``ada/03_cnn_training.ipynb``, ``Bob Lee_1234_assignsubmission_file/...``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SUFFIXES = (".ipynb", ".py")
MAX_BYTES = 200 * 1024 * 1024  # larger than any notebook with its outputs has reason to be


class Rejected(ValueError):
    """The file is not a notebook the grader can run; the message says why, for the report."""


# folders that are never a learner's submission
SKIPPED_FOLDERS = {"grades", ".ipynb_checkpoints", "__pycache__", "__MACOSX"}


@dataclass
class Submission:
    name: str  # the row's name: the file name graded, or the learner's folder
    path: Path  # the file graded
    notes: list[str] = field(default_factory=list)
    key: str = ""  # the stem of the files written for it (grades/KEY.json, ...)


def _notebooks(folder: Path) -> dict[str, list[Path]]:
    """The notebook files directly in ``folder``, grouped by stem (a .py/.ipynb pair is one)."""
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in SUFFIXES and not path.name.startswith("."):
            by_stem.setdefault(path.stem, []).append(path)
    return by_stem


def _one_of_pair(stem: str, paths: list[Path]) -> tuple[Path, list[str]]:
    """The file to grade of a stem's files: the only one, or the newer of a .py/.ipynb pair."""
    from checks.cli import pick_edited

    if len(paths) == 1:
        return paths[0], []
    ipynb = next(p for p in paths if p.suffix == ".ipynb")
    try:
        chosen, note = pick_edited(ipynb)
    except Exception:  # one of the pair is unreadable: grade the notebook, say so
        chosen, note = ipynb, f"{stem}.py was ignored: {stem}.ipynb and {stem}.py could not be compared"
    return chosen, [note] if note else []


def _in_folder(folder: Path, chapter) -> tuple[Path, list[str]] | None:
    """A learner's folder: the notebook to grade in it (or in its subfolders) and notes."""
    by_stem = {}
    for sub in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
        if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in sub.relative_to(folder).parts):
            continue
        for stem, paths in _notebooks(sub).items():
            by_stem.setdefault((sub, stem), paths)
    if not by_stem:
        return None
    wanted = Path(chapter.student).stem if chapter is not None else None
    # the chapter's own notebook when it is there, else the most recently edited
    key = max(by_stem, key=lambda k: (k[1] == wanted, max(p.stat().st_mtime for p in by_stem[k])))
    chosen, notes = _one_of_pair(key[1], by_stem[key])
    others = sorted(str(p.relative_to(folder)) for k, paths in by_stem.items() if k != key for p in paths)
    if others:
        notes.append(f"graded {chosen.relative_to(folder)}; also in the folder, not graded: {', '.join(others)}")
    return chosen, notes


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "submission"


def find_submissions(folder: Path, chapter=None) -> list[Submission]:
    """Every submission in ``folder``: each notebook file (one per learner: file stem), and each
    subfolder (one learner, named by the folder; ``chapter``'s notebook preferred in it)."""
    found = []
    for stem, paths in sorted(_notebooks(folder).items()):
        chosen, notes = _one_of_pair(stem, paths)
        found.append(Submission(chosen.name, chosen, notes, stem))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name in SKIPPED_FOLDERS or sub.name.startswith("."):
            continue
        inside = _in_folder(sub, chapter)
        if inside is not None:
            found.append(Submission(sub.name, inside[0], inside[1], _safe(sub.name)))
    taken: set[str] = set()
    for submission in found:  # two rows must not write the same grades/KEY.json
        key, n = submission.key, 2
        while submission.key in taken:
            submission.key, n = f"{key}-{n}", n + 1
        taken.add(submission.key)
    return found


def decode(raw: bytes) -> tuple[str, list[str]]:
    """Text and notes: UTF-8 (with or without a BOM), else Windows-1252, else Latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as e:
        where = f"byte {e.start} (0x{raw[e.start]:02x})"
    for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            return raw.decode(encoding), [f"the file is not UTF-8 (first bad {where}): read as {label}"]
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def load_submission(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to grade (outputs stripped) and notes; ``Rejected`` with the reason."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise Rejected("the file is empty")
    if size > MAX_BYTES:
        raise Rejected(f"the file is {size / 2**20:,.0f} MB, over the {MAX_BYTES // 2**20} MB limit")
    text, notes = decode(path.read_bytes())
    if "\x00" in text:
        raise Rejected("the file holds binary data (NUL bytes), not a notebook")
    if path.suffix == ".py":
        nb = _read_py(text)
    else:
        nb = _read_ipynb(text)
    outputs = sum(len(c.get("outputs", [])) for c in nb.cells if c.get("cell_type") == "code")
    if outputs:
        notes.append(
            f"{outputs} output{'s were' if outputs != 1 else ' was'} left in the notebook: removed before grading"
        )
    nb = clean(nb)
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        raise Rejected("the notebook has no code cells")
    return nb, notes


def _read_py(text: str) -> nbformat.NotebookNode:
    import jupytext

    try:
        return jupytext.reads(text, fmt="py:percent")
    except Exception as e:
        raise Rejected(f"not a jupytext percent script: {type(e).__name__}: {e}") from None


def _read_ipynb(text: str) -> nbformat.NotebookNode:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise Rejected(
            f"not a valid notebook: the JSON is broken at line {e.lineno}, column {e.colno} "
            f"({e.msg}); open it in Jupyter, or hand in the .py"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Rejected("not a valid notebook: the JSON has no list of cells")
    try:
        return nbformat.reads(json.dumps(data), as_version=4)
    except Exception:  # malformed metadata or cells: rebuild from what the cells hold
        return _rebuild(data)


def _rebuild(data: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        kind = cell.get("cell_type")
        if kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(source))
        elif kind in ("markdown", "raw"):
            nb.cells.append(
                nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_raw_cell(source)
            )
    if not nb.cells:
        raise Rejected("not a valid notebook: none of its cells could be read")
    return nb


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy with no outputs, execution counts or attachments, fresh cell ids, kernel python3."""
    out = nbformat.v4.new_notebook()
    out.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    for index, cell in enumerate(nb.cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "code":
            new = nbformat.v4.new_code_cell(source)
        elif cell.get("cell_type") == "markdown":
            new = nbformat.v4.new_markdown_cell(source)
        else:
            new = nbformat.v4.new_raw_cell(source)
        new["id"] = f"cell-{index:04d}"
        out.cells.append(new)
    return out
