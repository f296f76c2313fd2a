"""book.toml: loaded and validated in one place.

A wrong manifest fails with ``ManifestError`` naming the key and what was expected, e.g.
``book.toml: chapters[2].check_module: expected a string, got 3``.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tfbook import i18n
from tfbook.i18n import N_, _
from tfbook.paths import MANIFEST, book_root

# The book's folder when tfbook was imported (see tfbook/paths.py for the rule): a clone, a folder
# made by `tfbook start`, or the edition installed with the package. Code that may run after a
# change of working folder calls book_root() instead.
ROOT = book_root()
PRESET_ENV = "TFBOOK_PRESET"
# Set by the grader (checks/grader.py) while it runs a notebook: a chapter's preset table may then
# replace some of its keys with those of its `when_graded` table (shorter ungraded demonstrations).
GRADING_ENV = "TFBOOK_GRADING"
WHEN_GRADED = "when_graded"
STATUSES = ("ready", "planned")
# book.toml's [book] title, marked here so that `make i18n` extracts it: a learner reads the
# book's title in their language through the message catalogue (Book.title_in). Each chapter's
# title needs no message: its translated edition's heading holds it (Chapter.title_in).
# tests/test_korean_edition.py fails when book.toml's title is no longer this message.
# TRANSLATORS: the book's title (book.toml), shown by `tfbook list` and `tfbook start`
BOOK_TITLE = N_("TensorFlow, run and checked")


class ManifestError(ValueError):
    """book.toml is missing a key, has a wrong type, or names something that does not exist."""


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    status: str
    solution: Path | None = None
    student: Path | None = None
    check_module: str | None = None
    needs: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()  # keys of runs/chNN/metrics.json shown by `make book`

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def notebook(self, edition: str) -> Path:
        """The .ipynb of ``edition`` ("solution" or "student")."""
        py = self.solution if edition == "solution" else self.student
        if py is None:
            raise ManifestError(
                _(
                    "chapter {chapter} has no {edition} notebook here: this folder holds the "
                    "student edition (the solutions are in the instructor's clone)"
                ).format(chapter=self.id, edition=edition)
            )
        return py.with_suffix(".ipynb")

    def title_in(self, language: str | None = None) -> str:
        """The chapter's title in ``language`` (default: the learner's, tfbook/i18n.py): the
        heading of its edition in that language (chapters/LANG/NN_slug.ipynb, which `tfbook
        release` makes from the heading cell of i18n/LANG/NN_slug.toml; it is in a learner's
        folder and in the wheel too); book.toml's English title where there is no such edition."""
        code = i18n.supported(language) if language else i18n.current()
        if code != i18n.ENGLISH:
            for english in (self.student, self.solution):
                if english is not None:
                    heading = notebook_heading(english.parent / code / english.with_suffix(".ipynb").name)
                    if heading:
                        return heading
        return self.title


def notebook_heading(path: Path) -> str | None:
    """The first ``# `` heading of a notebook's first markdown cell (its title), or None."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _notebook_heading(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _notebook_heading(path: Path, _mtime_ns: int, _size: int) -> str | None:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            lines = "".join(source).splitlines() if isinstance(source, list) else str(source).splitlines()
            return next((line[2:].strip() for line in lines if line.startswith("# ")), None)
    return None


@dataclass(frozen=True)
class Book:
    title: str
    default_preset: str
    presets: dict[str, dict]
    chapters: tuple[Chapter, ...] = field(default_factory=tuple)
    root: Path = ROOT
    repository: str = ""  # the book's public GitHub address, for the site's "Open in Colab" links
    install: str = ""  # what a notebook opened alone pip-installs the book from (booktools/release.py)

    def chapter(self, chapter_id: str) -> Chapter:
        wanted = str(chapter_id).zfill(2)
        for chapter in self.chapters:
            if chapter.id == wanted:
                return chapter
        known = ", ".join(c.id for c in self.chapters)
        raise ManifestError(
            _("no chapter {chapter} in book.toml (chapters: {known})").format(chapter=repr(chapter_id), known=known)
        )

    def ready_chapters(self) -> list[Chapter]:
        return [c for c in self.chapters if c.ready]

    def title_in(self, language: str | None = None) -> str:
        """The book's title in ``language`` (default: the learner's): its translation in the
        message catalogue (BOOK_TITLE), else book.toml's title."""
        with i18n.language(language):
            return _(self.title)


def _get(table: dict, key: str, kind: type, where: str, required: bool = True, default=None):
    if key not in table:
        if required:
            raise ManifestError(f"book.toml: {where}.{key}: missing (expected a {kind.__name__})")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"book.toml: {where}.{key}: expected a {kind.__name__}, got {value!r}")
    return value


TOP_KEYS = {"book", "presets", "chapters"}
BOOK_KEYS = {"title", "default_preset", "repository", "install"}
CHAPTER_KEYS = {"id", "title", "status", "solution", "student", "check_module", "needs", "produces", "figures"}


