"""TensorFlow without its start-up chatter.

TensorFlow 2.21 prints oneDNN and CPU-feature lines to the process's stderr while it is
imported, before TF_CPP_MIN_LOG_LEVEL can take effect. In a terminal (the `tfbook` command)
and in a notebook (where the kernel shows everything written to stderr under the cell) they
are noise for a learner, so the first import happens with stderr closed.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later INFO lines (XLA, ...) too
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): import as is
        import tensorflow  # noqa: F401

        return
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
