"""tools/matrix.py (`make matrix`) without running a cell: its default cells cover both ends of the
supported range (tfbook/compat.py), cells are parsed strictly, and a row says what happened."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tfbook import compat

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("matrix", ROOT / "tools" / "matrix.py")
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)


def minor(bound) -> str:
    return f"{bound[0]}.{bound[1]}"


def test_the_default_cells_cover_both_ends_of_the_supported_range():
    cells = matrix.parse_cells(matrix.DEFAULT_CELLS)
    (py_low, py_high), (tf_low, tf_high) = compat.PYTHON, compat.TENSORFLOW
    pythons, tensorflows = {p for p, _ in cells}, {t for _, t in cells}
    assert (minor(py_low), minor(tf_low)) in cells, "the oldest Python with the oldest TensorFlow"
    assert (minor((py_high[0], py_high[1] - 1)), minor((tf_high[0], tf_high[1] - 1))) in cells, (
        "the newest Python with the newest TensorFlow"
    )
    assert all(compat.inside(compat.version_tuple(v), compat.PYTHON) for v in pythons)
    assert all(compat.inside(compat.version_tuple(v), compat.TENSORFLOW) for v in tensorflows)


@pytest.mark.parametrize("text", ["3.12", "3.12-2.19", "python3.12:2.19", "3.12:2.19.1"])
def test_a_malformed_cell_is_refused(text):
    with pytest.raises(SystemExit, match="PYTHON:TENSORFLOW"):
        matrix.parse_cells(text)


def test_a_row_gives_versions_times_counts_grades_and_the_failed_steps():
    row = {
        "python": "3.12",
        "tensorflow": "2.18",
        "failed": ["tests"],
        "wall_s": 500,
        "load": ["1.0", "2.0"],
        "versions": {"python": "3.12.1", "tensorflow-cpu": "2.18.1", "keras": "3.15.1", "numpy": "2.0.2"},
        "install_s": 77,
        "import_s": 4.4,
        "tests": {"passed": 10, "failed": 1, "skipped": 2},
        "tests_s": 65,
        "ch03": {"earned": 38, "points": 38, "seconds": 28},
        "ch04": {"seconds": 3},
    }
    assert matrix.table_row(row) == (
        "| 3.12.1 | 2.18.1 | 3.15.1 | 2.0.2 | 1 min 17 s | 4.4 s | 10/1/2, 1 min 05 s "
        "| 38/38 (28 s) | none (3 s) | 8 min 20 s | 1.0, 2.0 | FAIL: tests |"
    )
    assert matrix.table_row(row).count("|") == matrix.HEADER.splitlines()[0].count("|")
