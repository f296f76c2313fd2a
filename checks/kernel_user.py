"""The learner's kernel as an unprivileged user (Gradescope's bundle, booktools/autograder.py).

Where the grader runs as root next to files a learner must not read (hidden checks), the bundle
starts the learner's kernel as another user: ``TFBOOK_KERNEL`` names the kernel spec that starts
it so, ``TFBOOK_KERNEL_USER`` the user. That user can then read and write only what it is
given: the notebook's runs folder, the grader's scratch folder and every temporary folder the
grader or a check makes while it grades (a probe's checkpoint, a log folder), and the files the
grader writes into them. Without ``TFBOOK_KERNEL_USER`` nothing here changes anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

KERNEL_ENV = "TFBOOK_KERNEL"  # the kernel spec's name (default: python3)
KERNEL_USER_ENV = "TFBOOK_KERNEL_USER"  # the user the kernel runs as (default: the grader's own)


def kernel_name() -> str:
    return os.environ.get(KERNEL_ENV) or "python3"


def give(folder: Path, user: str) -> None:
    """``folder`` and everything in it to ``user``; its parents only traversable (o+x), so the
    user reaches it by name without listing or reading anything else on the way."""
    folder = Path(folder)
    for path in [folder, *folder.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            shutil.chown(path, user, user)
    for parent in folder.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


class SharedFolders:
    """The folders given to the kernel's user while one notebook is graded."""

    def __init__(self, user: str | None):
        self.user, self.folders = user, []

    def add(self, folder: Path) -> None:
        if self.user:
            self.folders.append(Path(folder))
            give(folder, self.user)

    def refresh(self) -> None:
        """Give the user what the grader wrote into the shared folders since (call it before the
        kernel runs a probe: the probe's inputs, a checkpoint the grader wrote)."""
        for folder in self.folders:
            if folder.exists():
                give(folder, self.user)


@contextlib.contextmanager
def shared_folders():
    """While grading: every folder ``tempfile.mkdtemp`` makes (the grader's scratch, a check's
    probe folder) is given to the kernel's user as it is made."""
    shared = SharedFolders(os.environ.get(KERNEL_USER_ENV))
    if not shared.user:
        yield shared
        return
    original = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        path = original(*args, **kwargs)
        shared.add(Path(path))
        return path

    tempfile.mkdtemp = mkdtemp  # TemporaryDirectory calls it too
    try:
        yield shared
    finally:
        tempfile.mkdtemp = original
