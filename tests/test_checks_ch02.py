"""Chapter 02's checks, proven: the solution passes, the unsolved edition and each wrong variant
fail the right check with the right message, correct variants written differently pass. Most
tests run the checks in-process on the chapter's exercises part, loaded by tfbook/chapter_code.py
(NamespaceLearner, fast; every check still starts its own local logging service); two tests grade
whole notebooks in a real kernel."""

from __future__ import annotations

import re
import threading

import pytest
from flask import Flask

from chapters import chapter_namespace, run_02 as run, variant_02 as variant
from checks.ch02 import chapter
from checks.engine import PREDICTION_FIRST
from tfbook.manifest import ROOT, load_book
from helpers import failing, passing


@pytest.fixture(scope="module")
def solution_ns():
    """The solution's exercises part (tfbook/chapter_code.py: its support and exercise cells), once
    per module: the variants copy it."""
    return chapter_namespace("02")


def test_every_exercise_has_checks_and_the_chapter_is_registered():
    ch = load_book().chapter("02")
    assert ch.ready and ch.check_module == "checks.ch02"
    assert {c.exercise for c in chapter.checks} == set(chapter.exercises)
    assert len(chapter.exercises) >= 7


def test_the_solution_passes_every_check_and_no_grader_service_is_left_running(solution_ns):
    results = run(solution_ns)
    passing(results)
    assert len(results) == len(chapter.checks)
    left = [t.name for t in threading.enumerate() if t.name.startswith("cloudlog")]
    assert not left, left


def test_the_unsolved_edition_fails_every_exercise_as_not_done():
    results = run(chapter_namespace("02", "student"))
    assert all(r.status == "not done" for r in results.values()), {
        k: (r.status, r.message) for k, r in results.items() if r.status != "not done"
    }
    assert {r.exercise for r in results.values()} == set(chapter.exercises)
    assert all(r.hint for r in results.values())
    assert not any("door" in r.message for r in results.values())

    for r in results.values():  # before any code is written: the first step (the idea) only
        ex = chapter.exercises[r.exercise]
        assert r.hint == (PREDICTION_FIRST if ex.prediction else ex.hint), (r.check, r.hint)


# code a first hint must not give: calls, comparisons written out, SQL, the client's API
CODE = re.compile(
    r"\w\(|[=:]\s*\\?\"|\bSELECT\b|\bCOUNT|\bGROUP BY|logName|log_text|log_struct|"
    r"\.sink|\.metric|\.logger|request\.args|bigquery\.googleapis"
)


@pytest.mark.parametrize("exercise", list(chapter.exercises))
def test_hints_come_in_steps_an_idea_first_then_names_to_look_up(exercise):
    ex = chapter.exercises[exercise]
    assert ex.next_hints, "a second step names the API to look up"
    assert not CODE.search(ex.hint), f"the first hint gives code away: {ex.hint}"
    for step in ex.next_hints:  # names to look up, never a whole line of the solution
        assert not re.search(r"\w\([^)]*\w[^)]*\)\s*(\.|$)|f\"|return ", step), step


def test_an_inline_check_reveals_one_more_hint_step_per_failed_try(solution_ns, capsys):
    from checks import checker

    ns = variant(solution_ns, minus_a_filter=lambda p: 'jsonPayload.text:"-a"')
    check, _ = checker("02", ns)
    ex = chapter.exercises["minus_a_filter"]
    check("minus_a_filter")
    first = capsys.readouterr().out
    assert "FAIL" in first and ex.next_hints[0] not in first
    check("minus_a_filter")
    second = capsys.readouterr().out
    assert ex.next_hints[0] in second and ex.next_hints[1] not in second


# --- 2.1, 2.2 -------------------------------------------------------------------------------


