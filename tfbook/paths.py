"""Where the book's files are, and where chapters write what they produce.

One rule finds the book (its book.toml, chapters/ and assets/):
  1. the working folder, or the nearest folder above it, that holds the book's book.toml:
     a clone of the repository, or a folder made by ``tfbook start`` (a notebook in
     ``DIR/chapters/`` runs with that folder as its working folder, so the search goes up);
  2. else the clone this package was imported from (a clone used from another folder);
  3. else the student edition installed inside the package (``tfbook/edition/``, in the wheel).

What chapters produce goes under ``runs/`` next to that book.toml in cases 1 and 2, and under
``runs/`` in the working folder in case 3 (nothing is written into an installed package).
``$TFBOOK_RUNS`` wins over both: the grader sets it to a fresh folder, so a checkpoint left over
from an earlier run can never be graded in place of the one the notebook just made.

This module imports nothing of the book (tfbook.manifest imports it).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent  # in a clone, tfbook/ sits next to book.toml
EDITION = PACKAGE / "edition"  # in the wheel: book.toml, chapters/, assets/ (package data)
MANIFEST = "book.toml"
RUNS_ENV = "TFBOOK_RUNS"


def holds_book(folder: Path) -> bool:
    """Does ``folder`` hold this book's book.toml? (mdBook also names its settings book.toml:
    this book's manifest is the one with chapters.)"""
    try:
        return "[[chapters]]" in (folder / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def learner_folder(start: Path | None = None) -> Path | None:
    """The nearest folder, from ``start`` (default: the working folder) upward, holding the book."""
    try:
        here = Path(start or os.getcwd()).resolve()
    except OSError:  # the working folder was deleted under us
        return None
    return next((folder for folder in (here, *here.parents) if holds_book(folder)), None)


def shipped_edition() -> Path:
    """The book this package came with: the clone it lives in, else the edition installed with it."""
    return CHECKOUT if holds_book(CHECKOUT) else EDITION


def book_root() -> Path:
    """The folder whose book.toml, chapters/ and assets/ are the book (rules 1-3 above)."""
    return learner_folder() or shipped_edition()


def work_root() -> Path:
    """Where runs/ goes: the book's folder, unless the book is the installed edition."""
    root = book_root()
    return Path.cwd() if root == EDITION else root


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or work_root() / "runs").resolve()


def run_dir(chapter: str, *parts: str, create: bool = True) -> Path:
    """``runs/ch03/...`` (or under $TFBOOK_RUNS); created unless ``create=False``."""
    path = runs_root().joinpath(f"ch{chapter}", *parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
