"""``tfbook start [DIR]``: the student edition in a folder of the learner's own.

Writes into DIR the book's book.toml (without the solutions' paths: a learner's folder has no
solutions), each chapter's .ipynb and .py (and its translations, chapters/LANG/), and assets/; fetches MNIST through the book's loader
(tfbook.data) into DIR/data/mnist; prints what to run next. From DIR, ``tfbook list``,
``tfbook hint``, ``tfbook check NN`` and ``python -m checks NN`` find the book as they do in a
clone (tfbook/paths.py says how).

Run again (after an upgrade of the package, or to fetch MNIST once online), it never overwrites
what the learner changed. DIR/.tfbook-edition.json records the SHA-256 of every file as written:
a file still as written is refreshed to the package's edition; a changed file is kept, and named.
A chapter's .ipynb and .py are one notebook (jupytext pairs them, and the grader grades the newer
of the two), so when either was changed both are kept: refreshing only the other would leave the
learner's work older than a fresh stub.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from tfbook.i18n import N_, _
from tfbook.manifest import load_book
from tfbook.paths import MANIFEST, shipped_edition

DEFAULT_DIR = "tfbook-book"
RECORD = ".tfbook-edition.json"  # what `tfbook start` wrote: {relative path: sha256}
COUNTED = {
    "written": N_("{count} written"),
    "refreshed": N_("{count} refreshed"),
    "unchanged": N_("{count} unchanged"),
}  # what write_edition did, as run_start says it


def learner_manifest(text: str) -> str:
    """book.toml without the ``solution = ...`` lines: the learner's folder has no solutions/."""
    return re.sub(r"(?m)^solution\s*=.*\n", "", text)


def edition_units(source: Path) -> list[dict[str, bytes]]:
    """The student edition of the book in ``source``, as units written or kept together:
    book.toml, each chapter's pair (.ipynb, .py), each asset. Keys are paths relative to DIR."""
    book = load_book(source / MANIFEST)
    units = [{MANIFEST: learner_manifest((source / MANIFEST).read_text(encoding="utf-8")).encode()}]
    for chapter in book.ready_chapters():
        pair = (chapter.notebook("student"), chapter.student)
        units.append({p.relative_to(source).as_posix(): p.read_bytes() for p in pair})
        # its translated editions, chapters/LANG/ (booktools/l10n.py): the same code, other prose
        for translated in sorted(chapter.student.parent.glob(f"*/{chapter.student.name}")):
            pair = (translated.with_suffix(".ipynb"), translated)
            units.append({p.relative_to(source).as_posix(): p.read_bytes() for p in pair if p.exists()})
    for path in sorted((source / "assets").rglob("*")):
        if path.is_file() and not {"__pycache__", ".ipynb_checkpoints"} & set(path.parts):
            units.append({path.relative_to(source).as_posix(): path.read_bytes()})
    return units


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_edition(folder: Path, source: Path | None = None) -> dict[str, list[str]]:
    """Write the edition into ``folder``; return the paths by what happened to them:
    "written" (new), "refreshed" (as written before, now the package's edition), "unchanged",
    "kept" (changed by the learner, or next to a changed file of the same notebook)."""
    source = source or shipped_edition()
    record_file = folder / RECORD
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    done: dict[str, list[str]] = {"written": [], "refreshed": [], "unchanged": [], "kept": []}
    for unit in edition_units(source):
        states = {}
        for name, content in unit.items():
            target = folder / name
            if not target.exists():
                states[name] = "written"
            else:
                current = target.read_bytes()
                states[name] = (
                    "unchanged"
                    if current == content
                    else "refreshed"
                    if record.get(name) == _sha256(current)
                    else "changed"
                )
        if "changed" in states.values():
            done["kept"] += unit
            continue
        for name, content in unit.items():
            if states[name] != "unchanged":
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            record[name] = _sha256(content)
            done[states[name]].append(name)
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return done


