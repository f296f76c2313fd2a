"""Which check module grades a chapter: book.toml's ``check_module``, never a naming rule.

Two ways to get a chapter's checks:

* ``load_chapter_checks``: import the check module; its checks can run (they need TensorFlow).
* ``chapter_outline``: the exercises (numbers, titles, hints) and the checks' points and
  descriptions only, read from the check module's source without running it. That is all
  ``tfbook hint`` and ``tfbook list`` show, and importing a check module imports TensorFlow,
  which takes seconds. A module whose declarations are not plain literals is imported instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

from checks.engine import Chapter, Exercise
from tfbook.manifest import ManifestError, load_book


def _check_module_name(chapter_id: str) -> tuple[str, str]:
    entry = load_book().chapter(chapter_id)
    if not entry.check_module:
        raise ManifestError(f"book.toml: chapter {entry.id} declares no check_module (its status is {entry.status!r})")
    return entry.id, entry.check_module


def load_chapter_checks(chapter_id: str) -> Chapter:
    chapter_id, module_name = _check_module_name(chapter_id)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise ManifestError(
            f"book.toml: chapter {chapter_id}: check_module {module_name!r} cannot be imported ({e})"
        ) from None
    chapter = getattr(module, "chapter", None)
    if not isinstance(chapter, Chapter):
        raise ManifestError(f"{module_name} defines no `chapter = Chapter(...)`")
    return chapter


def chapter_outline(chapter_id: str) -> Chapter:
    """The chapter's exercises and checks as ``load_chapter_checks`` gives them, but checks that
    cannot run (an outline to print). Falls back to importing the module when its source
    declares them in a way this reader does not follow."""
    chapter_id, module_name = _check_module_name(chapter_id)
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:  # its package is missing: the import says so, as a ManifestError
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return load_chapter_checks(chapter_id)
    try:
        return _read_outline(Path(spec.origin).read_text())
    except _NotLiteral:
        return load_chapter_checks(chapter_id)


class _NotLiteral(Exception):
    """A declaration that needs the module to run (a computed hint, a check made in a loop...)."""


def _read_outline(source: str) -> Chapter:
    """``chapter = Chapter(ID, {name: Exercise(...)})`` and every ``@chapter.check(...)``
    decorator of the module's top-level functions, evaluated from their literals (and
    module-level string or number constants, for f-strings) without running the module."""
    tree = ast.parse(source)
    constants: dict[str, object] = {}
    chapter = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "chapter":
                chapter = _chapter(node.value, constants)
                continue
            try:
                constants[name] = _value(node.value, constants)
            except _NotLiteral:
                constants.pop(name, None)  # rebound to something computed: no longer known
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if _is_call_of(decorator, "chapter.check"):
                    if chapter is None:
                        raise _NotLiteral("a check before the chapter")
                    args = [_value(a, constants) for a in decorator.args]
                    kwargs = {k.arg: _value(k.value, constants) for k in decorator.keywords}
                    chapter.check(*args, **kwargs)(_named(node.name))
        elif _mentions_chapter_check(node):  # checks registered some other way (a loop, ...)
            raise _NotLiteral("a check registered outside a decorator")
    if chapter is None:
        raise _NotLiteral("no `chapter = Chapter(...)`")
    return chapter


def _chapter(node: ast.expr, constants: dict) -> Chapter:
    if not (
        _is_call_of(node, "Chapter")
        and len(node.args) == 2
        and not node.keywords
        and isinstance(node.args[1], ast.Dict)
    ):
        raise _NotLiteral("Chapter(...) is not Chapter(ID, {...})")
    exercises = {}
    for key, value in zip(node.args[1].keys, node.args[1].values):
        if key is None or not _is_call_of(value, "Exercise"):
            raise _NotLiteral("an exercise that is not Exercise(...)")
        exercises[_value(key, constants)] = Exercise(
            *[_value(a, constants) for a in value.args], **{k.arg: _value(k.value, constants) for k in value.keywords}
        )
    return Chapter(_value(node.args[0], constants), exercises)


def _value(node: ast.expr, constants: dict):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if _is_call_of(node, "N_") and len(node.args) == 1 and not node.keywords:  # a message marked
        return _value(node.args[0], constants)  # for translation
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_value(e, constants) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.JoinedStr):  # f"... '{METRIC_NAME}' ..."
        parts = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                if part.conversion != -1:
                    raise _NotLiteral("an f-string conversion")
                spec = _value(part.format_spec, constants) if part.format_spec else ""
                parts.append(format(_value(part.value, constants), spec))
            else:
                parts.append(_value(part, constants))
        return "".join(parts)
    raise _NotLiteral(ast.dump(node)[:80])


def _is_call_of(node: ast.AST, dotted: str) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func) == dotted


def _mentions_chapter_check(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and ast.unparse(n) == "chapter.check" for n in ast.walk(node))


def _named(name: str):
    """A stand-in for a check function, named as it is (a check's id is ``NN.function_name``)."""

    def stand_in(learner):
        raise RuntimeError("a check of an outline cannot run: use load_chapter_checks")

    stand_in.__name__ = name
    return stand_in
