"""Chapter 02's notebook as a learner runs it: Run All twice in one kernel (the chapter says
"re-run the notebook from the top for a fresh service"), what its cells print (a key report
that tells the keys apart, SQL that agrees with the metric, the batched server's entries all
stored), and the text's figures against what ``python -m bench.bench_ch02`` printed."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from tfbook.manifest import ROOT

SOLUTION = ROOT / "solutions" / "02_log_collector.ipynb"
SOURCE = ROOT / "solutions" / "02_log_collector.py"


def outputs_of(nb, marker: str) -> str:
    """The printed text of the first code cell whose source contains ``marker``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and marker in cell.source:
            return "".join(o.get("text", "") for o in cell.outputs)
    raise AssertionError(f"no code cell contains {marker!r}")


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """The solution run from the top twice in the same kernel (smoke preset), the way a learner
    re-runs it after an edit: the first time without the last cell (which stops every server),
    the second time to the end. The notebook of each run; CellExecutionError if a cell raised."""
    import os

    runs = tmp_path_factory.mktemp("ch02-runs")
    env = {"TFBOOK_PRESET": "smoke", "TFBOOK_RUNS": str(runs)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    results = []
    try:
        nb = nbformat.read(SOLUTION, as_version=4)
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "solutions")}}
        )
        with client.setup_kernel():
            for last_cell_too in (False, True):
                run = nbformat.reads(nbformat.writes(nb), as_version=4)
                client.nb = run
                code_cells = [i for i, cell in enumerate(run.cells) if cell.cell_type == "code"]
                for index in code_cells if last_cell_too else code_cells[:-1]:
                    client.execute_cell(run.cells[index], index)  # raises CellExecutionError on any error
                results.append(run)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return results


@pytest.mark.slow(reason="executes the chapter 02 notebook twice in one kernel (about a minute)")
def test_a_second_run_all_in_the_same_kernel_gets_a_fresh_service(twice):
    first, second = twice
    last = outputs_of(second, "threads left")
    assert "threads left: none" in last, last
    for run in (first, second):
        sink = outputs_of(run, "sink = create_struct_sink(logging_client)")
        assert "struct-log-to-bigquery" in sink, sink
    # a fresh service: the second run's table holds only the second run's rows
    assert outputs_of(first, "key_report_sql(today)") == outputs_of(second, "key_report_sql(today)")


@pytest.mark.slow(reason="executes the chapter 02 notebook twice in one kernel (about a minute)")
def test_the_key_report_tells_the_keys_apart(twice):
    report = outputs_of(twice[0], "key_report_sql(today)")
    rows = re.findall(r"^(\S+)\s+(\d+) entries,\s+(\d+) with -a", report, re.M)
    assert len(rows) == 3, report
    shares = {int(a) / int(n) for _, n, a in rows}
    assert len(shares) == 3 and 0 not in shares and 1 not in shares, report


@pytest.mark.slow(reason="executes the chapter 02 notebook twice in one kernel (about a minute)")
def test_sql_and_the_metric_agree_once_sql_counts_from_the_metrics_creation(twice):
    text = outputs_of(twice[0], "per_minute = bq(")
    found = re.search(r"since the metric existed: (\d+); the metric counted (\d+)", text)
    assert found and found.group(1) == found.group(2), text


@pytest.mark.slow(reason="executes the chapter 02 notebook twice in one kernel (about a minute)")
def test_the_batched_server_stores_every_entry_it_acknowledged(twice):
    text = outputs_of(twice[0], "batched_handler.flush()")
    found = re.search(r"([\d,]+) acknowledged, ([\d,]+) stored", text)
    assert found and found.group(1) == found.group(2) and found.group(1) != "0", text


# --- the text, without running it -------------------------------------------------------------


def cells():
    return jupytext.read(SOURCE).cells


def markdown() -> str:
    return "\n".join(c.source for c in cells() if c.cell_type == "markdown")


def code() -> str:
    return "\n".join(c.source for c in cells() if c.cell_type == "code")


