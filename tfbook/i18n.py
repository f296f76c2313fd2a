"""The learner's language: every message a learner reads goes through gettext here.

* ``_("...{name}...").format(name=...)`` translates a message where it is made; ``N_("...")``
  only marks a constant for extraction (an exercise's hint, a check's description), and the code
  that shows it calls ``_()`` on it then; ``ngettext`` chooses a plural. The English text is the
  msgid, so English output is the text in the code, byte for byte.
* The catalogues are the standard library's gettext files of the domain ``tfbook``:
  ``tfbook/locale/LANG/LC_MESSAGES/tfbook.po`` (the translations, edited by hand) and the ``.mo``
  compiled from it, package data of the wheel. ``python -m booktools.messages`` (``make i18n``,
  part of ``make release``) extracts the messages with Babel (babel.cfg), updates each ``.po``
  and compiles it; tests/test_messages.py fails on a message without a translation or a stale
  ``.mo``.
* The language: inside ``with language("ko"):``, that one (the grader sets it from the graded
  notebook's ``metadata.language``, so a Korean notebook gets Korean feedback whoever grades it);
  else ``$TFBOOK_LANG``; else the locale (``$LC_ALL``, ``$LC_MESSAGES``, ``$LANG``); else English.
  A language without a catalogue is English.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import os
from contextlib import contextmanager
from pathlib import Path

DOMAIN = "tfbook"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENV = "TFBOOK_LANG"
ENGLISH = "en"
LOCALE_ENV = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX order: the first one set decides

_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("tfbook_language", default=None)


def N_(message: str) -> str:
    """Mark ``message`` for extraction only; it is translated where it is shown (``_()``)."""
    return message


@functools.cache
def available() -> tuple[str, ...]:
    """English and every language with a compiled catalogue."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (ENGLISH, *(code for code in found if code != ENGLISH))


def normalise(code: str | None) -> str | None:
    """``ko_KR.UTF-8`` -> ``ko``; ``en-GB`` -> ``en``; ``C``, ``POSIX`` or nothing -> None."""
    code = (code or "").strip().split(":")[0].split(".")[0].split("@")[0].replace("-", "_")
    if not code or code.upper() in ("C", "POSIX"):
        return None
    return code.split("_")[0].lower()


def supported(code: str | None) -> str:
    """``code`` when it has a catalogue (or is English), else English."""
    code = normalise(code)
    return code if code in available() else ENGLISH


def from_environment() -> str:
    """$TFBOOK_LANG, else the locale's language, else English (each: English when it has no
    catalogue)."""
    if os.environ.get(ENV, "").strip():
        return supported(os.environ[ENV])
    for name in LOCALE_ENV:
        if os.environ.get(name, "").strip():
            return supported(os.environ[name])
    return ENGLISH


def current() -> str:
    """The language messages are made in now."""
    return _chosen.get() or from_environment()


@contextmanager
def language(code: str | None):
    """Messages in ``code`` inside the block (one grading, one inline check); None or "" keeps
    the language of the surroundings."""
    token = _chosen.set(supported(code) if normalise(code) else _chosen.get())
    try:
        yield current()
    finally:
        _chosen.reset(token)


@functools.cache
def _catalogue(code: str) -> gettext.NullTranslations:
    if code == ENGLISH:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, [code], fallback=True)


def _(message: str) -> str:
    """``message`` (an English msgid) in the current language."""
    if not message:  # gettext("") would be the catalogue's header
        return message
    return _catalogue(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalogue(current()).ngettext(singular, plural, n)


def both(message: str, **fields) -> tuple[str, str]:
    """``message`` formatted with ``fields``, in the current language and in English: for what
    the learner reads and the instructor's files keep in English (a grade's "stopped")."""
    return _(message).format(**fields), message.format(**fields)


# --- argparse's own words (usage:, options, errors) ------------------------------------------
# argparse translates them with gettext's global domain, which the book leaves alone; inside
# ``argparse_messages()`` its module-level ``_`` and ``ngettext`` are these, so that a parser
# built and run there speaks the current language. Listed here so that they are extracted.
ARGPARSE = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("not allowed with argument %s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("one of the arguments %s is required"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("ignored explicit argument %r"),
)


@contextmanager
def argparse_messages():
    """Build and run an ``argparse`` parser inside this block: its own words in the current
    language (argparse looks its ``_`` up when it speaks, so the change ends with the block)."""
    import argparse

    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _, ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


# --- a notebook's own language ------------------------------------------------------------------


def of_notebook(metadata: dict | None, path: str | os.PathLike | None = None) -> str | None:
    """A notebook's language: its ``metadata.language`` (the translated editions set it); a
    jupytext ``.py`` keeps no notebook metadata, so its paired ``.ipynb`` says. None: not said."""
    code = normalise((metadata or {}).get("language")) if isinstance((metadata or {}).get("language"), str) else None
    if code or path is None:
        return code
    path = Path(path)
    pair = path.with_suffix(".ipynb")
    if path.suffix != ".ipynb" and pair.is_file():
        return of_file(pair)
    return None


def of_file(path: str | os.PathLike) -> str | None:
    """The language of the notebook file ``path`` (.ipynb or a jupytext .py), or None."""
    import json

    path = Path(path)
    if path.suffix != ".ipynb":
        return of_notebook(None, path)
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return None
    return of_notebook(metadata if isinstance(metadata, dict) else None)


def of_running_notebook(namespace: dict) -> str | None:
    """Inside a kernel: the language of the notebook it runs, which Jupyter names to the kernel
    (``__session__`` and ``$JPY_SESSION_NAME``, relative to the server's root, while the kernel
    starts in the notebook's folder; VS Code: ``__vsc_ipynb_file__``). None when not known."""
    for name in (namespace.get("__vsc_ipynb_file__"), namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
        if not isinstance(name, str) or not name:
            continue
        for path in (Path(name), Path.cwd() / Path(name).name):
            if path.is_file():
                return of_file(path)
    return None
