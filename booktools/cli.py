"""The `tfbook` command: start, check, watch, hint, list, release, book, grade, compare, autograder (the
applications layer: it uses the core `tfbook` and the `checks`; nothing imports it)."""

from __future__ import annotations

import argparse
import json
import sys

from pathlib import Path

from checks.cli import add_arguments as add_check_arguments, run_check
from tfbook import i18n
from tfbook.i18n import N_, _
from tfbook.quiet import import_tensorflow_quietly
from tfbook.manifest import ManifestError, load_book

DESCRIPTION = N_(
    "The `tfbook` command: start, check, watch, hint, list, release, book, grade, compare, "
    "autograder (the applications layer: it uses the core `tfbook` and the `checks`; nothing "
    "imports it)."
)


def _chapter(chapter_id: str):
    return load_book().chapter(chapter_id)


def cmd_check(args) -> int:
    return run_check(args)


def cmd_hint(args) -> int:
    from checks.registry import chapter_outline  # hints and checks without importing TensorFlow

    chapter = chapter_outline(_chapter(args.chapter).id)
    if args.exercise not in chapter.exercises:
        print(
            _("No exercise {exercise!r} in chapter {chapter}. Exercises: {exercises}").format(
                exercise=args.exercise,
                chapter=chapter.id,
                exercises=", ".join(f"{e.number} {name}" for name, e in chapter.exercises.items()),
            ),
            file=sys.stderr,
        )
        return 2
    ex = chapter.exercises[args.exercise]
    print(_("Exercise {number}: {name} ({title})").format(number=ex.number, name=args.exercise, title=_(ex.title)))
    print("  " + _("hint: {hint}").format(hint=_(ex.hint)))
    for step in ex.next_hints:  # the later steps a failed inline check() reveals one at a time
        print("  " + _("next hint: {hint}").format(hint=_(step)))
    for check in chapter.checks_for(args.exercise):
        print(
            "  "
            + i18n.ngettext(
                "checked: {description} ({points} point)", "checked: {description} ({points} points)", check.points
            ).format(description=_(check.description), points=check.points)
        )
    return 0


def cmd_list(args) -> int:
    from checks.registry import chapter_outline  # the exercises without importing TensorFlow
    from tfbook.paths import runs_root

    book = load_book()
    print(f"{book.title_in()}\n")  # the titles in the learner's language (tfbook/manifest.py)
    for chapter in book.chapters:
        title = chapter.title_in()
        if not chapter.ready:
            print(f"  {chapter.id} {title}  " + _("(planned)"))
            continue
        try:
            checks = chapter_outline(chapter.id)
        except ManifestError as e:  # one broken chapter must not hide the others
            print(f"  {chapter.id} {title}  " + _("(cannot list its exercises: {error})").format(error=e))
            continue
        progress_file = runs_root() / "progress" / f"ch{chapter.id}.json"
        done = {}
        if progress_file.exists():
            passed_list = json.loads(progress_file.read_text()).get("exercises_passed", [])
            done = {e: e in passed_list for e in checks.exercises}
        passed = sum(done.values())
        status = (
            _("{passed}/{total} exercises passed").format(passed=passed, total=len(checks.exercises))
            if done
            else _("not checked yet")
        )
        print(
            f"  {chapter.id} {title}  ("
            + _("{status}; check with: tfbook check {chapter}").format(status=status, chapter=chapter.id)
            + ")"
        )
        nxt = next((e for e in checks.exercises if not done.get(e)), None)
        for name, ex in checks.exercises.items():
            mark = "x" if done.get(name) else " "
            arrow = "  " + _("<- next") if name == nxt and done else ""
            print(f"      [{mark}] {ex.number} {name}: {_(ex.title)}{arrow}")
    return 0


def cmd_start(args) -> int:
    from booktools.start import run_start

    return run_start(args)


def cmd_release(args) -> int:
    from booktools.l10n import TranslationError
    from booktools.release import ReleaseError, release

    try:
        changed = release(check=args.check)
    except (ReleaseError, TranslationError) as e:  # names the cell and what to do: no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    root = load_book().root
    for path in changed:
        print(("would change: " if args.check else "wrote: ") + str(path.relative_to(root)))
    if args.check and changed:
        print("The editions are out of date: run `make release` and commit the result.", file=sys.stderr)
        return 1
    if not changed:
        print("editions are up to date")
    return 0


def cmd_book(args) -> int:
    from booktools.build import build_book

    return build_book(chapters=args.chapters, preset=args.preset)


def cmd_grade(args) -> int:
    from booktools.grading import grade_folder

    return grade_folder(
        Path(args.folder),
        args.chapter,
        jobs=args.jobs,
        preset=args.preset,
        cell_timeout=args.timeout,
        notebook_timeout=args.notebook_timeout,
        memory_mb=args.memory_mb,
        hidden=args.hidden,
        progress=not args.no_progress,
        resume=args.resume,
    )


