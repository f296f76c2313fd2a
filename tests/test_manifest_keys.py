"""Every key book.toml may hold is read by some code: a key that nothing reads is a promise the
book does not keep (its value can change and nothing happens). Unknown keys stay errors
(tests/test_manifest.py), so a key removed from the manifest code must leave book.toml too."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from tfbook import manifest

ROOT = Path(__file__).resolve().parents[1]
# where the book reads its manifest: everything but the manifest's own parser
READERS = [
    p
    for d in ("tfbook", "checks", "booktools", "bench", "tools", "solutions")
    for p in sorted((ROOT / d).rglob("*.py"))
    if p != ROOT / "tfbook" / "manifest.py"
]
# Read by people, not code: each preset's one-line summary, which book.toml documents presets with.
FOR_PEOPLE = {"description"}


def code() -> str:
    """The readers' source, and the manifest's own helpers (``active_preset_name`` reads
    ``default_preset``) without ``parse_book``, which touches every key to validate it."""
    source = (ROOT / "tfbook" / "manifest.py").read_text()
    parse = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "parse_book")
    own = source.replace(ast.get_source_segment(source, parse), "")
    return "\n".join([own, *(p.read_text() for p in READERS)])


def read_as_attribute(key: str, text: str, owner: str = r"\w+") -> bool:
    """``chapter.needs``, ``c.figures``, ``book.title``: a Chapter's or Book's field is read."""
    return re.search(rf"(?:\b(?:{owner})|\))\.{key}\b", text) is not None


BOOK = r"book|self"  # a Book's fields, read as book.title, load_book().title or in its methods


def read_as_setting(key: str, text: str) -> bool:
    """``settings["steps"]``, ``.get("cell_timeout_s")``: a preset's value is read."""
    return re.search(rf"""["']{key}["']""", text) is not None


def test_every_chapter_and_book_key_is_read():
    text = code()
    unread = sorted(
        [k for k in manifest.CHAPTER_KEYS if not read_as_attribute(k, text)]
        + [k for k in manifest.BOOK_KEYS if not read_as_attribute(k, text, BOOK)]
    )
    assert unread == [], f"book.toml keys that no code reads: {unread}"


def test_every_preset_key_in_book_toml_is_read():
    text = code()
    presets = tomllib.loads((ROOT / "book.toml").read_text())["presets"]
    keys = set()
    for table in presets.values():
        for key, value in table.items():
            if isinstance(value, dict):  # a chapter's table, and its when_graded table
                keys |= {k for k in value if k != manifest.WHEN_GRADED}
            else:
                keys.add(key)
    unread = sorted(k for k in keys - FOR_PEOPLE if not read_as_setting(k, text))
    assert unread == [], f"preset keys that no code reads: {unread}"


def test_the_checker_finds_an_unread_key():
    assert not read_as_attribute("slug", "chapter.slugs; c.title")
    assert read_as_attribute("default_preset", "load_book().default_preset", BOOK)
    assert not read_as_attribute("description", "check.description", BOOK)
    assert read_as_attribute("needs", "for n in c.needs:")
    assert not read_as_setting("steps", "settings['fc_steps']")
    assert read_as_setting("steps", 'settings["steps"]')
