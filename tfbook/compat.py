"""The Pythons and TensorFlows the book supports, checked when ``tfbook`` is imported.

pip already refuses an unsupported Python (pyproject.toml's ``requires-python``) and an
unsupported TensorFlow (the dependency's range) when it installs the book. This check catches what
pip cannot: the book imported from a clone (PYTHONPATH, a notebook next to it) into a Python or a
TensorFlow installed some other way, e.g. Colab's own TensorFlow. There it stops at the first
``import tfbook`` (the first line of every chapter) with an ImportError that names the supported
range and what is installed, instead of an obscure error half-way through a chapter.

The versions are read from the installed packages' metadata: TensorFlow itself is not imported
here (that takes seconds). ``make matrix`` (tools/matrix.py) tests both ends of the range;
tests/test_compat.py keeps these bounds equal to pyproject.toml's.

``TFBOOK_ANY_TENSORFLOW=1`` turns the TensorFlow error into a warning, to try a newer release
than the book has been tested with. Written for any Python 3 so that an old one gets the message,
not a syntax error.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

PYTHON = ((3, 11), (3, 14))  # from 3.11 up to, not including, 3.14
TENSORFLOW = ((2, 18), (2, 22))  # from 2.18 up to, not including, 2.22 (why: pyproject.toml)
# The distributions that install the ``tensorflow`` module (pyproject.toml uses the first two).
TENSORFLOW_DISTRIBUTIONS = (
    "tensorflow-cpu",
    "tensorflow",
    "tensorflow-intel",
    "tensorflow-macos",
    "tensorflow-aarch64",
    "tf-nightly",
    "tf-nightly-cpu",
)
OVERRIDE_ENV = "TFBOOK_ANY_TENSORFLOW"


def version_tuple(text: str) -> tuple[int, int] | None:
    """(major, minor) of a version string: '2.16.2' and '2.22.0rc1' and '2.21.0.dev2025' alike."""
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def shown(bounds) -> str:
    (lo, hi) = bounds
    last = (hi[0], hi[1] - 1)
    return f"{lo[0]}.{lo[1]} to {last[0]}.{last[1]}"


def inside(version: tuple[int, int] | None, bounds) -> bool:
    return version is not None and bounds[0] <= version < bounds[1]


def installed_tensorflow() -> tuple[str, str] | None:
    """(distribution, version) of the installed TensorFlow, from its metadata; None when none is."""
    from importlib import metadata

    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def python_problem(version_info=None) -> str | None:
    version = tuple((version_info or sys.version_info)[:2])
    if inside(version, PYTHON):
        return None
    return (
        f"the TensorFlow book supports Python {shown(PYTHON)}; this is Python "
        f"{version[0]}.{version[1]} ({sys.executable}). Make a virtual environment with a "
        f"supported Python (python3.12 -m venv .venv) and install the book there."
    )


def tensorflow_problem(found: tuple[str, str] | None) -> str | None:
    if found is None:  # not installed (or under a name we do not know): its own import will say so
        return None
    name, version = found
    if inside(version_tuple(version), TENSORFLOW):
        return None
    low, high = TENSORFLOW
    return (
        f"the TensorFlow book supports TensorFlow {shown(TENSORFLOW)}; {name} {version} is "
        f"installed. Install a supported one: pip install '{name}>={low[0]}.{low[1]},<{high[0]}.{high[1]}' "
        f"(or set {OVERRIDE_ENV}=1 to try this one anyway; the book is untested with it)."
    )


def check(version_info=None, tensorflow: tuple[str, str] | None | bool = True) -> None:
    """Raise ImportError when this Python or the installed TensorFlow is outside the supported range.
    ``version_info`` and ``tensorflow`` (a (distribution, version) pair) replace what is installed,
    for the tests."""
    problem = python_problem(version_info)
    if problem:
        raise ImportError(problem)
    found = installed_tensorflow() if tensorflow is True else tensorflow
    problem = tensorflow_problem(found)
    if problem and os.environ.get(OVERRIDE_ENV, "").lower() not in ("", "0", "false", "no"):
        warnings.warn(problem, stacklevel=2)
    elif problem:
        raise ImportError(problem)