def test_text_and_struct_swapped_between_endpoints(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_text_route(app, logging_client):
    @app.route("/")
    def text_log():
        text = request.args.get("text") or "x"
        logging_client.logger("my-flask-log").log_struct({"text": text})
        return text

def add_struct_route(app, logging_client):
    @app.route("/slog")
    def struct_log():
        text = request.args.get("text") or "x"
        logging_client.logger("struct_log").log_text(text)
        return text
""",
    )
    r = failing(run(ns, "text_endpoint"), "text_route")
    assert "wrote a structured entry" in r.message and "log_text" in r.hint
    r = failing(run(ns, "struct_endpoint"), "struct_route")
    assert "wrote a text entry" in r.message and "log_struct" in r.hint


def test_the_wrong_logger_name(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_text_route(app, logging_client):
    @app.route("/")
    def text_log():
        text = request.args.get("text") or "x"
        logging_client.logger("flask-log").log_text(text)
        return text
""",
    )
    r = failing(run(ns, "text_endpoint"), "text_route")
    assert "went to log 'flask-log'" in r.message and r.expected == "my-flask-log"
    assert "my-flask-log" in r.hint and "log_text" in r.hint


def test_struct_fields_not_taken_from_the_request(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_struct_route(app, logging_client):
    @app.route("/slog")
    def struct_log():
        text = request.args.get("text", "t")
        logging_client.logger("struct_log").log_struct({"name": "myterry", "text": text, "key": "mykey"})
        return text
""",
    )
    r = failing(run(ns, "struct_endpoint"), "struct_route")
    assert "wrong name, key" in r.message and "request.args" in r.hint


def test_a_view_that_raises_names_the_learners_function(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_text_route(app, logging_client):
    @app.route("/")
    def text_log():
        return 1 / 0
""",
    )
    r = failing(run(ns, "text_endpoint"), "text_route")
    assert "`add_text_route` raised ZeroDivisionError" in r.message


class _NoClient:
    """Enough of a logging client to register routes (they log only when a request comes)."""

    def logger(self, name):
        return None


