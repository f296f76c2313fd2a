"""The `tfbook` command: check, hint, list, release, book, grade."""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with stderr closed: its start-up lines (oneDNN, CPU features) are
    printed before TF_CPP_MIN_LOG_LEVEL takes effect, and they are not for learners."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
from pathlib import Path

from tfbook.manifest import ManifestError, load_book


def _chapter(chapter_id: str):
    return load_book().chapter(chapter_id)


def cmd_check(args) -> int:
    from checks.grader import grade_notebook
    from checks.engine import results_json
    from checks.report import format_results, write_json
    from tfbook.paths import runs_root
    chapter = _chapter(args.chapter)
    notebook = Path(args.notebook) if args.notebook else chapter.notebook("student")
    print(f"Grading {notebook} in a fresh kernel (preset {args.preset or 'from $TFBOOK_PRESET/book.toml'}) ...",
          flush=True)
    try:
        grade = grade_notebook(chapter.id, notebook, preset=args.preset, cell_timeout=args.timeout)
    except FileNotFoundError as e:
        print(f"error: {e}. Pass the notebook's path: python -m checks {chapter.id} PATH", file=sys.stderr)
        return 2
    footer = []
    if grade.stopped:
        footer.append(f"  {grade.stopped}")
    if grade.cell_errors and args.verbose:
        footer += [f"  {e}" for e in grade.cell_errors]
    print(format_results(grade.results, title=f"Chapter {chapter.id}: {chapter.title} "
                                              f"(preset {grade.preset}, {grade.seconds:.0f} s)",
                         footer="\n".join(footer)))
    payload = results_json(chapter.id, grade.results, notebook=str(notebook), preset=grade.preset,
                           seconds=round(grade.seconds, 1), stopped=grade.stopped,
                           cell_errors=grade.cell_errors)
    write_json(runs_root() / "progress" / f"ch{chapter.id}.json", payload)
    if args.json:
        write_json(Path(args.json), payload)
    return 0 if all(r.passed for r in grade.results) else 1


def cmd_hint(args) -> int:
    from checks.grader import load_chapter_checks
    chapter = load_chapter_checks(_chapter(args.chapter).id)
    if args.exercise not in chapter.exercises:
        print(f"No exercise {args.exercise!r} in chapter {chapter.id}. Exercises: "
              + ", ".join(f"{e.number} {name}" for name, e in chapter.exercises.items()), file=sys.stderr)
        return 2
    ex = chapter.exercises[args.exercise]
    print(f"Exercise {ex.number}: {args.exercise} ({ex.title})\n  hint: {ex.hint}")
    for check in chapter.checks_for(args.exercise):
        print(f"  checked: {check.description} ({check.points} point{'' if check.points == 1 else 's'})")
    return 0


def cmd_list(args) -> int:
    from checks.grader import load_chapter_checks
    from tfbook.paths import runs_root
    book = load_book()
    print(f"{book.title}\n")
    for chapter in book.chapters:
        if not chapter.ready:
            print(f"  {chapter.id} {chapter.title}  (planned)")
            continue
        checks = load_chapter_checks(chapter.id)
        progress_file = runs_root() / "progress" / f"ch{chapter.id}.json"
        done = {}
        if progress_file.exists():
            data = json.loads(progress_file.read_text())
            failed = {r["exercise"] for r in data["results"] if r["status"] != "passed"}
            done = {e: e not in failed for e in checks.exercises}
        passed = sum(done.values())
        status = f"{passed}/{len(checks.exercises)} exercises passed" if done else "not checked yet"
        print(f"  {chapter.id} {chapter.title}  ({status}; check with: tfbook check {chapter.id})")
        nxt = next((e for e in checks.exercises if not done.get(e)), None)
        for name, ex in checks.exercises.items():
            mark = "x" if done.get(name) else " "
            arrow = "  <- next" if name == nxt and done else ""
            print(f"      [{mark}] {ex.number} {name}: {ex.title}{arrow}")
    return 0


def cmd_release(args) -> int:
    from tfbook.release import release
    changed = release(check=args.check)
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
    from tfbook.build import build_book
    return build_book(chapters=args.chapters, preset=args.preset)


def cmd_grade(args) -> int:
    from tfbook.grading import grade_folder
    return grade_folder(Path(args.folder), args.chapter, jobs=args.jobs, preset=args.preset)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="grade a chapter's notebook in a fresh kernel")
    p.add_argument("chapter")
    p.add_argument("notebook", nargs="?", help="default: the chapter's student notebook in chapters/")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--preset", help="quick, full, ... (default: $TFBOOK_PRESET or book.toml)")
    p.add_argument("--timeout", type=int, help="seconds allowed per cell (default: the preset's)")
    p.add_argument("-v", "--verbose", action="store_true", help="also list cells that raised")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("hint", help="show an exercise's hint")
    p.add_argument("chapter")
    p.add_argument("exercise")
    p.set_defaults(func=cmd_hint)
    p = sub.add_parser("list", help="chapters, exercises and your progress")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("release", help="regenerate chapters/ and the .ipynb pairs from solutions/")
    p.add_argument("--check", action="store_true", help="write nothing; fail if anything would change")
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("book", help="execute and grade every chapter's solution; write build/")
    p.add_argument("chapters", nargs="*")
    p.add_argument("--preset")
    p.set_defaults(func=cmd_book)
    p = sub.add_parser("grade", help="grade a folder of submissions in parallel")
    p.add_argument("chapter")
    p.add_argument("folder")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--preset")
    p.set_defaults(func=cmd_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "release":
        import_tensorflow_quietly()
    try:
        return args.func(args)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
