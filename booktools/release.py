"""Editions: solutions/NN_slug.py is the single source; chapters/ is generated from it.

In a solution, an exercise is a markdown cell whose heading names it (``### Exercise 3.2:
output_size``) followed by code with the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION``. The student edition replaces each such block with a stub and keeps every
other cell identical:

* a block of plain assignments (``FLATTEN_SIZE = 7 * 7 * 64``) becomes ``FLATTEN_SIZE = ...``;
* any other block becomes ``raise NotImplementedError("Exercise 3.2: output_size")``.

``release()`` writes, for every ready chapter, the solution's .ipynb, the student .py and the
student .ipynb; ``release(check=True)`` writes nothing and lists the files that would change.

Each chapter's first code cell, tagged ``install``, is written from book.toml (``install_cell``):
opened on its own (Colab, a Jupyter without the book) it pip-installs the book, anywhere else it
does nothing. Its code is plain Python (no ``%pip``), so the .py files stay Python.

Translated editions (booktools/l10n.py): for every language LANG with a catalogue of the chapter
(``i18n/LANG/NN_slug.toml``), it also writes ``solutions/LANG/`` and ``chapters/LANG/`` (.py and
.ipynb), the same notebooks with the markdown translated. A missing or stale translation makes
``release`` raise TranslationError naming the cells, after writing everything else.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
from pathlib import Path

import jupytext
import nbformat

from booktools.l10n import (
    TranslationError,
    catalogue_path,
    edition_path,
    languages,
    load_catalogue,
    problems,
    translate,
)
from tfbook.manifest import Book, load_book

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+):\s*(\w+)", re.MULTILINE)
ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class ReleaseError(ValueError):
    """A solution file's exercise markers are malformed; the message names the cell."""


def stub_cell_source(source: str, label: str, where: str) -> str:
    lines, out, block = source.split("\n"), [], None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if block is not None:
                raise ReleaseError(f"{where}, line {number}: {BEGIN} inside another solution block")
            block = (line[: len(line) - len(line.lstrip())], [])
        elif stripped == END:
            if block is None:
                raise ReleaseError(f"{where}, line {number}: {END} without {BEGIN}")
            out.extend(_stub(*block, label))
            block = None
        elif block is not None:
            block[1].append(line)
        else:
            out.append(line)
    if block is not None:
        raise ReleaseError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def _stub(indent: str, body: list[str], label: str) -> list[str]:
    code = [line for line in body if line.strip() and not line.strip().startswith("#")]
    assignments = [ASSIGNMENT.match(line) for line in code]
    if code and all(m and m.group(1) == indent for m in assignments):
        return [f"{indent}{m.group(2)} = ...  # {label}: your value here" for m in assignments]
    return [f'{indent}raise NotImplementedError("{label}")']


def student_notebook(solution: nbformat.NotebookNode, where: str) -> nbformat.NotebookNode:
    student = copy.deepcopy(solution)
    label = None
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "markdown":
            match = EXERCISE_HEADING.search(cell.source)
            if match:
                label = f"Exercise {match.group(1)}: {match.group(2)}"
        elif BEGIN in cell.source:
            if label is None:
                raise ReleaseError(
                    f"{where}, cell {index + 1}: a solution block before any 'Exercise N.M: name' heading"
                )
            cell.source = stub_cell_source(cell.source, label, f"{where}, cell {index + 1}")
    return student


