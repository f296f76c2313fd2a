"""Which check module grades a chapter: book.toml's ``check_module``, never a naming rule."""
from __future__ import annotations

import importlib

from checks.engine import Chapter
from tfbook.manifest import ManifestError, load_book


def load_chapter_checks(chapter_id: str) -> Chapter:
    entry = load_book().chapter(chapter_id)
    if not entry.check_module:
        raise ManifestError(f"book.toml: chapter {entry.id} declares no check_module "
                            f"(its status is {entry.status!r})")
    try:
        module = importlib.import_module(entry.check_module)
    except ModuleNotFoundError as e:
        raise ManifestError(f"book.toml: chapter {entry.id}: check_module {entry.check_module!r} "
                            f"cannot be imported ({e})") from None
    chapter = getattr(module, "chapter", None)
    if not isinstance(chapter, Chapter):
        raise ManifestError(f"{entry.check_module} defines no `chapter = Chapter(...)`")
    return chapter