def cmd_compare(args) -> int:
    from booktools.compare import run_compare

    return run_compare(args)


def cmd_watch(args) -> int:
    from booktools.watch import run_watch

    return run_watch(args)


def cmd_autograder(args) -> int:
    from booktools.autograder import run_autograder_command

    return run_autograder_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfbook", description=_(DESCRIPTION))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help=_("grade a chapter's notebook in a fresh kernel"))
    add_check_arguments(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("hint", help=_("show an exercise's hint"))
    p.add_argument("chapter", help=_("the chapter's number, e.g. 03"))
    p.add_argument("exercise", help=_("the exercise's name, e.g. loss"))
    p.set_defaults(func=cmd_hint)
    p = sub.add_parser("start", help=_("write the student edition into a folder of your own, fetch MNIST"))
    p.add_argument("folder", nargs="?", default="tfbook-book", help=_("default: ./tfbook-book"))
    p.add_argument("--no-mnist", action="store_true", help=_("write the chapters only"))
    p.set_defaults(func=cmd_start)
    p = sub.add_parser("list", help=_("chapters, exercises and your progress"))
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("release", help=_("regenerate chapters/ and the .ipynb pairs from solutions/"))
    p.add_argument("--check", action="store_true", help=_("write nothing; fail if anything would change"))
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("book", help=_("execute and grade every chapter's solution; write build/"))
    p.add_argument("chapters", nargs="*")
    p.add_argument("--preset")
    p.set_defaults(func=cmd_book)
    p = sub.add_parser("grade", help=_("grade a folder of submissions, each in its own process"))
    p.add_argument("chapter")
    p.add_argument("folder")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--preset")
    p.add_argument("--timeout", type=int, help=_("seconds allowed per cell (default: the preset's)"))
    p.add_argument(
        "--notebook-timeout",
        type=int,
        help=_("seconds allowed per notebook (default: 4 x the cell limit, at least 600)"),
    )
    p.add_argument("--memory-mb", type=int, default=4096, help=_("memory per kernel (default 4096)"))
    p.add_argument("--hidden", help=_("folder of instructor-only checks (chNN.py); default $TFBOOK_HIDDEN_CHECKS"))
    p.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    p.add_argument(
        "--resume",
        action="store_true",
        help=_("keep the rows an earlier, interrupted run wrote; grade only the others"),
    )
    p.set_defaults(func=cmd_grade)
    p = sub.add_parser("compare", help=_("a submission beside the solution, exercise by exercise"))
    p.add_argument("chapter")
    p.add_argument("submission")
    p.add_argument("--html", help=_("also write a self-contained HTML page here"))
    p.add_argument("--preset")
    p.add_argument("--timeout", type=int, help=_("seconds allowed per cell (default: the preset's)"))
    p.add_argument("--hidden", help=_("folder of instructor-only checks (chNN.py)"))
    p.add_argument(
        "--grades",
        help=_("reuse the grades `tfbook grade` wrote (default: FOLDER/grades/ next to the submission, when present)"),
    )
    p.add_argument("--no-run", action="store_true", help=_("compare the code only; run nothing"))
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("watch", help=_("re-check the exercise you edit each time you save the notebook"))
    p.add_argument("chapter")
    p.add_argument(
        "notebook", nargs="?", help=_("default: the chapter's student notebook in chapters/ (.py and .ipynb)")
    )
    p.add_argument("--interval", type=float, default=1.0, help=_("seconds between looks at the files (default 1)"))
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("autograder", help=_("a Gradescope autograder bundle for a chapter"))
    p.add_argument("chapter")
    p.add_argument("--out", required=True, help=_("the .zip to write"))
    p.add_argument("--preset", default="quick")
    p.add_argument("--hidden", help=_("folder of instructor-only checks to bundle (chNN.py)"))
    p.add_argument("--timeout", type=int, help=_("seconds allowed per cell (default: the preset's)"))
    p.set_defaults(func=cmd_autograder)
    return parser


def main(argv: list[str] | None = None) -> int:
    with i18n.argparse_messages():  # usage, help and errors in $TFBOOK_LANG (else the locale's)
        args = build_parser().parse_args(argv)
    # TensorFlow's start-up lines are noise in a terminal: import it quietly first where the
    # command runs checks in this process (`check` and `watch` do so themselves, once their
    # arguments are valid). hint, list and release never import it; grade's and compare's workers do.
    if args.command == "book":
        import_tensorflow_quietly()
    try:
        return args.func(args)
    except ManifestError as e:
        print(_("error: {message}").format(message=e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
