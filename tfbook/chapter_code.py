"""A chapter's own code, run in this process: what tests and benchmarks exercise is what learners run.

    from tfbook.chapter_code import load_chapter
    chapter = load_chapter("03", preset="quick")            # the lesson's code, without training
    step = chapter.make_train_step(chapter.init_params(0.1, 0), 1e-3)
    ns = load_chapter("03", "student", part="exercises").namespace   # the exercises as learners start them

`load_chapter` reads the chapter's notebook (the jupytext percent file of either edition) and
executes some of its code cells, in order, in one fresh namespace, as a kernel would. Which cells
run is decided by the tags on the code cells, and by nothing else (never by what a cell says):

    # %% tags=["train"]

jupytext keeps a cell's tags in its `# %%` line, and `make release` carries them into chapters/
and into both .ipynb files. The tags, at most a few cells each:

    exercise   an exercise's answer: the cell that holds a solution block (a stub in chapters/)
    support    a cell the exercises need besides their own: the imports, a model an exercise
               builds on, a helper a check calls
    feedback   the learner's inline feedback: check(...) and check_all()
    extra      shows something (a plot, a table, a widget) that only other extra or train
               cells use
    train      trains a model, uses what training made (runs, checkpoints), or starts a
               program: only its definitions are loaded (its def, class and import statements)
    install    the first code cell, which pip-installs the book where it cannot be imported
               (Colab); never loaded: wherever this module runs, the book is importable

An untagged code cell is the lesson's own code. Two parts of a chapter can be loaded:

    part="lesson"     every code cell but those tagged feedback or extra (of a train cell,
                      its definitions)
    part="exercises"  only the cells tagged support or exercise (of a train cell, its definitions)

While the cells run, `$TFBOOK_RUNS` points at `runs` (by default a temporary folder, removed
afterwards: nothing lands in runs/), `$TFBOOK_PRESET` names `preset` (when given), matplotlib
draws off-screen, and the cells' printing is captured (`printed`). Each cell is compiled under a
name such as "<solutions/03_cnn_training.py cell 12>" and registered as a kernel does, so that
tracebacks and `inspect.getsource` (AutoGraph, when tf.function converts a chapter's function)
can read it. A cell stopped by NotImplementedError (an exercise's stub in the student edition,
or a cell calling one) is listed in `not_done` and the next cell runs, as in a kernel; any other
exception is raised as ChapterCodeError naming the cell.
"""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

TAGS = ("exercise", "support", "feedback", "extra", "train", "install")
PARTS = {
    "lesson": "every code cell but those tagged feedback or extra",
    "exercises": "the cells tagged support or exercise",
}
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


class ChapterCodeError(Exception):
    """A chapter's cells cannot be loaded: a cell raised, or the chapter lacks the tags needed."""


@dataclass(frozen=True)
class Cell:
    """One code cell: its number among the code cells (from 1), the name it is compiled under,
    its tags, its Python source (IPython's `%magic` and `!shell` lines commented out) and the
    names its top-level statements define."""

    number: int
    name: str
    tags: tuple[str, ...]
    source: str
    defines: frozenset[str]

    def verdict(self, part: str) -> str:
        """What loading `part` does with this cell: "run", "definitions (train)" (its def,
        class and import statements only) or "skip (WHY)"."""
        tags = set(self.tags)
        if "install" in tags:
            return "skip (install)"
        if part == "lesson":
            skipped = [t for t in self.tags if t in ("feedback", "extra")]
            if skipped:
                return f"skip ({skipped[0]})"
        elif part == "exercises":
            if not tags & {"support", "exercise"}:
                return "skip (not exercises)"
        else:
            raise ValueError(f"unknown part {part!r}: {', '.join(PARTS)}")
        return "definitions (train)" if "train" in tags else "run"


@dataclass
class ChapterCode:
    """The loaded cells' namespace, read as attributes (`chapter.forward`) or as the dict itself
    (`chapter.namespace`, the globals of the chapter's functions, as in the notebook), with what
    was decided and seen on the way."""

    path: Path
    part: str
    namespace: dict
    plan: list[tuple[str, Cell]]  # (verdict, cell) for every code cell: "run", "skip (extra)", ...
    printed: str = ""
    not_done: list[str] = field(default_factory=list)  # cells stopped by NotImplementedError

    def __getattr__(self, name: str):
        try:
            return self.__dict__["namespace"][name]
        except KeyError:
            raise AttributeError(
                f"{name!r}: not defined by the {self.__dict__.get('part')} part of {self.__dict__.get('path')}"
            ) from None


def notebook_path(chapter: str | Path, edition: str = "solution") -> Path:
    """A chapter id's notebook of `edition` ("solution": solutions/, "student": chapters/), as
    book.toml names it; a path is returned as it is."""
    if not isinstance(chapter, str) or os.sep in chapter or chapter.endswith(".py"):
        return Path(chapter)
    if edition not in ("solution", "student"):
        raise ValueError(f"unknown edition {edition!r}: 'solution' or 'student'")
    from tfbook.manifest import load_book

    entry = load_book().chapter(chapter)
    path = entry.solution if edition == "solution" else entry.student
    if path is None:
        raise ChapterCodeError(f"chapter {chapter} has no {edition} edition in this folder")
    return path