def fetch_mnist(folder: Path) -> str:
    """MNIST through the book's loader, cached in ``folder``/data/mnist; the source it came from."""
    from tfbook.data import MnistUnavailable, load_mnist

    cache = folder / "data" / "mnist"
    try:  # already there (this folder's cache, or $TFBOOK_MNIST_DIR): no TensorFlow to import
        return load_mnist(cache=cache, use_keras=False, use_npm=False).source
    except MnistUnavailable:
        pass
    from tfbook.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # Keras' download needs it; its start-up lines are noise here
    return load_mnist(cache=cache).source


def next_steps(folder: Path) -> str:
    """The commands to run next, with the first chapter's notebook and first exercise filled in."""
    from checks.registry import chapter_outline  # exercises without importing TensorFlow

    book = load_book(folder / MANIFEST)
    first = book.ready_chapters()[0]
    notebook = first.notebook("student").relative_to(folder)
    exercise = next(iter(chapter_outline(first.id).exercises), "NAME")
    root = " --allow-root" if hasattr(os, "getuid") and os.getuid() == 0 else ""  # Jupyter refuses root otherwise
    shown = os.path.relpath(folder)
    steps = [] if shown == "." else [(f"cd {folder if shown.startswith('..') else shown}", "")]
    steps += [
        (f"jupyter lab{root}", _("then open {notebook}").format(notebook=notebook)),
        ("tfbook list", _("the chapters, their exercises and your progress")),
        (f"tfbook hint {first.id} {exercise}", _("an exercise's hint")),
        (
            f"tfbook check {first.id}",
            _("grade a chapter in a fresh kernel (or: python -m checks {chapter})").format(chapter=first.id),
        ),
    ]
    width = max(len(command) for command, _why in steps)
    return (
        _("Next:")
        + "\n"
        + "\n".join(f"  {command:<{width}}  # {why}" if why else f"  {command}" for command, why in steps)
    )


def run_start(args) -> int:
    folder = Path(args.folder).resolve()
    source = shipped_edition()
    if folder == source.resolve() or (folder / "solutions").is_dir():
        print(
            _(
                "error: {folder} holds the book's own sources (it has solutions/): start a learner's copy in "
                "another folder, e.g. tfbook start ~/{default}"
            ).format(folder=folder, default=DEFAULT_DIR),
            file=sys.stderr,
        )
        return 2
    if folder.exists() and not folder.is_dir():
        print(
            _("error: {folder} is a file: pass a folder to write the book into").format(folder=folder), file=sys.stderr
        )
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    done = write_edition(folder, source)
    book = load_book(folder / MANIFEST)
    title = book.title_in()  # in the learner's language
    needing = _("chapters {chapters} need it").format(
        chapters=", ".join(c.id for c in book.ready_chapters() if "mnist" in c.needs)
    )
    counts = ", ".join(_(COUNTED[k]).format(count=len(done[k])) for k in COUNTED if done[k])
    print(_("{title}: student edition in {folder} ({counts})").format(title=title, folder=folder, counts=counts))
    if done["kept"]:
        print(_("Kept as you changed them (the new edition was not written over them):"))
        for name in done["kept"]:
            print(f"  {name}")
        print("  " + _("To get the edition's version of one, rename yours and run tfbook start again."))
    status = 0
    if args.no_mnist:
        print(_("MNIST: not fetched (--no-mnist); {needing}").format(needing=needing))
    else:
        from tfbook.data import MnistUnavailable

        try:
            print(_("MNIST: ready ({source})").format(source=fetch_mnist(folder)))
        except MnistUnavailable as e:
            print(
                _("MNIST: not fetched; {needing}. {error}").format(needing=needing, error=e)
                + "\n"
                + _("Run `tfbook start {folder}` again once one of these works.").format(folder=args.folder),
                file=sys.stderr,
            )
            status = 1
    print(next_steps(folder))
    return status
