"""`tfbook watch NN [NOTEBOOK]`: re-check the exercise you just edited, each time you save.

In rustlings' manner: leave it running in a terminal beside your editor. Once a second it looks
at the notebook's modification times (both files of the jupytext pair, ``chapters/NN_*.py`` and
``.ipynb``, or the path given). When one was saved, it reads the newer file, compares its code
cells with the version it saw before, and finds the exercise each changed cell belongs to (the
cells from an ``Exercise N.M: name`` heading to the next one). It then runs the notebook's code
cells from the top up to that exercise's own code, in a fresh namespace in this process (never
further: chapter 03's training cells come after its exercises, and the ``check(...)`` cells are
left out), and prints the same report as the inline ``check("name")``. Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import linecache
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from tfbook.i18n import _

CHECK_CELL = re.compile(r"""^\s*check\(\s*["'](\w+)["']\s*\)\s*$""", re.MULTILINE)
MAGIC = re.compile(r"^\s*[%!]")  # IPython-only lines (%tensorboard, !pip): nothing to check there


def read_cells(path: Path) -> list[tuple[str, str]]:
    """(cell_type, source) of every cell of a notebook, .ipynb or jupytext .py alike."""
    import jupytext

    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def owners(cells: list[tuple[str, str]]) -> list[str | None]:
    """For each cell, the exercise whose heading it follows (None before the first heading)."""
    from booktools.release import EXERCISE_HEADING  # imports jupytext: not before it is needed

    current, result = None, []
    for cell_type, source in cells:
        match = EXERCISE_HEADING.search(source) if cell_type == "markdown" else None
        if match:
            current = match.group(2)
        result.append(current)
    return result


def changed_code_cells(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> list[int]:
    """Indices (in ``after``) of the code cells that are new or edited; for a deleted cell, the
    cell that now stands in its place (so that the exercise it belonged to is checked again)."""
    changed = set()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "delete":
            changed.add(max(min(j1, len(after)) - 1, 0))
        changed.update(range(j1, j2))
    return sorted(i for i in changed if i < len(after) and after[i][0] == "code")


def last_cell_of(cells: list[tuple[str, str]], exercise: str) -> int:
    """Index of the exercise's last code cell before its ``check("...")`` cell."""
    mine = [i for i, owner in enumerate(owners(cells)) if owner == exercise]
    last = mine[0]
    for i in mine:
        cell_type, source = cells[i]
        if cell_type != "code":
            continue
        if CHECK_CELL.search(source):
            break
        last = i
    return last


def code_to_run(source: str) -> str:
    """A cell's source without IPython's magics, which plain Python cannot run."""
    return "\n".join("pass  # " + line if MAGIC.match(line) else line for line in source.splitlines())


class Watcher:
    """One notebook, watched; ``poll()`` is one iteration of the loop (and what tests call)."""

    def __init__(self, chapter_id: str, paths: list[Path], out=None):
        from checks import checker
        from checks.registry import load_chapter_checks

        self.chapter_id = chapter_id
        self.exercises = load_chapter_checks(chapter_id).exercises
        self.paths = [Path(p) for p in paths]
        self.out = out or sys.stdout
        # One namespace object, refilled for every check: the inline checker stays bound to it,
        # so its hints come one step further with every failed try, as in the notebook.
        self.namespace: dict = {}
        self.check, _check_all = checker(chapter_id, self.namespace)
        self.mtimes = self._mtimes()
        self.cells = read_cells(self._newest()) if self.mtimes else []

    def _mtimes(self) -> dict[Path, float]:
        return {p: p.stat().st_mtime for p in self.paths if p.exists()}

    def _newest(self) -> Path:
        return max(self.mtimes, key=self.mtimes.get)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def poll(self) -> list[str]:
        """Check whatever the last save changed; returns the exercises checked (often none)."""
        mtimes = self._mtimes()
        if mtimes == self.mtimes or not mtimes:
            return []
        self.mtimes = mtimes
        path = self._newest()
        try:
            cells = read_cells(path)
        except Exception as e:  # half-written, or not a notebook (yet): wait for the next save
            self.say(
                _("could not read {path} ({error}: {text}); waiting for the next save").format(
                    path=path, error=type(e).__name__, text=e
                )
            )
            return []
        changed = changed_code_cells(self.cells, cells)
        self.cells = cells
        cell_owners = owners(cells)
        edited = [e for e in dict.fromkeys(cell_owners[i] for i in changed) if e in self.exercises]
        if not edited:
            if changed:
                self.say(
                    _("{file} saved: the code you changed belongs to no exercise, nothing to check").format(
                        file=path.name
                    )
                )
            return []
        self.run_and_check(cells, edited, path)
        return edited

    def run_and_check(self, cells, exercises: list[str], path: Path) -> None:
        stop = max(last_cell_of(cells, e) for e in exercises)
        labels = ", ".join(f"{self.exercises[e].number} {e}" for e in exercises)
        self.say(
            "\n"
            + _("--- {time} {file} saved: checking {exercises} ---").format(
                time=f"{datetime.now():%H:%M:%S}", file=path.name, exercises=labels
            )
        )
        errors = self.execute(cells[: stop + 1])
        for message in errors:  # a cell that raised explains checks that find nothing defined
            self.say(f"  {message}")
        with contextlib.redirect_stdout(self.out):
            for exercise in exercises:
                self.check(exercise)
        self.say(_("Watching; save again to re-check, Ctrl-C to stop."))

    def execute(self, cells) -> list[str]:
        """Run the code cells in a fresh namespace, quietly (their own output and plots are
        the notebook's business); return one line per cell that raised."""
        import matplotlib

        matplotlib.use("Agg")  # plt.show() must not open windows or block
        import matplotlib.pyplot as plt

        self.namespace.clear()
        self.namespace["__name__"] = "__main__"
        errors = []
        folder = self.paths[0].resolve().parent  # notebooks run in their own folder
        with (
            contextlib.chdir(folder),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            for index, (cell_type, source) in enumerate(cells):
                if cell_type != "code" or CHECK_CELL.search(source):
                    continue
                code, filename = code_to_run(source), f"<{self.paths[0].name}, cell {index + 1}>"
                # as IPython does: the source stays readable for tracebacks and for tf.function's
                # autograph, which reads a function's source (it warns when it cannot)
                linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
                try:
                    exec(compile(code, filename, "exec"), self.namespace)
                except (Exception, SystemExit) as e:  # shown; the next cell runs, as in Jupyter's "run all"
                    first = next(
                        (line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")), ""
                    )[:60]
                    errors.append(
                        _("cell {number} (`{line}`) raised {error}: {text}").format(
                            number=index + 1, line=first, error=type(e).__name__, text=str(e)[:200]
                        )
                    )
        plt.close("all")
        return errors

    def run_forever(self, interval: float = 1.0) -> int:
        names = _(" and ").join(str(p) for p in self.paths if p.exists()) or _(" or ").join(map(str, self.paths))
        self.say(_("Watching {names}: save it to check the exercise you edited (Ctrl-C to stop).").format(names=names))
        try:
            while True:
                time.sleep(interval)
                self.poll()
        except KeyboardInterrupt:
            self.say("\n" + _("Stopped watching."))
            return 0


def notebook_paths(chapter_id: str, notebook: str | None = None) -> list[Path]:
    """The files to watch: the path given or the chapter's student notebook, with its jupytext pair."""
    from tfbook.manifest import load_book

    chapter = load_book().chapter(chapter_id)
    first = Path(notebook) if notebook else chapter.student
    pair = first.with_suffix(".ipynb" if first.suffix == ".py" else ".py")
    return [first, pair] if pair.exists() or not notebook else [first]


def run_watch(args) -> int:
    from tfbook.manifest import load_book

    os.environ.setdefault("MPLBACKEND", "Agg")
    chapter_id = load_book().chapter(args.chapter).id
    paths = notebook_paths(chapter_id, args.notebook)
    if not any(p.exists() for p in paths):
        print(
            _("error: {path} does not exist. Pass the notebook's path: tfbook watch {chapter} PATH").format(
                path=paths[0], chapter=chapter_id
            ),
            file=sys.stderr,
        )
        return 2
    from tfbook.quiet import import_tensorflow_quietly  # the checks import it: quietly, once

    import_tensorflow_quietly()
    return Watcher(chapter_id, paths).run_forever(args.interval)