def _python(source: str) -> str:
    """The cell without IPython's `%magic` and `!shell` lines (commented out, lines kept)."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _where(path: Path) -> str:
    """The notebook as cell names give it: relative to the book (solutions/ and chapters/ hold
    files of the same name, whose cells must not share a name), or the path as given."""
    from tfbook.manifest import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _defined(tree: ast.Module) -> frozenset[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def code_cells(chapter: str | Path, edition: str = "solution") -> list[Cell]:
    """Every code cell of the chapter's notebook, in order, with its tags."""
    import jupytext

    path = notebook_path(chapter, edition)
    where = _where(path)
    cells = []
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code":
            continue
        number = len(cells) + 1
        name = f"<{where} cell {number}>"
        source = _python(cell.source)
        cells.append(
            Cell(number, name, tuple(cell.metadata.get("tags", ())), source, _defined(ast.parse(source, name)))
        )
    return cells


def plan(cells: list[Cell], part: str = "lesson", where: str = "the chapter") -> list[tuple[str, Cell]]:
    """(verdict, cell) for every cell: "run", or "skip (TAG)" with the tag that keeps it out.
    Raises ChapterCodeError when the chapter's cells lack the tags that `part` needs."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: {', '.join(PARTS)}")
    used = {tag for cell in cells for tag in cell.tags}
    if not used & set(TAGS) or (part == "exercises" and not {"exercise", "support"} <= used):
        raise ChapterCodeError(
            f"{where}: its code cells are not tagged for the loader (tags found: {sorted(used) or 'none'}); "
            f"part {part!r} runs {PARTS[part]}. Tag the code cells in the solution's `# %%` lines, "
            f'e.g. `# %% tags=["train"]` (tfbook/chapter_code.py lists the tags), then `make release`'
        )
    return [(cell.verdict(part), cell) for cell in cells]


def run_cell(cell: Cell, namespace: dict, definitions_only: bool = False) -> None:
    """Execute one cell among `namespace` (or only its def, class and import statements),
    registered as a kernel does, so that tracebacks and inspect.getsource can read it."""
    linecache.cache[cell.name] = (len(cell.source), None, cell.source.splitlines(True), cell.name)
    tree = ast.parse(cell.source, cell.name)
    if definitions_only:
        tree.body = [node for node in tree.body if isinstance(node, DEFINITIONS)]
    exec(compile(tree, cell.name, "exec"), namespace)


def load_chapter(
    chapter: str | Path,
    edition: str = "solution",
    part: str = "lesson",
    *,
    preset: str | None = None,
    runs: str | Path | None = None,
    quiet: bool = True,
) -> ChapterCode:
    """Run the chapter's `part` (see the module's docstring) of `edition` in a fresh namespace.

    `chapter` is a chapter id ("03") or the path of a percent notebook. `preset` sets
    $TFBOOK_PRESET while the cells run (None keeps the current one); `runs` sets $TFBOOK_RUNS
    (None: a temporary folder, removed afterwards). `quiet=False` lets the cells print.
    """
    path = notebook_path(chapter, edition)
    verdicts = plan(code_cells(path), part, str(path))
    namespace: dict = {"__name__": "__chapter__", "__file__": str(path)}
    loaded = ChapterCode(path, part, namespace, verdicts)
    output = io.StringIO()
    environment = {"MPLBACKEND": "Agg"} | ({"TFBOOK_PRESET": preset} if preset else {})
    with contextlib.ExitStack() as stack:
        if runs is None:
            runs = stack.enter_context(tempfile.TemporaryDirectory(prefix="tfbook-chapter-runs-"))
        stack.enter_context(mock.patch.dict(os.environ, TFBOOK_RUNS=str(runs), **environment))
        if quiet:
            stack.enter_context(contextlib.redirect_stdout(output))
        for verdict, cell in verdicts:
            if verdict.startswith("skip"):
                continue
            try:
                run_cell(cell, namespace, definitions_only=verdict != "run")
            except NotImplementedError:
                loaded.not_done.append(cell.name)
            except Exception as error:
                raise ChapterCodeError(
                    f"{cell.name} ({', '.join(cell.tags) or 'untagged'}) raised {type(error).__name__}: {error}"
                ) from error
    loaded.printed = output.getvalue()
    return loaded


def redefine(namespace: dict, name: str, chapter: str | Path, edition: str = "solution") -> dict:
    """Run again, among `namespace`, the one code cell that defines `name` at top level (whatever
    its tags): its functions then call what `namespace` holds now (a test's replaced function)."""
    path = notebook_path(chapter, edition)
    found = [cell for cell in code_cells(path) if name in cell.defines]
    if len(found) != 1:
        raise ChapterCodeError(
            f"{path}: {len(found)} code cells define {name!r} at top level "
            f"({', '.join(c.name for c in found) or 'none'}); expected one"
        )
    run_cell(found[0], namespace)
    return namespace
