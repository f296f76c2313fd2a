"""A chapter's own code, run in-process: what a benchmark measures is what learners run.

    chapter = load_chapter()                  # solutions/03_cnn_training.py, `quick` preset
    params = chapter.init_params(0.1, chapter.settings["seed"])
    step = chapter.make_train_step(params, 1e-3)

`load_chapter` reads the chapter's notebook (a jupytext percent file) and executes its code
cells in order, in one fresh namespace, as a kernel would, and stops before the first cell
that starts training (a top-level call to `train(...)`). On the way it skips the cells that
only call `check(...)` / `check_all()` (feedback for learners) and the `# extra code` cells
(plots). Cells are picked by what they contain, never by their position, so the chapter may
gain, lose or reorder cells without breaking the benchmark.

While the cells run, `$TFBOOK_RUNS` points at a temporary folder (nothing lands in runs/),
`$TFBOOK_PRESET` names the preset, matplotlib draws off-screen, and the cells' printing is
captured (see `printed`).
"""
from __future__ import annotations

import ast
import contextlib
import io
import linecache
import os
import tempfile
import types
from unittest import mock
from pathlib import Path

STOP_CALL = "train"  # the first cell that calls this at top level starts training: stop there
FEEDBACK_CALLS = {"check", "check_all"}
EXTRA_CODE = "# extra code"


def _calls(tree: ast.AST, name: str) -> bool:
    """Whether `tree` calls `name(...)` outside function and class bodies (i.e. when run)."""
    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            return True
        return any(visit(child) for child in ast.iter_child_nodes(node))
    return visit(tree)


def _only_feedback(tree: ast.Module) -> bool:
    """Whether every statement of the cell is a bare `check(...)` or `check_all()` call."""
    return bool(tree.body) and all(
        isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and isinstance(s.value.func, ast.Name)
        and s.value.func.id in FEEDBACK_CALLS for s in tree.body)


def _python(source: str) -> str:
    """The cell without IPython's `%magic` and `!shell` lines (commented out, lines kept)."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def chapter_cells(path: Path | str) -> list[tuple[str, str, str]]:
    """(verdict, name, source) for every code cell up to and including the training cell.

    verdict is "run", "skip (feedback)", "skip (extra code)" or "stop (trains)"; name is how
    tracebacks and `inspect.getsource` will call the cell, e.g. "<03_cnn_training.py cell 12>".
    """
    import jupytext

    path = Path(path)
    cells = []
    code_cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, 1):
        source = _python(cell.source)
        name = f"<{path.name} cell {number}>"
        tree = ast.parse(source, name)
        if _calls(tree, STOP_CALL):
            cells.append(("stop (trains)", name, source))
            break
        if source.lstrip().startswith(EXTRA_CODE):
            verdict = "skip (extra code)"
        elif _only_feedback(tree):
            verdict = "skip (feedback)"
        else:
            verdict = "run"
        cells.append((verdict, name, source))
    else:
        raise ValueError(f"{path}: no code cell calls {STOP_CALL}(...) at top level; "
                         "load_chapter stops before the training cell and found none")
    return cells


def default_path(chapter_id: str = "03") -> Path:
    """The chapter's instructor edition (the single source), as book.toml names it."""
    from tfbook.manifest import load_book
    return load_book().chapter(chapter_id).solution


def load_chapter(path: Path | str | None = None, preset: str = "quick", quiet: bool = True) -> types.SimpleNamespace:
    """The chapter's definitions, from executing its cells up to the training cell.

    Returns a SimpleNamespace of the chapter's globals (init_params, forward, loss_fn,
    accuracy_fn, evaluate, make_train_step, train, settings, x_train, t_train, ...), plus
    `printed`, what the cells printed, and `cell_plan`, what `chapter_cells` decided for each cell.
    The functions keep the cells' namespace as their globals, so `evaluate` still reads the
    chapter's `x_test`, as it does in the notebook.
    """
    path = Path(path) if path is not None else default_path()
    cells = chapter_cells(path)
    namespace = {"__name__": "__chapter__", "__file__": str(path)}
    output = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="tfbook-bench-runs-") as runs, \
            mock.patch.dict(os.environ, TFBOOK_RUNS=runs, TFBOOK_PRESET=preset, MPLBACKEND="Agg"), \
            (contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext()):
        for verdict, name, source in cells:
            if verdict != "run":
                continue
            # Registered like a notebook kernel does, so that inspect.getsource (AutoGraph,
            # when tf.function converts a chapter function) and tracebacks can read the cell.
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)
            exec(compile(source, name, "exec"), namespace)
    chapter = types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})
    chapter.printed, chapter.cell_plan = output.getvalue(), cells
    return chapter
