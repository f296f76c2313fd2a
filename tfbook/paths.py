"""Where chapters write what they produce.

Everything goes under ``runs/`` at the project root unless ``TFBOOK_RUNS`` points elsewhere.
The grader sets ``TFBOOK_RUNS`` to a fresh folder, so a checkpoint left over from an earlier
run can never be graded in place of the one the notebook just made.
"""
from __future__ import annotations

import os
from pathlib import Path

from tfbook.manifest import ROOT


def runs_root() -> Path:
    return Path(os.environ.get("TFBOOK_RUNS", ROOT / "runs")).resolve()


def run_dir(chapter: str, *parts: str, create: bool = True) -> Path:
    """``runs/ch03/...`` (or under $TFBOOK_RUNS); created unless ``create=False``."""
    path = runs_root().joinpath(f"ch{chapter}", *parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