def test_a_struct_view_named_like_the_text_view_fails_the_struct_check_as_create_app_would(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_struct_route(app, logging_client):
    @app.route("/slog")
    def text_log():  # the text route's view name: create_app fails on it
        text = request.args.get("text") or f"This is struct log {uuid.uuid4()}"
        logging_client.logger("struct_log").log_struct(
            {"name": request.args.get("name", "myterry"), "text": text, "key": request.args.get("key", "mykey")})
        return text
""",
    )
    with pytest.raises(AssertionError, match="overwriting an existing endpoint"):  # what the chapter meets
        app = Flask("log_collector")
        ns["add_text_route"](app, _NoClient())
        ns["add_struct_route"](app, _NoClient())
    for check in ("struct_route", "struct_route_default"):
        r = failing(run(ns, "struct_endpoint"), check)
        assert "named 'text_log'" in r.message and "`add_text_route`" in r.message and "create_app" in r.message
        assert "its own name" in r.hint
    passing(run(ns, "text_endpoint"))  # the text route itself is right: one slip, charged once


def test_the_text_check_works_before_the_struct_route_is_written(solution_ns):
    student = chapter_namespace("02", "student")
    ns = variant(student, add_text_route=solution_ns["add_text_route"])
    passing(run(ns, "text_endpoint"))
    assert {r.status for r in run(ns, "struct_endpoint").values()} == {"not done"}


def test_a_struct_payload_with_more_fields_than_asked_fails(solution_ns):
    ns = variant(
        solution_ns,
        """
def add_struct_route(app, logging_client):
    @app.route("/slog")
    def struct_log():
        text = request.args.get("text") or f"This is struct log {uuid.uuid4()}"
        logging_client.logger("struct_log").log_struct(
            {"name": request.args.get("name", "myterry"), "text": text, "key": request.args.get("key", "mykey"),
             "source": "flask"})
        return text
""",
    )
    for check in ("struct_route", "struct_route_default"):
        r = failing(run(ns, "struct_endpoint"), check)
        assert "fields the exercise does not ask for: source" in r.message


@pytest.mark.parametrize("where", ["module", "builder"])
def test_a_default_text_made_once_fails(solution_ns, where):
    made = 'f"This is random log {uuid.uuid4()}"'
    ns = variant(
        solution_ns,
        f"""
DEFAULT = {made}
def add_text_route(app, logging_client):
    default = {"DEFAULT" if where == "module" else made}  # once, not per request
    @app.route("/")
    def text_log():
        text = request.args.get("text") or default
        logging_client.logger("my-flask-log").log_text(text)
        return text

def add_struct_route(app, logging_client):
    default = {"DEFAULT" if where == "module" else made}
    @app.route("/slog")
    def struct_log():
        text = request.args.get("text") or default
        logging_client.logger("struct_log").log_struct(
            {{"name": request.args.get("name", "myterry"), "text": text, "key": request.args.get("key", "mykey")}})
        return text
""",
    )
    for exercise, check in (("text_endpoint", "text_route_default"), ("struct_endpoint", "struct_route_default")):
        results = run(ns, exercise)
        r = failing(results, check)
        assert "logged the same default text" in r.message and "inside the" in r.hint
        assert results[check.replace("_default", "")].passed


# --- 2.3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, direction, words",
    [
        (3, "too low", "no jsonPayload at all"),
        (6, "too low", "keep its text"),
        (2, "too low", "NOT selects the other"),
        (9, "too high", "one by one"),
        (0, "too low", "one by one"),
    ],
)
def test_a_wrong_prediction_says_which_way_and_how_far_never_the_count(solution_ns, value, direction, words):
    r = failing(run(variant(solution_ns, PREDICTED_NOT_COUNT=value), "predict_not"), "predict_not")
    assert direction in r.message and r.got.startswith(str(value)) and words in r.hint
    shown = " ".join([r.message, r.expected, r.got, r.hint])
    assert "7" not in shown, shown  # the count is what the next cell shows


def test_a_prediction_shows_no_hint_before_the_first_guess(solution_ns):
    r = run(variant(solution_ns, PREDICTED_NOT_COUNT=...), "predict_not")["predict_not"]
    assert r.status == "not done" and r.hint == PREDICTION_FIRST


# --- 2.4 - 2.6 --------------------------------------------------------------------------------


def test_equals_where_has_is_needed(solution_ns):
    ns = variant(solution_ns, minus_a_filter=lambda p: f'logName="projects/{p}/logs/struct_log" jsonPayload.text="-a"')
    r = failing(run(ns, "minus_a_filter"), "minus_a_filter")
    assert "selects 0 of the grader's" in r.message and "'=' compares the whole text" in r.hint


def test_a_filter_missing_the_log_name(solution_ns):
    ns = variant(solution_ns, minus_a_filter=lambda p: 'jsonPayload.text:"-a"')
    r = failing(run(ns, "minus_a_filter"), "minus_a_filter")
    assert "audit_log" in r.message and "add the log name" in r.hint


def test_an_invalid_filter_is_reported_with_the_services_message(solution_ns):
    ns = variant(solution_ns, minus_a_filter=lambda p: 'logName="projects/x AND (')
    r = failing(run(ns, "minus_a_filter"), "minus_a_filter")
    assert "the service refused" in r.message


def test_has_where_equals_is_needed_on_the_key(solution_ns):
    ns = variant(
        solution_ns,
        key_alert_filter=lambda p, k: f'logName="projects/{p}/logs/struct_log" jsonPayload.key:"{k}" severity>=WARNING',
    )
    results = [run(ns, "key_alert_filter")["key_alert_filter"] for _ in range(3)]
    failed = [r for r in results if not r.passed]
    assert failed, "the grader picks a key that is a prefix of another most of the time"
    assert all("compare the key with '='" in r.hint for r in failed)


def test_severity_strictly_above_warning(solution_ns):
    ns = variant(
        solution_ns,
        key_alert_filter=lambda p, k: f'logName="projects/{p}/logs/struct_log" jsonPayload.key="{k}" severity>WARNING',
    )
    r = failing(run(ns, "key_alert_filter"), "key_alert_filter")
    assert "it misses" in r.message and "use >= rather than >" in r.hint


def test_window_end_included(solution_ns):
    ns = variant(
        solution_ns,
        window_filter=lambda p, s, e: (
            f'logName="projects/{p}/logs/struct_log" timestamp>="{s}" timestamp<="{e}" NOT jsonPayload.text:"-a"'
        ),
    )
    r = failing(run(ns, "window_filter"), "window_filter")
    assert "window's edges" in r.hint


def test_window_without_the_not(solution_ns):
    ns = variant(
        solution_ns,
        window_filter=lambda p, s, e: f'logName="projects/{p}/logs/struct_log" timestamp>="{s}" timestamp<"{e}"',
    )
    r = failing(run(ns, "window_filter"), "window_filter")
    assert "put NOT (or -)" in r.hint


def test_severities_listed_only_up_to_critical_fail(solution_ns):
    ns = variant(
        solution_ns,
        key_alert_filter=lambda p, k: (
            f'logName="projects/{p}/logs/struct_log" jsonPayload.key="{k}" severity=(WARNING OR ERROR OR CRITICAL)'
        ),
    )
    r = failing(run(ns, "key_alert_filter"), "key_alert_filter")
    assert "it misses" in r.message and "ALERT" in r.hint and "EMERGENCY" in r.hint


LOG = 'logName="projects/{p}/logs/struct_log"'


@pytest.mark.parametrize(
    "exercise, function, words",
    [
        ("minus_a_filter", lambda p: LOG.format(p=p) + ' and jsonPayload.text:"-a"', "'and'"),
        (
            "key_alert_filter",
            lambda p, k: LOG.format(p=p) + f' jsonPayload.key="{k}" severity=WARNING or severity>WARNING',
            "'or'",
        ),
        (
            "window_filter",
            lambda p, s, e: LOG.format(p=p) + f' timestamp>="{s}" timestamp<"{e}" and not jsonPayload.text:"-a"',
            "'and' and 'not'",
        ),
    ],
)
def test_a_lowercase_keyword_that_makes_a_filter_select_nothing_is_named(solution_ns, exercise, function, words):
    """Cloud Logging reads lower-case and/or/not as search words and cannot warn; the check does."""
    r = failing(run(variant(solution_ns, **{exercise: function}), exercise), exercise)
    assert "selects 0 of the grader's" in r.message and f"it writes {words} in lower case" in r.message, r.message
    assert "in capitals" in r.hint and "search word" in r.hint, r.hint


def test_lowercase_keywords_in_strings_or_inside_words_are_not_flagged():
    from checks.ch02 import lowercase_keywords

    assert lowercase_keywords('jsonPayload.text:"this and that" AND NOT x:android') == []
    assert lowercase_keywords('x:"a \\" or" not-y') == []
    assert lowercase_keywords("(a and b) or c") == ["and", "or"]


HAS_LOG = 'logName:"struct_log"'  # also matches struct_log2 and old_struct_log


def test_a_log_condition_with_has_fails_every_filter(solution_ns):
    ns = variant(
        solution_ns,
        minus_a_filter=lambda p: f'{HAS_LOG} jsonPayload.text:"-a"',
        key_alert_filter=lambda p, k: f'{HAS_LOG} jsonPayload.key="{k}" severity>=WARNING',
        window_filter=lambda p, s, e: f'{HAS_LOG} timestamp>="{s}" timestamp<"{e}" -jsonPayload.text:"-a"',
    )
    for exercise in ("minus_a_filter", "key_alert_filter", "window_filter"):
        r = failing(run(ns, exercise), exercise)
        assert "selected but wrong" in r.message and "compare the whole log name with '='" in r.hint, r.message


def test_a_sink_and_a_metric_with_a_has_log_condition_fail(solution_ns):
    ns = variant(
        solution_ns,
        f"""
def create_struct_sink(logging_client):
    p = logging_client.project
    sink = logging_client.sink("s", filter_=\'{HAS_LOG}\',
                               destination=f"bigquery.googleapis.com/projects/{{p}}/datasets/structlog")
    sink.create()
    return sink

def create_minus_a_metric(logging_client):
    m = logging_client.metric("struct_log_minus_a", filter_=\'{HAS_LOG} jsonPayload.text:"-a"\', description="d")
    m.create()
    return m
""",
    )
    r = failing(run(ns, "create_sink"), "sink_export")
    assert "struct_log2" in r.hint or "old_struct_log" in r.hint
    failing(run(ns, "minus_a_metric"), "minus_a_metric")


def test_equivalent_filters_written_another_way_pass(solution_ns):
    ns = variant(
        solution_ns,
        minus_a_filter=lambda p: 'jsonPayload.text:"-a" AND log_id("struct_log")',
        key_alert_filter=lambda p, k: (
            f'(logName="projects/{p}/logs/struct_log") AND jsonPayload.key="{k}" '
            "AND severity=(WARNING OR ERROR OR CRITICAL OR ALERT OR EMERGENCY)"
        ),
        window_filter=lambda p, s, e: (
            f'NOT jsonPayload.text:"-a" AND timestamp<"{e}" AND '
            f'logName="projects/{p}/logs/struct_log" AND timestamp>="{s}"'
        ),
    )
    for exercise in ("minus_a_filter", "key_alert_filter", "window_filter"):
        passing(run(ns, exercise))


# --- 2.7 --------------------------------------------------------------------------------------


def test_a_sink_to_the_wrong_dataset(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    p = logging_client.project
    sink = logging_client.sink("s", filter_=f'logName="projects/{p}/logs/struct_log"',
                               destination=f"bigquery.googleapis.com/projects/{p}/datasets/logs")
    sink.create()
    return sink
""",
    )
    r = failing(run(ns, "create_sink"), "sink_destination")
    assert "wrong destination" in r.message and "'structlog', not 'logs'" in r.hint


def test_a_sink_to_a_dataset_with_a_hyphen_is_told_why_in_full(solution_ns):
    """The service names the hyphen; the check shows its whole explanation, without the request line."""
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    p = logging_client.project
    sink = logging_client.sink("struct-log-to-bigquery", filter_=f'logName="projects/{p}/logs/struct_log"',
                               destination=f"bigquery.googleapis.com/projects/{p}/datasets/struct-log")
    sink.create()
    return sink
""",
    )
    r = failing(run(ns, "create_sink"), "sink_destination")
    assert "it contains '-'" in r.message and "not in dataset names" in r.message, r.message
    assert "http://" not in r.message, r.message


def test_a_sink_with_a_hard_coded_project(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    sink = logging_client.sink("s", filter_='logName="projects/log-collector-demo/logs/struct_log"',
                               destination="bigquery.googleapis.com/projects/log-collector-demo/datasets/structlog")
    sink.create()
    return sink
""",
    )
    r = failing(run(ns, "create_sink"), "sink_destination")
    assert "take the project from the client" in r.hint and "logging_client.project" not in r.hint


