"""Hidden checks: instructor-only checks, kept out of the repository learners clone.

A folder (``tfbook grade --hidden DIR``, or the environment variable ``TFBOOK_HIDDEN_CHECKS``)
holds one file per chapter, ``chNN.py``, whose checks are written like the chapter's own::

    from booktools.hidden import hidden_check
    from checks.engine import CheckFailed, tensor

    @hidden_check("accuracy", points=1, description="accuracy_fn on a batch of one row")
    def accuracy_one_row(learner):
        ...

Only class grading loads them, and only inside the process that grades one submission: the
learner's ``check(...)`` and ``python -m checks`` never see them. Their ids are
``NN.hidden.NAME``, so every report can mark them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HIDDEN_ENV = "TFBOOK_HIDDEN_CHECKS"
_PENDING: list[tuple[str, int, str, bool, object]] = []


def hidden_check(exercise: str, points: int, description: str, at_end: bool = False):
    def register(func):
        _PENDING.append((exercise, points, description, at_end, func))
        return func

    return register


def is_hidden(check_id: str) -> bool:
    return ".hidden." in check_id


def hidden_dir(explicit: str | Path | None = None) -> Path | None:
    value = explicit or os.environ.get(HIDDEN_ENV)
    return Path(value).resolve() if value else None


def hidden_file(chapter_id: str, folder: Path | None) -> Path | None:
    if folder is None:
        return None
    path = Path(folder) / f"ch{chapter_id}.py"
    return path if path.exists() else None


def add_hidden_checks(chapter, folder: Path | None) -> int:
    """Register ``folder/chNN.py``'s checks on ``chapter`` (a checks.engine.Chapter); how many.

    Call it only in a process that grades (it changes the chapter object of that process)."""
    from checks.engine import Check

    path = hidden_file(chapter.id, folder)
    if path is None:
        return 0
    if any(is_hidden(c.id) for c in chapter.checks):
        return 0  # already added in this process
    _PENDING.clear()
    spec = importlib.util.spec_from_file_location(f"tfbook_hidden_ch{chapter.id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    added = 0
    for exercise, points, description, at_end, func in _PENDING:
        if exercise not in chapter.exercises:
            raise ValueError(
                f"{path}: hidden check {func.__name__} names exercise {exercise!r}, "
                f"which chapter {chapter.id} does not have"
            )
        chapter.checks.append(
            Check(f"{chapter.id}.hidden.{func.__name__}", exercise, points, description, func, at_end)
        )
        added += 1
    _PENDING.clear()
    return added
