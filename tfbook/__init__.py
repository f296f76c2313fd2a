"""tfbook: the small support library the chapters import.

Kept deliberately boring: the lessons live in the notebooks, this package only holds what
several chapters share (the manifest and presets, MNIST, where runs go, the canvas widget,
preprocessing of drawings, the local Cloud Logging service, and the release/grade tooling).
"""
from tfbook.manifest import load_book, preset, ROOT
from tfbook.paths import run_dir

__all__ = ["load_book", "preset", "run_dir", "ROOT"]