def _no_unknown_keys(table: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ManifestError(f"book.toml: {where}.{unknown[0]}: unknown key (known keys: {', '.join(sorted(known))})")


def is_student_edition(root: Path) -> bool:
    """A folder with chapters/ and no solutions/: made by `tfbook start`, or installed with the
    package. Its chapters have no solution (learners do not get the answers)."""
    return (root / "chapters").is_dir() and not (root / "solutions").is_dir()


def parse_book(data: dict, root: Path = ROOT) -> Book:
    _no_unknown_keys(data, TOP_KEYS, "book.toml")
    meta = _get(data, "book", dict, "book.toml", True)
    _no_unknown_keys(meta, BOOK_KEYS, "book")
    presets = _get(data, "presets", dict, "book.toml", True)
    for name, table in presets.items():
        if not isinstance(table, dict):
            raise ManifestError(f"book.toml: presets.{name}: expected a table, got {table!r}")
        _get(table, "description", str, f"presets.{name}")
        _get(table, "seed", int, f"presets.{name}")
        for key, chapter_table in table.items():
            if isinstance(chapter_table, dict) and WHEN_GRADED in chapter_table:
                graded = chapter_table[WHEN_GRADED]
                where = f"presets.{name}.{key}.{WHEN_GRADED}"
                if not isinstance(graded, dict):
                    raise ManifestError(f"book.toml: {where}: expected a table, got {graded!r}")
                # only keys the chapter already has: a graded run changes values, never adds settings
                _no_unknown_keys(graded, set(chapter_table) - {WHEN_GRADED}, where)
    default = _get(meta, "default_preset", str, "book")
    if default not in presets:
        raise ManifestError(
            f"book.toml: book.default_preset: {default!r} is not a preset (presets: {', '.join(presets)})"
        )

    student_edition = is_student_edition(root)
    chapters = []
    raw_chapters = _get(data, "chapters", list, "book.toml")
    for i, raw in enumerate(raw_chapters):
        where = f"chapters[{i}]"
        if not isinstance(raw, dict):
            raise ManifestError(f"book.toml: {where}: expected a table")
        _no_unknown_keys(raw, CHAPTER_KEYS, where)
        cid = _get(raw, "id", str, where)
        if len(cid) != 2 or not cid.isdigit():
            raise ManifestError(f'book.toml: {where}.id: expected two digits like "03", got {cid!r}')
        status = _get(raw, "status", str, where)
        if status not in STATUSES:
            raise ManifestError(f"book.toml: {where}.status: expected one of {STATUSES}, got {status!r}")
        ready = status == "ready"
        paths = {}
        for key in ("solution", "student"):
            if key == "solution" and student_edition:
                _get(raw, key, str, where, required=False)  # typed, but no file to point to
                continue
            value = _get(raw, key, str, where, required=ready)
            if value is not None:
                path = root / value
                if ready and key == "solution" and not path.exists():
                    raise ManifestError(f"book.toml: {where}.{key}: {value} does not exist")
                paths[key] = path
        chapter = Chapter(
            id=cid,
            title=_get(raw, "title", str, where),
            status=status,
            solution=paths.get("solution"),
            student=paths.get("student"),
            check_module=_get(raw, "check_module", str, where, required=ready),
            needs=tuple(_get(raw, "needs", list, where, False, [])),
            produces=tuple(_get(raw, "produces", list, where, False, [])),
            figures=tuple(_get(raw, "figures", list, where, False, [])),
        )
        if any(c.id == cid for c in chapters):
            raise ManifestError(f"book.toml: {where}.id: chapter {cid} appears twice")
        chapters.append(chapter)

    return Book(
        title=_get(meta, "title", str, "book"),
        default_preset=default,
        presets=presets,
        chapters=tuple(chapters),
        root=root,
        repository=_get(meta, "repository", str, "book", required=False, default=""),
        install=_get(meta, "install", str, "book", required=False, default=""),
    )


def load_book(path: Path | str | None = None) -> Book:
    """The book at ``path`` (default: the book.toml of book_root(), see tfbook/paths.py)."""
    return _load_book(Path(path) if path is not None else book_root() / MANIFEST)


@lru_cache(maxsize=None)
def _load_book(path: Path) -> Book:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ManifestError(
            _("{path} not found: run from the project root or pass its path").format(path=path)
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(_("{path}: not valid TOML: {error}").format(path=path, error=e)) from None
    return parse_book(data, path.parent)


def active_preset_name() -> str:
    return os.environ.get(PRESET_ENV) or load_book().default_preset


def preset(chapter: str | None = None, name: str | None = None) -> dict:
    """The active preset's settings: common keys plus those of ``[presets.NAME.chNN]``.

    The active preset comes from ``$TFBOOK_PRESET`` (default: book.default_preset). While the
    grader runs a notebook (``$TFBOOK_GRADING`` is "1"), the chapter's ``when_graded`` keys
    replace the preset's: book.toml uses them only for demonstrations that nothing is graded on.
    """
    book = load_book()
    name = name or active_preset_name()
    if name not in book.presets:
        raise ManifestError(
            _("preset {name} (from ${variable}) is not in book.toml; choose one of: {presets}").format(
                name=repr(name), variable=PRESET_ENV, presets=", ".join(book.presets)
            )
        )
    table = book.presets[name]
    settings = {k: v for k, v in table.items() if not isinstance(v, dict)}
    settings["name"] = name
    if chapter is not None:
        key = f"ch{str(chapter).zfill(2)}"
        if key not in table:
            has = ", ".join(k[2:] for k in table if k.startswith("ch") and isinstance(table[k], dict))
            raise ManifestError(
                _(
                    "book.toml: presets.{name}.{key}: missing (chapter {chapter}'s settings); "
                    "preset {quoted} has settings for chapters {has}"
                ).format(name=name, key=key, chapter=chapter, quoted=repr(name), has=has)
            )
        chapter_table = dict(table[key])
        graded = chapter_table.pop(WHEN_GRADED, {})
        settings.update(chapter_table)
        if os.environ.get(GRADING_ENV) == "1":
            settings.update(graded)
    return settings
