"""tfbook: the small support library the chapters import.

Kept deliberately boring: the lessons live in the notebooks, this package only holds what
several chapters share (the manifest and presets, MNIST, where runs go, the canvas widget,
preprocessing of drawings).

Inside a notebook kernel, importing tfbook first also imports TensorFlow without the start-up
lines it writes to stderr (see tfbook/quiet.py); chapters import tfbook before tensorflow.
"""

import sys

from tfbook import compat

compat.check()  # an unsupported Python or TensorFlow: ImportError naming the supported range

if "ipykernel" in sys.modules:
    from tfbook.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()

from tfbook.manifest import load_book, preset, ROOT
from tfbook.paths import run_dir

__all__ = ["load_book", "preset", "run_dir", "ROOT"]