def bench_rows() -> dict[str, dict]:
    """The six rows of ``python -m bench.bench_ch02`` as quoted in docs/benchmarks.md (or in the
    README, where they were before)."""
    pattern = re.compile(
        r"^([a-f])\. .*?\s([\d,]+)\s+([\d,]+)\s+[\d.]+x\s+([\d.]+) \+ ([\d.]+) \+ ([\d.]+) "
        r"= ([\d.]+)\s+([\d,]+) of\s+([\d,]+) \((\d+)%\)",
        re.M,
    )
    for doc in (ROOT / "docs" / "benchmarks.md", ROOT / "README.md"):
        rows = {
            m.group(1): {"acked": m.group(2), "stored": m.group(3), "cpu": m.group(7), "lost": m.group(10)}
            for m in pattern.finditer(doc.read_text() if doc.exists() else "")
        }
        if rows:
            return rows
    return {}


def test_the_docs_quote_all_six_rows_of_bench_ch02():
    assert sorted(bench_rows()) == list("abcdef")


def test_the_trade_off_table_quotes_bench_ch02s_rows():
    """Each row of the chapter's table: stored entries/s, CPU ms per entry and the share of
    acknowledged entries a kill -9 lost, as bench_ch02 printed them (docs/benchmarks.md's block)."""
    text = markdown()
    assert "python -m bench.bench_ch02" in text and "2 cores" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    for row, r in bench_rows().items():
        line = next((t for t in table if t.startswith(f"| {row}. ")), None)
        assert line is not None, f"row {row} missing from the trade-off table"
        cells_ = [c.strip() for c in line.strip("|").split("|")]
        assert r["stored"] in cells_ and r["cpu"] in cells_ and f"{r['lost']}%" in cells_, (line, r)


def test_the_cpu_per_entry_quoted_in_the_text_is_the_benchs():
    rows = bench_rows()
    quoted = set(re.findall(r"([\d.]+) ms of CPU per entry", markdown()))
    assert quoted and quoted <= {rows["a"]["cpu"], rows["f"]["cpu"]}, quoted


def test_the_text_says_sql_and_the_metric_differ_by_what_came_before_the_metric():
    text = markdown() + code()
    assert "only if the window crossed midnight" not in text
    assert "before the metric existed" in text


def test_the_text_says_lowercase_keywords_are_search_words():
    """Cloud Logging's answer cannot warn about `a and b`, so the text does, before the exercises."""
    text = markdown()
    assert re.search(r"lower case, `and`, `or` and `not` are words to search for", text)
    assert text.index("words to search for") < text.index("Exercise 2.4")


def test_the_text_warns_that_a_uuid_can_contain_minus_a():
    text = markdown()
    assert re.search(r'uuid.{0,200}"-a"|"-a".{0,200}uuid', text, re.S | re.I), (
        "say that a default text's uuid can contain -a"
    )


def test_the_dashboard_has_a_utc_x_label_and_no_bucket_at_the_exclusive_end():
    source = code()
    assert re.search(r"set_xlabel\([^)]*UTC", source)
    # the series stops before end_minute because the service's end is exclusive (tested in
    # tests/cloudlog/test_cloudlog_issue22.py::test_a_metric_series_end_is_exclusive)
    assert re.search(r"metric_series\([^)]*end=end_minute", source)


def test_the_load_tests_progress_bars_count_entries():
    source = code()
    bars = re.findall(r"tqdm\(([^)]*)\)", source)
    assert bars and all('unit="entry"' in b for b in bars), bars


def test_the_batched_demo_keeps_no_exercise_answer():
    """The speed section's code must not contain an exercise's solution lines."""
    from booktools.release import BEGIN

    solution_lines = set()
    for cell in cells():
        if BEGIN in cell.source:
            solution_lines |= {
                line.strip()
                for line in cell.source.splitlines()
                if len(line.strip()) > 20 and not line.strip().startswith("#")
            }
    section = code().split("batched_handler", 1)[1]
    assert not [line for line in solution_lines if line in section]