def test_a_sink_exporting_every_log(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    p = logging_client.project
    sink = logging_client.sink("s", destination=f"bigquery.googleapis.com/projects/{p}/datasets/structlog")
    sink.create()
    return sink
""",
    )
    r = failing(run(ns, "create_sink"), "sink_export")
    assert "the sink's filter selects" in r.message and "add the log name" in r.hint


def test_a_sink_written_another_way_passes(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    sink = logging_client.sink("export-struct")
    sink.filter_ = 'log_id("struct_log")'
    sink.destination = "bigquery.googleapis.com/projects/%s/datasets/structlog" % logging_client.project
    sink.create()
    return sink
""",
    )
    passing(run(ns, "create_sink"))


def test_a_sink_creator_that_returns_what_create_returns_fails(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_struct_sink(logging_client):
    p = logging_client.project
    return logging_client.sink("struct-log-to-bigquery", filter_=f'logName="projects/{p}/logs/struct_log"',
                               destination=f"bigquery.googleapis.com/projects/{p}/datasets/structlog").create()
""",
    )
    r = failing(run(ns, "create_sink"), "sink_destination")
    assert "returned None" in r.message and "create() returns nothing" in r.hint


def test_a_sink_creator_that_returns_something_else_fails(solution_ns):
    ns = variant(
        solution_ns,
        """
_create = create_struct_sink
def create_struct_sink(logging_client):
    return _create(logging_client).name
""",
    )
    r = failing(run(ns, "create_sink"), "sink_destination")
    assert "must return the sink it created" in r.message and "a str" in r.got


# --- 2.8 --------------------------------------------------------------------------------------


def test_sql_against_yesterdays_table(solution_ns):
    ns = variant(
        solution_ns,
        """
import datetime as _dt
def key_report_sql(day):
    yesterday = (_dt.date.fromisoformat(day) - _dt.timedelta(days=1)).strftime("%Y%m%d")
    return (f"SELECT jsonPayload.key, COUNT(*), COUNTIF(jsonPayload.text LIKE '%-a%') "
            f"FROM structlog.struct_log_{yesterday} GROUP BY 1")
""",
    )
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "reads the table of another day" in r.hint


def test_sql_against_a_table_that_does_not_exist(solution_ns):
    ns = variant(
        solution_ns,
        key_report_sql=lambda day: "SELECT jsonPayload.key, COUNT(*), 0 FROM structlog.struct_log_19990101 GROUP BY 1",
    )
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "fails on the grader's tables" in r.message and "struct_log_19990101" in r.hint


def test_sql_counting_without_the_minus_a_condition(solution_ns):
    ns = variant(
        solution_ns,
        key_report_sql=lambda day: (
            f"SELECT jsonPayload.key, COUNT(*), COUNT(jsonPayload.text) FROM structlog.struct_log_{day.replace('-', '')} GROUP BY 1"
        ),
    )
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "other rows than the grader's answer" in r.message


def test_sql_written_another_way_passes(solution_ns):
    ns = variant(
        solution_ns,
        key_report_sql=lambda day: (
            "SELECT t.jsonPayload.key AS k, count(1) AS n, "
            "SUM(CASE WHEN t.jsonPayload.text LIKE '%-a%' THEN 1 ELSE 0 END) AS with_a "
            f"FROM structlog.struct_log_{''.join(day.split('-'))} AS t GROUP BY k"
        ),
    )
    passing(run(ns, "daily_sql"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT content, 1, 1 FROM read_text('/etc/passwd')",
        "SELECT jsonPayload.key, COUNT(*), (SELECT COUNT(*) FROM read_csv('/etc/hostname')) FROM structlog.struct_log_{d} GROUP BY 1",
    ],
)
def test_sql_that_reads_a_file_of_the_grading_machine_is_refused(solution_ns, sql):
    ns = variant(solution_ns, key_report_sql=lambda day: sql.format(d=day.replace("-", "")))
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "reads or writes a file" in r.message and "exported tables only" in r.message
    assert "root:" not in " ".join([r.message, r.expected, r.got, r.hint])


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '{target}'",
        "SELECT 'k', 1, 1; COPY (SELECT 1) TO '{target}'",
    ],
)
def test_sql_that_writes_a_file_is_refused_and_writes_nothing(solution_ns, tmp_path, sql):
    target = tmp_path / "written.csv"
    ns = variant(solution_ns, key_report_sql=lambda day: sql.format(target=target))
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "fails on the grader's tables" in r.message and "one SELECT statement" in r.hint
    assert not target.exists()


@pytest.mark.parametrize(
    "table, where",
    [
        ("`structlog.struct_log_{d}`", ""),
        ("`structlog.struct_log_*`", "WHERE _TABLE_SUFFIX = '{d}'"),
        ("`structlog.struct_log_20*` AS t", "WHERE t._TABLE_SUFFIX = '{d2}'"),
    ],
)
def test_sql_with_bigquery_backticks_and_wildcard_tables_passes(solution_ns, table, where):
    def key_report_sql(day):
        d = day.replace("-", "")
        return (
            f"SELECT jsonPayload.key, COUNT(*), COUNTIF(jsonPayload.text LIKE '%-a%') FROM {table} {where} GROUP BY 1"
        ).format(d=d, d2=d[2:])

    passing(run(variant(solution_ns, key_report_sql=key_report_sql), "daily_sql"))


def test_a_wildcard_without_a_table_suffix_condition_reads_every_day_and_fails(solution_ns):
    ns = variant(
        solution_ns,
        key_report_sql=lambda day: (
            "SELECT jsonPayload.key, COUNT(*), COUNTIF(jsonPayload.text LIKE '%-a%') FROM `structlog.struct_log_*` GROUP BY 1"
        ),
    )
    r = failing(run(ns, "daily_sql"), "daily_sql")
    assert "other rows than the grader's answer" in r.message


# --- 2.9 --------------------------------------------------------------------------------------


def test_a_metric_counting_every_entry(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_minus_a_metric(logging_client):
    p = logging_client.project
    m = logging_client.metric("struct_log_minus_a", filter_=f'logName="projects/{p}/logs/struct_log"',
                              description="all")
    m.create()
    return m
""",
    )
    r = failing(run(ns, "minus_a_metric"), "minus_a_metric")
    assert "the metric counted" in r.message and "counts every struct_log entry" in r.hint


