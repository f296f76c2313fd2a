"""Translated editions: the English solution stays the single source of code and text; the
translation of each markdown cell lives in a catalogue per language and chapter.

* A cell is known by an explicit id in its marker in the solution file,
  ``# %% [markdown] i18n="restore"`` (jupytext keeps it as the cell's metadata), not by its
  position: inserting or moving a cell leaves every other translation in place.
* ``i18n/LANG/NN_slug.toml`` (NN_slug: the solution's file name) holds one table per cell::

      [cells.restore]
      en_sha256 = "1a2b3c4d5e6f"   # the start of the SHA-256 of the English text translated
      text = '''
      ...the translated markdown...
      '''

* A chapter has an edition in LANG exactly when that catalogue exists. Its translated editions
  are the English ones (code cells untouched) with every markdown cell replaced by its
  translation; a cell whose translation is missing, or was made from an older English text
  (stale), stops the translated edition: it is never filled in with English.

``python -m booktools.l10n LANG NN`` prints, for every missing or stale cell, the current
English text and the table to paste into the catalogue.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

ID_KEY = "i18n"  # the cell metadata key that names a markdown cell
ID_FORMAT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HASH_CHARS = 12  # enough to notice any edit, short enough to read
FOLDER = "i18n"
ENTRY_KEYS = {"en_sha256", "text"}


class TranslationError(ValueError):
    """A catalogue is missing cells, is stale, or is malformed; the message names each cell."""


def english_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


@dataclass(frozen=True)
class Entry:
    en_sha256: str
    text: str


def catalogue_path(root: Path, language: str, solution: Path) -> Path:
    return root / FOLDER / language / f"{solution.stem}.toml"


def languages(root: Path) -> list[str]:
    """The languages with a folder under i18n/ (each may translate some chapters, or none yet)."""
    folder = root / FOLDER
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def edition_path(english: Path, language: str) -> Path:
    """chapters/04_prediction.py -> chapters/ko/04_prediction.py (likewise for solutions/)."""
    return english.parent / language / english.name


def load_catalogue(path: Path) -> dict[str, Entry]:
    where = path.as_posix()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise TranslationError(f"{where}: not valid TOML: {e}") from None
    cells = data.get("cells")
    if not isinstance(cells, dict):
        raise TranslationError(f"{where}: expected tables [cells.ID], one per markdown cell")
    entries = {}
    for cell_id, table in cells.items():
        if (
            not isinstance(table, dict)
            or set(table) != ENTRY_KEYS
            or not all(isinstance(v, str) for v in table.values())
        ):
            raise TranslationError(
                f"{where}: [cells.{cell_id}]: expected exactly the strings en_sha256 and text, got {table!r}"
            )
        # a multi-line TOML string starts after the newline that follows ''' and keeps the one
        # before the closing ''': that one is layout, not part of the cell
        entries[cell_id] = Entry(table["en_sha256"], table["text"].removesuffix("\n"))
    return entries


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 60 else line[:57] + "..."


def cell_ids(nb: nbformat.NotebookNode, where: str) -> list[tuple[int, str, str]]:
    """(cell number, id, English text) of every markdown cell; errors name the cells without a
    valid, unique id."""
    found, seen, errors = [], {}, []
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "markdown":
            continue
        cell_id = cell.metadata.get(ID_KEY)
        if not isinstance(cell_id, str) or not ID_FORMAT.match(cell_id):
            errors.append(
                f"{where}, cell {number} ({_first_line(cell.source)!r}): no valid {ID_KEY} id; "
                f'give its marker one, e.g. `# %% [markdown] {ID_KEY}="overview"` '
                "(lower case, digits and hyphens)"
            )
        elif cell_id in seen:
            errors.append(f"{where}, cell {number}: {ID_KEY} id {cell_id!r} already names cell {seen[cell_id]}")
        else:
            seen[cell_id] = number
            found.append((number, cell_id, cell.source))
    if errors:
        raise TranslationError("\n".join(errors))
    return found


def problems(nb: nbformat.NotebookNode, catalogue: dict[str, Entry], where: str, catalogue_where: str) -> list[str]:
    """Every reason the catalogue cannot translate ``nb`` (the English solution): missing and
    stale cells, and translations of cells that no longer exist."""
    found = cell_ids(nb, where)
    out = []
    for number, cell_id, english in found:
        entry = catalogue.get(cell_id)
        if entry is None:
            out.append(
                f"{catalogue_where}: [cells.{cell_id}] missing: no translation of {where}, "
                f"cell {number} ({_first_line(english)!r})"
            )
        elif entry.en_sha256 != english_hash(english):
            out.append(
                f"{catalogue_where}: [cells.{cell_id}] stale: translated from another English "
                f"text (en_sha256 {entry.en_sha256}, the English of {where}, cell {number} is now "
                f"{english_hash(english)}); update the translation, then its en_sha256"
            )
        elif not entry.text.strip():
            out.append(f"{catalogue_where}: [cells.{cell_id}] missing: its text is empty")
    ids = {cell_id for _, cell_id, _ in found}
    out += [
        f"{catalogue_where}: [cells.{cell_id}] translates no cell of {where} (removed or renamed?)"
        for cell_id in catalogue
        if cell_id not in ids
    ]
    return out


def translate(
    nb: nbformat.NotebookNode, catalogue: dict[str, Entry], language: str, where: str
) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every markdown cell in ``language``; code cells untouched. Raises
    TranslationError rather than leave a cell in English."""
    translated = nbformat.from_dict(nb)  # a deep copy
    for cell in translated.cells:
        if cell.cell_type == "markdown":
            entry = catalogue.get(cell.metadata.get(ID_KEY))
            if entry is None or entry.en_sha256 != english_hash(cell.source):
                raise TranslationError(
                    f"{where}: cell {cell.metadata.get(ID_KEY)!r} has no current translation into {language!r}"
                )
            cell.source = entry.text
    translated.metadata["language"] = language
    return translated


def report(language: str, chapter_id: str) -> str:
    """What a translator needs: each missing or stale cell's English and the table to fill in."""
    import jupytext

    from tfbook.manifest import load_book

    book = load_book()
    chapter = book.chapter(chapter_id)
    path = catalogue_path(book.root, language, chapter.solution)
    catalogue = load_catalogue(path) if path.exists() else {}
    nb = jupytext.read(chapter.solution)
    lines = []
    for number, cell_id, english in cell_ids(nb, str(chapter.solution.relative_to(book.root))):
        entry = catalogue.get(cell_id)
        if entry is not None and entry.en_sha256 == english_hash(english):
            continue
        state = "missing" if entry is None else "stale"
        lines += [
            f"# {state}: cell {number}; the English now reads:",
            *(f"#   {line}" for line in english.splitlines()),
            f"[cells.{cell_id}]",
            f'en_sha256 = "{english_hash(english)}"',
            "text = '''",
            entry.text if entry else "",
            "'''",
            "",
        ]
    return "\n".join(lines) or f"{path.relative_to(book.root)}: every cell is translated and current"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m booktools.l10n LANG CHAPTER   (e.g. ko 04)")
    print(report(sys.argv[1], sys.argv[2]))