def _normalise(nb: nbformat.NotebookNode, stem: str) -> nbformat.NotebookNode:
    """Deterministic metadata and cell ids, so that regenerating never changes a byte."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["jupytext"].pop("text_representation", None)
    cell_filter = nb.metadata["jupytext"].get("cell_metadata_filter")
    if cell_filter:  # jupytext lists the cell metadata keys it found (i18n, tags) in a set's order
        keys = cell_filter.split(",")
        nb.metadata["jupytext"]["cell_metadata_filter"] = ",".join(
            sorted(k for k in keys if not k.startswith("-")) + [k for k in keys if k.startswith("-")]
        )
    for index, cell in enumerate(nb.cells):
        digest = hashlib.sha1(f"{stem}:{index}:{cell.source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:03d}-{digest}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _render(nb: nbformat.NotebookNode, fmt: str) -> str:
    text = jupytext.writes(nb, fmt=fmt)
    return text if text.endswith("\n") else text + "\n"


INSTALL_TAG = "install"


def install_arguments(book: Book) -> list[str]:
    """What the install cell passes to `pip install`: book.toml's ``install``, else the book's
    repository at its version tag, else nothing (the cell then says how to install the book)."""
    if book.install.strip():
        return shlex.split(book.install)
    repository = re.sub(r"/tree/.*$", "", book.repository.strip()).rstrip("/")
    if not repository:
        return []
    from importlib.metadata import version

    return [f"tfbook @ git+{repository}@v{version('tfbook')}"]


def install_cell(book: Book) -> str:
    """The source of every chapter's first code cell."""
    arguments = install_arguments(book)
    head = (
        "# Opened on its own (Colab, a Jupyter without the book)? This cell installs the book first;\n"
        "# in a clone, or where the book is installed, it does nothing. `make release` writes it\n"
        "# from book.toml ([book] install, else repository).\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("tfbook") is None:\n'
    )
    if not arguments:
        return head + (
            '    raise ModuleNotFoundError("this notebook needs the book\'s package, tfbook, which is not "\n'
            '                              "installed here: pip install it (the wheel or the repository "\n'
            '                              "your course names), then run this cell again")'
        )
    pip_arguments = ", ".join(json.dumps(a) for a in ["-m", "pip", "install", "--quiet", *arguments])
    return head + (
        "    import subprocess\n"
        "    import sys\n\n"
        f"    subprocess.run([sys.executable, {pip_arguments}], check=True)\n"
        "    importlib.invalidate_caches()  # the new package is importable in this kernel now"
    )


def _write_install_cell(nb: nbformat.NotebookNode, source: str, where: str) -> None:
    cells = [c for c in nb.cells if c.cell_type == "code" and INSTALL_TAG in c.metadata.get("tags", [])]
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if len(cells) != 1 or cells[0] is not first_code:
        raise ReleaseError(
            f"{where}: the first code cell must be the one install cell "
            f'(`# %% tags=["{INSTALL_TAG}"]`, found {len(cells)}): a chapter opened on '
            "its own installs the book there"
        )
    cells[0].source = source


def planned_files(book: Book | None = None, errors: list[str] | None = None) -> dict[Path, str]:
    """Every generated file and the text it must contain. A chapter whose translation has
    problems gets no translated files: they are listed in ``errors`` if given, else raised."""
    book = book or load_book()
    files: dict[Path, str] = {}
    found: list[str] = []
    install = install_cell(book)
    for chapter in book.ready_chapters():
        english = jupytext.read(chapter.solution)
        where = str(chapter.solution.relative_to(book.root))
        _write_install_cell(english, install, where)
        solution = _normalise(copy.deepcopy(english), chapter.solution.stem)
        student = _normalise(student_notebook(solution, where), chapter.student.stem)
        files[chapter.solution] = _render(solution, "py:percent")
        files[chapter.solution.with_suffix(".ipynb")] = _render(solution, "ipynb")
        files[chapter.student] = _render(student, "py:percent")
        files[chapter.student.with_suffix(".ipynb")] = _render(student, "ipynb")
        for language in languages(book.root):
            path = catalogue_path(book.root, language, chapter.solution)
            if not path.exists():
                continue  # no edition of this chapter in this language (yet)
            try:
                catalogue = load_catalogue(path)
                trouble = problems(english, catalogue, where, str(path.relative_to(book.root)))
            except TranslationError as e:
                trouble = [str(e)]
            if trouble:
                found += trouble
                continue
            for source, edition in ((chapter.solution, solution), (chapter.student, student)):
                # the English stem keeps the code cells' ids, so they are byte-identical too
                translated = _normalise(translate(edition, catalogue, language, where), source.stem)
                target = edition_path(source, language)
                files[target] = _render(translated, "py:percent")
                files[target.with_suffix(".ipynb")] = _render(translated, "ipynb")
    if found and errors is None:
        raise TranslationError("\n".join(found))
    if errors is not None:
        errors += found
    return files


def release(check: bool = False, book: Book | None = None) -> list[Path]:
    """Write the generated files (or, with check=True, only list those that differ). Raises
    TranslationError, after writing the rest, if a translated edition cannot be made."""
    changed, errors = [], []
    for path, text in planned_files(book, errors).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if errors:
        raise TranslationError("translated editions not written:\n" + "\n".join(errors))
    return changed