def test_a_metric_with_a_lowercase_and_is_told_why_it_counts_nothing(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_minus_a_metric(logging_client):
    p = logging_client.project
    m = logging_client.metric("struct_log_minus_a", description="d",
                              filter_=f'logName="projects/{p}/logs/struct_log" and jsonPayload.text:"-a"')
    m.create()
    return m
""",
    )
    r = failing(run(ns, "minus_a_metric"), "minus_a_metric")
    assert "the metric counted 0" in r.message and "'and' in lower case" in r.message, r.message
    assert "in capitals" in r.hint, r.hint


def test_a_metric_with_another_name(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_minus_a_metric(logging_client):
    m = logging_client.metric("minus_a", filter_=minus_a_filter(logging_client.project), description="d")
    m.create()
    return m
""",
    )
    r = failing(run(ns, "minus_a_metric"), "minus_a_metric")
    assert r.expected == "struct_log_minus_a" and r.got == "minus_a"


def test_a_metric_missing_the_log_name(solution_ns):
    ns = variant(
        solution_ns,
        """
def create_minus_a_metric(logging_client):
    m = logging_client.metric("struct_log_minus_a", filter_='jsonPayload.text:"-a"', description="d")
    m.create()
    return m
""",
    )
    r = failing(run(ns, "minus_a_metric"), "minus_a_metric")
    assert "add the log name" in r.hint


