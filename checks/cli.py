"""``python -m checks NN [NOTEBOOK]``: grade a learner's chapter in a fresh kernel.

The notebook's ``.py`` and ``.ipynb`` are one notebook (jupytext pairs them). If they differ,
the newer one is graded and the report says so, with the command that syncs them.
What the graded notebook produced (book.toml's ``produces``) is kept in the learner's
``runs/``: chapter 04 restores the checkpoint that grading chapter 03 trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfbook import i18n
from tfbook.i18n import N_, _
from tfbook.quiet import import_tensorflow_quietly

DESCRIPTION = N_("``python -m checks NN [NOTEBOOK]``: grade a learner's chapter in a fresh kernel.")


def same_notebook(a: Path, b: Path) -> bool:
    """Do two files hold the same cells (type and source)? Outputs and metadata do not count."""
    import jupytext

    cells = lambda path: [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]
    return cells(a) == cells(b)


def pick_edited(notebook: Path) -> tuple[Path, str]:
    """The file of the jupytext pair that the learner edited last, and a note when it matters."""
    pair = notebook.with_suffix(".py" if notebook.suffix == ".ipynb" else ".ipynb")
    if not (notebook.exists() and pair.exists()) or same_notebook(notebook, pair):
        return notebook, ""
    newer, older = sorted((notebook, pair), key=lambda p: p.stat().st_mtime, reverse=True)
    return newer, _(
        "note: {newer} and {older} differ and {newer} is newer, so "
        "{newer} is graded. Make them one notebook again with: "
        "jupytext --sync {path}"
    ).format(newer=newer.name, older=older.name, path=newer)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m checks`` and ``tfbook check``, their help in the current
    language (tfbook/i18n.py)."""
    parser.add_argument("chapter", help=_("the chapter's number, e.g. 03"))
    parser.add_argument("notebook", nargs="?", help=_("default: the chapter's student notebook in chapters/"))
    parser.add_argument("--json", help=_("also write the results to this JSON file"))
    parser.add_argument("--preset", help=_("quick, full, ... (default: $TFBOOK_PRESET or book.toml)"))
    parser.add_argument("--timeout", type=int, help=_("seconds allowed per cell (default: the preset's)"))
    parser.add_argument(
        "--seed",
        type=int,
        help=_("draw the checks' random cases from this seed (a report prints the one it used), to replay a run"),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=_("(kept for compatibility)"))


# what the checks measure (learner.figures), by name, as the learner reads it
FIGURE_NAMES = {"test_accuracy": N_("test accuracy"), "restored_test_accuracy": N_("restored test accuracy")}


def figure_text(name: str, value) -> str:
    from checks.report import format_figure

    return f"{_(FIGURE_NAMES.get(name, name.replace('_', ' ')))} {format_figure(name, value)}"


def run_check(args) -> int:
    from tfbook.manifest import load_book

    # A wrong chapter or path is answered before TensorFlow is imported (seconds).
    chapter = load_book().chapter(args.chapter)
    requested = Path(args.notebook) if args.notebook else chapter.notebook("student")
    if not requested.exists() and not requested.with_suffix(".py").exists():
        print(
            _("error: {path} does not exist. Pass the notebook's path: python -m checks {chapter} PATH").format(
                path=requested, chapter=chapter.id
            ),
            file=sys.stderr,
        )
        return 2
    if getattr(args, "seed", None) is not None:  # replay the random cases of a report
        import os
        from checks.engine import SEED_ENV

        os.environ[SEED_ENV] = str(args.seed)
    import_tensorflow_quietly()  # the grader's own computations use it; its start-up lines are noise
    notebook, note = pick_edited(requested if requested.exists() else requested.with_suffix(".py"))
    # the learner reads the grade in the notebook's own language (its metadata), as under cells
    with i18n.language(i18n.of_file(notebook)):
        return _grade_and_report(args, chapter, notebook, note)


def _grade_and_report(args, chapter, notebook: Path, note: str) -> int:
    from checks.grader import grade_notebook, missing_needs
    from checks.report import format_results, write_json
    from tfbook.paths import runs_root

    for message in missing_needs(chapter.id, runs_root()):
        print(_("MISSING: {message}").format(message=message), flush=True)
    if note:
        print(note, flush=True)
    print(
        _("Grading {notebook} in a fresh kernel (preset {preset}) ...").format(
            notebook=notebook, preset=args.preset or _("from $TFBOOK_PRESET/book.toml")
        ),
        flush=True,
    )
    grade = grade_notebook(chapter.id, notebook, preset=args.preset, cell_timeout=args.timeout, keep_in=runs_root())
    # repeated next to the failures it explains
    header = ["  " + _("MISSING: {message}").format(message=m) for m in grade.missing]
    footer = []
    if grade.figures:
        footer.append(
            "  "
            + _("Measured by the grader: {figures}").format(
                figures="; ".join(figure_text(k, v) for k, v in grade.figures.items())
            )
        )
    if grade.stopped:
        footer.append(f"  {grade.stopped}")
    if grade.cell_errors:
        footer.append("  " + _("Cells that raised an error (they may explain failures above):"))
        footer += [f"    {e}" for e in grade.cell_errors]
    title = _("Chapter {chapter}: {title} (preset {preset}, {seconds} s)").format(
        chapter=chapter.id, title=chapter.title, preset=grade.preset, seconds=f"{grade.seconds:.0f}"
    )
    print("\n".join(header + [format_results(grade.results, title=title, footer="\n".join(footer))]))
    payload = grade.to_json()
    write_json(runs_root() / "progress" / f"ch{chapter.id}.json", payload)
    if args.json:
        write_json(Path(args.json), payload)
    return 0 if all(r.passed for r in grade.results) else 1


def main(argv: list[str] | None = None) -> int:
    from tfbook.manifest import ManifestError

    with i18n.argparse_messages():  # usage, help and errors in $TFBOOK_LANG (else the locale's)
        parser = argparse.ArgumentParser(prog="python -m checks", description=_(DESCRIPTION))
        add_arguments(parser)
        args = parser.parse_args(argv)
        if args.seed is not None and args.seed < 0:
            parser.error(_("--seed must be a whole number >= 0 (the one a report printed)"))
    try:
        return run_check(args)
    except ManifestError as e:
        print(_("error: {message}").format(message=e), file=sys.stderr)
        return 2
