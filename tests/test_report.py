"""One rendering of a check result (message / expected / got / hint), used by every output: the
terminal table, `tfbook compare`, the feedback pages and Gradescope's results.json."""

from __future__ import annotations

import re
from dataclasses import asdict

from booktools.class_report import result_html
from booktools.compare import _result_lines
from booktools.gradescope import result_output
from checks.engine import Result
from checks.report import format_results, result_detail
from tfbook.manifest import ROOT

FAILED = Result(
    "03.reshape_input",
    "reshape_input",
    "3.1",
    2,
    0,
    "failed",
    "rows become <images>",
    message="`reshape_input` of a batch of 5 has the wrong shape",
    expected="(5, 28, 28, 1)",
    got="(5, 784) <&>",
    hint='Use -1 for the batch size: "tf.reshape".',
)
PASSED = Result("03.flatten", "flatten", "3.4", 1, 1, "passed", "flatten", hint="never shown")
BLOCKED = Result("03.forward", "forward", "3.6", 3, 3, "not checked", "forward", message="could not be checked")


def test_the_detail_lines_of_a_result():
    assert result_detail(FAILED) == [
        "`reshape_input` of a batch of 5 has the wrong shape",
        "expected: (5, 28, 28, 1)    got: (5, 784) <&>",
        'hint: Use -1 for the batch size: "tf.reshape".',
    ]
    assert result_detail(asdict(FAILED)) == result_detail(FAILED)  # the JSON shape reads the same
    assert result_detail(FAILED, as_html=True) == [
        "`reshape_input` of a batch of 5 has the wrong shape",
        "expected: (5, 28, 28, 1) &nbsp; got: (5, 784) &lt;&amp;&gt;",
        "hint: Use -1 for the batch size: &quot;tf.reshape&quot;.",
    ]
    assert result_detail(FAILED, hint=False)[-1].startswith("expected:")
    assert result_detail(PASSED) == [] and result_detail(BLOCKED) == ["could not be checked"]


def test_every_output_renders_a_result_with_it():
    lines = result_detail(FAILED)
    assert all(line in format_results([FAILED]) for line in lines)
    assert result_output(asdict(FAILED)) == "\n".join(lines)
    assert result_output(asdict(PASSED)) == "passed"
    assert "<br>".join(result_detail(FAILED, as_html=True)) in result_html(asdict(FAILED))
    compared = "\n".join(_result_lines("reshape_input", {}, {"results": [asdict(FAILED)]}))
    assert all(" ".join(line.split()) in " ".join(compared.split()) for line in lines)


def test_no_output_writes_its_own_copy_of_the_rendering():
    paths = [ROOT / "checks" / "report.py", *(ROOT / "booktools").glob("*.py")]
    writers = [p.name for p in paths if re.search(r"""(f|_\()["']expected: \{""", p.read_text())]
    assert writers == ["report.py"]