# --- whole notebooks in a real kernel -----------------------------------------------------------


@pytest.mark.slow
def test_the_solution_passes_in_a_fresh_kernel_and_leaves_nothing_running():
    from checks.grader import grade_notebook

    grade = grade_notebook("02", ROOT / "solutions" / "02_log_collector.ipynb", preset="smoke")
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    assert all(r.passed for r in grade.results), [(r.check, r.message) for r in grade.results if not r.passed]
    last = grade.executed.cells[-1]
    text = "".join(o.get("text", "") for o in last.outputs)
    assert "threads left: none" in text and text.count("open: False") == 2, text


@pytest.mark.slow
def test_the_unsolved_chapter_fails_every_exercise_as_not_done_in_a_kernel():
    from checks.grader import grade_notebook

    grade = grade_notebook("02", ROOT / "chapters" / "02_log_collector.ipynb", preset="smoke")
    assert {r.status for r in grade.results} == {"not done"}, [
        (r.check, r.status, r.message) for r in grade.results if r.status != "not done"
    ]
    assert all(r.hint for r in grade.results)


def test_a_route_that_ignores_the_client_it_is_given(solution_ns, tmp_path):
    import cloudlog

    own = cloudlog.start_local(tmp_path / "own.duckdb")
    try:
        ns = variant(
            solution_ns,
            """
def add_struct_route(app, client):
    @app.route("/slog")
    def struct_log():
        text = request.args.get("text", "t")
        logging_client.logger("struct_log").log_struct(dict(request.args))
        return text
""",
            logging_client=cloudlog.client(own.endpoint, "mine"),
        )
        r = failing(run(ns, "struct_endpoint"), "struct_route")
        assert "no entry reached the grader's service" in r.message and "logging_client it is given" in r.hint
    finally:
        own.stop()
