"""The gettext catalogues of the learner-facing messages (tfbook/i18n.py): extract, update,
compile, check. Babel does the work; babel.cfg names the files it reads.

``python -m booktools.messages`` (``make i18n``, part of ``make release``):

1. extracts every ``_()``, ``N_()`` and ``ngettext()`` message (the template, also written to
   ``tfbook/locale/tfbook.pot`` for a new language: ``pybabel init -D tfbook -i
   tfbook/locale/tfbook.pot -d tfbook/locale -l LANG``);
2. brings each ``tfbook/locale/LANG/LC_MESSAGES/tfbook.po`` up to date: a new message is added
   untranslated, a message whose English changed keeps its old translation marked fuzzy (the
   translator checks it and removes the mark), a removed message is dropped;
3. compiles each ``.po`` into its ``.mo`` (fuzzy and untranslated messages stay English there).

``python -m booktools.messages --check`` writes nothing and lists every problem (exit 1): a
message of the code without a translation (missing, empty or fuzzy), a translation that loses or
adds a placeholder, a ``.mo`` that is not what its ``.po`` compiles to (stale). The files are
rewritten only when their messages change, so that a run without changes leaves git clean.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from tfbook.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
MAPPING = "babel.cfg"
TEMPLATE = f"{DOMAIN}.pot"
BRACES = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")  # str.format fields, not {{ }}
PERCENT = re.compile(r"%(?:\([^)]*\))?[sdr]")  # %s, %(name)s: argparse's messages


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages(locale_dir: Path = LOCALE_DIR) -> list[str]:
    return sorted(p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract(root: Path = ROOT):
    """The template: every message of the files babel.cfg names, with the files it is in."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(root / MAPPING, encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project=DOMAIN, charset="utf-8", fuzzy=False)
    for pattern, method in method_map:
        folder, _, inner = pattern.partition("/")  # "checks/**.py": the folder, then its files
        for filename, lineno, message, comments, context in extract_from_dir(
            root / folder,
            [(inner, method)],
            {inner: options_map.get(pattern, {})},
            comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True,
        ):
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def _po_bytes(catalog) -> bytes:
    from babel.messages.pofile import write_po

    out = io.BytesIO()
    write_po(out, catalog, width=100, include_lineno=False, ignore_obsolete=True)
    return out.getvalue()


def _mo_bytes(catalog) -> bytes:
    from babel.messages.mofile import write_mo

    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def read(path: Path):
    from babel.messages.pofile import read_po

    with open(path, "rb") as f:
        return read_po(f, domain=DOMAIN)


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _messages(catalog) -> dict:
    """msgid -> (translation, fuzzy), the header left out."""
    return {m.id: (m.string, m.fuzzy) for m in catalog if m.id}


def update(root: Path = ROOT, locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Extract, update every .po, compile every .mo; the files written (only those that change)."""
    template = extract(root)
    written = []
    old_template = locale_dir / TEMPLATE
    if not old_template.exists() or set(_messages(read(old_template))) != set(_messages(template)):
        if _write_if_changed(old_template, _po_bytes(template)):
            written.append(old_template)
    for language in languages(locale_dir):
        path = po_path(language, locale_dir)
        catalog = read(path)
        before = _po_bytes(catalog)
        catalog.update(template, update_creation_date=False)  # fuzzy matching: see the docstring
        after = _po_bytes(catalog)
        if after != before and _write_if_changed(path, after):
            written.append(path)
        if _write_if_changed(path.with_suffix(".mo"), _mo_bytes(read(path))):
            written.append(path.with_suffix(".mo"))
    return written


def init(language: str, root: Path = ROOT, locale_dir: Path = LOCALE_DIR) -> Path:
    """A new language's catalogue, every message untranslated (then: translate, ``make i18n``)."""
    from babel.messages.catalog import Catalog

    path = po_path(language, locale_dir)
    if path.exists():
        raise FileExistsError(f"{path} exists already")
    catalog = Catalog(locale=language, domain=DOMAIN, project=DOMAIN, charset="utf-8", fuzzy=False)
    catalog.update(extract(root))
    _write_if_changed(path, _po_bytes(catalog))
    return path


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """The fields a message is formatted with: a translation may use one more or less often, in
    another order, but must use the same ones (a new one fails when it is formatted)."""
    return sorted(set(BRACES.findall(text))), sorted(set(PERCENT.findall(text)))


def _placeholders_of(message) -> tuple[list[str], list[str]]:
    """A message's placeholders; a plural's (singular, plural): those of both forms."""
    texts = message if isinstance(message, tuple) else (message,)
    braces, percents = set(), set()
    for text in texts:
        found = placeholders(text)
        braces.update(found[0])
        percents.update(found[1])
    return sorted(braces), sorted(percents)


def _within(fields, english) -> bool:
    """A plural form may leave out a field its English uses in the other form, never add one."""
    return set(fields[0]) <= set(english[0]) and set(fields[1]) <= set(english[1])


def problems(root: Path = ROOT, locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Every reason a learner would read English (or a broken message) in a translated language;
    each names the language and the msgid."""
    template = _messages(extract(root))
    out = []
    for language in languages(locale_dir):
        path = po_path(language, locale_dir)
        where = path.relative_to(locale_dir.parent.parent) if path.is_relative_to(locale_dir.parent.parent) else path
        catalog = read(path)
        messages = _messages(catalog)
        for msgid in template:
            if msgid not in messages:
                out.append(f"{where}: missing: no translation of {msgid!r} (run `make i18n`, then translate it)")
                continue
            string, fuzzy = messages[msgid]
            forms = list(string) if isinstance(string, tuple) else [string]
            english = _placeholders_of(msgid)
            if not all(forms):
                out.append(f"{where}: missing: {msgid!r} is not translated")
            elif fuzzy:
                out.append(
                    f"{where}: stale: the English of {msgid!r} changed since it was translated "
                    "(fuzzy): check the translation, then remove its fuzzy flag"
                )
            elif any(
                _placeholders_of(form) != english
                if not isinstance(msgid, tuple)
                else not _within(_placeholders_of(form), english)
                for form in forms
            ):
                out.append(
                    f"{where}: the translation of {msgid!r} has the placeholders "
                    f"{_placeholders_of(forms[0])}, the English {english}"
                )
        out += [
            f"{where}: {msgid!r} is no message of the code any more (run `make i18n`)"
            for msgid in messages
            if msgid not in template
        ]
        mo = path.with_suffix(".mo")
        if not mo.exists():
            out.append(f"{where.with_suffix('.mo')}: missing: the compiled catalogue (run `make i18n`)")
        elif mo.read_bytes() != _mo_bytes(catalog):
            out.append(f"{where.with_suffix('.mo')}: stale: not what {path.name} compiles to (run `make i18n`)")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m booktools.messages", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; list every problem")
    parser.add_argument("--init", metavar="LANG", help="start the catalogue of a new language")
    args = parser.parse_args(argv)
    if args.init:
        print(f"wrote: {init(args.init).relative_to(ROOT)}")
    if not args.check:
        for path in update():
            print(f"wrote: {path.relative_to(ROOT)}")
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"{len(found)} problem(s): the learners of these languages would read English there.", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
